/* SPDX-License-Identifier: MIT */
/*
 * maildir - a mailbox's usage figure, and the usage cache that keeps the
 * work for it off the request path.
 *
 * mq_maildir_usage opens the Maildir confined under maildir.base
 * (maildir_path.c), reads maildirsize (maildirsize_file.c), decides by
 * Dovecot's rules whether to believe it, and otherwise recounts the
 * Maildir (maildir_recount.c). The cache remembers, per path, what the
 * last answer was derived from: the maildirsize stat (inode, size, mtime)
 * and, for a recount, the identity and mtime of every directory read. A
 * later mq_maildir_usage re-checks those with fstatat only and reuses what
 * did not change; a recount that is not settled is redone instead.
 */
#include "autoconf.h"

#include <sys/queue.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "maildir_recount.h"
#include "maildirsize_file.h"
#include "mq.h"
#include "util.h"

#define CACHE_BUCKETS_MAX 65536

struct usage_entry {
	TAILQ_ENTRY(usage_entry) lru;
	struct usage_entry *hnext;
	uint64_t hash;
	char *path;
	struct mq_usage result;
	uint64_t validated_us;
	bool refreshing;		/* handed out with refresh set, not yet re-validated */
	bool has_mds;			/* the Maildir existed and mds describes it */
	struct mq_mds_file mds;
	struct mq_recount rc;
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
	mq_recount_clear(&e->rc);
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
		mq_recount_copy(&copy->rc, &e->rc);
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
    const struct mq_usage *result, const struct mq_mds_file *mds,
    struct mq_recount *rc)
{
	uint64_t hash = mq_fnv1a_str(MQ_FNV1A_INIT, path);
	struct usage_entry *e;

	if (c == NULL || c->max_entries == 0) {
		mq_recount_clear(rc);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if ((e = entry_find(c, path, hash)) != NULL) {
		mq_recount_clear(&e->rc);
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
choose_source(const struct mq_maildir_opts *opts, const struct mq_mds_file *rd,
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

/*
 * recount_figure - old's recount when it is settled and still holds (taken
 * over, old left cleared), else a new one into rc (*counted set). 0, or
 * -1 with the reason in error.
 */
static int
recount_figure(const struct mq_maildir_opts *opts, int root,
    struct mq_recount *old, struct mq_recount *rc, bool *counted,
    char *error, size_t errlen)
{
	if (old->valid && old->settled && mq_recount_unchanged(root, old)) {
		*rc = *old;
		memset(old, 0, sizeof(*old));
		return 0;
	}
	if (mq_recount_run(root, opts->ignore, opts->nignore, rc, error,
	    errlen) < 0)
		return -1;
	*counted = true;
	return 0;
}

/* warn_unusable - a bad maildirsize that may not be recounted is taken as empty. */
static void
warn_unusable(const char *path, const struct mq_mds_file *rd)
{
	char show[128];

	mq_warn("maildir %s: maildirsize is %s and maildir.recalc is off: "
	    "counting it as empty", mq_shown(show, sizeof(show), path),
	    rd->status == MQ_MDS_TOOBIG ? "too big" : "corrupt");
}

int
mq_maildir_usage(struct mq_usage_cache *cache,
    const struct mq_maildir_opts *opts, const char *path,
    uint64_t limit_bytes, uint64_t limit_messages, struct mq_usage *out,
    char *error, size_t errlen)
{
	struct usage_entry old;
	struct mq_mds_file rd;
	struct mq_recount rc;
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
	if (have_old && old.has_mds && mq_mds_file_unchanged(root, &old.mds))
		rd = old.mds;
	else if (mq_mds_file_read(root, &rd, error, errlen) < 0)
		goto tempfail;
	else
		read_fresh = true;

	switch (choose_source(opts, &rd, limit_bytes, limit_messages)) {
	case USE_RECOUNT:
		if (recount_figure(opts, root, &old.rc, &rc, &counted, error,
		    errlen) < 0)
			goto tempfail;
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
		if (read_fresh && rd.exists)
			warn_unusable(path, &rd);
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
	mq_recount_clear(&old.rc);
	close(root);
	return MQ_FOUND;

tempfail:
	mq_recount_clear(&old.rc);
	mq_recount_clear(&rc);
	close(root);
	cache_drop(cache, path);
	memset(out, 0, sizeof(*out));
	return MQ_TEMPFAIL;
}
