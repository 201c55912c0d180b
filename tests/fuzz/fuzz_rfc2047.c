/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rfc2047 - libFuzzer target for the header encoder (RFC 2047
 * encoded-words and folding) and the quoted-printable body encoder.
 *
 * The input is a header value (up to its first NUL; what follows is a
 * header name when present). Invariants of the header: lines end with LF,
 * at most 998 octets, every line after the first starts with a blank, no
 * control character but the line ends, only ASCII when the value had
 * non-ASCII bytes, and every encoded-word is at most 75 octets
 * (RFC 2047 2) and holds base64 of whole UTF-8 sequences. Of the
 * quoted-printable text: ASCII, lines of at most 76 octets.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warn/compose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_words(const char *h)
{
	const char *p = h;

	while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
		const char *q = p + 10, *e = strstr(q, "?=");
		size_t n;

		if (e == NULL)
			abort();
		n = (size_t)(e - q);
		if ((size_t)(e + 2 - p) > 75 || n % 4 != 0 ||
		    strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") < n)
			abort();
		p = e + 2;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *h, *qp;
	const char *name = "Subject", *p;
	bool high = false;
	size_t i, qlen, vlen;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	vlen = strlen(text);
	if (vlen + 1 < size && text[vlen + 1] != '\0' &&
	    strspn(text + vlen + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") ==
	    strlen(text + vlen + 1) && strlen(text + vlen + 1) < 40)
		name = text + vlen + 1;
	for (i = 0; i < vlen; i++)
		if ((unsigned char)text[i] >= 128)
			high = true;

	h = mq_header_encode(name, text);
	if (strncmp(h, name, strlen(name)) != 0 || h[strlen(name)] != ':')
		abort();
	for (p = h; *p != '\0';) {
		const char *e = strchr(p, '\n');

		if (e == NULL || (size_t)(e - p) > MQ_LINE_MAX)
			abort();
		if (p != h && *p != ' ' && *p != '\t')
			abort();
		for (; p < e; p++)
			if ((unsigned char)*p < ' ' && *p != '\t')
				abort();
			else if (high && (unsigned char)*p >= 127)
				abort();
		p = e + 1;
	}
	check_words(h);
	free(h);

	qp = mq_qp_encode(text, vlen, &qlen);
	for (p = qp; p < qp + qlen;) {
		const char *e = memchr(p, '\n', (size_t)(qp + qlen - p));

		if (e == NULL)
			e = qp + qlen;
		if (e - p > 76)
			abort();
		for (; p < e; p++)
			if ((unsigned char)*p >= 127 ||
			    ((unsigned char)*p < ' ' && *p != '\t'))
				abort();
		p = e + 1;
	}
	free(qp);
	free(text);
	return 0;
}
