/* SPDX-License-Identifier: MIT */
/*
 * fuzz_address - libFuzzer target for the recipient parser, extension
 * stripping, alias-domain rewriting and the IDNA forms: no crash, no
 * overflow, and the documented invariants hold for any input.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_parts - the invariants of a parsed address. */
static void
check_parts(const struct mq_address *a)
{
	size_t llen = strlen(a->local), dlen = strlen(a->domain);

	if (llen == 0 || dlen == 0 || dlen > MQ_DOMAIN_MAX ||
	    llen + 1 + dlen > MQ_ADDRESS_MAX ||
	    strlen(a->full) != llen + 1 + dlen || a->full[llen] != '@' ||
	    memcmp(a->full, a->local, llen) != 0 ||
	    strcmp(a->full + llen + 1, a->domain) != 0 ||
	    strchr(a->domain, '@') != NULL || strchr(a->domain, ' ') != NULL)
		abort();
	for (const char *p = a->full; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f ||
		    (*p >= 'A' && *p <= 'Z'))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mq_address a, b, c;
	char alt[MQ_DOMAIN_MAX + 1], back[MQ_DOMAIN_MAX + 1];
	static char wrapped[MQ_ADDRESS_MAX + 3];
	int r;

	r = mq_address_parse((const char *)data, size, &a);
	if (r != MQ_ADDR_OK) {
		if (r > MQ_ADDR_OK || r < MQ_ADDR_DOMAINLONG ||
		    mq_address_error(r) == NULL)
			abort();
		if (size > MQ_ADDRESS_MAX + 2 && r != MQ_ADDR_TOOLONG &&
		    r != MQ_ADDR_INVALID)
			abort();
		return 0;
	}
	if (size > MQ_ADDRESS_MAX + 2)
		abort();
	check_parts(&a);
	/*
	 * A parsed address parses to itself. In angle brackets, since the
	 * parser strips one pair and a local part may begin with '<' or a
	 * domain end with '>'.
	 */
	snprintf(wrapped, sizeof(wrapped), "<%s>", a.full);
	if (mq_address_parse(wrapped, strlen(wrapped), &b) != MQ_ADDR_OK ||
	    strcmp(a.full, b.full) != 0 || strcmp(a.local, b.local) != 0)
		abort();

	r = mq_address_strip_ext(&a, "+-", &b);
	check_parts(&b);
	if (strcmp(a.domain, b.domain) != 0 || (r == 0 && strcmp(a.full, b.full) != 0) ||
	    (r == 1 && strlen(b.local) >= strlen(a.local)))
		abort();

	/* The other IDNA form is a domain of its own, and leads back. */
	if (mq_address_idn_alt(a.domain, alt, sizeof(alt)) == 1) {
		if (strcmp(alt, a.domain) == 0 ||
		    mq_address_with_domain(&a, alt, &c) < 0)
			return 0;	/* too long with this local part */
		check_parts(&c);
		/*
		 * From UTF-8 to A-labels and back gives the same A-labels.
		 * (UTS #46 may also map to plain ASCII, "\xc7\x8a" to "nj":
		 * that has no other form.)
		 */
		if (strspn(alt, "abcdefghijklmnopqrstuvwxyz0123456789-.") ==
		    strlen(alt) && (strncmp(alt, "xn--", 4) == 0 ||
		    strstr(alt, ".xn--") != NULL)) {
			char again[MQ_DOMAIN_MAX + 1];

			if (mq_address_idn_alt(alt, back, sizeof(back)) != 1 ||
			    mq_address_idn_alt(back, again, sizeof(again)) != 1 ||
			    strcmp(again, alt) != 0)
				abort();
		}
	}
	return 0;
}
