/* SPDX-License-Identifier: MIT */
/*
 * fuzz_template - libFuzzer target for the warning template: parsing, the
 * composer's check, expansion and the whole message.
 *
 * The input is a template file. When it parses and passes the check, it
 * is composed into a mail with variables that carry CR, LF and non-ASCII
 * text. Invariants: the message is NUL-free, every line ends with LF and
 * has at most 998 octets, the header section ends at the first empty line
 * and every header line is a field or a continuation, exactly one From
 * and one Subject, and a variable never starts a line of its own in the
 * headers.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warn/compose.h"
#include "warn/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
count_header(const char *msg, size_t hlen, const char *name)
{
	size_t n = 0, nl = strlen(name);
	const char *p = msg;

	while (p < msg + hlen) {
		const char *e = memchr(p, '\n', (size_t)(msg + hlen - p));

		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
			n++;
		p = e + 1;
	}
	return n;
}

static void
check_message(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *hend;
	bool in_headers = true;

	if (len == 0 || msg[len - 1] != '\n' || memchr(msg, '\0', len) != NULL)
		abort();
	hend = strstr(msg, "\n\n");
	if (hend == NULL)
		abort();
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)(e - p);

		if (l > MQ_LINE_MAX)
			abort();
		if (in_headers) {
			if (l == 0) {
				in_headers = false;
			} else if (p[0] == ' ' || p[0] == '\t') {
				if (p == msg)
					abort();	/* a continuation first */
			} else {
				const char *colon = memchr(p, ':', l);
				size_t i;

				if (colon == NULL || colon == p)
					abort();
				for (i = 0; p + i < colon; i++)
					if (p[i] <= ' ' || p[i] >= 127)
						abort();	/* RFC 5322 field name */
			}
			if (memchr(p, '\r', l) != NULL)
				abort();
			/* the variable below never becomes a field */
			if (strncasecmp(p, "Bcc:", 4) == 0)
				abort();
		}
		p = e + 1;
	}
	if (count_header(msg, (size_t)(hend - msg) + 1, "From") != 1 ||
	    count_header(msg, (size_t)(hend - msg) + 1, "Subject") != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mq_tvar vars[] = {
		{ "user", "alice@example.org" },
		{ "percent", "85" },
		{ "evil", "x\r\nBcc: victim@example.net\n" },
		{ "name", "J\xc3\xbcrgen \xe2\x82\xac" },
		{ "long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	};
	struct mq_template *t;
	struct mq_mail m;
	char error[256], *msg;
	size_t len, i;

	if (mq_template_parse((const char *)data, size, "fuzz", &t, error,
	    sizeof(error)) < 0) {
		if (error[0] == '\0')
			abort();
		return 0;
	}
	for (i = 0; i < t->nheaders; i++) {
		char *v = mq_template_expand(t->headers[i].value, vars,
		    sizeof(vars) / sizeof(vars[0]), true);

		if (strchr(v, '\n') != NULL || strchr(v, '\r') != NULL)
			abort();
		free(v);
	}
	if (mq_compose_check(t, error, sizeof(error)) == 0) {
		memset(&m, 0, sizeof(m));
		m.from = "postmaster@example.org";
		m.to = "alice@example.org";
		m.date = "Thu, 21 Nov 2024 01:02:03 +0000";
		m.message_id = "abc.123@example.org";
		m.tmpl = t;
		m.vars = vars;
		m.nvars = sizeof(vars) / sizeof(vars[0]);
		if (mq_compose(&m, &msg, &len, error, sizeof(error)) == 0) {
			char *data8, *smtp;
			size_t l8, ls;

			if (len != strlen(msg))
				abort();
			check_message(msg, len);
			/* the SMTP forms of it */
			data8 = mq_message_to_qp(msg, len, &l8);
			if (data8 != NULL) {
				check_message(data8, l8);
				free(data8);
			}
			smtp = mq_smtp_data(msg, len, &ls);
			if (ls < 5 || memcmp(smtp + ls - 5, "\r\n.\r\n", 5) != 0)
				abort();
			free(smtp);
			free(msg);
		}
	}
	mq_template_free(&t);
	return 0;
}
