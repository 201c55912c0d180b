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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "config.h"
#include "buf.h"
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

/* ------------------------------------------------------------ the table */

/*
 * Every figure once: its Prometheus family (name, type, help, the sample's
 * labels) and its key on a SIGUSR1 "stats:" line, with where its value is.
 * The exposition shows the rows in this order; each stats line shows its
 * rows in this order too. Two rows with one name are two samples of one
 * family (HELP and TYPE once). The latency histogram is a row of its own
 * in the exposition; in the log it is the fourth line (log_latency).
 */
enum metric_kind { M_COUNTER, M_GAUGE, M_OUTCOMES, M_LATENCY, M_BUILD_INFO };
enum metric_src { IN_COUNTERS, IN_ENGINE, IN_VIEW };

struct metric {
	enum metric_kind kind;
	const char *name;	/* Prometheus family; NULL: the log only */
	const char *labels;	/* "{by=\"loop\"}" or NULL */
	const char *help;
	int line;		/* its "stats:" line, 1 to 3; 0: not logged */
	const char *key;	/* its key there */
	enum metric_src src;
	size_t off;		/* a uint64_t in src */
};

#define CTR(f) IN_COUNTERS, offsetof(struct mq_counters, f)
#define ENG(f) IN_ENGINE, offsetof(struct mq_engine_stats, f)
#define VIEW(f) IN_VIEW, offsetof(struct mq_metrics_view, f)

static const struct metric metrics[] = {
	{ M_COUNTER, NULL, NULL, NULL, 1, "requests", CTR(requests) },
	{ M_OUTCOMES, "mailquota_requests_total", NULL,
	  "Policy requests answered, by outcome of the decision (with dry_run, the outcome before it).",
	  1, NULL, CTR(outcome) },
	{ M_LATENCY, "mailquota_request_duration_seconds", NULL,
	  "Time from a complete request to its reply.", 0, NULL, CTR(latency) },
	{ M_COUNTER, "mailquota_dry_run_total", NULL,
	  "Rejections answered with reply_success because of dry_run.",
	  1, "dry_run", CTR(dry_run) },
	{ M_COUNTER, "mailquota_on_error_pass_total", NULL,
	  "Temporary failures answered with reply_success because of on_error = pass.",
	  1, "on_error_pass", CTR(on_error_pass) },
	{ M_COUNTER, "mailquota_answered_total", "{by=\"loop\"}",
	  "Requests answered from the caches on the event loop, or by a worker thread.",
	  1, "answered_on_loop", CTR(on_loop) },
	{ M_COUNTER, "mailquota_answered_total", "{by=\"worker\"}", NULL,
	  1, "answered_by_workers", CTR(by_workers) },
	{ M_COUNTER, "mailquota_dropped_total", NULL,
	  "Worker results dropped because the client had gone.",
	  1, "dropped", CTR(dropped) },

	{ M_GAUGE, "mailquota_connections_open", NULL,
	  "Client connections open now.", 2, "connections_open", VIEW(conns_open) },
	{ M_COUNTER, "mailquota_connections_total", NULL,
	  "Client connections accepted.", 2, "connections_total", CTR(conns_total) },
	{ M_COUNTER, "mailquota_malformed_requests_total", NULL,
	  "Malformed requests (the connection was closed without a reply).",
	  2, "malformed", CTR(malformed) },
	{ M_COUNTER, "mailquota_connection_timeouts_total", NULL,
	  "Connections closed at policy.idle_timeout.", 2, "timeouts", CTR(timeouts) },
	{ M_COUNTER, "mailquota_accept_errors_total", NULL,
	  "Failed accept() calls (out of descriptors or memory).",
	  2, "accept_errors", CTR(accept_errors) },
	{ M_GAUGE, "mailquota_requests_queued", NULL,
	  "Requests waiting for a free worker thread now.", 2, "queued", VIEW(queued) },
	{ M_GAUGE, "mailquota_requests_in_flight", NULL,
	  "Requests at the worker threads now.", 2, "in_flight", VIEW(in_flight) },
	{ M_GAUGE, "mailquota_workers", NULL, "Worker threads.", 2, "workers",
	  VIEW(workers) },
	{ M_COUNTER, "mailquota_connections_refused_per_client_total", NULL,
	  "Connections closed at once: their address had policy.max_connections_per_client open.",
	  0, NULL, CTR(client_limit) },

	{ M_GAUGE, "mailquota_config_generation", NULL,
	  "The configuration in use: 1 at start, one more per reload.",
	  3, "generation", VIEW(generation) },
	{ M_COUNTER, "mailquota_cache_hits_total", NULL,
	  "User, alias and domain lookups answered by the cache (negative entries included).",
	  3, "cache_hits", ENG(cache_hits) },
	{ M_COUNTER, "mailquota_cache_misses_total", NULL,
	  "User, alias and domain lookups the cache could not answer.",
	  3, "cache_misses", ENG(cache_misses) },
	{ M_COUNTER, "mailquota_usage_cache_hits_total", NULL,
	  "Mailbox usage found fresh in the usage cache on the event loop.",
	  3, "usage_hits", ENG(usage_hits) },
	{ M_COUNTER, "mailquota_usage_cache_misses_total", NULL,
	  "Mailbox usage not fresh in the usage cache on the event loop (the request went to a worker).",
	  3, "usage_misses", ENG(usage_misses) },
	{ M_COUNTER, "mailquota_db_errors_total", NULL,
	  "Database lookups that failed (connect, query or timeout).",
	  3, "db_errors", ENG(db_errors) },
	{ M_COUNTER, "mailquota_db_sessions_total", NULL,
	  "Database sessions opened by the worker threads (one per worker and configuration).",
	  3, "db_sessions", ENG(db_connects) },
	{ M_COUNTER, "mailquota_db_connects_total", NULL,
	  "Connections made to a MariaDB or PostgreSQL server, reconnects included.",
	  3, "db_connects", VIEW(net_connects) },
	{ M_COUNTER, "mailquota_db_reconnects_total", NULL,
	  "Connections to a database server made again after one was lost.",
	  3, "db_reconnects", VIEW(net_reconnects) },
	{ M_COUNTER, "mailquota_db_connect_failures_total", NULL,
	  "Failed attempts to connect to a database server.",
	  3, "db_connect_failures", VIEW(net_failures) },
	{ M_COUNTER, "mailquota_cache_stale_hits_total", NULL,
	  "Lookups answered from an expired entry after the database failed (policy.stale_ttl).",
	  3, "stale_hits", ENG(stale_hits) },
	{ M_COUNTER, "mailquota_stale_answers_total", NULL,
	  "Decisions that used at least one expired cache entry (policy.stale_ttl).",
	  3, "stale_answers", ENG(stale_answers) },

	{ M_BUILD_INFO, "mailquota_build_info", NULL,
	  "The version of mailquota-policyd.", 0, NULL, IN_VIEW, 0 },
	{ M_GAUGE, "process_start_time_seconds", NULL,
	  "Start time of the process since the Unix epoch, in seconds.",
	  0, NULL, VIEW(start_time) },
};

#define STATS_LINES 3

/* metric_value - a row's figure: the first of an array (outcome, latency). */
static const uint64_t *
metric_value(const struct metric *m, const struct mq_metrics_view *v)
{
	const void *base = m->src == IN_COUNTERS ? (const void *)v->c :
	    m->src == IN_ENGINE ? (const void *)&v->engine : (const void *)v;

	return (const uint64_t *)(const void *)((const char *)base + m->off);
}

/* ------------------------------------------------------------ exposition */

/* put_seconds - microseconds as a decimal number of seconds, exactly. */
static void
put_seconds(struct mq_buf *t, uint64_t us)
{
	mq_buf_printf(t, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* put_le - a bucket bound in seconds, shortest form: 0.00025, 1, 2.5. */
static void
put_le(struct mq_buf *t, uint64_t us)
{
	char frac[8];
	size_t n;

	snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	mq_buf_printf(t, "%" PRIu64 "%s%s", us / 1000000, n > 0 ? "." : "", frac);
}

/* put_histogram - cumulative buckets ending in +Inf, then _sum and _count. */
static void
put_histogram(struct mq_buf *t, const char *name, const struct mq_counters *c)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < MQ_METRICS_NBUCKETS; i++) {
		cum += c->latency[i];
		mq_buf_printf(t, "%s_bucket{le=\"", name);
		put_le(t, mq_metrics_bounds_us[i]);
		mq_buf_printf(t, "\"} %" PRIu64 "\n", cum);
	}
	cum += c->latency[MQ_METRICS_NBUCKETS];
	mq_buf_printf(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	mq_buf_printf(t, "%s_sum ", name);
	put_seconds(t, c->latency_sum_us);
	mq_buf_printf(t, "\n%s_count %" PRIu64 "\n", name, cum);
}

/* put_samples - a row's sample lines. */
static void
put_samples(struct mq_buf *t, const struct metric *m,
    const struct mq_metrics_view *v)
{
	const uint64_t *val = metric_value(m, v);
	size_t i;

	switch (m->kind) {
	case M_OUTCOMES:
		for (i = 0; i < MQ_OUT_COUNT; i++)
			mq_buf_printf(t, "%s{outcome=\"%s\"} %" PRIu64 "\n", m->name,
			    mq_outcome_name((enum mq_outcome)i), val[i]);
		break;
	case M_LATENCY:
		put_histogram(t, m->name, v->c);
		break;
	case M_BUILD_INFO:
		mq_buf_printf(t, "%s{version=\"%s\"} 1\n", m->name, PACKAGE_VERSION);
		break;
	case M_COUNTER:
	case M_GAUGE:
		mq_buf_printf(t, "%s%s %" PRIu64 "\n", m->name,
		    m->labels != NULL ? m->labels : "", *val);
		break;
	}
}

char *
mq_metrics_text(const struct mq_metrics_view *v, size_t *len_r)
{
	static const char *const type[] = {
		[M_COUNTER] = "counter", [M_GAUGE] = "gauge",
		[M_OUTCOMES] = "counter", [M_LATENCY] = "histogram",
		[M_BUILD_INFO] = "gauge",
	};
	struct mq_buf t = { NULL, 0, 0 };
	const char *family = NULL;
	size_t i;

	for (i = 0; i < MQ_NELEM(metrics); i++) {
		const struct metric *m = &metrics[i];

		if (m->name == NULL)
			continue;
		if (family == NULL || strcmp(family, m->name) != 0)
			mq_buf_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", m->name,
			    m->help, m->name, type[m->kind]);
		family = m->name;
		put_samples(&t, m, v);
	}
	return mq_buf_steal(&t, len_r);
}

/* ------------------------------------------------------------ log lines */

/* log_line - one "stats:" line: the rows of that line, key=value. */
static void
log_line(struct mq_buf *b, int line, const struct mq_metrics_view *v)
{
	size_t i, k;

	mq_buf_reset(b);
	mq_buf_adds(b, "stats:");
	for (i = 0; i < MQ_NELEM(metrics); i++) {
		const struct metric *m = &metrics[i];
		const uint64_t *val;

		if (m->line != line)
			continue;
		val = metric_value(m, v);
		if (m->kind == M_OUTCOMES) {
			for (k = 0; k < MQ_OUT_COUNT; k++)
				mq_buf_printf(b, " %s=%" PRIu64,
				    mq_outcome_name((enum mq_outcome)k), val[k]);
		} else
			mq_buf_printf(b, " %s=%" PRIu64, m->key, *val);
	}
	mq_info("%s", mq_buf_str(b));
}

/* log_latency - the histogram, cumulative as in the exposition: le_ms=count pairs. */
static void
log_latency(struct mq_buf *b, const struct mq_counters *c)
{
	uint64_t cum = 0;
	size_t i;

	mq_buf_reset(b);
	for (i = 0; i < MQ_METRICS_NBUCKETS; i++) {
		cum += c->latency[i];
		mq_buf_printf(b, " le%" PRIu64 ".%03" PRIu64 "ms=%" PRIu64,
		    mq_metrics_bounds_us[i] / 1000, mq_metrics_bounds_us[i] % 1000,
		    cum);
	}
	cum += c->latency[MQ_METRICS_NBUCKETS];
	mq_buf_printf(b, " le_inf=%" PRIu64, cum);
	mq_info("stats: latency_count=%" PRIu64 " latency_sum_ms=%" PRIu64
	    ".%03" PRIu64 "%s", cum, c->latency_sum_us / 1000,
	    c->latency_sum_us % 1000, mq_buf_str(b));
}

void
mq_metrics_log(const struct mq_metrics_view *v)
{
	struct mq_buf b = { NULL, 0, 0 };
	int line;

	for (line = 1; line <= STATS_LINES; line++)
		log_line(&b, line, v);
	log_latency(&b, v->c);
	mq_buf_free(&b);
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
