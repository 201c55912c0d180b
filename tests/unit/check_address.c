/* SPDX-License-Identifier: MIT */
/*
 * check_address - recipient parsing, extension stripping, alias-domain
 * rewriting and the sqltmpl key.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "util.h"

#define STRLEN ((size_t)-1)	/* row length: strlen of the input */

struct parse_row {
	const char *in;
	size_t len;
	int rc;
	const char *local, *domain;	/* when rc == 0 */
};

static const struct parse_row parse_rows[] = {
	{ "user@example.org", STRLEN, 0, "user", "example.org" },
	{ "User@Example.ORG", STRLEN, 0, "user", "example.org" },
	{ "MiXeD.CaSe+TaG@EXAMPLE.org", STRLEN, 0, "mixed.case+tag", "example.org" },
	{ "<User@Example.org>", STRLEN, 0, "user", "example.org" },
	{ "<a@b>", STRLEN, 0, "a", "b" },
	{ "<>", STRLEN, -1, NULL, NULL },		/* the null sender */
	{ "<a@b", STRLEN, -1, NULL, NULL },
	{ "a@b>", STRLEN, -1, NULL, NULL },
	{ "<", STRLEN, -1, NULL, NULL },
	{ ">", STRLEN, -1, NULL, NULL },
	/* Split at the last '@'. */
	{ "a@b@c.org", STRLEN, 0, "a@b", "c.org" },
	{ "\"a@b\"@c.org", STRLEN, 0, "\"a@b\"", "c.org" },
	{ "a@@c.org", STRLEN, 0, "a@", "c.org" },
	{ "a@b@", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	/*
	 * Postfix passes a quoted local part unquoted ("john doe"@x as
	 * john doe@x): a blank or a special in the local part is a character
	 * like any other. Quotes, should they come, stay plain text.
	 */
	{ "\"John\"@x.org", STRLEN, 0, "\"john\"", "x.org" },
	{ "\"john doe\"@x.org", STRLEN, 0, "\"john doe\"", "x.org" },
	{ "John Doe@x.org", STRLEN, 0, "john doe", "x.org" },
	{ "a\"b@x.org", STRLEN, 0, "a\"b", "x.org" },
	{ "()<>[]:;@\\,.@x.org", STRLEN, 0, "()<>[]:;@\\,.", "x.org" },
	{ "!#$%&'*+-/=?^_`{|}~@x.org", STRLEN, 0, "!#$%&'*+-/=?^_`{|}~", "x.org" },
	{ " a@x.org", STRLEN, 0, " a", "x.org" },
	{ "a@x .org", STRLEN, MQ_ADDR_INVALID, NULL, NULL },
	{ "a@ x.org", STRLEN, MQ_ADDR_INVALID, NULL, NULL },
	/* No domain: Postfix's bare postmaster, MAILER-DAEMON. */
	{ "postmaster", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	{ "MAILER-DAEMON", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	/* trivial-rewrite(8) drops one trailing dot, not ".." or "@.". */
	{ "u@Example.org.", STRLEN, 0, "u", "example.org" },
	{ "u@example.org..", STRLEN, 0, "u", "example.org.." },
	{ "u@.", STRLEN, 0, "u", "." },
	/* An address literal is a domain like any other (never hosted). */
	{ "a b@[127.0.0.1]", STRLEN, 0, "a b", "[127.0.0.1]" },
	/* Empty parts. */
	{ "", STRLEN, -1, NULL, NULL },
	{ "@", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	{ "user@", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	{ "@example.org", STRLEN, -1, NULL, NULL },
	{ "userexample.org", STRLEN, MQ_ADDR_NODOMAIN, NULL, NULL },
	/* SQL and path characters are just characters of an address. */
	{ "o'brien@x.org", STRLEN, 0, "o'brien", "x.org" },
	{ "x';--@x.org", STRLEN, 0, "x';--", "x.org" },
	{ "a..b@x.org", STRLEN, 0, "a..b", "x.org" },
	{ "../../etc/passwd@x.org", STRLEN, 0, "../../etc/passwd", "x.org" },
	{ "a/b@x.org", STRLEN, 0, "a/b", "x.org" },
	{ "user@../x", STRLEN, 0, "user", "../x" },
	{ "a%b@x.org", STRLEN, 0, "a%b", "x.org" },
	{ "%s@%d", STRLEN, 0, "%s", "%d" },
	/* Control characters and NUL (Postfix turns a quoted tab into a blank). */
	{ "a b@x.org", STRLEN, 0, "a b", "x.org" },
	{ "a\tb@x.org", STRLEN, -1, NULL, NULL },
	{ "ab@x.org\r", STRLEN, -1, NULL, NULL },
	{ "ab@x.org\n", STRLEN, -1, NULL, NULL },
	{ "a\x7f@x.org", STRLEN, -1, NULL, NULL },
	{ "a\x01@x.org", STRLEN, -1, NULL, NULL },
	{ "a\0b@x.org", 9, -1, NULL, NULL },
	{ "a@x.org\0", 8, -1, NULL, NULL },
	{ "<a@x.org\0>", 10, -1, NULL, NULL },
	/* len shorter than the string: only len bytes count. */
	{ "user@example.orgJUNK", 16, 0, "user", "example.org" },
	{ "User@Example.org>", 16, 0, "user", "example.org" },
	/* Bytes >= 0x80 (SMTPUTF8) pass; only ASCII is lower-cased. */
	{ "\xc3\x9cSER@X.ORG", STRLEN, 0, "\xc3\x9cser", "x.org" },
	{ "b\xf3" "b@x.org", STRLEN, 0, "b\xf3" "b", "x.org" },	/* Latin-1, smtputf8_enable = no */
	{ "x@B\xc3\xbc" "CHER.example", STRLEN, 0, "x", "b\xc3\xbc" "cher.example" },
};

START_TEST(test_parse)
{
	const struct parse_row *row = &parse_rows[_i];
	size_t len = row->len == STRLEN ? strlen(row->in) : row->len;
	struct mq_address a;
	char full[MQ_ADDRESS_MAX + MQ_DOMAIN_MAX + 2];
	int rc;

	memset(&a, 0x55, sizeof(a));
	rc = mq_address_parse(row->in, len, &a);
	ck_assert_msg(rc == row->rc, "row %d: rc %d, want %d", _i, rc, row->rc);
	if (rc != 0)
		return;
	ck_assert_str_eq(a.local, row->local);
	ck_assert_str_eq(a.domain, row->domain);
	snprintf(full, sizeof(full), "%s@%s", row->local, row->domain);
	ck_assert_str_eq(a.full, full);
}
END_TEST

/* make_address - "aaa...@example.org" of exactly len bytes. */
static char *
make_address(size_t len)
{
	static const char dom[] = "@Example.org";
	char *s = xmalloc(len + 1);
	size_t llen = len - (sizeof(dom) - 1);

	memset(s, 'A', llen);
	memcpy(s + llen, dom, sizeof(dom));
	return s;
}

START_TEST(test_parse_length)
{
	struct mq_address a;
	char *s, *bracketed, dom[MQ_DOMAIN_MAX + 8];

	/* Postfix passes up to 2038 bytes with line_length_limit = 2048. */
	s = make_address(MQ_ADDRESS_MAX);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), 0);
	ck_assert_uint_eq(strlen(a.full), MQ_ADDRESS_MAX);
	ck_assert_uint_eq(strlen(a.local), MQ_ADDRESS_MAX - 12);
	ck_assert(a.local[0] == 'a');		/* lower-cased */
	ck_assert_str_eq(a.domain, "example.org");

	/* The brackets do not count against the limit. */
	bracketed = xasprintf("<%s>", s);
	ck_assert_int_eq(mq_address_parse(bracketed, strlen(bracketed), &a), 0);
	ck_assert_uint_eq(strlen(a.full), MQ_ADDRESS_MAX);
	free(bracketed);
	free(s);

	/* One byte more is refused as too long, never cut. */
	s = make_address(MQ_ADDRESS_MAX + 1);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), MQ_ADDR_TOOLONG);
	bracketed = xasprintf("<%s>", s);
	ck_assert_int_eq(mq_address_parse(bracketed, strlen(bracketed), &a),
	    MQ_ADDR_TOOLONG);
	free(bracketed);
	free(s);

	s = make_address(8192);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), MQ_ADDR_TOOLONG);
	free(s);

	/* A 1000-byte local part is an address like any other. */
	s = make_address(1000 + 12);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), 0);
	ck_assert_uint_eq(strlen(a.local), 1000);
	free(s);

	/* The domain: 255 bytes, not 256 (a trailing dot does not count). */
	memset(dom, 'd', MQ_DOMAIN_MAX);
	memcpy(dom + MQ_DOMAIN_MAX, ".", 2);
	s = xasprintf("u@%s", dom);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), 0);
	ck_assert_uint_eq(strlen(a.domain), MQ_DOMAIN_MAX);
	free(s);
	dom[MQ_DOMAIN_MAX] = 'd';
	s = xasprintf("u@%s", dom);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), MQ_ADDR_DOMAINLONG);
	free(s);

	ck_assert_int_eq(mq_address_parse(NULL, 0, &a), -1);
}
END_TEST

START_TEST(test_error_text)
{
	ck_assert_str_eq(mq_address_error(MQ_ADDR_NODOMAIN), "no domain");
	ck_assert_str_eq(mq_address_error(MQ_ADDR_TOOLONG), "address longer than 2048 bytes");
	ck_assert_str_eq(mq_address_error(MQ_ADDR_DOMAINLONG), "domain longer than 255 bytes");
	ck_assert_str_eq(mq_address_error(MQ_ADDR_INVALID), "not a valid address");
}
END_TEST

struct idn_row {
	const char *in;
	int rc;
	const char *want;
};

static const struct idn_row idn_rows[] = {
	{ "xn--bcher-kva.example", 1, "b\xc3\xbc" "cher.example" },
	{ "b\xc3\xbc" "cher.example", 1, "xn--bcher-kva.example" },
	/* UTS #46 maps case: what the parser leaves upper case (non-ASCII). */
	{ "b\xc3\x9c" "cher.example", 1, "xn--bcher-kva.example" },
	{ "mail.xn--bcher-kva.example", 1, "mail.b\xc3\xbc" "cher.example" },
	{ "xn--mnchen-3ya.xn--bcher-kva.example", 1,
	    "m\xc3\xbcnchen.b\xc3\xbc" "cher.example" },
	/* UTS #46 maps compatibility characters: U+01CA is "nj". */
	{ "\xc7\x8a" "g.example", 1, "njg.example" },
	/* an A-label beside a U-label: both end up A-labels */
	{ "xn--kve.\xd2\x9b" "iple.example", 1, "xn--kve.xn--iple-fke.example" },
	/* No other form. */
	/* an A-label that is not IDNA2008 beside a U-label (found by the fuzzer) */
	{ "xn--kve.xn--examp00000000000000000000000lccaccchcccbcn--zher-"
	    "e9xample.\xd2\x9b" "iple...a", 0, NULL },
	/* a UTF-8 label beside xn-- labels that decode to what is no domain (fuzzer) */
	{ "x.xn--e-prd.xn--e9xechccccccccccccxplccccxplccccn.\xd2\x98" "m...jg..."
	    "gecccrd.xn--e9xaplechccccccccccccxplccccxplcccceccccccccccccccca", 0, NULL },
	{ "example.org", 0, NULL },
	{ "xn--.example", 0, NULL },
	{ "xn--bcher-kva-.example", 0, NULL },
	{ "b\xf3" "b.example", 0, NULL },		/* Latin-1: not UTF-8 */
	{ "\xc3.example", 0, NULL },		/* a cut UTF-8 sequence */
	{ "", 0, NULL },
};

START_TEST(test_idn_alt)
{
	const struct idn_row *row = &idn_rows[_i];
	char out[MQ_DOMAIN_MAX + 1];
	int rc;

	memset(out, 0x55, sizeof(out));
	rc = mq_address_idn_alt(row->in, out, sizeof(out));
	ck_assert_msg(rc == row->rc, "row %d (%s): rc %d, want %d", _i, row->in,
	    rc, row->rc);
	if (rc == 1)
		ck_assert_str_eq(out, row->want);
	/* No room: no form, never a cut one. */
	if (row->rc == 1)
		ck_assert_int_eq(mq_address_idn_alt(row->in, out,
		    strlen(row->want)), 0);
}
END_TEST

struct strip_row {
	const char *in;
	const char *delimiters;
	int rc;
	const char *want;
};

static const struct strip_row strip_rows[] = {
	{ "user+tag@d.org", "+", 1, "user@d.org" },
	{ "user-tag@d.org", "+-", 1, "user@d.org" },
	{ "user+tag@d.org", "+-", 1, "user@d.org" },
	/* The first delimiter in the local part wins, whichever it is. */
	{ "user+a-b@d.org", "+-", 1, "user@d.org" },
	{ "user-a+b@d.org", "+-", 1, "user@d.org" },
	{ "user-a+b@d.org", "-+", 1, "user@d.org" },
	{ "us-er+a@d.org", "+", 1, "us-er@d.org" },
	{ "a+b+c@d.org", "+", 1, "a@d.org" },
	{ "user+@d.org", "+", 1, "user@d.org" },
	/* No delimiter present. */
	{ "user@d.org", "+-", 0, "user@d.org" },
	{ "user+tag@d.org", "-", 0, "user+tag@d.org" },
	/* The domain is never cut. */
	{ "user@d+x.org", "+", 0, "user@d+x.org" },
	/* An empty or missing set cuts nothing. */
	{ "user+tag@d.org", "", 0, "user+tag@d.org" },
	{ "user+tag@d.org", NULL, 0, "user+tag@d.org" },
	/* A local part that would become empty is not cut. */
	{ "+foo@d.org", "+", 0, "+foo@d.org" },
	{ "-+x@d.org", "+-", 0, "-+x@d.org" },
	{ "+@d.org", "+", 0, "+@d.org" },
};

START_TEST(test_strip_ext)
{
	const struct strip_row *row = &strip_rows[_i];
	struct mq_address in, out, same;
	int rc;

	ck_assert_int_eq(mq_address_parse(row->in, strlen(row->in), &in), 0);
	memset(&out, 0x55, sizeof(out));
	rc = mq_address_strip_ext(&in, row->delimiters, &out);
	ck_assert_msg(rc == row->rc, "row %d: rc %d, want %d", _i, rc, row->rc);
	ck_assert_str_eq(out.full, row->want);
	ck_assert_str_eq(out.domain, in.domain);
	ck_assert(strncmp(out.full, out.local, strlen(out.local)) == 0);
	ck_assert(out.full[strlen(out.local)] == '@');

	/* In place gives the same. */
	same = in;
	ck_assert_int_eq(mq_address_strip_ext(&same, row->delimiters, &same), row->rc);
	ck_assert_str_eq(same.full, row->want);
	ck_assert_str_eq(same.local, out.local);
}
END_TEST

START_TEST(test_with_domain)
{
	struct mq_address a, b;
	char *big;

	ck_assert_int_eq(mq_address_parse("info@alias.org", 14, &a), 0);
	ck_assert_int_eq(mq_address_with_domain(&a, "Target.ORG", &b), 0);
	ck_assert_str_eq(b.full, "info@target.org");
	ck_assert_str_eq(b.local, "info");
	ck_assert_str_eq(b.domain, "target.org");

	/* In place. */
	ck_assert_int_eq(mq_address_with_domain(&a, "t.org", &a), 0);
	ck_assert_str_eq(a.full, "info@t.org");
	ck_assert_str_eq(a.domain, "t.org");

	/* Refused: empty, blank, '@', control, NULL, over MQ_DOMAIN_MAX. */
	ck_assert_int_eq(mq_address_with_domain(&a, "", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "a b", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "x@y", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "x\ny", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, NULL, &b), -1);
	big = xmalloc(MQ_DOMAIN_MAX + 2);
	memset(big, 'x', MQ_DOMAIN_MAX);
	big[MQ_DOMAIN_MAX] = '\0';
	ck_assert_int_eq(mq_address_with_domain(&a, big, &b), 0);
	ck_assert_uint_eq(strlen(b.domain), MQ_DOMAIN_MAX);
	big[MQ_DOMAIN_MAX] = 'x';
	big[MQ_DOMAIN_MAX + 1] = '\0';
	ck_assert_int_eq(mq_address_with_domain(&a, big, &b), -1);
	free(big);
}
END_TEST

START_TEST(test_key)
{
	struct mq_address a;
	struct mq_key key;

	ck_assert_int_eq(mq_address_parse("<Joe+X@Ex.org>", 14, &a), 0);
	key = mq_address_key(&a);
	ck_assert_ptr_eq(key.address, a.full);
	ck_assert_ptr_eq(key.local, a.local);
	ck_assert_ptr_eq(key.domain, a.domain);
	ck_assert_str_eq(key.address, "joe+x@ex.org");
	ck_assert_str_eq(key.local, "joe+x");
	ck_assert_str_eq(key.domain, "ex.org");
}
END_TEST

/* A parsed address need not be parsed again: it parses as itself. */
START_TEST(test_reparses)
{
	const struct parse_row *row = &parse_rows[_i];
	size_t len = row->len == STRLEN ? strlen(row->in) : row->len;
	struct mq_address a, again;

	if (mq_address_parse(row->in, len, &a) != 0)
		return;
	if (!mq_address_reparses(&a))
		return;
	if (mq_address_parse(a.full, strlen(a.full), &again) != 0)
		return;
	ck_assert_str_eq(again.full, a.full);
	ck_assert_str_eq(again.local, a.local);
	ck_assert_str_eq(again.domain, a.domain);
}
END_TEST

/* What a second parse would change is reported. */
START_TEST(test_reparses_not)
{
	struct mq_address a, b;

	ck_assert_int_eq(mq_address_parse("<<x@y>>", 7, &a), 0);
	ck_assert_str_eq(a.full, "<x@y>");
	ck_assert(!mq_address_reparses(&a));
	ck_assert_int_eq(mq_address_parse("u@a", 3, &a), 0);
	ck_assert(mq_address_reparses(&a));
	ck_assert_int_eq(mq_address_with_domain(&a, "b.", &b), 0);
	ck_assert(!mq_address_reparses(&b));	/* the dot goes */
	ck_assert_int_eq(mq_address_with_domain(&a, "b..", &b), 0);
	ck_assert(mq_address_reparses(&b));	/* ".." stays */
	memcpy(a.full, "U@a", 4);
	memcpy(a.local, "U", 2);
	ck_assert(!mq_address_reparses(&a));	/* lower-cased */
}
END_TEST

static Suite *
address_suite(void)
{
	Suite *s = suite_create("address");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse, 0, (int)MQ_NELEM(parse_rows));
	tcase_add_test(tc, test_parse_length);
	tcase_add_test(tc, test_error_text);
	tcase_add_loop_test(tc, test_idn_alt, 0, (int)MQ_NELEM(idn_rows));
	tcase_add_loop_test(tc, test_strip_ext, 0, (int)MQ_NELEM(strip_rows));
	tcase_add_test(tc, test_with_domain);
	tcase_add_test(tc, test_key);
	tcase_add_loop_test(tc, test_reparses, 0, (int)MQ_NELEM(parse_rows));
	tcase_add_test(tc, test_reparses_not);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(address_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
