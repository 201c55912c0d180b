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
#include <stdlib.h>
#include <string.h>

#include "sqltmpl.h"
#include "util.h"

/* Where a translation stands. */
struct xlat {
	const char *tmpl;
	size_t i;		/* the next byte of tmpl */
	enum mq_sql_style style;
	struct mq_sql *out;
	char *text;		/* the driver SQL so far */
	size_t len;
	char quote;		/* the open literal's quote, or NUL */
	size_t lit_start;	/* where the open literal started */
};

/* The "$N" marker is written with at most two digits. */
_Static_assert(MQ_SQL_MAX_PARAMS <= 99, "parameter numbers of two digits");

/* emit_param - append the marker for parameter number n (1-based). */
static void
emit_param(struct xlat *x, size_t n)
{
	if (x->style == MQ_SQL_QMARK) {
		x->text[x->len++] = '?';
		return;
	}
	x->text[x->len++] = '$';
	if (n >= 10)
		x->text[x->len++] = (char)('0' + n / 10);
	x->text[x->len++] = (char)('0' + n % 10);
}

/* placeholder - the '%' escape at x->i: 0, or -1 with *error_r. */
static int
placeholder(struct xlat *x, const char **error_r)
{
	const char *t = x->tmpl + x->i;
	enum mq_sql_param p;
	bool whole;

	if (t[1] == '%') {
		x->text[x->len++] = '%';
		x->i += 2;
		return 0;
	}
	if (t[1] == 's')
		p = MQ_PARAM_ADDRESS;
	else if (t[1] == 'u')
		p = MQ_PARAM_LOCAL;
	else if (t[1] == 'd')
		p = MQ_PARAM_DOMAIN;
	else {
		*error_r = "unknown '%' escape (use %s, %u, %d or %%)";
		return -1;
	}
	/* '%s' as a whole single-quoted literal: drop the quotes. */
	whole = x->quote == '\'' && x->lit_start + 1 == x->i &&
	    t[2] == '\'' && t[3] != '\'';
	if (x->quote != '\0' && !whole) {
		*error_r = "placeholder inside a quoted string "
		    "(write it alone in single quotes, e.g. '%s')";
		return -1;
	}
	if (x->out->nparams == MQ_SQL_MAX_PARAMS) {
		*error_r = "too many placeholders";
		return -1;
	}
	x->out->params[x->out->nparams++] = p;
	if (whole) {
		x->len--;		/* the opening quote */
		x->quote = '\0';
		x->i += 3;		/* %s and the closing quote */
	} else
		x->i += 2;
	emit_param(x, x->out->nparams);
	return 0;
}

/*
 * other_char - any byte but '%' at x->i: copied, with the quotes tracked
 * and a bare marker of the target style refused. 0, or -1 with *error_r.
 */
static int
other_char(struct xlat *x, const char **error_r)
{
	char c = x->tmpl[x->i], next = x->tmpl[x->i + 1];

	if (x->quote != '\0') {
		if (c == x->quote) {
			if (next == x->quote) {
				/* doubled quote: still inside */
				x->text[x->len++] = c;
				x->text[x->len++] = c;
				x->i += 2;
				return 0;
			}
			x->quote = '\0';
		}
	} else if (c == '\'' || c == '"') {
		x->quote = c;
		x->lit_start = x->i;
	} else if (x->style == MQ_SQL_QMARK && c == '?') {
		*error_r = "a literal '?' outside quotes would be taken "
		    "for a parameter";
		return -1;
	} else if (x->style == MQ_SQL_DOLLAR && c == '$' &&
	    next >= '0' && next <= '9') {
		*error_r = "a literal $N outside quotes would be taken "
		    "for a parameter";
		return -1;
	}
	x->text[x->len++] = c;
	x->i++;
	return 0;
}

int
mq_sql_translate(const char *tmpl, enum mq_sql_style style,
    struct mq_sql *out, const char **error_r)
{
	size_t tlen = strlen(tmpl);
	struct xlat x = { .tmpl = tmpl, .style = style, .out = out };

	memset(out, 0, sizeof(*out));
	/* "%s" (2 bytes) becomes at most "$16" (3 bytes). */
	x.text = xmalloc(tlen * 2 + 1);

	while (x.i < tlen) {
		int r = tmpl[x.i] == '%' ? placeholder(&x, error_r) :
		    other_char(&x, error_r);

		if (r < 0)
			goto fail;
	}
	if (x.quote != '\0') {
		*error_r = "unterminated quoted string";
		goto fail;
	}
	x.text[x.len] = '\0';
	out->text = x.text;
	return 0;

fail:
	free(x.text);
	memset(out, 0, sizeof(*out));
	return -1;
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
