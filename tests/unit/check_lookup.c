/* SPDX-License-Identifier: MIT */
/*
 * check_lookup - text rows to typed records: the column contract, the
 * flag forms, optional columns, several rows, and the rule that a value
 * that does not parse is a temporary failure, never a record.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "util.h"

#define MAX_COLS 8

struct row {
	const char *names[MAX_COLS];
	const char *values[MAX_COLS];	/* "\1" stands for SQL NULL */
};

static char error[256];

/* lookup_rows - feed rows as a backend would; returns the lookup's result. */
static int
lookup_rows(enum mq_query_kind kind, const struct row *rows, size_t nrows,
    int backend_rc, const struct mq_record **rec_r)
{
	struct mq_lookup_rows c;

	error[0] = '\0';
	mq_lookup_rows_init(&c, kind, error, sizeof(error));
	for (size_t r = 0; r < nrows; r++) {
		const char *values[MAX_COLS];
		size_t n = 0;

		while (n < MAX_COLS && rows[r].names[n] != NULL) {
			values[n] = strcmp(rows[r].values[n], "\1") == 0 ?
			    NULL : rows[r].values[n];
			n++;
		}
		if (mq_lookup_row(&c, n, rows[r].names, values) != 0)
			break;	/* the callback asked for no more rows */
	}
	return mq_lookup_rows_finish(&c, backend_rc, rec_r);
}

START_TEST(test_user_columns)
{
	const struct row rows[] = { {
		{ "QUOTA", "messages", "Enabled", "maildir" },
		{ "1048576", "500", "t", "example.org/ann/" },
	} };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert(rec->u.user.has_quota_bytes);
	ck_assert_uint_eq(rec->u.user.quota_bytes, 1048576);
	ck_assert(rec->u.user.has_quota_messages);
	ck_assert_uint_eq(rec->u.user.quota_messages, 500);
	ck_assert(rec->u.user.enabled);
	ck_assert_str_eq(rec->u.user.maildir, "example.org/ann/");
	mq_record_unref(&rec);
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(test_user_optional_columns)
{
	/* No messages, enabled or maildir column; NULL quota: unlimited. */
	const struct row rows[] = { { { "quota" }, { "\1" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert(!rec->u.user.has_quota_bytes);
	ck_assert(!rec->u.user.has_quota_messages);
	ck_assert(rec->u.user.enabled);
	ck_assert_ptr_null(rec->u.user.maildir);
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_numeric_rendering)
{
	/* Drivers render integral NUMERIC columns as "1024.0". */
	const struct row rows[] = { { { "quota" }, { "1024.0" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert_uint_eq(rec->u.user.quota_bytes, 1024);
	mq_record_unref(&rec);
}
END_TEST

/* Values that must make the lookup a temporary failure, never a verdict. */
static const char *const bad_quotas[] = {
	"abc", "-1", "1.5", "1e9", " 5", "5 ", "", "18446744073709551616", "0x10",
};

START_TEST(test_bad_quota_is_tempfail)
{
	const struct row rows[] = { { { "quota", "enabled" }, { bad_quotas[_i], "1" } } };
	const struct mq_record *rec = (const struct mq_record *)&rows;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_TEMPFAIL);
	ck_assert_ptr_null(rec);
	ck_assert_msg(strstr(error, "column quota") != NULL, "error: %s", error);
	ck_assert_msg(strstr(error, "user query") != NULL, "error: %s", error);
}
END_TEST

/* The other columns of a user row: a value that does not parse fails the lookup too. */
static const struct row bad_user_rows[] = {
	{ { "quota", "messages", "enabled" }, { "100", "many", "1" } },
	{ { "quota", "messages", "enabled" }, { "100", "-5", "1" } },
	{ { "quota", "enabled" }, { "100", "maybe" } },
	{ { "quota", "enabled" }, { "100", "" } },
};

START_TEST(test_bad_user_column_is_tempfail)
{
	const struct mq_record *rec = NULL;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, &bad_user_rows[_i], 1, MQ_FOUND, &rec),
	    MQ_TEMPFAIL);
	ck_assert_ptr_null(rec);
	ck_assert_msg(strstr(error, "user query") != NULL, "error: %s", error);
}
END_TEST

START_TEST(test_error_text_is_sanitised)
{
	const struct row rows[] = { { { "quota" }, { "12\n\x1b[31mred" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_TEMPFAIL);
	ck_assert_ptr_null(strchr(error, '\n'));
	ck_assert_ptr_null(strchr(error, '\x1b'));
}
END_TEST

struct flag_row {
	const char *text;
	int rc;			/* MQ_FOUND or MQ_TEMPFAIL */
	bool enabled;
};

static const struct flag_row flag_rows[] = {
	{ "1", MQ_FOUND, true }, { "0", MQ_FOUND, false },
	{ "t", MQ_FOUND, true }, { "f", MQ_FOUND, false },
	{ "TRUE", MQ_FOUND, true }, { "False", MQ_FOUND, false },
	{ "yes", MQ_FOUND, true }, { "no", MQ_FOUND, false },
	{ "Y", MQ_FOUND, true }, { "N", MQ_FOUND, false },
	{ "on", MQ_FOUND, true }, { "off", MQ_FOUND, false },
	{ "\1", MQ_FOUND, false },	/* NULL: not known to be enabled */
	{ "2", MQ_TEMPFAIL, false }, { "", MQ_TEMPFAIL, false },
	{ "enabled", MQ_TEMPFAIL, false }, { "1 ", MQ_TEMPFAIL, false },
};

START_TEST(test_domain_flag)
{
	const struct flag_row *f = &flag_rows[_i];
	const struct row rows[] = { { { "enabled" }, { f->text } } };
	const struct mq_record *rec;

	ck_assert_msg(lookup_rows(MQ_Q_DOMAIN, rows, 1, MQ_FOUND, &rec) == f->rc,
	    "flag \"%s\"", f->text);
	if (f->rc == MQ_FOUND) {
		ck_assert_msg(rec->u.domain.enabled == f->enabled, "flag \"%s\"", f->text);
		mq_record_unref(&rec);
	}
}
END_TEST

START_TEST(test_domain_without_flag)
{
	const struct row rows[] = { { { "name" }, { "example.org" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_DOMAIN, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert(rec->u.domain.enabled);
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_no_rows)
{
	const struct mq_record *rec;

	for (int k = 0; k < MQ_Q_COUNT; k++) {
		ck_assert_int_eq(lookup_rows((enum mq_query_kind)k, NULL, 0, MQ_FOUND, &rec),
		    MQ_NOTFOUND);
		ck_assert_ptr_null(rec);
	}
	/* the backend's own failure wins over whatever rows came */
	ck_assert_int_eq(lookup_rows(MQ_Q_DOMAIN, NULL, 0, MQ_TEMPFAIL, &rec), MQ_TEMPFAIL);
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(test_alias_rows_and_lists)
{
	/* Several rows, each a list split on commas and blanks. */
	const struct row rows[] = {
		{ { "destination" }, { "a@example.org, b@example.org" } },
		{ { "destination" }, { " c@example.org\td@example.org,,e@example.org " } },
		{ { "destination" }, { "\1" } },
	};
	static const char *const want[] = {
		"a@example.org", "b@example.org", "c@example.org", "d@example.org",
		"e@example.org",
	};
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_ALIAS, rows, 3, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert_uint_eq(rec->u.alias.ndest, MQ_NELEM(want));
	for (size_t i = 0; i < MQ_NELEM(want); i++)
		ck_assert_str_eq(rec->u.alias.dest[i], want[i]);
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_alias_first_column)
{
	/* No column called destination: the first one is the list. */
	const struct row rows[] = { { { "goto", "address" }, { "x@example.org", "ignored" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_ALIAS, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert_uint_eq(rec->u.alias.ndest, 1);
	ck_assert_str_eq(rec->u.alias.dest[0], "x@example.org");
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_usage)
{
	const struct row rows[] = { { { "bytes", "messages" }, { "5368709120", "12" } } };
	const struct row bad[] = { { { "bytes", "messages" }, { "5", "many" } } };
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_USAGE, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert_uint_eq(rec->u.usage.bytes, UINT64_C(5368709120));
	ck_assert_uint_eq(rec->u.usage.messages, 12);
	mq_record_unref(&rec);
	ck_assert_int_eq(lookup_rows(MQ_Q_USAGE, bad, 1, MQ_FOUND, &rec), MQ_TEMPFAIL);
	ck_assert_msg(strstr(error, "column messages") != NULL, "error: %s", error);
}
END_TEST

START_TEST(test_alias_domain_null_target)
{
	/* A NULL or empty target is no target; the next row may have one. */
	const struct row rows[] = {
		{ { "target_domain" }, { "\1" } },
		{ { "target_domain" }, { "" } },
		{ { "target_domain" }, { "example.org" } },
	};
	const struct mq_record *rec;

	ck_assert_int_eq(lookup_rows(MQ_Q_ALIAS_DOMAIN, rows, 2, MQ_FOUND, &rec),
	    MQ_NOTFOUND);
	ck_assert_int_eq(lookup_rows(MQ_Q_ALIAS_DOMAIN, rows, 3, MQ_FOUND, &rec), MQ_FOUND);
	ck_assert_str_eq(rec->u.text.value, "example.org");
	mq_record_unref(&rec);
}
END_TEST

START_TEST(test_refcount)
{
	const struct row rows[] = { { { "quota" }, { "1" } } };
	const struct mq_record *rec, *second;

	ck_assert_int_eq(lookup_rows(MQ_Q_USER, rows, 1, MQ_FOUND, &rec), MQ_FOUND);
	second = mq_record_ref(rec);
	mq_record_unref(&rec);
	/* still alive through the second reference (ASan would see a free) */
	ck_assert_uint_eq(second->u.user.quota_bytes, 1);
	mq_record_unref(&second);
	mq_record_unref(&second);	/* NULL: nothing to do */
}
END_TEST

static Suite *
lookup_suite(void)
{
	Suite *s = suite_create("lookup");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_user_columns);
	tcase_add_test(tc, test_user_optional_columns);
	tcase_add_test(tc, test_numeric_rendering);
	tcase_add_loop_test(tc, test_bad_quota_is_tempfail, 0, (int)MQ_NELEM(bad_quotas));
	tcase_add_loop_test(tc, test_bad_user_column_is_tempfail, 0,
	    (int)MQ_NELEM(bad_user_rows));
	tcase_add_test(tc, test_error_text_is_sanitised);
	tcase_add_loop_test(tc, test_domain_flag, 0, (int)MQ_NELEM(flag_rows));
	tcase_add_test(tc, test_domain_without_flag);
	tcase_add_test(tc, test_no_rows);
	tcase_add_test(tc, test_alias_rows_and_lists);
	tcase_add_test(tc, test_alias_first_column);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_alias_domain_null_target);
	tcase_add_test(tc, test_refcount);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lookup_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
