/* SPDX-License-Identifier: MIT */
/*
 * metrics - counters of mailquota-policyd as Prometheus text and as log
 * lines. See metrics.h.
 *
 * The exposition follows the Prometheus text format 0.0.4: HELP and TYPE
 * lines, counters named *_total, the latency as a histogram in seconds
 * with cumulative buckets, _sum and _count. It is built fresh for each
 * scrape on the loop thread, from integers the loop owns and atomics the
 * workers update: a few kilobytes, no locks.
 *
 * The HTTP side is libevent's evhttp on the daemon's event base: GET and
 * HEAD of /metrics, 404 for other paths, 405 for other methods, small
 * header limits, a timeout, a cap on connections and a deadline per request
 * (see struct http_conn). It is meant for a loopback or management
 * address, like the policy port itself.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "metrics.h"
#include "bind.h"

#define HTTP_TIMEOUT_SECS 10	/* evhttp's: silence while reading or writing */
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_CONNS 16	/* scrapers are few; more are closed unanswered */
#define HTTP_DEADLINE_SECS 10	/* first byte of a request to its reply */

/* 100 us to 10 s: a cache hit is tens of microseconds, a query milliseconds. */
const uint64_t mq_metrics_bounds_us[MQ_METRICS_NBUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000
};

void
mq_metrics_observe(struct mq_counters *c, uint64_t latency_us)
{
	size_t i;

	for (i = 0; i < MQ_METRICS_NBUCKETS; i++)
		if (latency_us <= mq_metrics_bounds_us[i])
			break;
	c->latency[i]++;
	c->latency_sum_us += latency_us;
}

static void
stats_add(struct mq_engine_stats *sum, const struct mq_engine_stats *s)
{
	sum->cache_hits += s->cache_hits;
	sum->cache_misses += s->cache_misses;
	sum->usage_hits += s->usage_hits;
	sum->usage_misses += s->usage_misses;
	sum->db_errors += s->db_errors;
	sum->db_connects += s->db_connects;
	sum->stale_hits += s->stale_hits;
	sum->stale_answers += s->stale_answers;
}

void
mq_metrics_retire(struct mq_counters *c, struct mq_engine *engine)
{
	struct mq_engine_stats es;

	memset(&es, 0, sizeof(es));
	mq_engine_stats(engine, &es);
	stats_add(&c->retired, &es);
}

void
mq_metrics_view_init(struct mq_metrics_view *v, const struct mq_counters *c,
    struct mq_engine *engine)
{
	struct mq_engine_stats es;

	memset(v, 0, sizeof(*v));
	v->c = c;
	v->engine = c->retired;
	memset(&es, 0, sizeof(es));
	if (engine != NULL)
		mq_engine_stats(engine, &es);
	stats_add(&v->engine, &es);
	mq_engine_net_stats(&v->net_connects, &v->net_reconnects, &v->net_failures);
}

/* ------------------------------------------------------------ exposition */

struct text {
	char *buf;
	size_t len, cap;
};

static void MQ_PRINTF(2, 3)
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n;
		t->buf = xreallocarray(t->buf, t->cap, 1);
	}
}

/* family - the HELP and TYPE lines of one metric. */
static void
family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	family(t, name, "counter", help);
	put(t, "%s %" PRIu64 "\n", name, v);
}

static void
gauge(struct text *t, const char *name, const char *help, uint64_t v)
{
	family(t, name, "gauge", help);
	put(t, "%s %" PRIu64 "\n", name, v);
}

/* put_seconds - microseconds as a decimal number of seconds, exactly. */
static void
put_seconds(struct text *t, uint64_t us)
{
	put(t, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* put_le - a bucket bound in seconds, shortest form: 0.00025, 1, 2.5. */
static void
put_le(struct text *t, uint64_t us)
{
	char frac[8];
	size_t n;

	snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	put(t, "%" PRIu64 "%s%s", us / 1000000, n > 0 ? "." : "", frac);
}

char *
mq_metrics_text(const struct mq_metrics_view *v, size_t *len_r)
{
	const struct mq_counters *c = v->c;
	struct text t = { NULL, 0, 4096 };
	uint64_t cum = 0;
	size_t i;

	t.buf = xmalloc(t.cap);
	t.buf[0] = '\0';

	family(&t, "mailquota_requests_total", "counter",
	    "Policy requests answered, by outcome of the decision (with dry_run, the outcome before it).");
	for (i = 0; i < MQ_OUT_COUNT; i++)
		put(&t, "mailquota_requests_total{outcome=\"%s\"} %" PRIu64 "\n",
		    mq_outcome_name((enum mq_outcome)i), c->outcome[i]);

	family(&t, "mailquota_request_duration_seconds", "histogram",
	    "Time from a complete request to its reply.");
	for (i = 0; i < MQ_METRICS_NBUCKETS; i++) {
		cum += c->latency[i];
		put(&t, "mailquota_request_duration_seconds_bucket{le=\"");
		put_le(&t, mq_metrics_bounds_us[i]);
		put(&t, "\"} %" PRIu64 "\n", cum);
	}
	cum += c->latency[MQ_METRICS_NBUCKETS];
	put(&t, "mailquota_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	put(&t, "mailquota_request_duration_seconds_sum ");
	put_seconds(&t, c->latency_sum_us);
	put(&t, "\nmailquota_request_duration_seconds_count %" PRIu64 "\n", cum);

	family(&t, "mailquota_answered_total", "counter",
	    "Requests answered from the caches on the event loop, or by a worker thread.");
	put(&t, "mailquota_answered_total{by=\"loop\"} %" PRIu64 "\n", c->on_loop);
	put(&t, "mailquota_answered_total{by=\"worker\"} %" PRIu64 "\n", c->by_workers);
	counter(&t, "mailquota_dropped_total",
	    "Worker results dropped because the client had gone.", c->dropped);
	counter(&t, "mailquota_dry_run_total",
	    "Rejections answered with reply_success because of dry_run.", c->dry_run);
	counter(&t, "mailquota_on_error_pass_total",
	    "Temporary failures answered with reply_success because of on_error = pass.",
	    c->on_error_pass);
	counter(&t, "mailquota_malformed_requests_total",
	    "Malformed requests (the connection was closed without a reply).",
	    c->malformed);

	gauge(&t, "mailquota_connections_open", "Client connections open now.",
	    v->conns_open);
	counter(&t, "mailquota_connections_total", "Client connections accepted.",
	    c->conns_total);
	counter(&t, "mailquota_connections_refused_per_client_total",
	    "Connections closed at once: their address had policy.max_connections_per_client open.",
	    c->client_limit);
	counter(&t, "mailquota_connection_timeouts_total",
	    "Connections closed at policy.idle_timeout.", c->timeouts);
	counter(&t, "mailquota_accept_errors_total",
	    "Failed accept() calls (out of descriptors or memory).",
	    c->accept_errors);
	gauge(&t, "mailquota_requests_in_flight", "Requests at the worker threads now.",
	    v->in_flight);
	gauge(&t, "mailquota_requests_queued",
	    "Requests waiting for a free worker thread now.", v->queued);
	gauge(&t, "mailquota_workers", "Worker threads.",
	    v->workers > 0 ? (uint64_t)v->workers : 0);

	counter(&t, "mailquota_cache_hits_total",
	    "User, alias and domain lookups answered by the cache (negative entries included).",
	    v->engine.cache_hits);
	counter(&t, "mailquota_cache_misses_total",
	    "User, alias and domain lookups the cache could not answer.",
	    v->engine.cache_misses);
	counter(&t, "mailquota_usage_cache_hits_total",
	    "Mailbox usage found fresh in the usage cache on the event loop.",
	    v->engine.usage_hits);
	counter(&t, "mailquota_usage_cache_misses_total",
	    "Mailbox usage not fresh in the usage cache on the event loop (the request went to a worker).",
	    v->engine.usage_misses);
	counter(&t, "mailquota_cache_stale_hits_total",
	    "Lookups answered from an expired entry after the database failed (policy.stale_ttl).",
	    v->engine.stale_hits);
	counter(&t, "mailquota_stale_answers_total",
	    "Decisions that used at least one expired cache entry (policy.stale_ttl).",
	    v->engine.stale_answers);
	counter(&t, "mailquota_db_errors_total",
	    "Database lookups that failed (connect, query or timeout).",
	    v->engine.db_errors);
	counter(&t, "mailquota_db_sessions_total",
	    "Database sessions opened by the worker threads (one per worker and configuration).",
	    v->engine.db_connects);
	counter(&t, "mailquota_db_connects_total",
	    "Connections made to a MariaDB or PostgreSQL server, reconnects included.",
	    v->net_connects);
	counter(&t, "mailquota_db_reconnects_total",
	    "Connections to a database server made again after one was lost.",
	    v->net_reconnects);
	counter(&t, "mailquota_db_connect_failures_total",
	    "Failed attempts to connect to a database server.", v->net_failures);

	gauge(&t, "mailquota_config_generation",
	    "The configuration in use: 1 at start, one more per reload.",
	    v->generation);
	family(&t, "mailquota_build_info", "gauge", "The version of mailquota-policyd.");
	put(&t, "mailquota_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	gauge(&t, "process_start_time_seconds",
	    "Start time of the process since the Unix epoch, in seconds.",
	    v->start_time);

	*len_r = t.len;
	return t.buf;
}

void
mq_metrics_log(const struct mq_metrics_view *v)
{
	const struct mq_counters *c = v->c;
	uint64_t cum = 0;
	char hist[512];
	size_t i, n = 0;

	mq_info("stats: requests=%" PRIu64 " %s=%" PRIu64 " %s=%" PRIu64
	    " %s=%" PRIu64 " %s=%" PRIu64 " %s=%" PRIu64 " %s=%" PRIu64
	    " dry_run=%" PRIu64 " on_error_pass=%" PRIu64
	    " answered_on_loop=%" PRIu64 " answered_by_workers=%" PRIu64
	    " dropped=%" PRIu64, c->requests,
	    mq_outcome_name(MQ_OUT_SUCCESS), c->outcome[MQ_OUT_SUCCESS],
	    mq_outcome_name(MQ_OUT_NOUSER), c->outcome[MQ_OUT_NOUSER],
	    mq_outcome_name(MQ_OUT_DISABLED), c->outcome[MQ_OUT_DISABLED],
	    mq_outcome_name(MQ_OUT_OVERQUOTA), c->outcome[MQ_OUT_OVERQUOTA],
	    mq_outcome_name(MQ_OUT_TOOLARGE), c->outcome[MQ_OUT_TOOLARGE],
	    mq_outcome_name(MQ_OUT_TEMPFAIL), c->outcome[MQ_OUT_TEMPFAIL],
	    c->dry_run, c->on_error_pass, c->on_loop, c->by_workers,
	    c->dropped);
	mq_info("stats: connections_open=%zu connections_total=%" PRIu64
	    " malformed=%" PRIu64 " timeouts=%" PRIu64 " accept_errors=%" PRIu64
	    " queued=%zu in_flight=%zu workers=%d", v->conns_open,
	    c->conns_total, c->malformed, c->timeouts, c->accept_errors,
	    v->queued, v->in_flight, v->workers);
	mq_info("stats: generation=%u cache_hits=%" PRIu64 " cache_misses=%" PRIu64
	    " usage_hits=%" PRIu64 " usage_misses=%" PRIu64 " db_errors=%" PRIu64
	    " db_sessions=%" PRIu64 " db_connects=%" PRIu64
	    " db_reconnects=%" PRIu64 " db_connect_failures=%" PRIu64
	    " stale_hits=%" PRIu64 " stale_answers=%" PRIu64,
	    v->generation, v->engine.cache_hits, v->engine.cache_misses,
	    v->engine.usage_hits, v->engine.usage_misses, v->engine.db_errors,
	    v->engine.db_connects, v->net_connects, v->net_reconnects,
	    v->net_failures, v->engine.stale_hits, v->engine.stale_answers);
	/* Cumulative, as in the histogram: le_ms=count pairs. */
	hist[0] = '\0';
	for (i = 0; i <= MQ_METRICS_NBUCKETS; i++) {
		int r;

		cum += c->latency[i];
		if (i < MQ_METRICS_NBUCKETS)
			r = snprintf(hist + n, sizeof(hist) - n, " le%" PRIu64
			    ".%03" PRIu64 "ms=%" PRIu64,
			    mq_metrics_bounds_us[i] / 1000,
			    mq_metrics_bounds_us[i] % 1000, cum);
		else
			r = snprintf(hist + n, sizeof(hist) - n, " le_inf=%" PRIu64,
			    cum);
		if (r < 0 || (size_t)r >= sizeof(hist) - n)
			break;
		n += (size_t)r;
	}
	mq_info("stats: latency_count=%" PRIu64 " latency_sum_ms=%" PRIu64
	    ".%03" PRIu64 "%s", cum, c->latency_sum_us / 1000,
	    c->latency_sum_us % 1000, hist);
}

/* ---------------------------------------------------------------- HTTP */

struct mq_metrics_http {
	struct evhttp *http;
	mq_metrics_view_fn *fn;
	void *arg;
	struct http_conn *conns;	/* every connection evhttp was given */
	size_t nconns;
	struct event *sweep;		/* once a second: connections evhttp let go */
};

/*
 * One connection. Its bufferevent is made here (evhttp_set_bevcb) and
 * holds a reference of ours, so that a sweep can tell when evhttp has
 * freed it (its callbacks are cleared) and only then release it and the
 * place it takes under HTTP_MAX_CONNS: at each new connection, and once a
 * second for the sockets' sake. The request deadline starts at a
 * request's first byte (an input buffer callback) and ends with its reply:
 * evhttp's own timeout is an inactivity timeout that every byte resets.
 */
struct http_conn {
	struct http_conn *next;
	struct bufferevent *bev;
	struct event *deadline;
	bool refused;		/* over HTTP_MAX_CONNS: closed at its first byte */
};

static bool
evhttp_let_go(struct bufferevent *bev)
{
	bufferevent_data_cb r, w;
	bufferevent_event_cb ev;
	void *arg;

	bufferevent_getcb(bev, &r, &w, &ev, &arg);
	return r == NULL && w == NULL && ev == NULL;
}

/* http_end - make evhttp close the connection, as at its own timeout. */
static void
http_end(struct http_conn *hc)
{
	if (!evhttp_let_go(hc->bev))
		bufferevent_trigger_event(hc->bev, BEV_EVENT_READING |
		    BEV_EVENT_TIMEOUT, BEV_TRIG_DEFER_CALLBACKS);
}

static void
http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	http_end(arg);
}

/* http_input_cb - bytes arrived: a refused connection ends, a request's deadline starts. */
static void
http_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *hc = arg;
	struct timeval tv = { HTTP_DEADLINE_SECS, 0 };

	if (info->n_added == 0)
		return;
	if (hc->refused)
		http_end(hc);
	else if (!evtimer_pending(hc->deadline, NULL))
		evtimer_add(hc->deadline, &tv);
}

static void http_release(struct mq_metrics_http *h, bool all);

static struct bufferevent *
http_bev(struct event_base *base, void *arg)
{
	struct mq_metrics_http *h = arg;
	struct http_conn *hc;

	http_release(h, false);		/* the count is exact at each accept */
	hc = xcalloc(1, sizeof(*hc));

	hc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	hc->deadline = evtimer_new(base, http_deadline_cb, hc);
	if (hc->bev == NULL || hc->deadline == NULL ||
	    evbuffer_add_cb(bufferevent_get_input(hc->bev), http_input_cb, hc) == NULL) {
		if (hc->bev != NULL)
			bufferevent_free(hc->bev);
		if (hc->deadline != NULL)
			event_free(hc->deadline);
		free(hc);
		return NULL;	/* evhttp makes a plain one */
	}
	bufferevent_incref(hc->bev);
	hc->refused = h->nconns >= HTTP_MAX_CONNS;
	h->nconns++;
	hc->next = h->conns;
	h->conns = hc;
	return hc->bev;
}

/* http_release - let go of connections evhttp has freed (all with force). */
static void
http_release(struct mq_metrics_http *h, bool all)
{
	struct http_conn **p = &h->conns;

	while (*p != NULL) {
		struct http_conn *hc = *p;

		if (!all && !evhttp_let_go(hc->bev)) {
			p = &hc->next;
			continue;
		}
		*p = hc->next;
		h->nconns--;
		event_free(hc->deadline);
		evbuffer_remove_cb(bufferevent_get_input(hc->bev), http_input_cb, hc);
		bufferevent_decref(hc->bev);	/* the last reference: closes the socket */
		free(hc);
	}
}

static void
http_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	http_release(arg, false);
}

/* http_answered - a request has its reply: its deadline is over. */
static void
http_answered(struct mq_metrics_http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ?
	    evhttp_connection_get_bufferevent(evcon) : NULL;
	struct http_conn *hc;

	for (hc = h->conns; hc != NULL; hc = hc->next)
		if (hc->bev == bev) {
			evtimer_del(hc->deadline);
			break;
		}
}

int
mq_metrics_bind(const char *spec, int **fds_r, size_t *nfds_r, char *error,
    size_t errlen)
{
	struct mq_listen l;
	const char *why;
	int rc;

	*fds_r = NULL;
	*nfds_r = 0;
	if ((why = mq_listen_parse(spec, &l)) != NULL || l.kind != MQ_LISTEN_INET) {
		snprintf(error, errlen, "policy.metrics: \"%s\": %s", spec,
		    why != NULL ? why : "expected inet:HOST:PORT");
		mq_listen_clear(&l);
		return -1;
	}
	rc = mq_listen_bind(&l, fds_r, nfds_r, error, errlen);
	mq_listen_clear(&l);
	return rc;
}

/* http_cb - every request: /metrics gets the text, anything else 404. */
static void
http_cb(struct evhttp_request *req, void *arg)
{
	struct mq_metrics_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct mq_metrics_view v;
	struct evbuffer *body;
	char *text;
	size_t len;

	http_answered(h, req);
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	h->fn(h->arg, &v);
	text = mq_metrics_text(&v, &len);
	evbuffer_add(body, text, len);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
	    "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

struct mq_metrics_http *
mq_metrics_http_new(struct event_base *base, int *fds, size_t nfds,
    mq_metrics_view_fn *fn, void *arg)
{
	struct mq_metrics_http *h = xcalloc(1, sizeof(*h));
	size_t i;

	h->fn = fn;
	h->arg = arg;
	if ((h->http = evhttp_new(base)) == NULL) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SECS);
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_gencb(h->http, http_cb, h);
	evhttp_set_bevcb(h->http, http_bev, h);
	if ((h->sweep = event_new(base, -1, EV_PERSIST, http_sweep_cb, h)) != NULL) {
		struct timeval tv = { 1, 0 };

		event_add(h->sweep, &tv);
	}
	for (i = 0; i < nfds; i++) {
		/* The bound socket is evhttp's now: closed by evhttp_free. */
		if (evhttp_accept_socket_with_handle(h->http, fds[i]) == NULL) {
			mq_error("policy.metrics: cannot serve HTTP on descriptor %d",
			    fds[i]);
			close(fds[i]);
		}
	}
	return h;
}

void
mq_metrics_http_free(struct mq_metrics_http **hp)
{
	struct mq_metrics_http *h = *hp;

	*hp = NULL;
	if (h == NULL)
		return;
	evhttp_free(h->http);
	if (h->sweep != NULL)
		event_free(h->sweep);
	http_release(h, true);
	free(h);
}
