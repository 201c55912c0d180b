/* SPDX-License-Identifier: MIT */
/*
 * address - recipient address handling. Pure.
 *
 * mq_address_parse takes a recipient exactly as Postfix passes it to a
 * policy service: a quoted local part arrives unquoted ("john doe"@x as
 * john doe@x), 8-bit and SMTPUTF8 bytes arrive as they were sent. It
 * lower-cases ASCII letters, strips one pair of enclosing angle brackets
 * and one trailing dot of the domain (as trivial-rewrite(8) does), and
 * splits at the last '@'. It refuses, each with its own code, an address
 * longer than MQ_ADDRESS_MAX, one without a domain, a domain longer than
 * MQ_DOMAIN_MAX, and anything else that cannot be a recipient here (an
 * empty local part, a control character, a blank in the domain). A refused
 * address is not ours: the caller lets it pass. Nothing is ever truncated.
 *
 * mq_address_strip_ext gives the address without its extension: the local
 * part is cut at the first character that is in the delimiter set
 * (Postfix's recipient_delimiter). Returns 1 when something was cut.
 *
 * mq_address_idn_alt gives the other IDNA form of a domain: the U-label
 * form of a domain written with A-labels (xn--...), the A-label form of a
 * domain written in UTF-8; 0 when it has no other form.
 */
#ifndef MQ_ADDRESS_H
#define MQ_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include "mq.h"
#include "sqltmpl.h"

enum mq_address_status {
	MQ_ADDR_OK = 0,
	MQ_ADDR_INVALID = -1,		/* empty local part, control byte, blank in the domain */
	MQ_ADDR_TOOLONG = -2,		/* over MQ_ADDRESS_MAX bytes */
	MQ_ADDR_NODOMAIN = -3,		/* no '@', or nothing after it */
	MQ_ADDR_DOMAINLONG = -4,	/* domain over MQ_DOMAIN_MAX bytes */
};

struct mq_address {
	char full[MQ_ADDRESS_MAX + 1];
	char local[MQ_ADDRESS_MAX + 1];
	char domain[MQ_DOMAIN_MAX + 1];
};

/* mq_address_parse - MQ_ADDR_OK with out filled, or a negative status. */
int mq_address_parse(const char *text, size_t len, struct mq_address *out);
/*
 * mq_address_reparses - whether mq_address_parse of a->full gives a back
 * unchanged (or refuses it), so that it need not be parsed: true for what
 * mq_address_parse made. a's parts must agree with its full form.
 */
bool mq_address_reparses(const struct mq_address *a);
/* mq_address_error - a few words for a negative status of mq_address_parse. */
const char *mq_address_error(int status);
int mq_address_strip_ext(const struct mq_address *in, const char *delimiters,
    struct mq_address *out);
/* mq_address_with_domain - local@domain, e.g. for alias domains; -1 if too long. */
int mq_address_with_domain(const struct mq_address *in, const char *domain,
    struct mq_address *out);
/* mq_address_idn_alt - the other IDNA form of domain into out: 1, or 0 if none. */
int mq_address_idn_alt(const char *domain, char *out, size_t size);
/* mq_address_key - the sqltmpl key pointing into the address. */
struct mq_key mq_address_key(const struct mq_address *a);

#endif
