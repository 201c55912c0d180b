/* SPDX-License-Identifier: MIT */
/*
 * check_proto - the policy protocol parser and formatter (policyd/proto.c).
 *
 * Every table row is parsed twice: all at once, and one byte at a time
 * through the same buffer discipline the server uses (unconsumed bytes are
 * passed again with the next byte). Both must give the same status and the
 * same request.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/proto.h"

#define REQ "request=smtpd_access_policy\n"
#define RCPT "protocol_state=RCPT\n"

static const struct mq_proto_limits limits = {
	.line_max = MQ_PROTO_LINE_MAX,
	.max_attrs = MQ_PROTO_MAX_ATTRS,
	.max_request = 102400,
};

/* A Postfix 3.7 RCPT-stage request, every attribute it sends. */
static const char postfix37[] =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "helo_name=mail.example.net\n"
    "queue_id=4LmQ2x3kXqz9sWK\n"
    "sender=alice@example.net\n"
    "recipient=Bob+lists@Example.org\n"
    "recipient_count=0\n"
    "client_address=192.0.2.25\n"
    "client_name=mail.example.net\n"
    "reverse_client_name=mail.example.net\n"
    "instance=2b3c.6270f1a2.8d1e4.0\n"
    "sasl_method=\n"
    "sasl_username=\n"
    "sasl_sender=\n"
    "size=48213\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "etrn_domain=\n"
    "stress=\n"
    "client_port=49322\n"
    "policy_context=\n"
    "server_address=198.51.100.7\n"
    "server_port=25\n"
    "compatibility_level=3.6\n"
    "mail_version=3.7.11\n"
    "\n";

/* parse_all - one call over the whole input. */
static int
parse_all(const char *in, size_t len, const struct mq_proto_limits *lim,
    struct mq_policy_request *req, size_t *consumed_r)
{
	mq_proto_reset(req);
	return mq_proto_parse(req, in, len, lim, consumed_r);
}

/*
 * parse_bytewise - feed one byte at a time, keeping unconsumed bytes for the
 * next call, until the parser is done or fails. *fed_r: bytes handed over.
 */
static int
parse_bytewise(const char *in, size_t len, const struct mq_proto_limits *lim,
    struct mq_policy_request *req, size_t *fed_r)
{
	char *buf = malloc(len + 1);
	size_t have = 0, fed = 0, used;
	int st = MQ_PROTO_MORE;

	ck_assert_ptr_nonnull(buf);
	mq_proto_reset(req);
	while (fed < len) {
		buf[have++] = in[fed++];
		st = mq_proto_parse(req, buf, have, lim, &used);
		ck_assert_uint_le(used, have);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (st != MQ_PROTO_MORE)
			break;
	}
	free(buf);
	*fed_r = fed;
	return st;
}

static void
assert_same_request(const struct mq_policy_request *a,
    const struct mq_policy_request *b)
{
	ck_assert_int_eq(a->is_policy, b->is_policy);
	ck_assert_int_eq(a->stage, b->stage);
	ck_assert_str_eq(a->recipient, b->recipient);
	ck_assert_uint_eq(a->recipient_len, b->recipient_len);
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_str_eq(a->queue_id, b->queue_id);
	ck_assert_str_eq(a->client_address, b->client_address);
	ck_assert_uint_eq(a->nattrs, b->nattrs);
	ck_assert_uint_eq(a->nbytes, b->nbytes);
}

/* ------------------------------------------------------------ good input */

struct good_case {
	const char *name;
	const char *in;
	bool is_policy;
	enum mq_stage stage;
	const char *recipient;
	uint64_t size;
	const char *queue_id;
	const char *client_address;
};

static const struct good_case good[] = {
	{ "minimal", REQ RCPT "recipient=a@b\n\n",
	  true, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "reversed order", "recipient=a@b\n" RCPT REQ "\n",
	  true, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "recipient first, size last", "recipient=x@y\nqueue_id=Q1\n" REQ
	  "client_address=2001:db8::1\nprotocol_state=END-OF-MESSAGE\nsize=10\n\n",
	  true, MQ_STAGE_EOM, "x@y", 10, "Q1", "2001:db8::1" },
	{ "unknown attributes ignored", "foo=bar\n" REQ "x_custom=1\n" RCPT
	  "recipient=a@b\nzzz=\n\n",
	  true, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "repeated recipient keeps the first", REQ RCPT
	  "recipient=first@b\nrecipient=second@b\n\n",
	  true, MQ_STAGE_RCPT, "first@b", 0, "", "" },
	{ "repeated state keeps the first", REQ RCPT
	  "protocol_state=END-OF-MESSAGE\nrecipient=a@b\n\n",
	  true, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "repeated request keeps the first", "request=junk\n" REQ RCPT
	  "recipient=a@b\n\n",
	  false, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "repeated size keeps the first (even if bad)", REQ RCPT
	  "size=1x\nsize=5\nrecipient=a@b\n\n",
	  true, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "END-OF-MESSAGE", REQ "protocol_state=END-OF-MESSAGE\nrecipient=a@b\nsize=2048\n\n",
	  true, MQ_STAGE_EOM, "a@b", 2048, "", "" },
	{ "DATA is other", REQ "protocol_state=DATA\nrecipient=a@b\n\n",
	  true, MQ_STAGE_OTHER, "a@b", 0, "", "" },
	{ "VRFY is other", REQ "protocol_state=VRFY\nrecipient=a@b\n\n",
	  true, MQ_STAGE_OTHER, "a@b", 0, "", "" },
	{ "lower-case rcpt is other", REQ "protocol_state=rcpt\nrecipient=a@b\n\n",
	  true, MQ_STAGE_OTHER, "a@b", 0, "", "" },
	{ "no state is other", REQ "recipient=a@b\n\n",
	  true, MQ_STAGE_OTHER, "a@b", 0, "", "" },
	{ "another request type", "request=junk_policy\n" RCPT "recipient=a@b\n\n",
	  false, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "no request attribute", RCPT "recipient=a@b\n\n",
	  false, MQ_STAGE_RCPT, "a@b", 0, "", "" },
	{ "request name is exact", "request=smtpd_access_policyx\n" RCPT "\n",
	  false, MQ_STAGE_RCPT, "", 0, "", "" },
	{ "empty recipient", REQ RCPT "recipient=\n\n",
	  true, MQ_STAGE_RCPT, "", 0, "", "" },
	{ "value may hold '='", REQ RCPT "recipient=a=b@c\n\n",
	  true, MQ_STAGE_RCPT, "a=b@c", 0, "", "" },
	{ "value may hold blanks", REQ RCPT "recipient=\"a b\"@c\n\n",
	  true, MQ_STAGE_RCPT, "\"a b\"@c", 0, "", "" },
	{ "CRLF lines", "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n"
	  "recipient=a@b\r\nsize=7\r\n\r\n",
	  true, MQ_STAGE_RCPT, "a@b", 7, "", "" },
	{ "empty request", "\n",
	  false, MQ_STAGE_OTHER, "", 0, "", "" },
	{ "postfix 3.7", postfix37,
	  true, MQ_STAGE_RCPT, "Bob+lists@Example.org", 48213, "4LmQ2x3kXqz9sWK",
	  "192.0.2.25" },
};

START_TEST(test_good)
{
	const struct good_case *t = &good[_i];
	struct mq_policy_request a, b;
	size_t len = strlen(t->in), used, fed;
	int st;

	st = parse_all(t->in, len, &limits, &a, &used);
	ck_assert_msg(st == MQ_PROTO_DONE, "%s: status %d", t->name, st);
	ck_assert_uint_eq(used, len);
	ck_assert_int_eq(a.is_policy, t->is_policy);
	ck_assert_int_eq(a.stage, t->stage);
	ck_assert_str_eq(a.recipient, t->recipient);
	ck_assert_uint_eq(a.recipient_len, strlen(t->recipient));
	ck_assert_uint_eq(a.size, t->size);
	ck_assert_str_eq(a.queue_id, t->queue_id);
	ck_assert_str_eq(a.client_address, t->client_address);
	ck_assert_uint_eq(a.nbytes, len);

	st = parse_bytewise(t->in, len, &limits, &b, &fed);
	ck_assert_msg(st == MQ_PROTO_DONE, "%s: bytewise status %d", t->name, st);
	ck_assert_uint_eq(fed, len);
	assert_same_request(&a, &b);
}
END_TEST

START_TEST(test_postfix37_fields)
{
	struct mq_policy_request r;
	size_t used;

	ck_assert_int_eq(parse_all(postfix37, strlen(postfix37), &limits, &r,
	    &used), MQ_PROTO_DONE);
	ck_assert_uint_eq(r.nattrs, 31);
	ck_assert(r.is_policy);
	ck_assert_int_eq(r.stage, MQ_STAGE_RCPT);
	ck_assert_str_eq(r.recipient, "Bob+lists@Example.org");
	ck_assert_uint_eq(r.size, 48213);
	ck_assert_str_eq(r.queue_id, "4LmQ2x3kXqz9sWK");
	ck_assert_str_eq(r.client_address, "192.0.2.25");
}
END_TEST

/* ------------------------------------------------------------ size= */

struct size_case {
	const char *value;
	uint64_t want;
};

static const struct size_case sizes[] = {
	{ "0", 0 },
	{ "1", 1 },
	{ "48213", 48213 },
	{ "007", 7 },
	{ "18446744073709551615", UINT64_MAX },
	{ "18446744073709551616", 0 },		/* overflow */
	{ "99999999999999999999999", 0 },
	{ "12x", 0 },
	{ "x12", 0 },
	{ "-1", 0 },
	{ "+1", 0 },
	{ " 12", 0 },
	{ "12 ", 0 },
	{ "1.5", 0 },
	{ "0x10", 0 },
	{ "", 0 },
};

START_TEST(test_size)
{
	struct mq_policy_request r;
	char in[128];
	size_t used;

	snprintf(in, sizeof(in), REQ RCPT "size=%s\nrecipient=a@b\n\n",
	    sizes[_i].value);
	ck_assert_int_eq(parse_all(in, strlen(in), &limits, &r, &used),
	    MQ_PROTO_DONE);
	ck_assert_msg(r.size == sizes[_i].want, "size=\"%s\": got %llu",
	    sizes[_i].value, (unsigned long long)r.size);
}
END_TEST

/* ------------------------------------------------------------ recipient length */

START_TEST(test_recipient_long)
{
	static const size_t lens[] = { MQ_ADDRESS_MAX - 1, MQ_ADDRESS_MAX,
	    MQ_ADDRESS_MAX + 1, 1000, 8000 };
	struct mq_policy_request r;
	size_t n = lens[_i], used, want;
	char *in = malloc(n + 64), *p;

	ck_assert_ptr_nonnull(in);
	p = in + sprintf(in, "recipient=");
	memset(p, 'a', n);
	p[n - 2] = '@';
	strcpy(p + n, "\n\n");
	ck_assert_int_eq(parse_all(in, strlen(in), &limits, &r, &used),
	    MQ_PROTO_DONE);
	/* The length is the real one; the text is what fits. */
	ck_assert_uint_eq(r.recipient_len, n);
	want = n > MQ_ADDRESS_MAX ? MQ_ADDRESS_MAX : n;
	ck_assert_uint_eq(strlen(r.recipient), want);
	ck_assert_int_eq(memcmp(r.recipient, p, want), 0);
	free(in);
}
END_TEST

START_TEST(test_fields_truncated)
{
	struct mq_policy_request r;
	char in[1200];
	size_t used;

	snprintf(in, sizeof(in), "queue_id=%0100d\nclient_address=%0600d\n\n", 1, 2);
	ck_assert_int_eq(parse_all(in, strlen(in), &limits, &r, &used),
	    MQ_PROTO_DONE);
	ck_assert_uint_eq(strlen(r.queue_id), sizeof(r.queue_id) - 1);
	ck_assert_uint_eq(strlen(r.client_address), sizeof(r.client_address) - 1);
	/* the cut shows in the log */
	ck_assert_str_eq(r.queue_id + sizeof(r.queue_id) - 4, "...");
	ck_assert_str_eq(r.client_address + sizeof(r.client_address) - 4, "...");
}
END_TEST

/* ------------------------------------------------------------ streams */

START_TEST(test_two_in_one_buffer)
{
	const char in[] = REQ RCPT "recipient=one@b\nsize=1\n\n"
	    REQ "protocol_state=END-OF-MESSAGE\nrecipient=two@b\n\n";
	const size_t first = strlen(REQ RCPT "recipient=one@b\nsize=1\n\n");
	struct mq_policy_request r;
	size_t used;

	ck_assert_int_eq(parse_all(in, strlen(in), &limits, &r, &used),
	    MQ_PROTO_DONE);
	ck_assert_uint_eq(used, first);
	ck_assert_str_eq(r.recipient, "one@b");
	ck_assert_uint_eq(r.size, 1);

	/* Nothing of the first request leaks into the second. */
	mq_proto_reset(&r);
	ck_assert_int_eq(mq_proto_parse(&r, in + used, strlen(in) - used,
	    &limits, &used), MQ_PROTO_DONE);
	ck_assert_uint_eq(used, strlen(in) - first);
	ck_assert_str_eq(r.recipient, "two@b");
	ck_assert_int_eq(r.stage, MQ_STAGE_EOM);
	ck_assert_uint_eq(r.size, 0);
}
END_TEST

START_TEST(test_partial_consumes_whole_lines)
{
	const char in[] = REQ "protocol_sta";
	struct mq_policy_request r;
	size_t used;

	ck_assert_int_eq(parse_all(in, strlen(in), &limits, &r, &used),
	    MQ_PROTO_MORE);
	ck_assert_uint_eq(used, strlen(REQ));
	ck_assert_int_eq(r.is_policy, true);
	/* Nothing at all: nothing consumed. */
	ck_assert_int_eq(mq_proto_parse(&r, in, 0, &limits, &used),
	    MQ_PROTO_MORE);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_pipelined_bytewise)
{
	/* Three requests fed a byte at a time, as a slow client would. */
	const char *in = REQ RCPT "recipient=1@b\n\n" "recipient=2@b\n\n"
	    REQ "protocol_state=END-OF-MESSAGE\nrecipient=3@b\nsize=3\n\n";
	size_t len = strlen(in), have = 0, i, used;
	char buf[256];
	struct mq_policy_request r;
	int done = 0;

	mq_proto_reset(&r);
	for (i = 0; i < len; i++) {
		int st;

		buf[have++] = in[i];
		st = mq_proto_parse(&r, buf, have, &limits, &used);
		memmove(buf, buf + used, have - used);
		have -= used;
		ck_assert_int_ge(st, 0);
		if (st == MQ_PROTO_DONE) {
			char want[16];

			done++;
			snprintf(want, sizeof(want), "%d@b", done);
			ck_assert_str_eq(r.recipient, want);
			if (done == 3)
				ck_assert_uint_eq(r.size, 3);
			mq_proto_reset(&r);
		}
	}
	ck_assert_int_eq(done, 3);
	ck_assert_uint_eq(have, 0);
}
END_TEST

/* ------------------------------------------------------------ bad input */

struct bad_case {
	const char *name;
	char *in;		/* built by make_bad */
	size_t len;
	struct mq_proto_limits lim;
	int want;
};

static char *
repeat(const char *head, char ch, size_t n, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	memcpy(s, head, hl);
	memset(s + hl, ch, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

/* attrs - n attribute lines, then tail. */
static char *
attrs(size_t n, const char *tail)
{
	size_t i, len = 0, tl = strlen(tail);
	char *s = malloc(n * 16 + tl + 1);

	for (i = 0; i < n; i++)
		len += (size_t)sprintf(s + len, "x%zu=1\n", i);
	memcpy(s + len, tail, tl + 1);
	return s;
}

#define LIM(l, a, r) { .line_max = (l), .max_attrs = (a), .max_request = (r) }
#define DEF LIM(MQ_PROTO_LINE_MAX, MQ_PROTO_MAX_ATTRS, 102400)

static struct bad_case bad[] = {
	{ "no '='", NULL, 0, DEF, MQ_PROTO_ERR_SYNTAX },
	{ "empty name", NULL, 0, DEF, MQ_PROTO_ERR_SYNTAX },
	{ "blank line content", NULL, 0, DEF, MQ_PROTO_ERR_SYNTAX },
	{ "NUL in value", NULL, 0, DEF, MQ_PROTO_ERR_NUL },
	{ "NUL in name", NULL, 0, DEF, MQ_PROTO_ERR_NUL },
	{ "NUL alone", NULL, 0, DEF, MQ_PROTO_ERR_NUL },
	{ "line too long", NULL, 0, DEF, MQ_PROTO_ERR_LINE },
	{ "line too long, no newline yet", NULL, 0, DEF, MQ_PROTO_ERR_LINE },
	{ "line too long, small limit", NULL, 0, LIM(16, 256, 102400), MQ_PROTO_ERR_LINE },
	{ "too many attributes", NULL, 0, DEF, MQ_PROTO_ERR_ATTRS },
	{ "too many attributes, small limit", NULL, 0, LIM(8192, 3, 102400), MQ_PROTO_ERR_ATTRS },
	{ "request too big", NULL, 0, LIM(8192, 256, 100), MQ_PROTO_ERR_SIZE },
	{ "request too big, no newline yet", NULL, 0, LIM(8192, 256, 100), MQ_PROTO_ERR_SIZE },
	{ "request too big before line limit", NULL, 0, LIM(64, 256, 40), MQ_PROTO_ERR_SIZE },
	{ "line limit before request limit", NULL, 0, LIM(20, 256, 40), MQ_PROTO_ERR_LINE },
	{ "same byte: line wins", NULL, 0, LIM(20, 256, 20), MQ_PROTO_ERR_LINE },
	{ "error after good lines", NULL, 0, DEF, MQ_PROTO_ERR_SYNTAX },
};
#define MQ_NELEM_BAD (sizeof(bad) / sizeof(bad[0]))

static void
make_bad(void)
{
	static const char nul_value[] = "request=smtpd\0access\n\n";
	static const char nul_name[] = "requ\0est=x\n\n";
	static const char nul_alone[] = "\0\n\n";
	size_t i;

	bad[0].in = strdup(REQ "garbage\n\n");
	bad[1].in = strdup(REQ "=value\n\n");
	bad[2].in = strdup(" \n\n");
	bad[3].in = malloc(sizeof(nul_value));
	memcpy(bad[3].in, nul_value, sizeof(nul_value));
	bad[3].len = sizeof(nul_value) - 1;
	bad[4].in = malloc(sizeof(nul_name));
	memcpy(bad[4].in, nul_name, sizeof(nul_name));
	bad[4].len = sizeof(nul_name) - 1;
	bad[5].in = malloc(sizeof(nul_alone));
	memcpy(bad[5].in, nul_alone, sizeof(nul_alone));
	bad[5].len = sizeof(nul_alone) - 1;
	/* 2 + 8191 = 8193 bytes before the newline: one over. */
	bad[6].in = repeat("a=", 'x', MQ_PROTO_LINE_MAX - 1, "\n\n");
	bad[7].in = repeat("a=", 'x', MQ_PROTO_LINE_MAX, "");
	bad[8].in = repeat("recipient=", 'x', 7, "\n\n");	/* 17 > 16 */
	bad[9].in = attrs(MQ_PROTO_MAX_ATTRS + 1, "\n");
	bad[10].in = attrs(4, "\n");
	bad[11].in = repeat("a=", 'x', 120, "\n\n");
	bad[12].in = repeat("a=", 'x', 120, "");
	bad[13].in = repeat("a=", 'x', 50, "\n\n");
	bad[14].in = repeat("a=", 'x', 50, "\n\n");
	bad[15].in = repeat("a=", 'x', 50, "\n\n");
	bad[16].in = strdup(REQ RCPT "recipient=a@b\nnot an attribute\n\n");
	for (i = 0; i < MQ_NELEM_BAD; i++)
		if (bad[i].len == 0)
			bad[i].len = strlen(bad[i].in);
}

START_TEST(test_bad)
{
	const struct bad_case *t = &bad[_i];
	struct mq_policy_request a, b;
	size_t used, fed;
	int st;

	st = parse_all(t->in, t->len, &t->lim, &a, &used);
	ck_assert_msg(st == t->want, "%s: status %d (%s), want %d", t->name,
	    st, mq_proto_strerror(st), t->want);
	ck_assert_uint_le(used, t->len);
	st = parse_bytewise(t->in, t->len, &t->lim, &b, &fed);
	ck_assert_msg(st == t->want, "%s: bytewise status %d, want %d",
	    t->name, st, t->want);
}
END_TEST

/* Exactly at each limit is still fine; one more is not. */
START_TEST(test_limits_exact)
{
	struct mq_proto_limits lim = LIM(16, 3, 1000);
	struct mq_policy_request r;
	size_t used;
	char *s;

	s = repeat("recipient=", 'x', 6, "\n\n");		/* 16 bytes */
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used), MQ_PROTO_DONE);
	free(s);
	s = repeat("recipient=", 'x', 5, "\r\n\n");		/* 15 + CR = 16 */
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used), MQ_PROTO_DONE);
	free(s);
	s = attrs(3, "\n");
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used), MQ_PROTO_DONE);
	free(s);
	s = attrs(4, "\n");
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used),
	    MQ_PROTO_ERR_ATTRS);
	free(s);

	/* max_request counts every byte, the final empty line included. */
	lim = (struct mq_proto_limits)LIM(8192, 256, 20);
	s = repeat("a=", 'x', 16, "\n\n");			/* 20 bytes */
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used), MQ_PROTO_DONE);
	ck_assert_uint_eq(r.nbytes, 20);
	free(s);
	s = repeat("a=", 'x', 17, "\n\n");			/* 21 bytes */
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used),
	    MQ_PROTO_ERR_SIZE);
	free(s);
	/* The limit is per request: two requests of 20 bytes each are fine. */
	s = repeat("a=", 'x', 16, "\n\na=xxxxxxxxxxxxxxxx\n\n");
	ck_assert_int_eq(parse_all(s, strlen(s), &lim, &r, &used), MQ_PROTO_DONE);
	mq_proto_reset(&r);
	ck_assert_int_eq(mq_proto_parse(&r, s + used, strlen(s) - used, &lim,
	    &used), MQ_PROTO_DONE);
	free(s);
}
END_TEST

/* A line exactly line_max long passes at the default limit too. */
START_TEST(test_line_max_default)
{
	struct mq_policy_request r;
	size_t used;
	char *s = repeat("a=", 'x', MQ_PROTO_LINE_MAX - 2, "\n\n");

	ck_assert_int_eq(parse_all(s, strlen(s), &limits, &r, &used),
	    MQ_PROTO_DONE);
	free(s);
}
END_TEST

/* ------------------------------------------------------------ format */

START_TEST(test_format)
{
	char out[64];
	size_t n;

	n = mq_proto_format(out, sizeof(out), "DUNNO");
	ck_assert_uint_eq(n, strlen("action=DUNNO\n\n"));
	ck_assert_str_eq(out, "action=DUNNO\n\n");

	n = mq_proto_format(out, sizeof(out), "552 5.2.2 Mailbox is full");
	ck_assert_str_eq(out, "action=552 5.2.2 Mailbox is full\n\n");
	ck_assert_uint_eq(n, strlen(out));

	/* Exactly fits (with its NUL), and one byte short. */
	ck_assert_uint_eq(mq_proto_format(out, 15, "DUNNO"), 14);
	ck_assert_str_eq(out, "action=DUNNO\n\n");
	ck_assert_uint_eq(mq_proto_format(out, 14, "DUNNO"), 0);
	ck_assert_uint_eq(mq_proto_format(out, 0, "DUNNO"), 0);

	/* A reply must stay one line, and say something. */
	ck_assert_uint_eq(mq_proto_format(out, sizeof(out), "DUNNO\naction=OK"), 0);
	ck_assert_uint_eq(mq_proto_format(out, sizeof(out), "DUNNO\r"), 0);
	ck_assert_uint_eq(mq_proto_format(out, sizeof(out), ""), 0);
}
END_TEST

START_TEST(test_format_max_reply)
{
	char action[MQ_REPLY_MAX + 1], out[MQ_REPLY_MAX + 16];

	memset(action, 'x', MQ_REPLY_MAX);
	action[MQ_REPLY_MAX] = '\0';
	ck_assert_uint_eq(mq_proto_format(out, sizeof(out), action),
	    MQ_REPLY_MAX + 9);
	ck_assert_int_eq(memcmp(out + MQ_REPLY_MAX + 7, "\n\n", 3), 0);
}
END_TEST

START_TEST(test_strerror)
{
	static const int codes[] = { MQ_PROTO_MORE, MQ_PROTO_DONE,
	    MQ_PROTO_ERR_LINE, MQ_PROTO_ERR_SYNTAX, MQ_PROTO_ERR_NUL,
	    MQ_PROTO_ERR_ATTRS, MQ_PROTO_ERR_SIZE };
	size_t i, j;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		ck_assert_ptr_nonnull(mq_proto_strerror(codes[i]));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(mq_proto_strerror(codes[i]),
			    mq_proto_strerror(codes[j]));
	}
	ck_assert_ptr_nonnull(mq_proto_strerror(42));
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	make_bad();

	tc = tcase_create("good");
	tcase_add_loop_test(tc, test_good, 0, (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_test(tc, test_postfix37_fields);
	tcase_add_loop_test(tc, test_size, 0, (int)(sizeof(sizes) / sizeof(sizes[0])));
	tcase_add_loop_test(tc, test_recipient_long, 0, 5);
	tcase_add_test(tc, test_fields_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_test(tc, test_two_in_one_buffer);
	tcase_add_test(tc, test_partial_consumes_whole_lines);
	tcase_add_test(tc, test_pipelined_bytewise);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, (int)MQ_NELEM_BAD);
	tcase_add_test(tc, test_limits_exact);
	tcase_add_test(tc, test_line_max_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_format_max_reply);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
