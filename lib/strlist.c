/* SPDX-License-Identifier: MIT */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "strlist.h"
#include "util.h"

void
mq_strlist_push(struct mq_strlist *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

void
mq_strlist_add(struct mq_strlist *l, const char *s)
{
	mq_strlist_push(l, xstrdup(s));
}

bool
mq_strlist_has(const struct mq_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void
mq_strlist_free(struct mq_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
