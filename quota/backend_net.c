/* SPDX-License-Identifier: MIT */
/*
 * backend_net - host list, failover and circuit breaker shared by the
 * MariaDB and PostgreSQL drivers. See backend_net.h.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_net.h"
#include "log.h"
#include "util.h"

struct mq_breaker {
	struct mq_breaker *next;
	char *key;		/* driver, host or socket, port */
	uint64_t delay_us;	/* 0: closed (healthy) */
	uint64_t retry_at_us;	/* monotonic time the next probe may start */
	bool probing;		/* a probe is under way */
	char error[256];	/* why the last connect failed */
};

static pthread_mutex_t breaker_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mq_breaker *breakers;

/* For mq_net_stats: relaxed counters, read by the metrics only. */
static atomic_uint_fast64_t net_connects, net_reconnects, net_failures;

/* breaker_get - the process-wide breaker for key, created on first use. */
static struct mq_breaker *
breaker_get(const char *key)
{
	struct mq_breaker *b;

	pthread_mutex_lock(&breaker_lock);
	for (b = breakers; b != NULL; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->key = xstrdup(key);
		b->next = breakers;
		breakers = b;
	}
	pthread_mutex_unlock(&breaker_lock);
	return b;
}

/*
 * breaker_may_try - whether a connect may be tried now. *probe_r tells the
 * caller it holds the single probe slot; *wait_us_r is the time left when not.
 */
static bool
breaker_may_try(struct mq_breaker *b, bool *probe_r, uint64_t *wait_us_r,
    char *lasterr, size_t lasterrlen)
{
	uint64_t now = mq_now_monotonic_us();
	bool ok;

	pthread_mutex_lock(&breaker_lock);
	*probe_r = false;
	*wait_us_r = 0;
	if (b->delay_us == 0)
		ok = true;
	else if (!b->probing && now >= b->retry_at_us) {
		b->probing = true;
		*probe_r = true;
		ok = true;
	} else {
		ok = false;
		if (!b->probing)
			*wait_us_r = b->retry_at_us - now;
		mq_strlcpy(lasterr, b->error, lasterrlen);
	}
	pthread_mutex_unlock(&breaker_lock);
	return ok;
}

/* breaker_failed - a connect failed: open the breaker or lengthen its delay. */
static void
breaker_failed(struct mq_breaker *b, bool probe, const char *driver,
    const char *spec, const char *error)
{
	uint64_t delay;
	bool opened = false;

	pthread_mutex_lock(&breaker_lock);
	if (probe) {
		b->delay_us *= 2;
		if (b->delay_us > MQ_NET_BACKOFF_MAX_US)
			b->delay_us = MQ_NET_BACKOFF_MAX_US;
		b->probing = false;
	} else if (b->delay_us == 0) {
		/* Several connections may fail at once: only the first opens it. */
		b->delay_us = MQ_NET_BACKOFF_MIN_US;
		opened = true;
	}
	b->retry_at_us = mq_now_monotonic_us() + b->delay_us;
	delay = b->delay_us;
	mq_strlcpy(b->error, error, sizeof(b->error));
	pthread_mutex_unlock(&breaker_lock);
	if (opened)
		mq_warn("%s: %s: %s; retrying in %.1f s", driver, spec, error,
		    (double)delay / 1e6);
	else
		mq_debug("%s: %s: still unreachable, next try in %.1f s",
		    driver, spec, (double)delay / 1e6);
}

/* breaker_ok - a connect worked: close the breaker. */
static void
breaker_ok(struct mq_breaker *b, const char *driver, const char *spec)
{
	bool was_open;

	pthread_mutex_lock(&breaker_lock);
	was_open = b->delay_us != 0;
	b->delay_us = 0;
	b->probing = false;
	b->error[0] = '\0';
	pthread_mutex_unlock(&breaker_lock);
	if (was_open)
		mq_notice("%s: %s: reachable again", driver, spec);
}

/* parse_port - "1".."65535" of length len; 0 on anything else. */
static unsigned
parse_port(const char *s, size_t len)
{
	uint64_t v;

	if (mq_parse_u64n(s, len, &v) < 0 || v == 0 || v > 65535)
		return 0;
	return (unsigned)v;
}

/* host_parse - one database.hosts entry into h; -1 with error when malformed. */
static int
host_parse(const char *spec, unsigned default_port, struct mq_net_host *h,
    char *error, size_t errlen)
{
	const char *colon;

	memset(h, 0, sizeof(*h));
	h->spec = xstrdup(spec);
	h->port = default_port;
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/') {
			mq_set_error(error, errlen, "database.hosts: \"%s\": a socket "
			    "path must be absolute", spec);
			return -1;
		}
		h->socket = xstrdup(spec + 5);
		return 0;
	}
	if (spec[0] == '\0') {
		mq_set_error(error, errlen, "database.hosts: empty host name");
		return -1;
	}
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (end == NULL || end == spec + 1 ||
		    (end[1] != '\0' && end[1] != ':') ||
		    (end[1] == ':' && (h->port = parse_port(end + 2,
		    strlen(end + 2))) == 0)) {
			mq_set_error(error, errlen, "database.hosts: \"%s\": expected "
			    "[address] or [address]:port", spec);
			return -1;
		}
		h->host = xstrndup(spec + 1, (size_t)(end - spec - 1));
		return 0;
	}
	colon = strchr(spec, ':');
	if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		/* "name:port"; several colons make a bare IPv6 address. */
		h->port = parse_port(colon + 1, strlen(colon + 1));
		if (h->port == 0 || colon == spec) {
			mq_set_error(error, errlen, "database.hosts: \"%s\": expected "
			    "host:port with a port from 1 to 65535", spec);
			return -1;
		}
		h->host = xstrndup(spec, (size_t)(colon - spec));
		return 0;
	}
	h->host = xstrdup(spec);
	return 0;
}

int
mq_net_hosts_parse(const struct mq_db_config *db, const char *driver,
    struct mq_net_hosts *hosts, char *error, size_t errlen)
{
	size_t i;

	hosts->v = NULL;
	hosts->n = 0;
	hosts->connected = false;
	if (db->nhosts == 0) {
		mq_set_error(error, errlen, "database.hosts: no host given");
		return -1;
	}
	if (db->port > 65535) {
		mq_set_error(error, errlen, "database.port: %u is not a port", db->port);
		return -1;
	}
	hosts->v = xcalloc(db->nhosts, sizeof(*hosts->v));
	for (i = 0; i < db->nhosts; i++) {
		struct mq_net_host *h = &hosts->v[i];
		char *key;

		hosts->n = i + 1;
		if (host_parse(db->hosts[i], db->port, h, error, errlen) < 0) {
			mq_net_hosts_free(hosts);
			return -1;
		}
		key = xasprintf("%s\n%s\n%s\n%u", driver,
		    h->socket != NULL ? "unix" : "tcp",
		    h->socket != NULL ? h->socket : h->host, h->port);
		h->breaker = breaker_get(key);
		free(key);
	}
	return 0;
}

void
mq_net_hosts_free(struct mq_net_hosts *hosts)
{
	size_t i;

	for (i = 0; i < hosts->n; i++) {
		free(hosts->v[i].spec);
		free(hosts->v[i].host);
		free(hosts->v[i].socket);
	}
	free(hosts->v);
	hosts->v = NULL;
	hosts->n = 0;
}

/* tried_add - "spec: msg" onto the list of failed hosts (grown, "; " between). */
static void
tried_add(char **list, const char *spec, const char *msg)
{
	char *s = xasprintf("%s%s%s: %s", *list != NULL ? *list : "",
	    *list != NULL ? "; " : "", spec, msg);

	free(*list);
	*list = s;
}

int
mq_net_connect(struct mq_net_hosts *hosts, const char *driver,
    mq_net_connect_fn *fn, void *ctx, size_t limit, size_t *index_r,
    char *error, size_t errlen)
{
	char *tried = NULL, lasterr[256] = "", msg[256];
	uint64_t wait, min_wait = UINT64_MAX;
	bool any_tried = false, probe;
	size_t i;

	if (limit > hosts->n)
		limit = hosts->n;
	for (i = 0; i < limit; i++) {
		struct mq_net_host *h = &hosts->v[i];

		if (!breaker_may_try(h->breaker, &probe, &wait, lasterr,
		    sizeof(lasterr))) {
			if (wait < min_wait)
				min_wait = wait;
			continue;
		}
		any_tried = true;
		msg[0] = '\0';
		if (fn(ctx, h, msg, sizeof(msg)) == 0) {
			breaker_ok(h->breaker, driver, h->spec);
			atomic_fetch_add_explicit(&net_connects, 1,
			    memory_order_relaxed);
			if (hosts->connected)
				atomic_fetch_add_explicit(&net_reconnects, 1,
				    memory_order_relaxed);
			hosts->connected = true;
			*index_r = i;
			free(tried);
			return 0;
		}
		atomic_fetch_add_explicit(&net_failures, 1, memory_order_relaxed);
		breaker_failed(h->breaker, probe, driver, h->spec, msg);
		tried_add(&tried, h->spec, msg);
	}
	if (any_tried)
		mq_set_error(error, errlen, "cannot connect to the database: %s", tried);
	else if (min_wait == UINT64_MAX || min_wait == 0)
		mq_set_error(error, errlen, "database unavailable (reconnecting)%s%s",
		    lasterr[0] != '\0' ? ": " : "", lasterr);
	else
		mq_set_error(error, errlen, "database unavailable (retrying in %.1f s)%s%s",
		    (double)min_wait / 1e6, lasterr[0] != '\0' ? ": " : "", lasterr);
	free(tried);
	return -1;
}

int
mq_net_run(const char *driver, mq_net_attempt_fn *attempt, void *ctx,
    enum mq_net_fail *fail_r, char *error, size_t errlen)
{
	size_t rows;
	int tries, r;

	for (tries = 1;; tries++) {
		rows = 0;
		*fail_r = MQ_NET_OK;
		r = attempt(ctx, &rows, fail_r, error, errlen);
		if (*fail_r == MQ_NET_OK)
			return r;
		if ((*fail_r != MQ_NET_LOST && *fail_r != MQ_NET_NOT_READY) ||
		    tries > 1 || rows > 0)
			return MQ_TEMPFAIL;
		mq_debug("%s: %s, retrying once: %s", driver,
		    *fail_r == MQ_NET_LOST ? "connection lost" : "host not ready",
		    error);
	}
}

void
mq_net_host_down(struct mq_net_hosts *hosts, size_t index, const char *driver,
    const char *error)
{
	struct mq_net_host *h;

	if (index >= hosts->n)
		return;
	h = &hosts->v[index];
	atomic_fetch_add_explicit(&net_failures, 1, memory_order_relaxed);
	breaker_failed(h->breaker, false, driver, h->spec, error);
}

bool
mq_net_failback_due(struct mq_net_hosts *hosts, size_t index, uint64_t *next_us)
{
	uint64_t now;
	bool due = false;
	size_t i;

	if (index == 0 || index >= hosts->n)
		return false;
	now = mq_now_monotonic_us();
	if (now < *next_us)
		return false;
	*next_us = now + MQ_NET_RECHECK_US;
	pthread_mutex_lock(&breaker_lock);
	for (i = 0; i < index && !due; i++) {
		const struct mq_breaker *b = hosts->v[i].breaker;

		due = b->delay_us == 0 || (!b->probing && now >= b->retry_at_us);
	}
	pthread_mutex_unlock(&breaker_lock);
	return due;
}

bool
mq_net_lag_check_due(const struct mq_net_setup *setup, uint64_t *next_us)
{
	uint64_t now;

	if (setup->max_replica_lag == 0)
		return false;
	now = mq_now_monotonic_us();
	if (now < *next_us)
		return false;
	*next_us = now + MQ_NET_RECHECK_US;
	return true;
}

void
mq_net_stats(uint64_t *connects_r, uint64_t *reconnects_r,
    uint64_t *failures_r)
{
	*connects_r = atomic_load_explicit(&net_connects, memory_order_relaxed);
	*reconnects_r = atomic_load_explicit(&net_reconnects,
	    memory_order_relaxed);
	*failures_r = atomic_load_explicit(&net_failures, memory_order_relaxed);
}

bool
mq_net_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned c = *p, cp;
		size_t n, i;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;	/* also stops at the NUL */
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += n + 1;
	}
	return true;
}

bool
mq_net_key_ok(const struct mq_sql *sql, const struct mq_key *key)
{
	size_t i;

	for (i = 0; i < sql->nparams; i++) {
		const char *v;

		if (key == NULL)
			return false;
		v = mq_sql_param_value(sql->params[i], key);
		if (v == NULL || !mq_net_utf8_valid(v))
			return false;
	}
	return true;
}

int
mq_net_query_ready(const struct mq_net_setup *setup, enum mq_query_kind kind,
    const struct mq_key *key, char *error, size_t errlen)
{
	if ((unsigned)kind >= MQ_Q_COUNT || setup->sql[kind].text == NULL) {
		mq_set_error(error, errlen, "no %s query configured",
		    (unsigned)kind < MQ_Q_COUNT ? mq_query_kind_name(kind) : "such");
		return MQ_TEMPFAIL;
	}
	return mq_net_key_ok(&setup->sql[kind], key) ? MQ_FOUND : MQ_NOTFOUND;
}

void
mq_net_message(char *dst, size_t size, const char *src)
{
	size_t n = 0;
	bool blank = false;

	if (size == 0)
		return;
	for (; src != NULL && *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			blank = n > 0;
			continue;
		}
		if (blank) {
			if (n + 1 >= size)
				goto cut;
			dst[n++] = ' ';
			blank = false;
		}
		if (n + 1 >= size)
			goto cut;
		dst[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
	return;
cut:
	/* A message longer than dst says that it was cut. */
	dst[n] = '\0';
	if (size > 4)
		memcpy(dst + size - 4, "...", 4);
}

/* wipe - clear a secret before freeing it. */
static void
wipe(char *s)
{
	if (s == NULL)
		return;
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(s, strlen(s));
#else
	{
		volatile char *p = s;

		while (*p != '\0')
			*p++ = '\0';
	}
#endif
	free(s);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

int
mq_net_setup_init(struct mq_net_setup *setup, const struct mq_db_config *db,
    char *const queries[MQ_Q_COUNT], const char *driver, enum mq_sql_style style,
    char *error, size_t errlen)
{
	memset(setup, 0, sizeof(*setup));
	if (mq_net_hosts_parse(db, driver, &setup->hosts, error, errlen) < 0)
		return -1;
	if (mq_backend_translate(queries, style, setup->sql, error, errlen) < 0) {
		mq_net_hosts_free(&setup->hosts);
		return -1;
	}
	setup->name = xstrdup(db->name != NULL ? db->name : "");
	setup->user = dup_or_null(db->user);
	setup->password = dup_or_null(db->password);
	setup->connect_timeout = db->connect_timeout > 0 ? (unsigned)db->connect_timeout : 5;
	setup->query_timeout = db->query_timeout > 0 ? (unsigned)db->query_timeout : 5;
	setup->max_replica_lag = db->max_replica_lag > 0 ?
	    (unsigned)db->max_replica_lag : 0;
	return 0;
}

void
mq_net_setup_free(struct mq_net_setup *setup)
{
	mq_backend_translate_free(setup->sql);
	mq_net_hosts_free(&setup->hosts);
	free(setup->name);
	free(setup->user);
	wipe(setup->password);
	setup->name = setup->user = setup->password = NULL;
}
