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
void mq_log_open(const char *ident, int facility, enum mq_log_level level,
    bool to_stderr, bool to_syslog);
void mq_log_set_level(enum mq_log_level level);
bool mq_log_enabled(enum mq_log_level level);

void mq_log(enum mq_log_level level, const char *fmt, ...) MQ_PRINTF(2, 3);
#define mq_debug(...) do { if (mq_log_enabled(MQ_LOG_DEBUG)) mq_log(MQ_LOG_DEBUG, __VA_ARGS__); } while (0)
#define mq_info(...) mq_log(MQ_LOG_INFO, __VA_ARGS__)
#define mq_notice(...) mq_log(MQ_LOG_NOTICE, __VA_ARGS__)
#define mq_warn(...) mq_log(MQ_LOG_WARNING, __VA_ARGS__)
#define mq_error(...) mq_log(MQ_LOG_ERR, __VA_ARGS__)

/* mq_fatal - log at error level and exit with a sysexits(3) code. */
void mq_fatal(int exit_code, const char *fmt, ...) MQ_PRINTF(2, 3) MQ_NORETURN;

#endif
