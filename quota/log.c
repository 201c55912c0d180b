/*
 * log - syslog and/or stderr, one line per message.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static enum mq_log_level min_level = MQ_LOG_INFO;
static bool use_stderr = true;
static bool use_syslog;
static const char *log_ident = "mailquota";

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
 * stderr_is_journal - systemd sets JOURNAL_STREAM=DEV:INODE when stderr is
 * the journal; syslog reaches the journal too, so writing both would log
 * every line twice.
 */
static bool
stderr_is_journal(void)
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
	if (to_stderr && to_syslog && stderr_is_journal())
		to_stderr = false;
	log_ident = ident;
	min_level = level;
	use_stderr = to_stderr;
	if (use_syslog)
		closelog();
	use_syslog = to_syslog;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void
mq_log_set_level(enum mq_log_level level)
{
	min_level = level;
}

bool
mq_log_enabled(enum mq_log_level level)
{
	return level >= min_level;
}

static void MQ_PRINTF(2, 0)
vlog(enum mq_log_level level, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (use_syslog)
		syslog(syslog_prio[level], "%s", line);
	if (use_stderr) {
		/* One write per line, so threads do not interleave. */
		char out[2200];
		int n = snprintf(out, sizeof(out), "%s: %s%s%s\n", log_ident,
		    level >= MQ_LOG_WARNING ? level_name[level] : "",
		    level >= MQ_LOG_WARNING ? ": " : "", line);

		if (n > (int)sizeof(out) - 1)
			n = sizeof(out) - 1;
		fwrite(out, 1, (size_t)n, stderr);
	}
}

void
mq_log(enum mq_log_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (level < min_level)
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

	va_start(ap, fmt);
	vlog(MQ_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(exit_code);
}
