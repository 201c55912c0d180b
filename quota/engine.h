/* SPDX-License-Identifier: MIT */
/*
 * engine - the whole decision for one recipient: parse, the hosted IDNA
 * form of its domain, resolve, usage, decide, reply (with on_error and
 * dry_run applied, the reply not sent kept in the verdict). The daemon,
 * every `mailquota` command and mailquota-warn go through it, so they agree.
 *
 * An engine holds the configuration and the caches shared by every thread.
 * A session is one thread's database connection, opened at its first
 * lookup; after a failure the driver's handle reconnects by itself (the
 * network drivers' breaker, backend_net.c). A session is not shared
 * between threads. On a miss, a session first asks for the recipient's
 * domain, alias and mailbox rows in one round trip when the driver has
 * query_batch (PostgreSQL's pipeline, SQLite's read transaction).
 * Within one request the recipient is parsed once, each lookup goes to the
 * cache once and to the database at most once (a batch's answers are used
 * as they are), and each mailbox is judged once.
 *
 * mq_engine_decide_cached answers from the caches alone and never blocks:
 * it returns 0 with a verdict, or MQ_MISS (the verdict left empty) when a
 * figure is not cached, and the caller hands the request to a worker's
 * mq_session_decide, which may block on the database and the disk and
 * fills the caches.
 *
 * With policy.stale_ttl, a lookup whose database query fails falls back to
 * an expired cache entry (expired at most stale_ttl seconds ago), and the
 * verdict says so (stale). Once the database has failed during a request,
 * the rest of that request's lookups do not ask it again.
 */
#ifndef MQ_ENGINE_H
#define MQ_ENGINE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "decide.h"
#include "maildir.h"
#include "resolve.h"

struct mq_check_request {
	const char *recipient;		/* as Postfix sent it; may be empty */
	size_t recipient_len;
	uint64_t size;			/* 0 = unknown */
	enum mq_stage stage;
};

#define MQ_VERDICT_BOXES 8		/* mailboxes reported in a verdict */
/*
 * The longest Maildir path (relative to maildir.base, NUL included) a
 * report carries: the kernel's own limit for one path. A longer one is
 * refused with "maildir path too long", never cut.
 */
#define MQ_MAILDIR_PATH_MAX 4096

/*
 * A box report owns its two strings, so a verdict stays small (about
 * 1.5 KB) however long the addresses and paths are. A report or verdict
 * starts zeroed; deciding into one releases what it held before, and
 * mq_box_report_clear / mq_verdict_clear release it at the end.
 */
struct mq_box_report {
	char *address;			/* the address its row is stored under */
	char *maildir;			/* relative to maildir.base; NULL until known */
	struct mq_box_state state;
	const char *limit_source;	/* "sql", "maildirsize", "none" */
	const char *limit_messages_source;	/* the same, for the message limit */
	enum mq_usage_origin usage_origin;
	bool usage_cached;
	enum mq_outcome outcome;
};

/* How the recipient was matched, or why it was not checked. */
enum mq_how {
	MQ_HOW_NONE,		/* not looked up (no recipient, stage not checked) */
	MQ_HOW_NOTOURS,		/* not an address of ours: no domain, too long, ... */
	MQ_HOW_NOUSER,		/* a domain of ours without that mailbox or alias */
	MQ_HOW_NOTLOCAL,	/* a domain not in the database */
	MQ_HOW_MAILBOX,
	MQ_HOW_ALIAS,
	MQ_HOW_CATCHALL,
};

/* mq_how_name - the word of the decision log's via=: "mailbox", "notours", ... */
const char *mq_how_name(enum mq_how how);

struct mq_verdict {
	enum mq_outcome outcome;	/* what the rules say */
	bool dry_run;			/* a reject was turned into reply_success */
	bool on_error_pass;		/* a tempfail was turned into reply_success */
	char action[MQ_REPLY_MAX + 1];	/* the text after "action=" */
	char withheld[MQ_REPLY_MAX + 1];	/* dry_run/on_error: the reply not sent */
	enum mq_how how;
	char reason[256];		/* why, in a few words (errors, empty recipient) */
	size_t nboxes;			/* every mailbox considered */
	struct mq_box_report boxes[MQ_VERDICT_BOXES];
	size_t decisive;		/* index into boxes of the mailbox that decided, or nboxes */
	bool cached;			/* answered from caches without a worker */
	bool stale;			/* the database failed; expired cache entries answered */
	/*
	 * Cache-only answers: a cached figure used was past its TTL (usage
	 * older than quota.usage_ttl, or a lookup near its expiry). The verdict
	 * stands; the caller should run the same request through
	 * mq_session_decide in the background, discarding that verdict, which
	 * re-validates the figures and refills the caches.
	 */
	bool refresh;
};

void mq_box_report_clear(struct mq_box_report *rep);
void mq_verdict_clear(struct mq_verdict *v);

struct mq_engine;
struct mq_session;

struct mq_engine_stats {
	uint64_t cache_hits, cache_misses, usage_hits, usage_misses;
	uint64_t db_errors, db_connects;
	uint64_t stale_hits;		/* lookups answered by expired entries (policy.stale_ttl) */
	uint64_t stale_answers;		/* decisions that used at least one */
};

struct mq_engine *mq_engine_new(const struct mq_config *cfg);
void mq_engine_free(struct mq_engine **engine);
void mq_engine_stats(struct mq_engine *engine, struct mq_engine_stats *st);
/*
 * mq_engine_net_stats - the network drivers' counts, process-wide (every
 * engine, driver and host since start): successful connects, the
 * reconnects among them, failed attempts.
 */
void mq_engine_net_stats(uint64_t *connects_r, uint64_t *reconnects_r,
    uint64_t *failures_r);

int mq_engine_decide_cached(struct mq_engine *engine,
    const struct mq_check_request *req, struct mq_verdict *verdict);

struct mq_session *mq_session_new(struct mq_engine *engine);
void mq_session_free(struct mq_session **session);
void mq_session_decide(struct mq_session *session,
    const struct mq_check_request *req, struct mq_verdict *verdict);
/*
 * mq_session_mailbox - one mailbox's own limits and usage exactly as the
 * decision sees them (same lookups, same usage rules), without alias or
 * catch-all resolution: what report, get and recalc need for an address the
 * users query returned. MQ_FOUND with rep filled, MQ_NOTFOUND (no such
 * mailbox, or not an address), MQ_TEMPFAIL with error set.
 */
int mq_session_mailbox(struct mq_session *session, const char *address,
    struct mq_box_report *rep, char *error, size_t errlen);
/*
 * mq_session_each_user - call fn for every address the users query returns
 * (report, sweep); fn returning non-zero stops early. MQ_FOUND, MQ_NOTFOUND
 * (no rows) or MQ_TEMPFAIL with error set.
 */
int mq_session_each_user(struct mq_session *session,
    int (*fn)(void *ctx, const char *address), void *ctx,
    char *error, size_t errlen);
/*
 * mq_session_digest_to - the first column of queries.digest_to for a
 * domain (its administrator, for mailquota-warn --digest), malloc'ed in
 * *addr_r: MQ_FOUND, MQ_NOTFOUND (no such query, no row, an empty value)
 * or MQ_TEMPFAIL with error set.
 */
int mq_session_digest_to(struct mq_session *session, const char *domain,
    char **addr_r, char *error, size_t errlen);
/* mq_session_test - connect and run every configured query once (-t). */
int mq_session_test(struct mq_session *session, char *error, size_t errlen);

#endif
