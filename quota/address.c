/*
 * address - recipient address parsing, extension stripping and the
 * sqltmpl key. Pure: no I/O, no globals, no allocation.
 *
 * The address comes from a network peer (the policy request's recipient),
 * so every byte is checked here once: what leaves mq_address_parse is
 * lower-case ASCII letters, no control characters, no blanks, no NUL, at
 * most MQ_ADDRESS_MAX bytes, and has a non-empty local part and domain.
 * Anything else returns -1 and is, to the caller, a recipient that does not
 * exist. Characters with a meaning elsewhere ('\'', '/', "..", '%') are
 * kept as they are: they reach SQL only as bound parameters and a path
 * only through the maildir confinement checks.
 *
 * A quoted local part ("a b"@d) is not unquoted; its blank makes it
 * invalid, and a quoted local part without blanks is kept as plain text.
 */
#include "autoconf.h"

#include <string.h>

#include "address.h"

/* bad_char - control characters (C0 and DEL) and blanks. */
static int
bad_char(unsigned char c)
{
	return c < 0x20 || c == ' ' || c == 0x7f;
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
	size_t i, llen;

	if (text == NULL)
		return -1;
	/* One pair of angle brackets, and only a matching pair. */
	if (len > 0 && (text[0] == '<' || text[len - 1] == '>')) {
		if (len < 2 || text[0] != '<' || text[len - 1] != '>')
			return -1;
		text++;
		len -= 2;
	}
	if (len == 0 || len > MQ_ADDRESS_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (bad_char((unsigned char)text[i]))
			return -1;
		buf[i] = lower(text[i]);
	}
	buf[len] = '\0';

	at = strrchr(buf, '@');
	if (at == NULL)
		return -1;
	llen = (size_t)(at - buf);
	if (llen == 0 || llen + 1 == len)
		return -1;
	set_parts(out, buf, llen, at + 1, len - llen - 1);
	return 0;
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
	if (dlen == 0 || llen == 0 || llen + 1 + dlen > MQ_ADDRESS_MAX)
		return -1;
	/* The domain comes from the database: hold it to the parse rules. */
	for (i = 0; i < dlen; i++) {
		if (bad_char((unsigned char)domain[i]) || domain[i] == '@')
			return -1;
		tmp.domain[i] = lower(domain[i]);
	}
	set_parts(&tmp, in->local, llen, tmp.domain, dlen);
	*out = tmp;
	return 0;
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
