/*
 * cache - the lookup cache: (query kind, key) -> record or "not found",
 * each with an expiry. Shared by the event loop and the workers (sharded
 * locks), bounded in entries (the oldest of a shard's bucket is evicted).
 *
 * mq_cache_get returns MQ_FOUND with a new reference in *rec_r,
 * MQ_NOTFOUND for a fresh negative entry, MQ_MISS otherwise.
 */
#ifndef MQ_CACHE_H
#define MQ_CACHE_H

#include <stdint.h>
#include "lookup.h"

struct mq_cache;

struct mq_cache_stats {
	uint64_t hits, misses, negative_hits, evictions, entries;
};

struct mq_cache *mq_cache_new(size_t max_entries);
void mq_cache_free(struct mq_cache **cache);
void mq_cache_flush(struct mq_cache *cache);

int mq_cache_get(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, const struct mq_record **rec_r);
/* rec NULL stores a negative entry. ttl 0 stores nothing. */
void mq_cache_put(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, const struct mq_record *rec, uint64_t now_us, unsigned ttl_s);
void mq_cache_stats(struct mq_cache *cache, struct mq_cache_stats *st);

#endif
