/* SPDX-License-Identifier: MIT */
/*
 * backend_net - what the MariaDB and PostgreSQL drivers share: the host
 * list, failover across it, and a per-host circuit breaker.
 *
 * Hosts come from database.hosts: "name", "name:port", "[v6addr]:port",
 * a bare IPv6 address, or "unix:/path" for a socket. A host without its own
 * port uses database.port (0 = the driver's default).
 *
 * Circuit breaker: every connection of the process to one host shares one
 * breaker. A failed connect opens it for a back-off delay (0.5 s, doubled
 * after each failed retry up to 30 s); while it is open no connection to
 * that host is tried and callers get "database unavailable (retrying in N s)"
 * at once. When the delay is over one caller (the probe) tries; the others
 * keep failing fast until the probe reports. A successful connect closes the
 * breaker. So a dead server costs at most one connect timeout per back-off
 * period, never one per request.
 *
 * A host that accepts the connection but is not fit to answer (a Galera
 * node outside the primary component, a replica further behind than
 * database.max_replica_lag) is treated exactly like one that refuses it:
 * the driver checks the server's state right after connecting and fails
 * the attempt, and a query refused as "not ready" on an open connection
 * opens the host's breaker through mq_net_host_down before the driver
 * moves to the next host.
 *
 * Failback: a connection to a host other than the first is not kept for
 * ever. At most once a second (MQ_NET_RECHECK_US) the driver asks
 * mq_net_failback_due whether a host listed before it may be tried (its
 * breaker closed, or open with the back-off delay over); if so it connects
 * there (mq_net_connect with a limit) and, once that worked, drops the
 * connection it had. A host that is still down costs one probe per back-off
 * delay, shared by the whole process, as for any other connect.
 *
 * Breakers live for the whole process (one per distinct configured host,
 * a handful of bytes each); they are not freed on reload.
 */
#ifndef MQ_BACKEND_NET_H
#define MQ_BACKEND_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#include "config.h"
#include "sqltmpl.h"

#define MQ_NET_BACKOFF_MIN_US	500000u		/* first back-off delay */
#define MQ_NET_BACKOFF_MAX_US	30000000u	/* cap */
#define MQ_NET_RECHECK_US	1000000u	/* failback and lag checks */

struct mq_breaker;

struct mq_net_host {
	char *spec;		/* as configured, for messages */
	char *host;		/* TCP name or address; NULL for a socket */
	char *socket;		/* unix socket path; NULL for TCP */
	unsigned port;		/* 0 = the driver's default */
	struct mq_breaker *breaker;	/* shared by the whole process */
};

struct mq_net_hosts {
	struct mq_net_host *v;
	size_t n;
	bool connected;		/* connected once: the next connect is a reconnect */
};

/*
 * mq_net_hosts_parse - split db->hosts; driver ("mysql", "pgsql") keeps the
 * breakers of different drivers apart. Returns 0, or -1 with *error set.
 */
int mq_net_hosts_parse(const struct mq_db_config *db, const char *driver,
    struct mq_net_hosts *hosts, char *error, size_t errlen);
void mq_net_hosts_free(struct mq_net_hosts *hosts);

/* What both network drivers keep from the configuration. */
struct mq_net_setup {
	struct mq_net_hosts hosts;
	struct mq_sql sql[MQ_Q_COUNT];	/* text NULL: query not configured */
	char *name;
	char *user;		/* NULL: the client library's default */
	char *password;		/* NULL: none; wiped when freed */
	unsigned connect_timeout;
	unsigned query_timeout;
	unsigned max_replica_lag;	/* seconds; 0 = not checked */
};

/* mq_net_setup_init - hosts, translated queries, credentials; 0 or -1 with error. */
int mq_net_setup_init(struct mq_net_setup *setup, const struct mq_db_config *db,
    char *const queries[MQ_Q_COUNT], const char *driver, enum mq_sql_style style,
    char *error, size_t errlen);
void mq_net_setup_free(struct mq_net_setup *setup);

/*
 * One connection attempt to one host: 0 when connected, -1 with a message
 * (the server's or the library's own words) in error.
 */
typedef int mq_net_connect_fn(void *ctx, const struct mq_net_host *host,
    char *error, size_t errlen);

/*
 * mq_net_connect - try the first limit hosts in order (every host when
 * limit is hosts->n), skipping those whose breaker is open. Returns 0 with
 * the index of the host that answered in *index_r, or -1 with a message for
 * the caller's TEMPFAIL.
 */
int mq_net_connect(struct mq_net_hosts *hosts, const char *driver,
    mq_net_connect_fn *fn, void *ctx, size_t limit, size_t *index_r,
    char *error, size_t errlen);

/*
 * mq_net_host_down - host index answered a query with "not ready" on an
 * open connection: open its breaker as a failed connect would, so that the
 * next connect goes to the next host.
 */
void mq_net_host_down(struct mq_net_hosts *hosts, size_t index,
    const char *driver, const char *error);

/*
 * mq_net_failback_due - the caller is connected to host index: true when
 * index > 0, *next_us (the caller's own clock, monotonic microseconds) is
 * past, and a host before index may be tried now. Sets *next_us to the
 * time of the next look.
 */
bool mq_net_failback_due(struct mq_net_hosts *hosts, size_t index,
    uint64_t *next_us);

/*
 * mq_net_lag_check_due - max_replica_lag is set and *next_us is past;
 * sets *next_us to the time of the next check.
 */
bool mq_net_lag_check_due(const struct mq_net_setup *setup, uint64_t *next_us);

/*
 * How one attempt at a query went wrong, which decides what happens to the
 * connection and whether the query runs once more (mq_net_run).
 */
enum mq_net_fail {
	MQ_NET_OK,
	MQ_NET_DOWN,		/* no connection could be made: no retry */
	MQ_NET_SQL,		/* the server refused the statement: keep the connection */
	MQ_NET_LOST,		/* connection-level failure: reconnect, retry once */
	MQ_NET_TIMEOUT,		/* client-side timeout: drop the connection, no retry */
	MQ_NET_SERVER_TIMEOUT,	/* the server's statement timeout: the connection is fine */
	MQ_NET_NOT_READY,	/* the host may not answer now: the next host, retry once */
};

/*
 * One attempt at a query: connect when there is no connection (else
 * *fail = MQ_NET_DOWN), run the query, count in *rows_r the rows handed to
 * the caller, and leave the connection as *fail requires (dropped when
 * lost or timed out, the host's breaker opened when not ready). Returns
 * the query's result (MQ_TEMPFAIL when *fail is not MQ_NET_OK).
 */
typedef int mq_net_attempt_fn(void *ctx, size_t *rows_r,
    enum mq_net_fail *fail, char *error, size_t errlen);

/* One query's arguments, for a driver's mq_net_attempt_fn. */
struct mq_net_call {
	struct mq_backend *be;
	enum mq_query_kind kind;
	const struct mq_key *key;
	mq_row_fn *fn;
	void *ctx;
};

/*
 * mq_net_run - run attempt, and once more when it failed with the
 * connection lost or the host not ready before any row was handed over:
 * the second attempt connects afresh (to the next host when this one was
 * not ready). Never more, so a query that kills its connection cannot
 * loop. Returns the last attempt's result, with its failure in *fail_r.
 */
int mq_net_run(const char *driver, mq_net_attempt_fn *attempt, void *ctx,
    enum mq_net_fail *fail_r, char *error, size_t errlen);

/*
 * mq_net_key_ok - false when a parameter of sql cannot match any row: a
 * missing key part or bytes that are not UTF-8 (the connection's encoding).
 * The caller answers MQ_NOTFOUND without asking the server.
 */
bool mq_net_key_ok(const struct mq_sql *sql, const struct mq_key *key);

/*
 * mq_net_query_ready - the check both drivers make before a query: MQ_FOUND
 * to go ahead, MQ_NOTFOUND when the key cannot match (mq_net_key_ok), or
 * MQ_TEMPFAIL with error set when the query is not configured.
 */
int mq_net_query_ready(const struct mq_net_setup *setup, enum mq_query_kind kind,
    const struct mq_key *key, char *error, size_t errlen);

/* mq_net_utf8_valid - strict UTF-8 (no overlong forms, surrogates, > U+10FFFF). */
bool mq_net_utf8_valid(const char *s);

/*
 * mq_net_message - copy a driver message for an error string or a log line:
 * runs of blanks and line breaks become one space, other control and
 * non-ASCII bytes '?', no trailing blank; a message longer than dst ends
 * in "...".
 */
void mq_net_message(char *dst, size_t size, const char *src);

#endif
