/* SPDX-License-Identifier: MIT */
/*
 * backend - the table of built-in drivers and the thin calls around them.
 */
#include "autoconf.h"

#include <stdio.h>

#include "backend.h"
#include "util.h"

/* The driver mq_backend_use put in place of the configured one, or NULL. */
static const struct mq_backend_ops *used_driver;

void
mq_backend_use(const struct mq_backend_ops *ops)
{
	used_driver = ops;
}

const struct mq_backend_ops *
mq_backend_find(enum mq_driver driver)
{
	switch (driver) {
#ifdef HAVE_SQLITE
	case MQ_DRIVER_SQLITE:
		return &mq_backend_sqlite;
#endif
#ifdef HAVE_MYSQL
	case MQ_DRIVER_MYSQL:
		return &mq_backend_mysql;
#endif
#ifdef HAVE_PGSQL
	case MQ_DRIVER_PGSQL:
		return &mq_backend_pgsql;
#endif
	default:
		return NULL;
	}
}

int
mq_backend_open(struct mq_backend_conn *conn, const struct mq_config *cfg,
    char *error, size_t errlen)
{
	conn->ops = used_driver != NULL ? used_driver :
	    mq_backend_find(cfg->db.driver);
	conn->be = NULL;
	if (conn->ops == NULL) {
		mq_set_error(error, errlen, "database driver not compiled in");
		return MQ_TEMPFAIL;
	}
	conn->be = conn->ops->open(&cfg->db, cfg->queries, error, errlen);
	return conn->be != NULL ? MQ_FOUND : MQ_TEMPFAIL;
}

int
mq_backend_query(struct mq_backend_conn *conn, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx, char *error, size_t errlen)
{
	if (conn->be == NULL) {
		mq_set_error(error, errlen, "database not open");
		return MQ_TEMPFAIL;
	}
	return conn->ops->query(conn->be, kind, key, fn, ctx, error, errlen);
}

int
mq_backend_query_batch(struct mq_backend_conn *conn, size_t n,
    const enum mq_query_kind *kinds, const struct mq_key *keys,
    mq_row_fn *fn, void *const *ctxs, int *results, char *error, size_t errlen)
{
	if (conn->be == NULL || conn->ops->query_batch == NULL) {
		mq_set_error(error, errlen, "no batched queries");
		return MQ_MISS;
	}
	return conn->ops->query_batch(conn->be, n, kinds, keys, fn, ctxs,
	    results, error, errlen);
}

int
mq_backend_columns(struct mq_backend_conn *conn, enum mq_query_kind kind,
    mq_columns_fn *fn, void *ctx, char *error, size_t errlen)
{
	if (conn->be == NULL || conn->ops->columns == NULL) {
		mq_set_error(error, errlen, "the driver cannot list a query's columns");
		return MQ_TEMPFAIL;
	}
	return conn->ops->columns(conn->be, kind, fn, ctx, error, errlen);
}

void
mq_backend_close(struct mq_backend_conn *conn)
{
	if (conn->be != NULL)
		conn->ops->close(conn->be);
	conn->be = NULL;
}

int
mq_backend_translate(char *const queries[MQ_Q_COUNT], enum mq_sql_style style,
    struct mq_sql sql[MQ_Q_COUNT], char *error, size_t errlen)
{
	for (size_t i = 0; i < MQ_Q_COUNT; i++) {
		const char *why = "invalid template";

		sql[i].text = NULL;
		if (queries[i] == NULL || queries[i][0] == '\0')
			continue;
		if (mq_sql_translate(queries[i], style, &sql[i], &why) < 0) {
			mq_set_error(error, errlen, "queries.%s: %s",
			    mq_query_kind_name((enum mq_query_kind)i), why);
			sql[i].text = NULL;
			for (size_t j = 0; j < i; j++)
				mq_sql_free(&sql[j]);
			return -1;
		}
	}
	return 0;
}

void
mq_backend_translate_free(struct mq_sql sql[MQ_Q_COUNT])
{
	for (size_t i = 0; i < MQ_Q_COUNT; i++)
		if (sql[i].text != NULL)
			mq_sql_free(&sql[i]);
}
