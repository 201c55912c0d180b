/* SPDX-License-Identifier: MIT */
/*
 * check_warn_template - the warning template: header/body split, comments,
 * continuation lines, ${variable} expansion (unknown names stay, header
 * values cannot start a new header), variant file names, the shipped
 * default template.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "warn/template.h"

static const struct mq_tvar vars[] = {
	{ "user", "alice@example.org" },
	{ "percent", "85" },
	{ "empty", "" },
	{ "evil", "x\r\nBcc: victim@example.net\tend" },
	{ "dollar", "${user}" },
};

struct expand_row {
	const char *name;
	const char *in;
	bool header;
	const char *want;
};

static const struct expand_row expand_rows[] = {
	{ "plain text", "no variables here", false, "no variables here" },
	{ "one", "to ${user}.", false, "to alice@example.org." },
	{ "two adjacent", "${percent}${percent}", false, "8585" },
	{ "at both ends", "${user} is ${percent}", false, "alice@example.org is 85" },
	{ "empty value", "[${empty}]", false, "[]" },
	{ "unknown stays", "${nosuch} and ${user}", false, "${nosuch} and alice@example.org" },
	{ "unterminated stays", "100 ${percent", false, "100 ${percent" },
	{ "bare dollar", "costs $5 and ${", false, "costs $5 and ${" },
	{ "case matters", "${USER}", false, "${USER}" },
	{ "no recursion", "${dollar}", false, "${user}" },
	{ "nested braces", "${${user}}", false, "${alice@example.org}" },
	{ "body keeps newlines", "a ${evil}", false, "a x\r\nBcc: victim@example.net\tend" },
	{ "header flattens controls", "a ${evil}", true, "a x  Bcc: victim@example.net end" },
	{ "header keeps template text", "Re: ${percent}%", true, "Re: 85%" },
	{ "empty input", "", false, "" },
};

START_TEST(test_expand)
{
	const struct expand_row *r = &expand_rows[_i];
	char *out = mq_template_expand(r->in, vars, MQ_NELEM(vars), r->header);

	ck_assert_msg(strcmp(out, r->want) == 0, "%s: got \"%s\"", r->name, out);
	free(out);
}
END_TEST

START_TEST(test_parse_basic)
{
	static const char text[] =
	    "# a comment\n"
	    "Subject: Mailbox ${percent} % full\n"
	    "X-Folded: first\n"
	    "\tsecond   \n"
	    "Reply-To: help@example.org\n"
	    "\n"
	    "Body line 1\r\n"
	    "\n"
	    "# not a comment in the body\n"
	    "last";
	struct mq_template *t;
	char error[256];

	ck_assert_int_eq(mq_template_parse(text, strlen(text), "t", &t, error, sizeof(error)), 0);
	ck_assert_uint_eq(t->nheaders, 3);
	ck_assert_str_eq(t->headers[0].name, "Subject");
	ck_assert_str_eq(t->headers[0].value, "Mailbox ${percent} % full");
	ck_assert_str_eq(t->headers[1].value, "first\tsecond");
	ck_assert_str_eq(mq_template_header(t, "reply-to"), "help@example.org");
	ck_assert_ptr_null(mq_template_header(t, "From"));
	ck_assert_str_eq(t->body, "Body line 1\n\n# not a comment in the body\nlast");
	mq_template_free(&t);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_parse_no_headers)
{
	struct mq_template *t;
	char error[256];

	/* An empty first line: no headers, all body. */
	ck_assert_int_eq(mq_template_parse("\nJust a body\n", 13, NULL, &t, error,
	    sizeof(error)), 0);
	ck_assert_uint_eq(t->nheaders, 0);
	ck_assert_str_eq(t->body, "Just a body\n");
	mq_template_free(&t);
	/* Headers only, no empty line: empty body. */
	ck_assert_int_eq(mq_template_parse("Subject: x\n", 11, NULL, &t, error,
	    sizeof(error)), 0);
	ck_assert_uint_eq(t->nheaders, 1);
	ck_assert_str_eq(t->body, "");
	mq_template_free(&t);
	/* A byte order mark and CRLF line ends. */
	ck_assert_int_eq(mq_template_parse("\xef\xbb\xbfSubject: y\r\n\r\nb\r\n", 20,
	    NULL, &t, error, sizeof(error)), 0);
	ck_assert_str_eq(t->headers[0].name, "Subject");
	ck_assert_str_eq(t->headers[0].value, "y");
	ck_assert_str_eq(t->body, "b\n");
	mq_template_free(&t);
}
END_TEST

struct bad_row {
	const char *text;
	const char *why;	/* a piece of the message */
};

static const struct bad_row bad_rows[] = {
	{ "Hello there,\n\nbody\n", "line 1" },
	{ "Subject: ok\nnot a header\n\nbody", "line 2" },
	{ " continued\nSubject: x\n\n", "continuation" },
	{ "Sub ject: x\n\n", "line 1" },
	{ ": no name\n\n", "line 1" },
	{ "Subject: a\rb\n\n", "carriage return" },
};

START_TEST(test_parse_bad)
{
	struct mq_template *t = (struct mq_template *)1;
	char error[256] = "";

	ck_assert_int_eq(mq_template_parse(bad_rows[_i].text, strlen(bad_rows[_i].text),
	    "t", &t, error, sizeof(error)), -1);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(error, bad_rows[_i].why) != NULL, "row %d: \"%s\"", _i, error);
}
END_TEST

START_TEST(test_parse_nul)
{
	struct mq_template *t;
	char error[256];

	ck_assert_int_eq(mq_template_parse("Subject: a\n\nb\0c", 15, NULL, &t, error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "NUL"));
}
END_TEST

struct variant_row {
	const char *main;
	const char *suffix;
	const char *want;
};

static const struct variant_row variant_rows[] = {
	{ "/etc/mailquota/warning.txt", "100", "/etc/mailquota/warning-100.txt" },
	{ "/etc/mailquota/warning.txt", "below", "/etc/mailquota/warning-below.txt" },
	{ "/etc/mail.d/quota", "95", "/etc/mail.d/quota-95" },
	{ "/etc/x/.hidden", "80", "/etc/x/.hidden-80" },
	{ "warning.tmpl.txt", "80", "warning.tmpl-80.txt" },
	{ "plain", "80", "plain-80" },
};

START_TEST(test_variant)
{
	char *p = mq_template_variant(variant_rows[_i].main, variant_rows[_i].suffix);

	ck_assert_str_eq(p, variant_rows[_i].want);
	free(p);
}
END_TEST

START_TEST(test_load_default)
{
	struct mq_template *t;
	char error[256];
	const char *subject;
	char *body;

	ck_assert_int_eq(mq_template_load(SRCDIR "/conf/warning.txt", &t, error,
	    sizeof(error)), 1);
	subject = mq_template_header(t, "Subject");
	ck_assert_ptr_nonnull(subject);
	ck_assert_ptr_nonnull(strstr(subject, "${percent}"));
	ck_assert_uint_eq(t->nheaders, 1);	/* the comments are not headers */
	body = mq_template_expand(t->body, vars, MQ_NELEM(vars), false);
	ck_assert_ptr_nonnull(strstr(body, "alice@example.org"));
	ck_assert_ptr_nonnull(strstr(body, "Trash"));
	ck_assert_ptr_nonnull(strstr(body, "attachments"));
	ck_assert_ptr_null(strstr(body, "${user}"));
	free(body);
	mq_template_free(&t);

	ck_assert_int_eq(mq_template_load(SRCDIR "/conf/warning-below.txt", &t, error,
	    sizeof(error)), 1);
	ck_assert_ptr_nonnull(mq_template_header(t, "Subject"));
	mq_template_free(&t);

	ck_assert_int_eq(mq_template_load(SRCDIR "/conf/no-such-template.txt", &t, error,
	    sizeof(error)), 0);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(mq_template_load(SRCDIR "/conf", &t, error, sizeof(error)), -1);
}
END_TEST

static Suite *
template_suite(void)
{
	Suite *s = suite_create("warn_template");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_expand, 0, (int)MQ_NELEM(expand_rows));
	tcase_add_test(tc, test_parse_basic);
	tcase_add_test(tc, test_parse_no_headers);
	tcase_add_loop_test(tc, test_parse_bad, 0, (int)MQ_NELEM(bad_rows));
	tcase_add_test(tc, test_parse_nul);
	tcase_add_loop_test(tc, test_variant, 0, (int)MQ_NELEM(variant_rows));
	tcase_add_test(tc, test_load_default);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(template_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
