/* SPDX-License-Identifier: MIT */
/*
 * check_engine - the whole decision through the engine's public calls, on
 * real Maildirs in a temporary directory, with a fake database driver put
 * in place by mq_backend_use: rows served from a table, every query
 * counted, and a switch that makes every query a temporary failure.
 */
#include "autoconf.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "config.h"
#include "engine.h"
#include "util.h"

/* --- the fake driver ------------------------------------------------- */

struct fake_row {
	enum mq_query_kind kind;
	const char *key;	/* the domain for MQ_Q_DOMAIN, else the address */
	const char *value;	/* quota, destinations, or the enabled flag */
};

static const struct fake_row fake_rows[] = {
	{ MQ_Q_DOMAIN, "example.org", "1" },
	{ MQ_Q_USER, "alice@example.org", "1000000" },
	{ MQ_Q_USER, "bob@example.org", "1000" },
	{ MQ_Q_USER, "broken@example.org", "abc" },	/* a quota that does not parse */
	{ MQ_Q_ALIAS, "team@example.org", "alice@example.org, bob@example.org" },
};

struct mq_backend {
	int unused;
};

static struct mq_backend fake_handle;
static unsigned fake_queries[MQ_Q_COUNT];
static bool fake_down;		/* every query fails, as with a server gone */

static struct mq_backend *
fake_open(const struct mq_db_config *db, char *const queries[MQ_Q_COUNT],
    char *error, size_t errlen)
{
	(void)db;
	(void)queries;
	(void)error;
	(void)errlen;
	return &fake_handle;
}

/* fake_query - the rows of the table for this query and key, as a driver hands them over. */
static int
fake_query(struct mq_backend *be, enum mq_query_kind kind,
    const struct mq_key *key, mq_row_fn *fn, void *ctx, char *error,
    size_t errlen)
{
	static const char *const user_cols[] = { "quota", "enabled", "address" };
	static const char *const alias_cols[] = { "destination" };
	static const char *const domain_cols[] = { "enabled" };
	const char *k = kind == MQ_Q_DOMAIN ? key->domain : key->address;
	int r = MQ_NOTFOUND;

	(void)be;
	fake_queries[kind]++;
	if (fake_down) {
		snprintf(error, errlen, "fake: the server has gone away");
		return MQ_TEMPFAIL;
	}
	for (size_t i = 0; i < MQ_NELEM(fake_rows); i++) {
		const struct fake_row *row = &fake_rows[i];

		if (row->kind != kind || strcmp(row->key, k) != 0)
			continue;
		r = MQ_FOUND;
		if (kind == MQ_Q_USER) {
			const char *v[] = { row->value, "1", row->key };

			if (fn(ctx, 3, user_cols, v) != 0)
				break;
		} else if (kind == MQ_Q_ALIAS) {
			const char *v[] = { row->value };

			if (fn(ctx, 1, alias_cols, v) != 0)
				break;
		} else {
			const char *v[] = { row->value };

			if (fn(ctx, 1, domain_cols, v) != 0)
				break;
		}
	}
	return r;
}

static void
fake_close(struct mq_backend *be)
{
	(void)be;
}

static const struct mq_backend_ops fake_driver = {
	.name = "fake",
	.style = MQ_SQL_QMARK,
	.open = fake_open,
	.query = fake_query,
	.close = fake_close,
};

static unsigned
queries_total(void)
{
	unsigned n = 0;

	for (size_t i = 0; i < MQ_Q_COUNT; i++)
		n += fake_queries[i];
	return n;
}

/* --- the estate: a configuration and Maildirs --------------------------- */

static char tmpdir[64];
static struct mq_config *cfg;
static struct mq_engine *engine;
static struct mq_session *session;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* maildir - base/example.org/LOCAL with cur/ new/ tmp/ and a maildirsize saying used of limit. */
static void
maildir(const char *local, uint64_t limit, uint64_t used)
{
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	char path[256], text[128];

	for (size_t i = 0; i < MQ_NELEM(subs); i++) {
		snprintf(path, sizeof(path), "%s/vmail/example.org/%s%s", tmpdir,
		    local, subs[i]);
		ck_assert_int_eq(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/vmail/example.org/%s/maildirsize",
	    tmpdir, local);
	snprintf(text, sizeof(text), "%lluS\n%llu 1\n", (unsigned long long)limit,
	    (unsigned long long)used);
	write_file(path, text);
}

/* start - a configuration (policy keys in extra) loaded as the daemon loads it, an engine, a session. */
static void
start(const char *extra)
{
	char path[256], text[1024];
	char *error = NULL;

	snprintf(path, sizeof(path), "%s/mailquota.conf", tmpdir);
	snprintf(text, sizeof(text),
	    "database {\n  driver = \"sqlite\"\n  path = \"%s/unused.db\"\n}\n"
	    "maildir {\n  base = \"%s/vmail\"\n}\n"
	    "policy {\n  cache_ttl = 600\n  negative_cache_ttl = 600\n%s}\n",
	    tmpdir, tmpdir, extra);
	write_file(path, text);
	ck_assert_msg(mq_config_load(path, &cfg, &error) == 0, "config: %s",
	    error != NULL ? error : "?");
	engine = mq_engine_new(cfg);
	session = mq_session_new(engine);
}

static void
setup(void)
{
	char path[256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_engine.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/vmail", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/vmail/example.org", tmpdir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	maildir("alice", 1000000, 1000);
	maildir("bob", 1000, 1000);
	memset(fake_queries, 0, sizeof(fake_queries));
	fake_down = false;
	mq_backend_use(&fake_driver);
}

static void
teardown(void)
{
	char cmd[128];

	mq_session_free(&session);
	mq_engine_free(&engine);
	mq_config_free(&cfg);
	mq_backend_use(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* rcpt_request - what smtpd asks at RCPT TO for rcpt with SIZE=size. */
static struct mq_check_request
rcpt_request(const char *rcpt, uint64_t size)
{
	return (struct mq_check_request){ .recipient = rcpt,
	    .recipient_len = strlen(rcpt), .size = size, .stage = MQ_STAGE_RCPT };
}

/* decide - that request through a session (a worker's path). */
static void
decide(const char *rcpt, uint64_t size, struct mq_verdict *v)
{
	struct mq_check_request req = rcpt_request(rcpt, size);

	mq_session_decide(session, &req, v);
}

/* --- the cases ------------------------------------------------------ */

/* One request each, with the replies' defaults (reply_nouser is DUNNO). */
static const struct {
	const char *rcpt;
	enum mq_outcome outcome;
	enum mq_how how;
	size_t nboxes;
	const char *action;
} answers[] = {
	/* under its quota */
	{ "alice@example.org", MQ_OUT_SUCCESS, MQ_HOW_MAILBOX, 1, "DUNNO" },
	/* full: the limit is reached */
	{ "bob@example.org", MQ_OUT_OVERQUOTA, MQ_HOW_MAILBOX, 1,
	    "552 5.2.2 Mailbox is full" },
	/* a domain of ours without that mailbox */
	{ "nobody@example.org", MQ_OUT_NOUSER, MQ_HOW_NOUSER, 0, "DUNNO" },
	/* a domain that is not ours passes */
	{ "someone@elsewhere.example", MQ_OUT_SUCCESS, MQ_HOW_NOTLOCAL, 0,
	    "DUNNO" },
};

START_TEST(test_answers)
{
	struct mq_verdict v = { 0 };

	start("");
	decide(answers[_i].rcpt, 100, &v);
	ck_assert_int_eq(v.outcome, answers[_i].outcome);
	ck_assert_int_eq(v.how, answers[_i].how);
	ck_assert_uint_eq(v.nboxes, answers[_i].nboxes);
	ck_assert_str_eq(v.action, answers[_i].action);
	mq_verdict_clear(&v);
}
END_TEST

/* A broken row (a quota of "abc") is a temporary failure, never a reject. */
START_TEST(test_broken_row_is_tempfail)
{
	struct mq_verdict v = { 0 };

	start("");
	decide("broken@example.org", 100, &v);
	ck_assert_int_eq(v.outcome, MQ_OUT_TEMPFAIL);
	ck_assert_str_eq(v.action, "451 4.3.0 Temporary lookup failure");
	ck_assert_msg(strstr(v.reason, "quota") != NULL, "reason: %s", v.reason);
	mq_verdict_clear(&v);
}
END_TEST

/* The figures behind a mailbox's answer: the row's quota, maildirsize's usage. */
START_TEST(test_mailbox_figures)
{
	struct mq_verdict v = { 0 };

	start("");
	decide("alice@example.org", 100, &v);
	ck_assert_uint_eq(v.nboxes, 1);
	ck_assert_str_eq(v.boxes[0].address, "alice@example.org");
	ck_assert_uint_eq(v.boxes[0].state.limit_bytes, 1000000);
	ck_assert_uint_eq(v.boxes[0].state.used_bytes, 1000);
	ck_assert_uint_gt(fake_queries[MQ_Q_USER], 0);
	mq_verdict_clear(&v);
}
END_TEST

START_TEST(test_foreign_domain_not_looked_up)
{
	struct mq_verdict v = { 0 };

	start("");
	decide("someone@elsewhere.example", 100, &v);
	ck_assert_uint_eq(fake_queries[MQ_Q_DOMAIN], 1);
	ck_assert_uint_eq(fake_queries[MQ_Q_USER], 0);
	ck_assert_uint_eq(fake_queries[MQ_Q_ALIAS], 0);
	mq_verdict_clear(&v);
}
END_TEST

/* An alias to alice (room) and bob (full): "all" passes, "any" rejects. */
START_TEST(test_alias_one_full)
{
	struct mq_verdict v = { 0 };

	start(_i == 0 ? "" : "  alias_overquota = \"any\"\n");
	decide("team@example.org", 100, &v);
	ck_assert_int_eq(v.how, MQ_HOW_ALIAS);
	ck_assert_uint_eq(v.nboxes, 2);
	if (_i == 0) {
		ck_assert_int_eq(v.outcome, MQ_OUT_SUCCESS);
		ck_assert_str_eq(v.action, "DUNNO");
	} else {
		ck_assert_int_eq(v.outcome, MQ_OUT_OVERQUOTA);
		ck_assert_uint_lt(v.decisive, v.nboxes);
		ck_assert_str_eq(v.boxes[v.decisive].address, "bob@example.org");
	}
	mq_verdict_clear(&v);
}
END_TEST

/*
 * The database failing is a temporary failure, never a reject (bob is
 * full), and nothing of it is cached; with on_error = pass the reply is
 * reply_success and the tempfail is kept as the reply withheld.
 */
START_TEST(test_backend_failure_is_tempfail)
{
	static const char *const tempfail = "451 4.3.0 Temporary lookup failure";
	struct mq_verdict v = { 0 };

	start(_i == 0 ? "" : "  on_error = \"pass\"\n");
	fake_down = true;
	decide("bob@example.org", 100, &v);
	ck_assert_int_eq(v.outcome, MQ_OUT_TEMPFAIL);
	ck_assert_uint_gt(queries_total(), 0);
	ck_assert(v.on_error_pass == (_i == 1));
	ck_assert_str_eq(v.action, _i == 0 ? tempfail : "DUNNO");
	ck_assert_str_eq(v.withheld, _i == 0 ? "" : tempfail);
	fake_down = false;
	decide("bob@example.org", 100, &v);
	ck_assert_int_eq(v.outcome, MQ_OUT_OVERQUOTA);
	mq_verdict_clear(&v);
}
END_TEST

/* The row cache: the same request again asks the database nothing. */
START_TEST(test_second_request_is_cached)
{
	struct mq_check_request req = rcpt_request("team@example.org", 100);
	struct mq_verdict v = { 0 };
	unsigned before;

	start("");
	decide("team@example.org", 100, &v);
	ck_assert_int_eq(v.outcome, MQ_OUT_SUCCESS);
	before = queries_total();
	ck_assert_uint_gt(before, 0);
	decide("team@example.org", 100, &v);
	ck_assert_int_eq(v.outcome, MQ_OUT_SUCCESS);
	ck_assert_uint_eq(queries_total(), before);
	/* the event loop's path answers it from the caches alone */
	ck_assert_int_eq(mq_engine_decide_cached(engine, &req, &v), 0);
	ck_assert(v.cached);
	ck_assert_int_eq(v.outcome, MQ_OUT_SUCCESS);
	ck_assert_uint_eq(queries_total(), before);
	mq_verdict_clear(&v);
}
END_TEST

/* Before any request the cache-only path has nothing and says so. */
START_TEST(test_cold_cache_is_a_miss)
{
	struct mq_check_request req = rcpt_request("alice@example.org", 100);
	struct mq_verdict v = { 0 };

	start("");
	ck_assert_int_eq(mq_engine_decide_cached(engine, &req, &v), MQ_MISS);
	ck_assert_uint_eq(queries_total(), 0);
	mq_verdict_clear(&v);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_answers, 0, (int)MQ_NELEM(answers));
	tcase_add_test(tc, test_broken_row_is_tempfail);
	tcase_add_test(tc, test_mailbox_figures);
	tcase_add_test(tc, test_foreign_domain_not_looked_up);
	tcase_add_loop_test(tc, test_alias_one_full, 0, 2);
	tcase_add_loop_test(tc, test_backend_failure_is_tempfail, 0, 2);
	tcase_add_test(tc, test_second_request_is_cached);
	tcase_add_test(tc, test_cold_cache_is_a_miss);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
