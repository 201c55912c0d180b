/* SPDX-License-Identifier: MIT */
/*
 * conn - one client connection of mailquota-policyd: reading requests,
 * deciding them (inline on a cache hit, else at a worker), writing the
 * replies, the idle timer, closing. See server_int.h for its states.
 *
 * A connection is a pair of fds (one socket, or stdin/stdout for -s) with
 * a persistent read event, a write event used only when a reply did not go
 * out whole, and an idle timer. Its input buffer grows to one line
 * (line_max + 1 bytes) and no further: proto consumes whole lines, so a
 * buffer that is full without a newline is already an error. One request
 * at a time: while a request is at a worker or a reply is unsent, further
 * bytes wait in the buffer (reading pauses when it is full).
 *
 * Hot path (a cache hit): one read, the parse, mq_engine_decide_cached, one
 * write, one log line. A hit on a figure past its TTL is answered the
 * same way and also queues a background re-validation (mq_workers_refresh,
 * an allocation in workers.c). No allocation per request in this file; the
 * only system calls are the read and the write (the log line is queued
 * for the logging thread: log.c). Not a bufferevent: it would enable and
 * disable its write event around every reply (epoll_ctl calls) and copy
 * through evbuffers, while a reply of at most ~510 bytes nearly always
 * leaves in one write(2).
 * The idle timers share one libevent common timeout, so re-arming one
 * after each reply is O(1).
 *
 * A connection that goes away while its request is at a worker is
 * ORPHANED and kept until the job comes back, then freed with the result
 * dropped: workers never see connections, and the loop never frees memory
 * a job still points to.
 *
 * Diagnostics: a malformed request is one warning naming the client and
 * the reason; the connection is closed without a reply, as the protocol
 * asks. Idle connections close at policy.idle_timeout (debug), stalled
 * requests and unread replies likewise (notice).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "decide.h"
#include "engine.h"
#include "proto.h"
#include "server_int.h"

#define CONN_INBUF_START 1024	/* most requests fit; a longer one grows it */
#define JOB_SPARE_MAX 64	/* finished jobs kept for reuse */

static void conn_process(struct conn *c);

static void
conn_arm_timer(struct conn *c)
{
	if (c->srv->idle_tv != NULL)
		event_add(c->tev, c->srv->idle_tv);
}

/*
 * job_get, job_put - a job for a request that goes to a worker. A job
 * holds a copy of the recipient and a verdict (some 3.5 KiB), so idle
 * connections keep none: finished jobs wait in a small pool instead.
 */
static struct mq_job *
job_get(struct mq_server *srv)
{
	struct mq_job *job = srv->spare_jobs;

	if (job == NULL)
		return mq_job_new();
	srv->spare_jobs = job->next;
	srv->nspare_jobs--;
	return job;
}

static void
job_put(struct mq_server *srv, struct mq_job *job)
{
	if (srv->nspare_jobs >= JOB_SPARE_MAX) {
		mq_job_free(job);
		return;
	}
	job->next = srv->spare_jobs;
	srv->spare_jobs = job;
	srv->nspare_jobs++;
}

/* conn_free - the memory of a connection whose fds are closed. */
static void
conn_free(struct conn *c)
{
	free(c->in);
	free(c);
}

void
mq_conn_close(struct conn *c)
{
	struct mq_server *srv = c->srv;

	mq_assert(c->state != CONN_ORPHANED);	/* its events are gone already */
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	mq_client_release(srv, c->client);
	c->client = NULL;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	c->rev = c->wev = c->tev = NULL;
	close(c->rfd);
	if (c->wfd != c->rfd)
		close(c->wfd);
	if (c->state == CONN_DECIDING)
		c->state = CONN_ORPHANED;	/* the job points here: freed in job_done */
	else
		conn_free(c);

	if (srv->stdio && !srv->stopping)
		mq_server_shutdown(srv);
	mq_listeners_update(srv);
	mq_server_loop_done(srv);
}

/* conn_write - send a reply; what does not go out now waits for EV_WRITE. */
static int
conn_write(struct conn *c, const char *buf, size_t len)
{
	ssize_t n = write(c->wfd, buf, len);

	if (n == (ssize_t)len)
		return 0;
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		n = 0;
	}
	memcpy(c->out, buf + n, len - (size_t)n);
	c->outoff = 0;
	c->outlen = len - (size_t)n;
	c->state = CONN_WRITING;
	event_add(c->wev, NULL);
	return 0;
}

/*
 * conn_reply - answer the current request with a verdict; -1 when the
 * connection closed.
 */
static int
conn_reply(struct conn *c, const struct mq_verdict *v)
{
	const char *send = v->action;
	char buf[MQ_REPLY_MAX + 16];
	size_t n;
	int rc;

	mq_assert(c->state == CONN_READING);
	n = mq_proto_format(buf, sizeof(buf), send);
	if (n == 0) {
		char act[64];

		mq_sanitize(act, sizeof(act), send, strlen(send));
		mq_error("client %s: unusable action \"%s\"; closing the connection",
		    c->peer, act);
		mq_conn_close(c);
		return -1;
	}
	/*
	 * The reply is ready: log first, so the line exists by the time
	 * Postfix has the answer, then the one write.
	 */
	mq_decision_record(c->srv, &c->req, v, mq_now_monotonic_us() - c->t0);
	rc = conn_write(c, buf, n);
	mq_proto_reset(&c->req);
	if (rc < 0) {
		mq_debug("client %s: write: %s", c->peer, strerror(errno));
		mq_conn_close(c);
		return -1;
	}
	conn_arm_timer(c);
	return 0;
}

/* conn_request - decide a complete request: inline on a hit, else a worker. */
static int
conn_request(struct conn *c)
{
	struct mq_server *srv = c->srv;
	struct mq_check_request creq;
	struct mq_verdict verdict = { 0 };
	int r;

	mq_assert(c->state == CONN_READING);
	c->t0 = mq_now_monotonic_us();
	creq.recipient = c->req.recipient;
	/* One byte past MQ_ADDRESS_MAX (a NUL) is enough to say "too long". */
	creq.recipient_len = c->req.recipient_len > MQ_ADDRESS_MAX ?
	    MQ_ADDRESS_MAX + 1 : c->req.recipient_len;
	creq.size = c->req.size;
	creq.stage = c->req.is_policy ? c->req.stage : MQ_STAGE_OTHER;

	if (mq_engine_decide_cached(srv->rt->engine, &creq, &verdict) == 0) {
		srv->st.on_loop++;
		/*
		 * Answered from a figure past its TTL: re-validate it in the
		 * background now (before the reply resets c->req, which creq
		 * points into), so the next request finds it fresh.
		 */
		if (verdict.refresh &&
		    !mq_workers_refresh(srv->workers, srv->rt, &creq))
			mq_debug("refresh queue full: re-validation dropped");
		r = conn_reply(c, &verdict);
		mq_verdict_clear(&verdict);
		return r;
	}
	c->job = job_get(srv);
	mq_job_set(c->job, srv->rt, &creq, c);
	c->state = CONN_DECIDING;
	srv->inflight++;
	mq_workers_submit(srv->workers, c->job);
	return 0;
}

/*
 * conn_process - parse and answer what is buffered, one request at a time,
 * then close when the peer is done (or shutdown asked) and nothing is
 * pending.
 */
static void
conn_process(struct conn *c)
{
	struct mq_server *srv = c->srv;
	size_t off = 0, used;
	int st;

	while (c->state == CONN_READING && !c->closing && off < c->inlen) {
		st = mq_proto_parse(&c->req, c->in + off, c->inlen - off,
		    &srv->limits, &used);
		off += used;
		if (st == MQ_PROTO_MORE)
			break;
		if (st != MQ_PROTO_DONE) {
			srv->st.malformed++;
			mq_warn("client %s: malformed request: %s; closing the connection",
			    c->peer, mq_proto_strerror(st));
			mq_conn_close(c);
			return;
		}
		if (conn_request(c) < 0)
			return;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	if (c->state == CONN_READING && (c->closing || c->eof)) {
		if (c->eof && !c->closing && (c->inlen > 0 || c->req.nbytes > 0))
			mq_debug("client %s: connection ended inside a request",
			    c->peer);
		mq_conn_close(c);
		return;
	}
	if (c->read_paused && !c->eof && c->inlen < c->incap) {
		c->read_paused = false;
		event_add(c->rev, NULL);
	}
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct mq_server *srv = c->srv;
	ssize_t n;

	mq_assert(c->state != CONN_ORPHANED);
	if (c->inlen == c->incap) {
		if (c->incap < srv->in_max) {
			c->incap = c->incap * 2 < srv->in_max ? c->incap * 2 :
			    srv->in_max;
			c->in = xreallocarray(c->in, c->incap, 1);
		} else {
			/* Only while DECIDING or WRITING: pipelined bytes wait here. */
			mq_assert(c->state != CONN_READING);
			c->read_paused = true;
			event_del(c->rev);
			return;
		}
	}
	n = read(c->rfd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		mq_debug("client %s: read: %s", c->peer, strerror(errno));
		mq_conn_close(c);
		return;
	}
	if (n == 0) {
		/* Finish what was sent (a half-closed client still gets its replies). */
		c->eof = true;
		event_del(c->rev);
	} else
		c->inlen += (size_t)n;
	conn_process(c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	mq_assert(c->state == CONN_WRITING);
	n = write(c->wfd, c->out + c->outoff, c->outlen - c->outoff);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		mq_debug("client %s: write: %s", c->peer, strerror(errno));
		mq_conn_close(c);
		return;
	}
	c->outoff += (size_t)n;
	if (c->outoff < c->outlen)
		return;
	c->outoff = c->outlen = 0;
	c->state = CONN_READING;
	event_del(c->wev);
	conn_process(c);
}

static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct mq_server *srv = c->srv;

	if (c->state == CONN_DECIDING) {
		/* A worker has it: the reply, not the client, is late. */
		conn_arm_timer(c);
		return;
	}
	srv->st.timeouts++;
	if (c->state == CONN_WRITING)
		mq_notice("client %s: not reading its reply for %d s; closing the connection",
		    c->peer, srv->idle_secs);
	else if (c->inlen > 0 || c->req.nbytes > 0)
		mq_notice("client %s: request incomplete after %d s; closing the connection",
		    c->peer, srv->idle_secs);
	else
		mq_debug("client %s: idle for %d s; closing the connection",
		    c->peer, srv->idle_secs);
	mq_conn_close(c);
}

struct conn *
mq_conn_new(struct mq_server *srv, int rfd, int wfd, const char *peer,
    bool stdio)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->state = CONN_READING;
	c->rfd = rfd;
	c->wfd = wfd;
	c->stdio = stdio;
	c->incap = srv->in_max < CONN_INBUF_START ? srv->in_max :
	    CONN_INBUF_START;
	c->in = xmalloc(c->incap);
	mq_strlcpy(c->peer, peer, sizeof(c->peer));
	mq_proto_reset(&c->req);
	c->rev = event_new(srv->base, rfd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(srv->base, wfd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->tev = evtimer_new(srv->base, conn_timeout_cb, c);
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL)
		mq_fatal(EX_OSERR, "cannot allocate connection events");
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	srv->st.conns_total++;
	if (event_add(c->rev, NULL) < 0) {
		mq_error("client %s: cannot watch the connection", peer);
		mq_conn_close(c);
		return NULL;
	}
	conn_arm_timer(c);
	return c;
}

void
mq_conn_job_done(struct mq_job *job, void *arg)
{
	struct mq_server *srv = arg;
	struct conn *c = job->owner;
	struct mq_runtime *rt = job->rt;

	mq_assert(c->state == CONN_DECIDING || c->state == CONN_ORPHANED);
	/* Ours now, and the connection's no more: it may close in conn_reply. */
	job->rt = NULL;
	c->job = NULL;
	srv->inflight--;
	if (c->state == CONN_ORPHANED) {
		srv->st.dropped++;
		mq_debug("client %s: gone before its reply; result dropped",
		    c->peer);
		conn_free(c);
	} else {
		c->state = CONN_READING;
		srv->st.by_workers++;
		if (conn_reply(c, &job->verdict) == 0)
			conn_process(c);
	}
	job_put(srv, job);
	mq_runtime_unref(&rt);
	mq_server_loop_done(srv);
}

static int
set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}


int
mq_server_serve_stdio(struct mq_server *srv, int rfd, int wfd)
{
	/* Pipes or a socket; a regular file cannot be non-blocking, no harm. */
	set_nonblock_cloexec(rfd);
	if (wfd != rfd)
		set_nonblock_cloexec(wfd);
	srv->stdio = true;
	return mq_conn_new(srv, rfd, wfd, "stdin", true) != NULL ? 0 : -1;
}

void
mq_conn_stop(struct conn *c)
{
	if (c->state == CONN_READING)
		mq_conn_close(c);
	else
		c->closing = true;
}

void
mq_conn_free_spare_jobs(struct mq_server *srv)
{
	while (srv->spare_jobs != NULL) {
		struct mq_job *job = srv->spare_jobs;

		srv->spare_jobs = job->next;
		mq_job_free(job);
	}
	srv->nspare_jobs = 0;
}
