/* SPDX-License-Identifier: MIT */
/*
 * backend_sqlite - the SQLite driver: the database file opened read-only,
 * one connection per thread, every configured query prepared once.
 *
 * A locked database (a writer holding it past query_timeout), a query still
 * running after query_timeout (a progress handler interrupts it) or a file
 * that cannot be opened is MQ_TEMPFAIL, never "not found". The file is opened
 * lazily and reopened after a failure, so the daemon starts, and recovers,
 * while the file is missing or being replaced.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "backend.h"
#include "util.h"

#define SQLITE_MAX_COLS 16
/* virtual machine steps between two looks at the clock */
#define PROGRESS_STEPS 1000

struct mq_backend {
	const struct mq_db_config *db;
	char *const *queries;
	sqlite3 *handle;
	sqlite3_stmt *stmt[MQ_Q_COUNT];
	sqlite3_stmt *begin, *commit;	/* one read transaction per batch */
	struct mq_sql sql[MQ_Q_COUNT];
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0 = none */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* past_deadline - SQLite's progress handler: non-zero interrupts the query. */
static int
past_deadline(void *arg)
{
	const struct mq_backend *be = arg;

	return be->deadline_ns != 0 && now_ns() > be->deadline_ns;
}

static void
sqlite_disconnect(struct mq_backend *be)
{
	for (size_t i = 0; i < MQ_Q_COUNT; i++) {
		if (be->stmt[i] != NULL)
			sqlite3_finalize(be->stmt[i]);
		be->stmt[i] = NULL;
	}
	sqlite3_finalize(be->begin);
	sqlite3_finalize(be->commit);
	be->begin = be->commit = NULL;
	if (be->handle != NULL)
		sqlite3_close(be->handle);
	be->handle = NULL;
}

/* sqlite_connect - open the file and prepare every configured query. */
static int
sqlite_connect(struct mq_backend *be, char *error, size_t errlen)
{
	int rc;

	if (be->handle != NULL)
		return 0;
	rc = sqlite3_open_v2(be->db->path, &be->handle,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		mq_set_error(error, errlen, "sqlite: %s: %s", be->db->path,
		    be->handle != NULL ? sqlite3_errmsg(be->handle) : sqlite3_errstr(rc));
		sqlite_disconnect(be);
		return -1;
	}
	sqlite3_busy_timeout(be->handle, be->db->query_timeout * 1000);
	/* The lock wait above, and the query's own work here. */
	sqlite3_progress_handler(be->handle, PROGRESS_STEPS, past_deadline, be);
	/*
	 * Every worker has its own connection, and SQLite's default page cache
	 * (2 MB each) would hold most of a small database once per worker. The
	 * kernel caches the file anyway, and the rows are cached above.
	 */
	sqlite3_exec(be->handle, "PRAGMA cache_size = -256", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(be->handle, "BEGIN", -1, &be->begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(be->handle, "COMMIT", -1, &be->commit, NULL) != SQLITE_OK) {
		mq_set_error(error, errlen, "sqlite: %s", sqlite3_errmsg(be->handle));
		sqlite_disconnect(be);
		return -1;
	}
	for (size_t i = 0; i < MQ_Q_COUNT; i++) {
		if (be->sql[i].text == NULL)
			continue;
		rc = sqlite3_prepare_v2(be->handle, be->sql[i].text, -1,
		    &be->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			mq_set_error(error, errlen, "sqlite: %s query: %s",
			    mq_query_kind_name((enum mq_query_kind)i),
			    sqlite3_errmsg(be->handle));
			sqlite_disconnect(be);
			return -1;
		}
	}
	return 0;
}

static struct mq_backend *
sqlite_open(const struct mq_db_config *db, char *const queries[MQ_Q_COUNT],
    char *error, size_t errlen)
{
	struct mq_backend *be = xcalloc(1, sizeof(*be));

	be->db = db;
	be->queries = queries;
	if (mq_backend_translate(queries, MQ_SQL_QMARK, be->sql, error, errlen) < 0) {
		free(be);
		return NULL;
	}
	/* A failed first connect is retried on the first query. */
	(void)sqlite_connect(be, error, errlen);
	return be;
}

static int
sqlite_query(struct mq_backend *be, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx, char *error, size_t errlen)
{
	const char *names[SQLITE_MAX_COLS], *values[SQLITE_MAX_COLS];
	sqlite3_stmt *st;
	int rc, ncols, result = MQ_NOTFOUND;

	if (be->sql[kind].text == NULL) {
		mq_set_error(error, errlen, "no %s query configured", mq_query_kind_name(kind));
		return MQ_TEMPFAIL;
	}
	if (sqlite_connect(be, error, errlen) < 0)
		return MQ_TEMPFAIL;
	st = be->stmt[kind];
	for (size_t i = 0; i < be->sql[kind].nparams; i++) {
		const char *v = mq_sql_param_value(be->sql[kind].params[i], key);

		if (sqlite3_bind_text(st, (int)i + 1, v, -1, SQLITE_STATIC) != SQLITE_OK) {
			mq_set_error(error, errlen, "sqlite: bind: %s", sqlite3_errmsg(be->handle));
			sqlite3_reset(st);
			return MQ_TEMPFAIL;
		}
	}
	be->deadline_ns = now_ns() + (uint64_t)be->db->query_timeout * 1000000000u;
	ncols = sqlite3_column_count(st);
	if (ncols > SQLITE_MAX_COLS)
		ncols = SQLITE_MAX_COLS;
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(st, i);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++)
			values[i] = (const char *)sqlite3_column_text(st, i);
		result = MQ_FOUND;
		if (fn(ctx, (size_t)ncols, names, values) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	be->deadline_ns = 0;
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_INTERRUPT)
			mq_set_error(error, errlen, "sqlite: %s query: still running "
			    "after query_timeout (%d s): abandoned",
			    mq_query_kind_name(kind), be->db->query_timeout);
		else
			mq_set_error(error, errlen, "sqlite: %s query: %s",
			    mq_query_kind_name(kind), sqlite3_errmsg(be->handle));
		result = MQ_TEMPFAIL;
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED && rc != SQLITE_INTERRUPT) {
			/* Corrupt, replaced or vanished file: start over next time. */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			sqlite_disconnect(be);
			return result;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return result;
}

/* run_once - step a statement without rows (BEGIN, COMMIT) and reset it. */
static int
run_once(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * sqlite_query_batch - the queries in one read transaction. Each query on
 * its own takes and drops the file lock and checks whether the database
 * changed (several system calls); in one transaction that happens once,
 * and the rows come from one snapshot.
 */
static int
sqlite_query_batch(struct mq_backend *be, size_t n,
    const enum mq_query_kind *kinds, const struct mq_key *keys,
    mq_row_fn *fn, void *const *ctxs, int *results, char *error, size_t errlen)
{
	int r = MQ_FOUND;

	if (sqlite_connect(be, error, errlen) < 0)
		return MQ_TEMPFAIL;
	if (run_once(be->begin) < 0)
		return MQ_MISS;
	for (size_t i = 0; i < n; i++) {
		results[i] = sqlite_query(be, kinds[i], &keys[i], fn, ctxs[i],
		    error, errlen);
		if (results[i] == MQ_TEMPFAIL) {
			/* Locked past query_timeout, or the file went away. */
			r = MQ_TEMPFAIL;
			break;
		}
	}
	/* A failed query may have closed the connection, and the transaction with it. */
	if (be->handle != NULL && !sqlite3_get_autocommit(be->handle) &&
	    run_once(be->commit) < 0)
		sqlite_disconnect(be);
	return r;
}

static int
sqlite_columns(struct mq_backend *be, enum mq_query_kind kind,
    mq_columns_fn *fn, void *ctx, char *error, size_t errlen)
{
	const char *names[SQLITE_MAX_COLS];
	int ncols;

	if (be->sql[kind].text == NULL) {
		mq_set_error(error, errlen, "no %s query configured", mq_query_kind_name(kind));
		return MQ_TEMPFAIL;
	}
	if (sqlite_connect(be, error, errlen) < 0)
		return MQ_TEMPFAIL;
	ncols = sqlite3_column_count(be->stmt[kind]);
	if (ncols > SQLITE_MAX_COLS)
		ncols = SQLITE_MAX_COLS;
	for (int i = 0; i < ncols; i++)
		names[i] = sqlite3_column_name(be->stmt[kind], i);
	fn(ctx, (size_t)ncols, names);
	return MQ_FOUND;
}

static void
sqlite_close(struct mq_backend *be)
{
	sqlite_disconnect(be);
	mq_backend_translate_free(be->sql);
	free(be);
}

const struct mq_backend_ops mq_backend_sqlite = {
	.name = "sqlite",
	.style = MQ_SQL_QMARK,
	.open = sqlite_open,
	.query = sqlite_query,
	.close = sqlite_close,
	.query_batch = sqlite_query_batch,
	.columns = sqlite_columns,
};
