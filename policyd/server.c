/* SPDX-License-Identifier: MIT */
/*
 * server - the life of mailquota-policyd's server: made with a runtime,
 * reloaded with another, shut down in steps, freed; and its figures for
 * /metrics and SIGUSR1. See server.h. What it serves is in the other files
 * of server_int.h: conn.c (a connection), listener.c (accepting),
 * decision.c (the decision line and counters), bind.c (the sockets).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "engine.h"
#include "metrics.h"
#include "proto.h"
#include "server_int.h"
#include "workers.h"

/* apply_config - the per-connection limits and timers of a configuration. */
static void
apply_config(struct mq_server *srv, const struct mq_config *cfg)
{
	size_t line_max = MQ_PROTO_LINE_MAX;

	if (cfg->policy.max_request_size < line_max)
		line_max = cfg->policy.max_request_size;
	if (line_max < 1)
		line_max = 1;
	srv->limits.line_max = line_max;
	srv->limits.max_attrs = MQ_PROTO_MAX_ATTRS;
	srv->limits.max_request = cfg->policy.max_request_size;
	srv->in_max = line_max + 1;
	srv->max_conns = cfg->policy.max_connections;
	srv->max_per_client = cfg->policy.max_connections_per_client;
	srv->idle_secs = cfg->policy.idle_timeout;
	srv->idle_tv = NULL;
	if (srv->idle_secs > 0) {
		srv->idle_plain.tv_sec = srv->idle_secs;
		srv->idle_plain.tv_usec = 0;
		/* Every connection shares the duration: libevent keeps them in one queue. */
		srv->idle_tv = event_base_init_common_timeout(srv->base,
		    &srv->idle_plain);
		if (srv->idle_tv == NULL)
			srv->idle_tv = &srv->idle_plain;
	}
}

struct mq_server *
mq_server_new(struct event_base *base, struct mq_runtime *rt)
{
	struct mq_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->rt = mq_runtime_ref(rt);
	srv->started = time(NULL);
	TAILQ_INIT(&srv->conns);
	apply_config(srv, rt->cfg);
	srv->accepting = true;
	srv->accept_timer = evtimer_new(base, mq_listeners_resume_cb, srv);
	srv->workers = mq_workers_new(base, rt->cfg->policy.workers, rt,
	    mq_conn_job_done, srv);
	return srv;
}

void
mq_server_reload(struct mq_server *srv, struct mq_runtime *rt)
{
	struct mq_runtime *old = srv->rt;

	srv->rt = mq_runtime_ref(rt);
	apply_config(srv, rt->cfg);
	mq_workers_set_runtime(srv->workers, rt);
	/* The new engine counts from zero: keep the old one's figures. */
	mq_metrics_retire(&srv->st, old->engine);
	mq_runtime_unref(&old);
	mq_listeners_update(srv);
}

const struct mq_config *
mq_server_config(const struct mq_server *srv)
{
	return srv->rt->cfg;
}

static void
stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq_server *srv = arg;

	mq_warn("%zu connection(s) and %zu request(s) still busy after %d s; exiting anyway",
	    srv->nconns, srv->inflight, MQ_SERVER_STOP_SECS);
	srv->forced = true;
	event_base_loopbreak(srv->base);
}

void
mq_server_shutdown(struct mq_server *srv)
{
	struct timeval tv = { MQ_SERVER_STOP_SECS, 0 };
	struct conn *c, *next;

	if (srv->stopping)
		return;
	srv->stopping = true;
	mq_listeners_close(srv);
	evtimer_del(srv->accept_timer);
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		mq_conn_stop(c);
	}
	if (srv->nconns == 0 && srv->inflight == 0) {
		event_base_loopbreak(srv->base);
		return;
	}
	mq_info("waiting for %zu request(s) in flight", srv->inflight);
	srv->stop_timer = evtimer_new(srv->base, stop_timer_cb, srv);
	evtimer_add(srv->stop_timer, &tv);
}

void
mq_server_loop_done(struct mq_server *srv)
{
	if (srv->stopping && srv->nconns == 0 && srv->inflight == 0)
		event_base_loopbreak(srv->base);
}

bool
mq_server_forced(const struct mq_server *srv)
{
	return srv->forced;
}

void
mq_server_metrics(struct mq_server *srv, struct mq_metrics_view *v)
{
	mq_metrics_view_init(v, &srv->st, srv->rt->engine);
	v->conns_open = srv->nconns;
	v->in_flight = srv->inflight;
	v->queued = mq_workers_queued(srv->workers);
	v->workers = mq_workers_count(srv->workers) > 0 ?
	    (uint64_t)mq_workers_count(srv->workers) : 0;
	v->generation = srv->rt->generation;
	v->start_time = srv->started > 0 ? (uint64_t)srv->started : 0;
}

void
mq_server_log_stats(struct mq_server *srv)
{
	struct mq_metrics_view v;

	mq_server_metrics(srv, &v);
	mq_metrics_log(&v);
}

void
mq_server_free(struct mq_server **srvp)
{
	struct mq_server *srv = *srvp;
	struct conn *c;

	*srvp = NULL;
	if (srv == NULL)
		return;
	srv->stopping = true;
	mq_listeners_close(srv);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		mq_conn_close(c);
	/* Workers first: a dead connection's job may still be running. */
	mq_workers_free(&srv->workers);
	mq_conn_free_spare_jobs(srv);
	mq_buf_free(&srv->logline);
	if (srv->stop_timer != NULL)
		event_free(srv->stop_timer);
	event_free(srv->accept_timer);
	mq_runtime_unref(&srv->rt);
	free(srv);
}
