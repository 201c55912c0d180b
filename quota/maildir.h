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
};

struct mq_maildir_opts {
	const char *base;
	char *const *ignore;
	size_t nignore;
	bool recalc;			/* recount an untrusted maildirsize (else trust it) */
	int usage_ttl;			/* seconds a cached figure is reused unchecked */
};

struct mq_usage_cache;

struct mq_usage_cache *mq_usage_cache_new(size_t max_entries);
void mq_usage_cache_free(struct mq_usage_cache **cache);
void mq_usage_cache_flush(struct mq_usage_cache *cache);

/*
 * mq_maildir_usage_cached - the cached figure for path if it is younger than
 * usage_ttl: MQ_FOUND, else MQ_MISS. No system call.
 */
int mq_maildir_usage_cached(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path, uint64_t now_us,
    struct mq_usage *out);

/*
 * mq_maildir_usage - the figure for path (relative to base, or absolute
 * inside it). limit_bytes/limit_messages (0 = unlimited) decide whether an
 * over-quota maildirsize is trusted. MQ_FOUND (a missing Maildir counts as
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

#endif
