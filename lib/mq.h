/* SPDX-License-Identifier: MIT */
/*
 * mq - the shared vocabulary of every layer: lookup results, the query
 * kinds, the stage of a policy request, the configured modes the pure
 * modules act on, and the bounds of a reply and of an address.
 *
 * A leaf: it includes nothing of the project, so a pure module (decide,
 * reply, proto, address, sqltmpl, maildirsize) can speak these words without
 * compiling against the configuration schema, the engine or the drivers.
 * conf/config.h includes it; docs/HACKING.md has the layer rule.
 */
#ifndef MQ_MQ_H
#define MQ_MQ_H

/* The longest reply string (an access(5) action), in characters. */
#define MQ_REPLY_MAX 500

/*
 * Postfix's limits: smtpd reads an SMTP command line of at most
 * line_length_limit (2048) bytes, so "RCPT TO:<...>" carries at most 2038
 * address bytes; a DNS name is at most 255 bytes (RFC 1035).
 */
#define MQ_ADDRESS_MAX 2048
#define MQ_DOMAIN_MAX 255

/* What a lookup gave: rows, none, or a temporary failure. */
enum mq_result {
	MQ_MISS = -2,		/* cache-only lookup: the answer is not cached */
	MQ_TEMPFAIL = -1,
	MQ_NOTFOUND = 0,
	MQ_FOUND = 1,
};

/* The SQL queries, by the lookup they answer (index = enum mq_query_kind). */
enum mq_query_kind {
	MQ_Q_USER,		/* %s -> quota, messages, enabled, maildir */
	MQ_Q_ALIAS,		/* %s -> destination (one or more rows) */
	MQ_Q_DOMAIN,		/* %d -> enabled */
	MQ_Q_USERS,		/* no key -> first column: every mailbox address */
	MQ_Q_USAGE,		/* %s -> bytes, messages */
	MQ_Q_ALIAS_DOMAIN,	/* %d -> first column: target domain */
	MQ_Q_DIGEST_TO,		/* %d -> first column: the domain administrator (--digest) */
	MQ_Q_COUNT
};

/* The SMTP stage of a policy request (its protocol_state). */
enum mq_stage { MQ_STAGE_RCPT, MQ_STAGE_EOM, MQ_STAGE_OTHER };

/* policy.alias_overquota: an alias is over quota when all / any target is. */
enum mq_alias_overquota { MQ_ALIAS_ALL, MQ_ALIAS_ANY };
/* policy.on_error: what a database failure answers. */
enum mq_on_error { MQ_ON_ERROR_TEMPFAIL, MQ_ON_ERROR_PASS };

#endif
