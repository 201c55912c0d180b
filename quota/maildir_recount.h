/* SPDX-License-Identifier: MIT */
/*
 * maildir_recount - the recount of a Maildir and the stamps that let the
 * usage cache reuse it (maildir_recount.c). Private to quota/maildir*.c;
 * mq_maildir_recount in maildir.h is the public face.
 */
#ifndef MQ_MAILDIR_RECOUNT_H
#define MQ_MAILDIR_RECOUNT_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One directory a recount read, as it was just before the read. */
struct mq_dirstamp {
	char *rel;			/* "" for the Maildir, "cur", ".Sent/new", ... */
	dev_t dev;
	ino_t ino;
	struct timespec mtim;
};

struct mq_recount {
	bool valid;
	bool settled;			/* no directory changed just before the read */
	uint64_t bytes;
	uint64_t messages;
	struct mq_dirstamp *dirs;
	size_t ndirs;
	size_t capdirs;
};

/* mq_recount_run - the whole recount of the Maildir at root, stamps included: 0, or -1 with error. */
int mq_recount_run(int root, char *const *ignore, size_t nignore,
    struct mq_recount *rc, char *error, size_t errlen);

/* mq_recount_unchanged - every directory the recount read is as it was then. */
bool mq_recount_unchanged(int root, const struct mq_recount *rc);

/* mq_recount_copy - a deep copy of src into dst. */
void mq_recount_copy(struct mq_recount *dst, const struct mq_recount *src);

/* mq_recount_clear - free the stamps and forget the figure (all zero again). */
void mq_recount_clear(struct mq_recount *rc);

#endif
