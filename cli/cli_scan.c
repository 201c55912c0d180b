/* SPDX-License-Identifier: MIT */
/*
 * cli_scan - the users query into a list, and a small thread pool over it.
 *
 * Work is handed out by one atomic index, so a slow mailbox (a recount of
 * a large Maildir) holds up one thread and not a whole batch. Each thread
 * opens its own session (database connection) on the shared engine, as the
 * daemon's workers do. The calling thread only waits and, on a terminal,
 * draws the progress bar; workers never write to the terminal.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli_scan.h"
#include "log.h"
#include "util.h"

#define PROGRESS_AFTER_US 1000000	/* a scan shorter than this shows nothing */
#define PROGRESS_TICK_MS 100
#define PROGRESS_WIDTH 30
#define MAX_THREADS 64

struct users_ctx {
	struct mq_strlist *list;
	const char *domain;
};

/* users_row - keep one address of the users query (of the domain asked for). */
static int
users_row(void *ctx, const char *address)
{
	struct users_ctx *u = ctx;
	const char *at;

	if (u->domain != NULL && ((at = strrchr(address, '@')) == NULL ||
	    strcasecmp(at + 1, u->domain) != 0))
		return 0;
	mq_strlist_add(u->list, address);
	return 0;
}

static int
by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
mq_scan_users(struct mq_session *session, const char *domain,
    struct mq_strlist *list, char *error, size_t errlen)
{
	struct users_ctx u = { .list = list, .domain = domain };
	size_t i, m = 0;
	int r;

	r = mq_session_each_user(session, users_row, &u, error, errlen);
	if (r == MQ_TEMPFAIL)
		return MQ_TEMPFAIL;
	/* Sorted and unique: a stable order for every output. */
	qsort(list->v, list->n, sizeof(*list->v), by_string);
	for (i = 0; i < list->n; i++) {
		if (m > 0 && strcmp(list->v[m - 1], list->v[i]) == 0)
			free(list->v[i]);
		else
			list->v[m++] = list->v[i];
	}
	list->n = m;
	return MQ_FOUND;
}

unsigned
mq_scan_threads(const struct mq_config *cfg)
{
	int n = cfg->db.connections;

	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

struct pool {
	struct mq_engine *engine;
	mq_scan_fn *fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
	atomic_size_t done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned running;
};

static void *
pool_worker(void *arg)
{
	struct pool *p = arg;
	struct mq_session *s = mq_session_new(p->engine);
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		p->fn(s, i, p->ctx);
		atomic_fetch_add(&p->done, 1);
	}
	mq_session_free(&s);
	pthread_mutex_lock(&p->lock);
	p->running--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* progress_draw - "[#####.....]  45%  45000/100000 mailboxes" over itself. */
static void
progress_draw(size_t done, size_t n)
{
	char bar[PROGRESS_WIDTH + 1];
	size_t fill = n == 0 ? PROGRESS_WIDTH : done * PROGRESS_WIDTH / n;

	memset(bar, '#', fill);
	memset(bar + fill, '.', PROGRESS_WIDTH - fill);
	bar[PROGRESS_WIDTH] = '\0';
	fprintf(stderr, "\r[%s] %3zu%%  %zu/%zu mailboxes", bar,
	    n == 0 ? 100 : done * 100 / n, done, n);
	fflush(stderr);
}

void
mq_scan_run(struct mq_engine *engine, size_t n, unsigned threads,
    mq_scan_fn *fn, void *ctx)
{
	struct pool p = { .engine = engine, .fn = fn, .ctx = ctx, .n = n };
	pthread_t tid[MAX_THREADS];
	bool tty = isatty(STDERR_FILENO), drawn = false;
	uint64_t start = mq_now_monotonic_us();
	unsigned i, started = 0;

	if (n == 0)
		return;
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (threads > n)
		threads = (unsigned)n;
	atomic_init(&p.next, 0);
	atomic_init(&p.done, 0);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);

	pthread_mutex_lock(&p.lock);
	for (i = 0; i < threads; i++) {
		int e = pthread_create(&tid[started], NULL, pool_worker, &p);

		if (e != 0) {
			mq_warn("cannot start a scan thread: %s", strerror(e));
			continue;
		}
		started++;
		p.running++;
	}
	if (started == 0) {
		/* No thread at all: do the work here. */
		pthread_mutex_unlock(&p.lock);
		p.running = 1;
		pool_worker(&p);
		pthread_mutex_lock(&p.lock);
	}
	while (p.running > 0) {
		(void)mq_cond_wait_ms(&p.cond, &p.lock, PROGRESS_TICK_MS);
		if (tty && p.running > 0 &&
		    mq_now_monotonic_us() - start >= PROGRESS_AFTER_US) {
			progress_draw(atomic_load(&p.done), n);
			drawn = true;
		}
	}
	pthread_mutex_unlock(&p.lock);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (drawn) {
		fputs("\r\033[K", stderr);	/* leave the line clean */
		fflush(stderr);
	}
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
}
