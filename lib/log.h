/* SPDX-License-Identifier: MIT */
/*
 * log - one logger for every program: syslog, and stderr when asked (-f, a
 * terminal, the CLI). Per-request problems are warnings; mq_fatal is only for
 * start-up, configuration and resource failures, never for anything a
 * network peer sent.
 */
#ifndef MQ_LOG_H
#define MQ_LOG_H

#include <stdbool.h>
#include "util.h"

enum mq_log_level {
	MQ_LOG_DEBUG,
	MQ_LOG_INFO,
	MQ_LOG_NOTICE,
	MQ_LOG_WARNING,
	MQ_LOG_ERR,
};

/* mq_log_open - ident for syslog, facility as LOG_MAIL etc., lowest level shown. */
/* mq_log_stderr_is_journal - whether stderr is systemd's journal stream,
 * which tells a service from a program run by hand. */
bool mq_log_stderr_is_journal(void);
void mq_log_open(const char *ident, int facility, enum mq_log_level level,
    bool to_stderr, bool to_syslog);
void mq_log_set_level(enum mq_log_level level);
bool mq_log_enabled(enum mq_log_level level);

/*
 * mq_log_async_start - from now on a line is queued and a thread of its own
 * writes it, so logging never blocks the caller (the daemon's event loop);
 * when the queue is full, lines are dropped and their number is logged
 * later. Call it after any fork. -1 when the thread cannot be started
 * (lines are then written directly, as before).
 * mq_log_async_stop - write out what is queued, end the thread and write
 * directly again; before _exit(2). mq_fatal calls it.
 */
int mq_log_async_start(void);
void mq_log_async_stop(void);

void mq_log(enum mq_log_level level, const char *fmt, ...) MQ_PRINTF(2, 3);
#define mq_debug(...) do { if (mq_log_enabled(MQ_LOG_DEBUG)) mq_log(MQ_LOG_DEBUG, __VA_ARGS__); } while (0)
#define mq_info(...) mq_log(MQ_LOG_INFO, __VA_ARGS__)
#define mq_notice(...) mq_log(MQ_LOG_NOTICE, __VA_ARGS__)
#define mq_warn(...) mq_log(MQ_LOG_WARNING, __VA_ARGS__)
#define mq_error(...) mq_log(MQ_LOG_ERR, __VA_ARGS__)

/* mq_fatal - log at error level and exit with a sysexits(3) code. */
void mq_fatal(int exit_code, const char *fmt, ...) MQ_PRINTF(2, 3) MQ_NORETURN;

/*
 * mq_panic - a bug, not a condition: log "panic: ..." at error level and
 * abort(3), for a core file. mq_assert(cond) panics with the file, line and
 * condition when cond is false. Always compiled in (NDEBUG does not remove
 * it): use it for states the code cannot reach, never to check input.
 */
void mq_panic(const char *fmt, ...) MQ_PRINTF(1, 2) MQ_NORETURN;
#define mq_assert(cond) ((cond) ? (void)0 : \
	mq_panic("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond))

#endif
