/* SPDX-License-Identifier: MIT */
/*
 * check_decide - the quota arithmetic at its boundaries, grace, and how
 * the mailboxes of an alias combine.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "decide.h"
#include "util.h"

#define MAX UINT64_MAX
#define L 1000			/* the usual byte limit of a row */

/* Shorthands for a row's mailbox: enabled, limit, messages limit, used, used messages. */
#define BOX(lim, used) { true, (lim), 0, (used), 0 }
#define MBOX(mlim, mused) { true, 0, (mlim), 0, (mused) }
#define NOGRACE { 0, 0 }

struct box_row {
	const char *name;
	struct mq_box_state box;
	uint64_t size;
	struct mq_grace grace;
	enum mq_outcome want;
};

static const struct box_row box_rows[] = {
	{ "empty, size 0", BOX(L, 0), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "limit-1, size 0", BOX(L, L - 1), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "at limit, size 0", BOX(L, L), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "limit+1, size 0", BOX(L, L + 1), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "limit-1, size 1 fills", BOX(L, L - 1), 1, NOGRACE, MQ_OUT_SUCCESS },
	{ "limit-1, size 2", BOX(L, L - 1), 2, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "at limit, size 1", BOX(L, L), 1, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "used+size exactly limit", BOX(L, 400), 600, NOGRACE, MQ_OUT_SUCCESS },
	{ "one byte over", BOX(L, 401), 600, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "size == limit, used 0", BOX(L, 0), L, NOGRACE, MQ_OUT_SUCCESS },
	{ "size == limit, used 1", BOX(L, 1), L, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "size > limit", BOX(L, 0), L + 1, NOGRACE, MQ_OUT_TOOLARGE },
	{ "size > limit, mailbox full", BOX(L, L), L + 1, NOGRACE, MQ_OUT_TOOLARGE },
	{ "limit 1, size 1", BOX(1, 0), 1, NOGRACE, MQ_OUT_SUCCESS },
	{ "limit 1, used 1", BOX(1, 1), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	/* Near UINT64_MAX: nothing may wrap. */
	{ "max limit, used max-1, size 1", BOX(MAX, MAX - 1), 1, NOGRACE, MQ_OUT_SUCCESS },
	{ "max limit, used max-1, size 2", BOX(MAX, MAX - 1), 2, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "max limit, used max", BOX(MAX, MAX), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "max limit, size max", BOX(MAX, 0), MAX, NOGRACE, MQ_OUT_SUCCESS },
	{ "max limit, used 1, size max", BOX(MAX, 1), MAX, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "limit max-1, used 1, size max-1", BOX(MAX - 1, 1), MAX - 1, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "limit max-1, used 1, size max-2", BOX(MAX - 1, 1), MAX - 2, NOGRACE, MQ_OUT_SUCCESS },
	{ "limit max-1, size max", BOX(MAX - 1, 0), MAX, NOGRACE, MQ_OUT_TOOLARGE },
	{ "used max, small limit", BOX(L, MAX), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "size max, small limit", BOX(L, 500), MAX, NOGRACE, MQ_OUT_TOOLARGE },
	{ "used L-1, size max-1", BOX(L, L - 1), MAX - 1, NOGRACE, MQ_OUT_TOOLARGE },
	/* Unlimited (0). */
	{ "unlimited bytes, used max, size max", BOX(0, MAX), MAX, NOGRACE, MQ_OUT_SUCCESS },
	{ "unlimited, empty", BOX(0, 0), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "unlimited bytes, grace", BOX(0, MAX), MAX, { 0, 10 }, MQ_OUT_SUCCESS },
	/* Message counts: used + 1 > limit rejects. */
	{ "messages limit-1", MBOX(10, 9), 100, NOGRACE, MQ_OUT_SUCCESS },
	{ "messages at limit", MBOX(10, 10), 100, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "messages limit+1", MBOX(10, 11), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "messages limit 1, used 0", MBOX(1, 0), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "messages limit 1, used 1", MBOX(1, 1), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "messages max, used max-1", MBOX(MAX, MAX - 1), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "messages max, used max", MBOX(MAX, MAX), 0, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "messages unlimited, used max", MBOX(0, MAX), 0, NOGRACE, MQ_OUT_SUCCESS },
	{ "bytes fine, messages full", { true, L, 5, 0, 5 }, 1, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "messages fine, bytes full", { true, L, 5, L, 0 }, 1, NOGRACE, MQ_OUT_OVERQUOTA },
	{ "both fine", { true, L, 5, 10, 4 }, 990, NOGRACE, MQ_OUT_SUCCESS },
	{ "messages full, size > limit", { true, L, 5, 0, 5 }, L + 1, { 0, 10 }, MQ_OUT_TOOLARGE },
	{ "messages full, size fits the grace", { true, L, 5, 0, 5 }, L, { 0, 10 }, MQ_OUT_OVERQUOTA },
	/* Grace in bytes: accept up to limit + grace. */
	{ "grace 100: up to limit+grace", BOX(L, 900), 200, { 100, 0 }, MQ_OUT_SUCCESS },
	{ "grace 100: one over", BOX(L, 900), 201, { 100, 0 }, MQ_OUT_OVERQUOTA },
	{ "grace 100: limit-1 + size 101", BOX(L, L - 1), 101, { 100, 0 }, MQ_OUT_SUCCESS },
	{ "grace 100: used at limit", BOX(L, L), 0, { 100, 0 }, MQ_OUT_OVERQUOTA },
	{ "grace 100: used over limit", BOX(L, L + 50), 0, { 100, 0 }, MQ_OUT_OVERQUOTA },
	/* Dovecot delivers a message bigger than the limit that fits in the grace. */
	{ "grace 100: size > limit, empty", BOX(L, 0), L + 1, { 100, 0 }, MQ_OUT_SUCCESS },
	{ "grace 100: size limit+grace, empty", BOX(L, 0), L + 100, { 100, 0 }, MQ_OUT_SUCCESS },
	{ "grace 100: size past limit+grace", BOX(L, 0), L + 101, { 100, 0 }, MQ_OUT_TOOLARGE },
	{ "grace 100: size > limit, used 1", BOX(L, 1), L + 100, { 100, 0 }, MQ_OUT_TOOLARGE },
	{ "grace bytes win over percent", BOX(L, 900), 200, { 100, 1 }, MQ_OUT_SUCCESS },
	{ "grace bytes win: one over", BOX(L, 900), 201, { 100, 50 }, MQ_OUT_OVERQUOTA },
	/* Grace in percent of the limit. */
	{ "grace 10%: up to limit+grace", BOX(L, 900), 200, { 0, 10 }, MQ_OUT_SUCCESS },
	{ "grace 10%: one over", BOX(L, 900), 201, { 0, 10 }, MQ_OUT_OVERQUOTA },
	{ "grace 10%: used at limit", BOX(L, L), 0, { 0, 10 }, MQ_OUT_OVERQUOTA },
	{ "grace 10%: size > limit, empty", BOX(L, 0), L + 1, { 0, 10 }, MQ_OUT_SUCCESS },
	{ "grace 10%: size past limit+grace", BOX(L, 0), L + 101, { 0, 10 }, MQ_OUT_TOOLARGE },
	{ "grace 0%", BOX(L, 900), 101, { 0, 0 }, MQ_OUT_OVERQUOTA },
	/* Saturating limit + grace. */
	{ "grace max bytes", BOX(L, L - 1), L, { MAX, 0 }, MQ_OUT_SUCCESS },
	{ "grace 10% of max limit", BOX(MAX, MAX - 1), 1, { 0, 10 }, MQ_OUT_SUCCESS },
	{ "grace 10% of max limit, past it", BOX(MAX, MAX - 1), 2, { 0, 10 }, MQ_OUT_SUCCESS },
	{ "grace 10% of max limit, size max", BOX(MAX, MAX - 1), MAX, { 0, 10 }, MQ_OUT_OVERQUOTA },
	{ "grace 1000% near max", BOX(MAX - 10, MAX - 11), 11, { 0, 1000 }, MQ_OUT_SUCCESS },
	{ "grace 1000% near max, past it", BOX(MAX - 10, MAX - 11), 12, { 0, 1000 }, MQ_OUT_SUCCESS },
	{ "grace 1000% near max, size max", BOX(MAX - 10, MAX - 11), MAX, { 0, 1000 }, MQ_OUT_SUCCESS },
	{ "grace max, used at limit", BOX(L, L), 1, { MAX, 0 }, MQ_OUT_OVERQUOTA },
	/* Dovecot's overflowing percentage (measured with dovecot-lda 2.3.19). */
	{ "10% of INT64_MAX is 0", BOX(INT64_MAX, INT64_MAX - 1000), 2000, { 0, 10 }, MQ_OUT_OVERQUOTA },
	{ "10% of 2^62 wraps huge", BOX(1ull << 62, (1ull << 62) - 1000), 6000, { 0, 10 }, MQ_OUT_SUCCESS },
	/* Disabled wins over everything. */
	{ "disabled, empty", { false, L, 0, 0, 0 }, 0, NOGRACE, MQ_OUT_DISABLED },
	{ "disabled, full", { false, L, 0, L, 0 }, 1, NOGRACE, MQ_OUT_DISABLED },
	{ "disabled, too large", { false, L, 0, 0, 0 }, L + 1, NOGRACE, MQ_OUT_DISABLED },
	{ "disabled, unlimited", { false, 0, 0, 0, 0 }, 0, NOGRACE, MQ_OUT_DISABLED },
};

START_TEST(test_box)
{
	const struct box_row *row = &box_rows[_i];
	enum mq_outcome got;
	size_t which = 99;

	got = mq_decide_box(&row->box, row->size, &row->grace);
	ck_assert_msg(got == row->want, "%s: got %s, want %s", row->name,
	    mq_outcome_name(got), mq_outcome_name(row->want));
	/* One mailbox through the combination gives the same answer. */
	got = mq_decide_boxes(&row->box, 1, MQ_ALIAS_ALL, row->size, &row->grace, &which);
	ck_assert_msg(got == row->want, "%s (boxes): got %s", row->name,
	    mq_outcome_name(got));
	ck_assert_uint_eq(which, 0);
}
END_TEST

START_TEST(test_box_null_grace)
{
	struct mq_box_state box = BOX(L, 900);

	ck_assert_int_eq(mq_decide_box(&box, 100, NULL), MQ_OUT_SUCCESS);
	ck_assert_int_eq(mq_decide_box(&box, 101, NULL), MQ_OUT_OVERQUOTA);
}
END_TEST

struct grace_row {
	struct mq_grace grace;
	uint64_t limit;
	uint64_t want;
};

static const struct grace_row grace_rows[] = {
	{ { 0, 0 }, L, 0 },
	{ { 500, 0 }, L, 500 },
	{ { 500, 10 }, L, 500 },		/* bytes win */
	{ { 500, 0 }, 0, 500 },
	{ { 0, 10 }, L, 100 },
	{ { 0, 10 }, 1005, 100 },		/* 100.5 rounds down */
	{ { 0, 10 }, 1009, 100 },
	{ { 0, 10 }, 1010, 101 },
	{ { 0, 10 }, 9, 0 },
	{ { 0, 10 }, 0, 0 },
	{ { 0, 100 }, L, L },
	{ { 0, 250 }, L, 2500 },
	{ { 0, 100 }, MAX, MAX },
	{ { 0, 50 }, MAX, MAX / 2 },		/* exact, no double rounding */
	{ { 0, 1 }, MAX, MAX / 100 },
	{ { 0, 200 }, MAX, MAX },		/* saturates */
	{ { 0, 101 }, MAX - 99, MAX },
	{ { 0, 4294967295u }, 99, 4252017622u },
	/* Up to INT64_MAX, Dovecot's signed product, wrap included. */
	{ { 0, 4294967295u }, MAX / 1000, 54417894990986178u },
	{ { 0, 10 }, 922337203685477580u, 92233720368547758u },
	{ { 0, 10 }, INT64_MAX, 0 },
	{ { 0, 10 }, 1ull << 62, 18354510353341003858u },
	{ { MAX, 0 }, L, MAX },
};

START_TEST(test_grace_for)
{
	const struct grace_row *row = &grace_rows[_i];
	uint64_t got = mq_grace_for(&row->grace, row->limit);

	ck_assert_msg(got == row->want, "row %d: got %llu, want %llu", _i,
	    (unsigned long long)got, (unsigned long long)row->want);
}
END_TEST

START_TEST(test_grace_null)
{
	ck_assert_uint_eq(mq_grace_for(NULL, L), 0);
}
END_TEST

/* Mailboxes of an alias. */
#define OK	BOX(L, 0)
#define FULL	BOX(L, L)
#define ALMOST	BOX(L, L - 5)
#define SMALL	BOX(100, 0)		/* TOOLARGE for the 500-byte rows */
#define DIS	{ false, L, 0, 0, 0 }
#define DISFULL	{ false, L, 0, L, 0 }

struct boxes_row {
	const char *name;
	size_t n;
	struct mq_box_state boxes[3];
	enum mq_alias_overquota mode;
	uint64_t size;
	struct mq_grace grace;
	enum mq_outcome want;
	size_t which;
};

static const struct boxes_row boxes_rows[] = {
	{ "no mailbox, all", 0, { OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "no mailbox, any", 0, { OK }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "one ok", 1, { OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "one full", 1, { FULL }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "all: one full of two", 2, { OK, FULL }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "all: full first of two", 2, { FULL, OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 1 },
	{ "any: one full of two", 2, { OK, FULL }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 1 },
	{ "any: full first of two", 2, { FULL, OK }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "all: all full", 2, { FULL, FULL }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "any: all full", 2, { FULL, FULL }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "all: none full", 3, { OK, OK, OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "any: none full", 3, { OK, OK, OK }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "all: third full", 3, { OK, OK, FULL }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "any: third full", 3, { OK, OK, FULL }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 2 },
	{ "all: only the last has room", 3, { FULL, FULL, OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 2 },
	/* TOOLARGE only when every rejecting mailbox says so. */
	{ "all: all toolarge", 2, { SMALL, SMALL }, MQ_ALIAS_ALL, 500, NOGRACE, MQ_OUT_TOOLARGE, 0 },
	{ "any: all toolarge", 2, { SMALL, SMALL }, MQ_ALIAS_ANY, 500, NOGRACE, MQ_OUT_TOOLARGE, 0 },
	{ "any: one toolarge", 2, { OK, SMALL }, MQ_ALIAS_ANY, 500, NOGRACE, MQ_OUT_TOOLARGE, 1 },
	{ "all: one toolarge, one ok", 2, { OK, SMALL }, MQ_ALIAS_ALL, 500, NOGRACE, MQ_OUT_SUCCESS, 0 },
	{ "all: mixed", 2, { SMALL, FULL }, MQ_ALIAS_ALL, 500, NOGRACE, MQ_OUT_OVERQUOTA, 1 },
	{ "any: mixed", 2, { FULL, SMALL }, MQ_ALIAS_ANY, 500, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "any: mixed, toolarge first", 3, { SMALL, OK, FULL }, MQ_ALIAS_ANY, 500, NOGRACE, MQ_OUT_OVERQUOTA, 2 },
	/* Disabled mailboxes are left out. */
	{ "all: disabled + full", 2, { DIS, FULL }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_OVERQUOTA, 1 },
	{ "any: disabled + full", 2, { DIS, FULL }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 1 },
	{ "all: full + disabled", 2, { FULL, DIS }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "all: disabled + ok", 2, { DIS, OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 1 },
	{ "any: disabled full + ok", 2, { DISFULL, OK }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_SUCCESS, 1 },
	{ "all: disabled + toolarge", 2, { DIS, SMALL }, MQ_ALIAS_ALL, 500, NOGRACE, MQ_OUT_TOOLARGE, 1 },
	{ "all disabled, all", 2, { DIS, DISFULL }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_DISABLED, 0 },
	{ "all disabled, any", 2, { DIS, DIS }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_DISABLED, 0 },
	{ "one disabled", 1, { DIS }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_DISABLED, 0 },
	{ "all: full, disabled, ok", 3, { FULL, DIS, OK }, MQ_ALIAS_ALL, 10, NOGRACE, MQ_OUT_SUCCESS, 2 },
	/* Grace applies to each mailbox. */
	{ "any: almost full, no grace", 2, { ALMOST, OK }, MQ_ALIAS_ANY, 10, NOGRACE, MQ_OUT_OVERQUOTA, 0 },
	{ "any: almost full, grace 5", 2, { ALMOST, OK }, MQ_ALIAS_ANY, 10, { 5, 0 }, MQ_OUT_SUCCESS, 0 },
	{ "any: almost full, grace 1%", 2, { OK, ALMOST }, MQ_ALIAS_ANY, 15, { 0, 1 }, MQ_OUT_SUCCESS, 0 },
	{ "any: almost full, grace 1%, one over", 2, { OK, ALMOST }, MQ_ALIAS_ANY, 16, { 0, 1 }, MQ_OUT_OVERQUOTA, 1 },
};

START_TEST(test_boxes)
{
	const struct boxes_row *row = &boxes_rows[_i];
	enum mq_outcome got;
	size_t which = 99;

	got = mq_decide_boxes(row->boxes, row->n, row->mode, row->size,
	    &row->grace, &which);
	ck_assert_msg(got == row->want, "%s: got %s, want %s", row->name,
	    mq_outcome_name(got), mq_outcome_name(row->want));
	ck_assert_msg(which == (row->n == 0 ? row->n : row->which),
	    "%s: which %zu, want %zu", row->name, which, row->which);
	/* which_r may be NULL. */
	ck_assert_int_eq(mq_decide_boxes(row->boxes, row->n, row->mode,
	    row->size, &row->grace, NULL), row->want);
}
END_TEST

START_TEST(test_outcome_name)
{
	static const char *const want[MQ_OUT_COUNT] = {
		"success", "nouser", "disabled", "overquota", "toolarge", "tempfail",
	};
	int i;

	ck_assert_str_eq(mq_outcome_name(MQ_OUT_SUCCESS), "success");
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_NOUSER), "nouser");
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_DISABLED), "disabled");
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_OVERQUOTA), "overquota");
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_TOOLARGE), "toolarge");
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_TEMPFAIL), "tempfail");
	for (i = 0; i < MQ_OUT_COUNT; i++)
		ck_assert_str_eq(mq_outcome_name((enum mq_outcome)i), want[i]);
	ck_assert_str_eq(mq_outcome_name(MQ_OUT_COUNT), "unknown");
	ck_assert_str_eq(mq_outcome_name((enum mq_outcome)-1), "unknown");
}
END_TEST

static Suite *
decide_suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_box, 0, (int)MQ_NELEM(box_rows));
	tcase_add_test(tc, test_box_null_grace);
	tcase_add_loop_test(tc, test_grace_for, 0, (int)MQ_NELEM(grace_rows));
	tcase_add_test(tc, test_grace_null);
	tcase_add_loop_test(tc, test_boxes, 0, (int)MQ_NELEM(boxes_rows));
	tcase_add_test(tc, test_outcome_name);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(decide_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
