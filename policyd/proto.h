/* SPDX-License-Identifier: MIT */
/*
 * proto - the Postfix policy delegation protocol (SMTPD_POLICY_README).
 * Pure: no I/O, no globals, no logging; fuzzed.
 *
 * A request is "name=value" lines ended by an empty line. Names and values
 * hold no NUL; a line without '=' is an error; unknown names are ignored
 * (not stored); a repeated attribute keeps its first value. Only the
 * attributes the decision needs are kept. A line longer than line_max, more
 * than max_attrs attributes, or a request over max_request bytes is an error:
 * the server logs it and closes that connection without a reply, as the
 * protocol asks ("in case of trouble ... must not send a reply").
 */
#ifndef MQ_PROTO_H
#define MQ_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mq.h"

#define MQ_PROTO_LINE_MAX 8192
#define MQ_PROTO_MAX_ATTRS 256

enum mq_proto_status {
	MQ_PROTO_MORE = 0,		/* need more bytes */
	MQ_PROTO_DONE = 1,		/* a whole request was read */
	MQ_PROTO_ERR_LINE = -1,		/* a line longer than the limit */
	MQ_PROTO_ERR_SYNTAX = -2,	/* a line without '=' or with an empty name */
	MQ_PROTO_ERR_NUL = -3,		/* a NUL byte */
	MQ_PROTO_ERR_ATTRS = -4,	/* too many attributes */
	MQ_PROTO_ERR_SIZE = -5,		/* request over max_request_size */
};

struct mq_proto_limits {
	size_t line_max;
	size_t max_attrs;
	size_t max_request;
};

struct mq_policy_request {
	bool is_policy;			/* request=smtpd_access_policy */
	enum mq_stage stage;		/* from protocol_state */
	char recipient[MQ_ADDRESS_MAX + 1];
	size_t recipient_len;		/* > MQ_ADDRESS_MAX: too long, kept truncated */
	uint64_t size;			/* 0 when absent or not a plain number */
	char queue_id[32];
	char client_address[64];
	/* parser state */
	uint32_t seen;			/* bit per kept attribute: first value wins */
	size_t nattrs;
	size_t nbytes;
	size_t scanned;			/* of the pending partial line: bytes known free of LF and NUL */
};

void mq_proto_reset(struct mq_policy_request *req);

/*
 * mq_proto_parse - feed bytes; consumes whole lines only. Returns DONE when
 * an empty line ended a request (*consumed_r includes it), MORE when every
 * complete line was consumed and more is needed, or an error.
 */
int mq_proto_parse(struct mq_policy_request *req, const char *buf, size_t len,
    const struct mq_proto_limits *limits, size_t *consumed_r);

/* mq_proto_format - "action=ACTION\n\n" into out; returns the length, 0 if it does not fit. */
size_t mq_proto_format(char *out, size_t size, const char *action);

const char *mq_proto_strerror(int status);

#endif
