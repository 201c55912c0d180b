/* SPDX-License-Identifier: MIT */
/*
 * maildir - a mailbox's usage from its Maildir, confined under maildir.base.
 *
 * Paths come from the database, so they are untrusted: a relative path is
 * taken under base, an absolute one must lie inside base, ".." components
 * are refused, and every component is opened with O_NOFOLLOW (a symlink
 * anywhere below base is refused). Reads are bounded and non-blocking opens.
 *
 * Usage comes from maildirsize, recounted (cur/ and new/ of the Maildir and
 * of every .Folder, minus maildir.ignore; sizes from ",S=" in file names,
 * else stat) when Maildir++ says so. Results are kept in a usage cache
 * validated against the mtimes of maildirsize and of the counted
 * directories, so a recount is never redone per request.
 *
 * The code behind this header: maildir.c (the figure and the cache),
 * maildir_path.c (the confined walk), maildir_recount.c (the recount) and
 * maildirsize_file.c (reading and rewriting maildirsize).
 */
#ifndef MQ_MAILDIR_H
#define MQ_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "maildirsize.h"

enum mq_usage_origin {
	MQ_ORIGIN_NONE,		/* no Maildir yet: nothing used */
	MQ_ORIGIN_MAILDIRSIZE,
	MQ_ORIGIN_RECOUNT,
	MQ_ORIGIN_SQL,
};

struct mq_usage {
	uint64_t bytes;
	uint64_t messages;
	bool has_limit_bytes;		/* from the maildirsize definition line */
	uint64_t limit_bytes;
	bool has_limit_messages;
	uint64_t limit_messages;
	enum mq_usage_origin origin;
	bool cached;			/* answered from the usage cache */
	bool refresh;			/* older than usage_ttl: re-validate it now (see below) */
};

struct mq_maildir_opts {
	const char *base;
	char *const *ignore;
	size_t nignore;
	bool recalc;			/* recount an untrusted maildirsize (else trust it) */
	bool header_limits;		/* a limit the row lacks is the header's (else none) */
	int usage_ttl;			/* seconds a cached figure is reused unchecked */
};

struct mq_usage_cache;

struct mq_usage_cache *mq_usage_cache_new(size_t max_entries);
void mq_usage_cache_free(struct mq_usage_cache **cache);
void mq_usage_cache_flush(struct mq_usage_cache *cache);

/*
 * mq_maildir_usage_cached - the cached figure for path if it is younger than
 * 2 x usage_ttl: MQ_FOUND, else MQ_MISS. No system call. A figure older
 * than usage_ttl is still served, and the first such answer for a path has
 * out->refresh set: that caller should re-validate it at once, off the
 * request path (mq_maildir_usage, which stores the new figure). Until
 * then the entry is marked, so later answers do not set refresh again; if
 * the re-validation never comes, the figure is a miss at 2 x usage_ttl.
 */
int mq_maildir_usage_cached(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path, uint64_t now_us,
    struct mq_usage *out);

/*
 * mq_maildir_usage_fresh - the cached figure for path if it is younger
 * than usage_ttl: MQ_FOUND, else MQ_MISS (the caller re-validates with
 * mq_maildir_usage). No system call.
 */
int mq_maildir_usage_fresh(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path, uint64_t now_us,
    struct mq_usage *out);

/* A limit the user row does not give (see mq_maildir_usage). */
#define MQ_LIMIT_UNSET UINT64_MAX

/*
 * mq_maildir_usage - the figure for path (relative to base, or absolute
 * inside it). limit_bytes/limit_messages are the row's limits (0 =
 * unlimited, MQ_LIMIT_UNSET = the row has none: the header's with
 * header_limits, else none); with the header's limits they decide whether
 * maildirsize is trusted (mq_maildirsize_trusted). MQ_FOUND (a missing Maildir counts as
 * empty, origin NONE) or MQ_TEMPFAIL with the reason in error (unreadable,
 * outside base, a symlink).
 */
int mq_maildir_usage(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path,
    uint64_t limit_bytes, uint64_t limit_messages, struct mq_usage *out,
    char *error, size_t errlen);

/*
 * mq_maildir_open - open the Maildir directory confined under base:
 * MQ_FOUND with *fd_r, MQ_NOTFOUND when it does not exist, MQ_TEMPFAIL.
 */
int mq_maildir_open(const char *base, const char *path, int *fd_r,
    char *error, size_t errlen);

/*
 * mq_maildir_recount - count every folder's cur/ and new/ below dirfd
 * (folders named in ignore, as "Trash" or ".Trash", are skipped; symlinks
 * are never followed): 0, or -1 with the reason in error.
 */
int mq_maildir_recount(int dirfd, char *const *ignore, size_t nignore,
    uint64_t *bytes_r, uint64_t *messages_r, char *error, size_t errlen);

/*
 * mq_maildir_read_size - read dirfd's maildirsize as the usage code does
 * (never through a symlink, a regular file only, at most
 * MQ_MAILDIRSIZE_MAX bytes): MQ_FOUND with *mds and *status_r (the limits
 * are kept when only the usage lines are bad), MQ_NOTFOUND when there is
 * none, MQ_TEMPFAIL with the reason in error.
 */
int mq_maildir_read_size(int dirfd, struct mq_maildirsize *mds,
    enum mq_mds_status *status_r, char *error, size_t errlen);

/*
 * mq_maildir_write_size - replace dirfd's maildirsize with a definition
 * line for the limits (0 = unlimited) and one usage line: a new temp file
 * (O_EXCL, O_NOFOLLOW) in the Maildir, owned like the Maildir directory,
 * written, fsync'ed and renamed over maildirsize, so a reader sees the old
 * file or the new one, never a part. A maildirsize that is a symlink or not
 * a regular file is refused. 0, 1 when the file already holds exactly
 * that text (nothing is written), or -1 with the reason in error.
 */
int mq_maildir_write_size(int dirfd, uint64_t limit_bytes,
    uint64_t limit_messages, uint64_t bytes, uint64_t messages,
    char *error, size_t errlen);

#endif
