/* SPDX-License-Identifier: MIT */
/*
 * buf - a growable byte string for building messages, headers and state
 * records. Always NUL-terminated; never fails (x*alloc).
 * The one string builder of every program; reset keeps the memory.
 */
#ifndef MQ_BUF_H
#define MQ_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "util.h"

struct mq_buf {
	char *s;		/* NULL until something is added */
	size_t len;
	size_t cap;
};

void mq_buf_add(struct mq_buf *b, const void *p, size_t n);
void mq_buf_adds(struct mq_buf *b, const char *s);
void mq_buf_addc(struct mq_buf *b, char c);
void mq_buf_printf(struct mq_buf *b, const char *fmt, ...) MQ_PRINTF(2, 3);
/* mq_buf_steal - the string (never NULL), the buffer left empty. */
char *mq_buf_steal(struct mq_buf *b, size_t *len_r);
void mq_buf_free(struct mq_buf *b);

void mq_buf_addcn(struct mq_buf *b, char c, size_t n);	/* c, n times */
void mq_buf_vprintf(struct mq_buf *b, const char *fmt, va_list ap) MQ_PRINTF(2, 0);
void mq_buf_truncate(struct mq_buf *b, size_t len);	/* keep len bytes */
void mq_buf_reset(struct mq_buf *b);	/* empty, memory kept for reuse */
/* mq_buf_str - the contents as a C string ("" before any add); may hold NULs: see len. */
const char *mq_buf_str(const struct mq_buf *b);

#endif
