/* SPDX-License-Identifier: MIT */
/*
 * sqltmpl - Postfix-style query templates to driver SQL with statement
 * parameters.
 *
 * mq_sql_translate() scans the template once. "%s", "%u" and "%d" become
 * the driver's parameter marker ("?" or "$N") and are recorded in order in
 * out->params; a marker written as a whole quoted literal ('%s') loses its
 * quotes, so a query copied from a Postfix mysql_table(5) file works as
 * written. "%%" is a literal '%'. Refused, so that a mistake shows at load
 * time instead of as a silently wrong query:
 *   - any other '%' escape, and a '%' at the end;
 *   - a placeholder inside a longer quoted literal ('%u@%d', "%s"): a
 *     marker inside a string literal would not be a parameter;
 *   - more than MQ_SQL_MAX_PARAMS placeholders;
 *   - a bare marker of the target style ('?', or '$' and a digit) outside
 *     a quoted literal, which the driver would count as a parameter too.
 * Quote tracking follows standard SQL: a doubled quote ('' or "") stays
 * inside the literal; a backslash is an ordinary character.
 *
 * Pure: no I/O, no globals. Errors are static strings.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqltmpl.h"
#include "util.h"

/* emit_param - append the marker for parameter number n (1-based). */
static size_t
emit_param(char *out, size_t len, enum mq_sql_style style, size_t n)
{
	if (style == MQ_SQL_QMARK) {
		out[len++] = '?';
		return len;
	}
	/* At most MQ_SQL_MAX_PARAMS (two digits); the buffer has room. */
	len += (size_t)snprintf(out + len, 4, "$%zu", n);
	return len;
}

/* The translation under way: where the scan is, the open literal, the output. */
struct scan {
	const char *tmpl;
	size_t i;
	size_t lit_start;	/* where the open literal started */
	char quote;		/* the open literal's quote, or NUL */
	enum mq_sql_style style;
	char *text;
	size_t len;
	struct mq_sql *out;
};

/* scan_escape - tmpl[i] is '%': "%%", or a placeholder. NULL, or why not. */
static const char *
scan_escape(struct scan *sc)
{
	const char *tmpl = sc->tmpl;
	char e = tmpl[sc->i + 1];
	enum mq_sql_param p;
	bool whole;

	if (e == '%') {
		sc->text[sc->len++] = '%';
		sc->i += 2;
		return NULL;
	}
	if (e == 's')
		p = MQ_PARAM_ADDRESS;
	else if (e == 'u')
		p = MQ_PARAM_LOCAL;
	else if (e == 'd')
		p = MQ_PARAM_DOMAIN;
	else
		return "unknown '%' escape (use %s, %u, %d or %%)";
	/* '%s' as a whole single-quoted literal: drop the quotes. */
	whole = sc->quote == '\'' && sc->lit_start + 1 == sc->i &&
	    tmpl[sc->i + 2] == '\'' && tmpl[sc->i + 3] != '\'';
	if (sc->quote != '\0' && !whole)
		return "placeholder inside a quoted string "
		    "(write it alone in single quotes, e.g. '%s')";
	if (sc->out->nparams == MQ_SQL_MAX_PARAMS)
		return "too many placeholders";
	sc->out->params[sc->out->nparams++] = p;
	if (whole) {
		sc->len--;		/* the opening quote */
		sc->quote = '\0';
		sc->i += 3;		/* %s and the closing quote */
	} else
		sc->i += 2;
	sc->len = emit_param(sc->text, sc->len, sc->style, sc->out->nparams);
	return NULL;
}

/* scan_char - any other character: quotes tracked, bare markers refused. */
static const char *
scan_char(struct scan *sc)
{
	char c = sc->tmpl[sc->i], next = sc->tmpl[sc->i + 1];

	if (sc->quote != '\0') {
		if (c == sc->quote) {
			if (next == sc->quote) {
				/* doubled quote: still inside */
				sc->text[sc->len++] = c;
				sc->text[sc->len++] = c;
				sc->i += 2;
				return NULL;
			}
			sc->quote = '\0';
		}
	} else if (c == '\'' || c == '"') {
		sc->quote = c;
		sc->lit_start = sc->i;
	} else if (sc->style == MQ_SQL_QMARK && c == '?')
		return "a literal '?' outside quotes would be taken for a parameter";
	else if (sc->style == MQ_SQL_DOLLAR && c == '$' && next >= '0' && next <= '9')
		return "a literal $N outside quotes would be taken for a parameter";
	sc->text[sc->len++] = c;
	sc->i++;
	return NULL;
}

int
mq_sql_translate(const char *tmpl, enum mq_sql_style style,
    struct mq_sql *out, const char **error_r)
{
	size_t tlen = strlen(tmpl);
	struct scan sc = { tmpl, 0, 0, '\0', style, NULL, 0, out };
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	/* "%s" (2 bytes) becomes at most "$16" (3 bytes). */
	sc.text = xmalloc(tlen * 2 + 1);
	while (sc.i < tlen && why == NULL)
		why = tmpl[sc.i] == '%' ? scan_escape(&sc) : scan_char(&sc);
	if (why == NULL && sc.quote != '\0')
		why = "unterminated quoted string";
	if (why != NULL) {
		*error_r = why;
		free(sc.text);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	sc.text[sc.len] = '\0';
	out->text = sc.text;
	return 0;
}

void
mq_sql_free(struct mq_sql *sql)
{
	if (sql == NULL)
		return;
	free(sql->text);
	memset(sql, 0, sizeof(*sql));
}

const char *
mq_sql_param_value(enum mq_sql_param param, const struct mq_key *key)
{
	const char *v = NULL;

	switch (param) {
	case MQ_PARAM_ADDRESS:
		v = key->address;
		break;
	case MQ_PARAM_LOCAL:
		v = key->local;
		break;
	case MQ_PARAM_DOMAIN:
		v = key->domain;
		break;
	}
	return v != NULL ? v : "";
}
