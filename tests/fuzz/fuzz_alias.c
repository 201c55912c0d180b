/* SPDX-License-Identifier: MIT */
/*
 * fuzz_alias - libFuzzer target for the row parser of quota/lookup.c: the
 * alias destination list above all, and the user, usage and domain
 * columns beside it.
 *
 * The first byte picks the query kind; the rest is split on NUL bytes into
 * column values, one row of an alias lookup each (a user, usage or domain
 * row takes them as its columns). Invariants: every destination is a
 * non-empty word without a separator; the destinations, in order, are the
 * words of the rows; a number is kept only when its text is all digits.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"

#define SEPS ", \t\r\n"
#define MAX_VALUES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_alias(const struct mq_record *rec, char *const *values, size_t nvalues)
{
	size_t i, d = 0;

	for (i = 0; i < nvalues; i++) {
		const char *p = values[i];

		for (;;) {
			size_t n;

			p += strspn(p, SEPS);
			n = strcspn(p, SEPS);
			if (n == 0)
				break;
			if (d == rec->u.alias.ndest)
				return;		/* the cap: the rest is dropped */
			if (strlen(rec->u.alias.dest[d]) != n ||
			    memcmp(rec->u.alias.dest[d], p, n) != 0)
				abort();
			d++;
			p += n;
		}
	}
	if (d != rec->u.alias.ndest)
		abort();
}

/* all_digits - decimal digits, perhaps with ".0" after them (a REAL column). */
static bool
all_digits(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && (s[n] == '\0' || strcmp(s + n, ".0") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum mq_query_kind kinds[] = {
		MQ_Q_ALIAS, MQ_Q_ALIAS, MQ_Q_USER, MQ_Q_USAGE, MQ_Q_DOMAIN,
	};
	static const char *const user_cols[] = { "quota", "messages", "enabled", "maildir" };
	static const char *const usage_cols[] = { "bytes", "messages" };
	static const char *const domain_cols[] = { "enabled" };
	static const char *const alias_cols[] = { "destination" };
	char *values[MAX_VALUES];
	const struct mq_record *rec;
	struct mq_lookup_rows c;
	enum mq_query_kind kind;
	char error[256];
	char *text;
	size_t nvalues = 0, i;
	int r;

	if (size == 0)
		return 0;
	kind = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (i = 0; i < size && nvalues < MAX_VALUES; i += strlen(text + i) + 1)
		values[nvalues++] = text + i;

	mq_lookup_rows_init(&c, kind, error, sizeof(error));
	if (kind == MQ_Q_ALIAS) {
		for (i = 0; i < nvalues; i++)
			if (mq_lookup_row(&c, 1, alias_cols,
			    (const char *const *)&values[i]) != 0)
				break;
	} else {
		const char *row[4] = { NULL, NULL, NULL, NULL };
		const char *const *names = kind == MQ_Q_USER ? user_cols :
		    kind == MQ_Q_USAGE ? usage_cols : domain_cols;
		size_t ncols = kind == MQ_Q_USER ? 4 : kind == MQ_Q_USAGE ? 2 : 1;

		/* An empty value stands for SQL NULL. */
		for (i = 0; i < ncols && i < nvalues; i++)
			row[i] = values[i][0] != '\0' ? values[i] : NULL;
		mq_lookup_row(&c, ncols, names, row);
	}
	r = mq_lookup_rows_finish(&c, MQ_FOUND, &rec);
	if (r == MQ_FOUND) {
		if (rec->kind != kind)
			abort();
		switch (kind) {
		case MQ_Q_ALIAS:
			check_alias(rec, values, i < nvalues ? i + 1 : nvalues);
			break;
		case MQ_Q_USER:
			if (rec->u.user.has_quota_bytes && !all_digits(values[0]))
				abort();
			if (rec->u.user.has_quota_messages &&
			    (nvalues < 2 || !all_digits(values[1])))
				abort();
			break;
		case MQ_Q_USAGE:
			if (rec->u.usage.bytes != 0 && !all_digits(values[0]))
				abort();
			break;
		default:
			break;
		}
		mq_record_unref(&rec);
	} else if (r != MQ_TEMPFAIL && r != MQ_NOTFOUND) {
		abort();
	} else if (r == MQ_TEMPFAIL && error[0] == '\0') {
		abort();	/* a TEMPFAIL always says why */
	}
	free(text);
	return 0;
}
