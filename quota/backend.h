/* SPDX-License-Identifier: MIT */
/*
 * backend - the one small interface every SQL driver implements.
 *
 * A backend connection is used by one thread at a time. query() runs one of
 * the configured queries (prepared once, parameters bound from the key) and
 * hands each row to the callback with its column names; a NULL value is SQL
 * NULL. Backends return text: lookup.c turns it into typed records.
 *
 * Results: MQ_FOUND (one row or more), MQ_NOTFOUND (no row), MQ_TEMPFAIL
 * (server down, timeout, query error: *error_r says why). A row callback that
 * returns non-zero stops the query early with MQ_FOUND.
 */
#ifndef MQ_BACKEND_H
#define MQ_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "sqltmpl.h"

typedef int mq_row_fn(void *ctx, size_t ncols, const char *const *names,
    const char *const *values);
/* The names of the columns a query returns, in order. */
typedef void mq_columns_fn(void *ctx, size_t ncols, const char *const *names);

struct mq_backend;

struct mq_backend_ops {
	const char *name;	/* "sqlite", "mysql", "pgsql" */
	enum mq_sql_style style;
	/* open - connect (or open the file); may return a handle that reconnects later. */
	struct mq_backend *(*open)(const struct mq_db_config *db,
	    char *const queries[MQ_Q_COUNT], char *error, size_t errlen);
	int (*query)(struct mq_backend *be, enum mq_query_kind kind,
	    const struct mq_key *key, mq_row_fn *fn, void *ctx,
	    char *error, size_t errlen);
	void (*close)(struct mq_backend *be);
	/*
	 * query_batch - optional (NULL: run the queries one by one): n queries
	 * in one round trip (PostgreSQL: one pipeline; SQLite: one read
	 * transaction), rows of query i to fn(ctxs[i], ...), its result
	 * in results[i] (as query() would give it). Returns MQ_FOUND when
	 * every query was answered; MQ_TEMPFAIL when the database failed in a
	 * way a query of its own would only repeat (timeout, no connection):
	 * *error says why; MQ_MISS when the batch did not work out and the
	 * queries should be run one by one (rows may have been handed over).
	 */
	int (*query_batch)(struct mq_backend *be, size_t n,
	    const enum mq_query_kind *kinds, const struct mq_key *keys,
	    mq_row_fn *fn, void *const *ctxs, int *results,
	    char *error, size_t errlen);
	/*
	 * columns - the names of the columns query kind returns, taken from
	 * the prepared statement (no row needed), to fn. MQ_FOUND, or
	 * MQ_TEMPFAIL with *error. For -t.
	 */
	int (*columns)(struct mq_backend *be, enum mq_query_kind kind,
	    mq_columns_fn *fn, void *ctx, char *error, size_t errlen);
};

/* mq_backend_find - the built-in driver for a config, or NULL when not compiled in. */
const struct mq_backend_ops *mq_backend_find(enum mq_driver driver);
/*
 * mq_backend_use - every connection opened after this call uses ops, whatever
 * database.driver says; NULL goes back to the built-in drivers. For unit
 * tests, which put a driver of their own behind the real engine. Call it
 * before any thread opens a connection.
 */
void mq_backend_use(const struct mq_backend_ops *ops);

/* Connection handle: the driver's ops plus its private state. */
struct mq_backend_conn {
	const struct mq_backend_ops *ops;
	struct mq_backend *be;
};

int mq_backend_open(struct mq_backend_conn *conn, const struct mq_config *cfg,
    char *error, size_t errlen);
int mq_backend_query(struct mq_backend_conn *conn, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx, char *error, size_t errlen);
/* mq_backend_query_batch - the driver's query_batch, or MQ_MISS without one. */
int mq_backend_query_batch(struct mq_backend_conn *conn, size_t n,
    const enum mq_query_kind *kinds, const struct mq_key *keys,
    mq_row_fn *fn, void *const *ctxs, int *results, char *error, size_t errlen);
/* mq_backend_columns - the driver's columns(), or MQ_TEMPFAIL without one. */
int mq_backend_columns(struct mq_backend_conn *conn, enum mq_query_kind kind,
    mq_columns_fn *fn, void *ctx, char *error, size_t errlen);
void mq_backend_close(struct mq_backend_conn *conn);

/*
 * mq_backend_translate - every configured query (NULL or "" skipped: its
 * sql[].text stays NULL) as driver SQL; for the drivers' open(). Returns 0,
 * or -1 with "queries.KIND: why" in error and nothing left allocated.
 */
int mq_backend_translate(char *const queries[MQ_Q_COUNT], enum mq_sql_style style,
    struct mq_sql sql[MQ_Q_COUNT], char *error, size_t errlen);
void mq_backend_translate_free(struct mq_sql sql[MQ_Q_COUNT]);

#ifdef HAVE_SQLITE
extern const struct mq_backend_ops mq_backend_sqlite;
#endif
#ifdef HAVE_MYSQL
extern const struct mq_backend_ops mq_backend_mysql;
#endif
#ifdef HAVE_PGSQL
extern const struct mq_backend_ops mq_backend_pgsql;
#endif

/*
 * mq_net_stats - process-wide counts since start, every driver and host:
 * successful connects (the first of a handle and reconnects), the
 * reconnects among them, and failed attempts (the breaker's skips not
 * included). Kept by the network drivers (backend_net.c); the daemon
 * reads them through mq_engine_net_stats.
 */
void mq_net_stats(uint64_t *connects_r, uint64_t *reconnects_r,
    uint64_t *failures_r);

#endif
