/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proto - libFuzzer target for the policy protocol parser.
 *
 * The input is a byte stream as a client would send it. It is parsed with
 * the daemon's default limits and with small ones, all at once and again
 * in chunks of 1, 3 and 64 bytes (the buffer discipline of the server:
 * unconsumed bytes come back with the next chunk). Every way must yield the
 * same requests and the same final status; each request must respect the
 * limits, and "need more" must leave only a partial line within them (else
 * the server would wait forever on a full buffer). Any breach aborts.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/proto.h"

#define MAX_RESULTS 512

struct result {
	int status;
	bool is_policy;
	enum mq_stage stage;
	uint64_t size;
	size_t recipient_len, nattrs, nbytes;
	char recipient[MQ_ADDRESS_MAX + 1];
	char queue_id[32];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
record(struct result *r, int status, const struct mq_policy_request *req,
    const struct mq_proto_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	if (status != MQ_PROTO_DONE)
		return;
	r->is_policy = req->is_policy;
	r->stage = req->stage;
	r->size = req->size;
	r->recipient_len = req->recipient_len;
	r->nattrs = req->nattrs;
	r->nbytes = req->nbytes;
	memcpy(r->recipient, req->recipient, sizeof(r->recipient));
	memcpy(r->queue_id, req->queue_id, sizeof(r->queue_id));

	/* Invariants of a complete request. */
	if (req->nbytes > lim->max_request || req->nattrs > lim->max_attrs)
		abort();
	if (strnlen(req->recipient, sizeof(req->recipient)) !=
	    (req->recipient_len < MQ_ADDRESS_MAX ? req->recipient_len :
	    MQ_ADDRESS_MAX))
		abort();
	if (req->stage != MQ_STAGE_RCPT && req->stage != MQ_STAGE_EOM &&
	    req->stage != MQ_STAGE_OTHER)
		abort();
}

static int
same(const struct result *a, const struct result *b)
{
	return a->status == b->status && a->is_policy == b->is_policy &&
	    a->stage == b->stage && a->size == b->size &&
	    a->recipient_len == b->recipient_len && a->nattrs == b->nattrs &&
	    a->nbytes == b->nbytes &&
	    strcmp(a->recipient, b->recipient) == 0 &&
	    strcmp(a->queue_id, b->queue_id) == 0;
}

/*
 * run - parse the stream in chunks (0 = all at once); fill out[] with one
 * result per request and the final status. Returns the count.
 */
static size_t
run(const uint8_t *data, size_t size, size_t chunk,
    const struct mq_proto_limits *lim, struct result *out)
{
	struct mq_policy_request req;
	char *buf = malloc(size + 1);
	size_t have = 0, fed = 0, n = 0, used;
	int st = MQ_PROTO_MORE;

	if (buf == NULL)
		abort();
	if (chunk == 0)
		chunk = size;
	mq_proto_reset(&req);
	while (fed < size && n < MAX_RESULTS - 1) {
		size_t take = size - fed < chunk ? size - fed : chunk;

		memcpy(buf + have, data + fed, take);
		have += take;
		fed += take;
		for (;;) {
			st = mq_proto_parse(&req, buf, have, lim, &used);
			if (used > have)
				abort();
			memmove(buf, buf + used, have - used);
			have -= used;
			/*
			 * MORE promises the rest is a partial line within the
			 * limits: the server's buffer (line_max + 1) relies on it.
			 */
			if (st == MQ_PROTO_MORE && (have > lim->line_max ||
			    req.nbytes + have > lim->max_request ||
			    memchr(buf, '\n', have) != NULL))
				abort();
			if (st != MQ_PROTO_DONE)
				break;
			record(&out[n++], st, &req, lim);
			mq_proto_reset(&req);
			if (n == MAX_RESULTS - 1)
				break;
		}
		if (st < 0)
			break;
	}
	record(&out[n++], st < 0 ? st : MQ_PROTO_MORE, &req, lim);
	free(buf);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mq_proto_limits lims[] = {
		{ MQ_PROTO_LINE_MAX, MQ_PROTO_MAX_ATTRS, 102400 },
		{ 64, 8, 256 },
	};
	static const size_t chunks[] = { 1, 3, 64 };
	static struct result whole[MAX_RESULTS], part[MAX_RESULTS];
	size_t l, c, i, nw, np;
	char out[MQ_REPLY_MAX + 16];

	for (l = 0; l < sizeof(lims) / sizeof(lims[0]); l++) {
		nw = run(data, size, 0, &lims[l], whole);
		for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			/* Byte by byte rescans partial lines: keep it to small inputs. */
			if (chunks[c] == 1 && size > 8192)
				continue;
			np = run(data, size, chunks[c], &lims[l], part);
			if (np != nw)
				abort();
			for (i = 0; i < np; i++)
				if (!same(&whole[i], &part[i]))
					abort();
		}
		/* The formatter on whatever text came out. */
		for (i = 0; i < nw; i++) {
			size_t n = mq_proto_format(out, sizeof(out), whole[i].recipient);

			if (n != 0 && (n != strlen(whole[i].recipient) + 9 ||
			    memcmp(out + n - 2, "\n\n", 2) != 0))
				abort();
		}
	}
	return 0;
}
