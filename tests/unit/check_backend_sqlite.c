/* SPDX-License-Identifier: MIT */
/*
 * check_backend_sqlite - the SQLite driver on a real database file: single
 * queries, a batch in one read transaction (rows to the right query, each
 * result its own), a batch against a locked database (a temporary failure
 * that leaves the connection usable), a slow query abandoned at
 * query_timeout, and statement parameters that stay data.
 */
#include "autoconf.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

static char dir[] = "/tmp/mq-check-sqlite-XXXXXX";
static char path[sizeof(dir) + 16];
static char *queries[MQ_Q_COUNT];
static struct mq_config cfg;
static struct mq_backend_conn conn;

static void
exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
	    "%s: %s", sql, err != NULL ? err : "?");
}

static void
setup(void)
{
	char error[256];
	sqlite3 *db;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mail.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "CREATE TABLE domains (name TEXT, enabled INTEGER);"
	    "CREATE TABLE users (email TEXT, quota INTEGER);"
	    "CREATE TABLE aliases (source TEXT, destination TEXT);"
	    "INSERT INTO domains VALUES ('example.org', 1);"
	    "INSERT INTO users VALUES ('ann@example.org', 1000);"
	    "INSERT INTO aliases VALUES ('team@example.org', 'ann@example.org');"
	    "INSERT INTO aliases VALUES ('team@example.org', 'bob@example.org');");
	sqlite3_close(db);

	queries[MQ_Q_DOMAIN] = "SELECT enabled FROM domains WHERE name = '%d'";
	queries[MQ_Q_USER] = "SELECT quota FROM users WHERE email = '%s'";
	queries[MQ_Q_ALIAS] = "SELECT destination FROM aliases "
	    "WHERE source = '%s' ORDER BY destination";
	cfg.db.driver = MQ_DRIVER_SQLITE;
	cfg.db.path = path;
	cfg.db.query_timeout = 1;
	memcpy(cfg.queries, queries, sizeof(queries));
	ck_assert_msg(mq_backend_open(&conn, &cfg, error, sizeof(error)) == MQ_FOUND,
	    "%s", error);
}

static void
teardown(void)
{
	char p[sizeof(path) + 16];

	mq_backend_close(&conn);
	unlink(path);
	snprintf(p, sizeof(p), "%s-journal", path);
	unlink(p);
	rmdir(dir);
	memcpy(dir + sizeof(dir) - 7, "XXXXXX", 6);
}

/* Rows of one query, joined: "v1|v2|..." */
struct rows {
	char text[256];
	int calls;
};

static int
collect(void *ctx, size_t ncols, const char *const *names,
    const char *const *values)
{
	struct rows *r = ctx;
	size_t n = strlen(r->text);

	(void)names;
	ck_assert_uint_eq(ncols, 1);
	snprintf(r->text + n, sizeof(r->text) - n, "%s%s", n > 0 ? "|" : "",
	    values[0] != NULL ? values[0] : "NULL");
	r->calls++;
	return 0;
}

static struct mq_key
key_of(const char *address)
{
	const char *at = strchr(address, '@');
	static char local[64];

	snprintf(local, sizeof(local), "%.*s", (int)(at - address), address);
	return (struct mq_key){ .address = address, .local = local,
	    .domain = at + 1 };
}

START_TEST(test_single_queries)
{
	struct mq_key k = key_of("ann@example.org");
	struct rows r = { "", 0 };
	char error[256];

	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_USER, &k, collect, &r,
	    error, sizeof(error)), MQ_FOUND);
	ck_assert_str_eq(r.text, "1000");
	memset(&r, 0, sizeof(r));
	k = key_of("nobody@example.org");
	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_USER, &k, collect, &r,
	    error, sizeof(error)), MQ_NOTFOUND);
	ck_assert_int_eq(r.calls, 0);
}
END_TEST

START_TEST(test_batch)
{
	const enum mq_query_kind kinds[] = { MQ_Q_DOMAIN, MQ_Q_ALIAS, MQ_Q_USER,
	    MQ_Q_USER };
	struct mq_key keys[4];
	struct rows rows[4];
	void *ctxs[4];
	int results[4];
	char error[256];

	memset(rows, 0, sizeof(rows));
	keys[0] = key_of("team@example.org");
	keys[1] = key_of("team@example.org");
	keys[2] = key_of("team@example.org");
	keys[3] = (struct mq_key){ .address = "ann@example.org", .local = "ann",
	    .domain = "example.org" };
	for (int i = 0; i < 4; i++)
		ctxs[i] = &rows[i];
	/* Twice: the second batch runs on the same connection after COMMIT. */
	for (int round = 0; round < 2; round++) {
		memset(rows, 0, sizeof(rows));
		ck_assert_int_eq(mq_backend_query_batch(&conn, 4, kinds, keys,
		    collect, ctxs, results, error, sizeof(error)), MQ_FOUND);
		ck_assert_int_eq(results[0], MQ_FOUND);
		ck_assert_str_eq(rows[0].text, "1");
		ck_assert_int_eq(results[1], MQ_FOUND);
		ck_assert_str_eq(rows[1].text, "ann@example.org|bob@example.org");
		ck_assert_int_eq(results[2], MQ_NOTFOUND);
		ck_assert_int_eq(rows[2].calls, 0);
		ck_assert_int_eq(results[3], MQ_FOUND);
		ck_assert_str_eq(rows[3].text, "1000");
	}
}
END_TEST

START_TEST(test_batch_locked)
{
	const enum mq_query_kind kinds[] = { MQ_Q_DOMAIN, MQ_Q_USER };
	struct mq_key keys[2];
	struct rows rows[2];
	void *ctxs[2] = { &rows[0], &rows[1] };
	int results[2];
	char error[256] = "";
	sqlite3 *writer;

	memset(rows, 0, sizeof(rows));
	keys[0] = key_of("ann@example.org");
	keys[1] = keys[0];
	ck_assert_int_eq(sqlite3_open(path, &writer), SQLITE_OK);
	exec_sql(writer, "BEGIN EXCLUSIVE");
	/* Waits query_timeout (1 s) for the lock, then gives up. */
	ck_assert_int_eq(mq_backend_query_batch(&conn, 2, kinds, keys, collect,
	    ctxs, results, error, sizeof(error)), MQ_TEMPFAIL);
	ck_assert_msg(strstr(error, "locked") != NULL, "error: %s", error);
	exec_sql(writer, "ROLLBACK");
	sqlite3_close(writer);

	memset(rows, 0, sizeof(rows));
	ck_assert_int_eq(mq_backend_query_batch(&conn, 2, kinds, keys, collect,
	    ctxs, results, error, sizeof(error)), MQ_FOUND);
	ck_assert_int_eq(results[1], MQ_FOUND);
	ck_assert_str_eq(rows[1].text, "1000");
}
END_TEST

/*
 * A query that runs past query_timeout is abandoned (the progress handler),
 * not waited for, and the connection answers the next query.
 */
START_TEST(test_slow_query_abandoned)
{
	struct mq_key k = key_of("ann@example.org");
	struct rows r = { "", 0 };
	struct timespec t0, t1;
	char error[256] = "";
	double took;

	mq_backend_close(&conn);
	/* some ten seconds of work for SQLite on a fast machine */
	cfg.queries[MQ_Q_USER] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	    "SELECT x + 1 FROM c WHERE x < 5000000000) "
	    "SELECT count(*) FROM c WHERE '%s' <> ''";
	ck_assert_msg(mq_backend_open(&conn, &cfg, error, sizeof(error)) == MQ_FOUND,
	    "%s", error);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_USER, &k, collect, &r,
	    error, sizeof(error)), MQ_TEMPFAIL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(took >= 0.9 && took < 3.0, "took %.2f s (query_timeout 1 s)", took);
	ck_assert_msg(strstr(error, "query_timeout") != NULL, "error: %s", error);
	ck_assert_int_eq(r.calls, 0);
	/* the same connection still answers */
	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_DOMAIN, &k, collect, &r,
	    error, sizeof(error)), MQ_FOUND);
	ck_assert_str_eq(r.text, "1");
	cfg.queries[MQ_Q_USER] = queries[MQ_Q_USER];
}
END_TEST

START_TEST(test_parameters_stay_data)
{
	static const char *const hostile[] = {
		"x' OR '1'='1@example.org",
		"ann@example.org'; DROP TABLE users; --",
		"\"ann@example.org\"",
	};
	struct mq_key k = key_of(hostile[_i]);
	struct rows r = { "", 0 };
	char error[256];

	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_USER, &k, collect, &r,
	    error, sizeof(error)), MQ_NOTFOUND);
	k = key_of("ann@example.org");
	ck_assert_int_eq(mq_backend_query(&conn, MQ_Q_USER, &k, collect, &r,
	    error, sizeof(error)), MQ_FOUND);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("backend_sqlite");
	TCase *tc = tcase_create("sqlite");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_single_queries);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_locked);
	tcase_add_test(tc, test_slow_query_abandoned);
	tcase_add_loop_test(tc, test_parameters_stay_data, 0, 3);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
