/* SPDX-License-Identifier: MIT */
/*
 * proto - the Postfix policy delegation protocol (SMTPD_POLICY_README):
 * bytes -> struct mq_policy_request, action -> "action=...\n\n".
 *
 * Pure: no I/O, no globals, no logging, no allocation; fuzzed by
 * tests/fuzz/fuzz_proto.c.
 *
 *	mq_proto_reset(req)
 *	mq_proto_parse(req, buf, len, limits, &consumed)
 *	mq_proto_format(out, size, action)
 *	mq_proto_strerror(status)
 *
 * The parser is incremental: it consumes whole lines only and keeps its
 * counters in the request, so the caller may feed a request in any number of
 * pieces (it passes the unconsumed tail again with the new bytes). Errors are
 * defined by the first byte at which the input goes wrong: a line longer than
 * line_max or a request over max_request is found as soon as that byte is
 * seen, even before its newline arrives; NUL, a missing '=', an empty name
 * and too many attributes are found when the line is complete. So the
 * result never depends on how the bytes were split.
 *
 * A trailing CR before the newline is dropped (telnet, scripts); Postfix
 * itself sends bare LF.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"
#include "util.h"

/* The attributes kept; every other name is ignored (not stored). */
enum attr_id {
	A_REQUEST,
	A_PROTOCOL_STATE,
	A_RECIPIENT,
	A_SIZE,
	A_QUEUE_ID,
	A_CLIENT_ADDRESS,
	A_NONE
};

#define POLICY_REQUEST "smtpd_access_policy"

/* mq_proto_reset - an empty request, ready for the next one. */
void
mq_proto_reset(struct mq_policy_request *req)
{
	memset(req, 0, sizeof(*req));
	req->stage = MQ_STAGE_OTHER;
}

/*
 * attr_lookup - which kept attribute a name is, or A_NONE: dispatched on
 * the length (and the first byte where two share one), then one compare
 * of a constant length, which the compiler inlines. Most of the names
 * Postfix sends fail at the switch.
 */
static enum attr_id
attr_lookup(const char *name, size_t len)
{
#define IS(word, id) (memcmp(name, word, sizeof(word) - 1) == 0 ? (id) : A_NONE)
	switch (len) {
	case 4:
		return IS("size", A_SIZE);
	case 7:
		return IS("request", A_REQUEST);
	case 8:
		return IS("queue_id", A_QUEUE_ID);
	case 9:
		return IS("recipient", A_RECIPIENT);
	case 14:
		return name[0] == 'p' ? IS("protocol_state", A_PROTOCOL_STATE) :
		    IS("client_address", A_CLIENT_ADDRESS);
	default:
		return A_NONE;
	}
#undef IS
}

/*
 * copy_field - the recipient into its field; the parser keeps its real
 * length beside it, so the engine sees one that did not fit and says so.
 */
static void
copy_field(char *dst, size_t size, const char *value, size_t len)
{
	if (len > size - 1)
		len = size - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

/*
 * copy_log_field - a log-only value (queue_id, client_address). Postfix's
 * always fit; anything longer is not Postfix's and is shown cut with
 * "...", so the log never passes it off as whole.
 */
static void
copy_log_field(char *dst, size_t size, const char *value, size_t len)
{
	assert(size > 4);
	if (len > size - 1) {
		memcpy(dst, value, size - 4);
		memcpy(dst + size - 4, "...", 4);
		return;
	}
	copy_field(dst, size, value, len);
}

static bool
value_is(const char *value, size_t len, const char *word)
{
	size_t wlen = strlen(word);

	return len == wlen && memcmp(value, word, len) == 0;
}

/* store_attr - keep the first value of an attribute the decision needs. */
static void
store_attr(struct mq_policy_request *req, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	enum attr_id id = attr_lookup(name, nlen);

	if (id == A_NONE || (req->seen & (1u << id)) != 0)
		return;
	req->seen |= 1u << id;

	switch (id) {
	case A_REQUEST:
		req->is_policy = value_is(value, vlen, POLICY_REQUEST);
		break;
	case A_PROTOCOL_STATE:
		if (value_is(value, vlen, "RCPT"))
			req->stage = MQ_STAGE_RCPT;
		else if (value_is(value, vlen, "END-OF-MESSAGE"))
			req->stage = MQ_STAGE_EOM;
		else
			req->stage = MQ_STAGE_OTHER;
		break;
	case A_RECIPIENT:
		/* Too long: keep the length so the caller sees it, store a prefix. */
		req->recipient_len = vlen;
		copy_field(req->recipient, sizeof(req->recipient), value, vlen);
		break;
	case A_SIZE:
		if (mq_parse_u64n(value, vlen, &req->size) != 0)
			req->size = 0;
		break;
	case A_QUEUE_ID:
		copy_log_field(req->queue_id, sizeof(req->queue_id), value, vlen);
		break;
	case A_CLIENT_ADDRESS:
		copy_log_field(req->client_address, sizeof(req->client_address),
		    value, vlen);
		break;
	case A_NONE:
		break;
	}
}

/*
 * limit_error - the error that the first n bytes of a line (the first
 * `content` of them before any LF) cause, or 0. A line goes wrong at its
 * (line_max + 1)th content byte; the request at the byte that takes it
 * past max_request. The earlier of the two wins; on a tie, the line.
 */
static int
limit_error(const struct mq_policy_request *req,
    const struct mq_proto_limits *limits, size_t content, size_t n)
{
	size_t at_line = SIZE_MAX, at_size = SIZE_MAX;
	size_t room = limits->max_request > req->nbytes ?
	    limits->max_request - req->nbytes : 0;

	if (content > limits->line_max)
		at_line = limits->line_max + 1;
	if (n > room)
		at_size = room + 1;
	if (at_line == SIZE_MAX && at_size == SIZE_MAX)
		return 0;
	return at_line <= at_size ? MQ_PROTO_ERR_LINE : MQ_PROTO_ERR_SIZE;
}

/*
 * Each byte is looked at once for LF and once for NUL: one memchr for NUL
 * over all that is new in buf, then one memchr for LF per line (and one for
 * '=' over the name). A partial line left for the next call is remembered
 * in req->scanned, so its bytes are not scanned again when the rest comes.
 */
int
mq_proto_parse(struct mq_policy_request *req, const char *buf, size_t len,
    const struct mq_proto_limits *limits, size_t *consumed_r)
{
	const char *nul;
	size_t pos = 0, skip;
	int status = MQ_PROTO_MORE;

	/* The caller passes the unconsumed tail again: its start is known. */
	skip = req->scanned <= len ? req->scanned : 0;
	req->scanned = 0;
	nul = len > skip ? memchr(buf + skip, '\0', len - skip) : NULL;

	while (pos < len) {
		const char *line = buf + pos;
		const char *nl, *eq;
		size_t avail = len - pos, scan, linelen, room;

		/* Bounded scan: a valid line has at most line_max bytes before LF. */
		scan = avail <= limits->line_max ? avail : limits->line_max + 1;
		nl = scan > skip ? memchr(line + skip, '\n', scan - skip) : NULL;
		if (nl == NULL) {
			/* A partial line: wait for more unless it is already too much. */
			status = limit_error(req, limits, avail, avail);
			if (status == 0) {
				status = MQ_PROTO_MORE;
				/* All of it is LF-free (scan == avail); NUL-free up to nul. */
				req->scanned = nul != NULL ? (size_t)(nul - line) : avail;
			}
			break;
		}
		skip = 0;
		linelen = (size_t)(nl - line);
		/* linelen <= line_max (the scan was bounded): only the size can be over. */
		room = limits->max_request > req->nbytes ?
		    limits->max_request - req->nbytes : 0;
		if (linelen + 1 > room) {
			status = MQ_PROTO_ERR_SIZE;
			break;
		}
		req->nbytes += linelen + 1;
		pos += linelen + 1;

		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		if (linelen == 0) {
			status = MQ_PROTO_DONE;
			break;
		}
		/* nul is the first NUL from here on: earlier lines had none. */
		if (nul != NULL && nul < line + linelen) {
			status = MQ_PROTO_ERR_NUL;
			break;
		}
		eq = memchr(line, '=', linelen);
		if (eq == NULL || eq == line) {
			status = MQ_PROTO_ERR_SYNTAX;
			break;
		}
		if (++req->nattrs > limits->max_attrs) {
			status = MQ_PROTO_ERR_ATTRS;
			break;
		}
		store_attr(req, line, (size_t)(eq - line), eq + 1,
		    linelen - (size_t)(eq - line) - 1);
	}
	*consumed_r = pos;
	return status;
}

size_t
mq_proto_format(char *out, size_t size, const char *action)
{
	static const char head[] = "action=";
	size_t alen = strlen(action);
	size_t total = sizeof(head) - 1 + alen + 2;

	/* A reply must be one line: a CR or LF in it would desynchronise Postfix. */
	if (alen == 0 || strpbrk(action, "\r\n") != NULL)
		return 0;
	if (size == 0 || total > size - 1)
		return 0;
	memcpy(out, head, sizeof(head) - 1);
	memcpy(out + sizeof(head) - 1, action, alen);
	memcpy(out + sizeof(head) - 1 + alen, "\n\n", 3);
	return total;
}

const char *
mq_proto_strerror(int status)
{
	switch (status) {
	case MQ_PROTO_MORE:
		return "incomplete request";
	case MQ_PROTO_DONE:
		return "complete request";
	case MQ_PROTO_ERR_LINE:
		return "line too long";
	case MQ_PROTO_ERR_SYNTAX:
		return "line without '=' or with an empty name";
	case MQ_PROTO_ERR_NUL:
		return "NUL byte in request";
	case MQ_PROTO_ERR_ATTRS:
		return "too many attributes";
	case MQ_PROTO_ERR_SIZE:
		return "request too big";
	default:
		return "unknown protocol status";
	}
}
