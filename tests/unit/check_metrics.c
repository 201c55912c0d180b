/* SPDX-License-Identifier: MIT */
/*
 * check_metrics - the latency histogram's bucket boundaries and the
 * Prometheus text: every outcome present, cumulative buckets ending in
 * +Inf = _count, exact seconds in _sum, retired engines kept in the totals.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "policyd/metrics.h"
#include "util.h"

struct bucket_row {
	uint64_t us;
	size_t want;		/* index into latency[] */
};

static const struct bucket_row bucket_rows[] = {
	{ 0, 0 },
	{ 1, 0 },
	{ 100, 0 },		/* a bound belongs to its own bucket (le) */
	{ 101, 1 },
	{ 250, 1 },
	{ 251, 2 },
	{ 999, 3 },
	{ 1000, 3 },
	{ 1001, 4 },
	{ 5000000, 14 },
	{ 10000000, 15 },
	{ 10000001, MQ_METRICS_NBUCKETS },	/* +Inf only */
	{ UINT64_MAX, MQ_METRICS_NBUCKETS },
};

START_TEST(test_bucket)
{
	const struct bucket_row *row = &bucket_rows[_i];
	struct mq_counters c;
	size_t i;

	memset(&c, 0, sizeof(c));
	mq_metrics_observe(&c, row->us);
	for (i = 0; i <= MQ_METRICS_NBUCKETS; i++)
		ck_assert_msg(c.latency[i] == (i == row->want ? 1u : 0u),
		    "%llu us: bucket %zu has %llu", (unsigned long long)row->us,
		    i, (unsigned long long)c.latency[i]);
	ck_assert_uint_eq(c.latency_sum_us, row->us);
}
END_TEST

START_TEST(test_bounds_ascending)
{
	size_t i;

	for (i = 1; i < MQ_METRICS_NBUCKETS; i++)
		ck_assert_uint_gt(mq_metrics_bounds_us[i], mq_metrics_bounds_us[i - 1]);
}
END_TEST

/* value - the number after "name " at the start of a line, or -1. */
static long long
value(const char *text, const char *name)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	if ((p = strstr(text, key)) == NULL)
		return -1;
	return strtoll(p + strlen(key), NULL, 10);
}

START_TEST(test_text)
{
	struct mq_counters c;
	struct mq_metrics_view v;
	char *text, name[128];
	size_t len, i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < MQ_OUT_COUNT; i++)
		c.outcome[i] = 10 + i;
	mq_metrics_observe(&c, 50);		/* le 0.0001 */
	mq_metrics_observe(&c, 3000);		/* le 0.005 */
	mq_metrics_observe(&c, 3000);
	mq_metrics_observe(&c, 20000000);	/* +Inf */
	c.malformed = 7;
	c.retired.cache_hits = 5;
	mq_metrics_view_init(&v, &c, NULL);
	v.conns_open = 3;
	v.generation = 2;

	text = mq_metrics_text(&v, &len);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE mailquota_requests_total counter\n"));
	for (i = 0; i < MQ_OUT_COUNT; i++) {
		snprintf(name, sizeof(name), "mailquota_requests_total{outcome=\"%s\"}",
		    mq_outcome_name((enum mq_outcome)i));
		ck_assert_int_eq(value(text, name), (long long)(10 + i));
	}
	ck_assert_ptr_nonnull(strstr(text,
	    "# TYPE mailquota_request_duration_seconds histogram\n"));
	ck_assert_int_eq(value(text,
	    "mailquota_request_duration_seconds_bucket{le=\"0.0001\"}"), 1);
	ck_assert_int_eq(value(text,
	    "mailquota_request_duration_seconds_bucket{le=\"0.0025\"}"), 1);
	ck_assert_int_eq(value(text,
	    "mailquota_request_duration_seconds_bucket{le=\"0.005\"}"), 3);
	ck_assert_int_eq(value(text,
	    "mailquota_request_duration_seconds_bucket{le=\"10\"}"), 3);
	ck_assert_int_eq(value(text,
	    "mailquota_request_duration_seconds_bucket{le=\"+Inf\"}"), 4);
	ck_assert_int_eq(value(text, "mailquota_request_duration_seconds_count"), 4);
	/* 50 + 3000 + 3000 + 20000000 us */
	ck_assert_ptr_nonnull(strstr(text,
	    "\nmailquota_request_duration_seconds_sum 20.006050\n"));
	ck_assert_int_eq(value(text, "mailquota_malformed_requests_total"), 7);
	ck_assert_int_eq(value(text, "mailquota_connections_open"), 3);
	ck_assert_int_eq(value(text, "mailquota_cache_hits_total"), 5);
	ck_assert_int_eq(value(text, "mailquota_config_generation"), 2);
	ck_assert_int_eq(text[len - 1], '\n');
	free(text);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_bucket, 0, (int)MQ_NELEM(bucket_rows));
	tcase_add_test(tc, test_bounds_ascending);
	tcase_add_test(tc, test_text);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
