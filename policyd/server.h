/* SPDX-License-Identifier: MIT */
/*
 * server - the policy daemon's listeners and connections on one libevent
 * loop: accept (bounded by policy.max_connections), read requests with
 * proto, answer cache hits inline with mq_engine_decide_cached, hand misses
 * to the worker pool, write "action=...\n\n", log one line per decision.
 *
 * Listening sockets are bound by mq_listen_bind (bind.h) before privileges
 * are dropped and before the loop exists; mq_server_listen wraps them later.
 * Everything else runs on the loop thread.
 *
 * Shutdown (mq_server_shutdown): listeners close, idle connections close,
 * busy ones close after their reply; the loop is broken when nothing is
 * left, or after MQ_SERVER_STOP_SECS (mq_server_forced() then says so).
 */
#ifndef MQ_SERVER_H
#define MQ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include "config.h"
#include "workers.h"

#define MQ_SERVER_STOP_SECS 5

struct event_base;
struct mq_server;

/* mq_server_new - a server on base answering with rt (a reference is taken). */
struct mq_server *mq_server_new(struct event_base *base, struct mq_runtime *rt);
/* mq_server_listen - accept on a bound socket (taken over). */
int mq_server_listen(struct mq_server *srv, int fd, const struct mq_listen *l);
/* mq_server_serve_stdio - one connection on rfd/wfd (spawn(8)); shutdown when it ends. */
int mq_server_serve_stdio(struct mq_server *srv, int rfd, int wfd);
/* mq_server_reload - answer new requests with rt; connections stay. */
void mq_server_reload(struct mq_server *srv, struct mq_runtime *rt);
void mq_server_shutdown(struct mq_server *srv);
bool mq_server_forced(const struct mq_server *srv);
/* mq_server_log_stats - SIGUSR1: the counters as log lines (metrics.h). */
void mq_server_log_stats(struct mq_server *srv);
struct mq_metrics_view;
/* mq_server_metrics - the counters and gauges for /metrics and the log. */
void mq_server_metrics(struct mq_server *srv, struct mq_metrics_view *v);
/* mq_server_config - the configuration new requests are answered with. */
const struct mq_config *mq_server_config(const struct mq_server *srv);
void mq_server_free(struct mq_server **srv);

#endif
