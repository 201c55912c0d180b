/* SPDX-License-Identifier: MIT */
/*
 * workers - the thread pool that answers what the caches cannot.
 *
 * A runtime is one loaded configuration with the engine built from it,
 * reference counted: the server holds the current one, every job in flight
 * and every worker's session hold theirs, so after a reload the old engine
 * and configuration are freed when the last of them lets go (on whichever
 * thread that is).
 *
 * The event loop submits a job (a request copied into it, a runtime
 * reference); a worker runs mq_session_decide on it with its own session
 * (its own database connection), which may block on the database and the
 * disk; the finished job goes on a locked completion queue and one
 * event_active wakes the loop, which calls the done callback for each job
 * there, on the loop thread. Workers never touch connections. Background
 * re-validations (mq_workers_refresh) wait on a queue of their own, behind
 * every request, and are freed by the worker that ran them.
 *
 * A worker whose session belongs to another runtime than the job's (or,
 * when idle, than the current one) frees it and opens a new one.
 */
#ifndef MQ_WORKERS_H
#define MQ_WORKERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "config.h"
#include "engine.h"

struct event_base;

struct mq_runtime {
	struct mq_config *cfg;		/* owned */
	/*
	 * Built from cfg; it applies dry_run and on_error itself, and the
	 * verdict keeps the reply not sent (withheld) for the decision log.
	 */
	struct mq_engine *engine;	/* owned */
	atomic_uint refs;
	unsigned generation;		/* 1 for the first, +1 per reload */
};

/* mq_runtime_new - build the engine for cfg (taken over); one reference. */
struct mq_runtime *mq_runtime_new(struct mq_config *cfg, unsigned generation);
struct mq_runtime *mq_runtime_ref(struct mq_runtime *rt);
/* mq_runtime_unref - drop a reference; the last one frees engine and config. */
void mq_runtime_unref(struct mq_runtime **rt);

struct mq_job {
	struct mq_job *next;
	struct mq_runtime *rt;		/* a reference held while the job lives */
	struct mq_check_request req;	/* recipient points into recipient[] */
	char recipient[MQ_ADDRESS_MAX + 2];
	struct mq_verdict verdict;
	void *owner;			/* for the done callback */
};

/* Called on the loop thread for each finished job. */
typedef void mq_job_done_fn(struct mq_job *job, void *arg);

struct mq_workers;

/*
 * mq_workers_new - start nthreads workers, each with a session of rt. Must
 * be called after evthread_use_pthreads() and the base's creation.
 */
struct mq_workers *mq_workers_new(struct event_base *base, int nthreads,
    struct mq_runtime *rt, mq_job_done_fn *done, void *arg);

/* mq_job_new, mq_job_free - a job with an empty verdict; the job and what its verdict holds. */
struct mq_job *mq_job_new(void);
void mq_job_free(struct mq_job *job);

/*
 * mq_job_set - fill a job for a request: copies the recipient (at most
 * MQ_ADDRESS_MAX + 1 bytes, enough to show it is too long) and takes a
 * reference on rt, which the done callback must release (mq_runtime_unref).
 */
void mq_job_set(struct mq_job *job, struct mq_runtime *rt,
    const struct mq_check_request *req, void *owner);

void mq_workers_submit(struct mq_workers *w, struct mq_job *job);

#define MQ_WORKERS_REFRESH_MAX 64	/* background jobs waiting, at most */

/*
 * mq_workers_refresh - queue a background re-validation of req under rt (a
 * verdict with refresh set): a worker runs mq_session_decide on it and
 * throws the verdict away; there is no done callback. A worker takes these
 * only when no request is waiting, and when MQ_WORKERS_REFRESH_MAX are
 * already queued the new one is dropped (false): the figure it was about
 * stays in the cache until it is too old to serve. No reference to req is
 * kept.
 */
bool mq_workers_refresh(struct mq_workers *w, struct mq_runtime *rt,
    const struct mq_check_request *req);
/* mq_workers_set_runtime - new sessions for idle workers after a reload. */
void mq_workers_set_runtime(struct mq_workers *w, struct mq_runtime *rt);
int mq_workers_count(const struct mq_workers *w);
/* mq_workers_queued - jobs waiting for a worker (not yet picked up). */
size_t mq_workers_queued(struct mq_workers *w);

/*
 * mq_workers_free - stop and join every worker. Jobs still queued are not
 * run and their done callback is not called: call it only when nothing is
 * in flight, or when the process is about to exit anyway.
 */
void mq_workers_free(struct mq_workers **w);

#endif
