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

int
mq_sql_translate(const char *tmpl, enum mq_sql_style style,
    struct mq_sql *out, const char **error_r)
{
	size_t tlen = strlen(tmpl), i = 0, len = 0;
	size_t lit_start = 0;	/* where the open literal started */
	char quote = '\0';	/* the open literal's quote, or NUL */
	char *text;

	memset(out, 0, sizeof(*out));
	/* "%s" (2 bytes) becomes at most "$16" (3 bytes). */
	text = xmalloc(tlen * 2 + 1);

	while (i < tlen) {
		char c = tmpl[i];

		if (c == '%') {
			char e = tmpl[i + 1];
			enum mq_sql_param p;
			bool whole;

			if (e == '%') {
				text[len++] = '%';
				i += 2;
				continue;
			}
			if (e == 's')
				p = MQ_PARAM_ADDRESS;
			else if (e == 'u')
				p = MQ_PARAM_LOCAL;
			else if (e == 'd')
				p = MQ_PARAM_DOMAIN;
			else {
				*error_r = "unknown '%' escape (use %s, %u, %d or %%)";
				goto fail;
			}
			/* '%s' as a whole single-quoted literal: drop the quotes. */
			whole = quote == '\'' && lit_start + 1 == i &&
			    tmpl[i + 2] == '\'' && tmpl[i + 3] != '\'';
			if (quote != '\0' && !whole) {
				*error_r = "placeholder inside a quoted string "
				    "(write it alone in single quotes, e.g. '%s')";
				goto fail;
			}
			if (out->nparams == MQ_SQL_MAX_PARAMS) {
				*error_r = "too many placeholders";
				goto fail;
			}
			out->params[out->nparams++] = p;
			if (whole) {
				len--;		/* the opening quote */
				quote = '\0';
				i += 3;		/* %s and the closing quote */
			} else
				i += 2;
			len = emit_param(text, len, style, out->nparams);
			continue;
		}

		if (quote != '\0') {
			if (c == quote) {
				if (tmpl[i + 1] == quote) {
					/* doubled quote: still inside */
					text[len++] = c;
					text[len++] = c;
					i += 2;
					continue;
				}
				quote = '\0';
			}
		} else if (c == '\'' || c == '"') {
			quote = c;
			lit_start = i;
		} else if (style == MQ_SQL_QMARK && c == '?') {
			*error_r = "a literal '?' outside quotes would be taken "
			    "for a parameter";
			goto fail;
		} else if (style == MQ_SQL_DOLLAR && c == '$' &&
		    tmpl[i + 1] >= '0' && tmpl[i + 1] <= '9') {
			*error_r = "a literal $N outside quotes would be taken "
			    "for a parameter";
			goto fail;
		}
		text[len++] = c;
		i++;
	}
	if (quote != '\0') {
		*error_r = "unterminated quoted string";
		goto fail;
	}
	text[len] = '\0';
	out->text = text;
	return 0;

fail:
	free(text);
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
