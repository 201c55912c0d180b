/* SPDX-License-Identifier: MIT */
/*
 * report_fmt - the figures of `mailquota report` and their four renderings
 * (table, csv, json, html). Pure: no database, no disk, no clock; it
 * allocates and writes to the FILE it is given, nothing else, so every
 * format is unit-tested on made-up mailboxes.
 *
 * Definitions (docs/mailquota.1 says the same):
 *   use % of a mailbox   the larger of used/limit for bytes and for
 *                        messages, over the limits it has; none when it
 *                        has no limit at all.
 *   over quota           at or above a limit (bytes or messages): what the
 *                        daemon rejects with a message of size 0.
 *   domain quota         the sum of its mailboxes' byte limits; a mailbox
 *                        without a byte limit adds nothing to it.
 *   domain use %         used bytes of the mailboxes with a byte limit over
 *                        that sum.
 *   top N                the N largest mailboxes by bytes used (ties by
 *                        address).
 *   --over PCT           every mailbox whose use % is at or above PCT, the
 *                        fullest first, instead of the top N.
 * csv and json always carry raw byte counts; table and html use binary
 * units unless raw_bytes is set.
 */
#ifndef MQ_REPORT_FMT_H
#define MQ_REPORT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MQ_REPORT_BUCKETS 11	/* use %: 0-9, 10-19, ..., 90-99, 100 and more */

enum mq_report_format {
	MQ_REPORT_TABLE,
	MQ_REPORT_CSV,
	MQ_REPORT_JSON,
	MQ_REPORT_HTML,
};

/* One mailbox as read; the strings belong to the caller and outlive the report. */
struct mq_report_box {
	const char *address;		/* local@domain, lower case */
	const char *domain;		/* the part after the '@' of address */
	const char *error;		/* NULL: the figures below are valid */
	bool enabled;
	uint64_t limit_bytes;		/* 0 = unlimited */
	uint64_t used_bytes;
	uint64_t limit_messages;	/* 0 = unlimited */
	uint64_t used_messages;
	const char *limit_source;	/* "sql", "maildirsize", "none" */
	const char *usage_source;	/* "maildirsize", "recount", "sql", "none" */
};

struct mq_report_domain {
	const char *name;		/* NULL for the total */
	size_t users;			/* mailboxes, read or not */
	size_t limited;			/* with a byte limit */
	size_t over;			/* over quota */
	size_t errors;			/* could not be read */
	uint64_t quota_bytes;		/* sum of the byte limits */
	uint64_t used_bytes;		/* sum of the usage of every mailbox */
	uint64_t used_limited;		/* usage of the mailboxes with a byte limit */
	uint64_t messages;
};

struct mq_report_opts {
	size_t top;			/* length of the list; with over, 0 = no cap */
	bool over;			/* list the mailboxes at or above over_percent */
	uint64_t over_percent;
	bool raw_bytes;			/* table and html: bytes, not KiB/MiB/... */
	time_t generated;		/* shown in json and html; 0 = left out */
	double seconds;			/* scan time shown; < 0 = left out */
};

struct mq_report {
	struct mq_report_opts opts;
	struct mq_report_domain *domains;	/* sorted by name */
	size_t ndomains;
	struct mq_report_domain total;
	const struct mq_report_box **list;	/* top N, or the --over list */
	size_t nlist;
	size_t nover;			/* --over matches before any cap */
	const struct mq_report_box **errors;	/* mailboxes not read, by address */
	size_t nerrors;
	size_t histogram[MQ_REPORT_BUCKETS];	/* mailboxes with a limit, by use % */
};

/* mq_report_build - group, sum, sort; boxes must outlive the report. */
void mq_report_build(struct mq_report *r, const struct mq_report_box *boxes,
    size_t n, const struct mq_report_opts *opts);
void mq_report_free(struct mq_report *r);

/* mq_report_write - render r; 0, or -1 when writing failed. */
int mq_report_write(FILE *out, const struct mq_report *r,
    enum mq_report_format format);

/* mq_report_format_parse - "table", "csv", "json", "html": 0, else -1. */
int mq_report_format_parse(const char *s, enum mq_report_format *format_r);

/* mq_report_percent - a mailbox's use %; -1 when it has no limit. */
double mq_report_percent(const struct mq_report_box *b);
/* mq_report_at_or_above - use % >= pct for bytes or messages (exact integers). */
bool mq_report_at_or_above(const struct mq_report_box *b, uint64_t pct);
/* mq_report_bucket - the histogram bucket for a use % (>= 0). */
size_t mq_report_bucket(double percent);

/*
 * Escapers, one field or string each. Invalid UTF-8 becomes U+FFFD so that
 * every output is valid UTF-8 whatever bytes the database held.
 *   csv:  quoted (RFC 4180, quotes doubled) when it holds , " CR LF or
 *         starts or ends with a blank; one starting with = + - @ TAB or
 *         CR (a spreadsheet formula) gets a leading ' inside the quotes
 *   json: a quoted string; ", \ and control characters escaped
 *   html: text or attribute value; & < > " ' as entities, control
 *         characters dropped
 */
void mq_csv_field(FILE *out, const char *s);
void mq_json_string(FILE *out, const char *s);
void mq_html_text(FILE *out, const char *s);

#endif
