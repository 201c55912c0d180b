/* SPDX-License-Identifier: MIT */
/*
 * reply - check a configured reply string once at load time, and expand
 * its %{variables} for each request.
 *
 * mq_reply_validate() accepts what Postfix's smtpd does something sensible
 * with as a policy answer (access(5)):
 *   - an SMTP reply "4NN X.Y.Z text" or "5NN X.Y.Z text": the enhanced
 *     status code (RFC 3463) is required, and its class digit must equal
 *     the reply code's first digit; text is required. A bare "552" is
 *     refused: Postfix would turn it into a 451 temporary failure.
 *   - an action word, in any case: DUNNO; REJECT, DEFER, DEFER_IF_PERMIT,
 *     DEFER_IF_REJECT, HOLD, DISCARD with optional text; WARN text;
 *     PREPEND header: value; FILTER transport:destination; REDIRECT addr.
 *   - never OK: it would accept the mail and skip every later
 *     smtpd_recipient_restrictions entry (reject_unauth_destination too).
 * No control character other than tab (so no CR, LF or NUL), at most
 * MQ_REPLY_MAX characters.
 *
 * mq_reply_expand() replaces %{user}, %{percent}, %{limit} and %{used}
 * (%{limit} is "unlimited" for a limit of 0, and %{percent} is then 0);
 * any other text, unknown %{...} included, is copied as written. Control
 * characters in the user name become '?', so an expansion can never break
 * the one-line policy answer.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mq.h"
#include "reply.h"
#include "util.h"

/* How an action word may be followed by text. */
enum arg_rule { ARG_NONE, ARG_OPTIONAL, ARG_REQUIRED, ARG_HEADER, ARG_FILTER,
	ARG_ADDRESS };

static const struct {
	const char *word;
	enum arg_rule arg;
} actions[] = {
	{ "DUNNO", ARG_NONE },
	{ "REJECT", ARG_OPTIONAL },
	{ "DEFER", ARG_OPTIONAL },
	{ "DEFER_IF_PERMIT", ARG_OPTIONAL },
	{ "DEFER_IF_REJECT", ARG_OPTIONAL },
	{ "HOLD", ARG_OPTIONAL },
	{ "DISCARD", ARG_OPTIONAL },
	{ "WARN", ARG_REQUIRED },
	{ "PREPEND", ARG_HEADER },
	{ "FILTER", ARG_FILTER },
	{ "REDIRECT", ARG_ADDRESS },
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* digits - count 1..max decimal digits at s; 0 when there are none or too many. */
static size_t
digits(const char *s, size_t max)
{
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	return n > max ? 0 : n;
}

/* has_text - something other than blanks follows. */
static bool
has_text(const char *s)
{
	while (is_blank(*s))
		s++;
	return *s != '\0';
}

/* validate_numeric - "NNN X.Y.Z text". */
static int
validate_numeric(const char *reply, const char **why_r)
{
	const char *p = reply;
	size_t n;

	if (digits(p, 3) != 3 || (p[3] != '\0' && !is_blank(p[3]))) {
		*why_r = "a reply code has three digits followed by a blank";
		return -1;
	}
	if (p[0] != '4' && p[0] != '5') {
		*why_r = "only a 4xx (temporary) or 5xx (permanent) reply code "
		    "may be used; use DUNNO to accept";
		return -1;
	}
	if (p[1] > '5') {
		*why_r = "the reply code's second digit must be 0 to 5";
		return -1;
	}
	p += 3;
	while (is_blank(*p))
		p++;
	if (*p == '\0') {
		*why_r = "a reply code needs an enhanced status code and text "
		    "(e.g. \"552 5.2.2 Mailbox is full\"); Postfix turns a bare "
		    "code into 451";
		return -1;
	}
	/* RFC 3463: class "." subject "." detail */
	if (!is_digit(p[0]) || p[1] != '.' || (n = digits(p + 2, 3)) == 0 ||
	    p[2 + n] != '.') {
		*why_r = "the reply code must be followed by an RFC 3463 "
		    "enhanced status code such as 5.2.2";
		return -1;
	}
	{
		size_t m = digits(p + 3 + n, 3);

		if (m == 0 || (p[3 + n + m] != '\0' && !is_blank(p[3 + n + m]))) {
			*why_r = "the reply code must be followed by an RFC 3463 "
			    "enhanced status code such as 5.2.2";
			return -1;
		}
		if (p[0] != reply[0]) {
			*why_r = "the enhanced status code's class must match the "
			    "reply code (4xx with 4.X.Y, 5xx with 5.X.Y)";
			return -1;
		}
		p += 3 + n + m;
	}
	if (!has_text(p)) {
		*why_r = "a reply code needs text after the enhanced status code";
		return -1;
	}
	return 0;
}

/* validate_action - an access(5) action word and what follows it. */
static int
validate_action(const char *reply, const char **why_r)
{
	size_t wlen = 0, i;
	const char *arg;

	while (reply[wlen] != '\0' && !is_blank(reply[wlen]))
		wlen++;
	arg = reply + wlen;
	while (is_blank(*arg))
		arg++;

	if (wlen == 2 && strncasecmp(reply, "OK", 2) == 0) {
		*why_r = "OK would accept the mail and skip the remaining "
		    "smtpd_recipient_restrictions (reject_unauth_destination "
		    "too); use DUNNO to pass";
		return -1;
	}
	for (i = 0; i < MQ_NELEM(actions); i++) {
		if (strlen(actions[i].word) != wlen ||
		    strncasecmp(reply, actions[i].word, wlen) != 0)
			continue;
		switch (actions[i].arg) {
		case ARG_NONE:
			if (*arg != '\0') {
				*why_r = "DUNNO takes no text";
				return -1;
			}
			return 0;
		case ARG_OPTIONAL:
			return 0;
		case ARG_REQUIRED:
			if (*arg == '\0') {
				*why_r = "WARN needs text";
				return -1;
			}
			return 0;
		case ARG_HEADER: {
			size_t h = 0;

			while (arg[h] > ' ' && arg[h] < 0x7f && arg[h] != ':')
				h++;
			if (h == 0 || arg[h] != ':') {
				*why_r = "PREPEND needs a header: \"PREPEND Name: value\"";
				return -1;
			}
			return 0;
		}
		case ARG_FILTER:
			if (strchr(arg, ':') == NULL) {
				*why_r = "FILTER needs transport:destination";
				return -1;
			}
			return 0;
		case ARG_ADDRESS:
			if (strchr(arg, '@') == NULL) {
				*why_r = "REDIRECT needs an address (user@domain)";
				return -1;
			}
			return 0;
		}
	}
	*why_r = "unknown action: use DUNNO, REJECT, DEFER, DEFER_IF_PERMIT, "
	    "DEFER_IF_REJECT, HOLD, DISCARD, WARN, PREPEND, FILTER, REDIRECT "
	    "or a reply such as \"552 5.2.2 Mailbox is full\"";
	return -1;
}

int
mq_reply_validate(const char *reply, const char **why_r)
{
	size_t len, i;

	if (reply == NULL || reply[0] == '\0') {
		*why_r = "empty reply";
		return -1;
	}
	len = strlen(reply);
	if (len > MQ_REPLY_MAX) {
		*why_r = "longer than 500 characters";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)reply[i];

		if (c == '\r' || c == '\n') {
			*why_r = "contains a line break (CR or LF)";
			return -1;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why_r = "contains a control character";
			return -1;
		}
	}
	if (is_blank(reply[0]) || is_blank(reply[len - 1])) {
		*why_r = "starts or ends with a blank";
		return -1;
	}
	if (is_digit(reply[0]))
		return validate_numeric(reply, why_r);
	return validate_action(reply, why_r);
}

/* percent_of - used * 100 / limit rounded down, exactly, never overflowing. */
static uint64_t
percent_of(uint64_t used, uint64_t limit)
{
	uint64_t q, r, frac = 0, acc = 0;
	int i;

	if (limit == 0)
		return 0;
	q = used / limit;
	r = used % limit;
	/* frac = r * 100 / limit by repeated addition modulo limit (r < limit). */
	for (i = 0; i < 100; i++) {
		if (r >= limit - acc) {
			acc = r - (limit - acc);
			frac++;
		} else
			acc += r;
	}
	if (q > (UINT64_MAX - frac) / 100)
		return UINT64_MAX;
	return q * 100 + frac;
}

/* Output cursor that truncates at size - 1. */
struct outbuf {
	char *p;
	size_t size;
	size_t len;
};

static void
put(struct outbuf *o, const char *s, size_t n, bool sanitize)
{
	size_t i;

	for (i = 0; i < n && o->len + 1 < o->size; i++) {
		unsigned char c = (unsigned char)s[i];

		o->p[o->len++] = sanitize && (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
}

size_t
mq_reply_expand(char *out, size_t size, const char *tmpl,
    const struct mq_reply_vars *vars)
{
	struct outbuf o = { out, size, 0 };
	char num[64];

	if (size == 0)
		return 0;
	while (*tmpl != '\0') {
		const char *v = NULL;
		size_t skip = 0;
		bool sanitize = false;

		if (tmpl[0] == '%' && tmpl[1] == '{') {
			if (strncmp(tmpl, "%{user}", 7) == 0) {
				v = vars->user != NULL ? vars->user : "";
				sanitize = true;
				skip = 7;
			} else if (strncmp(tmpl, "%{percent}", 10) == 0) {
				snprintf(num, sizeof(num), "%llu", (unsigned long long)
				    percent_of(vars->used_bytes, vars->limit_bytes));
				v = num;
				skip = 10;
			} else if (strncmp(tmpl, "%{limit}", 8) == 0) {
				v = vars->limit_bytes == 0 ? "unlimited" :
				    mq_human_bytes(num, sizeof(num), vars->limit_bytes);
				skip = 8;
			} else if (strncmp(tmpl, "%{used}", 7) == 0) {
				v = mq_human_bytes(num, sizeof(num), vars->used_bytes);
				skip = 7;
			}
		}
		if (v != NULL) {
			put(&o, v, strlen(v), sanitize);
			tmpl += skip;
		} else {
			put(&o, tmpl, 1, false);
			tmpl++;
		}
	}
	out[o.len] = '\0';
	return o.len;
}
