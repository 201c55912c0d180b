/* SPDX-License-Identifier: MIT */
/*
 * cmd_recalc - `mailquota recalc [--dry-run] USER... | --all`: count
 * every folder's cur/ and new/ (maildir.ignore left out, symlinks never
 * followed) and rewrite maildirsize as a definition line and one usage
 * line, the way Dovecot and Courier recalculate it.
 *
 * The limits written are the ones the decision uses: the user row's, and
 * for a limit the row does not give the old file's definition line
 * (maildir.header_limits) or none. The write is mq_maildir_write_size: a temp file in the
 * Maildir owned like the Maildir, fsync, rename; a reader sees the old
 * file or the new one, never a part. A delivery that appends a delta line
 * to the old file between the count and the rename is lost with it, as
 * with every Maildir++ recalculation; the next recount corrects it.
 *
 * Refused (status=error, nothing written): a maildirsize that is a
 * symlink or not a regular file, and any symlink where a folder, cur/ or
 * new/ would be: recalc runs as root over directories users can write.
 *
 * One line per mailbox on stdout, in the order asked (or of the users
 * query), key=value:
 *   ADDRESS status=ok|drift|unchanged|rewritten file=BYTES/COUNT
 *           count=BYTES/COUNT drift=+BYTES/+COUNT definition=OLD->NEW
 *   ADDRESS status=nomaildir | status=nouser | status=error error="..."
 * file is "missing", "corrupt" or "toobig" when there are no figures.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "cli_scan.h"
#include "engine.h"
#include "log.h"
#include "maildir.h"
#include "maildirsize.h"
#include "util.h"

enum status {
	ST_OK,			/* dry run: the file matches the count */
	ST_DRIFT,		/* dry run: it does not */
	ST_UNCHANGED,		/* nothing to write */
	ST_REWRITTEN,
	ST_NOMAILDIR,		/* no Maildir yet: nothing to count */
	ST_NOUSER,
	ST_ERROR,
};

static const char *const status_name[] = {
	[ST_OK] = "ok",
	[ST_DRIFT] = "drift",
	[ST_UNCHANGED] = "unchanged",
	[ST_REWRITTEN] = "rewritten",
	[ST_NOMAILDIR] = "nomaildir",
	[ST_NOUSER] = "nouser",
	[ST_ERROR] = "error",
};

struct result {
	enum status status;
	bool file_exists;
	enum mq_mds_status file_status;
	struct mq_maildirsize file;
	uint64_t bytes, messages;	/* counted */
	char old_def[64], new_def[64];
	char error[256];
};

struct job {
	const struct mq_config *cfg;
	char **addr;
	struct result *res;
	bool dry_run;
};

/* no_symlink - error unless fd's entry name is not a symlink (or is absent). */
static int
no_symlink(int fd, const char *name, const char *show, char *error,
    size_t errlen)
{
	struct stat st;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISLNK(st.st_mode)) {
		snprintf(error, errlen, "%s is a symlink: refused", show);
		return -1;
	}
	return 0;
}

/*
 * check_symlinks - refuse a Maildir with a symlink as cur/, new/, a
 * folder, or a folder's cur/ or new/: the recount would skip it, and
 * rewriting the usage of a tampered Maildir as root is not wanted.
 */
static int
check_symlinks(int root, char *error, size_t errlen)
{
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;

	error[0] = '\0';
	if (no_symlink(root, "cur", "cur", error, errlen) < 0 ||
	    no_symlink(root, "new", "new", error, errlen) < 0)
		goto fail;
	if ((fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	while (r == 0 && (errno = 0, de = readdir(dir)) != NULL) {
		const char *n = de->d_name;
		char show[96], sub[128];
		struct stat st;
		int ffd;

		if (n[0] != '.' || n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))
			continue;
		mq_cli_shown(show, sizeof(show), n);
		if (fstatat(dirfd(dir), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				r = -1;
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			snprintf(error, errlen, "folder %s is a symlink: refused", show);
			r = -1;
		} else if (S_ISDIR(st.st_mode)) {
			ffd = openat(dirfd(dir), n, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (ffd < 0) {
				if (errno == ELOOP || errno == ENOTDIR) {
					snprintf(error, errlen, "folder %s is "
					    "a symlink: refused", show);
					r = -1;
				}
				continue;
			}
			snprintf(sub, sizeof(sub), "%s/cur", show);
			if (no_symlink(ffd, "cur", sub, error, errlen) < 0)
				r = -1;
			snprintf(sub, sizeof(sub), "%s/new", show);
			if (r == 0 && no_symlink(ffd, "new", sub, error, errlen) < 0)
				r = -1;
			close(ffd);
		}
	}
	if (r == 0 && errno != 0)
		r = -1;
	closedir(dir);
	if (r == 0)
		return 0;
fail:
	if (error[0] == '\0')
		snprintf(error, errlen, "cannot read the Maildir: %s",
		    strerror(errno));
	return -1;
}

/* recalc_one - one mailbox, on a pool thread. */
static void
recalc_one(struct mq_session *s, size_t i, void *ctx)
{
	struct job *job = ctx;
	const struct mq_config *cfg = job->cfg;
	struct result *res = &job->res[i];
	struct mq_box_report rep = { 0 };
	uint64_t lb, lm;
	bool files_differ;
	int root = -1, r;

	r = mq_session_mailbox(s, job->addr[i], &rep, res->error,
	    sizeof(res->error));
	if (r != MQ_FOUND) {
		res->status = r == MQ_NOTFOUND ? ST_NOUSER : ST_ERROR;
		goto done;
	}
	r = mq_maildir_open(cfg->maildir.base, rep.maildir, &root, res->error,
	    sizeof(res->error));
	if (r == MQ_NOTFOUND) {
		res->status = ST_NOMAILDIR;
		goto done;
	}
	if (r != MQ_FOUND || check_symlinks(root, res->error,
	    sizeof(res->error)) < 0)
		goto error;
	r = mq_maildir_read_size(root, &res->file, &res->file_status,
	    res->error, sizeof(res->error));
	if (r == MQ_TEMPFAIL)
		goto error;
	res->file_exists = r == MQ_FOUND;
	if (mq_maildir_recount(root, cfg->maildir.ignore, cfg->maildir.nignore,
	    &res->bytes, &res->messages, res->error, sizeof(res->error)) < 0)
		goto error;

	/* The limits in force: the row's, else the header's (header_limits). */
	lb = rep.state.limit_bytes;
	lm = rep.state.limit_messages;
	mq_maildirsize_definition(res->new_def, sizeof(res->new_def), lb, lm);
	if (res->file.has_limit_bytes || res->file.has_limit_messages)
		mq_maildirsize_definition(res->old_def, sizeof(res->old_def),
		    res->file.limit_bytes, res->file.limit_messages);
	else
		mq_strlcpy(res->old_def, "none", sizeof(res->old_def));

	/* Drift: what the file says is not what is there (or not what it should say). */
	files_differ = !res->file_exists || res->file_status != MQ_MDS_OK ||
	    res->file.bytes != res->bytes || res->file.messages != res->messages ||
	    strcmp(res->old_def, res->new_def) != 0;
	if (job->dry_run) {
		res->status = files_differ ? ST_DRIFT : ST_OK;
	} else {
		/*
		 * Written unless it is byte for byte the file Dovecot's recount
		 * would write (one usage line in its format); compacting delta
		 * lines is not drift, but it is a rewrite.
		 */
		r = mq_maildir_write_size(root, lb, lm, res->bytes, res->messages,
		    res->error, sizeof(res->error));
		if (r < 0)
			goto error;
		res->status = r == 1 ? ST_UNCHANGED : ST_REWRITTEN;
	}
	goto done;

error:
	res->status = ST_ERROR;
done:
	if (root >= 0)
		close(root);
	mq_box_report_clear(&rep);
}

/* signed_diff - "+12" / "-3": counted minus what the file says. */
static const char *
signed_diff(char *buf, size_t size, uint64_t counted, uint64_t file)
{
	if (counted >= file)
		snprintf(buf, size, "+%" PRIu64, counted - file);
	else
		snprintf(buf, size, "-%" PRIu64, file - counted);
	return buf;
}

static void
print_result(const char *address, const struct result *res)
{
	char shown[MQ_ADDRESS_MAX + 8], db[32], dm[32];

	printf("%s status=%s", mq_cli_shown(shown, sizeof(shown), address),
	    status_name[res->status]);
	switch (res->status) {
	case ST_NOMAILDIR:
	case ST_NOUSER:
		break;
	case ST_ERROR: {
		char why[sizeof(res->error)];

		/* One token: no control characters, no double quote inside. */
		mq_cli_shown(why, sizeof(why), res->error);
		for (char *p = why; *p != '\0'; p++)
			if (*p == '"')
				*p = '\'';
		printf(" error=\"%s\"", why);
		break;
	}
	default:
		if (!res->file_exists)
			printf(" file=missing");
		else if (res->file_status == MQ_MDS_TOOBIG)
			printf(" file=toobig");
		else if (res->file_status != MQ_MDS_OK)
			printf(" file=corrupt");
		else
			printf(" file=%" PRIu64 "/%" PRIu64, res->file.bytes,
			    res->file.messages);
		printf(" count=%" PRIu64 "/%" PRIu64, res->bytes, res->messages);
		if (res->file_exists && res->file_status == MQ_MDS_OK)
			printf(" drift=%s/%s",
			    signed_diff(db, sizeof(db), res->bytes, res->file.bytes),
			    signed_diff(dm, sizeof(dm), res->messages,
			    res->file.messages));
		if (strcmp(res->old_def, res->new_def) == 0)
			printf(" definition=%s", res->new_def);
		else
			printf(" definition=%s->%s", res->old_def, res->new_def);
		break;
	}
	putchar('\n');
}

int
mq_cmd_recalc(const struct mq_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct mq_strlist list = { 0 };
	struct job job = { .cfg = cfg };
	struct mq_engine *engine;
	size_t count[ST_ERROR + 1] = { 0 };
	bool all = false;
	int c, rc;

	optind = 0;	/* glibc: re-initialise after main's getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'n':
			job.dry_run = true;
			break;
		default:
			mq_cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (all == (optind < argc)) {
		mq_cli_usage(stderr);
		return EX_USAGE;
	}

	engine = mq_engine_new(cfg);
	if (all) {
		struct mq_session *session = mq_session_new(engine);
		char error[256];
		int r = mq_scan_users(session, NULL, &list, error, sizeof(error));

		mq_session_free(&session);
		if (r != MQ_FOUND) {
			fprintf(stderr, "mailquota: users query: %s\n", error);
			mq_engine_free(&engine);
			return MQ_EXIT_TEMPFAIL;
		}
	} else {
		for (int i = optind; i < argc; i++)
			mq_strlist_add(&list, argv[i]);
	}
	job.addr = list.v;
	job.res = xcalloc(list.n > 0 ? list.n : 1, sizeof(*job.res));
	mq_scan_run(engine, list.n, mq_scan_threads(cfg), recalc_one, &job);
	mq_engine_free(&engine);

	for (size_t i = 0; i < list.n; i++) {
		print_result(list.v[i], &job.res[i]);
		count[job.res[i].status]++;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = EX_IOERR;
	else if (count[ST_ERROR] > 0)
		rc = MQ_EXIT_TEMPFAIL;
	else if (count[ST_NOUSER] > 0)
		rc = EX_NOUSER;
	else if (count[ST_DRIFT] > 0)
		rc = MQ_EXIT_FOUND;
	else
		rc = MQ_EXIT_OK;
	fprintf(stderr, "mailquota: recalc: %zu mailboxes, %zu %s, %zu "
	    "without a Maildir, %zu unknown, %zu errors\n", list.n,
	    job.dry_run ? count[ST_DRIFT] : count[ST_REWRITTEN],
	    job.dry_run ? "drifting" : "rewritten", count[ST_NOMAILDIR],
	    count[ST_NOUSER], count[ST_ERROR]);
	free(job.res);
	mq_strlist_free(&list);
	return rc;
}
