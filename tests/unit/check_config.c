/* SPDX-License-Identifier: MIT */
/*
 * check_config - the configuration loader: tests/data/conf/valid.conf sets
 * every key and each field is checked; the sample conf/mailquota.conf
 * loads and gives the documented defaults; the schema presets and their
 * overrides; password_file; and one tests/data/conf/NAME_neg.conf per
 * validation rule, each of which must fail with a message naming the file,
 * the key and (where the file set the key) its line.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define DATA SRCDIR "/tests/data/conf/"

/* Scratch files for the cases that need a path only known at run time. */
static char tmpdir[64];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* write_file - tmpdir/name with text; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[4][256];
	static int slot;
	char *p = path[slot++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return p;
}

static struct mq_config *
load_ok(const char *path)
{
	struct mq_config *cfg = NULL;
	char *error = NULL;

	ck_assert_msg(mq_config_load(path, &cfg, &error) == 0, "%s: %s", path,
	    error);
	ck_assert_ptr_null(error);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* load_fail - must fail; returns the message (caller frees). */
static char *
load_fail(const char *path)
{
	struct mq_config *cfg = NULL;
	char *error = NULL;

	ck_assert_msg(mq_config_load(path, &cfg, &error) == -1,
	    "%s loaded", path);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(strchr(error, '\n'));
	return error;
}

START_TEST(test_valid)
{
	struct mq_config *cfg = load_ok(DATA "valid.conf");

	ck_assert_str_eq(cfg->file, DATA "valid.conf");

	ck_assert_int_eq(cfg->db.driver, MQ_DRIVER_SQLITE);
	ck_assert_str_eq(cfg->db.path, "/srv/mail/users#1.db");
	ck_assert_uint_eq(cfg->db.nhosts, 2);
	ck_assert_str_eq(cfg->db.hosts[0], "db1.example.org");
	ck_assert_str_eq(cfg->db.hosts[1], "unix:/run/mysqld/mysqld.sock");
	ck_assert_uint_eq(cfg->db.port, 3307);
	ck_assert_str_eq(cfg->db.name, "mail");
	ck_assert_str_eq(cfg->db.user, "quota");
	ck_assert_str_eq(cfg->db.password, "s3cret");
	ck_assert_int_eq(cfg->db.connect_timeout, 3);
	ck_assert_int_eq(cfg->db.query_timeout, 7);
	ck_assert_int_eq(cfg->db.connections, 8);

	ck_assert_int_eq(cfg->schema, MQ_SCHEMA_POSTFIXADMIN);
	/* explicit user query, presets for the rest, alias_domain "" = unset */
	ck_assert_str_eq(cfg->queries[MQ_Q_USER], "SELECT quota, active AS "
	    "enabled FROM mailbox WHERE username = '%s'");
	ck_assert_ptr_nonnull(strstr(cfg->queries[MQ_Q_ALIAS], "FROM alias"));
	ck_assert_ptr_nonnull(strstr(cfg->queries[MQ_Q_USAGE], "FROM quota2"));
	ck_assert_ptr_null(cfg->queries[MQ_Q_ALIAS_DOMAIN]);

	ck_assert_str_eq(cfg->maildir.base, "/srv/vmail");
	ck_assert_str_eq(cfg->maildir.path, "%d/%u/Maildir");
	ck_assert(!cfg->maildir.recalc);
	ck_assert_uint_eq(cfg->maildir.nignore, 2);
	ck_assert_str_eq(cfg->maildir.ignore[0], "Trash");
	ck_assert_str_eq(cfg->maildir.ignore[1], "Junk");

	ck_assert_int_eq(cfg->quota.usage, MQ_USAGE_BOTH);
	ck_assert_uint_eq(cfg->quota.grace_bytes, 0);
	ck_assert_uint_eq(cfg->quota.grace_percent, 10);
	ck_assert_int_eq(cfg->quota.usage_ttl, 30);

	ck_assert_uint_eq(cfg->policy.nlisten, 5);
	ck_assert_int_eq(cfg->policy.listen[0].kind, MQ_LISTEN_INET);
	ck_assert_str_eq(cfg->policy.listen[0].host, "127.0.0.1");
	ck_assert_str_eq(cfg->policy.listen[0].port, "10031");
	ck_assert_str_eq(cfg->policy.listen[0].spec, "inet:127.0.0.1:10031");
	ck_assert_int_eq(cfg->policy.listen[1].kind, MQ_LISTEN_INET);
	ck_assert_str_eq(cfg->policy.listen[1].host, "::1");
	ck_assert_str_eq(cfg->policy.listen[1].port, "10032");
	ck_assert_str_eq(cfg->policy.listen[2].host, "*");
	ck_assert_str_eq(cfg->policy.listen[2].port, "10033");
	ck_assert_int_eq(cfg->policy.listen[3].kind, MQ_LISTEN_UNIX);
	ck_assert_str_eq(cfg->policy.listen[3].path, "/run/mailquota/policy.sock");
	ck_assert_uint_eq(cfg->policy.listen[3].mode, 0666);
	ck_assert_int_eq(cfg->policy.listen[4].kind, MQ_LISTEN_UNIX);
	ck_assert_str_eq(cfg->policy.listen[4].path, "/run/mailquota/p2.sock");
	ck_assert_uint_eq(cfg->policy.listen[4].mode, 0660);
	ck_assert_str_eq(cfg->policy.listen[4].spec,
	    "unix:/run/mailquota/p2.sock:0660");
	ck_assert_str_eq(cfg->policy.user, "vmail");
	ck_assert_str_eq(cfg->policy.recipient_delimiter, "+-");
	ck_assert_int_eq(cfg->policy.alias_overquota, MQ_ALIAS_ANY);
	ck_assert_int_eq(cfg->policy.cache_ttl, 120);
	ck_assert_int_eq(cfg->policy.negative_cache_ttl, 0);
	ck_assert_int_eq(cfg->policy.stale_ttl, 600);
	ck_assert_int_eq(cfg->policy.max_connections, 50);
	ck_assert_int_eq(cfg->policy.idle_timeout, 60);
	ck_assert_uint_eq(cfg->policy.max_request_size, 4096);
	ck_assert_str_eq(cfg->policy.reply_success, "dunno");
	ck_assert_str_eq(cfg->policy.reply_nouser, "550 5.1.1 User unknown");
	ck_assert_str_eq(cfg->policy.reply_disabled,
	    "550 5.2.1 Mailbox of %{user} disabled");
	ck_assert_str_eq(cfg->policy.reply_overquota,
	    "452 4.2.2 Mailbox is full (%{percent}%)");
	ck_assert_str_eq(cfg->policy.reply_toolarge,
	    "552 5.2.3 Message larger than the mailbox quota");
	ck_assert_str_eq(cfg->policy.reply_tempfail,
	    "DEFER_IF_PERMIT Temporary lookup failure");
	ck_assert_int_eq(cfg->policy.on_error, MQ_ON_ERROR_PASS);
	ck_assert(cfg->policy.dry_run);
	ck_assert_str_eq(cfg->policy.metrics, "inet:[::1]:9131");
	ck_assert_int_eq(cfg->policy.workers, 8);

	ck_assert_uint_eq(cfg->warn.nthresholds, 3);
	ck_assert_uint_eq(cfg->warn.thresholds[0], 50);
	ck_assert_uint_eq(cfg->warn.thresholds[1], 90);
	ck_assert_uint_eq(cfg->warn.thresholds[2], 100);
	ck_assert_str_eq(cfg->warn.from, "quota@example.org");
	ck_assert_str_eq(cfg->warn.sendmail, "/usr/lib/sendmail");
	ck_assert_int_eq(cfg->warn.delivery, MQ_DELIVERY_SMTP);
	ck_assert_str_eq(cfg->warn.smtp, "inet:192.0.2.25:2525");
	ck_assert_str_eq(cfg->warn.template_path, "/etc/mq/warning.txt");
	ck_assert_str_eq(cfg->warn.state, "/var/tmp/mq/warn.state");
	ck_assert_int_eq(cfg->warn.rearm, 10);
	ck_assert_int_eq(cfg->warn.renotify, 24);

	ck_assert_int_eq(cfg->log.facility, LOG_LOCAL3);
	ck_assert_int_eq(cfg->log.level, MQ_LOG_DEBUG);

	mq_config_free(&cfg);
	ck_assert_ptr_null(cfg);
	mq_config_free(&cfg);	/* harmless twice */
}
END_TEST

/* check_defaults - every default of SPEC.md. */
static void
check_defaults(const struct mq_config *cfg)
{
	ck_assert_int_eq(cfg->db.driver, MQ_DRIVER_SQLITE);
	ck_assert_str_eq(cfg->db.path, "/var/lib/mailquota/mail.db");
	ck_assert_uint_eq(cfg->db.nhosts, 1);
	ck_assert_str_eq(cfg->db.hosts[0], "localhost");
	ck_assert_uint_eq(cfg->db.port, 0);
	ck_assert_str_eq(cfg->db.name, "mailserver");
	ck_assert_str_eq(cfg->db.user, "mailuser");
	ck_assert_str_eq(cfg->db.password, "");
	ck_assert_int_eq(cfg->db.connect_timeout, 5);
	ck_assert_int_eq(cfg->db.query_timeout, 5);
	ck_assert_int_eq(cfg->db.connections, 4);
	ck_assert_int_eq(cfg->schema, MQ_SCHEMA_DEFAULT);
	ck_assert_str_eq(cfg->maildir.base, "/var/mail/vhosts");
	ck_assert_str_eq(cfg->maildir.path, "%d/%u");
	ck_assert(cfg->maildir.recalc);
	ck_assert_uint_eq(cfg->maildir.nignore, 0);
	ck_assert_int_eq(cfg->quota.usage, MQ_USAGE_MAILDIRSIZE);
	ck_assert_uint_eq(cfg->quota.grace_bytes, 0);
	ck_assert_uint_eq(cfg->quota.grace_percent, 0);
	ck_assert_int_eq(cfg->quota.usage_ttl, 5);
	ck_assert_uint_eq(cfg->policy.nlisten, 1);
	ck_assert_int_eq(cfg->policy.listen[0].kind, MQ_LISTEN_INET);
	ck_assert_str_eq(cfg->policy.listen[0].host, "127.0.0.1");
	ck_assert_str_eq(cfg->policy.listen[0].port, "10031");
	ck_assert_str_eq(cfg->policy.user, "");
	ck_assert_str_eq(cfg->policy.recipient_delimiter, "+");
	ck_assert_int_eq(cfg->policy.alias_overquota, MQ_ALIAS_ALL);
	ck_assert_int_eq(cfg->policy.cache_ttl, 60);
	ck_assert_int_eq(cfg->policy.negative_cache_ttl, 10);
	ck_assert_int_eq(cfg->policy.stale_ttl, 0);
	ck_assert_int_eq(cfg->policy.max_connections, 1000);
	ck_assert_int_eq(cfg->policy.idle_timeout, 300);
	ck_assert_uint_eq(cfg->policy.max_request_size, 102400);
	ck_assert_str_eq(cfg->policy.reply_success, "DUNNO");
	ck_assert_str_eq(cfg->policy.reply_nouser, "DUNNO");
	ck_assert_str_eq(cfg->policy.reply_disabled, "550 5.2.1 Mailbox disabled");
	ck_assert_str_eq(cfg->policy.reply_overquota, "552 5.2.2 Mailbox is full");
	/* empty reply_toolarge is reply_overquota */
	ck_assert_str_eq(cfg->policy.reply_toolarge, "552 5.2.2 Mailbox is full");
	ck_assert_str_eq(cfg->policy.reply_tempfail,
	    "451 4.3.0 Temporary lookup failure");
	ck_assert_int_eq(cfg->policy.on_error, MQ_ON_ERROR_TEMPFAIL);
	ck_assert(!cfg->policy.dry_run);
	ck_assert_str_eq(cfg->policy.metrics, "");
	ck_assert_int_eq(cfg->policy.workers, 4);
	ck_assert_uint_eq(cfg->warn.nthresholds, 3);
	ck_assert_uint_eq(cfg->warn.thresholds[0], 80);
	ck_assert_uint_eq(cfg->warn.thresholds[1], 95);
	ck_assert_uint_eq(cfg->warn.thresholds[2], 100);
	ck_assert_str_eq(cfg->warn.from, "postmaster@localhost");
	ck_assert_str_eq(cfg->warn.sendmail, "/usr/sbin/sendmail");
	ck_assert_int_eq(cfg->warn.delivery, MQ_DELIVERY_SENDMAIL);
	ck_assert_str_eq(cfg->warn.smtp, "inet:127.0.0.1:25");
	ck_assert_str_eq(cfg->warn.template_path,
	    SYSCONFDIR "/mailquota/warning.txt");
	ck_assert_str_eq(cfg->warn.state, "/var/lib/mailquota/warn/warn.state");
	ck_assert_int_eq(cfg->warn.rearm, 5);
	ck_assert_int_eq(cfg->warn.renotify, 0);
	ck_assert_int_eq(cfg->log.facility, LOG_MAIL);
	ck_assert_int_eq(cfg->log.level, MQ_LOG_INFO);
}

/* The shipped sample documents the defaults: loading it changes nothing. */
START_TEST(test_sample)
{
	struct mq_config *cfg = load_ok(SRCDIR "/conf/mailquota.conf");

	check_defaults(cfg);
	mq_config_free(&cfg);
}
END_TEST

START_TEST(test_empty_file)
{
	struct mq_config *cfg = load_ok(write_file("empty.conf", ""));

	check_defaults(cfg);
	mq_config_free(&cfg);
}
END_TEST

/*
 * Which lookups each schema configures, and the table each one reads. The
 * queries themselves are tested against the real schemas on MariaDB,
 * PostgreSQL and SQLite (tests/integ/schemas.py), not restated here.
 */
static const char *const default_presets[MQ_Q_COUNT] = {
	[MQ_Q_USER] = "FROM virtual_users u JOIN virtual_domains d",
	[MQ_Q_ALIAS] = "FROM virtual_aliases a JOIN virtual_domains d",
	[MQ_Q_DOMAIN] = "FROM virtual_domains",
	[MQ_Q_USERS] = "FROM virtual_users",
};

static const char *const pfa_presets[MQ_Q_COUNT] = {
	[MQ_Q_USER] = "FROM mailbox m JOIN domain d",
	[MQ_Q_ALIAS] = "FROM alias",
	[MQ_Q_DOMAIN] = "FROM domain",
	[MQ_Q_USERS] = "FROM mailbox",
	[MQ_Q_USAGE] = "FROM quota2",
	[MQ_Q_ALIAS_DOMAIN] = "FROM alias_domain",
};

static const char *const iredmail_presets[MQ_Q_COUNT] = {
	[MQ_Q_USER] = "FROM mailbox m JOIN domain d",
	[MQ_Q_ALIAS] = "FROM forwardings f JOIN domain d",
	[MQ_Q_DOMAIN] = "FROM domain",
	[MQ_Q_USERS] = "FROM mailbox",
	[MQ_Q_USAGE] = "FROM used_quota",
	[MQ_Q_ALIAS_DOMAIN] = "FROM alias_domain a JOIN domain d",
};

/* check_queries - each query set or unset as in want, containing want[k]. */
static void
check_queries(const struct mq_config *cfg, const char *const *want)
{
	int k;

	for (k = 0; k < MQ_Q_COUNT; k++) {
		if (want[k] == NULL)
			ck_assert_msg(cfg->queries[k] == NULL, "queries.%s set",
			    mq_query_kind_name(k));
		else {
			ck_assert_msg(cfg->queries[k] != NULL, "queries.%s unset",
			    mq_query_kind_name(k));
			ck_assert_msg(strstr(cfg->queries[k], want[k]) != NULL,
			    "queries.%s: \"%s\" lacks \"%s\"",
			    mq_query_kind_name(k), cfg->queries[k], want[k]);
		}
	}
}

START_TEST(test_presets)
{
	struct mq_config *cfg;
	const char *want[MQ_Q_COUNT];
	int k;

	cfg = load_ok(write_file("d.conf", "schema = \"default\"\n"));
	check_queries(cfg, default_presets);
	mq_config_free(&cfg);

	/* the schema may come after the queries section */
	cfg = load_ok(write_file("p.conf", "queries {\n}\n"
	    "schema = \"postfixadmin\"\n"));
	check_queries(cfg, pfa_presets);
	mq_config_free(&cfg);

	cfg = load_ok(write_file("i.conf", "schema = \"iredmail\"\n"));
	check_queries(cfg, iredmail_presets);
	mq_config_free(&cfg);

	/* explicit keys win; "" unsets an optional query */
	cfg = load_ok(write_file("o.conf", "schema = \"postfixadmin\"\n"
	    "queries {\n"
	    "    domain = \"SELECT 1 FROM domain WHERE domain = %d\"\n"
	    "    usage = \"\"\n"
	    "    alias = \"\"\n"
	    "}\n"));
	for (k = 0; k < MQ_Q_COUNT; k++)
		want[k] = pfa_presets[k];
	want[MQ_Q_DOMAIN] = "SELECT 1 FROM domain WHERE domain = %d";
	want[MQ_Q_USAGE] = NULL;
	want[MQ_Q_ALIAS] = NULL;
	check_queries(cfg, want);
	mq_config_free(&cfg);

	/* a usage query of one's own makes usage = "sql" possible */
	cfg = load_ok(write_file("u.conf", "queries {\n"
	    "    usage = \"SELECT bytes, messages FROM used WHERE email = '%s'\"\n"
	    "}\nquota {\n    usage = \"sql\"\n}\n"));
	ck_assert_int_eq(cfg->quota.usage, MQ_USAGE_SQL);
	ck_assert_ptr_nonnull(strstr(cfg->queries[MQ_Q_USER],
	    default_presets[MQ_Q_USER]));
	mq_config_free(&cfg);
}
END_TEST

START_TEST(test_password_file)
{
	struct mq_config *cfg;
	char conf[512];
	const char *secret, *path;
	char *error;

	secret = write_file("secret", "pa ss#word\n");
	snprintf(conf, sizeof(conf), "database {\n    password_file = \"%s\"\n}\n",
	    secret);
	cfg = load_ok(write_file("pw.conf", conf));
	ck_assert_str_eq(cfg->db.password, "pa ss#word");
	mq_config_free(&cfg);

	/* CRLF and no newline at all */
	write_file("secret", "crlf\r\n");
	cfg = load_ok(write_file("pw.conf", conf));
	ck_assert_str_eq(cfg->db.password, "crlf");
	mq_config_free(&cfg);
	write_file("secret", "bare");
	cfg = load_ok(write_file("pw.conf", conf));
	ck_assert_str_eq(cfg->db.password, "bare");
	mq_config_free(&cfg);

	/* unreadable: the message names the key and the line */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(secret, 0), 0);
		path = write_file("pw.conf", conf);
		error = load_fail(path);
		ck_assert_ptr_nonnull(strstr(error, ":2: database.password_file: "));
		free(error);
	}
	/* a directory is not a password file */
	snprintf(conf, sizeof(conf), "database {\n    password_file = \"%s\"\n}\n",
	    tmpdir);
	error = load_fail(write_file("pw.conf", conf));
	ck_assert_ptr_nonnull(strstr(error, ":2: database.password_file: "));
	free(error);
}
END_TEST

/* SIGHUP after the privilege drop: an unchanged password_file is not re-read. */
START_TEST(test_reload_keeps_secret)
{
	struct mq_config *cfg, *again;
	char conf[512], *error;
	const char *secret, *path;

	secret = write_file("secret2", "s3cret\n");
	snprintf(conf, sizeof(conf), "database {\n    password_file = \"%s\"\n}\n",
	    secret);
	path = write_file("reload.conf", conf);
	cfg = load_ok(path);
	ck_assert_str_eq(cfg->db.password_file, secret);

	/* Gone (as good as unreadable to a process that dropped root). */
	ck_assert_int_eq(unlink(secret), 0);
	ck_assert_int_eq(mq_config_reload(path, cfg, &again, &error), 0);
	ck_assert_str_eq(again->db.password, "s3cret");
	mq_config_free(&again);

	/* A different file must be read, and here cannot be. */
	snprintf(conf, sizeof(conf), "database {\n    password_file = \"%s.new\"\n}\n",
	    secret);
	path = write_file("reload.conf", conf);
	ck_assert_int_ne(mq_config_reload(path, cfg, &again, &error), 0);
	ck_assert_ptr_null(again);
	ck_assert_ptr_nonnull(strstr(error, "database.password_file: "));
	ck_assert_ptr_nonnull(strstr(error, "takes a restart"));
	free(error);
	mq_config_free(&cfg);
}
END_TEST

START_TEST(test_missing_file)
{
	char *error = load_fail("/nonexistent/mailquota.conf");

	ck_assert_ptr_nonnull(strstr(error, "/nonexistent/mailquota.conf: "));
	ck_assert_ptr_nonnull(strstr(error, "No such file"));
	free(error);
}
END_TEST

START_TEST(test_names)
{
	const char *p = mq_config_default_path();
	size_t n = strlen(p);

	ck_assert_uint_gt(n, 25);
	ck_assert_str_eq(p + n - 25, "/mailquota/mailquota.conf");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_USER), "user");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_ALIAS), "alias");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_DOMAIN), "domain");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_USERS), "users");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_USAGE), "usage");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_ALIAS_DOMAIN), "alias_domain");
	ck_assert_str_eq(mq_query_kind_name(MQ_Q_COUNT), "?");
}
END_TEST

/*
 * One file per rule: tests/data/conf/NAME_neg.conf must fail with
 * "PATH:LINE: KEY: ..." (or "PATH: KEY: ..." where line is 0: the key has
 * no line, e.g. an empty list).
 */
struct neg {
	const char *name;
	const char *key;
	int line;
	const char *explain;	/* when set, a part of the message after the key */
};

static const struct neg negs[] = {
	{ "driver", "database.driver", 3,
	  "\"oracle\" is not one of sqlite, mysql or pgsql" },
	{ "sqlite_path", "database.path", 4 },
#ifdef HAVE_MYSQL
	{ "hosts", "database.hosts", 0 },
#endif
#ifndef HAVE_PGSQL
	{ "driver_pgsql", "database.driver", 3 },
#endif
	{ "hosts_socket", "database.hosts", 3 },
	{ "password_both", "database.password_file", 4 },
	{ "password_file", "database.password_file", 3 },
	{ "port", "database.port", 3 },
	{ "port_type", "database.port", 3 },
	{ "connect_timeout", "database.connect_timeout", 3 },
	{ "query_timeout", "database.query_timeout", 3 },
	{ "connections", "database.connections", 3 },
	{ "schema", "schema", 2 },
	{ "query_escape", "queries.user", 3 },
	{ "query_quoted", "queries.alias", 3 },
	{ "query_noparam", "queries.domain", 3 },
	{ "query_users_param", "queries.users", 3 },
	{ "query_toomany", "queries.usage", 3 },
	{ "query_user_empty", "queries.user", 3 },
	{ "query_domain_empty", "queries.domain", 3 },
	{ "base_relative", "maildir.base", 3 },
	{ "base_root", "maildir.base", 3 },
	{ "path_absolute", "maildir.path", 3 },
	{ "path_dotdot", "maildir.path", 3 },
	{ "path_escape", "maildir.path", 3 },
	{ "ignore", "maildir.ignore", 3 },
	{ "recalc_type", "maildir.recalc", 3 },
	{ "usage", "quota.usage", 3 },
	{ "usage_sql", "quota.usage", 3 },
	{ "grace", "quota.grace", 3 },
	{ "grace_blank", "quota.grace", 3 },
	{ "grace_percent", "quota.grace", 3 },
	{ "usage_ttl", "quota.usage_ttl", 3 },
	{ "listen_empty", "policy.listen", 0 },
	{ "listen_host", "policy.listen", 3 },
	{ "listen_ipv6", "policy.listen", 3 },
	{ "listen_ipv6_bad", "policy.listen", 3 },
	{ "listen_port", "policy.listen", 3 },
	{ "listen_unix", "policy.listen", 3 },
	{ "listen_mode", "policy.listen", 3 },
	{ "listen_mode_octal", "policy.listen", 3 },
	{ "listen_scheme", "policy.listen", 3 },
	{ "user", "policy.user", 3 },
	{ "delimiter_at", "policy.recipient_delimiter", 3 },
	{ "delimiter_blank", "policy.recipient_delimiter", 3 },
	{ "delimiter_long", "policy.recipient_delimiter", 3 },
	{ "alias_overquota", "policy.alias_overquota", 3 },
	{ "cache_ttl", "policy.cache_ttl", 3 },
	{ "negative_cache_ttl", "policy.negative_cache_ttl", 3 },
	{ "stale_ttl", "policy.stale_ttl", 3 },
	{ "stale_ttl_negative", "policy.stale_ttl", 3 },
	{ "max_connections", "policy.max_connections", 3 },
	{ "idle_timeout", "policy.idle_timeout", 3 },
	{ "max_request_size", "policy.max_request_size", 3 },
	{ "reply_success", "policy.reply_success", 3 },
	{ "reply_nouser", "policy.reply_nouser", 3 },
	{ "reply_disabled", "policy.reply_disabled", 3 },
	{ "reply_overquota", "policy.reply_overquota", 3 },
	{ "reply_toolarge", "policy.reply_toolarge", 3 },
	{ "reply_tempfail", "policy.reply_tempfail", 3 },
	{ "reply_tempfail_permanent", "policy.reply_tempfail", 3 },
	{ "reply_tempfail_word", "policy.reply_tempfail", 3 },
	{ "reply_long", "policy.reply_overquota", 3 },
	{ "on_error", "policy.on_error", 3 },
	{ "metrics", "policy.metrics", 3 },
	{ "thresholds_range", "warn.thresholds", 3 },
	{ "thresholds_order", "warn.thresholds", 3 },
	{ "thresholds_empty", "warn.thresholds", 0 },
	{ "from", "warn.from", 3 },
	{ "from_empty", "warn.from", 3 },
	{ "sendmail", "warn.sendmail", 3 },
	{ "delivery", "warn.delivery", 3 },
	{ "smtp", "warn.smtp", 3 },
	{ "rearm", "warn.rearm", 3 },
	{ "renotify", "warn.renotify", 3 },
	{ "facility", "log.facility", 3 },
	{ "level", "log.level", 3 },
	{ "unknown_key", "policy.listen_address", 3 },
	{ "comments", "database.connections", 11 },
	{ "syntax", "schema", 3 },
};

/* reply_tempfail: every temporary form loads, every permanent one is refused. */
START_TEST(test_tempfail_temporary)
{
	static const char *const good[] = {
		"451 4.3.0 Temporary lookup failure", "450 4.2.0 later",
		"DEFER", "defer try later", "DEFER_IF_PERMIT", "Defer_If_Permit later",
	};
	static const char *const bad[] = {
		"550 5.3.0 Lookup failure", "552 5.2.2 Mailbox is full", "REJECT",
		"REJECT lookup failure", "DEFER_IF_REJECT later", "DUNNO",
		"DISCARD", "HOLD", "WARN lookup failure",
	};
	char text[256], *error;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mq_config *cfg;

		snprintf(text, sizeof(text), "policy {\n  reply_tempfail = \"%s\"\n}\n", good[i]);
		cfg = load_ok(write_file("tempfail.conf", text));
		ck_assert_str_eq(cfg->policy.reply_tempfail, good[i]);
		mq_config_free(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path;
		char want[512];

		snprintf(text, sizeof(text), "# line 1\npolicy {\n  reply_tempfail = \"%s\"\n}\n", bad[i]);
		path = write_file("tempfail.conf", text);
		error = load_fail(path);
		snprintf(want, sizeof(want), "%s:3: policy.reply_tempfail: ", path);
		ck_assert_msg(strncmp(error, want, strlen(want)) == 0 &&
		    strstr(error, "temporary") != NULL, "%s: got \"%s\"", bad[i], error);
		free(error);
	}
}
END_TEST

START_TEST(test_neg)
{
	const struct neg *n = &negs[_i];
	char path[512], want[640];
	char *error;

	snprintf(path, sizeof(path), DATA "%s_neg.conf", n->name);
	error = load_fail(path);
	if (n->line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s: ", path, n->line, n->key);
	else
		snprintf(want, sizeof(want), "%s: %s: ", path, n->key);
	ck_assert_msg(strncmp(error, want, strlen(want)) == 0,
	    "%s: got \"%s\", want \"%s...\"", n->name, error, want);
	ck_assert_msg(strlen(error) > strlen(want), "%s: no explanation",
	    n->name);
	ck_assert_msg(n->explain == NULL || strstr(error, n->explain) != NULL,
	    "%s: got \"%s\", want \"%s\" in it", n->name, error, n->explain);
	free(error);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_presets);
	tcase_add_test(tc, test_password_file);
	tcase_add_test(tc, test_reload_keeps_secret);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_tempfail_temporary);
	tcase_add_loop_test(tc, test_neg, 0, sizeof(negs) / sizeof(negs[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
