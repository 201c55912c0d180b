/* SPDX-License-Identifier: MIT */
/*
 * buf - a growable byte string (see buf.h).
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* grow - room for n more bytes and the NUL. */
static void
grow(struct mq_buf *b, size_t n)
{
	size_t need;

	if (n > SIZE_MAX - b->len - 1)
		n = SIZE_MAX - b->len - 1;	/* xreallocarray fails loudly below */
	need = b->len + n + 1;
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->s = xreallocarray(b->s, b->cap, 1);
}

void
mq_buf_add(struct mq_buf *b, const void *p, size_t n)
{
	grow(b, n);
	if (n > 0)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
mq_buf_adds(struct mq_buf *b, const char *s)
{
	mq_buf_add(b, s, strlen(s));
}

void
mq_buf_addc(struct mq_buf *b, char c)
{
	mq_buf_add(b, &c, 1);
}

void
mq_buf_addcn(struct mq_buf *b, char c, size_t n)
{
	grow(b, n);
	memset(b->s + b->len, c, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
mq_buf_vprintf(struct mq_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	grow(b, (size_t)n);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
mq_buf_printf(struct mq_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mq_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
mq_buf_truncate(struct mq_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->s[len] = '\0';
}

void
mq_buf_reset(struct mq_buf *b)
{
	mq_buf_truncate(b, 0);
}

const char *
mq_buf_str(const struct mq_buf *b)
{
	return b->s != NULL ? b->s : "";
}

char *
mq_buf_steal(struct mq_buf *b, size_t *len_r)
{
	char *s;

	if (b->s == NULL)
		mq_buf_add(b, "", 0);
	s = b->s;
	if (len_r != NULL)
		*len_r = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void
mq_buf_free(struct mq_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}
