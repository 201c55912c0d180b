/* SPDX-License-Identifier: MIT */
/*
 * check_sqltmpl - Postfix-style query templates to statement parameters:
 * both marker styles, quoted and bare placeholders, %%, the parameter
 * order, and every template that must be refused.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqltmpl.h"

#define A MQ_PARAM_ADDRESS
#define L MQ_PARAM_LOCAL
#define D MQ_PARAM_DOMAIN

struct good {
	const char *tmpl;
	enum mq_sql_style style;
	const char *text;
	size_t nparams;
	enum mq_sql_param params[4];
};

static const struct good goods[] = {
	/* the quotes around a whole placeholder go */
	{ "SELECT quota FROM u WHERE email = '%s'", MQ_SQL_QMARK,
	  "SELECT quota FROM u WHERE email = ?", 1, { A } },
	{ "SELECT quota FROM u WHERE email = '%s'", MQ_SQL_DOLLAR,
	  "SELECT quota FROM u WHERE email = $1", 1, { A } },
	/* bare placeholders */
	{ "SELECT 1 FROM d WHERE name = %d", MQ_SQL_QMARK,
	  "SELECT 1 FROM d WHERE name = ?", 1, { D } },
	{ "SELECT 1 FROM d WHERE name = %d", MQ_SQL_DOLLAR,
	  "SELECT 1 FROM d WHERE name = $1", 1, { D } },
	/* order is the order of appearance, repeats included */
	{ "SELECT x FROM t WHERE l = '%u' AND d = '%d' AND a = %s OR l2 = %u",
	  MQ_SQL_QMARK,
	  "SELECT x FROM t WHERE l = ? AND d = ? AND a = ? OR l2 = ?", 4,
	  { L, D, A, L } },
	{ "SELECT x FROM t WHERE l = '%u' AND d = '%d' AND a = %s OR l2 = %u",
	  MQ_SQL_DOLLAR,
	  "SELECT x FROM t WHERE l = $1 AND d = $2 AND a = $3 OR l2 = $4", 4,
	  { L, D, A, L } },
	/* %% is a literal percent, also inside quotes */
	{ "SELECT a FROM t WHERE b LIKE 'x%%' AND c = '%s'", MQ_SQL_QMARK,
	  "SELECT a FROM t WHERE b LIKE 'x%' AND c = ?", 1, { A } },
	{ "SELECT 100%%", MQ_SQL_DOLLAR, "SELECT 100%", 0, { A } },
	/* no placeholder at all */
	{ "SELECT email FROM virtual_users", MQ_SQL_QMARK,
	  "SELECT email FROM virtual_users", 0, { A } },
	/* other literals are left alone, doubled quotes included */
	{ "SELECT 'it''s', \"col\" FROM t WHERE a = '%s' AND b = 'y'",
	  MQ_SQL_QMARK,
	  "SELECT 'it''s', \"col\" FROM t WHERE a = ? AND b = 'y'", 1, { A } },
	/* '?' and '$1' inside a literal are text, not markers */
	{ "SELECT 'what?' FROM t WHERE a = %s", MQ_SQL_QMARK,
	  "SELECT 'what?' FROM t WHERE a = ?", 1, { A } },
	{ "SELECT '$1' FROM t WHERE a = %s", MQ_SQL_DOLLAR,
	  "SELECT '$1' FROM t WHERE a = $1", 1, { A } },
	/* a '?' outside quotes is harmless for PostgreSQL */
	{ "SELECT a ? 'k' FROM t WHERE b = %s", MQ_SQL_DOLLAR,
	  "SELECT a ? 'k' FROM t WHERE b = $1", 1, { A } },
	/* the preset queries */
	{ "SELECT goto AS destination FROM alias WHERE address = '%s' AND active",
	  MQ_SQL_DOLLAR,
	  "SELECT goto AS destination FROM alias WHERE address = $1 AND active",
	  1, { A } },
	{ "", MQ_SQL_QMARK, "", 0, { A } },
};

START_TEST(test_good)
{
	const struct good *g = &goods[_i];
	struct mq_sql sql;
	const char *why = NULL;
	size_t j;

	ck_assert_msg(mq_sql_translate(g->tmpl, g->style, &sql, &why) == 0,
	    "%s: %s", g->tmpl, why);
	ck_assert_str_eq(sql.text, g->text);
	ck_assert_uint_eq(sql.nparams, g->nparams);
	for (j = 0; j < g->nparams; j++)
		ck_assert_int_eq(sql.params[j], g->params[j]);
	mq_sql_free(&sql);
	ck_assert_ptr_null(sql.text);
	ck_assert_uint_eq(sql.nparams, 0);
}
END_TEST

struct bad {
	const char *tmpl;
	enum mq_sql_style style;
	const char *why;	/* part of the message */
};

static const struct bad bads[] = {
	{ "SELECT 1 WHERE a = '%x'", MQ_SQL_QMARK, "escape" },
	{ "SELECT 1 WHERE a = %1", MQ_SQL_DOLLAR, "escape" },
	{ "SELECT 1 WHERE a = %[1]", MQ_SQL_QMARK, "escape" },
	{ "SELECT 1 WHERE a = %S", MQ_SQL_QMARK, "escape" },
	{ "SELECT 1 WHERE a = %", MQ_SQL_QMARK, "escape" },
	/* a marker inside a longer literal would not be a parameter */
	{ "SELECT 1 WHERE a = '%u@%d'", MQ_SQL_QMARK, "quoted" },
	{ "SELECT 1 WHERE a LIKE '%%@%d'", MQ_SQL_DOLLAR, "quoted" },
	{ "SELECT 1 WHERE a = \"%s\"", MQ_SQL_QMARK, "quoted" },
	{ "SELECT 1 WHERE a = 'x''%s'", MQ_SQL_QMARK, "quoted" },
	{ "SELECT 1 WHERE a = '%s''x'", MQ_SQL_QMARK, "quoted" },
	/* the driver would count these as parameters */
	{ "SELECT 1 WHERE a = ? AND b = %s", MQ_SQL_QMARK, "?" },
	{ "SELECT 1 WHERE a = $1 AND b = %s", MQ_SQL_DOLLAR, "$N" },
	{ "SELECT 1 WHERE a = 'open", MQ_SQL_QMARK, "unterminated" },
	{ "%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s", MQ_SQL_QMARK,
	  "too many" },
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];
	struct mq_sql sql;
	const char *why = NULL;

	ck_assert_msg(mq_sql_translate(b->tmpl, b->style, &sql, &why) == -1,
	    "accepted: %s", b->tmpl);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, b->why) != NULL, "%s: \"%s\" lacks \"%s\"",
	    b->tmpl, why, b->why);
	ck_assert_ptr_null(sql.text);
	ck_assert_uint_eq(sql.nparams, 0);
}
END_TEST

/* Exactly MQ_SQL_MAX_PARAMS is fine, and "$16" is written in full. */
START_TEST(test_max_params)
{
	char tmpl[256] = "SELECT 1 WHERE";
	size_t i, len = strlen(tmpl);
	struct mq_sql sql;
	const char *why;

	for (i = 0; i < MQ_SQL_MAX_PARAMS; i++)
		len += (size_t)snprintf(tmpl + len, sizeof(tmpl) - len, "%s",
		    i % 2 ? " %d" : " %u");
	ck_assert_int_eq(mq_sql_translate(tmpl, MQ_SQL_DOLLAR, &sql, &why), 0);
	ck_assert_uint_eq(sql.nparams, MQ_SQL_MAX_PARAMS);
	ck_assert_ptr_nonnull(strstr(sql.text, " $9 $10 "));
	ck_assert_ptr_nonnull(strstr(sql.text, " $16"));
	ck_assert_int_eq(sql.params[0], MQ_PARAM_LOCAL);
	ck_assert_int_eq(sql.params[MQ_SQL_MAX_PARAMS - 1], MQ_PARAM_DOMAIN);
	mq_sql_free(&sql);

	snprintf(tmpl + len, sizeof(tmpl) - len, " %%s");
	ck_assert_int_eq(mq_sql_translate(tmpl, MQ_SQL_DOLLAR, &sql, &why), -1);
}
END_TEST

START_TEST(test_param_value)
{
	const struct mq_key key = { "anna+x@example.org", "anna+x", "example.org" };
	const struct mq_key empty = { NULL, NULL, NULL };

	ck_assert_str_eq(mq_sql_param_value(MQ_PARAM_ADDRESS, &key),
	    "anna+x@example.org");
	ck_assert_str_eq(mq_sql_param_value(MQ_PARAM_LOCAL, &key), "anna+x");
	ck_assert_str_eq(mq_sql_param_value(MQ_PARAM_DOMAIN, &key), "example.org");
	ck_assert_str_eq(mq_sql_param_value(MQ_PARAM_DOMAIN, &empty), "");
}
END_TEST

/* Translating then binding: the values line up with the markers. */
START_TEST(test_bind_order)
{
	const struct mq_key key = { "a@b.example", "a", "b.example" };
	struct mq_sql sql;
	const char *why;

	ck_assert_int_eq(mq_sql_translate(
	    "SELECT 1 WHERE d = '%d' AND u = '%u' AND s = '%s'",
	    MQ_SQL_DOLLAR, &sql, &why), 0);
	ck_assert_str_eq(mq_sql_param_value(sql.params[0], &key), "b.example");
	ck_assert_str_eq(mq_sql_param_value(sql.params[1], &key), "a");
	ck_assert_str_eq(mq_sql_param_value(sql.params[2], &key), "a@b.example");
	mq_sql_free(&sql);
}
END_TEST

static Suite *
sqltmpl_suite(void)
{
	Suite *s = suite_create("sqltmpl");
	TCase *tc = tcase_create("translate");

	tcase_add_loop_test(tc, test_good, 0, sizeof(goods) / sizeof(goods[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_max_params);
	tcase_add_test(tc, test_param_value);
	tcase_add_test(tc, test_bind_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sqltmpl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
