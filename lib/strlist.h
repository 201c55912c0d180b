/* SPDX-License-Identifier: MIT */
/*
 * strlist - a growable list of C strings it owns: the users a sweep, a
 * digest or a report walks, the addresses one alias expansion went
 * through. Never fails (x*alloc).
 */
#ifndef MQ_STRLIST_H
#define MQ_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct mq_strlist {
	char **v;		/* v[0..n-1], each owned */
	size_t n, cap;
};

void mq_strlist_push(struct mq_strlist *l, char *s);	/* takes s */
void mq_strlist_add(struct mq_strlist *l, const char *s);	/* a copy of s */
bool mq_strlist_has(const struct mq_strlist *l, const char *s);
void mq_strlist_free(struct mq_strlist *l);	/* empty again, reusable */

#endif
