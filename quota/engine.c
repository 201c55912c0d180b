/* SPDX-License-Identifier: MIT */
/*
 * engine - one recipient's whole decision: resolve, usage, decide, reply.
 *
 * The same function runs in two modes. Cache-only (session NULL): every
 * lookup and usage figure must come from the caches, else MQ_MISS and
 * nothing is decided; this is what the event loop may call. With a session:
 * misses go to the database and the disk and fill the caches.
 */
#include "autoconf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "engine.h"
#include "log.h"
#include "lookup.h"
#include "reply.h"
#include "util.h"

#define CACHE_ENTRIES 262144
#define USAGE_CACHE_ENTRIES 131072

struct mq_engine {
	const struct mq_config *cfg;
	struct mq_cache *cache;
	struct mq_usage_cache *usage;
	struct mq_maildir_opts mopts;
	struct mq_grace grace;
	bool has_query[MQ_Q_COUNT];
	atomic_uint_fast64_t usage_hits, usage_misses, db_errors, db_connects;
	atomic_uint_fast64_t stale_answers;
};

struct mq_session {
	struct mq_engine *engine;
	struct mq_backend_conn conn;
	bool open;
};

#define PREFETCH_MAX 3	/* domain, alias and user of the recipient */
#define ANSWERS_MAX 32	/* lookups a request remembers */
#define ANSWER_KEYS 4096	/* bytes for their keys */

/*
 * A lookup answered during this request: asked again (the resolver asks
 * for the recipient's domain and mailbox more than once), it is not looked
 * up again. MQ_MISS: the cache was asked and had nothing, so the next ask
 * goes straight to the database.
 */
struct answer {
	enum mq_query_kind kind;
	int r;				/* MQ_FOUND, MQ_NOTFOUND or MQ_MISS */
	const struct mq_record *rec;	/* a reference, with MQ_FOUND */
	size_t key;			/* offset of the cache key in keys */
};

/* One request's lookup context. */
struct request {
	struct mq_engine *engine;
	struct mq_session *session;	/* NULL: cache only */
	uint64_t now_us;
	bool db_failed;			/* the database failed once: do not ask again */
	bool stale;			/* an expired cache entry answered a lookup */
	bool refresh;			/* a cached figure asks to be re-validated */
	char error[256];
	size_t nanswers, keys_used;
	struct answer answers[ANSWERS_MAX];
	char keys[ANSWER_KEYS];
};

struct mq_engine *
mq_engine_new(const struct mq_config *cfg)
{
	struct mq_engine *e = xcalloc(1, sizeof(*e));

	e->cfg = cfg;
	e->cache = mq_cache_new(CACHE_ENTRIES);
	if (cfg->policy.stale_ttl > 0)
		mq_cache_keep_stale(e->cache, (unsigned)cfg->policy.stale_ttl);
	e->usage = mq_usage_cache_new(USAGE_CACHE_ENTRIES);
	e->mopts.base = cfg->maildir.base;
	e->mopts.ignore = cfg->maildir.ignore;
	e->mopts.nignore = cfg->maildir.nignore;
	e->mopts.recalc = cfg->maildir.recalc;
	e->mopts.header_limits = cfg->maildir.header_limits;
	e->mopts.usage_ttl = cfg->quota.usage_ttl;
	e->grace.bytes = cfg->quota.grace_bytes;
	e->grace.percent = cfg->quota.grace_percent;
	for (size_t i = 0; i < MQ_Q_COUNT; i++)
		e->has_query[i] = cfg->queries[i] != NULL && cfg->queries[i][0] != '\0';
	return e;
}

void
mq_engine_free(struct mq_engine **enginep)
{
	struct mq_engine *e = *enginep;

	if (e == NULL)
		return;
	mq_cache_free(&e->cache);
	mq_usage_cache_free(&e->usage);
	free(e);
	*enginep = NULL;
}

void
mq_engine_stats(struct mq_engine *e, struct mq_engine_stats *st)
{
	struct mq_cache_stats cs;

	mq_cache_stats(e->cache, &cs);
	st->cache_hits = cs.hits + cs.negative_hits;
	st->cache_misses = cs.misses;
	st->usage_hits = atomic_load(&e->usage_hits);
	st->usage_misses = atomic_load(&e->usage_misses);
	st->db_errors = atomic_load(&e->db_errors);
	st->db_connects = atomic_load(&e->db_connects);
	st->stale_hits = cs.stale_hits;
	st->stale_answers = atomic_load(&e->stale_answers);
}

void
mq_engine_net_stats(uint64_t *connects_r, uint64_t *reconnects_r,
    uint64_t *failures_r)
{
	mq_net_stats(connects_r, reconnects_r, failures_r);
}

/* cache_key - what a lookup is cached under: the domain, or the address. */
static const char *
cache_key(enum mq_query_kind kind, const struct mq_key *key)
{
	return kind == MQ_Q_DOMAIN || kind == MQ_Q_ALIAS_DOMAIN ? key->domain : key->address;
}

/* cache_answer - a database answer into the shared cache, with its TTL. */
static void
cache_answer(struct mq_engine *e, enum mq_query_kind kind, const char *ckey,
    int r, const struct mq_record *rec, uint64_t now_us)
{
	const struct mq_config *cfg = e->cfg;

	if (r == MQ_FOUND)
		mq_cache_put(e->cache, kind, ckey, rec, now_us,
		    (unsigned)cfg->policy.cache_ttl);
	else if (r == MQ_NOTFOUND)
		mq_cache_put(e->cache, kind, ckey, NULL, now_us,
		    (unsigned)cfg->policy.negative_cache_ttl);
}

static int
session_connect(struct mq_session *s, char *error, size_t errlen)
{
	if (s->open)
		return 0;
	if (mq_backend_open(&s->conn, s->engine->cfg, error, errlen) != MQ_FOUND)
		return -1;
	s->open = true;
	atomic_fetch_add(&s->engine->db_connects, 1);
	return 0;
}

/*
 * request_init - field by field: the answers' arrays are filled as they
 * are used, so a request on the event loop does not clear 5 KB first.
 */
static void
request_init(struct request *rq, struct mq_engine *e, struct mq_session *s)
{
	rq->engine = e;
	rq->session = s;
	rq->now_us = mq_now_monotonic_us();
	rq->db_failed = rq->stale = rq->refresh = false;
	rq->error[0] = '\0';
	rq->nanswers = rq->keys_used = 0;
}

/* request_done - the references the request's answers hold. */
static void
request_done(struct request *rq)
{
	for (size_t i = 0; i < rq->nanswers; i++)
		mq_record_unref(&rq->answers[i].rec);
	rq->nanswers = 0;
}

/* answer_find - the index of the request's answer for this lookup, or -1. */
static int
answer_find(const struct request *rq, enum mq_query_kind kind, const char *ckey)
{
	for (size_t i = 0; i < rq->nanswers; i++)
		if (rq->answers[i].kind == kind &&
		    strcmp(rq->keys + rq->answers[i].key, ckey) == 0)
			return (int)i;
	return -1;
}

/*
 * answer_keep - remember an answer (a new reference to rec), in place of
 * answer i when i >= 0. A request with no room left remembers nothing
 * more: its further lookups go to the cache each time, as they may.
 */
static void
answer_keep(struct request *rq, int i, enum mq_query_kind kind,
    const char *ckey, int r, const struct mq_record *rec)
{
	struct answer *a;

	if (i < 0) {
		size_t len = strlen(ckey) + 1;

		if (rq->nanswers == ANSWERS_MAX || len > ANSWER_KEYS - rq->keys_used)
			return;
		a = &rq->answers[rq->nanswers++];
		a->kind = kind;
		a->key = rq->keys_used;
		memcpy(rq->keys + rq->keys_used, ckey, len);
		rq->keys_used += len;
	} else {
		a = &rq->answers[i];
		mq_record_unref(&a->rec);
	}
	a->r = r;
	a->rec = r == MQ_FOUND ? mq_record_ref(rec) : NULL;
}

/*
 * ask_database - a lookup the cache could not answer, from the database;
 * when the database fails, an entry that was only due for a refresh, or
 * with policy.stale_ttl an expired one.
 */
static int
ask_database(struct request *rq, enum mq_query_kind kind,
    const struct mq_key *key, const char *ckey, const struct mq_record **rec_r)
{
	struct mq_engine *e = rq->engine;
	int r;

	if (rq->db_failed) {
		r = MQ_TEMPFAIL;	/* rq->error still says why */
	} else if (session_connect(rq->session, rq->error, sizeof(rq->error)) < 0) {
		r = MQ_TEMPFAIL;
	} else {
		r = mq_lookup_backend(&rq->session->conn, kind, key, rec_r,
		    rq->error, sizeof(rq->error));
		cache_answer(e, kind, ckey, r, *rec_r, rq->now_us);
		if (r != MQ_TEMPFAIL)
			return r;
	}
	if (!rq->db_failed) {
		rq->db_failed = true;
		atomic_fetch_add(&e->db_errors, 1);
	}
	/* An entry that was only due for a refresh is still fresh: use it. */
	if ((r = mq_cache_get(e->cache, kind, ckey, rq->now_us, rec_r)) != MQ_MISS)
		return r;
	/*
	 * policy.stale_ttl: the last answer the database gave, if it is not
	 * too old, rather than a temporary failure.
	 */
	if (e->cfg->policy.stale_ttl > 0) {
		int st = mq_cache_get_stale(e->cache, kind, ckey, rq->now_us, rec_r);

		if (st != MQ_MISS) {
			rq->stale = true;
			return st;
		}
	}
	return MQ_TEMPFAIL;
}

/*
 * request_get - struct mq_lookup's get: what this request has already been
 * told, else the cache, then (with a session) the database.
 */
static int
request_get(void *ctx, enum mq_query_kind kind, const struct mq_key *key,
    const struct mq_record **rec_r)
{
	struct request *rq = ctx;
	struct mq_engine *e = rq->engine;
	const char *ckey = cache_key(kind, key);
	int i, r;

	*rec_r = NULL;
	if (!e->has_query[kind])
		return MQ_NOTFOUND;
	if ((i = answer_find(rq, kind, ckey)) >= 0 && rq->answers[i].r != MQ_MISS) {
		if ((r = rq->answers[i].r) == MQ_FOUND)
			*rec_r = mq_record_ref(rq->answers[i].rec);
		return r;
	}
	if (i < 0 && rq->session == NULL) {
		bool ahead;

		/* Near its expiry: answer, and have it looked up again. */
		r = mq_cache_get_ahead(e->cache, kind, ckey, rq->now_us, &ahead,
		    rec_r);
		if (ahead)
			rq->refresh = true;
	} else if (i < 0) {
		/* An entry the loop asked to refresh is a miss here: the database is asked. */
		r = mq_cache_get_ahead(e->cache, kind, ckey, rq->now_us, NULL, rec_r);
	} else {
		r = MQ_MISS;	/* the cache was asked already */
	}
	if (r == MQ_MISS && rq->session != NULL)
		r = ask_database(rq, kind, key, ckey, rec_r);
	if (r == MQ_FOUND || r == MQ_NOTFOUND)
		answer_keep(rq, i, kind, ckey, r, *rec_r);
	return r;
}

/* prefetch_batch - the n lookups in one round trip; their answers are kept. */
static void
prefetch_batch(struct request *rq, size_t n, const enum mq_query_kind *kinds,
    const struct mq_key *keys, const int *slot)
{
	struct mq_engine *e = rq->engine;
	struct mq_session *s = rq->session;
	struct mq_lookup_rows rows[PREFETCH_MAX];
	void *ctxs[PREFETCH_MAX];
	int results[PREFETCH_MAX];
	char why[PREFETCH_MAX][128];
	int r;

	for (size_t i = 0; i < n; i++) {
		mq_lookup_rows_init(&rows[i], kinds[i], why[i], sizeof(why[i]));
		ctxs[i] = &rows[i];
	}
	r = mq_backend_query_batch(&s->conn, n, kinds, keys, mq_lookup_row, ctxs,
	    results, rq->error, sizeof(rq->error));
	for (size_t i = 0; i < n; i++) {
		const struct mq_record *rec;
		const char *ckey = cache_key(kinds[i], &keys[i]);
		int ri = mq_lookup_rows_finish(&rows[i],
		    r == MQ_FOUND ? results[i] : MQ_TEMPFAIL, &rec);

		/* A row that does not parse: its own lookup reports it. */
		if (ri == MQ_TEMPFAIL)
			continue;
		cache_answer(e, kinds[i], ckey, ri, rec, rq->now_us);
		if (slot[i] >= 0)
			answer_keep(rq, slot[i], kinds[i], ckey, ri, rec);
		mq_record_unref(&rec);
	}
	if (r == MQ_TEMPFAIL) {
		rq->db_failed = true;
		atomic_fetch_add(&e->db_errors, 1);
	}
}

/*
 * prefetch - with a driver that batches, the recipient's domain, alias and
 * user rows that are not cached, in one round trip, before the resolver
 * asks for them one after another. The address is taken as given (no
 * extension stripped, no alias domain followed): that is what the resolver
 * asks first, and whatever else it needs it still looks up itself. What
 * the cache or the batch answered is the request's answer; what the cache
 * did not have goes to the database without asking the cache again. A
 * batch that did not work out leaves it to those lookups; a database that
 * timed out or cannot be reached fails the request as the first lookup
 * would.
 */
static void
prefetch(struct request *rq, const struct mq_address *rcpt)
{
	static const enum mq_query_kind want[] = { MQ_Q_DOMAIN, MQ_Q_ALIAS,
	    MQ_Q_USER };
	struct mq_engine *e = rq->engine;
	struct mq_session *s = rq->session;
	enum mq_query_kind kinds[PREFETCH_MAX];
	struct mq_key keys[PREFETCH_MAX];
	int slot[PREFETCH_MAX];
	size_t n = 0;

	if (rq->db_failed || (s->open && s->conn.ops->query_batch == NULL))
		return;
	for (size_t i = 0; i < MQ_NELEM(want); i++) {
		const struct mq_record *rec;
		struct mq_key key = mq_address_key(rcpt);
		const char *ckey;
		int r;

		if (!e->has_query[want[i]])
			continue;
		if (want[i] == MQ_Q_DOMAIN)
			key = (struct mq_key){ .address = rcpt->domain,
			    .local = "", .domain = rcpt->domain };
		ckey = cache_key(want[i], &key);
		r = mq_cache_get_ahead(e->cache, want[i], ckey, rq->now_us, NULL,
		    &rec);
		answer_keep(rq, -1, want[i], ckey, r, rec);
		mq_record_unref(&rec);
		if (r != MQ_MISS)
			continue;
		slot[n] = answer_find(rq, want[i], ckey);
		kinds[n] = want[i];
		keys[n++] = key;
	}
	/* One query alone gains nothing from a batch. */
	if (n < 2 || session_connect(s, rq->error, sizeof(rq->error)) < 0 ||
	    s->conn.ops->query_batch == NULL)
		return;
	prefetch_batch(rq, n, kinds, keys, slot);
}

/*
 * maildir_path - the user's maildir column, else maildir.path expanded
 * with addr, the address the user row is stored under.
 */
static int
maildir_path(const struct mq_config *cfg, const struct mq_mailbox *box,
    const struct mq_address *addr, char *out, size_t size)
{
	const char *t = box->user->u.user.maildir;
	size_t n = 0;

	if (t != NULL)
		return mq_strlcpy(out, t, size) < size ? 0 : -1;
	for (t = cfg->maildir.path; *t != '\0'; t++) {
		const char *part = NULL;
		char one[2] = { *t, '\0' };

		if (*t == '%' && t[1] != '\0') {
			switch (*++t) {
			case 'd': part = addr->domain; break;
			case 'u': part = addr->local; break;
			case 's': part = addr->full; break;
			default: one[0] = *t; part = one; break;
			}
		} else {
			part = one;
		}
		n += mq_strlcpy(out + n, part, size - n);
		if (n >= size)
			return -1;
	}
	return 0;
}

/*
 * stored_address - the address a mailbox's row is stored under (the user
 * query's address column), else the address that matched it. A collation
 * that ignores accents matches bób@ to the row of bob@: the Maildir and the
 * usage are bob's.
 */
static const struct mq_address *
stored_address(const struct mq_mailbox *box, struct mq_address *buf)
{
	const char *s = box->user->u.user.address;

	/* Most rows store the very address that matched: nothing to parse. */
	if (s == NULL || (strcmp(s, box->addr.full) == 0 &&
	    mq_address_reparses(&box->addr)))
		return &box->addr;
	if (mq_address_parse(s, strlen(s), buf) == MQ_ADDR_OK)
		return buf;
	return &box->addr;
}

/* row_limit - a row's limit for mq_maildir_usage (Dovecot's are signed). */
static uint64_t
row_limit(bool has, uint64_t v)
{
	return !has ? MQ_LIMIT_UNSET : v > INT64_MAX ? INT64_MAX : v;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * box_state - limits and usage of one mailbox: MQ_FOUND, MQ_MISS (cache
 * only) or MQ_TEMPFAIL with rq->error set.
 */
static int
box_state(struct request *rq, struct mq_lookup *lookup,
    const struct mq_mailbox *box, struct mq_box_report *rep)
{
	struct mq_engine *e = rq->engine;
	const struct mq_config *cfg = e->cfg;
	const struct mq_record *user = box->user, *sqlu;
	struct mq_usage mu = { .origin = MQ_ORIGIN_NONE };
	struct mq_box_state *st = &rep->state;
	struct mq_address stored;
	const struct mq_address *addr = stored_address(box, &stored);
	char path[MQ_MAILDIR_PATH_MAX];	/* its size is the limit: too long is refused */
	int r;

	mq_assert(rep->address == NULL && rep->maildir == NULL);
	rep->address = xstrdup(addr->full);
	rep->limit_source = user->u.user.has_quota_bytes ? "sql" : "none";
	rep->limit_messages_source = user->u.user.has_quota_messages ? "sql" : "none";
	rep->outcome = MQ_OUT_TEMPFAIL;		/* until the figures are in */
	st->enabled = user->u.user.enabled && box->domain_enabled;
	st->limit_bytes = user->u.user.quota_bytes;
	st->limit_messages = user->u.user.quota_messages;
	if (maildir_path(cfg, box, addr, path, sizeof(path)) < 0) {
		snprintf(rq->error, sizeof(rq->error), "%.200s: maildir path too long "
		    "(%d bytes at most)", addr->full, MQ_MAILDIR_PATH_MAX - 1);
		return MQ_TEMPFAIL;
	}
	rep->maildir = xstrdup(path);

	if (cfg->quota.usage != MQ_USAGE_SQL) {
		if (rq->session == NULL) {
			r = mq_maildir_usage_cached(e->usage, &e->mopts, path, rq->now_us, &mu);
			atomic_fetch_add(r == MQ_FOUND ? &e->usage_hits : &e->usage_misses, 1);
			if (mu.refresh)
				rq->refresh = true;
		} else if (mq_maildir_usage_fresh(e->usage, &e->mopts, path,
		    rq->now_us, &mu) == MQ_FOUND) {
			/* Within usage_ttl the disk is not asked, here either. */
			r = MQ_FOUND;
		} else {
			r = mq_maildir_usage(e->usage, &e->mopts, path,
			    row_limit(user->u.user.has_quota_bytes, st->limit_bytes),
			    row_limit(user->u.user.has_quota_messages, st->limit_messages),
			    &mu, rq->error, sizeof(rq->error));
		}
		if (r != MQ_FOUND)
			return r;
	}
	if (cfg->quota.usage != MQ_USAGE_MAILDIRSIZE) {
		struct mq_key key = mq_address_key(addr);

		r = lookup->get(lookup->ctx, MQ_Q_USAGE, &key, &sqlu);
		if (r == MQ_FOUND) {
			if (cfg->quota.usage == MQ_USAGE_SQL || sqlu->u.usage.bytes > mu.bytes)
				mu.origin = MQ_ORIGIN_SQL;
			mu.bytes = cfg->quota.usage == MQ_USAGE_SQL ? sqlu->u.usage.bytes :
			    max_u64(mu.bytes, sqlu->u.usage.bytes);
			mu.messages = cfg->quota.usage == MQ_USAGE_SQL ? sqlu->u.usage.messages :
			    max_u64(mu.messages, sqlu->u.usage.messages);
			mq_record_unref(&sqlu);
		} else if (r != MQ_NOTFOUND) {
			return r;
		}
	}
	st->used_bytes = mu.bytes;
	st->used_messages = mu.messages;
	rep->usage_origin = mu.origin;
	rep->usage_cached = mu.cached;
	if (!user->u.user.has_quota_bytes && mu.has_limit_bytes && cfg->maildir.header_limits) {
		st->limit_bytes = mu.limit_bytes;
		rep->limit_source = "maildirsize";
	}
	if (!user->u.user.has_quota_messages && mu.has_limit_messages &&
	    cfg->maildir.header_limits) {
		st->limit_messages = mu.limit_messages;
		rep->limit_messages_source = "maildirsize";
	}
	return MQ_FOUND;
}

static const char *
reply_for(const struct mq_config *cfg, enum mq_outcome outcome)
{
	switch (outcome) {
	case MQ_OUT_NOUSER: return cfg->policy.reply_nouser;
	case MQ_OUT_DISABLED: return cfg->policy.reply_disabled;
	case MQ_OUT_OVERQUOTA: return cfg->policy.reply_overquota;
	case MQ_OUT_TOOLARGE: return cfg->policy.reply_toolarge;
	case MQ_OUT_TEMPFAIL: return cfg->policy.reply_tempfail;
	default: return cfg->policy.reply_success;
	}
}

void
mq_box_report_clear(struct mq_box_report *rep)
{
	free(rep->address);
	free(rep->maildir);
	memset(rep, 0, sizeof(*rep));
}

void
mq_verdict_clear(struct mq_verdict *v)
{
	for (size_t i = 0; i < MQ_VERDICT_BOXES; i++)
		mq_box_report_clear(&v->boxes[i]);
	memset(v, 0, sizeof(*v));
}

/* finish - the action text for the outcome, with on_error and dry_run applied. */
static void
finish(const struct mq_config *cfg, const char *user, struct mq_verdict *v)
{
	struct mq_reply_vars vars = { .user = user };
	const struct mq_box_report *b = v->decisive < v->nboxes &&
	    v->decisive < MQ_VERDICT_BOXES ? &v->boxes[v->decisive] : NULL;

	if (b != NULL) {
		vars.limit_bytes = b->state.limit_bytes;
		vars.used_bytes = b->state.used_bytes;
	}
	mq_reply_expand(v->action, sizeof(v->action), reply_for(cfg, v->outcome), &vars);
	if (v->outcome == MQ_OUT_TEMPFAIL && cfg->policy.on_error == MQ_ON_ERROR_PASS)
		v->on_error_pass = true;
	else if (cfg->policy.dry_run &&
	    strcmp(reply_for(cfg, v->outcome), cfg->policy.reply_success) != 0)
		v->dry_run = true;
	if (v->on_error_pass || v->dry_run) {
		/* reply_success is expanded like any reply */
		memcpy(v->withheld, v->action, sizeof(v->withheld));
		mq_reply_expand(v->action, sizeof(v->action),
		    cfg->policy.reply_success, &vars);
	}
}

/* hosted - whether domain is in the domain query or the alias-domain query. */
static int
hosted(struct mq_lookup *lookup, const char *domain)
{
	struct mq_key key = { .address = domain, .local = "", .domain = domain };
	const struct mq_record *rec;
	int r;

	r = lookup->get(lookup->ctx, MQ_Q_DOMAIN, &key, &rec);
	if (r == MQ_NOTFOUND)
		r = lookup->get(lookup->ctx, MQ_Q_ALIAS_DOMAIN, &key, &rec);
	mq_record_unref(&rec);
	return r;
}

/*
 * hosted_form - the recipient with its domain in the IDNA form the
 * database holds: MQ_FOUND with out_r set when only another form is
 * hosted, MQ_NOTFOUND to go on with the address as typed, or MQ_MISS /
 * MQ_TEMPFAIL. The forms, in order: as typed; the other one (A-labels for
 * UTF-8, U-labels for xn--); and for a UTF-8 domain the U-labels that its
 * A-labels stand for, which is the typed form case-folded and normalised
 * (Postfix, with smtputf8_enable = yes, folds UTF-8 case in its table
 * lookups too). A domain with no other form costs nothing; one with an
 * other form costs the domain lookup the resolver makes first anyway
 * (cached), plus one per form tried.
 */
static int
hosted_form(struct mq_lookup *lookup, const struct mq_address *typed,
    struct mq_address *out_r)
{
	char forms[2][MQ_DOMAIN_MAX + 1];
	size_t n = 1;
	int r;

	if (!mq_address_idn_alt(typed->domain, forms[0], sizeof(forms[0])))
		return MQ_NOTFOUND;
	/* From xn-- this leads back to the typed form: nothing new. */
	if (mq_address_idn_alt(forms[0], forms[1], sizeof(forms[1])) &&
	    strcmp(forms[1], typed->domain) != 0)
		n = 2;
	if ((r = hosted(lookup, typed->domain)) != MQ_NOTFOUND)
		return r == MQ_FOUND ? MQ_NOTFOUND : r;
	for (size_t i = 0; i < n; i++) {
		if ((r = hosted(lookup, forms[i])) == MQ_NOTFOUND)
			continue;
		if (r != MQ_FOUND)
			return r;
		return mq_address_with_domain(typed, forms[i], out_r) == 0 ?
		    MQ_FOUND : MQ_NOTFOUND;
	}
	return MQ_NOTFOUND;
}

static const enum mq_how via_how[] = {
	[MQ_VIA_MAILBOX] = MQ_HOW_MAILBOX,
	[MQ_VIA_ALIAS] = MQ_HOW_ALIAS,
	[MQ_VIA_CATCHALL] = MQ_HOW_CATCHALL,
};

const char *
mq_how_name(enum mq_how how)
{
	static const char *const names[] = {
		[MQ_HOW_NONE] = "none",
		[MQ_HOW_NOTOURS] = "notours",
		[MQ_HOW_NOUSER] = "nouser",
		[MQ_HOW_NOTLOCAL] = "notlocal",
		[MQ_HOW_MAILBOX] = "mailbox",
		[MQ_HOW_ALIAS] = "alias",
		[MQ_HOW_CATCHALL] = "catchall",
	};

	return (size_t)how < MQ_NELEM(names) && names[how] != NULL ?
	    names[how] : "none";
}

/*
 * judge_boxes - the figures of each mailbox the recipient resolved to,
 * each judged once, and the verdict they make together. MQ_MISS (cache
 * only) when a figure is not cached, else 0.
 */
static int
judge_boxes(struct request *rq, struct mq_lookup *lookup,
    const struct mq_resolution *res, uint64_t size, struct mq_verdict *v)
{
	struct mq_engine *e = rq->engine;
	enum mq_outcome *outcomes;
	int r = MQ_FOUND;

	v->nboxes = res->nboxes;
	outcomes = xreallocarray(NULL, res->nboxes ? res->nboxes : 1,
	    sizeof(*outcomes));
	for (size_t i = 0; i < res->nboxes && r == MQ_FOUND; i++) {
		struct mq_box_report tmp = { 0 };
		struct mq_box_report *rep = i < MQ_VERDICT_BOXES ? &v->boxes[i] : &tmp;

		r = box_state(rq, lookup, &res->boxes[i], rep);
		if (r == MQ_FOUND) {
			outcomes[i] = mq_decide_box(&rep->state, size, &e->grace);
		} else if (r != MQ_MISS) {
			v->outcome = MQ_OUT_TEMPFAIL;
			v->decisive = i;
			v->nboxes = i + 1;	/* report no mailbox not looked at */
			snprintf(v->reason, sizeof(v->reason), "%.64s: %.180s",
			    res->boxes[i].addr.full, rq->error);
		}
		mq_box_report_clear(&tmp);	/* past MQ_VERDICT_BOXES: judged, not kept */
	}
	if (r == MQ_FOUND) {
		/* Each report says its own outcome only when all are in. */
		for (size_t i = 0; i < res->nboxes && i < MQ_VERDICT_BOXES; i++)
			v->boxes[i].outcome = outcomes[i];
		v->outcome = mq_decide_outcomes(outcomes, res->nboxes,
		    e->cfg->policy.alias_overquota, &v->decisive);
		if (v->outcome == MQ_OUT_SUCCESS && res->nboxes == 0)
			mq_strlcpy(v->reason, "no local mailbox: every destination is remote", sizeof(v->reason));
	}
	free(outcomes);
	return r == MQ_MISS ? MQ_MISS : 0;
}

/*
 * decide_resolved - the verdict for a parsed recipient in the form the
 * database holds: resolve, then judge the mailboxes. 0, or MQ_MISS.
 */
static int
decide_resolved(struct request *rq, struct mq_lookup *lookup,
    const struct mq_address *rcpt, uint64_t size, struct mq_verdict *v)
{
	const struct mq_config *cfg = rq->engine->cfg;
	struct mq_resolution res = { 0 };
	struct mq_resolve_opts opts = {
		.delimiters = cfg->policy.recipient_delimiter,
		.identity = cfg->schema == MQ_SCHEMA_DEFAULT,
		.propagate = true,
	};
	int r = 0;

	switch (mq_resolve_address(lookup, rcpt, &opts, &res)) {
	case MQ_RES_MISS:
		r = MQ_MISS;
		break;
	case MQ_RES_TEMPFAIL:
		v->outcome = MQ_OUT_TEMPFAIL;
		snprintf(v->reason, sizeof(v->reason), "lookup failed: %.200s", rq->error);
		break;
	case MQ_RES_NOUSER:
		v->outcome = res.domain_enabled ? MQ_OUT_NOUSER : MQ_OUT_DISABLED;
		v->how = MQ_HOW_NOUSER;
		break;
	case MQ_RES_NOTLOCAL:
		v->how = MQ_HOW_NOTLOCAL;
		mq_strlcpy(v->reason, "domain not in the database", sizeof(v->reason));
		break;
	case MQ_RES_TOOBIG:
		v->how = MQ_HOW_ALIAS;
		mq_strlcpy(v->reason, "alias expansion where Postfix defers the message: not checked", sizeof(v->reason));
		break;
	case MQ_RES_FOUND:
		v->how = via_how[res.via];
		if (!res.domain_enabled) {
			v->outcome = MQ_OUT_DISABLED;
			mq_strlcpy(v->reason, "domain disabled", sizeof(v->reason));
			break;
		}
		r = judge_boxes(rq, lookup, &res, size, v);
		break;
	default:
		/* Not an address after all: not ours. */
		v->how = MQ_HOW_NOTOURS;
		mq_strlcpy(v->reason, "not ours: not a valid address", sizeof(v->reason));
		break;
	}
	if (r == 0)
		finish(cfg, res.matched.full, v);
	mq_resolution_free(&res);
	return r;
}

/*
 * decide - the verdict for one request: 0, or MQ_MISS (cache only). The
 * recipient is parsed here, once, and handed on parsed.
 */
static int
decide(struct request *rq, const struct mq_check_request *req, struct mq_verdict *v)
{
	struct mq_lookup lookup = { .get = request_get, .ctx = rq };
	/* Per thread, not per request: two addresses are about 8 KB. */
	static _Thread_local struct mq_address typed, idn;
	const struct mq_address *rcpt = &typed;
	int r;

	mq_verdict_clear(v);
	v->outcome = MQ_OUT_SUCCESS;
	v->how = MQ_HOW_NONE;
	v->cached = rq->session == NULL;
	v->stale = false;
	v->refresh = false;
	if (req->stage == MQ_STAGE_OTHER) {
		mq_strlcpy(v->reason, "protocol state not checked", sizeof(v->reason));
		goto done;
	}
	if (req->recipient_len == 0) {
		mq_strlcpy(v->reason, "no single recipient", sizeof(v->reason));
		goto done;
	}
	/* Not ours: no domain, too long, not an address. */
	if ((r = mq_address_parse(req->recipient, req->recipient_len, &typed)) != MQ_ADDR_OK) {
		v->how = MQ_HOW_NOTOURS;
		snprintf(v->reason, sizeof(v->reason), "not ours: %s",
		    mq_address_error(r));
		goto done;
	}
	memcpy(lookup.has_query, rq->engine->has_query, sizeof(lookup.has_query));
	if (rq->session != NULL)
		prefetch(rq, &typed);
	switch (hosted_form(&lookup, &typed, &idn)) {
	case MQ_MISS:
		return MQ_MISS;
	case MQ_TEMPFAIL:
		v->outcome = MQ_OUT_TEMPFAIL;
		snprintf(v->reason, sizeof(v->reason), "lookup failed: %.200s", rq->error);
		goto done;
	case MQ_FOUND:
		/* Hosted in its other IDNA form: a new address, held to the parse rules. */
		if (mq_address_parse(idn.full, strlen(idn.full), &idn) != MQ_ADDR_OK) {
			v->how = MQ_HOW_NOTOURS;
			mq_strlcpy(v->reason, "not ours: not a valid address", sizeof(v->reason));
			goto done;
		}
		rcpt = &idn;
		break;
	default:
		break;
	}
	return decide_resolved(rq, &lookup, rcpt, req->size, v);
done:
	v->decisive = 0;
	finish(rq->engine->cfg, "", v);
	return 0;
}

int
mq_engine_decide_cached(struct mq_engine *e, const struct mq_check_request *req,
    struct mq_verdict *verdict)
{
	struct request rq;
	int r;

	request_init(&rq, e, NULL);
	r = decide(&rq, req, verdict);
	if (r == 0)
		verdict->refresh = rq.refresh;
	else
		mq_verdict_clear(verdict);	/* a miss leaves nothing to release */
	request_done(&rq);
	return r;
}

struct mq_session *
mq_session_new(struct mq_engine *e)
{
	struct mq_session *s = xcalloc(1, sizeof(*s));

	s->engine = e;
	return s;
}

void
mq_session_free(struct mq_session **sp)
{
	struct mq_session *s = *sp;

	if (s == NULL)
		return;
	if (s->open)
		mq_backend_close(&s->conn);
	free(s);
	*sp = NULL;
}

void
mq_session_decide(struct mq_session *s, const struct mq_check_request *req,
    struct mq_verdict *verdict)
{
	struct request rq;

	request_init(&rq, s->engine, s);
	(void)decide(&rq, req, verdict);
	request_done(&rq);
	if (rq.stale && verdict->outcome != MQ_OUT_TEMPFAIL) {
		verdict->stale = true;
		atomic_fetch_add(&s->engine->stale_answers, 1);
		mq_debug("answered from expired cache entries: %s", rq.error);
	}
}

/* session_mailbox - mq_session_mailbox within one request. */
static int
session_mailbox(struct request *rq, const char *address,
    struct mq_box_report *rep, char *error, size_t errlen)
{
	struct mq_lookup lookup = { .get = request_get, .ctx = rq };
	const struct mq_record *rec;
	struct mq_mailbox box = { .domain_enabled = true };
	struct mq_key key;
	int r;

	mq_box_report_clear(rep);
	if (mq_address_parse(address, strlen(address), &box.addr) < 0) {
		snprintf(error, errlen, "not a valid address");
		return MQ_NOTFOUND;
	}
	key = mq_address_key(&box.addr);
	/* A domain without a row is still reported; its users row decides. */
	r = request_get(rq, MQ_Q_DOMAIN, &key, &rec);
	if (r == MQ_FOUND) {
		box.domain_enabled = rec->u.domain.enabled;
		mq_record_unref(&rec);
	} else if (r != MQ_NOTFOUND) {
		snprintf(error, errlen, "%s", rq->error);
		return MQ_TEMPFAIL;
	}
	r = request_get(rq, MQ_Q_USER, &key, &box.user);
	if (r != MQ_FOUND) {
		snprintf(error, errlen, "%s", r == MQ_NOTFOUND ? "no such mailbox" :
		    rq->error);
		return r;
	}
	r = box_state(rq, &lookup, &box, rep);
	if (r == MQ_FOUND)
		rep->outcome = mq_decide_box(&rep->state, 0, &rq->engine->grace);
	else
		snprintf(error, errlen, "%s", rq->error);
	mq_record_unref(&box.user);
	return r == MQ_FOUND ? MQ_FOUND : MQ_TEMPFAIL;
}

int
mq_session_mailbox(struct mq_session *s, const char *address,
    struct mq_box_report *rep, char *error, size_t errlen)
{
	struct request rq;
	int r;

	request_init(&rq, s->engine, s);
	r = session_mailbox(&rq, address, rep, error, errlen);
	request_done(&rq);
	return r;
}

struct each_user {
	int (*fn)(void *, const char *);
	void *ctx;
};

static int
each_user_row(void *ctx, size_t ncols, const char *const *names,
    const char *const *values)
{
	struct each_user *eu = ctx;

	if (ncols == 0 || values[0] == NULL || values[0][0] == '\0')
		return 0;
	return eu->fn(eu->ctx, values[0]);
}

int
mq_session_each_user(struct mq_session *s, int (*fn)(void *, const char *),
    void *ctx, char *error, size_t errlen)
{
	struct mq_key key = { .address = "", .local = "", .domain = "" };
	struct each_user eu = { .fn = fn, .ctx = ctx };

	if (!s->engine->has_query[MQ_Q_USERS]) {
		snprintf(error, errlen, "no users query configured");
		return MQ_TEMPFAIL;
	}
	if (session_connect(s, error, errlen) < 0)
		return MQ_TEMPFAIL;
	return mq_backend_query(&s->conn, MQ_Q_USERS, &key, each_user_row, &eu,
	    error, errlen);
}

static int
first_row_only(void *ctx, size_t ncols, const char *const *names,
    const char *const *values)
{
	return 1;
}

/* The outcome of one query's column check (-t). */
struct column_check {
	enum mq_query_kind kind;
	int rc;
	char why[512];
	char unread[256];
};

static void
check_columns(void *ctx, size_t ncols, const char *const *names)
{
	struct column_check *cc = ctx;

	cc->rc = mq_lookup_check_columns(cc->kind, ncols, names, cc->why,
	    sizeof(cc->why), cc->unread, sizeof(cc->unread));
}

static int
first_value(void *ctx, size_t ncols, const char *const *names,
    const char *const *values)
{
	char **out = ctx;

	if (ncols == 0 || values[0] == NULL || values[0][0] == '\0')
		return 0;
	*out = xstrdup(values[0]);
	return 1;
}

int
mq_session_digest_to(struct mq_session *s, const char *domain, char **addr_r,
    char *error, size_t errlen)
{
	struct mq_key key = { .address = "", .local = "", .domain = domain };
	int r;

	*addr_r = NULL;
	if (!s->engine->has_query[MQ_Q_DIGEST_TO])
		return MQ_NOTFOUND;
	if (session_connect(s, error, errlen) < 0)
		return MQ_TEMPFAIL;
	r = mq_backend_query(&s->conn, MQ_Q_DIGEST_TO, &key, first_value, addr_r,
	    error, errlen);
	if (r == MQ_TEMPFAIL) {
		free(*addr_r);
		*addr_r = NULL;
		return r;
	}
	return *addr_r != NULL ? MQ_FOUND : MQ_NOTFOUND;
}

int
mq_session_test(struct mq_session *s, char *error, size_t errlen)
{
	struct mq_key key = { .address = "postmaster@mailquota.invalid",
	    .local = "postmaster", .domain = "mailquota.invalid" };
	size_t len = 0;
	int rc = 0;

	if (session_connect(s, error, errlen) < 0)
		return -1;
	/*
	 * Every query, so that one run reports every broken one, by name:
	 * it must run, and return the columns lookup.c reads.
	 */
	for (size_t i = 0; i < MQ_Q_COUNT; i++) {
		enum mq_query_kind kind = (enum mq_query_kind)i;
		struct column_check cc = { .kind = kind, .rc = -1 };

		if (!s->engine->has_query[i])
			continue;
		if (mq_backend_query(&s->conn, kind, &key, first_row_only, NULL,
		    cc.why, sizeof(cc.why)) != MQ_TEMPFAIL &&
		    mq_backend_columns(&s->conn, kind, check_columns, &cc,
		    cc.why, sizeof(cc.why)) != MQ_TEMPFAIL && cc.rc == 0) {
			if (cc.unread[0] != '\0')
				mq_warn("queries.%s: returns columns mailquota "
				    "does not read: %s (see mailquota.conf(5))",
				    mq_query_kind_name(kind), cc.unread);
			continue;
		}
		if (len < errlen)
			len += (size_t)snprintf(error + len, errlen - len, "%squeries.%s: %s",
			    rc < 0 ? "; " : "", mq_query_kind_name(kind), cc.why);
		rc = -1;
	}
	return rc;
}
