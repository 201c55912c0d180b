/* SPDX-License-Identifier: MIT */
/*
 * backend_mysql - the MariaDB/MySQL driver (libmariadb), behind backend.h.
 *
 * Each configured query is translated once per handle to '?' parameters and
 * prepared once per connection (on first use) with mysql_stmt_prepare; the
 * key is only ever bound as a parameter. Every result column is fetched as
 * a string; a value longer than the column buffer is fetched again with
 * mysql_stmt_fetch_column into a buffer of its real size.
 *
 * Connections are made lazily, on the first query, through backend_net's
 * failover and circuit breaker, so a handle opens while the server is down
 * and recovers by itself. Timeouts: MYSQL_OPT_CONNECT_TIMEOUT, and
 * MYSQL_OPT_READ_TIMEOUT / MYSQL_OPT_WRITE_TIMEOUT = query_timeout, which
 * cut a hung query on the client side (the connection is then closed and
 * reopened on the next query); on MariaDB the session's
 * max_statement_time stops the statement on the server at the same time.
 * A connection lost under a query (server restart, idle connection
 * dropped) is reopened and the query run once more before it is a
 * TEMPFAIL.
 *
 * Galera: right after connecting, the node's wsrep status is read (SHOW
 * GLOBAL STATUS, no privilege needed). A node with a provider loaded must
 * say wsrep_ready = ON in a Primary component, and with
 * database.max_replica_lag set also wsrep_local_state = 4 (Synced): a
 * donor or desynced node applies write-sets late with no bound, while flow
 * control keeps a synced node close to the cluster. A node that does not
 * qualify fails the connect attempt, so backend_net moves to the next host.
 * On an open connection, error 1047 (the node has left the primary
 * component) does the same through mq_net_host_down, and the query runs once
 * more on the next host; with max_replica_lag the status is read again at
 * most once a second. A server without Galera (no wsrep_provider_name)
 * always qualifies.
 *
 * Threads: mysql_library_init runs once (pthread_once) before the first
 * mysql_init. Each thread that queries calls mysql_thread_init once and
 * mysql_thread_end when it exits (a pthread key destructor); libmariadb 3
 * needs neither, libmysqlclient needs both, and both accept them.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "backend.h"
#include "backend_net.h"
#include "log.h"
#include "util.h"

#define MY_COLBUF	256		/* first buffer per result column */
#define MY_VALUE_MAX	(1u << 20)	/* a longer column value is an error */

struct mq_backend {
	struct mq_net_setup net;	/* hosts, queries, credentials, timeouts */

	MYSQL *my;		/* NULL: not connected */
	size_t host;		/* index in hosts of the live connection */
	MYSQL_STMT *stmt[MQ_Q_COUNT];	/* prepared on first use */
	uint64_t failback_at;	/* monotonic us: next look at earlier hosts */
	uint64_t lag_at;	/* monotonic us: next node state check */
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;
static pthread_key_t thread_key;
static _Thread_local bool thread_ready;

/* thread_done - pthread key destructor: the thread is exiting. */
static void
thread_done(void *arg)
{
	(void)arg;
	mysql_thread_end();
}

/* library_init - once per process, before any other client call. */
static void
library_init(void)
{
	library_status = mysql_library_init(0, NULL, NULL);
	if (library_status == 0 && pthread_key_create(&thread_key, thread_done) != 0)
		library_status = -1;
}

/* thread_setup - mysql_thread_init once in each thread that uses the library. */
static void
thread_setup(void)
{
	if (thread_ready)
		return;
	mysql_thread_init();
	pthread_setspecific(thread_key, &thread_ready);
	thread_ready = true;
}

/* set_error - "what: message (code)" from a client or server error. */
static void
set_error(char *error, size_t errlen, const char *what, unsigned code,
    const char *text)
{
	char clean[256];

	mq_net_message(clean, sizeof(clean), text);
	mq_set_error(error, errlen, "%s: %s (%u)", what, clean, code);
}

static void
my_disconnect(struct mq_backend *be)
{
	size_t i;

	for (i = 0; i < MQ_Q_COUNT; i++) {
		if (be->stmt[i] != NULL) {
			mysql_stmt_close(be->stmt[i]);
			be->stmt[i] = NULL;
		}
	}
	if (be->my != NULL) {
		mysql_close(be->my);
		be->my = NULL;
	}
}

/* set_server_timeout - ask MariaDB (or MySQL) to stop statements at query_timeout. */
static void
set_server_timeout(struct mq_backend *be, MYSQL *my)
{
	char sql[96];

	/*
	 * Built from a configured integer only, never from a request; an
	 * unsigned int is at most 10 digits, so sql always holds it.
	 */
	snprintf(sql, sizeof(sql), "SET SESSION max_statement_time = %u",
	    be->net.query_timeout);
	if (mysql_real_query(my, sql, strlen(sql)) == 0)
		return;
	snprintf(sql, sizeof(sql), "SET SESSION max_execution_time = %u",
	    be->net.query_timeout * 1000u);
	if (mysql_real_query(my, sql, strlen(sql)) != 0)
		mq_debug("mysql: no server-side statement timeout: %s",
		    mysql_error(my));
}

#define MY_STATE_SQL "SHOW GLOBAL STATUS WHERE Variable_name IN (" \
	"'wsrep_provider_name', 'wsrep_ready', 'wsrep_cluster_status', " \
	"'wsrep_local_state', 'wsrep_local_state_comment')"

/*
 * node_state - whether the server may answer (see the top). 0 yes; 1 no,
 * with the reason in error; -1 when the status could not be read because
 * the connection failed (error set). A server that refuses the statement
 * itself is taken as one without Galera.
 */
static int
node_state(struct mq_backend *be, MYSQL *my, char *error, size_t errlen)
{
	char provider[64] = "", ready[16] = "", cluster[32] = "", state[16] = "",
	    comment[64] = "";
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned code;

	if (mysql_real_query(my, MY_STATE_SQL, strlen(MY_STATE_SQL)) != 0 ||
	    (res = mysql_store_result(my)) == NULL) {
		code = mysql_errno(my);
		set_error(error, errlen, "node state", code, mysql_error(my));
		if ((code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) ||
		    (code >= CER_MIN_ERROR && code <= CER_MAX_ERROR))
			return -1;
		mq_debug("mysql: %s", error);
		return 0;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		const char *name = row[0] != NULL ? row[0] : "";
		const char *v = row[1] != NULL ? row[1] : "";

		if (strcasecmp(name, "wsrep_provider_name") == 0)
			mq_net_message(provider, sizeof(provider), v);
		else if (strcasecmp(name, "wsrep_ready") == 0)
			mq_net_message(ready, sizeof(ready), v);
		else if (strcasecmp(name, "wsrep_cluster_status") == 0)
			mq_net_message(cluster, sizeof(cluster), v);
		else if (strcasecmp(name, "wsrep_local_state") == 0)
			mq_net_message(state, sizeof(state), v);
		else if (strcasecmp(name, "wsrep_local_state_comment") == 0)
			mq_net_message(comment, sizeof(comment), v);
	}
	mysql_free_result(res);
	if (provider[0] == '\0')
		return 0;		/* no Galera */
	if (strcasecmp(ready, "ON") != 0 || strcasecmp(cluster, "Primary") != 0) {
		mq_set_error(error, errlen, "Galera node not ready: wsrep_ready = %s, "
		    "wsrep_cluster_status = %s", ready, cluster);
		return 1;
	}
	if (be->net.max_replica_lag > 0 && strcmp(state, "4") != 0) {
		mq_set_error(error, errlen, "Galera node not synced: wsrep_local_state "
		    "= %s (%s), refused for max_replica_lag", state, comment);
		return 1;
	}
	return 0;
}

/* connect_host - one attempt on one host (mq_net_connect_fn). */
static int
connect_host(void *ctx, const struct mq_net_host *h, char *error, size_t errlen)
{
	struct mq_backend *be = ctx;
	unsigned ct = be->net.connect_timeout, rt = be->net.query_timeout;
	MYSQL *my;

	my = mysql_init(NULL);
	if (my == NULL) {
		mq_set_error(error, errlen, "mysql_init: out of memory");
		return -1;
	}
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &rt);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &rt);
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (h->socket != NULL) {
		unsigned proto = MYSQL_PROTOCOL_SOCKET;

		mysql_options(my, MYSQL_OPT_PROTOCOL, &proto);
	}
	/*
	 * No CLIENT_MULTI_STATEMENTS: one statement per prepare, always. No
	 * MYSQL_OPT_RECONNECT (off by default): we reconnect ourselves, so
	 * prepared statements are never silently lost under us.
	 */
	if (mysql_real_connect(my, h->socket != NULL ? "localhost" : h->host,
	    be->net.user, be->net.password, be->net.name, h->port, h->socket, 0) == NULL) {
		set_error(error, errlen, "connect", mysql_errno(my), mysql_error(my));
		mysql_close(my);
		return -1;
	}
	set_server_timeout(be, my);
	if (node_state(be, my, error, errlen) != 0) {
		mysql_close(my);
		return -1;
	}
	be->my = my;
	be->failback_at = be->lag_at = mq_now_monotonic_us() + MQ_NET_RECHECK_US;
	return 0;
}

static int
my_connect(struct mq_backend *be, char *error, size_t errlen)
{
	size_t i;

	if (mq_net_connect(&be->net.hosts, "mysql", connect_host, be,
	    be->net.hosts.n, &i, error, errlen) < 0)
		return -1;
	be->host = i;
	mq_debug("mysql: connected to %s", be->net.hosts.v[i].spec);
	return 0;
}

/*
 * classify - what an error code means for the connection. Client-library
 * errors (2000-2999, 5000-5999) are connection-level; a few server errors
 * are too (killed, shutting down, statement handle gone).
 */
static enum mq_net_fail
classify(unsigned code, uint64_t started_us, unsigned timeout_s)
{
	if ((code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) ||
	    (code >= CER_MIN_ERROR && code <= CER_MAX_ERROR)) {
		/* A read that took the whole timeout was cut by it. */
		if (mq_now_monotonic_us() - started_us + 250000u >=
		    (uint64_t)timeout_s * 1000000u)
			return MQ_NET_TIMEOUT;
		return MQ_NET_LOST;
	}
	switch (code) {
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	case ER_UNKNOWN_STMT_HANDLER:
	case ER_NEED_REPREPARE:
	case 4031:	/* MySQL 8: disconnected by the server (idle timeout) */
		return MQ_NET_LOST;
	case ER_UNKNOWN_COM_ERROR:	/* 1047: Galera, not in the primary component */
		return MQ_NET_NOT_READY;
	case ER_STATEMENT_TIMEOUT:
	case 3024:	/* MySQL: max_execution_time exceeded */
		return MQ_NET_SERVER_TIMEOUT;
	default:
		return MQ_NET_SQL;
	}
}

/* stmt_fail - record a statement error and classify it. */
static enum mq_net_fail
stmt_fail(struct mq_backend *be, MYSQL_STMT *st, const char *what,
    uint64_t started_us, char *error, size_t errlen)
{
	unsigned code = mysql_stmt_errno(st);
	enum mq_net_fail f;

	if (code == 0) {
		/* Some paths leave the error on the connection only. */
		code = mysql_errno(be->my);
		set_error(error, errlen, what, code, mysql_error(be->my));
	} else
		set_error(error, errlen, what, code, mysql_stmt_error(st));
	f = classify(code, started_us, be->net.query_timeout);
	if (f == MQ_NET_TIMEOUT || f == MQ_NET_SERVER_TIMEOUT)
		mq_set_error(error, errlen, "query timed out after %u s",
		    be->net.query_timeout);
	return f;
}

/*
 * charset_miss - the server could not compare a parameter with a column of
 * another character set (an emoji against PostfixAdmin's latin1 columns).
 * Such a key equals no row: not found. Only for keys with non-ASCII bytes;
 * with a plain ASCII key the same error means the query itself is wrong.
 */
static bool
charset_miss(unsigned code, const struct mq_sql *sql, const struct mq_key *key)
{
	size_t i;

	if (code != ER_CANT_AGGREGATE_2COLLATIONS &&
	    code != ER_CANT_AGGREGATE_3COLLATIONS &&
	    code != ER_CANT_AGGREGATE_NCOLLATIONS &&
	    code != ER_TRUNCATED_WRONG_VALUE_FOR_FIELD)
		return false;
	for (i = 0; i < sql->nparams; i++) {
		const unsigned char *v = (const unsigned char *)
		    mq_sql_param_value(sql->params[i], key);

		for (; *v != '\0'; v++)
			if (*v >= 0x80)
				return true;
	}
	return false;
}

/* prepare - the statement for kind on the current connection. */
static MYSQL_STMT *
prepare(struct mq_backend *be, enum mq_query_kind kind, uint64_t started_us,
    enum mq_net_fail *fail, char *error, size_t errlen)
{
	const struct mq_sql *sql = &be->net.sql[kind];
	MYSQL_STMT *st;

	if (be->stmt[kind] != NULL)
		return be->stmt[kind];
	st = mysql_stmt_init(be->my);
	if (st == NULL) {
		set_error(error, errlen, "prepare", mysql_errno(be->my),
		    mysql_error(be->my));
		*fail = MQ_NET_LOST;
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql->text, strlen(sql->text)) != 0) {
		*fail = stmt_fail(be, st, "prepare", started_us, error, errlen);
		mysql_stmt_close(st);
		return NULL;
	}
	if (mysql_stmt_param_count(st) != sql->nparams) {
		mq_set_error(error, errlen, "prepare: the server counts %lu "
		    "parameters, the query has %zu",
		    mysql_stmt_param_count(st), sql->nparams);
		mysql_stmt_close(st);
		*fail = MQ_NET_SQL;
		return NULL;
	}
	be->stmt[kind] = st;
	return st;
}

/* Result buffers for one execution: one block per column. */
struct my_cols {
	size_t n;
	MYSQL_BIND *bind;
	const char **names;
	const char **values;
	char (*buf)[MY_COLBUF + 1];
	unsigned long *len;
	my_bool *null;
	my_bool *err;
	char **big;		/* per column, grown on truncation */
	size_t *bigcap;
};

static void
cols_free(struct my_cols *c)
{
	size_t i;

	if (c->big != NULL)
		for (i = 0; i < c->n; i++)
			free(c->big[i]);
	free(c->bind);
	free(c->names);
	free(c->values);
	free(c->buf);
	free(c->len);
	free(c->null);
	free(c->err);
	free(c->big);
	free(c->bigcap);
}

/*
 * row_values - point values[] at each column of the fetched row, fetching
 * again a column longer than its buffer. Returns 0, or -1 with error.
 */
static int
row_values(MYSQL_STMT *st, struct my_cols *c, char *error, size_t errlen)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		MYSQL_BIND b;
		unsigned long got = 0;
		my_bool isnull = 0, err = 0;

		if (c->null[i]) {
			c->values[i] = NULL;
			continue;
		}
		if (c->len[i] <= MY_COLBUF) {
			c->buf[i][c->len[i]] = '\0';
			c->values[i] = c->buf[i];
			continue;
		}
		if (c->len[i] > MY_VALUE_MAX) {
			mq_set_error(error, errlen, "column %s: value of %lu bytes "
			    "is too long", c->names[i], c->len[i]);
			return -1;
		}
		if (c->bigcap[i] < c->len[i] + 1) {
			free(c->big[i]);
			c->bigcap[i] = c->len[i] + 1;
			c->big[i] = xmalloc(c->bigcap[i]);
		}
		memset(&b, 0, sizeof(b));
		b.buffer_type = MYSQL_TYPE_STRING;
		b.buffer = c->big[i];
		b.buffer_length = c->bigcap[i];
		b.length = &got;
		b.is_null = &isnull;
		b.error = &err;
		if (mysql_stmt_fetch_column(st, &b, (unsigned)i, 0) != 0) {
			set_error(error, errlen, "fetch", mysql_stmt_errno(st),
			    mysql_stmt_error(st));
			return -1;
		}
		if (got > c->bigcap[i] - 1)
			got = c->bigcap[i] - 1;
		c->big[i][got] = '\0';
		c->values[i] = isnull ? NULL : c->big[i];
	}
	return 0;
}

/* cols_init - one string buffer per column of meta, bound for fetching. */
static void
cols_init(struct my_cols *c, MYSQL_RES *meta)
{
	MYSQL_FIELD *fields;
	size_t i;

	c->n = mysql_num_fields(meta);
	fields = mysql_fetch_fields(meta);
	c->bind = xcalloc(c->n, sizeof(*c->bind));
	c->names = xcalloc(c->n, sizeof(*c->names));
	c->values = xcalloc(c->n, sizeof(*c->values));
	c->buf = xcalloc(c->n, sizeof(*c->buf));
	c->len = xcalloc(c->n, sizeof(*c->len));
	c->null = xcalloc(c->n, sizeof(*c->null));
	c->err = xcalloc(c->n, sizeof(*c->err));
	c->big = xcalloc(c->n, sizeof(*c->big));
	c->bigcap = xcalloc(c->n, sizeof(*c->bigcap));
	for (i = 0; i < c->n; i++) {
		c->names[i] = fields[i].name;
		c->bind[i].buffer_type = MYSQL_TYPE_STRING;
		c->bind[i].buffer = c->buf[i];
		c->bind[i].buffer_length = MY_COLBUF;
		c->bind[i].length = &c->len[i];
		c->bind[i].is_null = &c->null[i];
		c->bind[i].error = &c->err[i];
	}
}

/*
 * execute - bind the key's values as the parameters and execute: MQ_FOUND
 * when the statement ran, MQ_NOTFOUND when the key cannot match
 * (charset_miss), MQ_TEMPFAIL with *fail.
 */
static int
execute(struct mq_backend *be, MYSQL_STMT *st, const struct mq_sql *sql,
    const struct mq_key *key, uint64_t started, enum mq_net_fail *fail,
    char *error, size_t errlen)
{
	MYSQL_BIND params[MQ_SQL_MAX_PARAMS];
	unsigned long plen[MQ_SQL_MAX_PARAMS];
	size_t i;

	memset(params, 0, sizeof(params));
	for (i = 0; i < sql->nparams; i++) {
		const char *v = mq_sql_param_value(sql->params[i], key);

		plen[i] = strlen(v);
		params[i].buffer_type = MYSQL_TYPE_STRING;
		params[i].buffer = (void *)(uintptr_t)v;
		params[i].buffer_length = plen[i];
		params[i].length = &plen[i];
	}
	if (sql->nparams > 0 && mysql_stmt_bind_param(st, params) != 0) {
		*fail = stmt_fail(be, st, "bind", started, error, errlen);
		return MQ_TEMPFAIL;
	}
	if (mysql_stmt_execute(st) != 0) {
		if (charset_miss(mysql_stmt_errno(st), sql, key))
			return MQ_NOTFOUND;
		*fail = stmt_fail(be, st, "execute", started, error, errlen);
		return MQ_TEMPFAIL;
	}
	return MQ_FOUND;
}

/*
 * fetch_rows - each row of the executed statement to fn, until fn says
 * stop: MQ_FOUND, MQ_NOTFOUND (no row) or MQ_TEMPFAIL with *fail.
 */
static int
fetch_rows(struct mq_backend *be, MYSQL_STMT *st, struct my_cols *c,
    mq_row_fn *fn, void *ctx, size_t *rows_r, uint64_t started,
    enum mq_net_fail *fail, char *error, size_t errlen)
{
	int rc, result = MQ_NOTFOUND;

	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		if (row_values(st, c, error, errlen) < 0) {
			*fail = MQ_NET_SQL;
			return MQ_TEMPFAIL;
		}
		(*rows_r)++;
		result = MQ_FOUND;
		if (fn(ctx, c->n, c->names, c->values) != 0)
			break;
	}
	if (rc == 1) {
		*fail = stmt_fail(be, st, "fetch", started, error, errlen);
		return MQ_TEMPFAIL;
	}
	return result;
}

/*
 * run - prepare (once), bind, execute and fetch one query. *rows_r counts
 * rows handed to fn, so the caller never retries after some were.
 */
static int
run(struct mq_backend *be, enum mq_query_kind kind, const struct mq_key *key,
    mq_row_fn *fn, void *ctx, size_t *rows_r, enum mq_net_fail *fail,
    char *error, size_t errlen)
{
	const struct mq_sql *sql = &be->net.sql[kind];
	uint64_t started = mq_now_monotonic_us();
	struct my_cols c;
	MYSQL_RES *meta = NULL;
	MYSQL_STMT *st;
	int result;

	*fail = MQ_NET_OK;
	memset(&c, 0, sizeof(c));
	st = prepare(be, kind, started, fail, error, errlen);
	if (st == NULL)
		return MQ_TEMPFAIL;
	result = execute(be, st, sql, key, started, fail, error, errlen);
	if (result != MQ_FOUND)
		goto out;
	meta = mysql_stmt_result_metadata(st);
	if (meta == NULL) {
		if (mysql_stmt_errno(st) != 0)
			*fail = stmt_fail(be, st, "metadata", started, error, errlen);
		else {
			mq_set_error(error, errlen, "the query returns no rows "
			    "(not a SELECT?)");
			*fail = MQ_NET_SQL;
		}
		goto out;
	}
	cols_init(&c, meta);
	if (c.n > 0 && mysql_stmt_bind_result(st, c.bind) != 0) {
		*fail = stmt_fail(be, st, "bind result", started, error, errlen);
		goto out;
	}
	result = fetch_rows(be, st, &c, fn, ctx, rows_r, started, fail, error,
	    errlen);
out:
	/* Drops unread rows, so the statement can run again. */
	if (*fail != MQ_NET_LOST && *fail != MQ_NET_TIMEOUT &&
	    *fail != MQ_NET_NOT_READY)
		mysql_stmt_free_result(st);
	if (*fail == MQ_NET_SQL || *fail == MQ_NET_SERVER_TIMEOUT) {
		/* Prepare afresh next time: cheap, and clears any odd state. */
		mysql_stmt_close(st);
		be->stmt[kind] = NULL;
	}
	if (meta != NULL)
		mysql_free_result(meta);
	cols_free(&c);
	return *fail == MQ_NET_OK ? result : MQ_TEMPFAIL;
}

static void
my_close(struct mq_backend *be)
{
	if (be == NULL)
		return;
	thread_setup();		/* closing may happen in a thread that never queried */
	my_disconnect(be);
	mq_net_setup_free(&be->net);
	free(be);
}

static struct mq_backend *
my_open(const struct mq_db_config *db, char *const queries[MQ_Q_COUNT],
    char *error, size_t errlen)
{
	struct mq_backend *be;

	pthread_once(&library_once, library_init);
	if (library_status != 0) {
		mq_set_error(error, errlen, "mysql_library_init failed");
		return NULL;
	}
	thread_setup();
	be = xcalloc(1, sizeof(*be));
	if (mq_net_setup_init(&be->net, db, queries, "mysql", MQ_SQL_QMARK, error, errlen) < 0) {
		free(be);
		return NULL;
	}
	/* No connection yet: the first query makes one (see the top). */
	return be;
}

/*
 * failback - on a host other than the first: when one listed before it may
 * be tried (backend_net), connect there and drop the current connection;
 * keep it when that fails.
 */
static void
failback(struct mq_backend *be)
{
	MYSQL_STMT *stmt[MQ_Q_COUNT];
	MYSQL *old = be->my;
	size_t from = be->host, i;
	char error[512];

	if (old == NULL || !mq_net_failback_due(&be->net.hosts, from,
	    &be->failback_at))
		return;
	memcpy(stmt, be->stmt, sizeof(stmt));
	memset(be->stmt, 0, sizeof(be->stmt));
	be->my = NULL;
	if (mq_net_connect(&be->net.hosts, "mysql", connect_host, be, from, &i,
	    error, sizeof(error)) < 0) {
		be->my = old;
		memcpy(be->stmt, stmt, sizeof(stmt));
		return;
	}
	be->host = i;
	mq_info("mysql: back to %s from %s", be->net.hosts.v[i].spec,
	    be->net.hosts.v[from].spec);
	for (i = 0; i < MQ_Q_COUNT; i++)
		if (stmt[i] != NULL)
			mysql_stmt_close(stmt[i]);
	mysql_close(old);
}

/* recheck - with max_replica_lag, the node's state once a second. */
static void
recheck(struct mq_backend *be)
{
	char error[256];
	int r;

	if (be->my == NULL || !mq_net_lag_check_due(&be->net, &be->lag_at))
		return;
	r = node_state(be, be->my, error, sizeof(error));
	if (r == 0)
		return;
	if (r > 0)
		mq_net_host_down(&be->net.hosts, be->host, "mysql", error);
	else
		mq_debug("mysql: %s: dropping the connection: %s",
		    be->net.hosts.v[be->host].spec, error);
	my_disconnect(be);
}

/*
 * my_attempt - connect when needed and run the query; leave the connection
 * as the failure requires (mq_net_attempt_fn).
 */
static int
my_attempt(void *arg, size_t *rows_r, enum mq_net_fail *fail, char *error,
    size_t errlen)
{
	struct mq_net_call *c = arg;
	struct mq_backend *be = c->be;
	int r;

	if (be->my == NULL && my_connect(be, error, errlen) < 0) {
		*fail = MQ_NET_DOWN;
		return MQ_TEMPFAIL;
	}
	r = run(be, c->kind, c->key, c->fn, c->ctx, rows_r, fail, error, errlen);
	if (*fail == MQ_NET_NOT_READY) {
		/* As if it had refused the connection: the next host. */
		mq_net_host_down(&be->net.hosts, be->host, "mysql", error);
		my_disconnect(be);
	} else if (*fail == MQ_NET_LOST || *fail == MQ_NET_TIMEOUT) {
		mq_debug("mysql: %s: dropping the connection: %s",
		    be->net.hosts.v[be->host].spec, error);
		my_disconnect(be);
	}
	return r;
}

static int
my_query(struct mq_backend *be, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx,
    char *error, size_t errlen)
{
	struct mq_net_call call = { be, kind, key, fn, ctx };
	enum mq_net_fail fail;
	int r;

	/* Bytes that are not UTF-8 cannot equal any value: no server round trip. */
	if ((r = mq_net_query_ready(&be->net, kind, key, error, errlen)) != MQ_FOUND)
		return r;
	thread_setup();
	recheck(be);
	failback(be);
	return mq_net_run("mysql", my_attempt, &call, &fail, error, errlen);
}

/* my_columns - the prepared statement's result metadata: its column names. */
static int
my_columns(struct mq_backend *be, enum mq_query_kind kind,
    mq_columns_fn *fn, void *ctx, char *error, size_t errlen)
{
	enum mq_net_fail fail = MQ_NET_OK;
	MYSQL_FIELD *fields;
	MYSQL_RES *meta;
	MYSQL_STMT *st;
	const char **names;
	size_t n;

	if (be->net.sql[kind].text == NULL) {
		mq_set_error(error, errlen, "no %s query configured", mq_query_kind_name(kind));
		return MQ_TEMPFAIL;
	}
	thread_setup();
	if (be->my == NULL && my_connect(be, error, errlen) < 0)
		return MQ_TEMPFAIL;
	st = prepare(be, kind, mq_now_monotonic_us(), &fail, error, errlen);
	if (st == NULL) {
		if (fail == MQ_NET_LOST || fail == MQ_NET_TIMEOUT)
			my_disconnect(be);
		return MQ_TEMPFAIL;
	}
	if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
		mq_set_error(error, errlen, "the query returns no rows (not a SELECT?)");
		return MQ_TEMPFAIL;
	}
	n = mysql_num_fields(meta);
	fields = mysql_fetch_fields(meta);
	names = xcalloc(n > 0 ? n : 1, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = fields[i].name;
	fn(ctx, n, names);
	free(names);
	mysql_free_result(meta);
	return MQ_FOUND;
}

const struct mq_backend_ops mq_backend_mysql = {
	.name = "mysql",
	.style = MQ_SQL_QMARK,
	.open = my_open,
	.query = my_query,
	.close = my_close,
	.columns = my_columns,
};
