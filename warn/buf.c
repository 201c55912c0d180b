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
mq_buf_printf(struct mq_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
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
