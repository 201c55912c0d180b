/* SPDX-License-Identifier: MIT */
/*
 * check_warn_compose - the warning mail: addresses, the Date format, header
 * folding and RFC 2047 encoding (decoded back and measured), the transfer
 * encoding choice, quoted-printable, no header injection through
 * variables, and SMTP dot-stuffing.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "warn/compose.h"

/* ---- helpers ---- */

static int
b64val(char c)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(t, c);

	return c != '\0' && p != NULL ? (int)(p - t) : -1;
}

/* decode_b64 - append the decoded text of n base64 characters to out. */
static void
decode_b64(const char *s, size_t n, char *out, size_t *olen)
{
	ck_assert_uint_eq(n % 4, 0);
	for (size_t i = 0; i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]);
		int c = s[i + 2] == '=' ? 0 : b64val(s[i + 2]);
		int d = s[i + 3] == '=' ? 0 : b64val(s[i + 3]);
		unsigned v;

		ck_assert(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		v = (unsigned)(a << 18 | b << 12 | c << 6 | d);
		out[(*olen)++] = (char)(v >> 16);
		if (s[i + 2] != '=')
			out[(*olen)++] = (char)(v >> 8 & 255);
		if (s[i + 3] != '=')
			out[(*olen)++] = (char)(v & 255);
	}
	out[*olen] = '\0';
}

/*
 * unfold_decode - the value of the header "Name: ..." at the start of
 * header (which may go on with more headers), unfolded, its encoded-words
 * decoded. Checks every line's length, that each encoded-word is at most
 * 75 characters and holds whole UTF-8 characters.
 */
static void
unfold_decode(const char *header, const char *name, size_t maxline, char *out)
{
	char raw[4096];
	size_t rlen = 0, olen = 0, nlen = strlen(name);
	const char *p;
	bool prev_ew = false;

	ck_assert_msg(strncmp(header, name, nlen) == 0 && header[nlen] == ':', "%s", header);
	p = header;
	for (;;) {
		const char *nl = strchr(p, '\n');

		ck_assert_ptr_nonnull(nl);	/* every line ends with LF */
		ck_assert_msg((size_t)(nl - p) <= maxline, "line of %zu: %s",
		    (size_t)(nl - p), header);
		memcpy(raw + rlen, p, (size_t)(nl - p));
		rlen += (size_t)(nl - p);
		p = nl + 1;
		if (*p != ' ' && *p != '\t')
			break;
	}
	raw[rlen] = '\0';
	out[0] = '\0';
	for (char *tok = strtok(raw + nlen + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
		size_t tlen = strlen(tok);
		bool ew = tlen >= 12 && strncmp(tok, "=?UTF-8?B?", 10) == 0 &&
		    strcmp(tok + tlen - 2, "?=") == 0;

		if (olen > 0 && !(ew && prev_ew))
			out[olen++] = ' ';
		if (ew) {
			size_t before = olen;

			ck_assert_uint_le(tlen, 75);
			decode_b64(tok + 10, tlen - 12, out, &olen);
			/* a whole number of characters: no continuation byte first */
			ck_assert(olen == before || ((unsigned char)out[before] & 0xc0) != 0x80);
		} else {
			memcpy(out + olen, tok, tlen);
			olen += tlen;
		}
		out[olen] = '\0';
		prev_ew = ew;
	}
}

/* header_line - the (folded) header name in msg, or NULL. */
static const char *
find_header(const char *msg, const char *name)
{
	size_t n = strlen(name);
	const char *end = strstr(msg, "\n\n");

	for (const char *p = msg; p != NULL && p < end; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			return p;
	}
	return NULL;
}

/* ---- addresses and dates ---- */

struct addr_row {
	const char *addr;
	bool ok;
};

static const struct addr_row addr_rows[] = {
	{ "alice@example.org", true },
	{ "first.last+tag@mail.example.org", true },
	{ "o'brien@example.org", true },
	{ "x@y", true },
	{ "", false },
	{ "noat", false },
	{ "@example.org", false },
	{ "alice@", false },
	{ ".alice@example.org", false },
	{ "alice.@example.org", false },
	{ "al..ice@example.org", false },
	{ "al ice@example.org", false },
	{ "alice@exa mple.org", false },
	{ "alice@example..org", false },
	{ "alice@example.org.", false },
	{ "alice@[192.0.2.1]", false },
	{ "\"quoted\"@example.org", false },
	{ "alice@example.org\r\nBcc: x@y", false },
	{ "alice<x>@example.org", false },
	{ "b\xc3\xa4r@example.org", false },
	{ "a@b@example.org", false },
};

START_TEST(test_address)
{
	ck_assert_msg(mq_address_ok(addr_rows[_i].addr) == addr_rows[_i].ok, "%s",
	    addr_rows[_i].addr);
}
END_TEST

START_TEST(test_date)
{
	struct tm tm = { .tm_year = 124, .tm_mon = 10, .tm_mday = 21, .tm_wday = 4,
	    .tm_hour = 1, .tm_min = 2, .tm_sec = 3 };
	char buf[64];

	mq_format_date(buf, sizeof(buf), &tm, 3600);
	ck_assert_str_eq(buf, "Thu, 21 Nov 2024 01:02:03 +0100");
	mq_format_date(buf, sizeof(buf), &tm, -(5 * 3600 + 30 * 60));
	ck_assert_str_eq(buf, "Thu, 21 Nov 2024 01:02:03 -0530");
	tm.tm_mday = 1;
	tm.tm_mon = 0;
	tm.tm_wday = 0;
	mq_format_date(buf, sizeof(buf), &tm, 0);
	ck_assert_str_eq(buf, "Sun, 1 Jan 2024 01:02:03 +0000");
}
END_TEST

/* ---- header encoding ---- */

struct hdr_row {
	const char *name;
	const char *value;
	bool encoded;		/* expect encoded-words */
	const char *want;	/* the unfolded, decoded value */
};

#define LONG_ASCII "Your mailbox alice@example.org is now 97 % full, please " \
	"delete old mail, empty the Trash folder and save large attachments " \
	"elsewhere before it fills up completely"
#define LONG_UTF8 "Ihr Postfach ist zu 97 % voll: bitte l\xc3\xb6schen Sie alte " \
	"Nachrichten, leeren Sie den Papierkorb und speichern Sie gro\xc3\x9f" \
	"e Anh\xc3\xa4nge \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e " \
	"\xf0\x9f\x93\xac\xf0\x9f\x93\xac\xf0\x9f\x93\xac\xf0\x9f\x93\xac"

static const struct hdr_row hdr_rows[] = {
	{ "Subject", "Mailbox 85 % full", false, "Mailbox 85 % full" },
	{ "Subject", "", false, "" },
	{ "Subject", "  blanks   inside\tand around  ", false, "blanks inside and around" },
	{ "Subject", LONG_ASCII, false, LONG_ASCII },
	{ "Subject", "Postfach zu 85 % gef\xc3\xbcllt", true, "Postfach zu 85 % gef\xc3\xbcllt" },
	{ "Subject", LONG_UTF8, true, LONG_UTF8 },
	{ "Subject", "looks like =?UTF-8?B?eA==?= a word", true,
	    "looks like =?UTF-8?B?eA==?= a word" },
	{ "Subject", "injected\r\nBcc: victim@example.net", false,
	    "injected Bcc: victim@example.net" },
	{ "Subject", "bad \xff\xfe utf8 \xc3", false, "bad ?? utf8 ?" },
	{ "X-A-Rather-Long-Header-Name-For-Testing-The-First-Line-Room",
	    "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9", true,
	    "\xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9 \xc3\xa9t\xc3\xa9" },
};

START_TEST(test_header_encode)
{
	const struct hdr_row *r = &hdr_rows[_i];
	char *h = mq_header_encode(r->name, r->value), out[2048];

	ck_assert_msg((strstr(h, "=?UTF-8?B?") != NULL) == r->encoded, "row %d: %s", _i, h);
	/* no raw 8-bit byte and no bare CR in any header */
	for (const char *p = h; *p != '\0'; p++) {
		ck_assert_msg((unsigned char)*p < 0x80, "row %d: 8-bit byte in %s", _i, h);
		ck_assert(*p != '\r');
	}
	unfold_decode(h, r->name, r->encoded ? 76 : 78, out);
	ck_assert_msg(strcmp(out, r->want) == 0, "row %d: got \"%s\"", _i, out);
	free(h);
}
END_TEST

START_TEST(test_header_long_word)
{
	char word[1200], *h, out[2048];

	/* one word longer than a line may be: only encoded-words can split it */
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	h = mq_header_encode("Subject", word);
	ck_assert_ptr_nonnull(strstr(h, "=?UTF-8?B?"));
	unfold_decode(h, "Subject", 76, out);
	ck_assert_str_eq(out, word);
	free(h);
}
END_TEST

/* ---- quoted-printable ---- */

struct qp_row {
	const char *in;
	const char *want;
};

static const struct qp_row qp_rows[] = {
	{ "plain text\n", "plain text\n" },
	{ "a=b\n", "a=3Db\n" },
	{ "trailing blank \n", "trailing blank=20\n" },
	{ "trailing tab\t\n", "trailing tab=09\n" },
	{ "mid blank ok\n", "mid blank ok\n" },
	{ "gr\xc3\xbc\xc3\x9f\n", "gr=C3=BC=C3=9F\n" },
	{ "no final newline ", "no final newline=20" },
	{ "\n\n", "\n\n" },
};

START_TEST(test_qp)
{
	size_t len;
	char *q = mq_qp_encode(qp_rows[_i].in, strlen(qp_rows[_i].in), &len);

	ck_assert_str_eq(q, qp_rows[_i].want);
	ck_assert_uint_eq(len, strlen(q));
	free(q);
}
END_TEST

/* qp_decode - RFC 2045 quoted-printable back to bytes (test helper). */
static size_t
qp_decode(const char *q, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (q[i] == '=' && i + 1 < len && q[i + 1] == '\n') {
			i++;		/* soft line break */
		} else if (q[i] == '=') {
			char hex[3] = { q[i + 1], q[i + 2], '\0' };

			out[n++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[n++] = q[i];
		}
	}
	out[n] = '\0';
	return n;
}

START_TEST(test_qp_long_line)
{
	char in[3002], back[3100], *q;
	size_t len, col = 0;

	for (size_t i = 0; i < sizeof(in) - 2; i++)
		in[i] = i % 7 == 0 ? '=' : i % 11 == 0 ? ' ' : (char)('a' + i % 26);
	in[sizeof(in) - 2] = '\n';
	in[sizeof(in) - 1] = '\0';
	q = mq_qp_encode(in, strlen(in), &len);
	for (size_t i = 0; i < len; i++) {
		if (q[i] == '\n') {
			ck_assert_msg(col <= 76, "encoded line of %zu", col);
			col = 0;
			continue;
		}
		col++;
	}
	ck_assert_uint_eq(qp_decode(q, len, back), strlen(in));
	ck_assert_str_eq(back, in);
	free(q);
}
END_TEST

/* ---- the whole message ---- */

static const struct mq_tvar vars[] = {
	{ "user", "alice@example.org" },
	{ "percent", "85" },
	{ "evil", "x\r\nBcc: victim@example.net" },
};

static char *
compose(const char *tmpl_text, const char *to, int *r, char *error, size_t errlen)
{
	struct mq_template *t;
	struct mq_mail m = { .from = "postmaster@example.org", .to = to,
	    .date = "Thu, 21 Nov 2024 01:02:03 +0000",
	    .message_id = "abc.123@example.org", .vars = vars, .nvars = MQ_NELEM(vars) };
	char *msg = NULL;
	size_t len;

	ck_assert_int_eq(mq_template_parse(tmpl_text, strlen(tmpl_text), "t", &t, error,
	    errlen), 0);
	m.tmpl = t;
	*r = mq_compose(&m, &msg, &len, error, errlen);
	if (*r == 0)
		ck_assert_uint_eq(len, strlen(msg));
	mq_template_free(&t);
	return msg;
}

START_TEST(test_compose_headers)
{
	char error[256], *msg;
	int r;
	const char *body;

	msg = compose("Subject: Mailbox ${percent} % full ${evil}\n"
	    "X-Note: for ${user}\n\nHello ${user},\n.\n..dots\n", "alice@example.org",
	    &r, error, sizeof(error));
	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(find_header(msg, "From"));
	ck_assert(strncmp(find_header(msg, "From"), "From: postmaster@example.org\n", 29) == 0);
	ck_assert(strncmp(find_header(msg, "To"), "To: alice@example.org\n", 22) == 0);
	ck_assert(strncmp(find_header(msg, "Date"), "Date: Thu, 21 Nov 2024 01:02:03 +0000\n", 38) == 0);
	ck_assert(strncmp(find_header(msg, "Message-ID"), "Message-ID: <abc.123@example.org>\n", 34) == 0);
	ck_assert(strncmp(find_header(msg, "Auto-Submitted"), "Auto-Submitted: auto-generated\n", 31) == 0);
	ck_assert(strncmp(find_header(msg, "MIME-Version"), "MIME-Version: 1.0\n", 18) == 0);
	ck_assert(strncmp(find_header(msg, "Content-Type"),
	    "Content-Type: text/plain; charset=UTF-8\n", 40) == 0);
	ck_assert(strncmp(find_header(msg, "Content-Transfer-Encoding"),
	    "Content-Transfer-Encoding: 7bit\n", 32) == 0);
	ck_assert(strncmp(find_header(msg, "X-Note"), "X-Note: for alice@example.org\n", 30) == 0);
	/* the variable's CRLF did not make a header of its own */
	ck_assert_ptr_null(find_header(msg, "Bcc"));
	ck_assert_ptr_nonnull(strstr(msg, "Subject: Mailbox 85 % full x Bcc: victim@example.net\n"));
	body = strstr(msg, "\n\n");
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(body + 2, "Hello alice@example.org,\n.\n..dots\n");
	free(msg);
}
END_TEST

START_TEST(test_compose_default_subject)
{
	char error[256], *msg;
	int r;

	msg = compose("\nbody only", "alice@example.org", &r, error, sizeof(error));
	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(strstr(msg, "Subject: Your mailbox is 85 % full\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\n\nbody only\n"));	/* a final newline added */
	free(msg);
}
END_TEST

START_TEST(test_compose_8bit_and_utf8_subject)
{
	char error[256], *msg, out[512];
	int r;

	msg = compose("Subject: Postfach zu ${percent} % gef\xc3\xbcllt\n\nGr\xc3\xbc\xc3\x9f"
	    "e\n", "alice@example.org", &r, error, sizeof(error));
	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(strstr(msg, "Content-Transfer-Encoding: 8bit\n"));
	unfold_decode(find_header(msg, "Subject"), "Subject", 76, out);
	ck_assert_str_eq(out, "Postfach zu 85 % gef\xc3\xbcllt");
	ck_assert_ptr_nonnull(strstr(msg, "\n\nGr\xc3\xbc\xc3\x9f" "e\n"));
	ck_assert(mq_message_is_8bit(msg, strlen(msg)));
	free(msg);
}
END_TEST

START_TEST(test_compose_long_line_qp)
{
	char tmpl[1200], error[256], *msg, *qp;
	const char *body, *p;
	size_t len, qlen;
	int r;

	/* a body line of 1100 octets cannot go as 7bit/8bit */
	strcpy(tmpl, "Subject: x\n\n");
	len = strlen(tmpl);
	memset(tmpl + len, 'y', 1100);
	strcpy(tmpl + len + 1100, "\n");
	msg = compose(tmpl, "alice@example.org", &r, error, sizeof(error));
	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(strstr(msg, "Content-Transfer-Encoding: quoted-printable\n"));
	body = strstr(msg, "\n\n") + 2;
	for (p = msg; *p != '\0'; ) {
		size_t l = strcspn(p, "\n");

		ck_assert_uint_le(l, MQ_LINE_MAX);
		p += l + (p[l] == '\n');
	}
	ck_assert_uint_gt(strlen(body), 1100);
	ck_assert(!mq_message_is_8bit(msg, strlen(msg)));
	ck_assert_ptr_null(mq_message_to_qp(msg, strlen(msg), &qlen));
	free(msg);

	/* an 8bit message turned into quoted-printable for a 7-bit server */
	msg = compose("Subject: x\n\nGr\xc3\xbc\xc3\x9f" "e =\n", "alice@example.org", &r,
	    error, sizeof(error));
	qp = mq_message_to_qp(msg, strlen(msg), &qlen);
	ck_assert_ptr_nonnull(qp);
	ck_assert_ptr_nonnull(strstr(qp, "Content-Transfer-Encoding: quoted-printable\n"));
	ck_assert_ptr_null(strstr(qp, "8bit"));
	ck_assert_ptr_nonnull(strstr(qp, "\n\nGr=C3=BC=C3=9Fe =3D\n"));
	for (size_t i = 0; i < qlen; i++)
		ck_assert((unsigned char)qp[i] < 0x80);
	free(qp);
	free(msg);
}
END_TEST

START_TEST(test_compose_bad)
{
	char error[256], *msg;
	int r;

	msg = compose("Subject: x\n\nb\n", "alice@example.org\r\nBcc: x@example.net", &r,
	    error, sizeof(error));
	ck_assert_int_eq(r, -1);
	ck_assert_ptr_null(msg);
	ck_assert_ptr_nonnull(strstr(error, "recipient"));
}
END_TEST

struct check_row {
	const char *tmpl;
	bool ok;
};

static const struct check_row check_rows[] = {
	{ "Subject: x\nReply-To: help@example.org\nX-Anything: y\n\n", true },
	{ "Subject: x\nFrom: boss@example.org\n\n", false },
	{ "Subject: x\nto: alice@example.org\n\n", false },
	{ "Subject: x\nContent-Type: text/html\n\n", false },
	{ "Subject: x\nBcc: a@example.org\n\n", false },
	{ "Subject: x\nAuto-Submitted: no\n\n", false },
	{ "Subject: x\nSubject: y\n\n", false },
	{ "\nno headers at all", true },
};

START_TEST(test_compose_check)
{
	struct mq_template *t;
	char error[256];

	ck_assert_int_eq(mq_template_parse(check_rows[_i].tmpl, strlen(check_rows[_i].tmpl),
	    "t", &t, error, sizeof(error)), 0);
	ck_assert_int_eq(mq_compose_check(t, error, sizeof(error)), check_rows[_i].ok ? 0 : -1);
	mq_template_free(&t);
}
END_TEST

/* ---- SMTP DATA ---- */

struct dot_row {
	const char *in;
	const char *want;
};

static const struct dot_row dot_rows[] = {
	{ "a\nb\n", "a\r\nb\r\n.\r\n" },
	{ ".\n", "..\r\n.\r\n" },
	{ ".hidden\nmid.dle\n", "..hidden\r\nmid.dle\r\n.\r\n" },
	{ "..\n", "...\r\n.\r\n" },
	{ "x\n.\ny\n", "x\r\n..\r\ny\r\n.\r\n" },
	{ "no final newline", "no final newline\r\n.\r\n" },
	{ "last .", "last .\r\n.\r\n" },
	{ ".", "..\r\n.\r\n" },
	{ "already\r\ncrlf\r\n", "already\r\ncrlf\r\n.\r\n" },
	{ "\n\n", "\r\n\r\n.\r\n" },
	{ "", ".\r\n" },
};

START_TEST(test_dotstuff)
{
	size_t len;
	char *d = mq_smtp_data(dot_rows[_i].in, strlen(dot_rows[_i].in), &len);

	ck_assert_str_eq(d, dot_rows[_i].want);
	ck_assert_uint_eq(len, strlen(dot_rows[_i].want));
	free(d);
}
END_TEST

static Suite *
compose_suite(void)
{
	Suite *s = suite_create("warn_compose");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_address, 0, (int)MQ_NELEM(addr_rows));
	tcase_add_test(tc, test_date);
	tcase_add_loop_test(tc, test_header_encode, 0, (int)MQ_NELEM(hdr_rows));
	tcase_add_test(tc, test_header_long_word);
	tcase_add_loop_test(tc, test_qp, 0, (int)MQ_NELEM(qp_rows));
	tcase_add_test(tc, test_qp_long_line);
	tcase_add_test(tc, test_compose_headers);
	tcase_add_test(tc, test_compose_default_subject);
	tcase_add_test(tc, test_compose_8bit_and_utf8_subject);
	tcase_add_test(tc, test_compose_long_line_qp);
	tcase_add_test(tc, test_compose_bad);
	tcase_add_loop_test(tc, test_compose_check, 0, (int)MQ_NELEM(check_rows));
	tcase_add_loop_test(tc, test_dotstuff, 0, (int)MQ_NELEM(dot_rows));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(compose_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
