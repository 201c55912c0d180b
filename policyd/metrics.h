/* SPDX-License-Identifier: MIT */
/*
 * metrics - the policy daemon's counters and how they are shown: as
 * Prometheus text at /metrics (policy.metrics, served by libevent's evhttp
 * on the daemon's own loop) and as log lines on SIGUSR1. Both show the
 * same figures, from one view (struct mq_metrics_view).
 *
 * struct mq_counters is written and read on the loop thread only (plain
 * integers, no locks); the server increments its fields directly and
 * calls mq_metrics_observe once per reply. The engine and the database
 * drivers keep atomic counters of their own, read when a view is made.
 *
 * Counters only grow while the process lives. A reload builds a new engine
 * whose counters start at zero; mq_metrics_retire adds the old engine's
 * figures to the totals first, so the exported series do not go back.
 */
#ifndef MQ_METRICS_H
#define MQ_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "decide.h"
#include "engine.h"

/* Upper bounds of the latency histogram, microseconds (then +Inf). */
#define MQ_METRICS_NBUCKETS 16
extern const uint64_t mq_metrics_bounds_us[MQ_METRICS_NBUCKETS];

struct mq_counters {
	uint64_t requests;			/* answered */
	uint64_t outcome[MQ_OUT_COUNT];		/* answered, by outcome */
	uint64_t dry_run, on_error_pass;
	uint64_t on_loop, by_workers, dropped;
	uint64_t conns_total, malformed, timeouts, accept_errors;
	uint64_t client_limit;	/* closed at max_connections_per_client */
	/* per bucket, not cumulative; [MQ_METRICS_NBUCKETS] is above the last bound */
	uint64_t latency[MQ_METRICS_NBUCKETS + 1];
	uint64_t latency_sum_us;
	struct mq_engine_stats retired;		/* engines replaced by reloads */
};

/* Everything one scrape or one SIGUSR1 shows. */
struct mq_metrics_view {
	const struct mq_counters *c;
	struct mq_engine_stats engine;		/* retired + the current engine */
	uint64_t net_connects, net_reconnects, net_failures;
	/* gauges, filled by the caller */
	uint64_t conns_open, in_flight, queued;
	uint64_t workers;
	uint64_t generation;
	uint64_t start_time;			/* Unix time the process started */
};

/* mq_metrics_observe - one reply's latency (request complete to reply written). */
void mq_metrics_observe(struct mq_counters *c, uint64_t latency_us);

/* mq_metrics_retire - add an engine that a reload replaces to the totals. */
void mq_metrics_retire(struct mq_counters *c, struct mq_engine *engine);

/*
 * mq_metrics_view_init - the counters, the engine's figures plus the
 * retired ones, the drivers' connects. The caller fills the gauges.
 */
void mq_metrics_view_init(struct mq_metrics_view *v,
    const struct mq_counters *c, struct mq_engine *engine);

/* mq_metrics_text - the Prometheus text exposition (malloc'ed, NUL-terminated). */
char *mq_metrics_text(const struct mq_metrics_view *v, size_t *len_r);

/* mq_metrics_log - the same figures as a few info lines. */
void mq_metrics_log(const struct mq_metrics_view *v);

/* --- the /metrics endpoint */

struct event_base;
struct mq_metrics_http;

/* Called for each scrape, on the loop thread: fill v. */
typedef void mq_metrics_view_fn(void *arg, struct mq_metrics_view *v);

/*
 * mq_metrics_bind - bind policy.metrics ("inet:HOST:PORT") before
 * privileges are dropped. Returns 0 with a malloc'ed array of listening
 * fds, or -1 with a message.
 */
int mq_metrics_bind(const char *spec, int **fds_r, size_t *nfds_r,
    char *error, size_t errlen);

/*
 * mq_metrics_http_new - serve GET /metrics on the bound fds (taken over)
 * with evhttp on base. NULL (fds closed) when evhttp cannot be set up.
 */
struct mq_metrics_http *mq_metrics_http_new(struct event_base *base,
    int *fds, size_t nfds, mq_metrics_view_fn *fn, void *arg);
void mq_metrics_http_free(struct mq_metrics_http **h);

#endif
