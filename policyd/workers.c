/* SPDX-License-Identifier: MIT */
/*
 * workers - the thread pool behind the event loop: runtimes (configuration
 * + engine, reference counted), jobs, worker threads with one session each,
 * and the completion queue back to the loop. See workers.h.
 *
 * Locking: the pool mutex guards the job queue, the current runtime and
 * the stop flag; the done mutex guards the completion queue. Neither is
 * held while a job runs or while a done callback runs.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "workers.h"

struct mq_workers {
	struct event_base *base;
	mq_job_done_fn *done;
	void *done_arg;

	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct mq_job *head, *tail;	/* waiting for a worker */
	size_t queued;
	struct mq_job *rhead, *rtail;	/* background re-validations, after those */
	size_t rqueued;
	struct mq_runtime *current;	/* a reference */
	bool stopping;

	pthread_mutex_t done_mtx;
	struct mq_job *done_head, *done_tail;
	struct event *done_ev;		/* made active by a worker */

	int nthreads;
	pthread_t *threads;
};

struct mq_runtime *
mq_runtime_new(struct mq_config *cfg, unsigned generation)
{
	struct mq_runtime *rt = xcalloc(1, sizeof(*rt));

	rt->cfg = cfg;
	rt->engine = mq_engine_new(cfg);
	if (rt->engine == NULL)
		mq_fatal(EX_SOFTWARE, "cannot build the quota engine");
	atomic_init(&rt->refs, 1);
	rt->generation = generation;
	return rt;
}

struct mq_runtime *
mq_runtime_ref(struct mq_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void
mq_runtime_unref(struct mq_runtime **rtp)
{
	struct mq_runtime *rt = *rtp;
	unsigned refs;

	*rtp = NULL;
	if (rt == NULL)
		return;
	refs = atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel);
	mq_assert(refs >= 1);	/* one unref too many would free it twice */
	if (refs != 1)
		return;
	/* Sessions hold references too, so no session uses the engine now. */
	mq_debug("configuration generation %u released", rt->generation);
	mq_engine_free(&rt->engine);
	mq_config_free(&rt->cfg);
	free(rt);
}

struct mq_job *
mq_job_new(void)
{
	return xcalloc(1, sizeof(struct mq_job));
}

void
mq_job_free(struct mq_job *job)
{
	if (job == NULL)
		return;
	mq_verdict_clear(&job->verdict);
	free(job);
}

void
mq_job_set(struct mq_job *job, struct mq_runtime *rt,
    const struct mq_check_request *req, void *owner)
{
	size_t n = req->recipient_len;

	if (n > MQ_ADDRESS_MAX + 1)
		n = MQ_ADDRESS_MAX + 1;
	if (n > 0)
		memcpy(job->recipient, req->recipient, n);
	job->recipient[n] = '\0';
	job->req = *req;
	job->req.recipient = job->recipient;
	job->req.recipient_len = n;
	job->rt = mq_runtime_ref(rt);
	job->owner = owner;
	job->next = NULL;
}

/* done_cb - on the loop thread: hand every finished job to the server. */
static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq_workers *w = arg;
	struct mq_job *job, *next;

	pthread_mutex_lock(&w->done_mtx);
	job = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->done_mtx);

	for (; job != NULL; job = next) {
		next = job->next;	/* the callback may free the job */
		job->next = NULL;
		w->done(job, w->done_arg);
	}
}

/* post_done - queue a finished job and wake the loop once per batch. */
static void
post_done(struct mq_workers *w, struct mq_job *job)
{
	bool wake;

	job->next = NULL;
	pthread_mutex_lock(&w->done_mtx);
	wake = w->done_head == NULL;
	if (w->done_tail != NULL)
		w->done_tail->next = job;
	else
		w->done_head = job;
	w->done_tail = job;
	pthread_mutex_unlock(&w->done_mtx);
	if (wake)
		event_active(w->done_ev, EV_READ, 0);
}

/* switch_session - give up the session of *rtp and open one for rt (a reference, taken over). */
static void
switch_session(struct mq_session **session, struct mq_runtime **rtp,
    struct mq_runtime *rt)
{
	mq_session_free(session);
	mq_runtime_unref(rtp);
	*rtp = rt;
	*session = mq_session_new(rt->engine);
	if (*session == NULL)
		mq_fatal(EX_SOFTWARE, "cannot create a database session");
}

static void *
worker_main(void *arg)
{
	struct mq_workers *w = arg;
	struct mq_runtime *rt = NULL;
	struct mq_session *session = NULL;
	struct mq_job *job;
	bool background;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (!w->stopping && w->head == NULL && w->rhead == NULL &&
		    rt == w->current)
			pthread_cond_wait(&w->cond, &w->mtx);
		if (w->stopping)
			break;
		if (w->head == NULL && w->rhead == NULL) {
			/* Idle after a reload (or at start): follow the current runtime. */
			struct mq_runtime *cur = mq_runtime_ref(w->current);

			pthread_mutex_unlock(&w->mtx);
			switch_session(&session, &rt, cur);
			pthread_mutex_lock(&w->mtx);
			continue;
		}
		if ((job = w->head) != NULL) {
			w->head = job->next;
			if (w->head == NULL)
				w->tail = NULL;
			w->queued--;
			background = false;
		} else {
			job = w->rhead;
			w->rhead = job->next;
			if (w->rhead == NULL)
				w->rtail = NULL;
			w->rqueued--;
			background = true;
		}
		pthread_mutex_unlock(&w->mtx);

		if (job->rt != rt)
			switch_session(&session, &rt, mq_runtime_ref(job->rt));
		mq_session_decide(session, &job->req, &job->verdict);
		if (background) {
			/* Only the caches it refilled count; nobody waits for it. */
			mq_runtime_unref(&job->rt);
			mq_job_free(job);
		} else {
			post_done(w, job);
		}

		pthread_mutex_lock(&w->mtx);
	}
	pthread_mutex_unlock(&w->mtx);
	mq_session_free(&session);
	mq_runtime_unref(&rt);
	return NULL;
}

struct mq_workers *
mq_workers_new(struct event_base *base, int nthreads, struct mq_runtime *rt,
    mq_job_done_fn *done, void *arg)
{
	struct mq_workers *w = xcalloc(1, sizeof(*w));
	sigset_t all, old;
	int i, err;

	if (nthreads < 1)
		nthreads = 1;
	w->base = base;
	w->done = done;
	w->done_arg = arg;
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->done_mtx, NULL);
	w->current = mq_runtime_ref(rt);
	w->done_ev = event_new(base, -1, EV_PERSIST, done_cb, w);
	if (w->done_ev == NULL)
		mq_fatal(EX_OSERR, "cannot create the completion event");

	/* Signals go to the loop thread only: block them in every worker. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	w->threads = xcalloc((size_t)nthreads, sizeof(*w->threads));
	for (i = 0; i < nthreads; i++) {
		if ((err = pthread_create(&w->threads[i], NULL, worker_main, w)) != 0)
			mq_fatal(EX_OSERR, "cannot start a worker thread: %s",
			    strerror(err));
		w->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}

void
mq_workers_submit(struct mq_workers *w, struct mq_job *job)
{
	/* Its verdict goes back to an owner; a refresh has none (mq_workers_refresh). */
	mq_assert(job->owner != NULL && job->rt != NULL);
	job->next = NULL;
	pthread_mutex_lock(&w->mtx);
	if (w->tail != NULL)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	w->queued++;
	pthread_mutex_unlock(&w->mtx);
	/* After the unlock: a woken worker does not block on the mutex at once. */
	pthread_cond_signal(&w->cond);
}

bool
mq_workers_refresh(struct mq_workers *w, struct mq_runtime *rt,
    const struct mq_check_request *req)
{
	struct mq_job *job;

	/* Only the loop thread adds: the count cannot grow before the insert. */
	pthread_mutex_lock(&w->mtx);
	if (w->rqueued >= MQ_WORKERS_REFRESH_MAX || w->stopping) {
		pthread_mutex_unlock(&w->mtx);
		return false;
	}
	pthread_mutex_unlock(&w->mtx);

	job = mq_job_new();
	mq_job_set(job, rt, req, NULL);
	pthread_mutex_lock(&w->mtx);
	if (w->rtail != NULL)
		w->rtail->next = job;
	else
		w->rhead = job;
	w->rtail = job;
	w->rqueued++;
	pthread_mutex_unlock(&w->mtx);
	pthread_cond_signal(&w->cond);
	return true;
}

void
mq_workers_set_runtime(struct mq_workers *w, struct mq_runtime *rt)
{
	struct mq_runtime *old;

	pthread_mutex_lock(&w->mtx);
	old = w->current;
	w->current = mq_runtime_ref(rt);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	mq_runtime_unref(&old);
}

int
mq_workers_count(const struct mq_workers *w)
{
	return w->nthreads;
}

size_t
mq_workers_queued(struct mq_workers *w)
{
	size_t n;

	pthread_mutex_lock(&w->mtx);
	n = w->queued;
	pthread_mutex_unlock(&w->mtx);
	return n;
}

void
mq_workers_free(struct mq_workers **wp)
{
	struct mq_workers *w = *wp;
	struct mq_job *job;
	int i;

	*wp = NULL;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	while ((job = w->rhead) != NULL) {
		w->rhead = job->next;
		mq_runtime_unref(&job->rt);
		mq_job_free(job);
	}
	event_free(w->done_ev);
	mq_runtime_unref(&w->current);
	pthread_mutex_destroy(&w->mtx);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->done_mtx);
	free(w);
}
