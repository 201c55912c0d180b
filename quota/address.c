/* SPDX-License-Identifier: MIT */
/*
 * address - recipient address parsing, extension stripping, the IDNA
 * forms of a domain and the sqltmpl key. Pure: no I/O, no globals; only
 * libidn2 allocates (and frees) inside mq_address_idn_alt.
 *
 * The address comes from a network peer (the policy request's recipient),
 * so every byte is checked here once: what leaves mq_address_parse has
 * lower-case ASCII letters, no control characters, no NUL, no blank in the
 * domain, at most MQ_ADDRESS_MAX bytes (a domain at most MQ_DOMAIN_MAX), and
 * a non-empty local part and domain. A blank in the local part is kept:
 * Postfix passes "john doe"@example.org as john doe@example.org, and that is
 * the key its own table lookups use. Bytes >= 0x80 are kept as they are.
 * Characters with a meaning elsewhere ('\'', '/', "..", '%') are kept too:
 * they reach SQL only as bound parameters and a path only through the
 * maildir confinement checks.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <string.h>

#include <idn2.h>

#include "address.h"
#include "util.h"

/* bad_char - control characters (C0 and DEL), which no recipient holds. */
static bool
bad_char(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* set_parts - fill out from local and domain (lengths checked by the caller). */
static void
set_parts(struct mq_address *out, const char *local, size_t llen,
    const char *domain, size_t dlen)
{
	memmove(out->local, local, llen);
	out->local[llen] = '\0';
	memmove(out->domain, domain, dlen);
	out->domain[dlen] = '\0';
	memcpy(out->full, out->local, llen);
	out->full[llen] = '@';
	memcpy(out->full + llen + 1, out->domain, dlen + 1);
}

int
mq_address_parse(const char *text, size_t len, struct mq_address *out)
{
	char buf[MQ_ADDRESS_MAX + 1];
	const char *at;
	size_t i, llen, dlen;

	if (text == NULL)
		return MQ_ADDR_INVALID;
	/* One pair of angle brackets, and only a matching pair. */
	if (len > 0 && (text[0] == '<' || text[len - 1] == '>')) {
		if (len < 2 || text[0] != '<' || text[len - 1] != '>')
			return MQ_ADDR_INVALID;
		text++;
		len -= 2;
	}
	if (len == 0)
		return MQ_ADDR_INVALID;
	if (len > MQ_ADDRESS_MAX)
		return MQ_ADDR_TOOLONG;
	for (i = 0; i < len; i++) {
		if (bad_char((unsigned char)text[i]))
			return MQ_ADDR_INVALID;
		buf[i] = lower(text[i]);
	}
	buf[len] = '\0';

	at = strrchr(buf, '@');
	if (at == NULL)
		return MQ_ADDR_NODOMAIN;
	llen = (size_t)(at - buf);
	dlen = len - llen - 1;
	if (dlen == 0)
		return MQ_ADDR_NODOMAIN;
	if (llen == 0)
		return MQ_ADDR_INVALID;
	/* trivial-rewrite(8): one trailing dot goes, but not ".." or "@.". */
	if (dlen > 1 && at[dlen] == '.' && at[dlen - 1] != '.')
		dlen--;
	if (dlen > MQ_DOMAIN_MAX)
		return MQ_ADDR_DOMAINLONG;
	if (memchr(at + 1, ' ', dlen) != NULL)
		return MQ_ADDR_INVALID;
	set_parts(out, buf, llen, at + 1, dlen);
	return MQ_ADDR_OK;
}

bool
mq_address_reparses(const struct mq_address *a)
{
	size_t len = strlen(a->full), dlen = strlen(a->domain);

	if (len == 0 || a->full[0] == '<' || a->full[len - 1] == '>')
		return false;	/* brackets: stripped again */
	if (dlen > 1 && a->domain[dlen - 1] == '.' && a->domain[dlen - 2] != '.')
		return false;	/* a trailing dot: stripped */
	if (strchr(a->domain, '@') != NULL)
		return false;	/* split elsewhere */
	for (const char *p = a->full; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			return false;	/* lower-cased */
	return true;
}

const char *
mq_address_error(int status)
{
	switch (status) {
	case MQ_ADDR_OK: return "valid";
	case MQ_ADDR_TOOLONG: return "address longer than 2048 bytes";
	case MQ_ADDR_NODOMAIN: return "no domain";
	case MQ_ADDR_DOMAINLONG: return "domain longer than 255 bytes";
	default: return "not a valid address";
	}
}

int
mq_address_strip_ext(const struct mq_address *in, const char *delimiters,
    struct mq_address *out)
{
	struct mq_address tmp;
	size_t cut;

	if (delimiters == NULL || *delimiters == '\0' ||
	    (cut = strcspn(in->local, delimiters)) == strlen(in->local) ||
	    cut == 0) {
		/* Nothing to cut, or the local part would become empty. */
		if (out != in)
			*out = *in;
		return 0;
	}
	/* in and out may be the same struct: build in tmp first. */
	set_parts(&tmp, in->local, cut, in->domain, strlen(in->domain));
	*out = tmp;
	return 1;
}

int
mq_address_with_domain(const struct mq_address *in, const char *domain,
    struct mq_address *out)
{
	struct mq_address tmp;
	size_t i, llen, dlen;

	if (domain == NULL)
		return -1;
	llen = strlen(in->local);
	dlen = strlen(domain);
	if (dlen == 0 || llen == 0 || dlen > MQ_DOMAIN_MAX ||
	    llen + 1 + dlen > MQ_ADDRESS_MAX)
		return -1;
	/* The domain comes from the database: hold it to the parse rules. */
	for (i = 0; i < dlen; i++) {
		if (bad_char((unsigned char)domain[i]) || domain[i] == ' ' ||
		    domain[i] == '@')
			return -1;
		tmp.domain[i] = lower(domain[i]);
	}
	set_parts(&tmp, in->local, llen, tmp.domain, dlen);
	*out = tmp;
	return 0;
}

/* has_alabel - whether a label of domain starts with the ACE prefix "xn--". */
static bool
has_alabel(const char *domain)
{
	for (const char *p = domain; p != NULL; p = strchr(p, '.')) {
		if (*p == '.')
			p++;
		if (strncmp(p, "xn--", 4) == 0)
			return true;
	}
	return false;
}

/* domain_ok - a converted form that the parser would accept as a domain. */
static bool
domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > MQ_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (bad_char((unsigned char)d[i]) || d[i] == ' ' || d[i] == '@')
			return false;
	return true;
}

/* copy_alt - a converted form into out when it differs and fits; 1 or 0. */
static int
copy_alt(const char *domain, const char *alt, char *out, size_t size)
{
	size_t n = strlen(alt);

	if (!domain_ok(alt) || n >= size || strcmp(alt, domain) == 0)
		return 0;
	memcpy(out, alt, n + 1);
	return 1;
}

/* round_trip - whether A-labels alabel convert to UTF-8 and back unchanged. */
static bool
round_trip(const char *alabel, char **unicode_r)
{
	char *back = NULL;
	bool same;

	*unicode_r = NULL;
	if (idn2_to_unicode_8z8z(alabel, unicode_r, 0) != IDN2_OK)
		return false;
	same = idn2_to_ascii_8z(*unicode_r, &back, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL) == IDN2_OK && strcmp(back, alabel) == 0;
	idn2_free(back);
	return same;
}

int
mq_address_idn_alt(const char *domain, char *out, size_t size)
{
	char *conv = NULL, *uni = NULL;
	bool eight_bit = false;
	int r = 0;

	for (const char *p = domain; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			eight_bit = true;
	/*
	 * Only a pair of forms that lead to each other counts: the Punycode
	 * decoder accepts labels no registry would issue (decoding to blanks,
	 * controls, or past 255 bytes), and UTS #46 keeps xn-- labels it
	 * cannot check, so a domain that is neither clean IDNA nor plain
	 * ASCII has no other form.
	 */
	if (eight_bit) {
		/* UTF-8 (U-labels) -> A-labels, with UTS #46 mapping (case, NFC). */
		if (idn2_to_ascii_8z(domain, &conv, IDN2_NFC_INPUT |
		    IDN2_NONTRANSITIONAL) == IDN2_OK &&
		    (!has_alabel(conv) ||
		    (round_trip(conv, &uni) && domain_ok(uni))))
			r = copy_alt(domain, conv, out, size);
	} else if (has_alabel(domain)) {
		/* A-labels -> UTF-8. */
		if (round_trip(domain, &uni))
			r = copy_alt(domain, uni, out, size);
	}
	idn2_free(conv);
	idn2_free(uni);
	return r;
}

struct mq_key
mq_address_key(const struct mq_address *a)
{
	struct mq_key key = {
		.address = a->full,
		.local = a->local,
		.domain = a->domain,
	};

	return key;
}
