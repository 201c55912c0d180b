/* SPDX-License-Identifier: MIT */
/*
 * check_warn_statemachine - which warning a mailbox gets, as a table:
 * thresholds x usage sequences, with re-arm hysteresis, renotify, a
 * lowered quota, unlimited mailboxes, the back-under notice, interrupted
 * hand-overs, and hook mode. Each sequence replays the marks a successful
 * hand-over leaves (plan.after) into the next step.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "warn/statemachine.h"

#define H 3600
#define NONE MQ_SEND_NONE
#define WARN MQ_SEND_WARNING
#define RENO MQ_SEND_RENOTIFY
#define BELOW MQ_SEND_BELOW
#define MAX UINT64_MAX

struct step {
	uint64_t used, limit;
	int64_t t;
	enum mq_warn_send send;
	unsigned threshold;	/* checked when send != NONE */
};

struct seq {
	const char *name;
	unsigned thresholds[4];
	size_t n;
	unsigned rearm, renotify;
	bool below;
	struct step steps[10];
	size_t nsteps;
};

#define T3 { 80, 95, 100 }, 3

static const struct seq seqs[] = {
	{ "climbing one threshold at a time", T3, 5, 0, false, {
		{ 0, 1000, 0, NONE, 0 },
		{ 799, 1000, 1, NONE, 0 },
		{ 800, 1000, 2, WARN, 80 },	/* exactly 80 % */
		{ 900, 1000, 3, NONE, 0 },
		{ 949, 1000, 4, NONE, 0 },
		{ 950, 1000, 5, WARN, 95 },
		{ 999, 1000, 6, NONE, 0 },
		{ 1000, 1000, 7, WARN, 100 },	/* full */
		{ 1200, 1000, 8, NONE, 0 },	/* over: still once */
	}, 9 },
	{ "a jump sends only the highest", T3, 5, 0, false, {
		{ 500, 1000, 0, NONE, 0 },
		{ 1000, 1000, 1, WARN, 100 },
		{ 960, 1000, 2, NONE, 0 },	/* 95 and 80 were covered */
		{ 940, 1000, 3, NONE, 0 },	/* 100 re-arms below 95 */
		{ 1000, 1000, 4, WARN, 100 },
	}, 5 },
	{ "hysteresis around 80", T3, 5, 0, false, {
		{ 800, 1000, 0, WARN, 80 },
		{ 790, 1000, 1, NONE, 0 },
		{ 801, 1000, 2, NONE, 0 },	/* not re-armed: no second mail */
		{ 750, 1000, 3, NONE, 0 },	/* 75 % is not below 75 % */
		{ 820, 1000, 4, NONE, 0 },
		{ 749, 1000, 5, NONE, 0 },	/* re-armed */
		{ 800, 1000, 6, WARN, 80 },
	}, 7 },
	{ "rearm 0: any dip re-arms", T3, 0, 0, false, {
		{ 800, 1000, 0, WARN, 80 },
		{ 799, 1000, 1, NONE, 0 },
		{ 800, 1000, 2, WARN, 80 },
	}, 3 },
	{ "rearm larger than the threshold: only an empty mailbox", { 5 }, 1, 10, 0, false, {
		{ 60, 1000, 0, WARN, 5 },
		{ 1, 1000, 1, NONE, 0 },
		{ 60, 1000, 2, NONE, 0 },
		{ 0, 1000, 3, NONE, 0 },
		{ 60, 1000, 4, WARN, 5 },
	}, 5 },
	{ "renotify after 24 hours", T3, 5, 24, false, {
		{ 850, 1000, 0, WARN, 80 },
		{ 860, 1000, 23 * H, NONE, 0 },
		{ 860, 1000, 24 * H, RENO, 80 },
		{ 860, 1000, 30 * H, NONE, 0 },
		{ 960, 1000, 31 * H, WARN, 95 },	/* a new crossing is not a reminder */
		{ 960, 1000, 54 * H, NONE, 0 },
		{ 960, 1000, 55 * H, RENO, 95 },
	}, 7 },
	{ "renotify 0 never repeats", T3, 5, 0, false, {
		{ 850, 1000, 0, WARN, 80 },
		{ 850, 1000, 1000 * H, NONE, 0 },
	}, 2 },
	{ "lowered quota", T3, 5, 0, false, {
		{ 500, 1000, 0, NONE, 0 },
		{ 500, 600, 1, WARN, 80 },	/* 83 % by a smaller limit */
		{ 500, 500, 2, WARN, 100 },
		{ 500, 2000, 3, NONE, 0 },	/* raised: 25 %, everything re-arms */
		{ 500, 600, 4, WARN, 80 },
	}, 5 },
	{ "unlimited mailboxes get nothing", T3, 5, 0, false, {
		{ 5000, 0, 0, NONE, 0 },
		{ 900, 1000, 1, WARN, 80 },
		{ 900, 0, 2, NONE, 0 },		/* unlimited: everything re-arms */
		{ 900, 1000, 3, WARN, 80 },
	}, 4 },
	{ "back-under notice", T3, 5, 0, true, {
		{ 1000, 1000, 0, WARN, 100 },
		{ 960, 1000, 1, NONE, 0 },
		{ 940, 1000, 2, BELOW, 100 },
		{ 940, 1000, 3, NONE, 0 },
		{ 1000, 1000, 4, WARN, 100 },
		{ 100, 1000, 5, BELOW, 100 },
		{ 100, 1000, 6, NONE, 0 },
		{ 850, 1000, 7, WARN, 80 },	/* 80 re-armed at 10 % too */
	}, 8 },
	{ "no back-under notice unless enabled", T3, 5, 0, false, {
		{ 1000, 1000, 0, WARN, 100 },
		{ 100, 1000, 1, NONE, 0 },
		{ 1000, 1000, 2, WARN, 100 },
	}, 3 },
	{ "small limits round up", { 80 }, 1, 5, 0, false, {
		{ 2, 3, 0, NONE, 0 },		/* 66 % */
		{ 3, 3, 1, WARN, 80 },
	}, 2 },
	{ "limits near 2^64 do not overflow", T3, 5, 0, false, {
		{ MAX / 100 * 79, MAX, 0, NONE, 0 },
		{ MAX / 100 * 81, MAX, 1, WARN, 80 },
		{ MAX - 1, MAX, 2, WARN, 95 },
		{ MAX, MAX, 3, WARN, 100 },
		{ MAX, 1, 4, NONE, 0 },
	}, 5 },
	{ "one threshold", { 90 }, 1, 5, 0, false, {
		{ 950, 1000, 0, WARN, 90 },
		{ 1000, 1000, 1, NONE, 0 },
	}, 2 },
};

START_TEST(test_sequence)
{
	const struct seq *q = &seqs[_i];
	struct mq_warn_policy pol = { .thresholds = q->thresholds,
	    .nthresholds = q->n, .rearm = q->rearm, .renotify_hours = q->renotify,
	    .below_notice = q->below };
	struct mq_warn_marks m;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < q->nsteps; i++) {
		const struct step *st = &q->steps[i];
		struct mq_warn_plan plan;

		mq_warn_plan(&pol, &m, st->used, st->limit, st->t, &plan);
		ck_assert_msg(plan.send == st->send, "%s, step %zu: send %d, want %d",
		    q->name, i, plan.send, st->send);
		if (st->send != NONE)
			ck_assert_msg(plan.threshold == st->threshold,
			    "%s, step %zu: threshold %u, want %u", q->name, i,
			    plan.threshold, st->threshold);
		if (st->send == NONE)
			ck_assert(memcmp(&plan.now, &plan.after, sizeof(plan.now)) == 0);
		m = plan.after;		/* the hand-over succeeded */
	}
}
END_TEST

/* A failed hand-over keeps plan.now: the same warning is due next time. */
START_TEST(test_failed_handover_retries)
{
	const unsigned th[] = { 80, 95, 100 };
	struct mq_warn_policy pol = { th, 3, 5, 0, false };
	struct mq_warn_marks m;
	struct mq_warn_plan plan;

	memset(&m, 0, sizeof(m));
	mq_warn_plan(&pol, &m, 960, 1000, 0, &plan);
	ck_assert_int_eq(plan.send, WARN);
	ck_assert_uint_eq(plan.threshold, 95);
	ck_assert_uint_eq(plan.slot, 95);
	ck_assert_int_eq(plan.now.mark[95], MQ_MARK_ARMED);
	ck_assert_int_eq(plan.after.mark[95], MQ_MARK_SENT);
	ck_assert_int_eq(plan.after.mark[80], MQ_MARK_SENT);	/* covered */
	ck_assert_int_eq(plan.after.when[95], 0);
	m = plan.now;
	mq_warn_plan(&pol, &m, 960, 1000, 10, &plan);
	ck_assert_int_eq(plan.send, WARN);
	ck_assert_uint_eq(plan.threshold, 95);
	ck_assert_int_eq(plan.after.when[95], 10);
}
END_TEST

/* A mark left SENDING by a crash counts as not sent: the mail goes again. */
START_TEST(test_interrupted_is_resent)
{
	const unsigned th[] = { 80, 95, 100 };
	struct mq_warn_policy pol = { th, 3, 5, 0, true };
	struct mq_warn_marks m;
	struct mq_warn_plan plan;

	memset(&m, 0, sizeof(m));
	m.mark[80] = MQ_MARK_SENDING;
	m.when[80] = 5;
	mq_warn_plan(&pol, &m, 850, 1000, 6, &plan);
	ck_assert_int_eq(plan.send, WARN);
	ck_assert_uint_eq(plan.threshold, 80);
	ck_assert_int_eq(plan.now.mark[80], MQ_MARK_ARMED);

	/* ...unless usage fell meanwhile: then it is just cleared */
	mq_warn_plan(&pol, &m, 100, 1000, 6, &plan);
	ck_assert_int_eq(plan.send, NONE);
	ck_assert_int_eq(plan.now.mark[80], MQ_MARK_ARMED);

	/* an interrupted back-under notice: 100 is still SENT, so it is due again */
	memset(&m, 0, sizeof(m));
	m.mark[80] = m.mark[95] = m.mark[100] = MQ_MARK_SENT;
	m.mark[MQ_WARN_BELOW] = MQ_MARK_SENDING;
	mq_warn_plan(&pol, &m, 500, 1000, 7, &plan);
	ck_assert_int_eq(plan.send, BELOW);
	ck_assert_int_eq(plan.now.mark[100], MQ_MARK_SENT);	/* until handed over */
	ck_assert_int_eq(plan.after.mark[100], MQ_MARK_ARMED);
	ck_assert_int_eq(plan.after.mark[MQ_WARN_BELOW], MQ_MARK_ARMED);
}
END_TEST

/* A refused warning counts as sent: not retried until it re-arms, then it is due again. */
START_TEST(test_refused_counts_as_sent)
{
	const unsigned th[] = { 80, 95, 100 };
	struct mq_warn_policy pol = { th, 3, 5, 0, false };
	struct mq_warn_marks m;
	struct mq_warn_plan plan;

	memset(&m, 0, sizeof(m));
	m.mark[80] = m.mark[95] = MQ_MARK_SENT;
	m.mark[100] = MQ_MARK_REFUSED;
	m.when[100] = 5;
	mq_warn_plan(&pol, &m, 1000, 1000, 6, &plan);
	ck_assert_int_eq(plan.send, NONE);
	ck_assert_int_eq(plan.now.mark[100], MQ_MARK_REFUSED);	/* kept as it is */
	ck_assert_int_eq(plan.now.when[100], 5);
	/* it re-arms below 95 %, and the next crossing sends it */
	mq_warn_plan(&pol, &m, 940, 1000, 7, &plan);
	ck_assert_int_eq(plan.now.mark[100], MQ_MARK_ARMED);
	m = plan.now;
	mq_warn_plan(&pol, &m, 1000, 1000, 8, &plan);
	ck_assert_int_eq(plan.send, WARN);
	ck_assert_uint_eq(plan.threshold, 100);
	/* no lower warning while a refused higher one is in force */
	memset(&m, 0, sizeof(m));
	m.mark[100] = MQ_MARK_REFUSED;
	mq_warn_plan(&pol, &m, 960, 1000, 9, &plan);
	ck_assert_int_eq(plan.send, NONE);
}
END_TEST

/* Thresholds leave the configuration, or are added below one in force. */
START_TEST(test_config_changes)
{
	const unsigned th[] = { 80, 95, 100 };
	struct mq_warn_policy pol = { th, 3, 5, 0, false };
	struct mq_warn_marks m;
	struct mq_warn_plan plan;

	memset(&m, 0, sizeof(m));
	m.mark[90] = MQ_MARK_SENT;	/* 90 is no longer configured */
	m.when[90] = 1;
	mq_warn_plan(&pol, &m, 500, 1000, 2, &plan);
	ck_assert_int_eq(plan.send, NONE);
	ck_assert_int_eq(plan.now.mark[90], MQ_MARK_ARMED);

	/* 100 was sent; 95 was added later: no 95 mail after the 100 one */
	memset(&m, 0, sizeof(m));
	m.mark[100] = MQ_MARK_SENT;
	mq_warn_plan(&pol, &m, 970, 1000, 3, &plan);
	ck_assert_int_eq(plan.send, NONE);
	ck_assert_int_eq(plan.now.mark[95], MQ_MARK_SENT);
	ck_assert_int_eq(plan.now.mark[80], MQ_MARK_SENT);
	ck_assert_int_eq(plan.now.when[95], 3);
}
END_TEST

struct pct_row {
	uint64_t used, limit, want;
};

static const struct pct_row pct_rows[] = {
	{ 0, 1000, 0 }, { 850, 1000, 85 }, { 999, 1000, 99 }, { 1000, 1000, 100 },
	{ 1500, 1000, 150 }, { 1, 3, 33 }, { 2, 3, 66 }, { 5, 0, 0 },
	{ MAX, MAX, 100 }, { MAX - 1, MAX, 99 }, { MAX, 1, MAX }, { MAX / 2, MAX, 49 },
};

START_TEST(test_percent)
{
	ck_assert_uint_eq(mq_warn_percent(pct_rows[_i].used, pct_rows[_i].limit),
	    pct_rows[_i].want);
}
END_TEST

struct reach_row {
	uint64_t used, limit;
	unsigned pct;
	bool want;
};

static const struct reach_row reach_rows[] = {
	{ 800, 1000, 80, true }, { 799, 1000, 80, false }, { 1000, 1000, 100, true },
	{ 999, 1000, 100, false }, { 3, 3, 80, true }, { 2, 3, 80, false },
	{ 1, 1, 1, true }, { 0, 1, 1, false }, { 5, 0, 1, false },
	{ MAX, MAX, 100, true }, { MAX - 1, MAX, 100, false },
};

START_TEST(test_reached)
{
	const struct reach_row *r = &reach_rows[_i];

	ck_assert(mq_warn_reached(r->used, r->limit, r->pct) == r->want);
}
END_TEST

START_TEST(test_hook)
{
	const unsigned th[] = { 80, 95, 100 };
	struct mq_warn_policy pol = { th, 3, 5, 0, false };
	struct mq_warn_marks m;
	struct mq_warn_plan plan;

	memset(&m, 0, sizeof(m));
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_UP, 95, 955, 1000, 10, &plan);
	ck_assert_int_eq(plan.send, WARN);
	ck_assert_uint_eq(plan.slot, 95);
	ck_assert_int_eq(plan.after.mark[95], MQ_MARK_SENT);
	ck_assert_int_eq(plan.after.mark[80], MQ_MARK_SENT);
	ck_assert_int_eq(plan.after.mark[100], MQ_MARK_ARMED);
	/* Dovecot asked again (it re-armed without hysteresis): it is sent */
	m = plan.after;
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_UP, 95, 955, 1000, 20, &plan);
	ck_assert_int_eq(plan.send, WARN);
	/* a sweep afterwards does not repeat it */
	m = plan.after;
	mq_warn_plan(&pol, &m, 955, 1000, 30, &plan);
	ck_assert_int_eq(plan.send, NONE);

	/* below: 100 and up re-arm; 95 re-arms by hysteresis at 80 % */
	m.mark[100] = MQ_MARK_SENT;
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_DOWN, 100, 800, 1000, 40, &plan);
	ck_assert_int_eq(plan.send, NONE);	/* no back-under template */
	ck_assert_int_eq(plan.now.mark[100], MQ_MARK_ARMED);
	ck_assert_int_eq(plan.now.mark[95], MQ_MARK_ARMED);
	ck_assert_int_eq(plan.now.mark[80], MQ_MARK_SENT);
	pol.below_notice = true;
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_DOWN, 100, 800, 1000, 40, &plan);
	ck_assert_int_eq(plan.send, BELOW);
	ck_assert_uint_eq(plan.slot, MQ_WARN_BELOW);
	ck_assert_uint_eq(plan.threshold, 100);

	/* a threshold outside 1..100 changes nothing */
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_UP, 0, 800, 1000, 40, &plan);
	ck_assert_int_eq(plan.send, NONE);
	mq_warn_hook_plan(&pol, &m, MQ_HOOK_UP, 101, 800, 1000, 40, &plan);
	ck_assert_int_eq(plan.send, NONE);
}
END_TEST

static Suite *
statemachine_suite(void)
{
	Suite *s = suite_create("warn_statemachine");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_sequence, 0, (int)MQ_NELEM(seqs));
	tcase_add_test(tc, test_failed_handover_retries);
	tcase_add_test(tc, test_interrupted_is_resent);
	tcase_add_test(tc, test_config_changes);
	tcase_add_test(tc, test_refused_counts_as_sent);
	tcase_add_loop_test(tc, test_percent, 0, (int)MQ_NELEM(pct_rows));
	tcase_add_loop_test(tc, test_reached, 0, (int)MQ_NELEM(reach_rows));
	tcase_add_test(tc, test_hook);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(statemachine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
