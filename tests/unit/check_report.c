/* SPDX-License-Identifier: MIT */
/*
 * check_report - the pure side of `mailquota report`: the escapers (csv
 * quoting, json escaping, html entities, invalid UTF-8), binary units, use
 * percentages and thresholds, grouping and the list, and the four
 * renderings (the html page references nothing outside itself).
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_fmt.h"
#include "util.h"

/* capture - what fn writes for s, as a malloc'ed string. */
static char *
capture(void (*fn)(FILE *, const char *), const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fn(f, s);
	fclose(f);
	return buf;
}

struct esc_row {
	const char *in, *out;
};

static const struct esc_row csv_rows[] = {
	{ "plain@example.org", "plain@example.org" },
	{ "", "" },
	{ "a,b", "\"a,b\"" },
	{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
	{ "\"", "\"\"\"\"" },
	{ "two\nlines", "\"two\nlines\"" },
	{ "cr\rhere", "\"cr\rhere\"" },
	{ " lead", "\" lead\"" },
	{ "trail\t", "\"trail\t\"" },
	{ "in side", "in side" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "bad\xff", "bad\xef\xbf\xbd" },
	/* formula injection: a leading ', quoted */
	{ "=cmd()", "\"'=cmd()\"" },
	{ "=HYPERLINK(\"http://x\",\"y\")@example.org",
	  "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")@example.org\"" },
	{ "+1@example.org", "\"'+1@example.org\"" },
	{ "-2@example.org", "\"'-2@example.org\"" },
	{ "@SUM(A1)", "\"'@SUM(A1)\"" },
	{ "\t=1", "\"'\t=1\"" },
	{ "\r=1", "\"'\r=1\"" },
	{ "a=1", "a=1" },
	{ "a-b@example.org", "a-b@example.org" },
};

START_TEST(test_csv)
{
	char *got = capture(mq_csv_field, csv_rows[_i].in);

	ck_assert_str_eq(got, csv_rows[_i].out);
	free(got);
}
END_TEST

static const struct esc_row json_rows[] = {
	{ "user@example.org", "\"user@example.org\"" },
	{ "", "\"\"" },
	{ "a\"b", "\"a\\\"b\"" },
	{ "back\\slash", "\"back\\\\slash\"" },
	{ "nl\ncr\rtab\t", "\"nl\\ncr\\rtab\\t\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "</script>", "\"</script>\"" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xab", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xab\"" },
	/* Not UTF-8: a lone continuation, a truncated sequence, an overlong
	 * '/', a surrogate, a code point past U+10FFFF. */
	{ "\x80", "\"\\ufffd\"" },
	{ "\xc3", "\"\\ufffd\"" },
	{ "\xc3x", "\"\\ufffdx\"" },
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ "\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
};

START_TEST(test_json)
{
	char *got = capture(mq_json_string, json_rows[_i].in);

	ck_assert_str_eq(got, json_rows[_i].out);
	free(got);
}
END_TEST

static const struct esc_row html_rows[] = {
	{ "user@example.org", "user@example.org" },
	{ "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;" },
	{ "a&b", "a&amp;b" },
	{ "\"x\" 'y'", "&quot;x&quot; &#39;y&#39;" },
	{ "ctl\x01\x1b[31m", "ctl[31m" },
	{ "bad\xfe", "bad\xef\xbf\xbd" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },
};

START_TEST(test_html)
{
	char *got = capture(mq_html_text, html_rows[_i].in);

	ck_assert_str_eq(got, html_rows[_i].out);
	free(got);
}
END_TEST

struct human_row {
	uint64_t bytes;
	const char *out;
};

static const struct human_row human_rows[] = {
	{ 0, "0 B" },
	{ 1, "1 B" },
	{ 1023, "1023 B" },
	{ 1024, "1.0 KiB" },
	{ 1536, "1.5 KiB" },
	{ 1048575, "1024.0 KiB" },
	{ 1048576, "1.0 MiB" },
	{ 10737418240ULL, "10.0 GiB" },
	{ 1099511627776ULL, "1.0 TiB" },
	{ UINT64_MAX, "16.0 EiB" },
};

START_TEST(test_human)
{
	char buf[32];

	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), human_rows[_i].bytes),
	    human_rows[_i].out);
}
END_TEST

struct pct_row {
	uint64_t used, limit, used_m, limit_m;
	uint64_t threshold;
	bool at_or_above;
	double percent;			/* -1: no limit */
};

static const struct pct_row pct_rows[] = {
	{ 0, 0, 0, 0, 0, false, -1 },			/* unlimited: never listed */
	{ 500, 0, 5, 0, 0, false, -1 },
	{ 0, 1000, 0, 0, 0, true, 0 },			/* 0 % is at or above 0 */
	{ 899, 1000, 0, 0, 90, false, 89.9 },
	{ 900, 1000, 0, 0, 90, true, 90 },
	{ 999, 1000, 0, 0, 100, false, 99.9 },
	{ 1000, 1000, 0, 0, 100, true, 100 },
	{ 1001, 1000, 0, 0, 100, true, 100.1 },
	{ 10, 1000, 9, 10, 90, true, 90 },		/* messages decide */
	{ 10, 1000, 8, 10, 90, false, 80 },
	{ 5, 0, 10, 10, 100, true, 100 },		/* only a message limit */
	{ UINT64_MAX, UINT64_MAX, 0, 0, 100, true, 100 },	/* no overflow */
	{ UINT64_MAX - 1, UINT64_MAX, 0, 0, 100, false, 100 },
	{ UINT64_MAX, 1, 0, 0, 100000, true, 1.8446744073709552e21 },
};

START_TEST(test_percent)
{
	const struct pct_row *row = &pct_rows[_i];
	struct mq_report_box b = { .address = "a@b", .domain = "b",
	    .used_bytes = row->used, .limit_bytes = row->limit,
	    .used_messages = row->used_m, .limit_messages = row->limit_m };
	double p = mq_report_percent(&b);

	ck_assert_int_eq(mq_report_at_or_above(&b, row->threshold),
	    row->at_or_above);
	if (row->percent < 0)
		ck_assert(p < 0);
	else
		ck_assert_double_eq_tol(p, row->percent, row->percent * 1e-9 + 1e-9);
}
END_TEST

START_TEST(test_bucket)
{
	ck_assert_uint_eq(mq_report_bucket(0), 0);
	ck_assert_uint_eq(mq_report_bucket(9.99), 0);
	ck_assert_uint_eq(mq_report_bucket(10), 1);
	ck_assert_uint_eq(mq_report_bucket(55), 5);
	ck_assert_uint_eq(mq_report_bucket(99.99), 9);
	ck_assert_uint_eq(mq_report_bucket(100), 10);
	ck_assert_uint_eq(mq_report_bucket(1e9), 10);
}
END_TEST

START_TEST(test_format_parse)
{
	enum mq_report_format f;

	ck_assert_int_eq(mq_report_format_parse("table", &f), 0);
	ck_assert_int_eq(f, MQ_REPORT_TABLE);
	ck_assert_int_eq(mq_report_format_parse("csv", &f), 0);
	ck_assert_int_eq(f, MQ_REPORT_CSV);
	ck_assert_int_eq(mq_report_format_parse("json", &f), 0);
	ck_assert_int_eq(f, MQ_REPORT_JSON);
	ck_assert_int_eq(mq_report_format_parse("html", &f), 0);
	ck_assert_int_eq(f, MQ_REPORT_HTML);
	ck_assert_int_eq(mq_report_format_parse("HTML", &f), -1);
	ck_assert_int_eq(mq_report_format_parse("", &f), -1);
	ck_assert_int_eq(mq_report_format_parse("xml", &f), -1);
}
END_TEST

/* A small estate: two domains, an error, a hostile address. */
#define HOSTILE "<img src=x onerror=alert(1)>@evil.test"
static const struct mq_report_box estate[] = {
	{ "b@one.test", "one.test", NULL, true, 1000, 1000, 0, 4, "sql", "maildirsize" },
	{ "a@one.test", "one.test", NULL, true, 1000, 250, 0, 1, "sql", "maildirsize" },
	{ "c@one.test", "one.test", NULL, true, 0, 5000, 0, 9, "none", "recount" },
	{ "x@two.test", "two.test", NULL, false, 2000, 1900, 10, 2, "sql", "maildirsize" },
	{ "y@two.test", "two.test", "maildirsize is a symlink", true, 0, 0, 0, 0, NULL, NULL },
	{ HOSTILE, "evil.test", NULL, true, 100, 10, 0, 1, "sql", "sql" },
};

START_TEST(test_build)
{
	struct mq_report_opts o = { .top = 2, .seconds = -1 };
	struct mq_report r;

	mq_report_build(&r, estate, MQ_NELEM(estate), &o);
	ck_assert_uint_eq(r.ndomains, 3);
	ck_assert_str_eq(r.domains[0].name, "evil.test");
	ck_assert_str_eq(r.domains[1].name, "one.test");
	ck_assert_str_eq(r.domains[2].name, "two.test");
	/* one.test: 3 users, quota 2000 (c has none), used 6250, limited use 1250. */
	ck_assert_uint_eq(r.domains[1].users, 3);
	ck_assert_uint_eq(r.domains[1].quota_bytes, 2000);
	ck_assert_uint_eq(r.domains[1].used_bytes, 6250);
	ck_assert_uint_eq(r.domains[1].used_limited, 1250);
	ck_assert_uint_eq(r.domains[1].over, 1);
	ck_assert_uint_eq(r.domains[1].messages, 14);
	/* two.test: x at 95 % is not over; y not read. */
	ck_assert_uint_eq(r.domains[2].users, 2);
	ck_assert_uint_eq(r.domains[2].errors, 1);
	ck_assert_uint_eq(r.domains[2].over, 0);
	ck_assert_uint_eq(r.total.users, 6);
	ck_assert_uint_eq(r.total.errors, 1);
	ck_assert_uint_eq(r.total.used_bytes, 6250 + 1900 + 10);
	ck_assert_uint_eq(r.nerrors, 1);
	ck_assert_str_eq(r.errors[0]->address, "y@two.test");
	/* Top 2 by bytes: c (5000), x (1900). */
	ck_assert_uint_eq(r.nlist, 2);
	ck_assert_str_eq(r.list[0]->address, "c@one.test");
	ck_assert_str_eq(r.list[1]->address, "x@two.test");
	/* Histogram: a 25 %, b 100 %, x 95 %, hostile 10 %; c unlimited. */
	ck_assert_uint_eq(r.histogram[1], 1);
	ck_assert_uint_eq(r.histogram[2], 1);
	ck_assert_uint_eq(r.histogram[9], 1);
	ck_assert_uint_eq(r.histogram[10], 1);
	mq_report_free(&r);

	/* --over 90: the fullest first, no cap. */
	o.top = 0;
	o.over = true;
	o.over_percent = 90;
	mq_report_build(&r, estate, MQ_NELEM(estate), &o);
	ck_assert_uint_eq(r.nover, 2);
	ck_assert_uint_eq(r.nlist, 2);
	ck_assert_str_eq(r.list[0]->address, "b@one.test");
	ck_assert_str_eq(r.list[1]->address, "x@two.test");
	mq_report_free(&r);

	/* Nothing at all. */
	mq_report_build(&r, estate, 0, &o);
	ck_assert_uint_eq(r.ndomains, 0);
	ck_assert_uint_eq(r.nlist, 0);
	mq_report_free(&r);
}
END_TEST

/* render - the report of estate in one format. */
static char *
render(enum mq_report_format fmt, const struct mq_report_opts *o)
{
	struct mq_report r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	mq_report_build(&r, estate, MQ_NELEM(estate), o);
	ck_assert_int_eq(mq_report_write(f, &r, fmt), 0);
	fclose(f);
	mq_report_free(&r);
	return buf;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_html_page)
{
	struct mq_report_opts o = { .top = 10, .generated = 1700000000, .seconds = 1.5 };
	char *page = render(MQ_REPORT_HTML, &o);

	ck_assert(strncmp(page, "<!DOCTYPE html>", 15) == 0);
	/* Self-contained: nothing that could make the browser fetch. */
	ck_assert_ptr_null(strstr(page, "http:"));
	ck_assert_ptr_null(strstr(page, "https:"));
	ck_assert_ptr_null(strstr(page, "//"));
	ck_assert_ptr_null(strstr(page, "url("));
	ck_assert_ptr_null(strstr(page, "@import"));
	ck_assert_ptr_null(strstr(page, "<script"));
	ck_assert_ptr_null(strstr(page, "<link"));
	ck_assert_ptr_null(strstr(page, "<img"));
	ck_assert_ptr_null(strstr(page, "<iframe"));
	ck_assert_ptr_null(strstr(page, "<object"));
	/* " src=" only inside the escaped address text. */
	ck_assert_uint_eq(count(page, " src="), 1);
	ck_assert_ptr_null(strstr(page, "href="));
	/* The hostile address is text. */
	ck_assert_ptr_nonnull(strstr(page, "&lt;img src=x onerror=alert(1)&gt;@evil.test"));
	/* One bar per domain, the histogram, one row per listed mailbox. */
	ck_assert_uint_eq(count(page, "<svg class=\"bar\""), 3);
	ck_assert_uint_eq(count(page, "<svg class=\"histogram\""), 1);
	ck_assert_uint_eq(count(page, "<rect class=\"bucket"), MQ_REPORT_BUCKETS);
	ck_assert_uint_eq(count(page, "<tr class=\"mailbox\">"), 5);
	ck_assert_uint_eq(count(page, "<tr class=\"domain\">"), 3);
	ck_assert_ptr_nonnull(strstr(page, "2023-11-14 22:13:20 UTC"));
	ck_assert_ptr_nonnull(strstr(page, "</html>\n"));
	free(page);
}
END_TEST

#define CSV_HEADER "type,name,users,quota_bytes,used_bytes,use_percent," \
	"over_quota,messages,message_limit,errors\r\n"

START_TEST(test_csv_report)
{
	struct mq_report_opts o = { .top = 10, .seconds = -1 };
	char *csv = render(MQ_REPORT_CSV, &o);

	/* Header, 3 domains, the total, 5 mailboxes, 1 error. */
	ck_assert_uint_eq(count(csv, "\r\n"), 1 + 3 + 1 + 5 + 1);
	ck_assert(strncmp(csv, CSV_HEADER, strlen(CSV_HEADER)) == 0);
	ck_assert_ptr_nonnull(strstr(csv, "\r\ndomain,one.test,3,2000,6250,62.5,1,14,,0\r\n"));
	ck_assert_ptr_nonnull(strstr(csv, "\r\ntotal,,6,"));
	ck_assert_ptr_nonnull(strstr(csv, "\r\nmailbox,c@one.test,,0,5000,,0,9,0,\r\n"));
	ck_assert_ptr_nonnull(strstr(csv, "\r\nmailbox,b@one.test,,1000,1000,100.0,1,4,0,\r\n"));
	ck_assert_ptr_nonnull(strstr(csv, "\r\nerror,y@two.test,,,,,,,,maildirsize is a symlink\r\n"));
	free(csv);
}
END_TEST

START_TEST(test_json_report)
{
	struct mq_report_opts o = { .top = 1, .over = true, .over_percent = 90,
	    .seconds = -1 };
	char *json = render(MQ_REPORT_JSON, &o);

	ck_assert_ptr_nonnull(strstr(json, "\"over_percent\": 90,"));
	ck_assert_ptr_nonnull(strstr(json, "\"over_count\": 2,"));
	ck_assert_uint_eq(count(json, "{\"address\": \"b@one.test\""), 1);
	ck_assert_uint_eq(count(json, "{\"address\": \"x@two.test\""), 0);	/* capped */
	ck_assert_ptr_nonnull(strstr(json, "\n  \"over\": ["));
	ck_assert_ptr_null(strstr(json, "\"top\""));
	ck_assert_ptr_null(strstr(json, "\"generated\""));
	ck_assert_ptr_null(strstr(json, "\"scan_seconds\""));
	ck_assert_ptr_nonnull(strstr(json, "{\"address\": \"y@two.test\", \"error\": \"maildirsize is a symlink\"}"));
	free(json);
}
END_TEST

START_TEST(test_table_report)
{
	struct mq_report_opts o = { .top = 10, .raw_bytes = true, .seconds = -1 };
	char *t = render(MQ_REPORT_TABLE, &o);

	ck_assert(strncmp(t, "DOMAIN ", 7) == 0);
	ck_assert_ptr_nonnull(strstr(t, "\nTOTAL "));
	ck_assert_ptr_nonnull(strstr(t, "Top 5 mailboxes by usage\n"));
	ck_assert_ptr_nonnull(strstr(t, " 6250 "));	/* raw bytes */
	ck_assert_ptr_nonnull(strstr(t, "y@two.test: maildirsize is a symlink\n"));
	free(t);
	o.raw_bytes = false;
	t = render(MQ_REPORT_TABLE, &o);
	ck_assert_ptr_nonnull(strstr(t, "6.1 KiB"));
	ck_assert_ptr_nonnull(strstr(t, "unlimited"));
	free(t);
}
END_TEST

static Suite *
report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_csv, 0, (int)MQ_NELEM(csv_rows));
	tcase_add_loop_test(tc, test_json, 0, (int)MQ_NELEM(json_rows));
	tcase_add_loop_test(tc, test_html, 0, (int)MQ_NELEM(html_rows));
	tcase_add_loop_test(tc, test_human, 0, (int)MQ_NELEM(human_rows));
	tcase_add_loop_test(tc, test_percent, 0, (int)MQ_NELEM(pct_rows));
	tcase_add_test(tc, test_bucket);
	tcase_add_test(tc, test_format_parse);
	tcase_add_test(tc, test_build);
	tcase_add_test(tc, test_html_page);
	tcase_add_test(tc, test_csv_report);
	tcase_add_test(tc, test_json_report);
	tcase_add_test(tc, test_table_report);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(report_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
