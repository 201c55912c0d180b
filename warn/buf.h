/* SPDX-License-Identifier: MIT */
/*
 * buf - a growable byte string for building messages, headers and state
 * records. Always NUL-terminated; never fails (x*alloc).
 */
#ifndef MQ_WARN_BUF_H
#define MQ_WARN_BUF_H

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

#endif
