/* SPDX-License-Identifier: MIT */
/*
 * lookup - typed, reference-counted records built from a backend's rows.
 *
 * Backends hand over text; this file alone knows the column contract and
 * turns it into numbers and flags with strict parsers. A value that does
 * not parse makes the lookup a temporary failure: a broken row must never
 * become a reject.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lookup.h"
#include "resolve.h"
#include "util.h"

/*
 * Destinations kept from one alias lookup. More than Postfix expands
 * (virtual_alias_expansion_limit): a row cut here is already one that
 * Postfix defers, and the resolver answers it so without the rest.
 */
#define ALIAS_MAX_DEST 1024
_Static_assert(ALIAS_MAX_DEST > MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT,
    "a cut alias row must still be past Postfix's expansion limit");

struct mq_record *
mq_record_ref(const struct mq_record *rec)
{
	struct mq_record *r = (struct mq_record *)rec;

	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void
mq_record_unref(const struct mq_record **recp)
{
	struct mq_record *rec = (struct mq_record *)*recp;

	*recp = NULL;
	if (rec == NULL || atomic_fetch_sub_explicit(&rec->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	switch (rec->kind) {
	case MQ_Q_USER:
		free(rec->u.user.maildir);
		free(rec->u.user.address);
		break;
	case MQ_Q_ALIAS:
		for (size_t i = 0; i < rec->u.alias.ndest; i++)
			free(rec->u.alias.dest[i]);
		free(rec->u.alias.dest);
		break;
	case MQ_Q_ALIAS_DOMAIN:
	case MQ_Q_USERS:
		free(rec->u.text.value);
		break;
	default:
		break;
	}
	free(rec);
}

int
mq_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = { "1", "t", "true", "y", "yes", "on" };
	static const char *const no[] = { "0", "f", "false", "n", "no", "off" };

	for (size_t i = 0; i < MQ_NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

static int
column(size_t ncols, const char *const *names, const char *name)
{
	for (size_t i = 0; i < ncols; i++)
		if (names[i] != NULL && strcasecmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

static int
bad_value(struct mq_lookup_rows *c, const char *col, const char *value)
{
	char clean[64];

	mq_sanitize(clean, sizeof(clean), value, strlen(value));
	snprintf(c->error, c->errlen, "%s query: column %s: not a number or flag: \"%s\"",
	    mq_query_kind_name(c->rec->kind), col, clean);
	c->failed = true;
	return 1;
}

/* get_u64 - an optional numeric column: absent or NULL leaves *has_r false. */
static int
get_u64(struct mq_lookup_rows *c, size_t ncols, const char *const *names,
    const char *const *values, const char *col, bool *has_r, uint64_t *value_r)
{
	int i = column(ncols, names, col);
	const char *v;
	size_t len;

	*has_r = false;
	if (i < 0 || values[i] == NULL)
		return 0;
	v = values[i];
	len = strlen(v);
	/* Some drivers render integral NUMERIC/REAL columns as "1024.0". */
	if (len > 2 && strcmp(v + len - 2, ".0") == 0)
		len -= 2;
	if (mq_parse_u64n(v, len, value_r) < 0)
		return bad_value(c, col, v);
	*has_r = true;
	return 0;
}

static int
get_flag(struct mq_lookup_rows *c, size_t ncols, const char *const *names,
    const char *const *values, bool *value_r)
{
	int i = column(ncols, names, "enabled");

	*value_r = true;		/* no enabled column: enabled */
	if (i < 0)
		return 0;
	if (values[i] == NULL) {
		*value_r = false;	/* NULL AND ...: not known to be enabled */
		return 0;
	}
	if (mq_parse_bool(values[i], value_r) < 0)
		return bad_value(c, "enabled", values[i]);
	return 0;
}

static void
add_destinations(struct mq_record *rec, const char *list)
{
	const char *p = list;

	while (*p != '\0' && rec->u.alias.ndest < ALIAS_MAX_DEST) {
		size_t n;

		p += strspn(p, ", \t\r\n");
		n = strcspn(p, ", \t\r\n");
		if (n == 0)
			break;
		rec->u.alias.dest = xreallocarray(rec->u.alias.dest,
		    rec->u.alias.ndest + 1, sizeof(char *));
		rec->u.alias.dest[rec->u.alias.ndest++] = xstrndup(p, n);
		p += n;
	}
}

/*
 * stored_address - the address the user row is stored under: column
 * address, else email, else username (the tutorial's and PostfixAdmin's
 * names), and only a value with an '@' (some schemas keep the bare local
 * part in a username column). The Maildir path and the usage key come from
 * it, since the database may have matched a different spelling.
 */
static void
stored_address(struct mq_record *rec, size_t ncols, const char *const *names,
    const char *const *values)
{
	static const char *const cols[] = { "address", "email", "username" };

	for (size_t k = 0; k < MQ_NELEM(cols); k++) {
		int i = column(ncols, names, cols[k]);

		if (i < 0 || values[i] == NULL)
			continue;
		if (strchr(values[i], '@') != NULL)
			rec->u.user.address = xstrdup(values[i]);
		return;
	}
}

int
mq_lookup_row(void *ctx, size_t ncols, const char *const *names,
    const char *const *values)
{
	struct mq_lookup_rows *c = ctx;
	struct mq_record *rec = c->rec;
	bool has;
	uint64_t v;
	int i;

	c->rows++;
	switch (rec->kind) {
	case MQ_Q_USER:
		if (get_u64(c, ncols, names, values, "quota", &has, &v))
			return 1;
		rec->u.user.has_quota_bytes = has;
		rec->u.user.quota_bytes = has ? v : 0;
		if (get_u64(c, ncols, names, values, "messages", &has, &v))
			return 1;
		rec->u.user.has_quota_messages = has;
		rec->u.user.quota_messages = has ? v : 0;
		if (get_flag(c, ncols, names, values, &rec->u.user.enabled))
			return 1;
		i = column(ncols, names, "maildir");
		if (i >= 0 && values[i] != NULL && values[i][0] != '\0')
			rec->u.user.maildir = xstrdup(values[i]);
		stored_address(rec, ncols, names, values);
		return 1;	/* the first row decides */
	case MQ_Q_ALIAS:
		i = column(ncols, names, "destination");
		if (i < 0)
			i = 0;
		if (ncols > 0 && values[i] != NULL)
			add_destinations(rec, values[i]);
		return rec->u.alias.ndest >= ALIAS_MAX_DEST;
	case MQ_Q_DOMAIN:
		if (get_flag(c, ncols, names, values, &rec->u.domain.enabled))
			return 1;
		return 1;
	case MQ_Q_USAGE:
		if (get_u64(c, ncols, names, values, "bytes", &has, &v))
			return 1;
		rec->u.usage.bytes = has ? v : 0;
		if (get_u64(c, ncols, names, values, "messages", &has, &v))
			return 1;
		rec->u.usage.messages = has ? v : 0;
		return 1;
	case MQ_Q_ALIAS_DOMAIN:
	case MQ_Q_USERS:
		if (ncols > 0 && values[0] != NULL && values[0][0] != '\0') {
			rec->u.text.value = xstrdup(values[0]);
			return 1;
		}
		c->rows--;	/* a NULL target is no target */
		return 0;
	default:
		return 1;
	}
}

/*
 * The columns mq_lookup_row reads by name, per query (NULL-terminated).
 * Keep in step with mq_lookup_row: -t checks queries against this list.
 */
static const char *const read_by_name[MQ_Q_COUNT][8] = {
	[MQ_Q_USER] = { "quota", "messages", "enabled", "maildir", "address",
	    "email", "username", NULL },
	[MQ_Q_ALIAS] = { "destination", NULL },	/* else the first column */
	[MQ_Q_DOMAIN] = { "enabled", NULL },
	[MQ_Q_USERS] = { NULL },		/* the first column */
	[MQ_Q_USAGE] = { "bytes", "messages", NULL },
	[MQ_Q_ALIAS_DOMAIN] = { NULL },		/* the first column */
};

static bool
read_name(enum mq_query_kind kind, const char *name)
{
	for (size_t i = 0; read_by_name[kind][i] != NULL; i++)
		if (name != NULL && strcasecmp(name, read_by_name[kind][i]) == 0)
			return true;
	return false;
}

/*
 * join_names - the names (those with skip false) as "a, b" into buf; a
 * list that does not fit ends in "..." rather than passing for whole.
 */
static void
join_names(char *buf, size_t len, size_t ncols, const char *const *names,
    const bool *skip)
{
	size_t at = 0;

	assert(len > 4);
	buf[0] = '\0';
	for (size_t i = 0; i < ncols; i++) {
		char clean[64];
		int n;

		if (skip != NULL && skip[i])
			continue;
		mq_sanitize(clean, sizeof(clean), names[i] != NULL ? names[i] : "",
		    names[i] != NULL ? strlen(names[i]) : 0);
		n = snprintf(buf + at, len - at, "%s%s", at > 0 ? ", " : "", clean);
		if (n < 0 || (size_t)n >= len - at) {
			memcpy(buf + len - 4, "...", 4);
			return;
		}
		at += (size_t)n;
	}
}

int
mq_lookup_check_columns(enum mq_query_kind kind, size_t ncols,
    const char *const *names, char *error, size_t errlen,
    char *unread, size_t unreadlen)
{
	bool *used, any = false, first = false;
	char have[256];
	int rc = 0;

	unread[0] = '\0';
	if ((unsigned)kind >= MQ_Q_COUNT)
		return -1;
	if (ncols == 0) {
		snprintf(error, errlen, "returns no columns");
		return -1;
	}
	used = xcalloc(ncols, sizeof(*used));	/* every column is checked */
	for (size_t i = 0; i < ncols; i++)
		any |= used[i] = read_name(kind, names[i]);
	join_names(have, sizeof(have), ncols, names, NULL);

	switch (kind) {
	case MQ_Q_USER:
		/* the stored address alone says nothing about the quota */
		if (column(ncols, names, "quota") < 0 &&
		    column(ncols, names, "messages") < 0 &&
		    column(ncols, names, "enabled") < 0 &&
		    column(ncols, names, "maildir") < 0) {
			snprintf(error, errlen, "returns none of the columns "
			    "quota, messages, enabled, maildir (it returns: %s)",
			    have);
			rc = -1;
			goto out;
		}
		break;
	case MQ_Q_USAGE:
		if (column(ncols, names, "bytes") < 0) {
			snprintf(error, errlen, "returns no column bytes "
			    "(it returns: %s)", have);
			rc = -1;
			goto out;
		}
		break;
	case MQ_Q_ALIAS:
	case MQ_Q_USERS:
	case MQ_Q_ALIAS_DOMAIN:
		first = !any;	/* read by position */
		break;
	default:
		break;
	}
	if (first)
		used[0] = true;
	join_names(unread, unreadlen, ncols, names, used);
out:
	free(used);
	return rc;
}

void
mq_lookup_rows_init(struct mq_lookup_rows *c, enum mq_query_kind kind,
    char *error, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->error = error;
	c->errlen = errlen;
	c->rec = xcalloc(1, sizeof(*c->rec));
	atomic_init(&c->rec->refs, 1);
	c->rec->kind = kind;
}

int
mq_lookup_rows_finish(struct mq_lookup_rows *c, int r,
    const struct mq_record **rec_r)
{
	const struct mq_record *done = c->rec;

	*rec_r = NULL;
	c->rec = NULL;
	if (c->failed)
		r = MQ_TEMPFAIL;
	else if (r == MQ_FOUND && c->rows == 0)
		r = MQ_NOTFOUND;
	if (r != MQ_FOUND) {
		mq_record_unref(&done);
		return r;
	}
	*rec_r = done;
	return MQ_FOUND;
}

int
mq_lookup_backend(struct mq_backend_conn *conn, enum mq_query_kind kind,
    const struct mq_key *key, const struct mq_record **rec_r,
    char *error, size_t errlen)
{
	struct mq_lookup_rows c;
	int r;

	mq_lookup_rows_init(&c, kind, error, errlen);
	r = mq_backend_query(conn, kind, key, mq_lookup_row, &c, error, errlen);
	return mq_lookup_rows_finish(&c, r, rec_r);
}
