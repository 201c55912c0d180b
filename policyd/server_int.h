/* SPDX-License-Identifier: MIT */
/*
 * server_int - what the files of the server share, and nothing outside
 * them includes: the server, its connections and listeners, and the calls
 * between them. server.c owns the server's life (new, reload, shutdown,
 * free); conn.c a connection's; listener.c accepting and the per-client
 * counts; decision.c what a verdict leaves behind (the log line, counters).
 * All of it runs on the loop thread.
 */
#ifndef MQ_SERVER_INT_H
#define MQ_SERVER_INT_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <event2/util.h>

#include "buf.h"
#include "metrics.h"
#include "proto.h"
#include "server.h"
#include "workers.h"

#define CLIENT_BUCKETS 256	/* per-client connection counts (inet) */

struct sockaddr;

/* One client address with connections open on an inet listener. */
struct client {
	struct client *next;
	unsigned char addr[16];		/* IPv4 in the first 4 bytes */
	unsigned char len;
	size_t n;
};

/*
 * Where a connection is with its current request. One request at a time:
 * READING until a request is complete; then, on a cache hit, the reply is
 * written at once (READING again, or WRITING if it did not go out whole);
 * on a miss DECIDING until the worker's verdict, then the same. ORPHANED:
 * closed while DECIDING, kept until the job comes back, then freed.
 */
enum conn_state {
	CONN_READING,
	CONN_DECIDING,
	CONN_WRITING,
	CONN_ORPHANED,
};

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct mq_server *srv;
	enum conn_state state;
	int rfd, wfd;			/* the same socket, or stdin/stdout */
	bool stdio;
	struct event *rev, *wev, *tev;
	char *in;			/* unparsed bytes */
	size_t inlen, incap;
	char out[MQ_REPLY_MAX + 16];	/* WRITING: the unsent rest of a reply */
	size_t outoff, outlen;
	struct mq_policy_request req;
	struct mq_job *job;		/* DECIDING: the request at a worker */
	uint64_t t0;			/* when the request was complete */
	/* Conditions, not states: each goes with any state but ORPHANED. */
	bool eof;			/* the peer has finished sending */
	bool closing;			/* shutdown: no new request, close after the reply */
	bool read_paused;		/* the input buffer is full */
	struct client *client;		/* inet: its address's count */
	char peer[128];
};

struct listener {
	struct mq_server *srv;
	struct evconnlistener *lev;
	char *spec;
	char *unix_path;		/* removed at shutdown (if still allowed) */
};

struct mq_server {
	struct event_base *base;
	struct mq_runtime *rt;		/* answers new requests */
	struct mq_workers *workers;

	/* from rt->cfg */
	struct mq_proto_limits limits;
	size_t in_max;
	const struct timeval *idle_tv;	/* NULL: no idle timeout */
	struct timeval idle_plain;
	int idle_secs;
	int max_conns;			/* <= 0: no limit */
	int max_per_client;		/* inet, per address; <= 0: no limit */
	struct client *clients[CLIENT_BUCKETS];
	time_t client_limit_logged;

	struct listener **listeners;	/* each allocated: libevent keeps the pointer */
	size_t nlisteners;
	bool accepting;			/* listeners enabled */
	bool accept_error_pause;	/* EMFILE & co: wait a moment */
	struct event *accept_timer;
	time_t limit_logged, accept_logged;
	uint64_t tempfail_logged_us;	/* last "tempfail:" line */
	uint64_t tempfail_unlogged;	/* tempfails since, not logged */
	struct mq_buf logline;		/* the decision line, reused */

	bool stdio;
	bool stopping, forced;
	struct event *stop_timer;

	TAILQ_HEAD(, conn) conns;
	size_t nconns;			/* open (not orphaned) connections */
	size_t inflight;		/* jobs at workers */
	struct mq_job *spare_jobs;	/* finished jobs kept for reuse */
	size_t nspare_jobs;
	struct mq_counters st;		/* see metrics.h */
	time_t started;
};

/* conn.c */
struct conn *mq_conn_new(struct mq_server *srv, int rfd, int wfd,
    const char *peer, bool stdio);
void mq_conn_close(struct conn *c);
/* mq_conn_stop - shutdown: close an idle connection, a busy one after its reply. */
void mq_conn_stop(struct conn *c);
/* mq_conn_job_done - a worker's verdict, on the loop thread (mq_workers_new's callback). */
void mq_conn_job_done(struct mq_job *job, void *arg);
void mq_conn_free_spare_jobs(struct mq_server *srv);

/* listener.c */
/* mq_listeners_update - accept only below max_connections, not while paused or stopping. */
void mq_listeners_update(struct mq_server *srv);
void mq_listeners_close(struct mq_server *srv);
void mq_listeners_resume_cb(evutil_socket_t fd, short what, void *arg);
void mq_client_release(struct mq_server *srv, struct client *cl);

/* decision.c */
/*
 * mq_decision_record - what answering req with v leaves behind: the
 * "tempfail:" line (rate-limited), the decision line, the counters.
 */
void mq_decision_record(struct mq_server *srv, const struct mq_policy_request *req,
    const struct mq_verdict *v, uint64_t latency_us);

/* server.c */
/* mq_server_loop_done - break the loop once stopping and nothing is left. */
void mq_server_loop_done(struct mq_server *srv);

#endif
