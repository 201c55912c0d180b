/* SPDX-License-Identifier: MIT */
/*
 * log - syslog and/or stderr, one line per message.
 *
 * Written directly by default. The daemon switches to queued writing
 * (mq_log_async_start): a line is copied into a buffer and a thread of its
 * own hands it to syslog(3) and stderr, so a slow journal or a stderr pipe
 * nobody reads never holds up the event loop. The logger swaps two buffers
 * and writes one while the other fills; it wakes for the first line after
 * a quiet spell, then at most every ASYNC_BATCH_MS (sooner when a buffer is
 * half full), so a busy daemon does not pay a thread wake-up per line.
 * When both are full, lines are dropped and counted, and the count is
 * logged once the logger catches up.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_LEN 2048
#define ASYNC_BUF (256 * 1024)	/* each of the two buffers */
#define ASYNC_BATCH_MS 10
#define ENTRY_HEAD 3		/* level, then the length in two bytes */

static atomic_int min_level = MQ_LOG_INFO;	/* read by every thread */
static atomic_bool async_on;	/* queued writing: lets the direct path skip its mutex */
/* Where lines go. The logging thread takes a copy per batch, under sinks_mtx. */
struct sinks {
	const char *ident;
	bool to_stderr, to_syslog;
};
static struct sinks sinks = { "mailquota", true, false };
static pthread_mutex_t sinks_mtx = PTHREAD_MUTEX_INITIALIZER;

static const int syslog_prio[] = {
	[MQ_LOG_DEBUG] = LOG_DEBUG,
	[MQ_LOG_INFO] = LOG_INFO,
	[MQ_LOG_NOTICE] = LOG_NOTICE,
	[MQ_LOG_WARNING] = LOG_WARNING,
	[MQ_LOG_ERR] = LOG_ERR,
};

static const char *const level_name[] = {
	[MQ_LOG_DEBUG] = "debug",
	[MQ_LOG_INFO] = "info",
	[MQ_LOG_NOTICE] = "notice",
	[MQ_LOG_WARNING] = "warning",
	[MQ_LOG_ERR] = "error",
};

/*
 * mq_log_stderr_is_journal - systemd sets JOURNAL_STREAM=DEV:INODE when
 * stderr is the journal; syslog reaches the journal too, so writing both
 * would log every line twice.
 */
bool
mq_log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM"), *colon;
	uint64_t dev, ino;
	struct stat st;

	if (js == NULL || (colon = strchr(js, ':')) == NULL ||
	    mq_parse_u64n(js, (size_t)(colon - js), &dev) < 0 ||
	    mq_parse_u64(colon + 1, &ino) < 0)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 && (uint64_t)st.st_dev == dev &&
	    (uint64_t)st.st_ino == ino;
}

void
mq_log_open(const char *ident, int facility, enum mq_log_level level,
    bool to_stderr, bool to_syslog)
{
	if (to_stderr && to_syslog && mq_log_stderr_is_journal())
		to_stderr = false;
	mq_log_set_level(level);
	/* Not waiting for the logging thread: it may be stuck on a full stderr. */
	pthread_mutex_lock(&sinks_mtx);
	if (sinks.to_syslog)
		closelog();
	sinks = (struct sinks){ ident, to_stderr, to_syslog };
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	pthread_mutex_unlock(&sinks_mtx);
}

void
mq_log_set_level(enum mq_log_level level)
{
	atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

bool
mq_log_enabled(enum mq_log_level level)
{
	return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

/* emit - one line to syslog and/or stderr, now. */
static void
emit(const struct sinks *to, enum mq_log_level level, const char *line)
{
	if (to->to_syslog)
		syslog(syslog_prio[level], "%s", line);
	if (to->to_stderr) {
		/* One write per line, so threads do not interleave. */
		char out[LINE_MAX_LEN + 150];
		int n = snprintf(out, sizeof(out), "%s: %s%s%s\n", to->ident,
		    level >= MQ_LOG_WARNING ? level_name[level] : "",
		    level >= MQ_LOG_WARNING ? ": " : "", line);

		if (n > (int)sizeof(out) - 1)
			n = sizeof(out) - 1;
		fwrite(out, 1, (size_t)n, stderr);
	}
}

/* Queued writing. The mutex guards everything in async but the thread. */
static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stopping;
	bool waiting;		/* the logger sleeps until the next line */
	char *fill;		/* lines waiting */
	size_t len;
	char *spare;		/* the logger's, while it writes */
	uint64_t dropped;
} async = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* enqueue - false when queued writing is off and the caller writes itself. */
static bool
enqueue(enum mq_log_level level, const char *line)
{
	size_t n = strlen(line);
	bool wake;

	if (!atomic_load_explicit(&async_on, memory_order_acquire))
		return false;
	pthread_mutex_lock(&async.mtx);
	/* While stopping, the thread may have taken its last batch already. */
	if (!async.running || async.stopping) {
		pthread_mutex_unlock(&async.mtx);
		return false;
	}
	if (async.len + ENTRY_HEAD + n > ASYNC_BUF) {
		async.dropped++;
		pthread_mutex_unlock(&async.mtx);
		return true;
	}
	async.fill[async.len] = (char)level;
	async.fill[async.len + 1] = (char)(n >> 8);
	async.fill[async.len + 2] = (char)(n & 0xff);
	memcpy(async.fill + async.len + ENTRY_HEAD, line, n);
	/* Wake the logger for a first line, or when half the buffer is used. */
	wake = async.waiting || (async.len < ASYNC_BUF / 2 &&
	    async.len + ENTRY_HEAD + n >= ASYNC_BUF / 2);
	async.len += ENTRY_HEAD + n;
	async.waiting = false;
	pthread_mutex_unlock(&async.mtx);
	if (wake)
		pthread_cond_signal(&async.cond);
	return true;
}

/* write_batch - every line of buf, then the count of lines dropped. */
static void
write_batch(const char *buf, size_t len, uint64_t dropped)
{
	char line[LINE_MAX_LEN];
	struct sinks to;
	size_t i = 0;

	pthread_mutex_lock(&sinks_mtx);
	to = sinks;
	pthread_mutex_unlock(&sinks_mtx);

	while (i + ENTRY_HEAD <= len) {
		enum mq_log_level level = (enum mq_log_level)buf[i];
		size_t n = ((size_t)(unsigned char)buf[i + 1] << 8) |
		    (unsigned char)buf[i + 2];

		memcpy(line, buf + i + ENTRY_HEAD, n);
		line[n] = '\0';
		emit(&to, level, line);
		i += ENTRY_HEAD + n;
	}
	if (dropped > 0) {
		snprintf(line, sizeof(line), "%llu log line(s) dropped: the "
		    "log could not be written fast enough",
		    (unsigned long long)dropped);
		emit(&to, MQ_LOG_WARNING, line);
	}
	if (to.to_stderr)
		fflush(stderr);
}

static void *
logger_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&async.mtx);
	for (;;) {
		char *batch;
		size_t len;
		uint64_t dropped;

		while (async.len == 0 && async.dropped == 0 && !async.stopping) {
			async.waiting = true;
			pthread_cond_wait(&async.cond, &async.mtx);
		}
		async.waiting = false;
		if (async.len == 0 && async.dropped == 0)
			break;		/* stopping, and nothing left */
		batch = async.fill;
		len = async.len;
		dropped = async.dropped;
		async.fill = async.spare;
		async.len = 0;
		async.dropped = 0;
		pthread_mutex_unlock(&async.mtx);

		write_batch(batch, len, dropped);

		pthread_mutex_lock(&async.mtx);
		async.spare = batch;
		/* Let a few lines gather rather than wake for each one. */
		if (!async.stopping && async.len < ASYNC_BUF / 2)
			(void)mq_cond_wait_ms(&async.cond, &async.mtx, ASYNC_BATCH_MS);
	}
	pthread_mutex_unlock(&async.mtx);
	return NULL;
}

int
mq_log_async_start(void)
{
	sigset_t all, old;
	int err;

	pthread_mutex_lock(&async.mtx);
	if (async.running) {
		pthread_mutex_unlock(&async.mtx);
		return 0;
	}
	pthread_cond_init(&async.cond, NULL);
	async.fill = xmalloc(ASYNC_BUF);
	async.spare = xmalloc(ASYNC_BUF);
	async.len = 0;
	async.dropped = 0;
	async.stopping = false;
	/* Signals belong to the caller's thread (the event loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&async.thread, NULL, logger_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		free(async.fill);
		free(async.spare);
		pthread_cond_destroy(&async.cond);
		pthread_mutex_unlock(&async.mtx);
		return -1;
	}
	async.running = true;
	atomic_store_explicit(&async_on, true, memory_order_release);
	pthread_mutex_unlock(&async.mtx);
	return 0;
}

void
mq_log_async_stop(void)
{
	pthread_mutex_lock(&async.mtx);
	if (!async.running || async.stopping ||
	    pthread_equal(async.thread, pthread_self())) {
		pthread_mutex_unlock(&async.mtx);
		return;
	}
	async.stopping = true;
	pthread_cond_signal(&async.cond);
	pthread_mutex_unlock(&async.mtx);
	pthread_join(async.thread, NULL);

	pthread_mutex_lock(&async.mtx);
	async.running = false;
	atomic_store_explicit(&async_on, false, memory_order_release);
	free(async.fill);
	free(async.spare);
	async.fill = async.spare = NULL;
	pthread_cond_destroy(&async.cond);
	pthread_mutex_unlock(&async.mtx);
}

static void MQ_PRINTF(2, 0)
vlog(enum mq_log_level level, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN];

	mq_vset_error(line, sizeof(line), fmt, ap);	/* a cut line ends in "..." */
	if (!enqueue(level, line))
		emit(&sinks, level, line);
}

void
mq_log(enum mq_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!mq_log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
mq_fatal(int exit_code, const char *fmt, ...)
{
	va_list ap;

	/* What is queued goes out first, and this line straight after. */
	mq_log_async_stop();
	va_start(ap, fmt);
	vlog(MQ_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(exit_code);
}

void
mq_panic(const char *fmt, ...)
{
	char msg[LINE_MAX_LEN];
	va_list ap;

	mq_log_async_stop();
	va_start(ap, fmt);
	mq_vset_error(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mq_log(MQ_LOG_ERR, "panic: %s", msg);
	abort();
}
