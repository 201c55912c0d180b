/* SPDX-License-Identifier: MIT */
/*
 * backend_pgsql - the PostgreSQL driver (libpq), behind backend.h.
 *
 * Each configured query is translated once per handle to $n parameters and
 * prepared once per connection (on first use) as "mq_<kind>"; it runs with
 * PQsendQueryPrepared, text parameters and text results. The key is only
 * ever sent as a parameter.
 *
 * Connections are made lazily, on the first query, through backend_net's
 * failover and circuit breaker, so a handle opens while the server is down
 * and recovers by itself. Timeouts: connect_timeout in the connection
 * parameters (libpq's minimum is 2 s); statement_timeout = query_timeout
 * for the session, so the server stops a slow statement itself; and a
 * client-side deadline of query_timeout for prepare + execute (poll() on
 * the socket), which also covers a server or network that stops answering.
 * At that deadline the connection is closed (reopened on the next query)
 * and a cancel request is sent from a short-lived detached thread, because
 * PQcancel blocks on its own connect and must not hold up the caller.
 * A connection lost under a query is reopened and the query run once more
 * before it is a TEMPFAIL.
 *
 * Replicas: with database.max_replica_lag set, a server in recovery is
 * asked how far behind it is, right after connecting and then at most once
 * a second: 0 when all the WAL it has received is replayed (nothing newer
 * reached it), otherwise the time since the last replayed transaction
 * (now() - pg_last_xact_replay_timestamp()), which bounds how old its data
 * can be; unknown (no streaming and no transaction replayed since it
 * started) counts as too far behind. A standby further behind fails
 * the connect attempt, or is left through mq_net_host_down, so backend_net
 * moves to the next host, and comes back by failback once it has caught up.
 *
 * query_batch sends several executes in one libpq pipeline (one sync, one
 * round trip) under the same deadline, classification and retry rules.
 *
 * "unix:/path" names the socket directory, or the socket itself
 * (/run/postgresql/.s.PGSQL.5432: the port is then taken from the name).
 */
#include "autoconf.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "backend.h"
#include "backend_net.h"
#include "log.h"
#include "util.h"

#define PG_MAX_CANCELS	4	/* cancel threads under way at once */

struct mq_backend {
	struct mq_net_setup net;	/* hosts, queries, credentials, timeouts */

	PGconn *pg;		/* NULL: not connected */
	size_t host;		/* index in hosts of the live connection */
	bool prepared[MQ_Q_COUNT];
	uint64_t failback_at;	/* monotonic us: next look at earlier hosts */
	uint64_t lag_at;	/* monotonic us: next replica lag check */
};

static const char *const stmt_name[MQ_Q_COUNT] = {
	[MQ_Q_USER] = "mq_user",
	[MQ_Q_ALIAS] = "mq_alias",
	[MQ_Q_DOMAIN] = "mq_domain",
	[MQ_Q_USERS] = "mq_users",
	[MQ_Q_USAGE] = "mq_usage",
	[MQ_Q_ALIAS_DOMAIN] = "mq_alias_domain",
	[MQ_Q_DIGEST_TO] = "mq_digest_to",
};

static atomic_int cancels_running;

/* cancel_main - send one cancel request, then go away. */
static void *
cancel_main(void *arg)
{
	PGcancel *cancel = arg;
	char buf[256];

	PQcancel(cancel, buf, sizeof(buf));
	PQfreeCancel(cancel);
	atomic_fetch_sub(&cancels_running, 1);
	return NULL;
}

/*
 * cancel_async - ask the server to stop the running statement without
 * waiting: PQcancel connects anew and could block for as long as the
 * network does. At most PG_MAX_CANCELS at once; statement_timeout is the
 * server-side backstop when one is skipped.
 */
static void
cancel_async(PGconn *pg)
{
	pthread_attr_t attr;
	pthread_t tid;
	PGcancel *cancel;

	if (atomic_fetch_add(&cancels_running, 1) >= PG_MAX_CANCELS) {
		atomic_fetch_sub(&cancels_running, 1);
		return;
	}
	cancel = PQgetCancel(pg);
	if (cancel == NULL) {
		atomic_fetch_sub(&cancels_running, 1);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, cancel_main, cancel) != 0) {
		PQfreeCancel(cancel);
		atomic_fetch_sub(&cancels_running, 1);
	}
	pthread_attr_destroy(&attr);
}

static void
pg_disconnect(struct mq_backend *be)
{
	size_t i;

	if (be->pg != NULL) {
		PQfinish(be->pg);
		be->pg = NULL;
	}
	for (i = 0; i < MQ_Q_COUNT; i++)
		be->prepared[i] = false;
}

/* conn_error - "what: libpq's message" for the connection. */
static void
conn_error(PGconn *pg, const char *what, char *error, size_t errlen)
{
	char clean[256];

	mq_net_message(clean, sizeof(clean), PQerrorMessage(pg));
	mq_set_error(error, errlen, "%s: %s", what, clean[0] != '\0' ? clean :
	    "connection failed");
}

static int replica_state(struct mq_backend *be, char *error, size_t errlen);

/* The connection parameters for one host, as PQconnectdbParams takes them. */
struct pg_params {
	const char *keys[12], *vals[12];
	/* An unsigned int is at most 10 digits: these always hold theirs. */
	char port[16], ctimeout[16], options[48];
	char *dir;		/* the socket directory, allocated */
};

/* add_param - one key and value; the arrays are sized for every key below. */
static void
add_param(struct pg_params *p, size_t *n, const char *key, const char *val)
{
	p->keys[*n] = key;
	p->vals[(*n)++] = val;
}

/*
 * conn_params - what connecting to h takes. A socket file
 * "DIR/.s.PGSQL.PORT" names its directory and port.
 */
static void
conn_params(const struct mq_backend *be, const struct mq_net_host *h,
    struct pg_params *p)
{
	unsigned portnum = h->port;
	size_t n = 0;

	p->dir = NULL;
	if (h->socket != NULL) {
		const char *slash = strrchr(h->socket, '/');

		if (strncmp(slash + 1, ".s.PGSQL.", 9) == 0) {
			uint64_t v;

			if (mq_parse_u64(slash + 10, &v) == 0 && v > 0 && v <= 65535)
				portnum = (unsigned)v;
			p->dir = xstrndup(h->socket, slash == h->socket ? 1 :
			    (size_t)(slash - h->socket));
		} else
			p->dir = xstrdup(h->socket);
	}
	add_param(p, &n, "host", p->dir != NULL ? p->dir : h->host);
	if (portnum != 0) {
		snprintf(p->port, sizeof(p->port), "%u", portnum);
		add_param(p, &n, "port", p->port);
	}
	add_param(p, &n, "dbname", be->net.name);
	if (be->net.user != NULL)
		add_param(p, &n, "user", be->net.user);
	if (be->net.password != NULL)
		add_param(p, &n, "password", be->net.password);
	snprintf(p->ctimeout, sizeof(p->ctimeout), "%u", be->net.connect_timeout);
	add_param(p, &n, "connect_timeout", p->ctimeout);
	snprintf(p->options, sizeof(p->options), "-c statement_timeout=%u",
	    be->net.query_timeout * 1000u);
	add_param(p, &n, "options", p->options);
	add_param(p, &n, "client_encoding", "UTF8");
	add_param(p, &n, "fallback_application_name", "mailquota");
	p->keys[n] = NULL;
	p->vals[n] = NULL;
}

/* connect_host - one attempt on one host (mq_net_connect_fn). */
static int
connect_host(void *ctx, const struct mq_net_host *h, char *error, size_t errlen)
{
	struct mq_backend *be = ctx;
	struct pg_params params;
	PGconn *pg;

	conn_params(be, h, &params);
	/* expand_dbname = 0: a database name is never parsed as a conninfo. */
	pg = PQconnectdbParams(params.keys, params.vals, 0);
	free(params.dir);
	if (pg == NULL) {
		mq_set_error(error, errlen, "connect: out of memory");
		return -1;
	}
	if (PQstatus(pg) != CONNECTION_OK || PQsetnonblocking(pg, 1) != 0) {
		conn_error(pg, "connect", error, errlen);
		PQfinish(pg);
		return -1;
	}
	be->pg = pg;
	if (be->net.max_replica_lag > 0 && replica_state(be, error, errlen) != 0) {
		PQfinish(pg);
		be->pg = NULL;
		return -1;
	}
	be->failback_at = be->lag_at = mq_now_monotonic_us() + MQ_NET_RECHECK_US;
	return 0;
}

static int
pg_connect(struct mq_backend *be, char *error, size_t errlen)
{
	size_t i;

	if (mq_net_connect(&be->net.hosts, "pgsql", connect_host, be,
	    be->net.hosts.n, &i, error, errlen) < 0)
		return -1;
	be->host = i;
	mq_debug("pgsql: connected to %s", be->net.hosts.v[i].spec);
	return 0;
}

/*
 * wait_ready - flush what was sent and read until a whole result is in,
 * or the deadline passes. 0 ready, MQ_NET_LOST or MQ_NET_TIMEOUT otherwise.
 */
static int
wait_ready(struct mq_backend *be, uint64_t deadline_us, char *error,
    size_t errlen)
{
	PGconn *pg = be->pg;
	int fd = PQsocket(pg);

	if (fd < 0) {
		conn_error(pg, "socket", error, errlen);
		return MQ_NET_LOST;
	}
	for (;;) {
		struct pollfd p;
		uint64_t now;
		int fl, r, ms;

		fl = PQflush(pg);
		if (fl < 0) {
			conn_error(pg, "send", error, errlen);
			return MQ_NET_LOST;
		}
		if (fl == 0 && !PQisBusy(pg))
			return 0;
		now = mq_now_monotonic_us();
		if (now >= deadline_us) {
			mq_set_error(error, errlen, "query timed out after %u s",
			    be->net.query_timeout);
			return MQ_NET_TIMEOUT;
		}
		ms = (int)((deadline_us - now + 999) / 1000);
		p.fd = fd;
		p.events = POLLIN | (fl == 1 ? POLLOUT : 0);
		p.revents = 0;
		r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR) {
			mq_set_error(error, errlen, "poll: %s", strerror(errno));
			return MQ_NET_LOST;
		}
		if (r > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
		    !PQconsumeInput(pg)) {
			conn_error(pg, "receive", error, errlen);
			return MQ_NET_LOST;
		}
	}
}

/* classify - what a failed result means for the connection. */
static enum mq_net_fail
classify(PGconn *pg, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (PQstatus(pg) == CONNECTION_BAD || state == NULL)
		return MQ_NET_LOST;
	if (strncmp(state, "08", 2) == 0 ||	/* connection exception */
	    strcmp(state, "57P01") == 0 ||	/* admin_shutdown */
	    strcmp(state, "57P02") == 0 ||	/* crash_shutdown */
	    strcmp(state, "57P03") == 0 ||	/* cannot_connect_now */
	    strcmp(state, "26000") == 0)	/* prepared statement gone */
		return MQ_NET_LOST;
	if (strcmp(state, "57014") == 0)	/* query_canceled: statement_timeout */
		return MQ_NET_SERVER_TIMEOUT;
	return MQ_NET_SQL;
}

/* result_failure - classify a failed result and describe it in error. */
static enum mq_net_fail
result_failure(struct mq_backend *be, const PGresult *res, const char *what,
    char *error, size_t errlen)
{
	enum mq_net_fail f = classify(be->pg, res);
	char clean[256];

	mq_net_message(clean, sizeof(clean), PQresultErrorMessage(res));
	if (f == MQ_NET_SERVER_TIMEOUT)
		mq_set_error(error, errlen, "query timed out after %u s",
		    be->net.query_timeout);
	else
		mq_set_error(error, errlen, "%s: %s", what, clean);
	return f;
}

/*
 * collect - wait for and take every result of what was sent. Returns the
 * one result that carries rows (or NULL for a command), or NULL with *fail.
 */
static PGresult *
collect(struct mq_backend *be, uint64_t deadline_us, const char *what,
    enum mq_net_fail *fail, char *error, size_t errlen)
{
	PGresult *keep = NULL, *res;

	for (;;) {
		int w = wait_ready(be, deadline_us, error, errlen);

		if (w != 0) {
			*fail = (enum mq_net_fail)w;
			PQclear(keep);
			return NULL;
		}
		res = PQgetResult(be->pg);
		if (res == NULL)
			break;
		switch (PQresultStatus(res)) {
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			if (keep == NULL && *fail == MQ_NET_OK) {
				keep = res;
				continue;
			}
			break;
		case PGRES_FATAL_ERROR:
			if (*fail == MQ_NET_OK)
				*fail = result_failure(be, res, what, error, errlen);
			break;
		default:
			/* COPY and the like: never from a SELECT. */
			if (*fail == MQ_NET_OK) {
				mq_set_error(error, errlen, "%s: unexpected %s", what,
				    PQresStatus(PQresultStatus(res)));
				*fail = MQ_NET_LOST;
			}
			break;
		}
		PQclear(res);
		if (*fail == MQ_NET_LOST && PQstatus(be->pg) == CONNECTION_BAD)
			break;
	}
	if (*fail != MQ_NET_OK) {
		PQclear(keep);
		return NULL;
	}
	return keep;
}

/* prepare - the statement for kind on the current connection. */
static int
prepare(struct mq_backend *be, enum mq_query_kind kind, uint64_t deadline_us,
    enum mq_net_fail *fail, char *error, size_t errlen)
{
	const struct mq_sql *sql = &be->net.sql[kind];
	PGresult *res;

	if (be->prepared[kind])
		return 0;
	if (!PQsendPrepare(be->pg, stmt_name[kind], sql->text,
	    (int)sql->nparams, NULL)) {
		conn_error(be->pg, "prepare", error, errlen);
		*fail = MQ_NET_LOST;
		return -1;
	}
	res = collect(be, deadline_us, "prepare", fail, error, errlen);
	if (*fail != MQ_NET_OK)
		return -1;
	PQclear(res);
	be->prepared[kind] = true;
	return 0;
}

/* after_failure - what a failed query leaves of the connection. */
static void
after_failure(struct mq_backend *be, enum mq_net_fail fail)
{
	if (fail == MQ_NET_TIMEOUT) {
		cancel_async(be->pg);
		pg_disconnect(be);
	} else if (fail == MQ_NET_LOST)
		pg_disconnect(be);
	/* MQ_NET_SQL, MQ_NET_SERVER_TIMEOUT: the connection and statements stay good. */
}

/* hand_rows - each row of a SELECT's result to fn; MQ_FOUND or MQ_NOTFOUND. */
static int
hand_rows(const PGresult *res, mq_row_fn *fn, void *ctx, size_t *rows_r)
{
	const char **names = NULL, **row = NULL;
	int nrows = PQntuples(res), ncols = PQnfields(res), i, j;

	if (nrows > 0 && ncols > 0) {
		names = xcalloc((size_t)ncols, sizeof(*names));
		row = xcalloc((size_t)ncols, sizeof(*row));
		for (j = 0; j < ncols; j++)
			names[j] = PQfname(res, j);
	}
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < ncols; j++)
			row[j] = PQgetisnull(res, i, j) ? NULL :
			    PQgetvalue(res, i, j);
		(*rows_r)++;
		if (fn(ctx, (size_t)ncols, names, row) != 0)
			break;
	}
	free(names);
	free(row);
	return nrows > 0 ? MQ_FOUND : MQ_NOTFOUND;
}

/* run - prepare (once), execute and hand over the rows of one query. */
static int
run(struct mq_backend *be, enum mq_query_kind kind, const struct mq_key *key,
    mq_row_fn *fn, void *ctx, size_t *rows_r, enum mq_net_fail *fail,
    char *error, size_t errlen)
{
	const struct mq_sql *sql = &be->net.sql[kind];
	const char *values[MQ_SQL_MAX_PARAMS];
	uint64_t deadline = mq_now_monotonic_us() +
	    (uint64_t)be->net.query_timeout * 1000000u;
	PGresult *res;
	int i, result;

	*fail = MQ_NET_OK;
	if (prepare(be, kind, deadline, fail, error, errlen) < 0)
		goto failed;
	for (i = 0; i < (int)sql->nparams; i++)
		values[i] = mq_sql_param_value(sql->params[i], key);
	if (!PQsendQueryPrepared(be->pg, stmt_name[kind], (int)sql->nparams,
	    values, NULL, NULL, 0)) {
		conn_error(be->pg, "execute", error, errlen);
		*fail = MQ_NET_LOST;
		goto failed;
	}
	res = collect(be, deadline, "execute", fail, error, errlen);
	if (*fail != MQ_NET_OK)
		goto failed;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		mq_set_error(error, errlen, "the query returns no rows (not a SELECT?)");
		*fail = MQ_NET_SQL;
		goto failed;
	}

	result = hand_rows(res, fn, ctx, rows_r);
	PQclear(res);
	return result;

failed:
	after_failure(be, *fail);
	return MQ_TEMPFAIL;
}

static void
pg_close(struct mq_backend *be)
{
	if (be == NULL)
		return;
	pg_disconnect(be);
	mq_net_setup_free(&be->net);
	free(be);
}

static struct mq_backend *
pg_open(const struct mq_db_config *db, char *const queries[MQ_Q_COUNT],
    char *error, size_t errlen)
{
	struct mq_backend *be;

	be = xcalloc(1, sizeof(*be));
	if (mq_net_setup_init(&be->net, db, queries, "pgsql", MQ_SQL_DOLLAR, error, errlen) < 0) {
		free(be);
		return NULL;
	}
	/* No connection yet: the first query makes one (see the top). */
	return be;
}

#define PG_LAG_SQL "SELECT CASE WHEN NOT pg_is_in_recovery() OR " \
	"pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 ELSE " \
	"extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"

/*
 * replica_state - on the connection in be->pg: 0 when it is a primary or a
 * replica at most max_replica_lag seconds behind; 1 when further behind
 * (or its replay position is unknown), -1 when the query failed; error set
 * when not 0.
 */
static int
replica_state(struct mq_backend *be, char *error, size_t errlen)
{
	uint64_t deadline = mq_now_monotonic_us() +
	    (uint64_t)be->net.query_timeout * 1000000u;
	enum mq_net_fail fail = MQ_NET_OK;
	PGresult *res;
	double lag = -1;
	char *end;
	int r;

	if (!PQsendQuery(be->pg, PG_LAG_SQL)) {
		conn_error(be->pg, "replica lag", error, errlen);
		return -1;
	}
	res = collect(be, deadline, "replica lag", &fail, error, errlen);
	if (fail != MQ_NET_OK || res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		if (fail == MQ_NET_OK)
			mq_set_error(error, errlen, "replica lag: no answer");
		PQclear(res);
		return -1;
	}
	if (!PQgetisnull(res, 0, 0)) {
		lag = strtod(PQgetvalue(res, 0, 0), &end);
		if (*end != '\0')
			lag = -1;
	}
	PQclear(res);
	if (lag < 0) {
		mq_set_error(error, errlen, "replica of unknown lag (no transaction "
		    "replayed yet), refused for max_replica_lag");
		r = 1;
	} else if (lag > (double)be->net.max_replica_lag) {
		mq_set_error(error, errlen, "replica %.1f s behind, more than "
		    "max_replica_lag (%u s)", lag, be->net.max_replica_lag);
		r = 1;
	} else
		r = 0;
	return r;
}

/*
 * failback - on a host other than the first: when one listed before it may
 * be tried (backend_net), connect there and drop the current connection;
 * keep it when that fails.
 */
static void
failback(struct mq_backend *be)
{
	bool prepared[MQ_Q_COUNT];
	PGconn *old = be->pg;
	size_t from = be->host, i;
	char error[512];

	if (old == NULL || !mq_net_failback_due(&be->net.hosts, from,
	    &be->failback_at))
		return;
	memcpy(prepared, be->prepared, sizeof(prepared));
	memset(be->prepared, 0, sizeof(be->prepared));
	be->pg = NULL;
	if (mq_net_connect(&be->net.hosts, "pgsql", connect_host, be, from, &i,
	    error, sizeof(error)) < 0) {
		be->pg = old;
		memcpy(be->prepared, prepared, sizeof(prepared));
		return;
	}
	be->host = i;
	mq_info("pgsql: back to %s from %s", be->net.hosts.v[i].spec,
	    be->net.hosts.v[from].spec);
	PQfinish(old);
}

/* recheck - with max_replica_lag, the replica's lag once a second. */
static void
recheck(struct mq_backend *be)
{
	char error[256];
	int r;

	if (be->pg == NULL || !mq_net_lag_check_due(&be->net, &be->lag_at))
		return;
	r = replica_state(be, error, sizeof(error));
	if (r == 0)
		return;
	if (r > 0)
		mq_net_host_down(&be->net.hosts, be->host, "pgsql", error);
	else
		mq_debug("pgsql: %s: dropping the connection: %s",
		    be->net.hosts.v[be->host].spec, error);
	pg_disconnect(be);
}

/* pg_attempt - connect when needed and run the query (mq_net_attempt_fn). */
static int
pg_attempt(void *arg, size_t *rows_r, enum mq_net_fail *fail, char *error,
    size_t errlen)
{
	struct mq_net_call *c = arg;

	if (c->be->pg == NULL && pg_connect(c->be, error, errlen) < 0) {
		*fail = MQ_NET_DOWN;
		return MQ_TEMPFAIL;
	}
	return run(c->be, c->kind, c->key, c->fn, c->ctx, rows_r, fail, error,
	    errlen);
}

static int
pg_query(struct mq_backend *be, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx,
    char *error, size_t errlen)
{
	struct mq_net_call call = { be, kind, key, fn, ctx };
	enum mq_net_fail fail;
	int r;

	/* Bytes that are not UTF-8 cannot equal any value: no server round trip. */
	if ((r = mq_net_query_ready(&be->net, kind, key, error, errlen)) != MQ_FOUND)
		return r;
	recheck(be);
	failback(be);
	return mq_net_run("pgsql", pg_attempt, &call, &fail, error, errlen);
}

/* pg_columns - describe the prepared statement: its result's column names. */
static int
pg_columns(struct mq_backend *be, enum mq_query_kind kind,
    mq_columns_fn *fn, void *ctx, char *error, size_t errlen)
{
	uint64_t deadline;
	enum mq_net_fail fail = MQ_NET_OK;
	const char **names;
	PGresult *res;
	int ncols;

	if (be->net.sql[kind].text == NULL) {
		mq_set_error(error, errlen, "no %s query configured", mq_query_kind_name(kind));
		return MQ_TEMPFAIL;
	}
	if (be->pg == NULL && pg_connect(be, error, errlen) < 0)
		return MQ_TEMPFAIL;
	deadline = mq_now_monotonic_us() + (uint64_t)be->net.query_timeout * 1000000u;
	if (prepare(be, kind, deadline, &fail, error, errlen) < 0)
		goto failed;
	if (!PQsendDescribePrepared(be->pg, stmt_name[kind])) {
		conn_error(be->pg, "describe", error, errlen);
		fail = MQ_NET_LOST;
		goto failed;
	}
	res = collect(be, deadline, "describe", &fail, error, errlen);
	if (fail != MQ_NET_OK)
		goto failed;
	ncols = res != NULL ? PQnfields(res) : 0;
	names = xcalloc(ncols > 0 ? (size_t)ncols : 1, sizeof(*names));
	for (int i = 0; i < ncols; i++)
		names[i] = PQfname(res, i);
	fn(ctx, (size_t)ncols, names);
	free(names);
	PQclear(res);
	return MQ_FOUND;

failed:
	after_failure(be, fail);
	return MQ_TEMPFAIL;
}

#define PG_MAX_BATCH	8	/* queries in one pipeline */

/* One batch's arguments, for run_batch and the attempts of mq_net_run. */
struct pg_batch {
	struct mq_backend *be;
	size_t n;
	const enum mq_query_kind *kinds;
	const struct mq_key *keys;
	bool skip[PG_MAX_BATCH];	/* a key that can match no row: not sent */
	mq_row_fn *fn;
	void *const *ctxs;
	int *results;
	size_t sent[PG_MAX_BATCH];	/* the index of each query sent, in order */
	size_t nsent;
};

/*
 * batch_send - prepare what is not prepared yet (outside the pipeline),
 * then every execute and one sync in pipeline mode. 0, or -1 with *fail.
 */
static int
batch_send(struct pg_batch *b, uint64_t deadline, enum mq_net_fail *fail,
    char *error, size_t errlen)
{
	struct mq_backend *be = b->be;

	b->nsent = 0;
	for (size_t i = 0; i < b->n; i++)
		if (!b->skip[i] && prepare(be, b->kinds[i], deadline, fail,
		    error, errlen) < 0)
			return -1;
	if (!PQenterPipelineMode(be->pg)) {
		conn_error(be->pg, "pipeline", error, errlen);
		*fail = MQ_NET_LOST;
		return -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct mq_sql *sql = &be->net.sql[b->kinds[i]];
		const char *values[MQ_SQL_MAX_PARAMS];

		if (b->skip[i])
			continue;
		for (size_t k = 0; k < sql->nparams; k++)
			values[k] = mq_sql_param_value(sql->params[k], &b->keys[i]);
		if (!PQsendQueryPrepared(be->pg, stmt_name[b->kinds[i]],
		    (int)sql->nparams, values, NULL, NULL, 0)) {
			conn_error(be->pg, "execute", error, errlen);
			*fail = MQ_NET_LOST;
			return -1;
		}
		b->sent[b->nsent++] = i;
	}
	if (!PQpipelineSync(be->pg)) {
		conn_error(be->pg, "execute", error, errlen);
		*fail = MQ_NET_LOST;
		return -1;
	}
	return 0;
}

/*
 * batch_receive - the results in order: each query's end with a NULL, the
 * sync's result ends it all. A failed query aborts those after it, so the
 * first failure decides *fail. -1 when the connection is gone (or the
 * deadline passed) and nothing more can be read; 0 otherwise.
 */
static int
batch_receive(struct pg_batch *b, uint64_t deadline, size_t *rows_r,
    enum mq_net_fail *fail, char *error, size_t errlen)
{
	struct mq_backend *be = b->be;
	size_t at = 0;
	bool synced = false;

	while (!synced) {
		int w = wait_ready(be, deadline, error, errlen);
		PGresult *res;

		if (w != 0) {
			*fail = (enum mq_net_fail)w;
			return -1;
		}
		res = PQgetResult(be->pg);
		if (res == NULL) {
			at++;
			continue;
		}
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			synced = true;
			break;
		case PGRES_TUPLES_OK:
			if (*fail == MQ_NET_OK && at < b->nsent)
				b->results[b->sent[at]] = hand_rows(res, b->fn,
				    b->ctxs[b->sent[at]], rows_r);
			break;
		case PGRES_FATAL_ERROR:
			if (*fail == MQ_NET_OK)
				*fail = result_failure(be, res, "execute", error, errlen);
			break;
		case PGRES_PIPELINE_ABORTED:
			break;		/* after a failure, already counted */
		default:
			if (*fail == MQ_NET_OK) {
				mq_set_error(error, errlen, "execute: unexpected %s",
				    PQresStatus(PQresultStatus(res)));
				*fail = MQ_NET_LOST;
			}
			break;
		}
		PQclear(res);
		if (*fail == MQ_NET_LOST && PQstatus(be->pg) == CONNECTION_BAD)
			return -1;
	}
	if (at != b->nsent && *fail == MQ_NET_OK) {
		mq_set_error(error, errlen, "execute: %zu results for %zu queries",
		    at, b->nsent);
		*fail = MQ_NET_LOST;
	}
	return 0;
}

/*
 * run_batch - the queries of b in one pipeline (one sync, one round trip)
 * under one deadline: MQ_FOUND, or MQ_TEMPFAIL with *fail.
 */
static int
run_batch(struct pg_batch *b, size_t *rows_r, enum mq_net_fail *fail,
    char *error, size_t errlen)
{
	struct mq_backend *be = b->be;
	uint64_t deadline = mq_now_monotonic_us() +
	    (uint64_t)be->net.query_timeout * 1000000u;

	*fail = MQ_NET_OK;
	if (batch_send(b, deadline, fail, error, errlen) < 0 ||
	    batch_receive(b, deadline, rows_r, fail, error, errlen) < 0)
		goto failed;
	if (!PQexitPipelineMode(be->pg) && *fail == MQ_NET_OK) {
		conn_error(be->pg, "pipeline", error, errlen);
		*fail = MQ_NET_LOST;
	}
	if (*fail == MQ_NET_OK)
		return MQ_FOUND;
failed:
	/* A connection left in pipeline mode is not used again. */
	if (*fail != MQ_NET_TIMEOUT && be->pg != NULL &&
	    PQpipelineStatus(be->pg) != PQ_PIPELINE_OFF)
		*fail = MQ_NET_LOST;
	after_failure(be, *fail);
	return MQ_TEMPFAIL;
}

/* batch_attempt - connect when needed and run the batch (mq_net_attempt_fn). */
static int
batch_attempt(void *arg, size_t *rows_r, enum mq_net_fail *fail, char *error,
    size_t errlen)
{
	struct pg_batch *b = arg;

	if (b->be->pg == NULL && pg_connect(b->be, error, errlen) < 0) {
		*fail = MQ_NET_DOWN;
		return MQ_TEMPFAIL;
	}
	return run_batch(b, rows_r, fail, error, errlen);
}

static int
pg_query_batch(struct mq_backend *be, size_t n, const enum mq_query_kind *kinds,
    const struct mq_key *keys, mq_row_fn *fn, void *const *ctxs, int *results,
    char *error, size_t errlen)
{
	struct pg_batch b = { .be = be, .n = n, .kinds = kinds, .keys = keys,
	    .fn = fn, .ctxs = ctxs, .results = results };
	enum mq_net_fail fail;
	size_t todo = 0;

	if (n > PG_MAX_BATCH) {
		mq_set_error(error, errlen, "too many queries for one batch");
		return MQ_MISS;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)kinds[i] >= MQ_Q_COUNT ||
		    be->net.sql[kinds[i]].text == NULL) {
			mq_set_error(error, errlen, "no such query configured");
			return MQ_MISS;
		}
		/* As in pg_query: a key that is not UTF-8 equals no value. */
		b.skip[i] = !mq_net_key_ok(&be->net.sql[kinds[i]], &keys[i]);
		results[i] = MQ_NOTFOUND;
		todo += !b.skip[i];
	}
	if (todo == 0)
		return MQ_FOUND;
	recheck(be);
	failback(be);
	mq_net_run("pgsql", batch_attempt, &b, &fail, error, errlen);
	if (fail == MQ_NET_OK) {
		mq_debug("pgsql: %zu queries in one round trip", todo);
		return MQ_FOUND;
	}
	/* No connection or a timeout: queries of their own would only repeat it. */
	if (fail == MQ_NET_DOWN || fail == MQ_NET_TIMEOUT ||
	    fail == MQ_NET_SERVER_TIMEOUT)
		return MQ_TEMPFAIL;
	return MQ_MISS;		/* the caller runs them one by one */
}

const struct mq_backend_ops mq_backend_pgsql = {
	.name = "pgsql",
	.style = MQ_SQL_DOLLAR,
	.open = pg_open,
	.query = pg_query,
	.close = pg_close,
	.query_batch = pg_query_batch,
	.columns = pg_columns,
};
