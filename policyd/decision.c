/* SPDX-License-Identifier: MIT */
/*
 * decision - what answering a request leaves behind, once per reply: the
 * decision line (its format is fixed by docs/logging.md), the rate-limited
 * "tempfail:" line that says why, and the counters of metrics.h.
 *
 * The line is built in the server's one reused mq_buf: after the first few
 * requests it has grown to the longest line, and logging allocates nothing.
 * The logger cuts a line at its own limit (log.c), as it always has.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "util.h"
#include "decide.h"
#include "engine.h"
#include "server_int.h"

/*
 * log_value - untrusted text as a log value: control and non-ASCII bytes
 * become '?', a value with blanks or quotes is double-quoted (with \" and
 * \\ inside), an empty one is "-".
 */
static void
log_value(struct mq_buf *b, const char *s, size_t n)
{
	bool quote = false;
	size_t i;

	if (n == 0) {
		mq_buf_add(b, "-", 1);
		return;
	}
	for (i = 0; i < n && !quote; i++)
		quote = s[i] == ' ' || s[i] == '"';
	if (quote)
		mq_buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (quote && (ch == '"' || ch == '\\'))
			mq_buf_add(b, "\\", 1);
		if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		mq_buf_add(b, (const char *)&ch, 1);
	}
	if (quote)
		mq_buf_add(b, "\"", 1);
}

/* log_u64 - a number, or "-" when there is none. */
static void
log_u64(struct mq_buf *b, bool have, uint64_t v)
{
	if (have)
		mq_buf_printf(b, "%" PRIu64, v);
	else
		mq_buf_addc(b, '-');
}

#define LOG_ADDR_MAX 256	/* bytes of an address shown in a decision line */

/*
 * log_address - an address in a decision line: one longer than LOG_ADDR_MAX
 * (Postfix passes up to 2038 bytes) is shown cut, with its length, so that
 * the fields after it still fit in the line.
 */
static void
log_address(struct mq_buf *b, const char *s, size_t n)
{
	char cut[LOG_ADDR_MAX + 32];
	int k;

	if (n <= LOG_ADDR_MAX) {
		log_value(b, s, n);
		return;
	}
	k = snprintf(cut, sizeof(cut), "%.*s...[len=%zu]", LOG_ADDR_MAX, s, n);
	log_value(b, cut, k < 0 ? 0 : (size_t)k < sizeof(cut) ? (size_t)k :
	    sizeof(cut) - 1);
}

/*
 * log_decision - the one line per request (format fixed by the docs).
 * action is the reply decided (with dry_run: the one not sent).
 */
static void
log_decision(struct mq_buf *b, const struct mq_policy_request *r,
    const struct mq_verdict *v, uint64_t latency_us)
{
	const struct mq_box_report *box = NULL;
	size_t nb = v->nboxes < MQ_VERDICT_BOXES ? v->nboxes : MQ_VERDICT_BOXES;
	const char *action = v->dry_run ? v->withheld : v->action;
	const char *outcome;
	size_t i;

	mq_buf_reset(b);
	mq_buf_adds(b, "queue_id=");
	log_value(b, r->queue_id, strlen(r->queue_id));
	mq_buf_adds(b, " client=");
	log_value(b, r->client_address, strlen(r->client_address));
	mq_buf_adds(b, " recipient=");
	/* Past MQ_ADDRESS_MAX the request keeps a cut copy and the real length. */
	log_address(b, r->recipient, r->recipient_len > MQ_ADDRESS_MAX ?
	    r->recipient_len : strlen(r->recipient));
	mq_buf_adds(b, " via=");
	mq_buf_adds(b, mq_how_name(v->how));
	mq_buf_adds(b, " mailboxes=");
	if (nb == 0)
		mq_buf_adds(b, "-");
	for (i = 0; i < nb; i++) {
		if (i > 0)
			mq_buf_adds(b, ",");
		log_address(b, v->boxes[i].address, strlen(v->boxes[i].address));
	}
	if (v->nboxes > nb)
		mq_buf_adds(b, ",...");
	outcome = (unsigned)v->outcome < MQ_OUT_COUNT ?
	    mq_outcome_name(v->outcome) : NULL;
	mq_buf_adds(b, " outcome=");
	mq_buf_adds(b, outcome != NULL ? outcome : "-");
	if (v->decisive < nb)
		box = &v->boxes[v->decisive];
	else if (nb == 1)
		box = &v->boxes[0];
	mq_buf_adds(b, " used=");
	log_u64(b, box != NULL, box != NULL ? box->state.used_bytes : 0);
	mq_buf_adds(b, " limit=");
	log_u64(b, box != NULL, box != NULL ? box->state.limit_bytes : 0);
	mq_buf_adds(b, v->cached ? " cache=hit" : v->stale ? " cache=stale" :
	    " cache=miss");
	mq_buf_printf(b, " latency_ms=%" PRIu64 ".%03" PRIu64,
	    latency_us / 1000, latency_us % 1000);
	mq_buf_adds(b, " action=");
	log_value(b, action, strlen(action));
	if (v->dry_run)
		mq_buf_adds(b, " dry_run=yes");
	mq_info("%s", mq_buf_str(b));
}

/*
 * log_tempfail - why a request is a temporary failure (a query that timed
 * out, a broken query, the database gone), at most one line a second: an
 * outage fails every request, and the decision lines already count them.
 */
static void
log_tempfail(struct mq_server *srv, const char *reason)
{
	uint64_t now = mq_now_monotonic_us();
	char why[320];

	if (srv->tempfail_logged_us != 0 && now - srv->tempfail_logged_us < 1000000u) {
		srv->tempfail_unlogged++;
		return;
	}
	/* Driver messages may quote the key, which came from the peer. */
	mq_sanitize(why, sizeof(why), reason, strlen(reason));
	if (srv->tempfail_unlogged > 0)
		mq_warn("tempfail: %s (and %llu more since the last such line)", why,
		    (unsigned long long)srv->tempfail_unlogged);
	else
		mq_warn("tempfail: %s", why);
	srv->tempfail_logged_us = now;
	srv->tempfail_unlogged = 0;
}

void
mq_decision_record(struct mq_server *srv, const struct mq_policy_request *req,
    const struct mq_verdict *v, uint64_t latency_us)
{
	if (v->outcome == MQ_OUT_TEMPFAIL && v->reason[0] != '\0')
		log_tempfail(srv, v->reason);
	if (mq_log_enabled(MQ_LOG_INFO))
		log_decision(&srv->logline, req, v, latency_us);
	srv->st.requests++;
	mq_metrics_observe(&srv->st, latency_us);
	if ((unsigned)v->outcome < MQ_OUT_COUNT)
		srv->st.outcome[v->outcome]++;
	if (v->dry_run)
		srv->st.dry_run++;
	if (v->on_error_pass)
		srv->st.on_error_pass++;
}
