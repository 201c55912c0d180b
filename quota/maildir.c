/* SPDX-License-Identifier: MIT */
/*
 * maildir - a mailbox's usage from its Maildir, confined under maildir.base,
 * and the usage cache that keeps that work off the request path.
 *
 * Every path below base comes from the database and every name inside a
 * Maildir from its (untrusted) owner, so: each component is opened with
 * openat(O_NOFOLLOW | O_DIRECTORY) from an fd of base, symlinks are refused
 * on the way to the Maildir and skipped inside it, maildirsize must be a
 * regular file and is read at most MQ_MAILDIRSIZE_MAX bytes, and every open
 * is O_NONBLOCK so a FIFO planted in a Maildir cannot hang a worker.
 *
 * The cache remembers, per path, what the last answer was derived from:
 * the maildirsize stat (inode, size, mtime) and, for a recount, the
 * identity and mtime of every directory read. A later mq_maildir_usage
 * re-checks those with fstatat only and reuses what did not change.
 * Directory mtimes have a coarse clock (jiffies, or whole seconds on some
 * file systems), so a file landing in the same tick as the recount read
 * would not move the mtime: a recount whose directories changed within the
 * last MTIME_SETTLE_SECS is kept for the TTL answer but is redone rather
 * than revalidated.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "mq.h"
#include "util.h"

#define MAILDIR_PATH_MAX 4096
#define MTIME_SETTLE_SECS 2
#define CACHE_BUCKETS_MAX 65536

#define DIR_OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)

/* One directory a recount read, as it was just before the read. */
struct dirstamp {
	char *rel;			/* "" for the Maildir, "cur", ".Sent/new", ... */
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
};

struct recount {
	bool valid;
	bool settled;			/* no directory changed just before the read */
	uint64_t bytes;
	uint64_t messages;
	struct dirstamp *dirs;
	size_t ndirs;
	size_t capdirs;
};

/* maildirsize as it was read. */
struct mds_read {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	enum mq_mds_status status;
	struct mq_maildirsize mds;	/* limits also when only the usage lines are bad */
};

struct usage_entry {
	TAILQ_ENTRY(usage_entry) lru;
	struct usage_entry *hnext;
	uint64_t hash;
	char *path;
	struct mq_usage result;
	uint64_t validated_us;
	bool refreshing;		/* handed out with refresh set, not yet re-validated */
	bool has_mds;			/* the Maildir existed and mds describes it */
	struct mds_read mds;
	struct recount rc;
};

TAILQ_HEAD(usage_lru, usage_entry);

struct mq_usage_cache {
	pthread_mutex_t lock;
	size_t max_entries;
	size_t count;
	size_t nbuckets;		/* a power of two */
	struct usage_entry **buckets;
	struct usage_lru lru;		/* least recently used first */
};

/* set_error - format a reason into the caller's buffer, if it gave one. */
static void MQ_PRINTF(3, 4)
set_error(char *error, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (error == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(error, errlen, fmt, ap);
	va_end(ap);
}

/* shown - a name made safe for a log line (buffer of at least 2 bytes). */
static const char *
shown(char *buf, size_t size, const char *s)
{
	mq_sanitize(buf, size, s, strlen(s));
	return buf;
}

/* same_time - two timestamps are equal to the nanosecond. */
static bool
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * add_sat - a + b, held at UINT64_MAX. Dovecot's recount adds in uint64_t
 * too (and would wrap past it, where this holds).
 */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

/* check_path - refuse "." and ".." components and over-long paths. */
static int
check_path(const char *rel, const char *show, char *error, size_t errlen)
{
	const char *p = rel;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			set_error(error, errlen,
			    "\".\" or \"..\" in mailbox path \"%s\"", show);
			return -1;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

int
mq_maildir_open(const char *base, const char *path, int *fd_r,
    char *error, size_t errlen)
{
	char buf[MAILDIR_PATH_MAX], show[256];
	const char *rel;
	char *comp, *next;
	size_t baselen, len;
	int fd, ncomp = 0;

	*fd_r = -1;
	if (base == NULL || base[0] == '\0') {
		set_error(error, errlen, "maildir.base is not set");
		return MQ_TEMPFAIL;
	}
	shown(show, sizeof(show), path);
	len = strlen(path);
	if (len >= sizeof(buf)) {
		set_error(error, errlen, "mailbox path too long: \"%s\"", show);
		return MQ_TEMPFAIL;
	}

	/* An absolute path must lie strictly inside base. */
	baselen = strlen(base);
	while (baselen > 0 && base[baselen - 1] == '/')
		baselen--;
	if (path[0] == '/') {
		if (strncmp(path, base, baselen) != 0 || path[baselen] != '/') {
			set_error(error, errlen,
			    "mailbox path \"%s\" is outside maildir.base", show);
			return MQ_TEMPFAIL;
		}
		rel = path + baselen;
	} else
		rel = path;
	if (check_path(rel, show, error, errlen) < 0)
		return MQ_TEMPFAIL;
	mq_strlcpy(buf, rel, sizeof(buf));

	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		char sb[256];

		set_error(error, errlen, "maildir.base \"%s\": %s",
		    shown(sb, sizeof(sb), base), strerror(errno));
		return MQ_TEMPFAIL;
	}
	for (comp = buf; comp != NULL; comp = next) {
		struct stat st;
		int nfd, e;

		if ((next = strchr(comp, '/')) != NULL)
			*next++ = '\0';
		if (*comp == '\0')
			continue;
		ncomp++;
		if ((nfd = openat(fd, comp, DIR_OPEN_FLAGS)) >= 0) {
			close(fd);
			fd = nfd;
			continue;
		}
		e = errno;
		if (e == ENOENT) {
			close(fd);
			return MQ_NOTFOUND;
		}
		/* Linux says ENOTDIR for O_DIRECTORY on a symlink, others ELOOP. */
		if (e == ELOOP || (e == ENOTDIR &&
		    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)))
			set_error(error, errlen,
			    "symlink in mailbox path \"%s\"", show);
		else
			set_error(error, errlen, "mailbox path \"%s\": %s",
			    show, strerror(e));
		close(fd);
		return MQ_TEMPFAIL;
	}
	if (ncomp == 0) {
		close(fd);
		set_error(error, errlen, "mailbox path \"%s\" is maildir.base itself",
		    show);
		return MQ_TEMPFAIL;
	}
	*fd_r = fd;
	return MQ_FOUND;
}

/*
 * Recount.
 */

/* recount_stamp - remember a directory's identity and mtime before reading it. */
static void
recount_stamp(struct recount *rc, const char *rel, const struct stat *st,
    time_t now)
{
	struct dirstamp *d;

	if (rc->ndirs == rc->capdirs) {
		rc->capdirs = rc->capdirs ? rc->capdirs * 2 : 8;
		rc->dirs = xreallocarray(rc->dirs, rc->capdirs, sizeof(*rc->dirs));
	}
	d = &rc->dirs[rc->ndirs++];
	d->rel = xstrdup(rel);
	d->dev = st->st_dev;
	d->ino = st->st_ino;
	d->mtim = st->st_mtim;
	if (st->st_mtim.tv_sec > now - MTIME_SETTLE_SECS)
		rc->settled = false;
}

/* recount_clear - free the stamps and forget the figure. */
static void
recount_clear(struct recount *rc)
{
	size_t i;

	for (i = 0; i < rc->ndirs; i++)
		free(rc->dirs[i].rel);
	free(rc->dirs);
	memset(rc, 0, sizeof(*rc));
}

/* recount_copy - a deep copy of src into dst. */
static void
recount_copy(struct recount *dst, const struct recount *src)
{
	size_t i;

	*dst = *src;
	dst->dirs = NULL;
	dst->capdirs = dst->ndirs;
	if (src->ndirs == 0)
		return;
	dst->dirs = xreallocarray(NULL, src->ndirs, sizeof(*dst->dirs));
	for (i = 0; i < src->ndirs; i++) {
		dst->dirs[i] = src->dirs[i];
		dst->dirs[i].rel = xstrdup(src->dirs[i].rel);
	}
}

/*
 * count_messages - add up one cur/ or new/ below parent as Dovecot's
 * recount does: every entry but ".", ".." and names starting with "..",
 * its size from the name (mq_maildir_filename_size), else from lstat. A
 * symlink without a size in its name is not followed (Dovecot would). A
 * missing directory, a symlink or a non-directory has nothing to count.
 */
static int
count_messages(int parent, const char *name, const char *rel,
    struct recount *rc, time_t now, char *error, size_t errlen)
{
	char show[128];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	if ((fd = openat(parent, name, DIR_OPEN_FLAGS)) < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return 0;
		set_error(error, errlen, "cannot open %s: %s",
		    shown(show, sizeof(show), rel), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || (dir = fdopendir(fd)) == NULL) {
		set_error(error, errlen, "cannot read %s: %s",
		    shown(show, sizeof(show), rel), strerror(errno));
		close(fd);
		return -1;
	}
	recount_stamp(rc, rel, &st, now);
	for (;;) {
		const char *n;
		uint64_t size = 0;

		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		n = de->d_name;
		/* Dovecot passes over ".", ".." and "..*" only: ".x" counts. */
		if (n[0] == '.' && (n[1] == '\0' || n[1] == '.'))
			continue;
		/* A size in the name is taken whatever the entry is. */
		if (mq_maildir_filename_size(n, &size) < 0) {
			if (de->d_type == DT_LNK)
				continue;	/* never followed */
			if (fstatat(dirfd(dir), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;	/* moved on meanwhile */
				set_error(error, errlen, "cannot stat in %s: %s",
				    shown(show, sizeof(show), rel),
				    strerror(errno));
				closedir(dir);
				return -1;
			}
			if (S_ISLNK(st.st_mode))
				continue;
			/* Anything else counts with its size, as stat(2) says. */
			size = (uint64_t)st.st_size;
		}
		rc->bytes = add_sat(rc->bytes, size);
		rc->messages = add_sat(rc->messages, 1);
	}
	if (errno != 0) {
		set_error(error, errlen, "cannot read %s: %s",
		    shown(show, sizeof(show), rel), strerror(errno));
		closedir(dir);
		return -1;
	}
	closedir(dir);
	return 0;
}

/* ignored - whether folder ".NAME" is listed (as "NAME" or ".NAME") in ignore. */
static bool
ignored(const char *name, char *const *ignore, size_t nignore)
{
	size_t i;

	for (i = 0; i < nignore; i++) {
		const char *ig = ignore[i];

		if (ig == NULL)
			continue;
		if (ig[0] == '.')
			ig++;
		if (strcmp(ig, name + 1) == 0)
			return true;
	}
	return false;
}

/* count_folder - cur/ and new/ of one ".Folder"; a symlink is skipped. */
static int
count_folder(int root, const char *name, struct recount *rc, time_t now,
    char *error, size_t errlen)
{
	char rel[NAME_MAX + 8], show[128];
	struct stat st;
	int fd, r;

	if ((fd = openat(root, name, DIR_OPEN_FLAGS)) < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return 0;
		set_error(error, errlen, "cannot open folder %s: %s",
		    shown(show, sizeof(show), name), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		set_error(error, errlen, "cannot stat folder %s: %s",
		    shown(show, sizeof(show), name), strerror(errno));
		close(fd);
		return -1;
	}
	recount_stamp(rc, name, &st, now);
	snprintf(rel, sizeof(rel), "%s/cur", name);
	r = count_messages(fd, "cur", rel, rc, now, error, errlen);
	if (r == 0) {
		snprintf(rel, sizeof(rel), "%s/new", name);
		r = count_messages(fd, "new", rel, rc, now, error, errlen);
	}
	close(fd);
	return r;
}

/* recount_run - the whole recount of the Maildir at root, stamps included. */
static int
recount_run(int root, char *const *ignore, size_t nignore,
    struct recount *rc, char *error, size_t errlen)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	DIR *dir;
	int fd;

	memset(rc, 0, sizeof(*rc));
	rc->settled = true;
	if (fstat(root, &st) < 0) {
		set_error(error, errlen, "cannot stat Maildir: %s",
		    strerror(errno));
		return -1;
	}
	recount_stamp(rc, "", &st, now);
	if (count_messages(root, "cur", "cur", rc, now, error, errlen) < 0 ||
	    count_messages(root, "new", "new", rc, now, error, errlen) < 0)
		goto fail;

	/* A fresh fd: readdir must not move the caller's offset. */
	if ((fd = openat(root, ".", DIR_OPEN_FLAGS)) < 0 ||
	    (dir = fdopendir(fd)) == NULL) {
		set_error(error, errlen, "cannot read Maildir: %s",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	for (;;) {
		const char *n;

		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		n = de->d_name;
		if (n[0] != '.' || n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (ignored(n, ignore, nignore))
			continue;
		if (count_folder(root, n, rc, now, error, errlen) < 0) {
			closedir(dir);
			goto fail;
		}
	}
	if (errno != 0) {
		set_error(error, errlen, "cannot read Maildir: %s",
		    strerror(errno));
		closedir(dir);
		goto fail;
	}
	closedir(dir);
	rc->valid = true;
	return 0;

fail:
	recount_clear(rc);
	return -1;
}

int
mq_maildir_recount(int dirfd, char *const *ignore, size_t nignore,
    uint64_t *bytes_r, uint64_t *messages_r, char *error, size_t errlen)
{
	struct recount rc;

	*bytes_r = *messages_r = 0;
	if (recount_run(dirfd, ignore, nignore, &rc, error, errlen) < 0)
		return -1;
	*bytes_r = rc.bytes;
	*messages_r = rc.messages;
	recount_clear(&rc);
	return 0;
}

/* recount_unchanged - every directory the recount read is as it was then. */
static bool
recount_unchanged(int root, const struct recount *rc)
{
	size_t i;

	for (i = 0; i < rc->ndirs; i++) {
		const struct dirstamp *d = &rc->dirs[i];
		struct stat st;
		int r;

		if (d->rel[0] == '\0')
			r = fstat(root, &st);
		else
			r = fstatat(root, d->rel, &st, AT_SYMLINK_NOFOLLOW);
		if (r < 0 || !S_ISDIR(st.st_mode) || st.st_dev != d->dev ||
		    st.st_ino != d->ino || !same_time(&st.st_mtim, &d->mtim))
			return false;
	}
	return true;
}

/*
 * maildirsize.
 */

/* read_maildirsize - stat, open and parse it; a missing file is not an error. */
static int
read_maildirsize(int root, struct mds_read *rd, char *error, size_t errlen)
{
	char buf[MQ_MAILDIRSIZE_MAX];
	struct stat st;
	size_t len = 0;
	int fd;

	memset(rd, 0, sizeof(*rd));
	/* Look before opening: never open a device or FIFO at all. */
	if (fstatat(root, "maildirsize", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		set_error(error, errlen, "maildirsize: %s", strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		set_error(error, errlen, "maildirsize is a symlink");
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		set_error(error, errlen, "maildirsize is not a regular file");
		return -1;
	}
	fd = openat(root, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;	/* removed since the stat */
		set_error(error, errlen, "maildirsize: %s", errno == ELOOP ?
		    "is a symlink" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_error(error, errlen, "maildirsize is not a regular file");
		close(fd);
		return -1;
	}
	rd->exists = true;
	rd->dev = st.st_dev;
	rd->ino = st.st_ino;
	rd->size = st.st_size;
	rd->mtim = st.st_mtim;
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_error(error, errlen, "maildirsize: %s",
			    strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);

	/* The limits are kept when only the usage lines are bad. */
	rd->status = mq_maildirsize_parse(buf, len, &rd->mds);
	return 0;
}

/* mds_unchanged - maildirsize is still the file (or absence) that was read. */
static bool
mds_unchanged(int root, const struct mds_read *rd)
{
	struct stat st;

	if (fstatat(root, "maildirsize", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT && !rd->exists;
	return rd->exists && S_ISREG(st.st_mode) && st.st_dev == rd->dev &&
	    st.st_ino == rd->ino && st.st_size == rd->size &&
	    same_time(&st.st_mtim, &rd->mtim);
}

/*
 * The usage cache.
 */

struct mq_usage_cache *
mq_usage_cache_new(size_t max_entries)
{
	struct mq_usage_cache *c = xcalloc(1, sizeof(*c));

	c->max_entries = max_entries;
	c->nbuckets = 16;
	while (c->nbuckets < max_entries && c->nbuckets < CACHE_BUCKETS_MAX)
		c->nbuckets *= 2;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	TAILQ_INIT(&c->lru);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

/* entry_find - the entry for path; the lock is held. */
static struct usage_entry *
entry_find(struct mq_usage_cache *c, const char *path, uint64_t hash)
{
	struct usage_entry *e;

	for (e = c->buckets[hash & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->path, path) == 0)
			return e;
	return NULL;
}

/* entry_remove - unlink and free an entry; the lock is held. */
static void
entry_remove(struct mq_usage_cache *c, struct usage_entry *e)
{
	struct usage_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->count--;
	recount_clear(&e->rc);
	free(e->path);
	free(e);
}

void
mq_usage_cache_flush(struct mq_usage_cache *c)
{
	struct usage_entry *e;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	while ((e = TAILQ_FIRST(&c->lru)) != NULL)
		entry_remove(c, e);
	pthread_mutex_unlock(&c->lock);
}

void
mq_usage_cache_free(struct mq_usage_cache **cache)
{
	struct mq_usage_cache *c = *cache;

	if (c == NULL)
		return;
	mq_usage_cache_flush(c);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c);
	*cache = NULL;
}

/*
 * cached_usage - the figure for path if it is younger than usage_ttl (or,
 * with stale_ok, than twice that, asking one caller to re-validate it).
 */
static int
cached_usage(struct mq_usage_cache *c, const struct mq_maildir_opts *opts,
    const char *path, uint64_t now_us, bool stale_ok, struct mq_usage *out)
{
	struct usage_entry *e;
	uint64_t ttl_us, age;
	int r = MQ_MISS;

	if (c == NULL || opts->usage_ttl <= 0)
		return MQ_MISS;
	ttl_us = (uint64_t)opts->usage_ttl * 1000000u;
	pthread_mutex_lock(&c->lock);
	e = entry_find(c, path, mq_fnv1a_str(MQ_FNV1A_INIT, path));
	age = e == NULL || now_us < e->validated_us ? 0 :
	    now_us - e->validated_us;
	if (e != NULL && age < (stale_ok ? 2 * ttl_us : ttl_us)) {
		*out = e->result;
		out->cached = true;
		/* Past usage_ttl: served, and one caller re-validates it. */
		out->refresh = age >= ttl_us && !e->refreshing;
		if (out->refresh)
			e->refreshing = true;
		TAILQ_REMOVE(&c->lru, e, lru);
		TAILQ_INSERT_TAIL(&c->lru, e, lru);
		r = MQ_FOUND;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int
mq_maildir_usage_cached(struct mq_usage_cache *c,
    const struct mq_maildir_opts *opts, const char *path, uint64_t now_us,
    struct mq_usage *out)
{
	return cached_usage(c, opts, path, now_us, true, out);
}

int
mq_maildir_usage_fresh(struct mq_usage_cache *c,
    const struct mq_maildir_opts *opts, const char *path, uint64_t now_us,
    struct mq_usage *out)
{
	return cached_usage(c, opts, path, now_us, false, out);
}

/* cache_snapshot - a private copy of what is cached for path. */
static bool
cache_snapshot(struct mq_usage_cache *c, const char *path,
    struct usage_entry *copy)
{
	struct usage_entry *e;
	bool found = false;

	memset(copy, 0, sizeof(*copy));
	if (c == NULL)
		return false;
	pthread_mutex_lock(&c->lock);
	if ((e = entry_find(c, path, mq_fnv1a_str(MQ_FNV1A_INIT, path))) != NULL) {
		copy->result = e->result;
		copy->has_mds = e->has_mds;
		copy->mds = e->mds;
		recount_copy(&copy->rc, &e->rc);
		found = true;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* cache_drop - forget path, so a failure is not hidden by an older answer. */
static void
cache_drop(struct mq_usage_cache *c, const char *path)
{
	struct usage_entry *e;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	if ((e = entry_find(c, path, mq_fnv1a_str(MQ_FNV1A_INIT, path))) != NULL)
		entry_remove(c, e);
	pthread_mutex_unlock(&c->lock);
}

/*
 * cache_store - remember the answer for path and what validates it; takes
 * over the stamps in *rc (left cleared). The oldest entry makes room.
 */
static void
cache_store(struct mq_usage_cache *c, const char *path,
    const struct mq_usage *result, const struct mds_read *mds,
    struct recount *rc)
{
	uint64_t hash = mq_fnv1a_str(MQ_FNV1A_INIT, path);
	struct usage_entry *e;

	if (c == NULL || c->max_entries == 0) {
		recount_clear(rc);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if ((e = entry_find(c, path, hash)) != NULL) {
		recount_clear(&e->rc);
		TAILQ_REMOVE(&c->lru, e, lru);
	} else {
		struct usage_entry **bucket;

		if (c->count >= c->max_entries)
			entry_remove(c, TAILQ_FIRST(&c->lru));
		e = xcalloc(1, sizeof(*e));
		e->path = xstrdup(path);
		e->hash = hash;
		bucket = &c->buckets[hash & (c->nbuckets - 1)];
		e->hnext = *bucket;
		*bucket = e;
		c->count++;
	}
	TAILQ_INSERT_TAIL(&c->lru, e, lru);
	e->result = *result;
	e->result.cached = false;
	e->result.refresh = false;
	e->validated_us = mq_now_monotonic_us();
	e->refreshing = false;
	e->has_mds = mds != NULL;
	if (mds != NULL)
		e->mds = *mds;
	else
		memset(&e->mds, 0, sizeof(e->mds));
	e->rc = *rc;
	memset(rc, 0, sizeof(*rc));
	pthread_mutex_unlock(&c->lock);
}

/*
 * The figure.
 */

enum usage_source {
	USE_FILE,		/* maildirsize as it says */
	USE_RECOUNT,
	USE_NOTHING,		/* no usable figure and no recount allowed */
};

/* effective - a limit in force: the row's, else the header's or none. */
static uint64_t
effective(const struct mq_maildir_opts *opts, uint64_t row, bool file_has,
    uint64_t file)
{
	if (row != MQ_LIMIT_UNSET)
		return row;
	return opts->header_limits && file_has ? file : 0;
}

/* choose_source - Dovecot's rules for believing maildirsize. */
static enum usage_source
choose_source(const struct mq_maildir_opts *opts, const struct mds_read *rd,
    uint64_t limit_bytes, uint64_t limit_messages)
{
	uint64_t lb, lm;

	lb = effective(opts, limit_bytes, rd->mds.has_limit_bytes,
	    rd->mds.limit_bytes);
	lm = effective(opts, limit_messages, rd->mds.has_limit_messages,
	    rd->mds.limit_messages);
	if (rd->exists && rd->status == MQ_MDS_OK && (!opts->recalc ||
	    mq_maildirsize_trusted(&rd->mds, lb, lm, rd->mtim.tv_sec,
	    time(NULL))))
		return USE_FILE;
	if (!rd->exists || rd->status != MQ_MDS_OK)
		return opts->recalc ? USE_RECOUNT : USE_NOTHING;
	return USE_RECOUNT;
}

int
mq_maildir_usage(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path,
    uint64_t limit_bytes, uint64_t limit_messages, struct mq_usage *out,
    char *error, size_t errlen)
{
	struct usage_entry old;
	struct mds_read rd;
	struct recount rc;
	bool have_old, read_fresh = false, counted = false;
	int root, r;

	memset(out, 0, sizeof(*out));
	memset(&rc, 0, sizeof(rc));
	r = mq_maildir_open(opts->base, path, &root, error, errlen);
	if (r == MQ_TEMPFAIL) {
		cache_drop(cache, path);
		return MQ_TEMPFAIL;
	}
	if (r == MQ_NOTFOUND) {
		/* No Maildir yet: nothing used. */
		out->origin = MQ_ORIGIN_NONE;
		cache_store(cache, path, out, NULL, &rc);
		return MQ_FOUND;
	}

	have_old = cache_snapshot(cache, path, &old);
	if (have_old && old.has_mds && mds_unchanged(root, &old.mds))
		rd = old.mds;
	else if (read_maildirsize(root, &rd, error, errlen) < 0)
		goto tempfail;
	else
		read_fresh = true;

	switch (choose_source(opts, &rd, limit_bytes, limit_messages)) {
	case USE_RECOUNT:
		if (old.rc.valid && old.rc.settled &&
		    recount_unchanged(root, &old.rc)) {
			rc = old.rc;
			memset(&old.rc, 0, sizeof(old.rc));
		} else {
			if (recount_run(root, opts->ignore, opts->nignore, &rc,
			    error, errlen) < 0)
				goto tempfail;
			counted = true;
		}
		out->bytes = rc.bytes;
		out->messages = rc.messages;
		out->origin = MQ_ORIGIN_RECOUNT;
		break;
	case USE_FILE:
		out->bytes = rd.mds.bytes;
		out->messages = rd.mds.messages;
		out->origin = MQ_ORIGIN_MAILDIRSIZE;
		break;
	case USE_NOTHING:
		if (read_fresh && rd.exists) {
			char show[128];

			mq_warn("maildir %s: maildirsize is %s and "
			    "maildir.recalc is off: counting it as empty",
			    shown(show, sizeof(show), path),
			    rd.status == MQ_MDS_TOOBIG ? "too big" : "corrupt");
		}
		out->origin = MQ_ORIGIN_NONE;
		break;
	}
	out->has_limit_bytes = rd.mds.has_limit_bytes;
	out->limit_bytes = rd.mds.limit_bytes;
	out->has_limit_messages = rd.mds.has_limit_messages;
	out->limit_messages = rd.mds.limit_messages;

	/* Keep an earlier recount that was not needed now: it may be again. */
	if (!rc.valid) {
		rc = old.rc;
		memset(&old.rc, 0, sizeof(old.rc));
	}
	cache_store(cache, path, out, &rd, &rc);
	out->cached = !read_fresh && !counted;
	recount_clear(&old.rc);
	close(root);
	return MQ_FOUND;

tempfail:
	recount_clear(&old.rc);
	recount_clear(&rc);
	close(root);
	cache_drop(cache, path);
	memset(out, 0, sizeof(*out));
	return MQ_TEMPFAIL;
}

/*
 * Reading and rewriting maildirsize for recalc.
 */

int
mq_maildir_read_size(int dirfd, struct mq_maildirsize *mds,
    enum mq_mds_status *status_r, char *error, size_t errlen)
{
	struct mds_read rd;

	memset(mds, 0, sizeof(*mds));
	*status_r = MQ_MDS_OK;
	if (read_maildirsize(dirfd, &rd, error, errlen) < 0)
		return MQ_TEMPFAIL;
	if (!rd.exists)
		return MQ_NOTFOUND;
	*mds = rd.mds;
	*status_r = rd.status;
	return MQ_FOUND;
}

/* same_content - maildirsize holds exactly these bytes already. */
static bool
same_content(int dirfd, const char *text, size_t len)
{
	char buf[256];
	ssize_t n;
	int fd;

	if (len >= sizeof(buf))
		return false;
	fd = openat(dirfd, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return false;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)len && memcmp(buf, text, len) == 0;
}

int
mq_maildir_write_size(int dirfd, uint64_t limit_bytes,
    uint64_t limit_messages, uint64_t bytes, uint64_t messages,
    char *error, size_t errlen)
{
	static atomic_uint seq;
	char def[64], text[160], tmp[64];
	struct stat dst, st;
	mode_t mode;
	int fd, len;

	if (fstat(dirfd, &dst) < 0) {
		set_error(error, errlen, "cannot stat Maildir: %s", strerror(errno));
		return -1;
	}
	/* The file replaced must be a plain file: anything else was planted. */
	if (fstatat(dirfd, "maildirsize", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			set_error(error, errlen, "maildirsize is a symlink: refused");
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			set_error(error, errlen,
			    "maildirsize is not a regular file: refused");
			return -1;
		}
		mode = st.st_mode & 0666;
	} else if (errno == ENOENT) {
		mode = dst.st_mode & 0666;
	} else {
		set_error(error, errlen, "maildirsize: %s", strerror(errno));
		return -1;
	}

	mq_maildirsize_definition(def, sizeof(def), limit_bytes, limit_messages);
	/* Figures past INT64_MAX are written whole, as Dovecot writes them. */
	len = snprintf(text, sizeof(text), "%s\n%llu %llu\n", def,
	    (unsigned long long)bytes, (unsigned long long)messages);
	if (same_content(dirfd, text, (size_t)len))
		return 1;
	snprintf(tmp, sizeof(tmp), "maildirsize.%ld.%u.tmp", (long)getpid(),
	    atomic_fetch_add(&seq, 1));

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode != 0 ? mode : 0600);
	if (fd < 0) {
		set_error(error, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	/* Owned like the Maildir, so the delivery agent can append to it. */
	if ((geteuid() != dst.st_uid || getegid() != dst.st_gid) &&
	    fchown(fd, dst.st_uid, dst.st_gid) < 0) {
		set_error(error, errlen, "cannot give %s to uid %lu gid %lu: %s",
		    tmp, (unsigned long)dst.st_uid, (unsigned long)dst.st_gid,
		    strerror(errno));
		goto fail;
	}
	if (fchmod(fd, mode != 0 ? mode : 0600) < 0 ||
	    mq_write_all(fd, text, (size_t)len) < 0 || fsync(fd) < 0) {
		set_error(error, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		set_error(error, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, "maildirsize") < 0) {
		set_error(error, errlen, "cannot rename %s to maildirsize: %s",
		    tmp, strerror(errno));
		goto fail;
	}
	/* Make the rename itself durable; a failure here loses nothing. */
	(void)fsync(dirfd);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	return -1;
}
