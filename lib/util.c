/* SPDX-License-Identifier: MIT */
/*
 * util - allocation, strict numbers, bounded strings, log sanitising.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void MQ_NORETURN
out_of_memory(size_t size)
{
	mq_fatal(EX_OSERR, "out of memory allocating %zu bytes", size);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		out_of_memory(SIZE_MAX);
	p = realloc(p, n != 0 && size != 0 ? n * size : 1);
	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;
	size_t len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		out_of_memory(strlen(fmt));
	return p;
}

int
mq_parse_u64n(const char *s, size_t len, uint64_t *value_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

int
mq_parse_u64(const char *s, uint64_t *value_r)
{
	return mq_parse_u64n(s, strlen(s), value_r);
}

int
mq_parse_i64n(const char *s, size_t len, int64_t *value_r)
{
	uint64_t v;
	bool neg = len > 0 && s[0] == '-';

	if (mq_parse_u64n(s + neg, len - neg, &v) < 0)
		return -1;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -1;
		*value_r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > INT64_MAX)
			return -1;
		*value_r = (int64_t)v;
	}
	return 0;
}

size_t
mq_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void
mq_sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n;

	if (size == 0)
		return;
	n = len < size - 1 ? len : size - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
	if (n < len && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

void
mq_vset_error(char *error, size_t errlen, const char *fmt, va_list ap)
{
	int n;

	if (error == NULL || errlen == 0)
		return;
	n = vsnprintf(error, errlen, fmt, ap);
	/* A text longer than the buffer says that it was cut. */
	if (n >= 0 && (size_t)n >= errlen && errlen > 4)
		memcpy(error + errlen - 4, "...", 4);
}

void
mq_set_error(char *error, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mq_vset_error(error, errlen, fmt, ap);
	va_end(ap);
}

const char *
mq_shown(char *buf, size_t size, const char *s)
{
	mq_sanitize(buf, size, s, strlen(s));
	return buf;
}

char *
mq_human_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < MQ_NELEM(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

uint64_t
mq_now_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
mq_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mtx, unsigned ms)
{
	struct timespec until;

	/* pthread_cond_timedwait takes a deadline on the realtime clock. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return pthread_cond_timedwait(cond, mtx, &until);
}

int
mq_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* write_temp - fill the new temp file fd: owner, mode, data, fsync, close. */
static int
write_temp(int fd, const struct stat *dir, const char *tmp, const void *data,
    size_t len, mode_t mode, enum mq_owner owner, char *error, size_t errlen)
{
	bool hand_over = owner == MQ_OWNER_DIR || geteuid() == 0;

	/* Owned like the directory, so its owner's programs can replace it. */
	if (hand_over && (geteuid() != dir->st_uid || getegid() != dir->st_gid) &&
	    fchown(fd, dir->st_uid, dir->st_gid) < 0) {
		mq_set_error(error, errlen, "cannot give %s to uid %lu gid %lu: %s",
		    tmp, (unsigned long)dir->st_uid, (unsigned long)dir->st_gid,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) < 0 || mq_write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		mq_set_error(error, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		mq_set_error(error, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
mq_write_atomic(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode, enum mq_owner owner, char *error, size_t errlen)
{
	static atomic_uint seq;
	struct stat dir;
	char *tmp;
	int fd;

	if (fstat(dirfd, &dir) < 0) {
		mq_set_error(error, errlen, "cannot stat the directory of %s: %s",
		    name, strerror(errno));
		return -1;
	}
	tmp = xasprintf("%s.%ld.%u.tmp", name, (long)getpid(),
	    atomic_fetch_add(&seq, 1));
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd < 0) {
		mq_set_error(error, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		free(tmp);
		return -1;
	}
	if (write_temp(fd, &dir, tmp, data, len, mode, owner, error, errlen) < 0)
		goto fail;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		mq_set_error(error, errlen, "cannot rename %s to %s: %s", tmp,
		    name, strerror(errno));
		goto fail;
	}
	(void)fsync(dirfd);
	free(tmp);
	return 0;

fail:
	(void)unlinkat(dirfd, tmp, 0);
	free(tmp);
	return -1;
}
