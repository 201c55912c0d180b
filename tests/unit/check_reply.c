/* SPDX-License-Identifier: MIT */
/*
 * check_reply - reply strings: which ones the loader accepts and why the
 * others are refused, and %{variable} expansion including an unlimited
 * quota, truncation and figures near UINT64_MAX.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq.h"
#include "reply.h"

struct vcase {
	const char *reply;
	const char *why;	/* NULL: accepted; else part of the reason */
};

static const struct vcase vcases[] = {
	/* the defaults */
	{ "DUNNO", NULL },
	{ "550 5.2.1 Mailbox disabled", NULL },
	{ "552 5.2.2 Mailbox is full", NULL },
	{ "451 4.3.0 Temporary lookup failure", NULL },
	{ "550 5.1.1 User unknown", NULL },
	{ "552 5.2.3 Message larger than the mailbox quota", NULL },
	{ "452 4.2.2 Mailbox is full, try again later", NULL },
	{ "552 5.2.2 %{user} is full (%{used} of %{limit}, %{percent}%)", NULL },
	{ "550 5.7.1\ttab separated", NULL },
	{ "559 5.999.999 three-digit subject and detail", NULL },
	/* action words, any case, with and without text */
	{ "dunno", NULL },
	{ "REJECT", NULL },
	{ "reject Mailbox is full", NULL },
	{ "DEFER", NULL },
	{ "DEFER try later", NULL },
	{ "DEFER_IF_PERMIT Service unavailable", NULL },
	{ "defer_if_reject", NULL },
	{ "HOLD", NULL },
	{ "DISCARD", NULL },
	{ "WARN over quota", NULL },
	{ "PREPEND X-Quota: over", NULL },
	{ "FILTER smtp:[127.0.0.1]:10025", NULL },
	{ "REDIRECT postmaster@example.org", NULL },

	/* OK skips the rest of smtpd_recipient_restrictions */
	{ "OK", "remaining" },
	{ "ok", "DUNNO" },
	{ "OK fine", "remaining" },
	/* numeric replies */
	{ "552", "enhanced status code" },
	{ "552 ", "blank" },
	{ "552 Mailbox is full", "enhanced status code" },
	{ "552 5.2.2", "text" },
	{ "552 5.2.2   ", "blank" },
	{ "552 4.2.2 Mailbox is full", "class" },
	{ "452 5.2.2 Mailbox is full", "class" },
	{ "250 2.0.0 Ok", "4xx" },
	{ "354 3.0.0 go", "4xx" },
	{ "55 5.2.2 x", "three digits" },
	{ "5522 5.2.2 x", "three digits" },
	{ "552-5.2.2 x", "three digits" },
	{ "562 5.2.2 x", "second digit" },
	{ "552 5.2 x", "RFC 3463" },
	{ "552 5..2 x", "RFC 3463" },
	{ "552 5.2222.2 x", "RFC 3463" },
	{ "552 5.2.2222 x", "RFC 3463" },
	{ "552 52.2.2 x", "RFC 3463" },
	{ "552 5.2.2x text", "RFC 3463" },
	/* action words */
	{ "DUNNO please", "no text" },
	{ "WARN", "text" },
	{ "PREPEND nothing", "header" },
	{ "PREPEND : empty", "header" },
	{ "FILTER nothing", "transport" },
	{ "REDIRECT nobody", "address" },
	{ "ACCEPT", "unknown action" },
	{ "PERMIT", "unknown action" },
	{ "BOUNCE me", "unknown action" },
	/* shape */
	{ "", "empty" },
	{ " DUNNO", "blank" },
	{ "DUNNO ", "blank" },
	{ "552 5.2.2 a\r\nX: y", "line break" },
	{ "552 5.2.2 a\nb", "line break" },
	{ "552 5.2.2 a\x01", "control" },
};

START_TEST(test_validate)
{
	const struct vcase *v = &vcases[_i];
	const char *why = NULL;
	int rc = mq_reply_validate(v->reply, &why);

	if (v->why == NULL) {
		ck_assert_msg(rc == 0, "\"%s\" refused: %s", v->reply, why);
	} else {
		ck_assert_msg(rc == -1, "\"%s\" accepted", v->reply);
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, v->why) != NULL,
		    "\"%s\": \"%s\" lacks \"%s\"", v->reply, why, v->why);
	}
}
END_TEST

/* The length limit is MQ_REPLY_MAX, inclusive. */
START_TEST(test_validate_length)
{
	char buf[MQ_REPLY_MAX + 2];
	const char *why;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "552 5.2.2 ", 10);
	buf[MQ_REPLY_MAX] = '\0';
	ck_assert_int_eq(mq_reply_validate(buf, &why), 0);
	buf[MQ_REPLY_MAX] = 'x';
	buf[MQ_REPLY_MAX + 1] = '\0';
	ck_assert_int_eq(mq_reply_validate(buf, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "500"));
	ck_assert_int_eq(mq_reply_validate(NULL, &why), -1);
}
END_TEST

struct ecase {
	const char *tmpl;
	const char *user;
	uint64_t limit, used;
	const char *out;
};

#define GiB (UINT64_C(1) << 30)

static const struct ecase ecases[] = {
	{ "552 5.2.2 Mailbox is full", "a@b", 100, 100,
	  "552 5.2.2 Mailbox is full" },
	{ "552 5.2.2 %{user} is full", "anna@example.org", 1, 1,
	  "552 5.2.2 anna@example.org is full" },
	{ "%{percent}%", "u", 1000, 999, "99%" },
	{ "%{percent}%", "u", 1000, 1000, "100%" },
	{ "%{percent}%", "u", 1000, 1001, "100%" },
	{ "%{percent}%", "u", 1000, 1010, "101%" },
	{ "%{percent}%", "u", 3, 1, "33%" },
	{ "%{percent}%", "u", 1000, 0, "0%" },
	/* unlimited: no percentage, and the limit says so */
	{ "%{percent} %{limit}", "u", 0, 12345, "0 unlimited" },
	{ "%{used} of %{limit}", "u", 2 * GiB, GiB + GiB / 2,
	  "1.5 GiB of 2.0 GiB" },
	{ "%{used}", "u", 1, 1023, "1023 B" },
	{ "%{used}", "u", 1, 1024, "1.0 KiB" },
	/* near UINT64_MAX: exact, no overflow */
	{ "%{percent}", "u", UINT64_MAX, UINT64_MAX, "100" },
	{ "%{percent}", "u", UINT64_MAX, UINT64_MAX - 1, "99" },
	{ "%{percent}", "u", UINT64_MAX, UINT64_MAX / 2, "49" },
	{ "%{percent}", "u", UINT64_MAX / 2 + 1, UINT64_MAX, "199" },
	{ "%{percent}", "u", UINT64_MAX - 1, UINT64_MAX, "100" },
	{ "%{percent}", "u", 100, UINT64_MAX, "18446744073709551615" },
	{ "%{percent}", "u", 1, UINT64_MAX, "18446744073709551615" },
	{ "%{limit}", "u", UINT64_MAX, 0, "16.0 EiB" },
	/* unknown variables and stray percent signs stay */
	{ "%{nope} %{user %} 100%", "u", 1, 1, "%{nope} %{user %} 100%" },
	{ "%{user}%{user}", "x", 1, 1, "xx" },
	/* a user name cannot break the answer line */
	{ "550 5.1.1 %{user}", "a\r\nb\x01", 1, 1, "550 5.1.1 a??b?" },
	{ "550 5.1.1 <%{user}>", NULL, 1, 1, "550 5.1.1 <>" },
};

START_TEST(test_expand)
{
	const struct ecase *e = &ecases[_i];
	struct mq_reply_vars vars = { e->user, e->limit, e->used };
	char out[MQ_REPLY_MAX + 1];
	size_t n;

	n = mq_reply_expand(out, sizeof(out), e->tmpl, &vars);
	ck_assert_str_eq(out, e->out);
	ck_assert_uint_eq(n, strlen(e->out));
}
END_TEST

/* Output is cut at size - 1 and always terminated. */
START_TEST(test_expand_truncates)
{
	struct mq_reply_vars vars = { "anna@example.org", 100, 50 };
	char out[12];
	size_t n;

	memset(out, '#', sizeof(out));
	n = mq_reply_expand(out, sizeof(out), "552 5.2.2 %{user}", &vars);
	ck_assert_uint_eq(n, sizeof(out) - 1);
	ck_assert_str_eq(out, "552 5.2.2 a");

	n = mq_reply_expand(out, 1, "DUNNO", &vars);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(out, "");

	out[0] = '#';
	n = mq_reply_expand(out, 0, "DUNNO", &vars);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(out[0], '#');
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc = tcase_create("reply");

	tcase_add_loop_test(tc, test_validate, 0,
	    sizeof(vcases) / sizeof(vcases[0]));
	tcase_add_test(tc, test_validate_length);
	tcase_add_loop_test(tc, test_expand, 0,
	    sizeof(ecases) / sizeof(ecases[0]));
	tcase_add_test(tc, test_expand_truncates);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
