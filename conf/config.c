/* SPDX-License-Identifier: MIT */
/*
 * config - read mailquota.conf (libconfuse syntax) into struct mq_config.
 *
 * mq_config_load(path, &cfg, &error) reads the file once, lets libconfuse
 * parse it, copies every value out into a freshly allocated struct
 * mq_config, checks it, and frees the libconfuse tree. This is the only
 * file that includes confuse.h. The password_file is read here too, so a
 * program may drop privileges right after loading.
 *
 * Errors: -1 and *error_r = "FILE:LINE: KEY: what is wrong" (malloc'ed, the
 * caller frees it), KEY dotted as "database.port". A validate function on
 * every option records the line where the file set it, so a check made
 * after parsing can still name the line; a value left at its default, or an
 * empty list (libconfuse reports no line for it), gives "FILE: KEY: ...".
 *
 * Two libconfuse 3.3 quirks are worked around by blanking '#' and '//'
 * comments (outside quoted strings, newlines kept) before parsing: its
 * lexer counts each one-line comment as three lines, which made every line
 * number after a comment wrong, and it rejects a comment inside a list.
 *
 * The parse context is thread-local, so loads in different threads do not
 * interfere.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include <confuse.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "reply.h"
#include "sqltmpl.h"
#include "util.h"

#define CONF_MAX_SIZE	(1024 * 1024)	/* a configuration file is small */
#define SECRET_MAX	4096		/* password_file */
#define MAX_KEYS	128		/* options whose line is recorded */

/* The defaults that are paths. */
#define DEF_DB_PATH	"/var/lib/mailquota/mail.db"
#define DEF_TEMPLATE	SYSCONFDIR "/mailquota/warning.txt"
#define DEF_STATE	"/var/lib/mailquota/warn/warn.state"
#define DEF_DIGEST	SYSCONFDIR "/mailquota/digest.txt"

/* Per-load state: the file name, the first error, where each key was set. */
struct loadctx {
	const char *file;
	const struct mq_config *previous;	/* reload: secrets already read */
	char *error;
	struct {
		char key[48];
		int line;
	} lines[MAX_KEYS];
	size_t nlines;
};

/* libconfuse callbacks have no user pointer: the load in progress. */
static _Thread_local struct loadctx *cur_ctx;

/*
 * Preset queries by schema. NULL: that lookup is not configured.
 *
 * Flags are compared as "x = '1'", never used bare ("AND x"): the quoted
 * literal takes the column's type, so one query reads BOOLEAN and 0/1
 * integer flags (TINYINT, SMALLINT, INTEGER) alike on MariaDB, PostgreSQL
 * (where "AND x" needs a boolean) and SQLite.
 */
static const char *const presets[][MQ_Q_COUNT] = {
	[MQ_SCHEMA_DEFAULT] = {
		[MQ_Q_USER] = "SELECT u.quota AS quota, "
		    "(u.enabled = '1' AND d.enabled = '1') AS enabled, "
		    "u.email AS address "
		    "FROM virtual_users u JOIN virtual_domains d "
		    "ON d.id = u.domain_id WHERE u.email = '%s'",
		[MQ_Q_ALIAS] = "SELECT a.destination AS destination "
		    "FROM virtual_aliases a JOIN virtual_domains d "
		    "ON d.id = a.domain_id WHERE a.source = '%s' "
		    "AND a.enabled = '1' AND d.enabled = '1'",
		[MQ_Q_DOMAIN] = "SELECT (enabled = '1') AS enabled "
		    "FROM virtual_domains WHERE name = '%d'",
		[MQ_Q_USERS] = "SELECT email FROM virtual_users",
	},
	/*
	 * PostfixAdmin (upgrade.php, database version 1856): mailbox.quota in
	 * bytes, 0 unlimited (-1, "disabled", is refused by Dovecot and here
	 * alike); maildir relative to the mail root. alias holds every address,
	 * the mailboxes' own ones too. quota2 is Dovecot's dict quota.
	 */
	[MQ_SCHEMA_POSTFIXADMIN] = {
		[MQ_Q_USER] = "SELECT m.quota AS quota, "
		    "(m.active = '1' AND d.active = '1') AS enabled, "
		    "m.maildir AS maildir, m.username AS address "
		    "FROM mailbox m JOIN domain d ON d.domain = m.domain "
		    "WHERE m.username = '%s'",
		[MQ_Q_ALIAS] = "SELECT goto AS destination FROM alias "
		    "WHERE address = '%s' AND active = '1'",
		[MQ_Q_DOMAIN] = "SELECT (active = '1') AS enabled FROM domain "
		    "WHERE domain = '%d' AND backupmx = '0'",
		[MQ_Q_USERS] = "SELECT username FROM mailbox",
		[MQ_Q_USAGE] = "SELECT bytes, messages FROM quota2 "
		    "WHERE username = '%s'",
		[MQ_Q_ALIAS_DOMAIN] = "SELECT target_domain FROM alias_domain "
		    "WHERE alias_domain = '%d' AND active = '1'",
	},
	/*
	 * iRedMail's vmail database (MariaDB or PostgreSQL): mailbox.quota in
	 * MB, 0 unlimited; the Maildir is Dovecot's home (lower-cased
	 * storagebasedirectory/storagenode/maildir) plus mailboxfolder.
	 * forwardings has one row per destination, a mailbox's own address
	 * included; a catch-all's address is the bare domain. Alias domains
	 * are only in alias_domain. used_quota is Dovecot's dict quota.
	 */
	[MQ_SCHEMA_IREDMAIL] = {
		[MQ_Q_USER] = "SELECT m.quota * 1048576 AS quota, "
		    "(m.active = '1' AND m.enabledeliver = '1' "
		    "AND d.active = '1') AS enabled, "
		    "CONCAT(LOWER(CONCAT(m.storagebasedirectory, '/', "
		    "m.storagenode, '/', m.maildir)), '/', "
		    "COALESCE(NULLIF(m.mailboxfolder, ''), 'Maildir')) AS maildir, "
		    "m.username AS address "
		    "FROM mailbox m JOIN domain d ON d.domain = m.domain "
		    "WHERE m.username = '%s'",
		[MQ_Q_ALIAS] = "SELECT f.forwarding AS destination "
		    "FROM forwardings f JOIN domain d ON d.domain = f.domain "
		    "WHERE (f.address = '%s' OR ('%u' = '' AND f.address = '%d')) "
		    "AND f.active = '1' AND d.active = '1' AND d.backupmx = '0'",
		/* iRedMail's Postfix hosts its alias domains too (a UNION) */
		[MQ_Q_DOMAIN] = "SELECT (active = '1') AS enabled FROM domain "
		    "WHERE domain = '%d' AND backupmx = '0' "
		    "UNION ALL SELECT (a.active = '1') AS enabled "
		    "FROM alias_domain a JOIN domain d ON d.domain = a.target_domain "
		    "WHERE a.alias_domain = '%d' AND a.active = '1' "
		    "AND d.active = '1' AND d.backupmx = '0'",
		[MQ_Q_USERS] = "SELECT username FROM mailbox",
		[MQ_Q_USAGE] = "SELECT bytes, messages FROM used_quota "
		    "WHERE username = '%s'",
		[MQ_Q_ALIAS_DOMAIN] = "SELECT a.target_domain FROM alias_domain a "
		    "JOIN domain d ON d.domain = a.target_domain "
		    "WHERE a.alias_domain = '%d' AND a.active = '1' "
		    "AND d.active = '1' AND d.backupmx = '0'",
	},
};

static const char *const query_names[MQ_Q_COUNT] = {
	[MQ_Q_USER] = "user",
	[MQ_Q_ALIAS] = "alias",
	[MQ_Q_DOMAIN] = "domain",
	[MQ_Q_USERS] = "users",
	[MQ_Q_USAGE] = "usage",
	[MQ_Q_ALIAS_DOMAIN] = "alias_domain",
	[MQ_Q_DIGEST_TO] = "digest_to",
};

/* Word lists, in enum order. */
static const char *const driver_words[] = { "sqlite", "mysql", "pgsql", NULL };
static const char *const schema_words[] = { "default", "postfixadmin",
	"iredmail", NULL };
static const char *const usage_words[] = { "maildirsize", "sql", "both", NULL };
static const char *const alias_words[] = { "all", "any", NULL };
static const char *const on_error_words[] = { "tempfail", "pass", NULL };
static const char *const delivery_words[] = { "sendmail", "smtp", "maildir",
	NULL };
static const char *const fallback_words[] = { "none", "maildir", NULL };
static const char *const level_words[] = { "debug", "info", "notice",
	"warning", "error", NULL };
static const char *const facility_words[] = { "mail", "daemon", "user",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6",
	"local7", NULL };
static const int facility_values[] = { LOG_MAIL, LOG_DAEMON, LOG_USER,
	LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5,
	LOG_LOCAL6, LOG_LOCAL7 };

const char *
mq_config_default_path(void)
{
	return SYSCONFDIR "/mailquota/mailquota.conf";
}

const char *
mq_query_kind_name(enum mq_query_kind kind)
{
	if ((unsigned)kind >= MQ_Q_COUNT)
		return "?";
	return query_names[kind];
}

/*
 * Errors and lines.
 */

/* key_line - the line where the file set key, or 0. */
static int
key_line(const struct loadctx *ctx, const char *key)
{
	size_t i;

	for (i = 0; i < ctx->nlines; i++)
		if (strcmp(ctx->lines[i].key, key) == 0)
			return ctx->lines[i].line;
	return 0;
}

/* fail - record the first error as "FILE:LINE: KEY: message"; returns -1. */
static int MQ_PRINTF(3, 4)
fail(struct loadctx *ctx, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int line;

	if (ctx->error != NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	line = key_line(ctx, key);
	if (line > 0)
		ctx->error = xasprintf("%s:%d: %s: %s", ctx->file, line, key, msg);
	else
		ctx->error = xasprintf("%s: %s: %s", ctx->file, key, msg);
	free(msg);
	return -1;
}

/* dotted_key - "section.name", or "name" at the top level. */
static void
dotted_key(char *buf, size_t size, const cfg_t *sec, const char *name)
{
	if (sec == NULL || sec->name == NULL || strcmp(sec->name, "root") == 0)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s.%s", sec->name, name);
}

/* conf_error - libconfuse's own messages (syntax, unknown option, bad number). */
static void MQ_PRINTF(2, 0)
conf_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct loadctx *ctx = cur_ctx;
	char *msg, key[128], prefix[64];
	const char *q, *e;

	if (ctx == NULL || ctx->error != NULL)
		return;
	msg = xvasprintf(fmt, ap);
	if (cfg != NULL && cfg->line > 0)
		snprintf(prefix, sizeof(prefix), ":%d", cfg->line);
	else
		prefix[0] = '\0';
	/* libconfuse names the option as 'name': add the dotted key. */
	if ((q = strstr(msg, "option '")) != NULL &&
	    (e = strchr(q + 8, '\'')) != NULL && e - (q + 8) < 64) {
		char name[64];

		memcpy(name, q + 8, (size_t)(e - (q + 8)));
		name[e - (q + 8)] = '\0';
		dotted_key(key, sizeof(key), cfg, name);
		ctx->error = xasprintf("%s%s: %s: %s", ctx->file, prefix, key, msg);
	} else
		ctx->error = xasprintf("%s%s: %s", ctx->file, prefix, msg);
	free(msg);
}

/* record_line - validate callback on every option: remember its line. */
static int
record_line(cfg_t *sec, cfg_opt_t *opt)
{
	struct loadctx *ctx = cur_ctx;
	char key[48];
	size_t i;

	if (ctx == NULL)
		return 0;
	dotted_key(key, sizeof(key), sec, opt->name);
	for (i = 0; i < ctx->nlines; i++)
		if (strcmp(ctx->lines[i].key, key) == 0)
			break;
	if (i == ctx->nlines) {
		if (ctx->nlines == MAX_KEYS)
			return 0;
		mq_strlcpy(ctx->lines[i].key, key, sizeof(ctx->lines[i].key));
		ctx->nlines++;
	} else if (opt->nvalues > 1) {
		/* a later element of the same list: keep where it started */
		return 0;
	}
	ctx->lines[i].line = sec->line;
	return 0;
}

/*
 * Reading the file.
 */

/*
 * read_small - read a whole regular file of at most max bytes; returns 0,
 * or -1 with *why_r (static, or strerror).
 */
static int
read_small(const char *path, size_t max, char **buf_r, size_t *len_r,
    const char **why_r)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		*why_r = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why_r = "not a regular file";
		close(fd);
		return -1;
	}
	buf = xmalloc(max + 2);
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			*why_r = strerror(errno);
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			*why_r = "file too large";
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		*why_r = "contains a NUL byte";
		free(buf);
		return -1;
	}
	*buf_r = buf;
	*len_r = len;
	return 0;

fail:
	close(fd);
	free(buf);
	return -1;
}

/* comment_may_start - '//' starts a comment only where a token can start. */
static bool
comment_may_start(const char *buf, size_t i)
{
	return i == 0 || strchr(" \t\r\n={},()+", buf[i - 1]) != NULL;
}

/*
 * blank_comments - overwrite '#', '//' and C comments outside quoted
 * strings with blanks, keeping every newline (see the file comment).
 */
static void
blank_comments(char *buf, size_t len)
{
	size_t i = 0, j;

	while (i < len) {
		char c = buf[i];

		if (c == '"' || c == '\'') {
			for (i++; i < len && buf[i] != c; i++)
				if (buf[i] == '\\' && i + 1 < len)
					i++;
			i++;
		} else if (c == '#' || (c == '/' && buf[i + 1] == '/' &&
		    comment_may_start(buf, i))) {
			while (i < len && buf[i] != '\n')
				buf[i++] = ' ';
		} else if (c == '/' && buf[i + 1] == '*') {
			for (j = i + 2; j + 1 < len; j++)
				if (buf[j] == '*' && buf[j + 1] == '/')
					break;
			if (j + 1 >= len)
				return;	/* unterminated: libconfuse reports it */
			for (; i < j + 2; i++)
				if (buf[i] != '\n')
					buf[i] = ' ';
		} else
			i++;
	}
}

/*
 * The option tables and typed accessors.
 */

/*
 * The libconfuse schema, a table per section. cfg_init copies the tables;
 * its prototype and CFG_SEC take them without const, hence the casts.
 */

/* database: the driver and where it connects. */
static const cfg_opt_t database_opts[] = {
	CFG_STR("driver", "sqlite", CFGF_NONE),
	CFG_STR("path", DEF_DB_PATH, CFGF_NONE),
	CFG_STR_LIST("hosts", "{\"localhost\"}", CFGF_NONE),
	CFG_INT("port", 0, CFGF_NONE),
	CFG_STR("name", "mailserver", CFGF_NONE),
	CFG_STR("user", "mailuser", CFGF_NONE),
	CFG_STR("password", "", CFGF_NONE),
	CFG_STR("password_file", "", CFGF_NONE),
	CFG_INT("connect_timeout", 5, CFGF_NONE),
	CFG_INT("query_timeout", 5, CFGF_NONE),
	CFG_INT("connections", 4, CFGF_NONE),
	CFG_INT("max_replica_lag", 0, CFGF_NONE),
	CFG_END()
};

/* queries: no defaults; unset means "use the schema's preset". */
static const cfg_opt_t queries_opts[] = {
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("alias", NULL, CFGF_NODEFAULT),
	CFG_STR("domain", NULL, CFGF_NODEFAULT),
	CFG_STR("users", NULL, CFGF_NODEFAULT),
	CFG_STR("usage", NULL, CFGF_NODEFAULT),
	CFG_STR("alias_domain", NULL, CFGF_NODEFAULT),
	CFG_STR("digest_to", NULL, CFGF_NODEFAULT),
	CFG_END()
};

/* maildir: where the mailboxes are and how they are counted. */
static const cfg_opt_t maildir_opts[] = {
	CFG_STR("base", "/var/mail/vhosts", CFGF_NONE),
	CFG_STR("path", "%d/%u", CFGF_NONE),
	CFG_BOOL("recalc", cfg_true, CFGF_NONE),
	CFG_BOOL("header_limits", cfg_true, CFGF_NONE),
	CFG_STR_LIST("ignore", NULL, CFGF_NONE),
	CFG_END()
};

/* quota: where usage comes from, the grace, how long a figure is reused. */
static const cfg_opt_t quota_opts[] = {
	CFG_STR("usage", "maildirsize", CFGF_NONE),
	CFG_STR("grace", "0", CFGF_NONE),
	CFG_INT("usage_ttl", 5, CFGF_NONE),
	CFG_END()
};

/* policy: the daemon's sockets, caches, limits and replies. */
static const cfg_opt_t policy_opts[] = {
	CFG_STR_LIST("listen", "{\"inet:127.0.0.1:10031\"}", CFGF_NONE),
	CFG_STR("user", "", CFGF_NONE),
	CFG_STR("recipient_delimiter", "+", CFGF_NONE),
	CFG_STR("alias_overquota", "all", CFGF_NONE),
	CFG_INT("cache_ttl", 60, CFGF_NONE),
	CFG_INT("negative_cache_ttl", 10, CFGF_NONE),
	CFG_INT("stale_ttl", 0, CFGF_NONE),
	CFG_INT("max_connections", 1000, CFGF_NONE),
	CFG_INT("max_connections_per_client", 400, CFGF_NONE),
	CFG_INT("idle_timeout", 300, CFGF_NONE),
	CFG_INT("max_request_size", 102400, CFGF_NONE),
	CFG_STR("reply_success", "DUNNO", CFGF_NONE),
	CFG_STR("reply_nouser", "DUNNO", CFGF_NONE),
	CFG_STR("reply_disabled", "550 5.2.1 Mailbox disabled", CFGF_NONE),
	CFG_STR("reply_overquota", "552 5.2.2 Mailbox is full", CFGF_NONE),
	CFG_STR("reply_toolarge", "", CFGF_NONE),
	CFG_STR("reply_tempfail", "451 4.3.0 Temporary lookup failure",
	    CFGF_NONE),
	CFG_STR("on_error", "tempfail", CFGF_NONE),
	CFG_BOOL("dry_run", cfg_false, CFGF_NONE),
	CFG_STR("metrics", "", CFGF_NONE),
	CFG_END()
};

/* warn: mailquota-warn's thresholds, delivery, state and digest. */
static const cfg_opt_t warn_opts[] = {
	CFG_INT_LIST("thresholds", "{80, 95, 100}", CFGF_NONE),
	CFG_STR("from", "postmaster@localhost", CFGF_NONE),
	CFG_STR("sendmail", "/usr/sbin/sendmail", CFGF_NONE),
	CFG_STR("delivery", "sendmail", CFGF_NONE),
	CFG_STR("smtp", "inet:127.0.0.1:25", CFGF_NONE),
	CFG_STR("template", DEF_TEMPLATE, CFGF_NONE),
	CFG_STR("state", DEF_STATE, CFGF_NONE),
	CFG_INT("rearm", 5, CFGF_NONE),
	CFG_INT("renotify", 0, CFGF_NONE),
	CFG_STR("full_fallback", "none", CFGF_NONE),
	CFG_STR("digest_to", "postmaster@%d", CFGF_NONE),
	CFG_INT("digest_threshold", 80, CFGF_NONE),
	CFG_INT("digest_interval", 24, CFGF_NONE),
	CFG_STR("digest_template", DEF_DIGEST, CFGF_NONE),
	CFG_END()
};

/* log: syslog facility and level. */
static const cfg_opt_t log_opts[] = {
	CFG_STR("facility", "mail", CFGF_NONE),
	CFG_STR("level", "info", CFGF_NONE),
	CFG_END()
};

/* The file: the top-level keys and the sections. */
static const cfg_opt_t root_opts[] = {
	CFG_SEC("database", (cfg_opt_t *)database_opts, CFGF_NONE),
	CFG_STR("schema", "default", CFGF_NONE),
	CFG_SEC("queries", (cfg_opt_t *)queries_opts, CFGF_NONE),
	CFG_SEC("maildir", (cfg_opt_t *)maildir_opts, CFGF_NONE),
	CFG_SEC("quota", (cfg_opt_t *)quota_opts, CFGF_NONE),
	CFG_SEC("policy", (cfg_opt_t *)policy_opts, CFGF_NONE),
	CFG_SEC("warn", (cfg_opt_t *)warn_opts, CFGF_NONE),
	CFG_SEC("log", (cfg_opt_t *)log_opts, CFGF_NONE),
	CFG_END()
};

/* new_cfg - the parser for that schema, with a line recorder on every option. */
static cfg_t *
new_cfg(void)
{
	cfg_t *cfg;
	size_t i, j;

	if ((cfg = cfg_init((cfg_opt_t *)root_opts, CFGF_NONE)) == NULL)
		mq_fatal(EX_OSERR, "cannot initialise the configuration parser");
	cfg_set_error_function(cfg, conf_error);
	for (i = 0; root_opts[i].name != NULL; i++) {
		const cfg_opt_t *o = &root_opts[i];
		char path[96];

		if (o->type != CFGT_SEC) {
			cfg_set_validate_func(cfg, o->name, record_line);
			continue;
		}
		for (j = 0; o->subopts[j].name != NULL; j++) {
			snprintf(path, sizeof(path), "%s|%s", o->name,
			    o->subopts[j].name);
			cfg_set_validate_func(cfg, path, record_line);
		}
	}
	return cfg;
}

/* conf_path - "database.port" as libconfuse's "database|port". */
static const char *
conf_path(char *buf, size_t size, const char *key)
{
	size_t i;

	mq_strlcpy(buf, key, size);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '.')
			buf[i] = '|';
	return buf;
}

static const char *
get_str(cfg_t *cfg, const char *key)
{
	char p[96];
	const char *v = cfg_getstr(cfg, conf_path(p, sizeof(p), key));

	return v != NULL ? v : "";
}

static unsigned
get_size(cfg_t *cfg, const char *key)
{
	char p[96];

	return cfg_size(cfg, conf_path(p, sizeof(p), key));
}

static const char *
get_nstr(cfg_t *cfg, const char *key, unsigned i)
{
	char p[96];
	const char *v = cfg_getnstr(cfg, conf_path(p, sizeof(p), key), i);

	return v != NULL ? v : "";
}

static bool
get_bool(cfg_t *cfg, const char *key)
{
	char p[96];

	return cfg_getbool(cfg, conf_path(p, sizeof(p), key)) == cfg_true;
}

/* show - a value for a message, sanitised and shortened. */
static const char *
show(char *buf, size_t size, const char *v)
{
	mq_sanitize(buf, size, v, strlen(v));
	return buf;
}

/* get_int - an integer key within min..max. */
static int
get_int(struct loadctx *ctx, cfg_t *cfg, const char *key, long min, long max,
    long *value_r)
{
	char p[96];
	long v = cfg_getint(cfg, conf_path(p, sizeof(p), key));

	if (v < min || v > max)
		return fail(ctx, key, "%ld is out of range (%ld to %ld)", v, min,
		    max);
	*value_r = v;
	return 0;
}

static int
get_int_as_int(struct loadctx *ctx, cfg_t *cfg, const char *key, long min,
    long max, int *value_r)
{
	long v;

	if (get_int(ctx, cfg, key, min, max, &v) < 0)
		return -1;
	*value_r = (int)v;
	return 0;
}

/* get_word - a key that takes one of words; *index_r is its position. */
static int
get_word(struct loadctx *ctx, cfg_t *cfg, const char *key,
    const char *const *words, int *index_r)
{
	const char *v = get_str(cfg, key);
	struct mq_buf list = { 0 };
	char shown[80];
	int r;

	for (size_t i = 0; words[i] != NULL; i++) {
		if (strcmp(v, words[i]) == 0) {
			*index_r = (int)i;
			return 0;
		}
	}
	for (size_t i = 0; words[i] != NULL; i++)
		mq_buf_printf(&list, "%s%s", i == 0 ? "" : words[i + 1] == NULL ?
		    " or " : ", ", words[i]);
	r = fail(ctx, key, "\"%s\" is not one of %s", show(shown, sizeof(shown), v),
	    list.s);
	mq_buf_free(&list);
	return r;
}

/* copy_list - duplicate a string list. */
static char **
copy_list(cfg_t *cfg, const char *key, size_t *n_r)
{
	size_t n = get_size(cfg, key), i;
	char **v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = xstrdup(get_nstr(cfg, key, (unsigned)i));
	*n_r = n;
	return v;
}

/*
 * Value parsers. Each returns NULL when the value is good, or a static
 * explanation.
 */


/* parse_grace - "N" bytes or "N%" (0..1000 percent). */
static const char *
parse_grace(const char *s, uint64_t *bytes_r, unsigned *percent_r)
{
	size_t len = strlen(s);
	uint64_t v;

	if (len > 0 && s[len - 1] == '%') {
		if (mq_parse_u64n(s, len - 1, &v) < 0)
			return "expected bytes (\"1048576\") or a percentage (\"10%\")";
		if (v > 1000)
			return "a percentage must be 0 to 1000";
		*bytes_r = 0;
		*percent_r = (unsigned)v;
		return NULL;
	}
	if (mq_parse_u64(s, &v) < 0)
		return "expected bytes (\"1048576\") or a percentage (\"10%\")";
	*bytes_r = v;
	*percent_r = 0;
	return NULL;
}

/* check_maildir_path - relative, no "..", only %d %u %s %%. */
static const char *
check_maildir_path(const char *s)
{
	const char *p, *c;

	if (*s == '\0')
		return "must not be empty";
	if (*s == '/')
		return "must be relative to maildir.base";
	for (p = s; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p != 'd' && *p != 'u' && *p != 's' && *p != '%')
			return "unknown '%' escape (use %d, %u, %s or %%)";
	}
	for (c = s; c != NULL; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
			return "must not contain a \"..\" component";
	}
	return NULL;
}

/* has_blank_or_ctl - any blank or control character. */
static bool
has_blank_or_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return true;
	return false;
}

/* read_secret - password_file: whole file, trailing newline(s) stripped. */
static const char *
read_secret(const char *path, char **secret_r)
{
	const char *why;
	char *buf;
	size_t len;

	if (read_small(path, SECRET_MAX, &buf, &len, &why) < 0)
		return why;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	*secret_r = buf;
	return NULL;
}

/*
 * driver_built - whether this build has the driver (the same conditions
 * that put it in backend.c's registry, without linking the backends).
 */
static bool
driver_built(enum mq_driver d)
{
	switch (d) {
#ifdef HAVE_SQLITE
	case MQ_DRIVER_SQLITE:
		return true;
#endif
#ifdef HAVE_MYSQL
	case MQ_DRIVER_MYSQL:
		return true;
#endif
#ifdef HAVE_PGSQL
	case MQ_DRIVER_PGSQL:
		return true;
#endif
	default:
		return false;
	}
}

/*
 * Sections.
 */

static int
load_database(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	struct mq_db_config *db = &c->db;
	const char *pw, *pwfile, *why;
	char shown[128];
	long port;
	int d;
	size_t i;

	if (get_word(ctx, cfg, "database.driver", driver_words, &d) < 0)
		return -1;
	db->driver = (enum mq_driver)d;
	if (!driver_built(db->driver))
		return fail(ctx, "database.driver", "this build has no %s "
		    "support (see ./configure --with-%s)", driver_words[d],
		    driver_words[d]);
	db->path = xstrdup(get_str(cfg, "database.path"));
	db->hosts = copy_list(cfg, "database.hosts", &db->nhosts);
	if (db->driver == MQ_DRIVER_SQLITE) {
		if (db->path[0] == '\0')
			return fail(ctx, "database.path",
			    "driver \"sqlite\" needs the database file's path");
	} else if (db->nhosts == 0)
		return fail(ctx, "database.hosts", "driver \"%s\" needs at "
		    "least one host", driver_words[d]);
	for (i = 0; i < db->nhosts; i++) {
		const char *h = db->hosts[i];

		if (h[0] == '\0' || has_blank_or_ctl(h))
			return fail(ctx, "database.hosts",
			    "\"%s\" is not a host name", show(shown, 64, h));
		if (strncmp(h, "unix:", 5) == 0 && h[5] != '/')
			return fail(ctx, "database.hosts", "\"%s\": a socket "
			    "needs an absolute path (unix:/path)",
			    show(shown, 64, h));
	}
	if (get_int(ctx, cfg, "database.port", 0, 65535, &port) < 0)
		return -1;
	db->port = (unsigned)port;
	db->name = xstrdup(get_str(cfg, "database.name"));
	db->user = xstrdup(get_str(cfg, "database.user"));

	pw = get_str(cfg, "database.password");
	pwfile = get_str(cfg, "database.password_file");
	if (pw[0] != '\0' && pwfile[0] != '\0')
		return fail(ctx, "database.password_file",
		    "database.password is set too; use one of them");
	db->password_file = xstrdup(pwfile);
	if (pwfile[0] != '\0' && ctx->previous != NULL &&
	    strcmp(ctx->previous->db.password_file, pwfile) == 0) {
		/* Read once, before privileges were dropped. */
		db->password = xstrdup(ctx->previous->db.password);
	} else if (pwfile[0] != '\0') {
		if ((why = read_secret(pwfile, &db->password)) != NULL)
			return fail(ctx, "database.password_file",
			    "cannot read %s: %s%s", show(shown, sizeof(shown),
			    pwfile), why, ctx->previous != NULL ?
			    " (a new password_file takes a restart)" : "");
	} else
		db->password = xstrdup(pw);

	if (get_int_as_int(ctx, cfg, "database.connect_timeout", 1, 300,
	    &db->connect_timeout) < 0 ||
	    get_int_as_int(ctx, cfg, "database.query_timeout", 1, 300,
	    &db->query_timeout) < 0 ||
	    get_int_as_int(ctx, cfg, "database.connections", 1, 64,
	    &db->connections) < 0 ||
	    get_int_as_int(ctx, cfg, "database.max_replica_lag", 0, 86400,
	    &db->max_replica_lag) < 0)
		return -1;
	c->policy.workers = db->connections;
	return 0;
}

static int
load_queries(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	enum mq_sql_style style = c->db.driver == MQ_DRIVER_PGSQL ?
	    MQ_SQL_DOLLAR : MQ_SQL_QMARK;
	int s, k;

	if (get_word(ctx, cfg, "schema", schema_words, &s) < 0)
		return -1;
	c->schema = (enum mq_schema)s;

	for (k = 0; k < MQ_Q_COUNT; k++) {
		char key[64];
		const char *q, *why;
		struct mq_sql sql;
		size_t n;

		snprintf(key, sizeof(key), "queries.%s", query_names[k]);
		if (get_size(cfg, key) > 0)
			q = get_str(cfg, key);	/* set in the file: wins */
		else
			q = presets[c->schema][k];
		if (q == NULL || q[0] == '\0') {
			if (k == MQ_Q_USER || k == MQ_Q_DOMAIN)
				return fail(ctx, key, "this query is required");
			continue;	/* not configured: NULL */
		}
		if (mq_sql_translate(q, style, &sql, &why) < 0)
			return fail(ctx, key, "%s", why);
		n = sql.nparams;
		mq_sql_free(&sql);
		if (k == MQ_Q_USERS && n != 0)
			return fail(ctx, key, "takes no placeholder "
			    "(it lists every mailbox)");
		if (k != MQ_Q_USERS && n == 0)
			return fail(ctx, key, "needs a placeholder for the key "
			    "(%%s, %%u or %%d)");
		c->queries[k] = xstrdup(q);
	}
	return 0;
}

static int
load_maildir(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	const char *base = get_str(cfg, "maildir.base"), *why;
	size_t len = strlen(base), i;
	char shown[80];

	if (base[0] != '/')
		return fail(ctx, "maildir.base", "must be an absolute path");
	while (len > 1 && base[len - 1] == '/')
		len--;
	if (len == 1)
		return fail(ctx, "maildir.base", "must not be \"/\"");
	c->maildir.base = xstrndup(base, len);

	c->maildir.path = xstrdup(get_str(cfg, "maildir.path"));
	if ((why = check_maildir_path(c->maildir.path)) != NULL)
		return fail(ctx, "maildir.path", "%s", why);
	c->maildir.recalc = get_bool(cfg, "maildir.recalc");
	c->maildir.header_limits = get_bool(cfg, "maildir.header_limits");
	c->maildir.ignore = copy_list(cfg, "maildir.ignore", &c->maildir.nignore);
	for (i = 0; i < c->maildir.nignore; i++) {
		const char *f = c->maildir.ignore[i];

		if (f[0] == '\0' || strchr(f, '/') != NULL ||
		    strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
			return fail(ctx, "maildir.ignore", "\"%s\" is not a folder "
			    "name", show(shown, sizeof(shown), f));
	}
	return 0;
}

static int
load_quota(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	const char *why;
	int u;

	if (get_word(ctx, cfg, "quota.usage", usage_words, &u) < 0)
		return -1;
	c->quota.usage = (enum mq_usage_source)u;
	if (c->quota.usage != MQ_USAGE_MAILDIRSIZE && c->queries[MQ_Q_USAGE] == NULL)
		return fail(ctx, "quota.usage", "\"%s\" needs a queries.usage "
		    "query (schema \"default\" has no preset for it)",
		    usage_words[u]);
	if ((why = parse_grace(get_str(cfg, "quota.grace"), &c->quota.grace_bytes,
	    &c->quota.grace_percent)) != NULL)
		return fail(ctx, "quota.grace", "%s", why);
	return get_int_as_int(ctx, cfg, "quota.usage_ttl", 0, 3600,
	    &c->quota.usage_ttl);
}

/* get_reply - a reply_* key, checked. */
static int
get_reply(struct loadctx *ctx, cfg_t *cfg, const char *key, char **reply_r)
{
	const char *v = get_str(cfg, key), *why;

	if (mq_reply_validate(v, &why) < 0)
		return fail(ctx, key, "%s", why);
	*reply_r = xstrdup(v);
	return 0;
}

/*
 * reply_temporary - whether a (valid) reply only defers: a 4xx code, or
 * DEFER or DEFER_IF_PERMIT (any case, text optional). reply_tempfail must
 * be one, or every database or disk error would reject mail for good.
 */
static bool
reply_temporary(const char *v)
{
	size_t n = strcspn(v, " \t");

	if (v[0] >= '0' && v[0] <= '9')
		return v[0] == '4';
	return (n == 5 && strncasecmp(v, "DEFER", 5) == 0) ||
	    (n == 15 && strncasecmp(v, "DEFER_IF_PERMIT", 15) == 0);
}

/* load_listen - policy.listen, policy.user and policy.recipient_delimiter. */
static int
load_listen(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	const char *delim, *why, *v;
	char shown[80];
	size_t i, n;

	n = get_size(cfg, "policy.listen");
	if (n == 0)
		return fail(ctx, "policy.listen", "needs at least one address");
	c->policy.listen = xcalloc(n, sizeof(*c->policy.listen));
	for (i = 0; i < n; i++) {
		v = get_nstr(cfg, "policy.listen", (unsigned)i);
		why = mq_listen_parse(v, &c->policy.listen[i]);
		c->policy.nlisten = i + 1;	/* freed even when half filled */
		if (why != NULL)
			return fail(ctx, "policy.listen", "\"%s\": %s",
			    show(shown, sizeof(shown), v), why);
	}
	c->policy.user = xstrdup(get_str(cfg, "policy.user"));
	if (has_blank_or_ctl(c->policy.user))
		return fail(ctx, "policy.user", "not a user name");

	delim = get_str(cfg, "policy.recipient_delimiter");
	if (strlen(delim) > 8)
		return fail(ctx, "policy.recipient_delimiter",
		    "at most 8 characters");
	if (strchr(delim, '@') != NULL || has_blank_or_ctl(delim))
		return fail(ctx, "policy.recipient_delimiter",
		    "must not contain '@', blanks or control characters");
	c->policy.recipient_delimiter = xstrdup(delim);
	return 0;
}

/* load_limits - the policy's cache lifetimes and connection limits. */
static int
load_limits(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	long size;

	if (get_int_as_int(ctx, cfg, "policy.cache_ttl", 0, 86400,
	    &c->policy.cache_ttl) < 0 ||
	    get_int_as_int(ctx, cfg, "policy.negative_cache_ttl", 0, 86400,
	    &c->policy.negative_cache_ttl) < 0 ||
	    get_int_as_int(ctx, cfg, "policy.stale_ttl", 0, 86400,
	    &c->policy.stale_ttl) < 0 ||
	    get_int_as_int(ctx, cfg, "policy.max_connections", 1, 100000,
	    &c->policy.max_connections) < 0 ||
	    get_int_as_int(ctx, cfg, "policy.max_connections_per_client", 0, 100000,
	    &c->policy.max_connections_per_client) < 0 ||
	    get_int_as_int(ctx, cfg, "policy.idle_timeout", 1, 86400,
	    &c->policy.idle_timeout) < 0 ||
	    get_int(ctx, cfg, "policy.max_request_size", 256, 10485760,
	    &size) < 0)
		return -1;
	c->policy.max_request_size = (size_t)size;
	return 0;
}

/* load_replies - the policy.reply_* keys; reply_toolarge defaults to reply_overquota. */
static int
load_replies(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	if (get_reply(ctx, cfg, "policy.reply_success",
	    &c->policy.reply_success) < 0 ||
	    get_reply(ctx, cfg, "policy.reply_nouser",
	    &c->policy.reply_nouser) < 0 ||
	    get_reply(ctx, cfg, "policy.reply_disabled",
	    &c->policy.reply_disabled) < 0 ||
	    get_reply(ctx, cfg, "policy.reply_overquota",
	    &c->policy.reply_overquota) < 0 ||
	    get_reply(ctx, cfg, "policy.reply_tempfail",
	    &c->policy.reply_tempfail) < 0)
		return -1;
	if (!reply_temporary(c->policy.reply_tempfail))
		return fail(ctx, "policy.reply_tempfail",
		    "\"%s\" is not a temporary reply: use a 4xx code, DEFER or "
		    "DEFER_IF_PERMIT (with a permanent one every database or "
		    "disk error would reject mail for good)",
		    c->policy.reply_tempfail);
	if (get_str(cfg, "policy.reply_toolarge")[0] == '\0') {
		c->policy.reply_toolarge = xstrdup(c->policy.reply_overquota);
		return 0;
	}
	return get_reply(ctx, cfg, "policy.reply_toolarge", &c->policy.reply_toolarge);
}

static int
load_policy(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	const char *why, *v;
	int w;

	if (load_listen(ctx, cfg, c) < 0 ||
	    get_word(ctx, cfg, "policy.alias_overquota", alias_words, &w) < 0)
		return -1;
	c->policy.alias_overquota = (enum mq_alias_overquota)w;
	if (load_limits(ctx, cfg, c) < 0 || load_replies(ctx, cfg, c) < 0 ||
	    get_word(ctx, cfg, "policy.on_error", on_error_words, &w) < 0)
		return -1;
	c->policy.on_error = (enum mq_on_error)w;
	c->policy.dry_run = get_bool(cfg, "policy.dry_run");
	v = get_str(cfg, "policy.metrics");
	if (v[0] != '\0') {
		if (strncmp(v, "inet:", 5) != 0)
			return fail(ctx, "policy.metrics", "expected \"\" (off) or "
			    "inet:HOST:PORT");
		if ((why = mq_inet_parse(v, true, NULL, NULL)) != NULL)
			return fail(ctx, "policy.metrics", "%s", why);
	}
	c->policy.metrics = xstrdup(v);
	return 0;
}

static int
load_warn(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	const char *v, *why;
	size_t n, i;
	int d;

	n = get_size(cfg, "warn.thresholds");
	if (n == 0)
		return fail(ctx, "warn.thresholds", "needs at least one percentage");
	c->warn.thresholds = xcalloc(n, sizeof(*c->warn.thresholds));
	c->warn.nthresholds = n;
	for (i = 0; i < n; i++) {
		long t = cfg_getnint(cfg, "warn|thresholds", (unsigned)i);

		if (t < 1 || t > 100)
			return fail(ctx, "warn.thresholds", "%ld is not a "
			    "percentage from 1 to 100", t);
		if (i > 0 && (unsigned)t <= c->warn.thresholds[i - 1])
			return fail(ctx, "warn.thresholds",
			    "must be in strictly ascending order");
		c->warn.thresholds[i] = (unsigned)t;
	}

	v = get_str(cfg, "warn.from");
	if (v[0] == '\0' || strchr(v, '@') == NULL || has_blank_or_ctl(v))
		return fail(ctx, "warn.from", "must be an address (user@domain)");
	c->warn.from = xstrdup(v);
	v = get_str(cfg, "warn.sendmail");
	if (v[0] != '/')
		return fail(ctx, "warn.sendmail", "must be an absolute path");
	c->warn.sendmail = xstrdup(v);
	if (get_word(ctx, cfg, "warn.delivery", delivery_words, &d) < 0)
		return -1;
	c->warn.delivery = (enum mq_delivery)d;
	v = get_str(cfg, "warn.smtp");
	if ((why = mq_inet_parse(v, false, NULL, NULL)) != NULL)
		return fail(ctx, "warn.smtp", "%s", why);
	c->warn.smtp = xstrdup(v);
	c->warn.template_path = xstrdup(get_str(cfg, "warn.template"));
	c->warn.state = xstrdup(get_str(cfg, "warn.state"));
	if (get_int_as_int(ctx, cfg, "warn.rearm", 0, 99, &c->warn.rearm) < 0 ||
	    get_int_as_int(ctx, cfg, "warn.renotify", 0, 8760,
	    &c->warn.renotify) < 0 ||
	    get_word(ctx, cfg, "warn.full_fallback", fallback_words, &d) < 0)
		return -1;
	c->warn.full_fallback = d == 1;
	v = get_str(cfg, "warn.digest_to");
	if (strchr(v, '@') == NULL || has_blank_or_ctl(v))
		return fail(ctx, "warn.digest_to", "must be an address, %%d for the domain "
		    "(postmaster@%%d)");
	c->warn.digest_to = xstrdup(v);
	c->warn.digest_template = xstrdup(get_str(cfg, "warn.digest_template"));
	if (get_int_as_int(ctx, cfg, "warn.digest_threshold", 1, 100,
	    &c->warn.digest_threshold) < 0 ||
	    get_int_as_int(ctx, cfg, "warn.digest_interval", 1, 8760,
	    &c->warn.digest_interval) < 0)
		return -1;
	return 0;
}

static int
load_log(struct loadctx *ctx, cfg_t *cfg, struct mq_config *c)
{
	int f, l;

	if (get_word(ctx, cfg, "log.facility", facility_words, &f) < 0 ||
	    get_word(ctx, cfg, "log.level", level_words, &l) < 0)
		return -1;
	c->log.facility = facility_values[f];
	c->log.level = (enum mq_log_level)l;
	return 0;
}

int
mq_config_load(const char *path, struct mq_config **cfg_r, char **error_r)
{
	return mq_config_reload(path, NULL, cfg_r, error_r);
}

int
mq_config_reload(const char *path, const struct mq_config *previous,
    struct mq_config **cfg_r, char **error_r)
{
	struct loadctx *ctx;
	struct mq_config *c = NULL;
	const char *why;
	cfg_t *cfg;
	char *buf;
	size_t len;
	int rc;

	*cfg_r = NULL;
	*error_r = NULL;
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->file = path;
	ctx->previous = previous;
	if (read_small(path, CONF_MAX_SIZE, &buf, &len, &why) < 0) {
		*error_r = xasprintf("%s: cannot read the configuration: %s",
		    path, why);
		free(ctx);
		return -1;
	}
	blank_comments(buf, len);

	cfg = new_cfg();
	cur_ctx = ctx;
	rc = cfg_parse_buf(cfg, buf);
	cur_ctx = NULL;
	free(buf);
	if (rc != CFG_SUCCESS) {
		if (ctx->error == NULL)
			ctx->error = xasprintf("%s: cannot parse the configuration",
			    path);
		goto fail;
	}

	c = xcalloc(1, sizeof(*c));
	c->file = xstrdup(path);
	if (load_database(ctx, cfg, c) < 0 || load_queries(ctx, cfg, c) < 0 ||
	    load_maildir(ctx, cfg, c) < 0 || load_quota(ctx, cfg, c) < 0 ||
	    load_policy(ctx, cfg, c) < 0 || load_warn(ctx, cfg, c) < 0 ||
	    load_log(ctx, cfg, c) < 0)
		goto fail;
	cfg_free(cfg);
	free(ctx);
	*cfg_r = c;
	return 0;

fail:
	cfg_free(cfg);
	mq_config_free(&c);
	*error_r = ctx->error;
	free(ctx);
	return -1;
}

/* free_list - a NULL-safe free of n strings and the array. */
static void
free_list(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
mq_config_free(struct mq_config **cfgp)
{
	struct mq_config *c;
	size_t i;

	if (cfgp == NULL || (c = *cfgp) == NULL)
		return;
	*cfgp = NULL;
	free(c->file);
	free(c->db.path);
	free_list(c->db.hosts, c->db.nhosts);
	free(c->db.name);
	free(c->db.user);
	free(c->db.password_file);
	if (c->db.password != NULL) {
#ifdef HAVE_EXPLICIT_BZERO
		explicit_bzero(c->db.password, strlen(c->db.password));
#else
		volatile char *p = c->db.password;

		while (*p != '\0')
			*p++ = '\0';
#endif
		free(c->db.password);
	}
	for (i = 0; i < MQ_Q_COUNT; i++)
		free(c->queries[i]);
	free(c->maildir.base);
	free(c->maildir.path);
	free_list(c->maildir.ignore, c->maildir.nignore);
	for (i = 0; i < c->policy.nlisten; i++)
		mq_listen_clear(&c->policy.listen[i]);
	free(c->policy.listen);
	free(c->policy.user);
	free(c->policy.recipient_delimiter);
	free(c->policy.reply_success);
	free(c->policy.reply_nouser);
	free(c->policy.reply_disabled);
	free(c->policy.reply_overquota);
	free(c->policy.reply_toolarge);
	free(c->policy.reply_tempfail);
	free(c->policy.metrics);
	free(c->warn.thresholds);
	free(c->warn.from);
	free(c->warn.sendmail);
	free(c->warn.smtp);
	free(c->warn.template_path);
	free(c->warn.state);
	free(c->warn.digest_to);
	free(c->warn.digest_template);
	free(c);
}
