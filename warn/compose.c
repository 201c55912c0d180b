/* SPDX-License-Identifier: MIT */
/*
 * compose - build a warning mail: headers with RFC 2047 and folding, a MIME
 * text/plain UTF-8 body with a transfer encoding that keeps lines short,
 * and the SMTP DATA form (see compose.h).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "compose.h"
#include "util.h"

#define FOLD_AT 78		/* RFC 5322 2.1.1: SHOULD */
#define EW_LINE 76		/* RFC 2047 2: lines with encoded-words */
#define EW_OVERHEAD 12		/* "=?UTF-8?B?" + "?=" */
#define QP_LINE 76		/* RFC 2045 6.7 (5) */

/* Headers the composer writes itself; a template may not set them. */
static const char *const reserved[] = {
	"From", "To", "Cc", "Bcc", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"Auto-Submitted", "Return-Path", "Received", "Sender", NULL
};

static const char default_subject[] = "Your mailbox is ${percent} % full";

static bool
is_reserved(const char *name)
{
	for (size_t i = 0; reserved[i] != NULL; i++)
		if (strcasecmp(reserved[i], name) == 0)
			return true;
	return false;
}

int
mq_compose_check(const struct mq_template *t, char *error, size_t errlen)
{
	unsigned subjects = 0;

	for (size_t i = 0; i < t->nheaders; i++) {
		if (is_reserved(t->headers[i].name)) {
			snprintf(error, errlen, "header %s is set by mailquota-warn "
			    "itself and cannot be given in a template",
			    t->headers[i].name);
			return -1;
		}
		if (strcasecmp(t->headers[i].name, "Subject") == 0 && ++subjects > 1) {
			snprintf(error, errlen, "more than one Subject header");
			return -1;
		}
	}
	return 0;
}

static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool
mq_address_ok(const char *addr)
{
	const char *at = strrchr(addr, '@'), *p;
	size_t llen, dlen;

	if (at == NULL || strlen(addr) > 320)
		return false;
	llen = (size_t)(at - addr);
	dlen = strlen(at + 1);
	if (llen == 0 || llen > 64 || dlen == 0 || dlen > 255)
		return false;
	/* dot-atom: atoms of atext joined by single dots */
	for (p = addr; p < at; p++) {
		if (*p == '.') {
			if (p == addr || p + 1 == at || p[1] == '.')
				return false;
		} else if (!is_atext((unsigned char)*p)) {
			return false;
		}
	}
	/* domain: letters, digits, '-' in dot-separated labels */
	for (p = at + 1; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.') {
			if (p == at + 1 || p[1] == '.' || p[1] == '\0')
				return false;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	return true;
}

void
mq_format_date(char *buf, size_t size, const struct tm *tm, long gmtoff)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	long off = gmtoff < 0 ? -gmtoff : gmtoff;

	snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm->tm_wday % 7], tm->tm_mday, months[tm->tm_mon % 12],
	    tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec,
	    gmtoff < 0 ? '-' : '+', (off / 3600) % 100, (off / 60) % 60);
}

/* utf8_len - length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t need, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* no overlong forms, surrogates or code points past U+10FFFF */
	if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* utf8_clean - valid UTF-8 copied, each invalid byte replaced by '?'. */
static void
utf8_clean(struct mq_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_len(p + i, len - i);

		if (n == 0) {
			mq_buf_addc(out, '?');
			i++;
		} else {
			mq_buf_add(out, p + i, n);
			i += n;
		}
	}
}

/* normalise_value - valid UTF-8, controls as spaces, blank runs as one, trimmed. */
static char *
normalise_value(const char *value)
{
	struct mq_buf clean = { 0 }, out = { 0 };
	bool blank = false;

	utf8_clean(&clean, value, strlen(value));
	for (const char *p = clean.s != NULL ? clean.s : ""; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			blank = true;
			continue;
		}
		if (blank && out.len > 0)
			mq_buf_addc(&out, ' ');
		blank = false;
		mq_buf_addc(&out, (char)c);
	}
	mq_buf_free(&clean);
	return mq_buf_steal(&out, NULL);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
base64(struct mq_buf *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		mq_buf_addc(out, b64[(v >> 18) & 63]);
		mq_buf_addc(out, b64[(v >> 12) & 63]);
		mq_buf_addc(out, i + 1 < n ? b64[(v >> 6) & 63] : '=');
		mq_buf_addc(out, i + 2 < n ? b64[v & 63] : '=');
	}
}

/* encode_words - value as encoded-words, whole characters in each, lines <= 76. */
static void
encode_words(struct mq_buf *out, size_t col, const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t len = strlen(value), i = 0;

	while (i < len) {
		/* raw bytes that fit: 4 characters of base64 per 3 bytes */
		size_t room = EW_LINE > col + 1 + EW_OVERHEAD ?
		    (EW_LINE - col - 1 - EW_OVERHEAD) / 4 * 3 : 0;
		size_t n = 0;

		if (room < 4 && col > 1) {
			mq_buf_addc(out, '\n');
			col = 0;
			continue;
		}
		if (room < 4)
			room = 4;	/* cannot happen on a continuation line */
		while (i + n < len) {
			size_t c = utf8_len(p + i + n, len - i - n);

			if (c == 0)
				c = 1;	/* already cleaned; be safe */
			if (n + c > room)
				break;
			n += c;
		}
		mq_buf_adds(out, " =?UTF-8?B?");
		base64(out, p + i, n);
		mq_buf_adds(out, "?=");
		i += n;
		col = 0;	/* the next word goes on a continuation line */
		if (i < len)
			mq_buf_addc(out, '\n');
	}
	mq_buf_addc(out, '\n');
}

char *
mq_header_encode(const char *name, const char *value)
{
	struct mq_buf out = { 0 };
	char *v = normalise_value(value);
	size_t col, nlen = strlen(name);
	bool encode = strstr(v, "=?") != NULL;

	for (const char *p = v; *p != '\0' && !encode; p++)
		if ((unsigned char)*p >= 0x80)
			encode = true;
	/* a word too long for any line can only be split as encoded-words */
	for (const char *p = v; *p != '\0' && !encode; ) {
		size_t w = strcspn(p, " ");

		if (w + 1 > MQ_LINE_MAX - nlen - 2)
			encode = true;
		p += w;
		p += strspn(p, " ");
	}
	mq_buf_add(&out, name, nlen);
	mq_buf_addc(&out, ':');
	col = nlen + 1;
	if (*v == '\0') {
		mq_buf_addc(&out, '\n');
	} else if (encode) {
		encode_words(&out, col, v);
	} else {
		for (const char *p = v; *p != '\0'; ) {
			size_t w = strcspn(p, " ");

			if (col > nlen + 1 && col + 1 + w > FOLD_AT) {
				mq_buf_addc(&out, '\n');
				col = 0;
			}
			mq_buf_addc(&out, ' ');
			mq_buf_add(&out, p, w);
			col += 1 + w;
			p += w;
			p += strspn(p, " ");
		}
		mq_buf_addc(&out, '\n');
	}
	free(v);
	return mq_buf_steal(&out, NULL);
}

static void
qp_token(struct mq_buf *out, size_t *col, const char *tok, size_t n)
{
	if (*col + n > QP_LINE - 1) {
		mq_buf_adds(out, "=\n");
		*col = 0;
	}
	mq_buf_add(out, tok, n);
	*col += n;
}

char *
mq_qp_encode(const char *text, size_t len, size_t *len_r)
{
	static const char hex[] = "0123456789ABCDEF";
	struct mq_buf out = { 0 };
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - text) : len, col = 0;

		for (size_t j = i; j < end; j++) {
			unsigned char c = (unsigned char)text[j];
			bool last = j + 1 == end;
			char enc[3] = { '=', hex[c >> 4], hex[c & 15] };

			if ((c >= 33 && c <= 126 && c != '=') ||
			    ((c == ' ' || c == '\t') && !last))
				qp_token(&out, &col, (const char *)&text[j], 1);
			else
				qp_token(&out, &col, enc, 3);
		}
		if (nl != NULL)
			mq_buf_addc(&out, '\n');
		i = end + 1;
	}
	return mq_buf_steal(&out, len_r);
}

/* body_text - the expanded body: LF line ends, valid UTF-8, a final LF. */
static void
body_text(struct mq_buf *out, const char *expanded)
{
	struct mq_buf lf = { 0 };

	for (const char *p = expanded; *p != '\0'; p++) {
		if (*p == '\r') {
			mq_buf_addc(&lf, '\n');
			if (p[1] == '\n')
				p++;
		} else {
			mq_buf_addc(&lf, *p);
		}
	}
	if (lf.len > 0)
		utf8_clean(out, lf.s, lf.len);
	if (out->len > 0 && out->s[out->len - 1] != '\n')
		mq_buf_addc(out, '\n');
	mq_buf_free(&lf);
}

/* add_raw - a structured header written as is (addresses, dates, ids). */
static void
add_raw(struct mq_buf *msg, const char *name, const char *value)
{
	mq_buf_printf(msg, "%s: %s\n", name, value);
}

static void
add_header(struct mq_buf *msg, const char *name, const char *value)
{
	char *h = mq_header_encode(name, value);

	mq_buf_adds(msg, h);
	free(h);
}

int
mq_compose(const struct mq_mail *m, char **msg_r, size_t *len_r,
    char *error, size_t errlen)
{
	struct mq_buf msg = { 0 }, body = { 0 };
	const char *subject = mq_template_header(m->tmpl, "Subject");
	const char *cte = "7bit";
	size_t longest = 0, run = 0;
	bool eight = false;
	char *s, *mid;

	if (!mq_address_ok(m->from)) {
		snprintf(error, errlen, "sender address is not a plain user@domain");
		return -1;
	}
	if (!mq_address_ok(m->to)) {
		snprintf(error, errlen, "recipient address is not a plain user@domain");
		return -1;
	}
	if (m->message_id[0] == '\0' || strchr(m->message_id, '@') == NULL ||
	    strpbrk(m->message_id, "<> \t\r\n") != NULL) {
		snprintf(error, errlen, "bad Message-ID");
		return -1;
	}
	s = mq_template_expand(m->tmpl->body, m->vars, m->nvars, false);
	body_text(&body, s);
	free(s);
	for (size_t i = 0; i < body.len; i++) {
		if ((unsigned char)body.s[i] >= 0x80)
			eight = true;
		run = body.s[i] == '\n' ? 0 : run + 1;
		if (run > longest)
			longest = run;
	}
	if (longest > MQ_LINE_MAX) {
		size_t qlen;
		char *q = mq_qp_encode(body.s, body.len, &qlen);

		mq_buf_free(&body);
		body.s = q;
		body.len = body.cap = qlen;
		cte = "quoted-printable";
	} else if (eight) {
		cte = "8bit";
	}

	add_raw(&msg, "From", m->from);
	add_raw(&msg, "To", m->to);
	s = mq_template_expand(subject != NULL ? subject : default_subject,
	    m->vars, m->nvars, true);
	add_header(&msg, "Subject", s);
	free(s);
	add_header(&msg, "Date", m->date);
	mid = xasprintf("<%s>", m->message_id);
	add_raw(&msg, "Message-ID", mid);
	free(mid);
	add_raw(&msg, "Auto-Submitted", "auto-generated");
	add_raw(&msg, "MIME-Version", "1.0");
	add_raw(&msg, "Content-Type", "text/plain; charset=UTF-8");
	add_raw(&msg, "Content-Transfer-Encoding", cte);
	for (size_t i = 0; i < m->tmpl->nheaders; i++) {
		const struct mq_template_header *h = &m->tmpl->headers[i];

		if (strcasecmp(h->name, "Subject") == 0 || is_reserved(h->name))
			continue;
		s = mq_template_expand(h->value, m->vars, m->nvars, true);
		add_header(&msg, h->name, s);
		free(s);
	}
	mq_buf_addc(&msg, '\n');
	if (body.len > 0)
		mq_buf_add(&msg, body.s, body.len);
	mq_buf_free(&body);
	*msg_r = mq_buf_steal(&msg, len_r);
	return 0;
}

/* header_end - offset of the empty line that ends the headers (len when none). */
static size_t
header_end(const char *msg, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (msg[i] == '\n' && msg[i + 1] == '\n')
			return i + 1;
	return len;
}

/* cte_line - the Content-Transfer-Encoding line in the headers, or NULL. */
static const char *
cte_line(const char *msg, size_t hlen)
{
	static const char name[] = "Content-Transfer-Encoding:";

	for (size_t i = 0; i < hlen; ) {
		const char *nl = memchr(msg + i, '\n', hlen - i);
		size_t end = nl != NULL ? (size_t)(nl - msg) : hlen;

		if (end - i >= sizeof(name) - 1 &&
		    strncasecmp(msg + i, name, sizeof(name) - 1) == 0)
			return msg + i;
		i = end + 1;
	}
	return NULL;
}

bool
mq_message_is_8bit(const char *msg, size_t len)
{
	size_t hlen = header_end(msg, len);
	const char *l = cte_line(msg, hlen), *v;

	if (l == NULL)
		return false;
	v = l + strlen("Content-Transfer-Encoding:");
	while (v < msg + hlen && (*v == ' ' || *v == '\t'))
		v++;
	return (size_t)(msg + hlen - v) >= 4 && strncasecmp(v, "8bit", 4) == 0;
}

char *
mq_message_to_qp(const char *msg, size_t len, size_t *len_r)
{
	struct mq_buf out = { 0 };
	size_t hlen = header_end(msg, len), qlen;
	const char *l, *eol;
	char *q;

	if (!mq_message_is_8bit(msg, len))
		return NULL;
	l = cte_line(msg, hlen);
	eol = memchr(l, '\n', (size_t)(msg + hlen - l));
	mq_buf_add(&out, msg, (size_t)(l - msg));
	mq_buf_adds(&out, "Content-Transfer-Encoding: quoted-printable");
	mq_buf_add(&out, eol, (size_t)(msg + hlen - eol));
	if (hlen < len) {
		mq_buf_addc(&out, '\n');
		q = mq_qp_encode(msg + hlen + 1, len - hlen - 1, &qlen);
		mq_buf_add(&out, q, qlen);
		free(q);
	}
	return mq_buf_steal(&out, len_r);
}

char *
mq_smtp_data(const char *msg, size_t len, size_t *len_r)
{
	struct mq_buf out = { 0 };
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - msg) : len;
		size_t n = end - i;

		if (n > 0 && msg[end - 1] == '\r')
			n--;	/* already CRLF */
		if (n > 0 && msg[i] == '.')
			mq_buf_addc(&out, '.');
		mq_buf_add(&out, msg + i, n);
		mq_buf_add(&out, "\r\n", 2);
		i = end + 1;
	}
	mq_buf_add(&out, ".\r\n", 3);
	return mq_buf_steal(&out, len_r);
}
