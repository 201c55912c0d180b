/* SPDX-License-Identifier: MIT */
/*
 * lookup - typed records from the backend's text rows, and the lookup
 * interface the resolver is written against.
 *
 * A record is immutable once built and reference counted, so one cached
 * record can be read by the event loop and by workers at once. A lookup
 * function returns MQ_FOUND with a record the caller must mq_record_unref,
 * MQ_NOTFOUND, MQ_TEMPFAIL, or MQ_MISS (cache-only lookups: not cached).
 *
 * Column contract (by name, case-insensitive; see docs/databases.md):
 *   user:   quota (bytes, NULL/0 = unlimited), messages (optional), enabled,
 *           maildir (optional), address (optional, else email, else
 *           username: the mailbox's stored address, taken only when it
 *           holds an '@')
 *   alias:  destination (or the first column); rows are concatenated
 *   domain: enabled (absent = enabled)
 *   usage:  bytes, messages
 *   alias_domain, users: the first column
 * enabled accepts 1/0, t/f, true/false, y/n, yes/no (any case).
 */
#ifndef MQ_LOOKUP_H
#define MQ_LOOKUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "backend.h"

struct mq_record {
	atomic_int refs;
	enum mq_query_kind kind;
	union {
		struct {
			bool has_quota_bytes;	/* column present and not NULL */
			uint64_t quota_bytes;	/* 0 = unlimited */
			bool has_quota_messages;
			uint64_t quota_messages;
			bool enabled;
			char *maildir;		/* NULL: use maildir.path */
			char *address;		/* the stored address; NULL: not returned */
		} user;
		struct {
			size_t ndest;
			char **dest;		/* one address each, split on , and blanks */
		} alias;
		struct {
			bool enabled;
		} domain;
		struct {
			uint64_t bytes;
			uint64_t messages;
		} usage;
		struct {
			char *value;		/* alias_domain: target domain */
		} text;
	} u;
};

struct mq_record *mq_record_ref(const struct mq_record *rec);
void mq_record_unref(const struct mq_record **rec);

/*
 * mq_lookup_backend - run one query and build its record. Malformed column
 * values (a quota of "abc") are a TEMPFAIL with the reason in error: a
 * broken row must never turn into a reject.
 */
int mq_lookup_backend(struct mq_backend_conn *conn, enum mq_query_kind kind,
    const struct mq_key *key, const struct mq_record **rec_r,
    char *error, size_t errlen);

/*
 * Row collection, for callers that run the query themselves (a batch):
 * init, pass mq_lookup_row with &rows as the backend's callback, then
 * finish with the query's result, which gives what mq_lookup_backend
 * would have given. finish always releases what init made.
 */
struct mq_lookup_rows {
	struct mq_record *rec;
	char *error;
	size_t errlen;
	bool failed;
	size_t rows;
};

void mq_lookup_rows_init(struct mq_lookup_rows *c, enum mq_query_kind kind,
    char *error, size_t errlen);
mq_row_fn mq_lookup_row;
int mq_lookup_rows_finish(struct mq_lookup_rows *c, int r,
    const struct mq_record **rec_r);

/* mq_parse_bool - enabled-column text; -1 when it is none of the forms above. */
int mq_parse_bool(const char *s, bool *value_r);

/*
 * mq_lookup_check_columns - does a query of this kind return what
 * mq_lookup_row reads (by name, or the first column)? Returns 0, or -1
 * with error naming what is missing and what the query returns. On 0,
 * unread lists the columns that are returned but never read ("" when
 * none), for a warning: often a name that lacks its "AS".
 */
int mq_lookup_check_columns(enum mq_query_kind kind, size_t ncols,
    const char *const *names, char *error, size_t errlen,
    char *unread, size_t unreadlen);

/* The interface the resolver uses: cache-only, or cache then backend. */
struct mq_lookup {
	int (*get)(void *ctx, enum mq_query_kind kind, const struct mq_key *key,
	    const struct mq_record **rec_r);
	void *ctx;
	bool has_query[MQ_Q_COUNT];	/* optional queries left unset are never asked */
};

#endif
