/* SPDX-License-Identifier: MIT */
/*
 * util - allocation that never fails, strict number parsing, bounded string
 * helpers and log sanitising. Knows nothing about mail.
 *
 * The x*alloc family either succeeds or exits (EX_OSERR): call sites never
 * test for NULL. mq_parse_* accept only plain decimal digits: no sign, no
 * blanks, no junk, no overflow; they return 0 on success, -1 otherwise.
 */
#ifndef MQ_UTIL_H
#define MQ_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MQ_NORETURN __attribute__((noreturn))
#define MQ_NELEM(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) MQ_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) MQ_PRINTF(1, 0);

int mq_parse_u64(const char *s, uint64_t *value_r);
int mq_parse_u64n(const char *s, size_t len, uint64_t *value_r);
int mq_parse_i64n(const char *s, size_t len, int64_t *value_r);

/* mq_strlcpy - copy with truncation; returns strlen(src) like strlcpy(3). */
size_t mq_strlcpy(char *dst, const char *src, size_t size);

/*
 * mq_sanitize - copy untrusted text for a log line: control and non-ASCII
 * bytes become '?', and text longer than dst holds ends in "...".
 */
void mq_sanitize(char *dst, size_t size, const char *src, size_t len);

/*
 * mq_set_error - format a reason into the caller's error buffer, if it
 * gave one (error NULL or errlen 0: nothing is written); a reason longer
 * than the buffer ends in "...".
 */
void mq_set_error(char *error, size_t errlen, const char *fmt, ...)
    MQ_PRINTF(3, 4);
/* mq_vset_error - the same with a va_list (log lines use it too). */
void mq_vset_error(char *error, size_t errlen, const char *fmt, va_list ap)
    MQ_PRINTF(3, 0);

/* mq_shown - mq_sanitize of a whole string into buf (at least 2 bytes); returns buf. */
const char *mq_shown(char *buf, size_t size, const char *s);

/* mq_same_time - two timestamps are equal to the nanosecond. */
static inline bool
mq_same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* mq_human_bytes - "1.5 GiB"-style binary units into buf; returns buf. */
char *mq_human_bytes(char *buf, size_t size, uint64_t bytes);

/* FNV-1a (64 bit), for the hash tables: continue h over a byte or a string. */
#define MQ_FNV1A_INIT UINT64_C(14695981039346656037)

static inline uint64_t
mq_fnv1a_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * UINT64_C(1099511628211);
}

static inline uint64_t
mq_fnv1a_str(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = mq_fnv1a_byte(h, (unsigned char)*s);
	return h;
}

/* mq_write_all - write the whole buffer (retrying on EINTR); 0, or -1 with errno. */
int mq_write_all(int fd, const void *buf, size_t len);

/* Who owns the file mq_write_atomic writes. */
enum mq_owner {
	/* The directory's owner and group, or an error: a Maildir's files,
	 * which Dovecot must go on reading as the mailbox's user. */
	MQ_OWNER_DIR,
	/* The directory's owner and group when written by root; anyone else
	 * keeps the file as created: files shared through their group (and
	 * mode), such as the warning state in a setgid directory. */
	MQ_OWNER_DIR_IF_ROOT,
};

/*
 * mq_write_atomic - replace name in the directory dirfd with data so that a
 * reader sees the old file or the new one, never a part: a new temp file
 * beside it ("NAME.PID.SEQ.tmp", O_EXCL, O_NOFOLLOW) with mode, owned as
 * owner says (fchown when the process is not already the directory's
 * owner and group), written, fsync'ed, renamed over name, then the
 * directory fsync'ed so the rename lasts (best effort: once renamed the
 * new file is in place, so a failure there is not reported). 0, or -1 with
 * the reason in error; on failure name is untouched and the temp file
 * removed.
 */
int mq_write_atomic(int dirfd, const char *name, const void *data, size_t len,
    mode_t mode, enum mq_owner owner, char *error, size_t errlen);

/* mq_cond_wait_ms - pthread_cond_timedwait for at most ms milliseconds. */
int mq_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mtx, unsigned ms);

/* mq_now_monotonic_us - monotonic clock in microseconds. */
uint64_t mq_now_monotonic_us(void);

#endif
