/* SPDX-License-Identifier: MIT */
/*
 * cache - the lookup cache: (query kind, key) -> record or "not found",
 * each with an expiry. Shared by the event loop and the workers (sharded
 * locks), bounded in entries (the oldest of a shard's bucket is evicted).
 *
 * mq_cache_get returns MQ_FOUND with a new reference in *rec_r,
 * MQ_NOTFOUND for a fresh negative entry, MQ_MISS otherwise.
 *
 * Stale entries (policy.stale_ttl): a cache told to keep them holds an
 * expired entry for stale_s more seconds (unless evicted for room first),
 * and mq_cache_get_stale still returns it. That is for a lookup whose
 * database query has just failed; mq_cache_get never returns one.
 */
#ifndef MQ_CACHE_H
#define MQ_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "lookup.h"

struct mq_cache;

struct mq_cache_stats {
	uint64_t hits, misses, negative_hits, evictions, entries;
	uint64_t stale_hits;	/* answers of mq_cache_get_stale from expired entries */
};

struct mq_cache *mq_cache_new(size_t max_entries);
void mq_cache_free(struct mq_cache **cache);
void mq_cache_flush(struct mq_cache *cache);

int mq_cache_get(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, const struct mq_record **rec_r);
/*
 * mq_cache_keep_stale - keep expired entries stale_s seconds past their
 * expiry; 0 (the default) drops an expired entry as soon as it is met.
 * Call once, before the cache is shared between threads.
 */
void mq_cache_keep_stale(struct mq_cache *cache, unsigned stale_s);
/*
 * mq_cache_get_stale - mq_cache_get that also accepts an entry expired less
 * than stale_s (of mq_cache_keep_stale) seconds ago. It counts a stale hit
 * for those, and no miss (the mq_cache_get before it counted that).
 */
int mq_cache_get_stale(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, const struct mq_record **rec_r);
/*
 * mq_cache_get_ahead - refresh-ahead for the lookups of the event loop
 * (refresh_r given) and of the workers (refresh_r NULL). With refresh_r,
 * it is mq_cache_get, and the first hit on an entry in the last fifth of
 * its TTL sets *refresh_r (the entry is marked): the caller should look it
 * up again in the background. Without, it is mq_cache_get except that a
 * marked entry is a miss, so that the background lookup asks the database;
 * the entry stays until it expires, and mq_cache_get still returns it (for
 * when the database fails). Storing the key again clears the mark.
 */
int mq_cache_get_ahead(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, bool *refresh_r,
    const struct mq_record **rec_r);
/*
 * rec NULL stores a negative entry. ttl 0 stores nothing, except in a
 * cache that keeps stale entries: there it stores an entry that is never
 * fresh but can answer mq_cache_get_stale.
 */
void mq_cache_put(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, const struct mq_record *rec, uint64_t now_us, unsigned ttl_s);
void mq_cache_stats(struct mq_cache *cache, struct mq_cache_stats *st);

#endif
