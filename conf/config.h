/* SPDX-License-Identifier: MIT */
/*
 * config - mailquota.conf parsed once into an immutable struct.
 *
 * mq_config_load() is the only entry point; conf/config.c is the only file
 * that includes confuse.h. Every value is copied out of libconfuse, checked
 * (reply strings, listen addresses, paths, ranges, cross-key rules) and the
 * password_file is read here, so a caller that drops privileges afterwards
 * has every secret it needs. Defaults and keys are those of SPEC.md and
 * docs/mailquota.conf.5.
 *
 * On error mq_config_load returns -1 and a malloc'ed one-line message of the
 * form "FILE:LINE: KEY: what is wrong" (LINE omitted when libconfuse does not
 * know it), for the caller to print and free.
 */
#ifndef MQ_CONFIG_H
#define MQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "listen.h"
#include "mq.h"

enum mq_driver { MQ_DRIVER_SQLITE, MQ_DRIVER_MYSQL, MQ_DRIVER_PGSQL };
enum mq_schema { MQ_SCHEMA_DEFAULT, MQ_SCHEMA_POSTFIXADMIN, MQ_SCHEMA_IREDMAIL };
enum mq_usage_source { MQ_USAGE_MAILDIRSIZE, MQ_USAGE_SQL, MQ_USAGE_BOTH };
enum mq_delivery { MQ_DELIVERY_SENDMAIL, MQ_DELIVERY_SMTP, MQ_DELIVERY_MAILDIR };

struct mq_db_config {
	enum mq_driver driver;
	char *path;		/* sqlite */
	char **hosts;		/* mysql/pgsql, tried in order; "unix:/path" for a socket */
	size_t nhosts;
	unsigned port;		/* 0 = the driver's default */
	char *name;
	char *user;
	char *password;		/* from password, or read from password_file */
	char *password_file;	/* "" = none */
	int connect_timeout;	/* seconds */
	int query_timeout;	/* seconds */
	int connections;	/* per process */
	int max_replica_lag;	/* seconds; 0 = any replica will do */
};

struct mq_config {
	char *file;		/* the path it was read from */
	struct mq_db_config db;
	enum mq_schema schema;
	char *queries[MQ_Q_COUNT];	/* NULL = not configured (usage, alias_domain; any but user/domain when set to "") */

	struct {
		char *base;	/* absolute, no trailing slash */
		char *path;	/* template with %d %u %s, relative to base */
		bool recalc;
		bool header_limits;	/* a limit the row lacks comes from maildirsize */
		char **ignore;	/* folder names not counted */
		size_t nignore;
	} maildir;

	struct {
		enum mq_usage_source usage;
		uint64_t grace_bytes;	/* grace = "N" */
		unsigned grace_percent;	/* grace = "N%" (then grace_bytes = 0) */
		int usage_ttl;	/* seconds a usage figure is reused; 0 = re-validate every time */
	} quota;

	struct {
		struct mq_listen *listen;
		size_t nlisten;
		char *user;	/* "" = do not change user */
		char *recipient_delimiter;	/* set of characters; "" = none */
		enum mq_alias_overquota alias_overquota;
		int cache_ttl;
		int negative_cache_ttl;
		int stale_ttl;	/* seconds an expired entry may answer while the database fails; 0 = off */
		int max_connections;
		int max_connections_per_client;	/* inet listeners; 0 = no cap */
		int idle_timeout;
		size_t max_request_size;
		char *reply_success;
		char *reply_nouser;
		char *reply_disabled;
		char *reply_overquota;
		char *reply_toolarge;	/* already defaulted to reply_overquota when empty */
		char *reply_tempfail;
		enum mq_on_error on_error;
		bool dry_run;
		char *metrics;	/* "" = off */
		int workers;	/* threads doing database and disk work */
	} policy;

	struct {
		unsigned *thresholds;	/* ascending, 1..100 */
		size_t nthresholds;
		char *from;
		char *sendmail;
		enum mq_delivery delivery;
		char *smtp;
		char *template_path;
		char *state;
		int rearm;
		int renotify;
		bool full_fallback;	/* a mailbox refused as full: drop into its Maildir */
		char *digest_to;	/* the administrator's address, %d = the domain */
		int digest_threshold;	/* percent */
		int digest_interval;	/* hours between two digests of a domain */
		char *digest_template;
	} warn;

	struct {
		int facility;	/* LOG_MAIL etc. */
		int level;	/* enum mq_log_level */
	} log;
};

/* The compiled-in default path of the configuration file. */
const char *mq_config_default_path(void);

int mq_config_load(const char *path, struct mq_config **cfg_r, char **error_r);
/*
 * mq_config_reload - the same for SIGHUP in a process that has dropped its
 * privileges: an unchanged password_file is not read again (it may be
 * readable by root only); the secret read at start is kept.
 */
int mq_config_reload(const char *path, const struct mq_config *previous,
    struct mq_config **cfg_r, char **error_r);
void mq_config_free(struct mq_config **cfg);

/* mq_query_kind_name - "user", "alias", ... as in the queries section. */
const char *mq_query_kind_name(enum mq_query_kind kind);

#endif
