/* SPDX-License-Identifier: MIT */
/*
 * sqltmpl - turn a Postfix-style query template into driver SQL with
 * statement parameters. Pure: no I/O, no globals.
 *
 * "%s" (whole address), "%u" (local part) and "%d" (domain) become
 * parameters; a placeholder written inside single quotes ('%s'), as in a
 * Postfix mysql_table(5) file, loses the quotes. "%%" is a literal '%'.
 * Any other '%' escape is an error, so a typo is reported at load time.
 * Nothing from a request ever becomes SQL text.
 */
#ifndef MQ_SQLTMPL_H
#define MQ_SQLTMPL_H

#include <stddef.h>

#define MQ_SQL_MAX_PARAMS 16

enum mq_sql_style {
	MQ_SQL_QMARK,		/* ?  (MariaDB, SQLite) */
	MQ_SQL_DOLLAR,		/* $1 $2 (PostgreSQL) */
};

enum mq_sql_param { MQ_PARAM_ADDRESS, MQ_PARAM_LOCAL, MQ_PARAM_DOMAIN };

struct mq_sql {
	char *text;		/* malloc'ed driver SQL */
	size_t nparams;
	enum mq_sql_param params[MQ_SQL_MAX_PARAMS];
};

/* Returns 0, or -1 with a static message in *error_r. */
int mq_sql_translate(const char *tmpl, enum mq_sql_style style,
    struct mq_sql *out, const char **error_r);
void mq_sql_free(struct mq_sql *sql);

/* The address parts a parameter is bound from. */
struct mq_key {
	const char *address;	/* "user@example.org" (lower case) */
	const char *local;	/* "user" */
	const char *domain;	/* "example.org" */
};

/* mq_sql_param_value - the string to bind for one parameter. */
const char *mq_sql_param_value(enum mq_sql_param param, const struct mq_key *key);

#endif
