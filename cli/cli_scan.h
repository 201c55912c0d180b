/* SPDX-License-Identifier: MIT */
/*
 * cli_scan - run one function over many mailboxes (report, recalc --all):
 * the addresses come from the users query, the work is shared by a small
 * pool of threads, each with its own database session on one engine, and
 * a progress bar is drawn on stderr when it is a terminal and the scan
 * lasts more than a second (nothing at all when stderr is not a terminal).
 */
#ifndef MQ_CLI_SCAN_H
#define MQ_CLI_SCAN_H

#include <stddef.h>
#include "config.h"
#include "engine.h"
#include "strlist.h"

/*
 * mq_scan_users - every address of the users query, only those of domain
 * when it is not NULL (compared without case), duplicates dropped, sorted:
 * MQ_FOUND (maybe none), or MQ_TEMPFAIL with error set.
 */
int mq_scan_users(struct mq_session *session, const char *domain,
    struct mq_strlist *list, char *error, size_t errlen);

/* Called once per index, from any pool thread, with that thread's session. */
typedef void mq_scan_fn(struct mq_session *session, size_t index, void *ctx);

/*
 * mq_scan_run - fn for every index below n, on threads threads (at least
 * one, at most n); returns when all are done.
 */
void mq_scan_run(struct mq_engine *engine, size_t n, unsigned threads,
    mq_scan_fn *fn, void *ctx);

/* mq_scan_threads - the pool size: database.connections. */
unsigned mq_scan_threads(const struct mq_config *cfg);

#endif
