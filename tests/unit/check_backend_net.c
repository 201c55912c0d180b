/* SPDX-License-Identifier: MIT */
/*
 * check_backend_net - what the MariaDB and PostgreSQL drivers share: the
 * database.hosts syntax, failover order, the circuit breaker's back-off,
 * the UTF-8 check on keys and the cleaning of server messages. The
 * connect function is a stub, so no server is needed.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_net.h"
#include "log.h"

/* --- host syntax --- */

struct host_case {
	const char *spec;
	unsigned default_port;
	int ok;
	const char *host;	/* NULL: a socket */
	const char *socket;
	unsigned port;
};

static const struct host_case host_cases[] = {
	{ "db.example.org", 0, 1, "db.example.org", NULL, 0 },
	{ "db.example.org", 3307, 1, "db.example.org", NULL, 3307 },
	{ "db.example.org:5433", 3307, 1, "db.example.org", NULL, 5433 },
	{ "192.0.2.7:3306", 0, 1, "192.0.2.7", NULL, 3306 },
	{ "[2001:db8::7]:5432", 0, 1, "2001:db8::7", NULL, 5432 },
	{ "[2001:db8::7]", 6000, 1, "2001:db8::7", NULL, 6000 },
	{ "2001:db8::7", 6000, 1, "2001:db8::7", NULL, 6000 },
	{ "::1", 0, 1, "::1", NULL, 0 },
	{ "unix:/run/mysqld/mysqld.sock", 0, 1, NULL, "/run/mysqld/mysqld.sock", 0 },
	{ "unix:/run/postgresql", 5432, 1, NULL, "/run/postgresql", 5432 },
	{ "unix:relative/sock", 0, 0, NULL, NULL, 0 },
	{ "unix:", 0, 0, NULL, NULL, 0 },
	{ "", 0, 0, NULL, NULL, 0 },
	{ "db:0", 0, 0, NULL, NULL, 0 },
	{ "db:65536", 0, 0, NULL, NULL, 0 },
	{ "db:port", 0, 0, NULL, NULL, 0 },
	{ "db:", 0, 0, NULL, NULL, 0 },
	{ ":3306", 0, 0, NULL, NULL, 0 },
	{ "[2001:db8::7", 0, 0, NULL, NULL, 0 },
	{ "[]:5432", 0, 0, NULL, NULL, 0 },
	{ "[::1]x", 0, 0, NULL, NULL, 0 },
	{ "[::1]:", 0, 0, NULL, NULL, 0 },
};

START_TEST(test_host_syntax)
{
	const struct host_case *c = &host_cases[_i];
	char *list[1] = { (char *)c->spec };
	struct mq_db_config db = { .hosts = list, .nhosts = 1,
	    .port = c->default_port };
	struct mq_net_hosts hosts;
	char error[256] = "";
	int r;

	r = mq_net_hosts_parse(&db, "test", &hosts, error, sizeof(error));
	if (!c->ok) {
		ck_assert_msg(r < 0, "\"%s\" accepted", c->spec);
		ck_assert_msg(strstr(error, "database.hosts") != NULL,
		    "\"%s\": message \"%s\" does not name the key", c->spec, error);
		return;
	}
	ck_assert_msg(r == 0, "\"%s\" refused: %s", c->spec, error);
	ck_assert_uint_eq(hosts.n, 1);
	ck_assert_str_eq(hosts.v[0].spec, c->spec);
	if (c->host != NULL) {
		ck_assert_ptr_nonnull(hosts.v[0].host);
		ck_assert_str_eq(hosts.v[0].host, c->host);
		ck_assert_ptr_null(hosts.v[0].socket);
	} else {
		ck_assert_ptr_null(hosts.v[0].host);
		ck_assert_str_eq(hosts.v[0].socket, c->socket);
	}
	ck_assert_uint_eq(hosts.v[0].port, c->port);
	mq_net_hosts_free(&hosts);
}
END_TEST

START_TEST(test_host_list)
{
	char *list[2] = { "a.example", "b.example:1" };
	struct mq_db_config db = { .hosts = list, .nhosts = 2, .port = 99 };
	struct mq_db_config none = { .hosts = NULL, .nhosts = 0 };
	struct mq_db_config badport = { .hosts = list, .nhosts = 1, .port = 70000 };
	struct mq_net_hosts h1, h2, h3;
	char error[256];

	ck_assert_int_eq(mq_net_hosts_parse(&db, "test", &h1, error,
	    sizeof(error)), 0);
	ck_assert_uint_eq(h1.n, 2);
	ck_assert_str_eq(h1.v[1].host, "b.example");
	ck_assert_uint_eq(h1.v[1].port, 1);
	ck_assert_uint_eq(h1.v[0].port, 99);
	/* Every handle to one host shares its breaker; drivers do not. */
	ck_assert_int_eq(mq_net_hosts_parse(&db, "test", &h2, error,
	    sizeof(error)), 0);
	ck_assert_ptr_eq(h1.v[0].breaker, h2.v[0].breaker);
	ck_assert_ptr_ne(h1.v[0].breaker, h1.v[1].breaker);
	ck_assert_int_eq(mq_net_hosts_parse(&db, "other", &h3, error,
	    sizeof(error)), 0);
	ck_assert_ptr_ne(h1.v[0].breaker, h3.v[0].breaker);
	mq_net_hosts_free(&h1);
	mq_net_hosts_free(&h2);
	mq_net_hosts_free(&h3);
	ck_assert_ptr_null(h1.v);

	ck_assert_int_lt(mq_net_hosts_parse(&none, "test", &h1, error,
	    sizeof(error)), 0);
	ck_assert_int_lt(mq_net_hosts_parse(&badport, "test", &h1, error,
	    sizeof(error)), 0);
}
END_TEST

/* --- failover and the breaker, with a stub connect --- */

struct stub {
	int up[4];		/* per host: 1 connects, 0 fails */
	int calls[4];
};

static int
stub_connect(void *ctx, const struct mq_net_host *host, char *error,
    size_t errlen)
{
	struct stub *st = ctx;
	size_t i = (size_t)(host->host[0] - 'a');

	st->calls[i]++;
	if (st->up[i])
		return 0;
	snprintf(error, errlen, "Connection refused by %s", host->host);
	return -1;
}

static void
parse3(struct mq_net_hosts *hosts)
{
	char *list[3] = { "a", "b", "c" };
	struct mq_db_config db = { .hosts = list, .nhosts = 3 };
	char error[128];

	ck_assert_int_eq(mq_net_hosts_parse(&db, "test", hosts, error,
	    sizeof(error)), 0);
}

START_TEST(test_failover_order)
{
	struct stub st = { .up = { 0, 0, 1 } };
	struct mq_net_hosts hosts;
	char error[512];
	size_t idx = 99;

	parse3(&hosts);
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(st.calls[0], 1);
	ck_assert_int_eq(st.calls[1], 1);
	ck_assert_int_eq(st.calls[2], 1);
	/* During their back-off the dead hosts are skipped, not tried. */
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(st.calls[0], 1);
	ck_assert_int_eq(st.calls[1], 1);
	ck_assert_int_eq(st.calls[2], 2);
	mq_net_hosts_free(&hosts);
}
END_TEST

START_TEST(test_breaker)
{
	struct stub st = { .up = { 0, 0, 0 } };
	struct mq_net_hosts hosts;
	char error[512];
	size_t idx;

	parse3(&hosts);
	/* Everything down: every host tried once, each reason reported. */
	ck_assert_int_lt(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_msg(strstr(error, "Connection refused by a") != NULL &&
	    strstr(error, "Connection refused by c") != NULL, "%s", error);
	/* At once again: nothing tried, a fast answer with the delay. */
	ck_assert_int_lt(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_int_eq(st.calls[0] + st.calls[1] + st.calls[2], 3);
	ck_assert_msg(strstr(error, "database unavailable (retrying in 0.") != NULL,
	    "%s", error);
	ck_assert_msg(strstr(error, "Connection refused") != NULL,
	    "last reason missing: %s", error);

	/* After the first back-off (0.5 s) one probe per host; they fail. */
	usleep(600000);
	ck_assert_int_lt(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_int_eq(st.calls[0], 2);
	/* The delay doubled: 0.6 s later still closed to attempts. */
	usleep(600000);
	ck_assert_int_lt(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_int_eq(st.calls[0], 2);

	/* The server comes back: the next probe gets through and resets it. */
	usleep(500000);
	st.up[1] = 1;
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(st.calls[1], 3);
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_int_eq(st.calls[1], 4);
	mq_net_hosts_free(&hosts);
}
END_TEST

START_TEST(test_host_down_and_failback)
{
	struct stub st = { .up = { 1, 1, 1 } };
	struct mq_net_hosts hosts;
	uint64_t next = 0;
	char error[512];
	size_t idx = 99;

	parse3(&hosts);
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert(!mq_net_failback_due(&hosts, 0, &next));

	/* "a" refuses a query as not ready: the next connect goes to "b". */
	mq_net_host_down(&hosts, 0, "test", "not ready");
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, SIZE_MAX,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 1);
	ck_assert_int_eq(st.calls[0], 1);
	/* During the back-off no failback, and a limit of 1 tries nothing. */
	ck_assert(!mq_net_failback_due(&hosts, 1, &next));
	ck_assert_int_lt(mq_net_connect(&hosts, "test", stub_connect, &st, 1,
	    &idx, error, sizeof(error)), 0);
	ck_assert_int_eq(st.calls[0], 1);
	ck_assert_int_eq(st.calls[1], 1);

	/* After the back-off, and the once-a-second pace: due, and it works. */
	usleep(1100000);
	ck_assert(mq_net_failback_due(&hosts, 1, &next));
	ck_assert(!mq_net_failback_due(&hosts, 1, &next));	/* paced */
	ck_assert_int_eq(mq_net_connect(&hosts, "test", stub_connect, &st, 1,
	    &idx, error, sizeof(error)), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(st.calls[0], 2);
	ck_assert_int_eq(st.calls[1], 1);
	mq_net_hosts_free(&hosts);
}
END_TEST

START_TEST(test_lag_check_due)
{
	struct mq_net_setup setup;
	uint64_t next = 0;

	memset(&setup, 0, sizeof(setup));
	ck_assert(!mq_net_lag_check_due(&setup, &next));
	setup.max_replica_lag = 10;
	ck_assert(mq_net_lag_check_due(&setup, &next));
	ck_assert(!mq_net_lag_check_due(&setup, &next));
}
END_TEST

/* --- keys and messages --- */

struct utf8_case {
	const char *s;
	int valid;
};

static const struct utf8_case utf8_cases[] = {
	{ "alice@example.org", 1 },
	{ "", 1 },
	{ "j\xc3\xb6rg@example.org", 1 },		/* ö */
	{ "\xe2\x82\xac", 1 },				/* € */
	{ "\xf0\x9f\x98\x80@example.org", 1 },		/* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 1 },			/* U+10FFFF */
	{ "\xff@example.org", 0 },
	{ "\xc3", 0 },					/* cut short */
	{ "\xc3(", 0 },
	{ "\xc0\xaf", 0 },				/* overlong '/' */
	{ "\xe0\x80\xaf", 0 },				/* overlong '/' */
	{ "\xed\xa0\x80", 0 },				/* surrogate */
	{ "\xf4\x90\x80\x80", 0 },			/* > U+10FFFF */
	{ "\x80", 0 },
};

START_TEST(test_utf8)
{
	const struct utf8_case *c = &utf8_cases[_i];

	ck_assert_msg(mq_net_utf8_valid(c->s) == (c->valid != 0),
	    "case %d", _i);
}
END_TEST

START_TEST(test_key_ok)
{
	struct mq_sql sql = { .nparams = 2,
	    .params = { MQ_PARAM_ADDRESS, MQ_PARAM_DOMAIN } };
	struct mq_sql none = { .nparams = 0 };
	struct mq_key good = { "a@example.org", "a", "example.org" };
	struct mq_key bad = { "a@ex\xffmple.org", "a", "ex\xffmple.org" };
	struct mq_key badlocal = { "a@example.org", "\xff", "example.org" };

	ck_assert(mq_net_key_ok(&sql, &good));
	ck_assert(!mq_net_key_ok(&sql, &bad));
	/* Only the parts the query uses count. */
	ck_assert(mq_net_key_ok(&sql, &badlocal));
	ck_assert(mq_net_key_ok(&none, NULL));
	ck_assert(!mq_net_key_ok(&sql, NULL));
}
END_TEST

START_TEST(test_message)
{
	char out[128];

	mq_net_message(out, sizeof(out), "connection to server failed: "
	    "Connection refused\n\tIs the server running?\n");
	ck_assert_str_eq(out, "connection to server failed: Connection refused "
	    "Is the server running?");
	mq_net_message(out, sizeof(out), "  bad\x01" "byte \xc3\xa9\r\n");
	ck_assert_str_eq(out, "bad?byte ??");
	mq_net_message(out, 8, "0123456789");
	ck_assert_str_eq(out, "0123...");
	mq_net_message(out, 8, "0123456");
	ck_assert_str_eq(out, "0123456");
	mq_net_message(out, sizeof(out), NULL);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("backend_net");
	TCase *tc = tcase_create("hosts");
	TCase *tb = tcase_create("breaker");
	TCase *tk = tcase_create("keys");

	tcase_add_loop_test(tc, test_host_syntax, 0,
	    sizeof(host_cases) / sizeof(host_cases[0]));
	tcase_add_test(tc, test_host_list);
	suite_add_tcase(s, tc);
	tcase_add_test(tb, test_failover_order);
	tcase_add_test(tb, test_breaker);
	tcase_add_test(tb, test_host_down_and_failback);
	tcase_add_test(tb, test_lag_check_due);
	tcase_set_timeout(tb, 10);
	suite_add_tcase(s, tb);
	tcase_add_loop_test(tk, test_utf8, 0,
	    sizeof(utf8_cases) / sizeof(utf8_cases[0]));
	tcase_add_test(tk, test_key_ok);
	tcase_add_test(tk, test_message);
	suite_add_tcase(s, tk);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	/* The breaker logs its transitions; keep the test output quiet. */
	mq_log_open("check_backend_net", 0, MQ_LOG_ERR, true, false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
