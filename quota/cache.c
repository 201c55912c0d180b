/* SPDX-License-Identifier: MIT */
/*
 * cache - a bounded, thread-safe TTL cache of lookup records, keyed by
 * (query kind, key string). A NULL record is a negative entry ("no row").
 *
 * Layout: the cache is split into shards (16, fewer for a small cache), each
 * with its own mutex, a fixed array of entry slots, an open hash table of
 * slot indices chained through the slots, and a FIFO list of its entries in
 * insertion order. max_entries is divided between the shards. Slot 0 is
 * never used, so index 0 means "none" and the zeroed arrays from calloc are
 * already empty: pages of slots are only touched as the cache fills.
 *
 * A shard that is full reuses an expired entry found near the old end of
 * its FIFO, else evicts the oldest inserted entry; an expired entry met by
 * a lookup is dropped there and then, unless the cache keeps stale entries
 * (mq_cache_keep_stale) and it expired less than keep_us ago: then it stays
 * for mq_cache_get_stale until that time or until it is pushed out for
 * room (expired entries go first). Every step is O(1) apart from the
 * (short) hash chain.
 *
 * A hit costs a hash, a lock, a compare and an atomic increment of the
 * record's count; nothing is allocated. The cache holds one reference per
 * positive entry; a record evicted while a caller still holds its own
 * reference stays valid until that caller drops it.
 *
 * Statistics are plain per-shard counters updated under the shard lock and
 * summed on demand. They are cumulative across mq_cache_flush, except
 * entries, which counts what is stored now (expired entries not yet dropped
 * included). evictions counts fresh entries pushed out for room; dropping
 * expired ones is not an eviction.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

#define CACHE_SHARDS	16
#define SHARD_MIN	64		/* entries a shard should have room for */
#define SHARD_MAX	(1u << 26)	/* slots per shard: keeps indices 32-bit */
#define VICTIM_SCAN	8		/* FIFO entries looked at for an expired one */
#define NIL		0		/* no slot; slots are 1..cap */

struct entry {
	char *key;			/* NULL: the slot is free */
	const struct mq_record *rec;	/* NULL: negative entry */
	uint64_t hash;
	uint64_t expires_us;		/* fresh while now < expires_us */
	uint64_t ahead_us;		/* from here on (the last fifth of the TTL) refresh */
	bool refreshing;		/* a hit asked for a refresh; not yet looked up again */
	enum mq_query_kind kind;
	uint32_t chain;			/* next slot in the same bucket */
	uint32_t older, newer;		/* FIFO neighbours; newer links the free list */
};

struct shard {
	pthread_mutex_t lock;
	struct entry *slots;
	uint32_t *buckets;		/* slot index or NIL */
	uint32_t cap, mask, count;
	uint32_t unused;		/* first slot never used yet */
	uint32_t oldest, newest, free_list;
	uint64_t hits, negative_hits, misses, evictions, stale_hits;
	char pad[64];			/* keep neighbouring shards' locks apart */
};

struct mq_cache {
	uint64_t keep_us;		/* how long past expiry an entry is kept */
	size_t nshards;
	struct shard shards[];
};

/* hash_key - FNV-1a over the kind and the key. */
static uint64_t
hash_key(enum mq_query_kind kind, const char *key)
{
	return mq_fnv1a_str(mq_fnv1a_byte(MQ_FNV1A_INIT, (unsigned char)kind), key);
}

static struct shard *
shard_for(struct mq_cache *cache, uint64_t hash)
{
	/* High bits pick the shard, low bits the bucket inside it. */
	return &cache->shards[(hash >> 32) % cache->nshards];
}

/* shard_clear - release every entry and empty the shard (lock held). */
static void
shard_clear(struct shard *sh)
{
	uint32_t i;

	for (i = sh->oldest; i != NIL; i = sh->slots[i].newer) {
		free(sh->slots[i].key);
		sh->slots[i].key = NULL;
		mq_record_unref(&sh->slots[i].rec);
	}
	memset(sh->buckets, 0, ((size_t)sh->mask + 1) * sizeof(*sh->buckets));
	sh->free_list = NIL;
	sh->unused = 1;
	sh->oldest = sh->newest = NIL;
	sh->count = 0;
}

static uint32_t
find(const struct shard *sh, uint64_t hash, enum mq_query_kind kind,
    const char *key)
{
	uint32_t i;

	for (i = sh->buckets[hash & sh->mask]; i != NIL; i = sh->slots[i].chain) {
		const struct entry *e = &sh->slots[i];

		if (e->hash == hash && e->kind == kind && strcmp(e->key, key) == 0)
			return i;
	}
	return NIL;
}

/* drop - unlink an entry from its bucket and the FIFO and free its slot. */
static void
drop(struct shard *sh, uint32_t i)
{
	struct entry *e = &sh->slots[i];
	uint32_t *link = &sh->buckets[e->hash & sh->mask];

	while (*link != i)
		link = &sh->slots[*link].chain;
	*link = e->chain;

	if (e->older != NIL)
		sh->slots[e->older].newer = e->newer;
	else
		sh->oldest = e->newer;
	if (e->newer != NIL)
		sh->slots[e->newer].older = e->older;
	else
		sh->newest = e->older;

	free(e->key);
	e->key = NULL;
	mq_record_unref(&e->rec);
	e->newer = sh->free_list;
	sh->free_list = i;
	sh->count--;
}

/* make_room - free one slot in a full shard: an expired entry, else the oldest. */
static void
make_room(struct shard *sh, uint64_t now_us)
{
	uint32_t i, n;

	for (i = sh->oldest, n = 0; i != NIL && n < VICTIM_SCAN;
	    i = sh->slots[i].newer, n++) {
		if (sh->slots[i].expires_us <= now_us) {
			drop(sh, i);
			return;
		}
	}
	drop(sh, sh->oldest);
	sh->evictions++;
}

struct mq_cache *
mq_cache_new(size_t max_entries)
{
	struct mq_cache *cache;
	size_t n, s;

	/* A small cache gets fewer shards, so each still holds a fair number. */
	n = max_entries / SHARD_MIN;
	if (n < 1)
		n = 1;
	if (n > CACHE_SHARDS)
		n = CACHE_SHARDS;
	cache = xcalloc(1, sizeof(*cache) + n * sizeof(cache->shards[0]));
	cache->nshards = n;
	for (s = 0; s < n; s++) {
		struct shard *sh = &cache->shards[s];
		size_t cap = max_entries / n + (s < max_entries % n);
		uint32_t nb = 1;

		if (cap > SHARD_MAX)
			cap = SHARD_MAX;
		while (nb < cap)
			nb <<= 1;
		sh->cap = (uint32_t)cap;
		sh->mask = nb - 1;
		sh->slots = xcalloc(cap + 1, sizeof(*sh->slots));
		sh->buckets = xcalloc(nb, sizeof(*sh->buckets));
		sh->unused = 1;
		pthread_mutex_init(&sh->lock, NULL);
	}
	return cache;
}

void
mq_cache_free(struct mq_cache **cachep)
{
	struct mq_cache *cache;
	size_t s;

	if (cachep == NULL || (cache = *cachep) == NULL)
		return;
	mq_cache_flush(cache);
	for (s = 0; s < cache->nshards; s++) {
		pthread_mutex_destroy(&cache->shards[s].lock);
		free(cache->shards[s].slots);
		free(cache->shards[s].buckets);
	}
	free(cache);
	*cachep = NULL;
}

/* mq_cache_flush - drop every entry; statistics are kept. */
void
mq_cache_flush(struct mq_cache *cache)
{
	size_t s;

	if (cache == NULL)
		return;
	for (s = 0; s < cache->nshards; s++) {
		struct shard *sh = &cache->shards[s];

		pthread_mutex_lock(&sh->lock);
		shard_clear(sh);
		pthread_mutex_unlock(&sh->lock);
	}
}

void
mq_cache_keep_stale(struct mq_cache *cache, unsigned stale_s)
{
	if (cache != NULL)
		cache->keep_us = (uint64_t)stale_s * 1000000u;
}

/* stale_until - the time up to which an entry may answer a stale lookup. */
static uint64_t
stale_until(const struct mq_cache *cache, const struct entry *e)
{
	return e->expires_us > UINT64_MAX - cache->keep_us ? UINT64_MAX :
	    e->expires_us + cache->keep_us;
}

/* How a lookup treats an entry in the last fifth of its TTL. */
enum ahead {
	AHEAD_IGNORE,		/* a hit like any other */
	AHEAD_ASK,		/* a hit; the first one asks for a refresh */
	AHEAD_MISS,		/* once asked for: a miss (the refresh itself) */
};

/*
 * lookup - mq_cache_get (stale false), mq_cache_get_stale and
 * mq_cache_get_ahead. *ahead_r is set when ahead is AHEAD_ASK and this
 * hit is the one that asks.
 */
static int
lookup(struct mq_cache *cache, enum mq_query_kind kind, const char *key,
    uint64_t now_us, bool stale, enum ahead ahead, bool *ahead_r,
    const struct mq_record **rec_r)
{
	struct shard *sh;
	struct entry *e;
	uint64_t hash;
	uint32_t i;
	int result = MQ_MISS;

	*rec_r = NULL;
	if (cache == NULL)
		return MQ_MISS;
	if (key == NULL)
		key = "";
	hash = hash_key(kind, key);
	sh = shard_for(cache, hash);

	pthread_mutex_lock(&sh->lock);
	i = find(sh, hash, kind, key);
	e = i != NIL ? &sh->slots[i] : NULL;
	if (e != NULL && ahead != AHEAD_IGNORE && e->expires_us > now_us &&
	    e->ahead_us <= now_us) {
		if (ahead == AHEAD_MISS && e->refreshing) {
			/* Kept: a failing database can still fall back to it. */
			sh->misses++;
			pthread_mutex_unlock(&sh->lock);
			return MQ_MISS;
		}
		if (ahead == AHEAD_ASK && !e->refreshing) {
			e->refreshing = true;
			*ahead_r = true;
		}
	}
	if (e != NULL && (e->expires_us > now_us ||
	    (stale && stale_until(cache, e) > now_us))) {
		if (e->expires_us <= now_us)
			sh->stale_hits++;
		else if (e->rec != NULL)
			sh->hits++;
		else
			sh->negative_hits++;
		if (e->rec != NULL) {
			*rec_r = mq_record_ref(e->rec);
			result = MQ_FOUND;
		} else
			result = MQ_NOTFOUND;
	} else {
		/* Expired, and past the time it was kept for: gone. */
		if (e != NULL && stale_until(cache, e) <= now_us)
			drop(sh, i);
		if (!stale)
			sh->misses++;
	}
	pthread_mutex_unlock(&sh->lock);
	return result;
}

int
mq_cache_get(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, const struct mq_record **rec_r)
{
	return lookup(cache, kind, key, now_us, false, AHEAD_IGNORE, NULL, rec_r);
}

int
mq_cache_get_ahead(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, bool *refresh_r,
    const struct mq_record **rec_r)
{
	if (refresh_r != NULL) {
		*refresh_r = false;
		return lookup(cache, kind, key, now_us, false, AHEAD_ASK,
		    refresh_r, rec_r);
	}
	return lookup(cache, kind, key, now_us, false, AHEAD_MISS, NULL, rec_r);
}

int
mq_cache_get_stale(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, uint64_t now_us, const struct mq_record **rec_r)
{
	return lookup(cache, kind, key, now_us, true, AHEAD_IGNORE, NULL, rec_r);
}

void
mq_cache_put(struct mq_cache *cache, enum mq_query_kind kind,
    const char *key, const struct mq_record *rec, uint64_t now_us, unsigned ttl_s)
{
	struct shard *sh;
	struct entry *e;
	uint64_t hash, ttl_us;
	uint32_t i;
	char *copy = NULL;

	if (cache == NULL)
		return;
	if (key == NULL)
		key = "";
	hash = hash_key(kind, key);
	sh = shard_for(cache, hash);
	if (sh->cap == 0)
		return;
	/*
	 * Allocate before taking the lock. ttl 0 only forgets the old answer,
	 * unless expired entries are kept: then it is kept as a stale one.
	 */
	if (ttl_s > 0 || cache->keep_us > 0)
		copy = xstrdup(key);

	pthread_mutex_lock(&sh->lock);
	if ((i = find(sh, hash, kind, key)) != NIL)
		drop(sh, i);		/* the newer answer replaces it */
	if (copy == NULL) {
		pthread_mutex_unlock(&sh->lock);
		return;
	}
	if (sh->free_list == NIL && sh->unused <= sh->cap) {
		i = sh->unused++;
		e = &sh->slots[i];
	} else {
		if (sh->free_list == NIL)
			make_room(sh, now_us);
		i = sh->free_list;
		e = &sh->slots[i];
		sh->free_list = e->newer;
	}

	ttl_us = (uint64_t)ttl_s * 1000000u;
	e->key = copy;
	e->rec = rec != NULL ? mq_record_ref(rec) : NULL;
	e->hash = hash;
	e->kind = kind;
	e->expires_us = now_us > UINT64_MAX - ttl_us ? UINT64_MAX : now_us + ttl_us;
	e->ahead_us = e->expires_us - ttl_us / 5;
	e->refreshing = false;
	e->chain = sh->buckets[hash & sh->mask];
	sh->buckets[hash & sh->mask] = i;
	e->older = sh->newest;
	e->newer = NIL;
	if (sh->newest != NIL)
		sh->slots[sh->newest].newer = i;
	else
		sh->oldest = i;
	sh->newest = i;
	sh->count++;
	pthread_mutex_unlock(&sh->lock);
}

void
mq_cache_stats(struct mq_cache *cache, struct mq_cache_stats *st)
{
	size_t s;

	memset(st, 0, sizeof(*st));
	if (cache == NULL)
		return;
	for (s = 0; s < cache->nshards; s++) {
		struct shard *sh = &cache->shards[s];

		pthread_mutex_lock(&sh->lock);
		st->hits += sh->hits;
		st->negative_hits += sh->negative_hits;
		st->misses += sh->misses;
		st->evictions += sh->evictions;
		st->stale_hits += sh->stale_hits;
		st->entries += sh->count;
		pthread_mutex_unlock(&sh->lock);
	}
}
