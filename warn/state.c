/* SPDX-License-Identifier: MIT */
/*
 * state - the warning state file: replayed records, appended changes,
 * atomic compaction, and the lock file (see state.h).
 *
 * In memory: a chained hash table of users, each with the slots that are
 * not ARMED.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define HEADER "# mailquota-warn state 1: USER SLOT armed|sending|sent|refused UNIXTIME\n"
#define READ_CHUNK 65536

struct slotmark {
	uint8_t slot;
	uint8_t mark;
	int64_t when;
};

struct entry {
	struct entry *next;
	char *user;
	struct slotmark *marks;
	size_t nmarks;
	bool seen;
};

struct mq_state {
	char *path;
	struct stat dir;	/* the directory of path: the owner of every file */
	bool have_dir;
	int fd;			/* PATH for appending; -1 read-only */
	int lockfd;
	struct entry **table;
	size_t nbuckets;
	size_t nusers;
	size_t live;		/* marks held */
	size_t records;		/* record lines in the file */
	size_t skipped;
	bool dirty;		/* appended since the last fsync */
};

static const char *const mark_names[] = { "armed", "sending", "sent", "refused" };

/* " below" or " 100", " refused", " -9223372036854775808" and "\n" after the user */
_Static_assert(MQ_STATE_LINE_MAX > 3 * MQ_ADDRESS_MAX + 6 + 8 + 21 + 1,
    "a record of the longest user fits in a state line");

static void
rehash(struct mq_state *st)
{
	size_t n = st->nbuckets * 2;
	struct entry **t = xcalloc(n, sizeof(*t));

	for (size_t i = 0; i < st->nbuckets; i++) {
		struct entry *e = st->table[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = t[mq_fnv1a_str(MQ_FNV1A_INIT, e->user) % n];
			t[mq_fnv1a_str(MQ_FNV1A_INIT, e->user) % n] = e;
		}
	}
	free(st->table);
	st->table = t;
	st->nbuckets = n;
}

static struct entry *
lookup(struct mq_state *st, const char *user, bool create)
{
	struct entry **b = &st->table[mq_fnv1a_str(MQ_FNV1A_INIT, user) % st->nbuckets], *e;

	for (e = *b; e != NULL; e = e->next)
		if (strcmp(e->user, user) == 0)
			return e;
	if (!create)
		return NULL;
	if (st->nusers >= st->nbuckets) {
		rehash(st);
		b = &st->table[mq_fnv1a_str(MQ_FNV1A_INIT, user) % st->nbuckets];
	}
	e = xcalloc(1, sizeof(*e));
	e->user = xstrdup(user);
	e->next = *b;
	*b = e;
	st->nusers++;
	return e;
}

/* set_mark - the entry's slot becomes mark (ARMED removes it). */
static void
set_mark(struct mq_state *st, struct entry *e, unsigned slot, unsigned mark,
    int64_t when)
{
	size_t i;

	for (i = 0; i < e->nmarks; i++)
		if (e->marks[i].slot == slot)
			break;
	if (mark == MQ_MARK_ARMED) {
		if (i < e->nmarks) {
			e->marks[i] = e->marks[--e->nmarks];
			st->live--;
		}
		return;
	}
	if (i == e->nmarks) {
		e->marks = xreallocarray(e->marks, e->nmarks + 1, sizeof(*e->marks));
		e->nmarks++;
		st->live++;
	}
	e->marks[i].slot = (uint8_t)slot;
	e->marks[i].mark = (uint8_t)mark;
	e->marks[i].when = when;
}

/* encode_user - the user name as a record field. */
static void
encode_user(struct mq_buf *b, const char *user)
{
	for (const unsigned char *p = (const unsigned char *)user; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '%')
			mq_buf_printf(b, "%%%02X", *p);
		else
			mq_buf_addc(b, (char)*p);
	}
}

/* user_fits - false, with the error said, for a user no record line can hold. */
static bool
user_fits(const char *user, char *error, size_t errlen)
{
	if (strlen(user) <= MQ_ADDRESS_MAX)
		return true;
	snprintf(error, errlen, "user name of %zu bytes: longer than %d, not recorded",
	    strlen(user), MQ_ADDRESS_MAX);
	return false;
}

/* record_line - "USER SLOT MARK WHEN\n" onto b. */
static void
record_line(struct mq_buf *b, const char *user, unsigned slot, unsigned mark,
    int64_t when)
{
	encode_user(b, user);
	if (slot == MQ_WARN_BELOW)
		mq_buf_adds(b, " below");
	else
		mq_buf_printf(b, " %u", slot);
	mq_buf_printf(b, " %s %" PRId64 "\n", mark_names[mark], when);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decode_user - field into out (NUL-terminated); -1 when malformed. */
static int
decode_user(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
			/*
			 * Never written raw (encode_user escapes them): a
			 * damaged line. A raw NUL would end the name early
			 * and merge the record into another user's; a raw
			 * byte of 0x80 or more, taken here, would be written
			 * back three times as long, past MQ_STATE_LINE_MAX,
			 * and lost at the next replay.
			 */
			return -1;
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* parse_fields - one record line into its user, slot, mark and time; -1 when it does not parse. */
static int
parse_fields(const char *line, size_t len, char *user, size_t usize,
    unsigned *slot_r, unsigned *mark_r, int64_t *when_r)
{
	const char *f[4];
	size_t flen[4], nf = 0, i = 0;
	uint64_t slot;
	unsigned mark;

	while (i < len && nf < 4) {
		size_t start = i;

		while (i < len && line[i] != ' ')
			i++;
		f[nf] = line + start;
		flen[nf++] = i - start;
		if (i < len)
			i++;	/* the single space */
	}
	if (nf != 4 || i < len)
		return -1;
	if (decode_user(f[0], flen[0], user, usize) < 0)
		return -1;
	if (flen[1] == 5 && memcmp(f[1], "below", 5) == 0)
		slot = MQ_WARN_BELOW;
	else if (mq_parse_u64n(f[1], flen[1], &slot) < 0 || slot < 1 ||
	    slot >= MQ_WARN_SLOTS)
		return -1;
	for (mark = 0; mark < MQ_NELEM(mark_names); mark++)
		if (strlen(mark_names[mark]) == flen[2] &&
		    memcmp(mark_names[mark], f[2], flen[2]) == 0)
			break;
	if (mark == MQ_NELEM(mark_names))
		return -1;
	if (mq_parse_i64n(f[3], flen[3], when_r) < 0)
		return -1;
	*slot_r = (unsigned)slot;
	*mark_r = mark;
	return 0;
}

/* parse_record - apply one line; -1 when it does not parse. */
static int
parse_record(struct mq_state *st, const char *line, size_t len)
{
	char user[MQ_STATE_LINE_MAX];
	unsigned slot, mark;
	int64_t when;

	if (parse_fields(line, len, user, sizeof(user), &slot, &mark, &when) < 0)
		return -1;
	set_mark(st, lookup(st, user, true), slot, mark, when);
	return 0;
}

/*
 * read_file - replay PATH. *torn_r: the file does not end with a newline
 * (its last, unterminated line was skipped).
 */
static int
read_file(struct mq_state *st, int fd, bool *torn_r, char *error, size_t errlen)
{
	char *buf = xmalloc(READ_CHUNK + MQ_STATE_LINE_MAX);
	size_t have = 0;
	bool overlong = false;
	ssize_t n;

	*torn_r = false;
	for (;;) {
		size_t start = 0;

		n = read(fd, buf + have, READ_CHUNK + MQ_STATE_LINE_MAX - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(error, errlen, "%s: %s", st->path, strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			size_t llen;

			if (nl == NULL)
				break;
			llen = (size_t)(nl - (buf + start));
			if (overlong) {
				overlong = false;	/* the tail of a skipped line */
			} else if (llen > 0 && buf[start] != '#') {
				st->records++;
				if (llen >= MQ_STATE_LINE_MAX ||
				    parse_record(st, buf + start, llen) < 0)
					st->skipped++;
			}
			start += llen + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have >= MQ_STATE_LINE_MAX) {
			/* a line longer than any record: skip it */
			if (!overlong)
				st->skipped++;
			overlong = true;
			have = 0;
		}
	}
	if (have > 0 || overlong) {
		*torn_r = true;
		st->skipped++;
	}
	free(buf);
	return 0;
}

/* dir_name - the directory part of path, allocated. */
static char *
dir_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? xstrdup(".") :
	    slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

/* dir_of - stat the directory that holds path. */
static int
dir_of(const char *path, struct stat *sb)
{
	char *dir = dir_name(path);
	int r = stat(dir, sb);

	free(dir);
	return r;
}

/*
 * own - give a state file (the state, its lock) the one owner the state
 * has: the owner and group of its directory, mode 0660, whatever user and
 * umask created it. Root hands the file over (and so repairs a file an
 * older version left as root's, mode 0600); another user can only set the
 * mode of a file it owns. The hook (Dovecot's script service) and the
 * sweep (the timer's unit) then agree as long as both may use the
 * directory. Compaction's new file follows the same rule (replace_file).
 */
static void
own(const struct mq_state *st, int fd, const char *name)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return;
	if (geteuid() == 0 && st->have_dir &&
	    (sb.st_uid != st->dir.st_uid || sb.st_gid != st->dir.st_gid) &&
	    fchown(fd, st->dir.st_uid, st->dir.st_gid) < 0)
		mq_warn("%s: chown to the directory's owner: %s", name, strerror(errno));
	if ((sb.st_mode & 07777) != 0660 && (geteuid() == 0 || sb.st_uid == geteuid()) &&
	    fchmod(fd, 0660) < 0)
		mq_warn("%s: chmod 0660: %s", name, strerror(errno));
}

static struct mq_state *
state_new(const char *path)
{
	struct mq_state *st = xcalloc(1, sizeof(*st));

	st->path = xstrdup(path);
	st->have_dir = dir_of(path, &st->dir) == 0;
	st->fd = -1;
	st->lockfd = -1;
	st->nbuckets = 1024;
	st->table = xcalloc(st->nbuckets, sizeof(*st->table));
	return st;
}

/* take_lock - flock PATH.lock, retrying for wait_secs. */
static int
take_lock(struct mq_state *st, int wait_secs, char *error, size_t errlen)
{
	char *lpath = xasprintf("%s.lock", st->path);
	uint64_t deadline = mq_now_monotonic_us() + (uint64_t)wait_secs * 1000000u;

	st->lockfd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (st->lockfd < 0) {
		snprintf(error, errlen, "%s: %s", lpath, strerror(errno));
		free(lpath);
		return MQ_STATE_ERROR;
	}
	own(st, st->lockfd, lpath);
	while (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			snprintf(error, errlen, "%s: %s", lpath, strerror(errno));
			free(lpath);
			return MQ_STATE_ERROR;
		}
		if (mq_now_monotonic_us() >= deadline) {
			snprintf(error, errlen, "%s: held by another process", lpath);
			free(lpath);
			return MQ_STATE_BUSY;
		}
		nanosleep(&ts, NULL);
	}
	free(lpath);
	return MQ_STATE_OK;
}

int
mq_state_open(const char *path, int wait_secs, struct mq_state **st_r,
    char *error, size_t errlen)
{
	struct mq_state *st = state_new(path);
	struct stat sb;
	bool torn;
	int r, rfd;

	*st_r = NULL;
	if ((r = take_lock(st, wait_secs, error, errlen)) != MQ_STATE_OK)
		goto fail;
	r = MQ_STATE_ERROR;
	st->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (st->fd < 0 || fstat(st->fd, &sb) < 0) {
		snprintf(error, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(error, errlen, "%s: not a regular file", path);
		goto fail;
	}
	own(st, st->fd, path);
	rfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0) {
		snprintf(error, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	r = read_file(st, rfd, &torn, error, errlen);
	close(rfd);
	if (r < 0) {
		r = MQ_STATE_ERROR;
		goto fail;
	}
	/* End a torn line so that the next record starts on its own line. */
	if ((sb.st_size == 0 && mq_write_all(st->fd, HEADER, strlen(HEADER)) < 0) ||
	    (torn && mq_write_all(st->fd, "\n", 1) < 0)) {
		snprintf(error, errlen, "%s: %s", path, strerror(errno));
		r = MQ_STATE_ERROR;
		goto fail;
	}
	*st_r = st;
	return MQ_STATE_OK;
fail:
	mq_state_close(&st);
	return r;
}

int
mq_state_open_readonly(const char *path, struct mq_state **st_r, char *error,
    size_t errlen)
{
	struct mq_state *st = state_new(path);
	bool torn;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	*st_r = NULL;
	if (fd < 0) {
		if (errno == ENOENT) {
			*st_r = st;
			return MQ_STATE_OK;
		}
		snprintf(error, errlen, "%s: %s", path, strerror(errno));
		mq_state_close(&st);
		return MQ_STATE_ERROR;
	}
	if (read_file(st, fd, &torn, error, errlen) < 0) {
		close(fd);
		mq_state_close(&st);
		return MQ_STATE_ERROR;
	}
	close(fd);
	*st_r = st;
	return MQ_STATE_OK;
}

void
mq_state_get(struct mq_state *st, const char *user, struct mq_warn_marks *m)
{
	struct entry *e = lookup(st, user, false);

	memset(m, 0, sizeof(*m));
	if (e == NULL)
		return;
	e->seen = true;
	for (size_t i = 0; i < e->nmarks; i++) {
		m->mark[e->marks[i].slot] = e->marks[i].mark;
		m->when[e->marks[i].slot] = e->marks[i].when;
	}
}

int
mq_state_put(struct mq_state *st, const char *user,
    const struct mq_warn_marks *m, bool sync, char *error, size_t errlen)
{
	struct mq_warn_marks old;
	struct mq_buf rec = { 0 };
	struct entry *e;
	size_t nrec = 0;

	if (!user_fits(user, error, errlen))
		return -1;
	mq_state_get(st, user, &old);
	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++) {
		unsigned mark = m->mark[s] <= MQ_MARK_REFUSED ? m->mark[s] : MQ_MARK_ARMED;
		int64_t when = mark == MQ_MARK_ARMED ? 0 : m->when[s];

		if (old.mark[s] == mark && old.when[s] == when)
			continue;
		record_line(&rec, user, s, mark, when);
		nrec++;
	}
	if (nrec == 0)
		return 0;
	if (st->fd >= 0 && (mq_write_all(st->fd, rec.s, rec.len) < 0 ||
	    (sync && fsync(st->fd) < 0))) {
		snprintf(error, errlen, "%s: %s", st->path, strerror(errno));
		mq_buf_free(&rec);
		return -1;
	}
	st->dirty = st->fd >= 0 && !sync;
	mq_buf_free(&rec);
	st->records += nrec;
	e = lookup(st, user, true);
	e->seen = true;
	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++) {
		unsigned mark = m->mark[s] <= MQ_MARK_REFUSED ? m->mark[s] : MQ_MARK_ARMED;

		set_mark(st, e, s, mark, m->when[s]);
	}
	return 0;
}

/* pruned - a user compaction leaves out: never seen since opening, and not a digest's "@DOMAIN". */
static bool
pruned(const struct entry *e, bool prune_unseen)
{
	return prune_unseen && !e->seen && e->user[0] != '@';
}

/* live_records - the file compaction writes: the header and one line per live mark. */
static size_t
live_records(const struct mq_state *st, bool prune_unseen, struct mq_buf *out)
{
	size_t records = 0;

	mq_buf_adds(out, HEADER);
	for (size_t i = 0; i < st->nbuckets; i++) {
		for (struct entry *e = st->table[i]; e != NULL; e = e->next) {
			if (pruned(e, prune_unseen))
				continue;
			for (size_t j = 0; j < e->nmarks; j++) {
				record_line(out, e->user, e->marks[j].slot,
				    e->marks[j].mark, e->marks[j].when);
				records++;
			}
		}
	}
	return records;
}

/*
 * replace_file - out in place of the state file, atomically, with the
 * owner and mode the rest of the state has (see own): 0, or -1 with error.
 */
static int
replace_file(const struct mq_state *st, const struct mq_buf *out, char *error,
    size_t errlen)
{
	char *dir = dir_name(st->path);
	const char *base = strrchr(st->path, '/');
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -1;

	if (dfd < 0)
		mq_set_error(error, errlen, "%s: %s", dir, strerror(errno));
	else
		r = mq_write_atomic(dfd, base != NULL ? base + 1 : st->path,
		    out->s, out->len, 0660, MQ_OWNER_DIR_IF_ROOT, error, errlen);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return r;
}

/* drop_pruned - the users compaction left out, out of memory too. */
static void
drop_pruned(struct mq_state *st)
{
	for (size_t i = 0; i < st->nbuckets; i++) {
		struct entry **pe = &st->table[i];

		while (*pe != NULL) {
			struct entry *e = *pe;

			if (!pruned(e, true)) {
				pe = &e->next;
				continue;
			}
			*pe = e->next;
			st->live -= e->nmarks;
			st->nusers--;
			free(e->marks);
			free(e->user);
			free(e);
		}
	}
}

int
mq_state_compact(struct mq_state *st, bool prune_unseen, char *error,
    size_t errlen)
{
	struct mq_buf out = { 0 };
	size_t records;
	int nfd;

	if (st->fd < 0)
		return 0;	/* read-only */
	records = live_records(st, prune_unseen, &out);
	if (replace_file(st, &out, error, errlen) < 0) {
		mq_buf_free(&out);
		return -1;
	}
	mq_buf_free(&out);
	nfd = open(st->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0) {
		snprintf(error, errlen, "%s: %s", st->path, strerror(errno));
		return -1;
	}
	close(st->fd);
	st->fd = nfd;
	st->dirty = false;
	st->records = records;
	if (prune_unseen)
		drop_pruned(st);
	return 0;
}

bool
mq_state_bloated(const struct mq_state *st)
{
	return st->records > 2 * st->live + 1000;
}

size_t
mq_state_users(const struct mq_state *st)
{
	return st->nusers;
}

size_t
mq_state_skipped(const struct mq_state *st)
{
	return st->skipped;
}

void
mq_state_close(struct mq_state **stp)
{
	struct mq_state *st = *stp;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nbuckets; i++) {
		struct entry *e = st->table[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e->marks);
			free(e->user);
			free(e);
		}
	}
	free(st->table);
	if (st->fd >= 0) {
		if (st->dirty)
			(void)fsync(st->fd);
		close(st->fd);
	}
	if (st->lockfd >= 0)
		close(st->lockfd);	/* releases the flock */
	free(st->path);
	free(st);
	*stp = NULL;
}

/* ---- records the hook could not put in the state ---- */

int
mq_state_pending_write(int dfd, const char *user, const struct mq_warn_marks *m,
    unsigned armed_from, char *error, size_t errlen)
{
	struct mq_buf rec = { 0 };
	int fd, r = 0;

	if (!user_fits(user, error, errlen))
		return -1;
	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++) {
		unsigned mark = m->mark[s] <= MQ_MARK_REFUSED ? m->mark[s] : MQ_MARK_ARMED;

		if (mark != MQ_MARK_ARMED)
			record_line(&rec, user, s, mark, m->when[s]);
		else if (armed_from > 0 && (s >= armed_from || s == MQ_WARN_BELOW))
			record_line(&rec, user, s, MQ_MARK_ARMED, 0);
	}
	if (rec.len == 0)
		return 0;
	fd = openat(dfd, MQ_STATE_PENDING, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || mq_write_all(fd, rec.s, rec.len) < 0 || fsync(fd) < 0) {
		snprintf(error, errlen, "%s: %s", MQ_STATE_PENDING, strerror(errno));
		r = -1;
	}
	if (fd >= 0)
		close(fd);
	mq_buf_free(&rec);
	return r;
}

int
mq_state_pending_read(int dfd, const char *user, struct mq_warn_marks *m)
{
	char *buf = xmalloc(MQ_STATE_PENDING_MAX + 1), u[MQ_STATE_LINE_MAX];
	size_t have = 0;
	struct stat sb;
	int fd, n = 0;

	fd = openat(dfd, MQ_STATE_PENDING, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return fd < 0 && errno == ENOENT ? 0 : -1;
	}
	for (;;) {
		ssize_t k = read(fd, buf + have, MQ_STATE_PENDING_MAX - have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
	}
	close(fd);
	for (size_t i = 0; i < have; ) {
		char *nl = memchr(buf + i, '\n', have - i);
		unsigned slot, mark;
		int64_t when;

		if (nl == NULL)
			break;		/* a torn last line */
		if (parse_fields(buf + i, (size_t)(nl - (buf + i)), u, sizeof(u), &slot,
		    &mark, &when) == 0 && strcmp(u, user) == 0) {
			m->mark[slot] = (uint8_t)mark;
			m->when[slot] = mark == MQ_MARK_ARMED ? 0 : when;
			n++;
		}
		i = (size_t)(nl - buf) + 1;
	}
	free(buf);
	return n;
}

void
mq_state_pending_done(int dfd)
{
	if (unlinkat(dfd, MQ_STATE_PENDING, 0) < 0 && errno != ENOENT)
		mq_warn("%s: %s", MQ_STATE_PENDING, strerror(errno));
}
