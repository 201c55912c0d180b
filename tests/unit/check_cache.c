/* SPDX-License-Identifier: MIT */
/*
 * check_cache - the lookup cache: hits, negative entries, expiry, bounds,
 * flush, record reference counts, and several threads at once.
 */
#include "autoconf.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

#define SEC UINT64_C(1000000)
#define T0 (1000 * SEC)		/* an arbitrary monotonic "now" */

/* new_user - a user record holding one reference, with a maildir string. */
static struct mq_record *
new_user(uint64_t quota)
{
	struct mq_record *rec = xcalloc(1, sizeof(*rec));

	atomic_init(&rec->refs, 1);
	rec->kind = MQ_Q_USER;
	rec->u.user.has_quota_bytes = true;
	rec->u.user.quota_bytes = quota;
	rec->u.user.enabled = true;
	rec->u.user.maildir = xasprintf("example.org/u%llu", (unsigned long long)quota);
	return rec;
}

static int
refs(const struct mq_record *rec)
{
	return atomic_load(&((struct mq_record *)rec)->refs);
}

static struct mq_cache_stats
stats(struct mq_cache *cache)
{
	struct mq_cache_stats st;

	mq_cache_stats(cache, &st);
	return st;
}

START_TEST(test_hit)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(42), *got;

	mq_cache_put(cache, MQ_Q_USER, "a@example.org", rec, T0, 60);
	ck_assert_int_eq(refs(rec), 2);		/* ours + the cache's */
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "a@example.org", T0, &got), MQ_FOUND);
	ck_assert_ptr_eq(got, rec);
	ck_assert_int_eq(refs(rec), 3);		/* + the caller's */
	ck_assert_uint_eq(got->u.user.quota_bytes, 42);
	mq_record_unref(&got);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(refs(rec), 2);

	/* Same key, other kind; other key: misses. */
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_ALIAS, "a@example.org", T0, &got), MQ_MISS);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "b@example.org", T0, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "a@example.or", T0, &got), MQ_MISS);

	ck_assert_uint_eq(stats(cache).hits, 1);
	ck_assert_uint_eq(stats(cache).misses, 3);
	ck_assert_uint_eq(stats(cache).negative_hits, 0);
	ck_assert_uint_eq(stats(cache).entries, 1);

	mq_cache_free(&cache);
	ck_assert_ptr_null(cache);
	ck_assert_int_eq(refs(rec), 1);		/* the cache let go */
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_negative)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *got = (const struct mq_record *)&got;

	mq_cache_put(cache, MQ_Q_DOMAIN, "nowhere.example", NULL, T0, 10);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_DOMAIN, "nowhere.example", T0, &got), MQ_NOTFOUND);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_DOMAIN, "nowhere.example", T0 + 10 * SEC - 1, &got), MQ_NOTFOUND);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_DOMAIN, "nowhere.example", T0 + 10 * SEC, &got), MQ_MISS);
	ck_assert_uint_eq(stats(cache).negative_hits, 2);
	ck_assert_uint_eq(stats(cache).hits, 0);
	ck_assert_uint_eq(stats(cache).misses, 1);

	/* A NULL key (the users query has none) is a key like any other. */
	mq_cache_put(cache, MQ_Q_USERS, NULL, NULL, T0, 10);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USERS, NULL, T0, &got), MQ_NOTFOUND);
	mq_cache_free(&cache);
}
END_TEST

START_TEST(test_expiry)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(1), *got;

	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 5);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0 + 5 * SEC - 1, &got), MQ_FOUND);
	mq_record_unref(&got);
	ck_assert_int_eq(refs(rec), 2);
	/* Expired: a miss, and the entry and its reference are gone. */
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0 + 5 * SEC, &got), MQ_MISS);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(refs(rec), 1);
	ck_assert_uint_eq(stats(cache).entries, 0);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_MISS);

	/* A TTL that would overflow the clock saturates: never expires. */
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, UINT64_MAX - SEC, 3600);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", UINT64_MAX - 1, &got), MQ_FOUND);
	mq_record_unref(&got);

	ck_assert_uint_eq(stats(cache).evictions, 0);
	mq_cache_free(&cache);
	ck_assert_int_eq(refs(rec), 1);
	mq_record_unref(&rec);
}
END_TEST

/*
 * Refresh-ahead: in the last fifth of its TTL the first loop hit asks for a
 * refresh; then the worker's lookup misses (goes to the database) while
 * mq_cache_get still answers; storing again clears the mark.
 */
START_TEST(test_ahead)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(3), *got;
	bool refresh = true;

	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 10);
	mq_cache_put(cache, MQ_Q_ALIAS, "n@d", NULL, T0, 10);

	/* Before the last fifth: a plain hit, for the loop and for a worker. */
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 8 * SEC - 1, &refresh, &got), MQ_FOUND);
	ck_assert(!refresh);
	ck_assert_ptr_eq(got, rec);
	mq_record_unref(&got);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 9 * SEC, NULL, &got), MQ_FOUND);
	mq_record_unref(&got);

	/* In it: the first loop hit asks, the next ones do not. */
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 8 * SEC, &refresh, &got), MQ_FOUND);
	ck_assert(refresh);
	mq_record_unref(&got);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 9 * SEC, &refresh, &got), MQ_FOUND);
	ck_assert(!refresh);
	mq_record_unref(&got);

	/* Asked for: a worker misses, a plain lookup still hits. */
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 9 * SEC, NULL, &got), MQ_MISS);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0 + 9 * SEC,
	    &got), MQ_FOUND);
	mq_record_unref(&got);

	/* Negative entries alike. */
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_ALIAS, "n@d",
	    T0 + 9 * SEC, &refresh, &got), MQ_NOTFOUND);
	ck_assert(refresh);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_ALIAS, "n@d",
	    T0 + 9 * SEC, NULL, &got), MQ_MISS);

	/* Past the TTL: a miss for everyone, as before. */
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_ALIAS, "n@d",
	    T0 + 10 * SEC, &refresh, &got), MQ_MISS);
	ck_assert(!refresh);

	/* Stored again: fresh, unmarked, a new last fifth. */
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0 + 9 * SEC, 10);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 9 * SEC, NULL, &got), MQ_FOUND);
	mq_record_unref(&got);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 16 * SEC, &refresh, &got), MQ_FOUND);
	ck_assert(!refresh);
	mq_record_unref(&got);
	ck_assert_int_eq(mq_cache_get_ahead(cache, MQ_Q_USER, "u@d",
	    T0 + 17 * SEC, &refresh, &got), MQ_FOUND);
	ck_assert(refresh);
	mq_record_unref(&got);

	mq_cache_free(&cache);
	ck_assert_int_eq(refs(rec), 1);
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_ttl_zero)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(1), *got;

	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 0);
	mq_cache_put(cache, MQ_Q_USER, "v@d", NULL, T0, 0);
	ck_assert_int_eq(refs(rec), 1);
	ck_assert_uint_eq(stats(cache).entries, 0);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "v@d", T0, &got), MQ_MISS);

	/* ttl 0 also forgets an older answer for the key. */
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 60);
	ck_assert_int_eq(refs(rec), 2);
	mq_cache_put(cache, MQ_Q_USER, "u@d", NULL, T0, 0);
	ck_assert_int_eq(refs(rec), 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_MISS);

	/* A cache of no entries stores nothing, and a NULL cache is a miss. */
	mq_cache_free(&cache);
	cache = mq_cache_new(0);
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 60);
	ck_assert_int_eq(refs(rec), 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_MISS);
	mq_cache_free(&cache);
	mq_cache_put(NULL, MQ_Q_USER, "u@d", rec, T0, 60);
	ck_assert_int_eq(mq_cache_get(NULL, MQ_Q_USER, "u@d", T0, &got), MQ_MISS);
	mq_record_unref(&rec);
}
END_TEST

/*
 * Stale entries (policy.stale_ttl): kept past expiry for the keep time,
 * invisible to mq_cache_get, returned by mq_cache_get_stale, then dropped.
 */
START_TEST(test_stale)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(7), *got;
	struct mq_cache_stats st;

	mq_cache_keep_stale(cache, 30);
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 5);
	mq_cache_put(cache, MQ_Q_ALIAS, "u@d", NULL, T0, 5);

	/* Fresh: both calls answer, and neither counts a stale hit. */
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "u@d", T0 + SEC, &got), MQ_FOUND);
	mq_record_unref(&got);
	ck_assert_uint_eq(stats(cache).stale_hits, 0);

	/* Expired: a miss for mq_cache_get, but the entry stays. */
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0 + 6 * SEC, &got), MQ_MISS);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(refs(rec), 2);
	ck_assert_uint_eq(stats(cache).entries, 2);
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "u@d", T0 + 6 * SEC, &got), MQ_FOUND);
	ck_assert_ptr_eq(got, rec);
	mq_record_unref(&got);
	/* A negative entry answers stale too (not found, no record). */
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_ALIAS, "u@d", T0 + 6 * SEC, &got), MQ_NOTFOUND);
	ck_assert_ptr_null(got);
	/* Last moment of the window (expiry 5 s + 30 s kept). */
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "u@d", T0 + 35 * SEC - 1, &got), MQ_FOUND);
	mq_record_unref(&got);
	st = stats(cache);
	ck_assert_uint_eq(st.stale_hits, 3);
	ck_assert_uint_eq(st.misses, 1);

	/* Past it: gone for both, and the reference is released. */
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "u@d", T0 + 35 * SEC, &got), MQ_MISS);
	ck_assert_int_eq(refs(rec), 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_ALIAS, "u@d", T0 + 35 * SEC, &got), MQ_MISS);
	ck_assert_uint_eq(stats(cache).entries, 0);
	ck_assert_uint_eq(stats(cache).stale_hits, 3);

	/* ttl 0 with stale kept: never fresh, but the last answer stays. */
	mq_cache_put(cache, MQ_Q_USER, "z@d", rec, T0, 0);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "z@d", T0, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "z@d", T0 + 29 * SEC, &got), MQ_FOUND);
	mq_record_unref(&got);
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "z@d", T0 + 30 * SEC, &got), MQ_MISS);

	/* Without keep_stale an expired entry is never returned. */
	mq_cache_free(&cache);
	cache = mq_cache_new(1000);
	mq_cache_put(cache, MQ_Q_USER, "u@d", rec, T0, 5);
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "u@d", T0 + 5 * SEC, &got), MQ_MISS);
	ck_assert_int_eq(refs(rec), 1);
	mq_cache_free(&cache);
	mq_record_unref(&rec);
}
END_TEST

/* A full shard pushes out a stale entry before a fresh one. */
START_TEST(test_stale_evicted_first)
{
	struct mq_cache *cache = mq_cache_new(4);	/* one shard of 4 */
	const struct mq_record *rec = new_user(1), *got;
	char key[32];
	int k;

	mq_cache_keep_stale(cache, 3600);
	mq_cache_put(cache, MQ_Q_USER, "old@d", rec, T0, 1);
	for (k = 0; k < 3; k++) {
		snprintf(key, sizeof(key), "k%d@d", k);
		mq_cache_put(cache, MQ_Q_USER, key, rec, T0 + 2 * SEC, 60);
	}
	/* Full; old@d expired (but kept): it goes, the fresh ones stay. */
	mq_cache_put(cache, MQ_Q_USER, "new@d", rec, T0 + 3 * SEC, 60);
	ck_assert_int_eq(mq_cache_get_stale(cache, MQ_Q_USER, "old@d", T0 + 3 * SEC, &got), MQ_MISS);
	for (k = 0; k < 3; k++) {
		snprintf(key, sizeof(key), "k%d@d", k);
		ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, key, T0 + 3 * SEC, &got), MQ_FOUND);
		mq_record_unref(&got);
	}
	ck_assert_uint_eq(stats(cache).evictions, 0);
	mq_cache_free(&cache);
	ck_assert_int_eq(refs(rec), 1);
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_replace)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *r1 = new_user(1), *r2 = new_user(2), *got;

	mq_cache_put(cache, MQ_Q_USER, "u@d", r1, T0, 60);
	mq_cache_put(cache, MQ_Q_USER, "u@d", r2, T0, 60);
	ck_assert_int_eq(refs(r1), 1);
	ck_assert_int_eq(refs(r2), 2);
	ck_assert_uint_eq(stats(cache).entries, 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_FOUND);
	ck_assert_ptr_eq(got, r2);
	mq_record_unref(&got);
	/* Positive to negative. */
	mq_cache_put(cache, MQ_Q_USER, "u@d", NULL, T0, 60);
	ck_assert_int_eq(refs(r2), 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "u@d", T0, &got), MQ_NOTFOUND);
	mq_cache_free(&cache);
	mq_record_unref(&r1);
	mq_record_unref(&r2);
}
END_TEST

START_TEST(test_bound)
{
	struct mq_cache *cache = mq_cache_new(300);
	const struct mq_record *rec = new_user(7), *got;
	struct mq_cache_stats st;
	char key[64];
	int i;

	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "user%d@example.org", i);
		mq_cache_put(cache, MQ_Q_USER, key, i % 3 ? rec : NULL, T0, 60);
		st = stats(cache);
		ck_assert_uint_le(st.entries, 300);
		/* The newest entry of its shard is always there. */
		ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, key, T0, &got),
		    i % 3 ? MQ_FOUND : MQ_NOTFOUND);
		mq_record_unref(&got);
	}
	st = stats(cache);
	ck_assert_uint_ge(st.entries, 250);	/* the bound is used, too */
	ck_assert_uint_eq(st.evictions, 20000 - st.entries);
	/* The cache holds exactly one reference per positive entry it keeps. */
	ck_assert_int_lt(refs(rec), 302);
	ck_assert_int_gt(refs(rec), 1);
	snprintf(key, sizeof(key), "user%d@example.org", 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, key, T0, &got), MQ_MISS);
	mq_cache_free(&cache);
	ck_assert_int_eq(refs(rec), 1);
	mq_record_unref(&rec);
}
END_TEST

/* With a cache this small there is one shard: the eviction order shows. */
START_TEST(test_evict_order)
{
	struct mq_cache *cache = mq_cache_new(4);
	const struct mq_record *got;

	mq_cache_put(cache, MQ_Q_USER, "k1", NULL, T0, 100);
	mq_cache_put(cache, MQ_Q_USER, "k2", NULL, T0, 1);
	mq_cache_put(cache, MQ_Q_USER, "k3", NULL, T0, 100);
	mq_cache_put(cache, MQ_Q_USER, "k4", NULL, T0, 100);
	ck_assert_uint_eq(stats(cache).entries, 4);

	/* Full: k2 has expired, so it makes room rather than the oldest. */
	mq_cache_put(cache, MQ_Q_USER, "k5", NULL, T0 + 2 * SEC, 100);
	ck_assert_uint_eq(stats(cache).evictions, 0);
	ck_assert_uint_eq(stats(cache).entries, 4);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k1", T0 + 2 * SEC, &got), MQ_NOTFOUND);

	/* Nothing expired: the oldest inserted (k1) goes. */
	mq_cache_put(cache, MQ_Q_USER, "k6", NULL, T0 + 2 * SEC, 100);
	ck_assert_uint_eq(stats(cache).evictions, 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k1", T0 + 2 * SEC, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k2", T0 + 2 * SEC, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k3", T0 + 2 * SEC, &got), MQ_NOTFOUND);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k4", T0 + 2 * SEC, &got), MQ_NOTFOUND);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k5", T0 + 2 * SEC, &got), MQ_NOTFOUND);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k6", T0 + 2 * SEC, &got), MQ_NOTFOUND);

	/* Re-putting a key makes it the newest: k3 outlives k4 now. */
	mq_cache_put(cache, MQ_Q_USER, "k3", NULL, T0 + 2 * SEC, 100);
	mq_cache_put(cache, MQ_Q_USER, "k7", NULL, T0 + 2 * SEC, 100);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k4", T0 + 2 * SEC, &got), MQ_MISS);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k3", T0 + 2 * SEC, &got), MQ_NOTFOUND);
	ck_assert_uint_eq(stats(cache).evictions, 2);
	mq_cache_free(&cache);
}
END_TEST

START_TEST(test_flush)
{
	struct mq_cache *cache = mq_cache_new(1000);
	const struct mq_record *rec = new_user(1), *got;
	struct mq_cache_stats st;
	char key[32];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		mq_cache_put(cache, MQ_Q_USER, key, i % 2 ? rec : NULL, T0, 60);
	}
	ck_assert_int_eq(refs(rec), 51);
	ck_assert_uint_eq(stats(cache).entries, 100);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k1", T0, &got), MQ_FOUND);
	mq_record_unref(&got);

	mq_cache_flush(cache);
	ck_assert_int_eq(refs(rec), 1);
	st = stats(cache);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.hits, 1);		/* counters are cumulative */
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, key, T0, &got), MQ_MISS);
	}
	/* Usable again after a flush. */
	mq_cache_put(cache, MQ_Q_USER, "k1", rec, T0, 60);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "k1", T0, &got), MQ_FOUND);
	mq_record_unref(&got);
	mq_cache_flush(cache);
	mq_cache_flush(cache);
	ck_assert_int_eq(refs(rec), 1);
	mq_cache_free(&cache);
	mq_cache_free(&cache);			/* NULL is fine */
	mq_record_unref(&rec);
}
END_TEST

/* A record evicted while a caller holds it stays valid for that caller. */
START_TEST(test_refs_survive_eviction)
{
	struct mq_cache *cache = mq_cache_new(2);
	const struct mq_record *rec = new_user(99), *held, *got;

	mq_cache_put(cache, MQ_Q_USER, "held@d", rec, T0, 60);
	mq_record_unref(&rec);			/* only the cache has it now */
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "held@d", T0, &held), MQ_FOUND);
	ck_assert_int_eq(refs(held), 2);

	mq_cache_put(cache, MQ_Q_USER, "x@d", NULL, T0, 60);
	mq_cache_put(cache, MQ_Q_USER, "y@d", NULL, T0, 60);
	ck_assert_uint_eq(stats(cache).evictions, 1);
	ck_assert_int_eq(mq_cache_get(cache, MQ_Q_USER, "held@d", T0, &got), MQ_MISS);
	ck_assert_int_eq(refs(held), 1);
	ck_assert_uint_eq(held->u.user.quota_bytes, 99);
	ck_assert_str_eq(held->u.user.maildir, "example.org/u99");

	/* The same after a flush. */
	mq_cache_put(cache, MQ_Q_USER, "held@d", held, T0, 60);
	ck_assert_int_eq(refs(held), 2);
	mq_cache_flush(cache);
	ck_assert_int_eq(refs(held), 1);
	ck_assert_str_eq(held->u.user.maildir, "example.org/u99");
	mq_cache_free(&cache);
	mq_record_unref(&held);			/* the last one frees it */
	ck_assert_ptr_null(held);
}
END_TEST

/* mq_record_unref frees each kind's strings (leaks show under ASan). */
START_TEST(test_record_kinds)
{
	struct mq_record *alias = xcalloc(1, sizeof(*alias));
	struct mq_record *text = xcalloc(1, sizeof(*text));
	const struct mq_record *a, *t;

	atomic_init(&alias->refs, 1);
	alias->kind = MQ_Q_ALIAS;
	alias->u.alias.ndest = 2;
	alias->u.alias.dest = xcalloc(2, sizeof(char *));
	alias->u.alias.dest[0] = xstrdup("a@d");
	alias->u.alias.dest[1] = xstrdup("b@d");
	atomic_init(&text->refs, 1);
	text->kind = MQ_Q_ALIAS_DOMAIN;
	text->u.text.value = xstrdup("target.example");

	a = mq_record_ref(alias);
	ck_assert_ptr_eq(a, alias);
	ck_assert_int_eq(refs(a), 2);
	mq_record_unref(&a);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(refs(alias), 1);
	a = alias;
	mq_record_unref(&a);
	t = text;
	mq_record_unref(&t);
	ck_assert_ptr_null(t);
	mq_record_unref(&t);			/* NULL is fine */
}
END_TEST

#define NTHREADS 4
#define NOPS 100000
#define NKEYS 512

static struct mq_cache *mt_cache;
static const struct mq_record *mt_recs[NKEYS];
static char mt_keys[NKEYS][32];
static atomic_int mt_bad;

static void *
mt_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	uint64_t now = T0;
	const struct mq_record *got;
	int i, k, r;

	for (i = 0; i < NOPS; i++) {
		seed = seed * 1103515245u + 12345u;
		k = (int)((seed >> 8) % NKEYS);
		now += 7;
		r = mq_cache_get(mt_cache, MQ_Q_USER, mt_keys[k], now, &got);
		if (r == MQ_FOUND) {
			/* A hit must be this key's record, alive. */
			if (got != mt_recs[k] || got->u.user.quota_bytes != (uint64_t)k ||
			    refs(got) < 2)
				atomic_fetch_add(&mt_bad, 1);
			mq_record_unref(&got);
		} else if (r == MQ_MISS) {
			mq_cache_put(mt_cache, MQ_Q_USER, mt_keys[k],
			    k % 4 ? mt_recs[k] : NULL, now, (seed >> 4) % 3);
		} else if (r != MQ_NOTFOUND || k % 4 != 0) {
			atomic_fetch_add(&mt_bad, 1);
		}
		if (i % 25000 == 24999 && arg == (void *)0)
			mq_cache_flush(mt_cache);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[NTHREADS];
	struct mq_cache_stats st;
	uintptr_t t;
	int k;

	mt_cache = mq_cache_new(256);
	for (k = 0; k < NKEYS; k++) {
		snprintf(mt_keys[k], sizeof(mt_keys[k]), "user%d@example.org", k);
		mt_recs[k] = new_user((uint64_t)k);
	}
	atomic_init(&mt_bad, 0);
	for (t = 0; t < NTHREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, mt_worker, (void *)t), 0);
	for (t = 0; t < NTHREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);

	ck_assert_int_eq(atomic_load(&mt_bad), 0);
	st = stats(mt_cache);
	ck_assert_uint_eq(st.hits + st.negative_hits + st.misses,
	    (uint64_t)NTHREADS * NOPS);
	ck_assert_uint_gt(st.hits, 0);
	ck_assert_uint_gt(st.negative_hits, 0);
	ck_assert_uint_le(st.entries, 256);
	mq_cache_free(&mt_cache);
	for (k = 0; k < NKEYS; k++) {
		ck_assert_int_eq(refs(mt_recs[k]), 1);
		mq_record_unref(&mt_recs[k]);
	}
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("core");
	TCase *mt = tcase_create("threads");

	tcase_add_test(tc, test_hit);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_ahead);
	tcase_add_test(tc, test_ttl_zero);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_stale_evicted_first);
	tcase_add_test(tc, test_replace);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_evict_order);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_refs_survive_eviction);
	tcase_add_test(tc, test_record_kinds);
	suite_add_tcase(s, tc);
	tcase_add_test(mt, test_threads);
	tcase_set_timeout(mt, 60);
	suite_add_tcase(s, mt);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
