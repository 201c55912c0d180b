/*
 * address - recipient address handling. Pure.
 *
 * mq_address_parse lower-cases an address, strips one pair of enclosing
 * angle brackets, and splits it at the last '@'. An address that is empty,
 * longer than MQ_ADDRESS_MAX, has no '@', an empty local part or domain, or
 * contains control characters or blanks is refused (-1): to the daemon it is
 * simply a recipient that does not exist.
 *
 * mq_address_strip_ext gives the address without its extension: the local
 * part is cut at the first character that is in the delimiter set
 * (Postfix's recipient_delimiter). Returns 1 when something was cut.
 */
#ifndef MQ_ADDRESS_H
#define MQ_ADDRESS_H

#include <stddef.h>
#include "sqltmpl.h"

#define MQ_ADDRESS_MAX 320	/* 64 local + '@' + 255 domain */

struct mq_address {
	char full[MQ_ADDRESS_MAX + 1];
	char local[MQ_ADDRESS_MAX + 1];
	char domain[MQ_ADDRESS_MAX + 1];
};

int mq_address_parse(const char *text, size_t len, struct mq_address *out);
int mq_address_strip_ext(const struct mq_address *in, const char *delimiters,
    struct mq_address *out);
/* mq_address_with_domain - local@domain, e.g. for alias domains; -1 if too long. */
int mq_address_with_domain(const struct mq_address *in, const char *domain,
    struct mq_address *out);
/* mq_address_key - the sqltmpl key pointing into the address. */
struct mq_key mq_address_key(const struct mq_address *a);

#endif
