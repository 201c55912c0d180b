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
	{ "a@b@", STRLEN, -1, NULL, NULL },
	/* Quoted local parts stay plain text; a quoted blank is still a blank. */
	{ "\"John\"@x.org", STRLEN, 0, "\"john\"", "x.org" },
	{ "\"john doe\"@x.org", STRLEN, -1, NULL, NULL },
	/* Empty parts. */
	{ "", STRLEN, -1, NULL, NULL },
	{ "@", STRLEN, -1, NULL, NULL },
	{ "user@", STRLEN, -1, NULL, NULL },
	{ "@example.org", STRLEN, -1, NULL, NULL },
	{ "userexample.org", STRLEN, -1, NULL, NULL },
	/* SQL and path characters are just characters of an address. */
	{ "o'brien@x.org", STRLEN, 0, "o'brien", "x.org" },
	{ "x';--@x.org", STRLEN, 0, "x';--", "x.org" },
	{ "a..b@x.org", STRLEN, 0, "a..b", "x.org" },
	{ "../../etc/passwd@x.org", STRLEN, 0, "../../etc/passwd", "x.org" },
	{ "a/b@x.org", STRLEN, 0, "a/b", "x.org" },
	{ "user@../x", STRLEN, 0, "user", "../x" },
	{ "a%b@x.org", STRLEN, 0, "a%b", "x.org" },
	{ "%s@%d", STRLEN, 0, "%s", "%d" },
	/* Control characters, blanks and NUL. */
	{ "a b@x.org", STRLEN, -1, NULL, NULL },
	{ "a\tb@x.org", STRLEN, -1, NULL, NULL },
	{ "ab@x.org\r", STRLEN, -1, NULL, NULL },
	{ "ab@x.org\n", STRLEN, -1, NULL, NULL },
	{ "a\x7f@x.org", STRLEN, -1, NULL, NULL },
	{ "a\x01@x.org", STRLEN, -1, NULL, NULL },
	{ " a@x.org", STRLEN, -1, NULL, NULL },
	{ "a\0b@x.org", 9, -1, NULL, NULL },
	{ "a@x.org\0", 8, -1, NULL, NULL },
	{ "<a@x.org\0>", 10, -1, NULL, NULL },
	/* len shorter than the string: only len bytes count. */
	{ "user@example.orgJUNK", 16, 0, "user", "example.org" },
	{ "User@Example.org>", 16, 0, "user", "example.org" },
	/* Bytes >= 0x80 (SMTPUTF8) pass; only ASCII is lower-cased. */
	{ "\xc3\x9cSER@X.ORG", STRLEN, 0, "\xc3\x9cser", "x.org" },
};

START_TEST(test_parse)
{
	const struct parse_row *row = &parse_rows[_i];
	size_t len = row->len == STRLEN ? strlen(row->in) : row->len;
	struct mq_address a;
	char full[2 * MQ_ADDRESS_MAX + 2];
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

/* make_address - "lll...@ddd..." of exactly len bytes. */
static char *
make_address(size_t len)
{
	char *s = xmalloc(len + 1);
	size_t llen = 64;

	memset(s, 'a', llen);
	s[llen] = '@';
	memset(s + llen + 1, 'D', len - llen - 1);
	s[len] = '\0';
	return s;
}

START_TEST(test_parse_length)
{
	struct mq_address a;
	char *s, *bracketed;

	s = make_address(MQ_ADDRESS_MAX);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), 0);
	ck_assert_uint_eq(strlen(a.full), MQ_ADDRESS_MAX);
	ck_assert_uint_eq(strlen(a.domain), MQ_ADDRESS_MAX - 65);
	ck_assert(a.domain[0] == 'd');		/* lower-cased */

	/* The brackets do not count against the limit. */
	bracketed = xasprintf("<%s>", s);
	ck_assert_int_eq(mq_address_parse(bracketed, strlen(bracketed), &a), 0);
	ck_assert_uint_eq(strlen(a.full), MQ_ADDRESS_MAX);
	free(bracketed);
	free(s);

	s = make_address(MQ_ADDRESS_MAX + 1);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), -1);
	bracketed = xasprintf("<%s>", s);
	ck_assert_int_eq(mq_address_parse(bracketed, strlen(bracketed), &a), -1);
	free(bracketed);
	free(s);

	s = make_address(4096);
	ck_assert_int_eq(mq_address_parse(s, strlen(s), &a), -1);
	free(s);

	ck_assert_int_eq(mq_address_parse(NULL, 0, &a), -1);
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

	/* Refused: empty, blank, '@', control, NULL, too long. */
	ck_assert_int_eq(mq_address_with_domain(&a, "", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "a b", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "x@y", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, "x\ny", &b), -1);
	ck_assert_int_eq(mq_address_with_domain(&a, NULL, &b), -1);
	big = xmalloc(MQ_ADDRESS_MAX + 1);
	/* "info@" + 315 = 320 fits; one more does not. */
	memset(big, 'x', MQ_ADDRESS_MAX - 5);
	big[MQ_ADDRESS_MAX - 5] = '\0';
	ck_assert_int_eq(mq_address_with_domain(&a, big, &b), 0);
	ck_assert_uint_eq(strlen(b.full), MQ_ADDRESS_MAX);
	big[MQ_ADDRESS_MAX - 5] = 'x';
	big[MQ_ADDRESS_MAX - 4] = '\0';
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

static Suite *
address_suite(void)
{
	Suite *s = suite_create("address");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse, 0, (int)MQ_NELEM(parse_rows));
	tcase_add_test(tc, test_parse_length);
	tcase_add_loop_test(tc, test_strip_ext, 0, (int)MQ_NELEM(strip_rows));
	tcase_add_test(tc, test_with_domain);
	tcase_add_test(tc, test_key);
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
