/* SPDX-License-Identifier: MIT */
/*
 * report_fmt - group the mailboxes of `mailquota report` by domain, pick
 * the list (top N or --over), count the use % histogram, and render it all
 * as a table, csv, json or one self-contained html page (inline CSS and
 * SVG, no script, nothing fetched). Pure: see report_fmt.h.
 *
 * Everything that came from the database (addresses, domains) or from the
 * system (error texts) goes out through an escaper for its format; the
 * escapers also replace bytes that are not UTF-8, so a broken row cannot
 * break a csv parser, a json parser or the page.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_fmt.h"
#include "util.h"

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

/*
 * Escaping.
 */

/*
 * utf8_next - the code point at s (NUL-terminated) and its length in
 * bytes; -1 with length 1 for a byte that does not start valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included).
 */
static long
utf8_next(const unsigned char *s, size_t *len_r)
{
	unsigned char c = s[0];
	size_t n, i;
	long cp;

	*len_r = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return -1;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* the NUL stops here too */
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len_r = n;
	return cp;
}

void
mq_csv_field(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), n;
	bool quote, formula;

	/*
	 * A cell that a spreadsheet would take for a formula (=, +, -, @,
	 * or TAB or CR before one) gets a leading apostrophe, inside quotes:
	 * "-x"@example.org is a valid local part, and a report is opened
	 * in spreadsheets.
	 */
	formula = len > 0 && strchr("=+-@\t\r", s[0]) != NULL;
	quote = formula || strpbrk(s, ",\"\r\n") != NULL ||
	    (len > 0 && (s[0] == ' ' || s[0] == '\t' ||
	    s[len - 1] == ' ' || s[len - 1] == '\t'));
	if (quote)
		fputc('"', out);
	if (formula)
		fputc('\'', out);
	while (*p != '\0') {
		long cp = utf8_next(p, &n);

		if (cp < 0)
			fputs(REPLACEMENT, out);
		else if (cp == '"')
			fputs("\"\"", out);
		else
			fwrite(p, 1, n, out);
		p += n;
	}
	if (quote)
		fputc('"', out);
}

void
mq_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', out);
	while (*p != '\0') {
		long cp = utf8_next(p, &n);

		if (cp < 0)
			fputs("\\ufffd", out);
		else if (cp == '"')
			fputs("\\\"", out);
		else if (cp == '\\')
			fputs("\\\\", out);
		else if (cp == '\n')
			fputs("\\n", out);
		else if (cp == '\r')
			fputs("\\r", out);
		else if (cp == '\t')
			fputs("\\t", out);
		else if (cp < 0x20 || cp == 0x7f)
			fprintf(out, "\\u%04lx", cp);
		else
			fwrite(p, 1, n, out);
		p += n;
	}
	fputc('"', out);
}

void
mq_html_text(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		long cp = utf8_next(p, &n);

		switch (cp) {
		case -1:
			fputs(REPLACEMENT, out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			if (cp >= 0x20 && cp != 0x7f)
				fwrite(p, 1, n, out);
			break;
		}
		p += n;
	}
}

/*
 * Figures.
 */

double
mq_report_percent(const struct mq_report_box *b)
{
	double pct = -1, m;

	if (b->limit_bytes > 0)
		pct = (double)b->used_bytes * 100.0 / (double)b->limit_bytes;
	if (b->limit_messages > 0) {
		m = (double)b->used_messages * 100.0 / (double)b->limit_messages;
		if (m > pct)
			pct = m;
	}
	return pct;
}

/* at_or_above - used * 100 >= pct * limit, without overflow. */
static bool
at_or_above(uint64_t used, uint64_t limit, uint64_t pct)
{
	unsigned __int128 a = (unsigned __int128)used * 100;
	unsigned __int128 b = (unsigned __int128)limit * pct;

	return limit > 0 && a >= b;
}

bool
mq_report_at_or_above(const struct mq_report_box *b, uint64_t pct)
{
	return at_or_above(b->used_bytes, b->limit_bytes, pct) ||
	    at_or_above(b->used_messages, b->limit_messages, pct);
}

size_t
mq_report_bucket(double percent)
{
	if (percent >= 100)
		return MQ_REPORT_BUCKETS - 1;
	if (percent < 0)
		return 0;
	return (size_t)(percent / 10);
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* domain_add - count one mailbox into a domain's (or the total's) sums. */
static void
domain_add(struct mq_report_domain *d, const struct mq_report_box *b)
{
	d->users++;
	if (b->error != NULL) {
		d->errors++;
		return;
	}
	d->used_bytes = add_sat(d->used_bytes, b->used_bytes);
	d->messages = add_sat(d->messages, b->used_messages);
	if (b->limit_bytes > 0) {
		d->limited++;
		d->quota_bytes = add_sat(d->quota_bytes, b->limit_bytes);
		d->used_limited = add_sat(d->used_limited, b->used_bytes);
	}
	if (mq_report_at_or_above(b, 100))
		d->over++;
}

static int
by_domain(const void *a, const void *b)
{
	const struct mq_report_box *x = *(const struct mq_report_box *const *)a;
	const struct mq_report_box *y = *(const struct mq_report_box *const *)b;
	int c = strcmp(x->domain, y->domain);

	return c != 0 ? c : strcmp(x->address, y->address);
}

static int
by_usage(const void *a, const void *b)
{
	const struct mq_report_box *x = *(const struct mq_report_box *const *)a;
	const struct mq_report_box *y = *(const struct mq_report_box *const *)b;

	if (x->used_bytes != y->used_bytes)
		return x->used_bytes > y->used_bytes ? -1 : 1;
	return strcmp(x->address, y->address);
}

static int
by_percent(const void *a, const void *b)
{
	const struct mq_report_box *x = *(const struct mq_report_box *const *)a;
	const struct mq_report_box *y = *(const struct mq_report_box *const *)b;
	double px = mq_report_percent(x), py = mq_report_percent(y);

	if (px != py)
		return px > py ? -1 : 1;
	return strcmp(x->address, y->address);
}

static int
by_address(const void *a, const void *b)
{
	const struct mq_report_box *x = *(const struct mq_report_box *const *)a;
	const struct mq_report_box *y = *(const struct mq_report_box *const *)b;

	return strcmp(x->address, y->address);
}

void
mq_report_build(struct mq_report *r, const struct mq_report_box *boxes,
    size_t n, const struct mq_report_opts *opts)
{
	const struct mq_report_box **all;
	size_t i, nok = 0;

	memset(r, 0, sizeof(*r));
	r->opts = *opts;
	if (n == 0)
		return;
	all = xreallocarray(NULL, n, sizeof(*all));
	for (i = 0; i < n; i++)
		all[i] = &boxes[i];

	/* Domains: one pass over the mailboxes sorted by domain. */
	qsort(all, n, sizeof(*all), by_domain);
	r->domains = xcalloc(n, sizeof(*r->domains));
	for (i = 0; i < n; i++) {
		const struct mq_report_box *b = all[i];

		if (r->ndomains == 0 ||
		    strcmp(r->domains[r->ndomains - 1].name, b->domain) != 0)
			r->domains[r->ndomains++].name = b->domain;
		domain_add(&r->domains[r->ndomains - 1], b);
		domain_add(&r->total, b);
		if (b->error != NULL) {
			r->errors = xreallocarray(r->errors, r->nerrors + 1,
			    sizeof(*r->errors));
			r->errors[r->nerrors++] = b;
			continue;
		}
		all[nok++] = b;
		if (mq_report_percent(b) >= 0)
			r->histogram[mq_report_bucket(mq_report_percent(b))]++;
	}
	r->domains = xreallocarray(r->domains, r->ndomains, sizeof(*r->domains));
	if (r->nerrors > 1)
		qsort(r->errors, r->nerrors, sizeof(*r->errors), by_address);

	/* The list: the fullest (--over) or the largest, among those read. */
	if (opts->over) {
		size_t m = 0;

		for (i = 0; i < nok; i++)
			if (mq_report_at_or_above(all[i], opts->over_percent))
				all[m++] = all[i];
		r->nover = m;
		qsort(all, m, sizeof(*all), by_percent);
		r->nlist = opts->top > 0 && opts->top < m ? opts->top : m;
	} else {
		qsort(all, nok, sizeof(*all), by_usage);
		r->nlist = opts->top < nok ? opts->top : nok;
	}
	if (r->nlist > 0) {
		r->list = xreallocarray(NULL, r->nlist, sizeof(*r->list));
		memcpy(r->list, all, r->nlist * sizeof(*r->list));
	}
	free(all);
}

void
mq_report_free(struct mq_report *r)
{
	free(r->domains);
	free(r->list);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

int
mq_report_format_parse(const char *s, enum mq_report_format *format_r)
{
	static const char *const names[] = {
		[MQ_REPORT_TABLE] = "table",
		[MQ_REPORT_CSV] = "csv",
		[MQ_REPORT_JSON] = "json",
		[MQ_REPORT_HTML] = "html",
	};

	for (size_t i = 0; i < MQ_NELEM(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*format_r = (enum mq_report_format)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Shared text helpers.
 */

/* bytes_text - a byte count as raw digits or binary units. */
static const char *
bytes_text(char *buf, size_t size, uint64_t v, bool raw)
{
	if (raw)
		snprintf(buf, size, "%" PRIu64, v);
	else
		mq_human_bytes(buf, size, v);
	return buf;
}

/* limit_text - like bytes_text, "unlimited" for 0. */
static const char *
limit_text(char *buf, size_t size, uint64_t v, bool raw)
{
	if (v == 0) {
		mq_strlcpy(buf, "unlimited", size);
		return buf;
	}
	return bytes_text(buf, size, v, raw);
}

/* pct_text - "28.3%", or "-" for none; suffix "%" optional. */
static const char *
pct_text(char *buf, size_t size, double pct, bool sign)
{
	if (pct < 0)
		mq_strlcpy(buf, "-", size);
	else
		snprintf(buf, size, "%.1f%s", pct, sign ? "%" : "");
	return buf;
}

/* domain_percent - used by limited mailboxes over the sum of their limits. */
static double
domain_percent(const struct mq_report_domain *d)
{
	if (d->quota_bytes == 0)
		return -1;
	return (double)d->used_limited * 100.0 / (double)d->quota_bytes;
}

static const char *
bucket_label(char *buf, size_t size, size_t i)
{
	if (i == MQ_REPORT_BUCKETS - 1)
		snprintf(buf, size, "%zu%%+", i * 10);
	else
		snprintf(buf, size, "%zu-%zu%%", i * 10, i * 10 + 9);
	return buf;
}

static const char *
list_title(char *buf, size_t size, const struct mq_report *r)
{
	if (r->opts.over)
		snprintf(buf, size, "Mailboxes at or above %" PRIu64 "%%: %zu%s",
		    r->opts.over_percent, r->nover,
		    r->nlist < r->nover ? " (the fullest shown)" : "");
	else
		snprintf(buf, size, "Top %zu mailboxes by usage", r->nlist);
	return buf;
}

/*
 * Table.
 */

#define TABLE_COLS 6

struct table {
	size_t nrows, cap;
	char *(*rows)[TABLE_COLS];
	size_t width[TABLE_COLS];
};

/* utf8_width - characters, not bytes, for column alignment. */
static size_t
utf8_width(const char *s)
{
	size_t w = 0, n;

	for (; *s != '\0'; s += n, w++)
		(void)utf8_next((const unsigned char *)s, &n);
	return w;
}

static void
table_row(struct table *t, const char *c0, const char *c1, const char *c2,
    const char *c3, const char *c4, const char *c5)
{
	const char *cells[TABLE_COLS] = { c0, c1, c2, c3, c4, c5 };

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->rows = xreallocarray(t->rows, t->cap, sizeof(*t->rows));
	}
	for (size_t i = 0; i < TABLE_COLS; i++) {
		size_t w;

		t->rows[t->nrows][i] = xstrdup(cells[i]);
		if ((w = utf8_width(cells[i])) > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
}

/* table_print - first column left-aligned, the others right-aligned. */
static void
table_print(FILE *out, struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < TABLE_COLS; i++) {
			const char *c = t->rows[r][i];
			size_t pad = t->width[i] - utf8_width(c);

			if (i == 0) {
				fprintf(out, "%s%*s", c, (int)pad, "");
			} else {
				fprintf(out, "  %*s%s", (int)pad, "", c);
			}
			free(t->rows[r][i]);
		}
		fputc('\n', out);
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/*
 * table_safe - a copy of s fit for a terminal: not UTF-8 becomes U+FFFD,
 * control characters '?'.
 */
static char *
table_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *buf = xmalloc(strlen(s) * 3 + 1), *q = buf;
	size_t n;

	while (*p != '\0') {
		long cp = utf8_next(p, &n);

		if (cp < 0) {
			memcpy(q, REPLACEMENT, 3);
			q += 3;
		} else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			*q++ = '?';
		} else {
			memcpy(q, p, n);
			q += n;
		}
		p += n;
	}
	*q = '\0';
	return buf;
}

static void
table_domain(struct table *t, const char *name, const struct mq_report_domain *d,
    bool raw)
{
	char users[32], quota[32], used[32], pct[32], over[32];
	char *safe = table_safe(name);

	snprintf(users, sizeof(users), "%zu", d->users);
	snprintf(over, sizeof(over), "%zu", d->over);
	if (d->quota_bytes == 0)
		mq_strlcpy(quota, "-", sizeof(quota));
	else
		bytes_text(quota, sizeof(quota), d->quota_bytes, raw);
	table_row(t, safe, users, quota, bytes_text(used, sizeof(used),
	    d->used_bytes, raw), pct_text(pct, sizeof(pct), domain_percent(d), true),
	    over);
	free(safe);
}

static void
write_table(FILE *out, const struct mq_report *r)
{
	struct table t = { 0 };
	bool raw = r->opts.raw_bytes;
	char title[128];
	size_t i;

	table_row(&t, "DOMAIN", "USERS", "QUOTA", "USED", "USE%", "OVER");
	for (i = 0; i < r->ndomains; i++)
		table_domain(&t, r->domains[i].name, &r->domains[i], raw);
	if (r->ndomains != 1)
		table_domain(&t, "TOTAL", &r->total, raw);
	table_print(out, &t);

	if (r->opts.over || r->nlist > 0) {
		fprintf(out, "\n%s\n", list_title(title, sizeof(title), r));
		if (r->nlist > 0)
			table_row(&t, "MAILBOX", "USED", "QUOTA", "USE%",
			    "MESSAGES", "STATUS");
		for (i = 0; i < r->nlist; i++) {
			const struct mq_report_box *b = r->list[i];
			char used[32], quota[32], pct[32], msgs[64];
			char *safe = table_safe(b->address);

			if (b->limit_messages > 0)
				snprintf(msgs, sizeof(msgs), "%" PRIu64 "/%" PRIu64,
				    b->used_messages, b->limit_messages);
			else
				snprintf(msgs, sizeof(msgs), "%" PRIu64,
				    b->used_messages);
			table_row(&t, safe,
			    bytes_text(used, sizeof(used), b->used_bytes, raw),
			    limit_text(quota, sizeof(quota), b->limit_bytes, raw),
			    pct_text(pct, sizeof(pct), mq_report_percent(b), true),
			    msgs, !b->enabled ? "disabled" :
			    mq_report_at_or_above(b, 100) ? "over" : "ok");
			free(safe);
		}
		table_print(out, &t);
	}
	if (r->nerrors > 0) {
		fprintf(out, "\nNot read (%zu):\n", r->nerrors);
		for (i = 0; i < r->nerrors; i++) {
			char *a = table_safe(r->errors[i]->address);
			char *e = table_safe(r->errors[i]->error);

			fprintf(out, "%s: %s\n", a, e);
			free(a);
			free(e);
		}
	}
}

/*
 * CSV: one header, a record type first, raw numbers.
 */

/* csv_pct - a use % field: digits, or empty when there is no limit. */
static void
csv_pct(FILE *out, double pct)
{
	if (pct >= 0)
		fprintf(out, "%.1f", pct);
}

static void
csv_domain(FILE *out, const char *type, const char *name,
    const struct mq_report_domain *d)
{
	fprintf(out, "%s,", type);
	mq_csv_field(out, name);
	fprintf(out, ",%zu,%" PRIu64 ",%" PRIu64 ",", d->users, d->quota_bytes,
	    d->used_bytes);
	csv_pct(out, domain_percent(d));
	fprintf(out, ",%zu,%" PRIu64 ",,%zu\r\n", d->over, d->messages,
	    d->errors);
}

static void
write_csv(FILE *out, const struct mq_report *r)
{
	size_t i;

	fputs("type,name,users,quota_bytes,used_bytes,use_percent,over_quota,"
	    "messages,message_limit,errors\r\n", out);
	for (i = 0; i < r->ndomains; i++)
		csv_domain(out, "domain", r->domains[i].name, &r->domains[i]);
	csv_domain(out, "total", "", &r->total);
	for (i = 0; i < r->nlist; i++) {
		const struct mq_report_box *b = r->list[i];
		double pct = mq_report_percent(b);

		fputs("mailbox,", out);
		mq_csv_field(out, b->address);
		fprintf(out, ",,%" PRIu64 ",%" PRIu64 ",", b->limit_bytes,
		    b->used_bytes);
		csv_pct(out, pct);
		fprintf(out, ",%d,%" PRIu64 ",%" PRIu64 ",\r\n",
		    mq_report_at_or_above(b, 100) ? 1 : 0, b->used_messages,
		    b->limit_messages);
	}
	for (i = 0; i < r->nerrors; i++) {
		fputs("error,", out);
		mq_csv_field(out, r->errors[i]->address);
		fputs(",,,,,,,,", out);
		mq_csv_field(out, r->errors[i]->error);
		fputs("\r\n", out);
	}
}

/*
 * JSON.
 */

static void
json_pct(FILE *out, double pct)
{
	if (pct < 0)
		fputs("null", out);
	else
		fprintf(out, "%.1f", pct);
}

static void
json_domain(FILE *out, const struct mq_report_domain *d)
{
	fputs("{", out);
	if (d->name != NULL) {
		fputs("\"domain\": ", out);
		mq_json_string(out, d->name);
		fputs(", ", out);
	}
	fprintf(out, "\"users\": %zu, \"quota_bytes\": %" PRIu64
	    ", \"used_bytes\": %" PRIu64 ", \"use_percent\": ",
	    d->users, d->quota_bytes, d->used_bytes);
	json_pct(out, domain_percent(d));
	fprintf(out, ", \"over_quota\": %zu, \"messages\": %" PRIu64
	    ", \"limited\": %zu, \"errors\": %zu}", d->over, d->messages,
	    d->limited, d->errors);
}

static void
json_box(FILE *out, const struct mq_report_box *b)
{
	fputs("{\"address\": ", out);
	mq_json_string(out, b->address);
	fputs(", \"domain\": ", out);
	mq_json_string(out, b->domain);
	fprintf(out, ", \"quota_bytes\": %" PRIu64 ", \"used_bytes\": %" PRIu64
	    ", \"use_percent\": ", b->limit_bytes, b->used_bytes);
	json_pct(out, mq_report_percent(b));
	fprintf(out, ", \"messages\": %" PRIu64 ", \"message_limit\": %" PRIu64
	    ", \"over_quota\": %s, \"enabled\": %s, \"limit_source\": ",
	    b->used_messages, b->limit_messages,
	    mq_report_at_or_above(b, 100) ? "true" : "false",
	    b->enabled ? "true" : "false");
	mq_json_string(out, b->limit_source != NULL ? b->limit_source : "none");
	fputs(", \"usage_source\": ", out);
	mq_json_string(out, b->usage_source != NULL ? b->usage_source : "none");
	fputs("}", out);
}

static void
write_json(FILE *out, const struct mq_report *r)
{
	size_t i;

	fputs("{\n", out);
	if (r->opts.generated != 0) {
		char when[32];
		struct tm tm;

		gmtime_r(&r->opts.generated, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(out, "  \"generated\": \"%s\",\n", when);
	}
	if (r->opts.seconds >= 0)
		fprintf(out, "  \"scan_seconds\": %.3f,\n", r->opts.seconds);
	fputs("  \"domains\": [", out);
	for (i = 0; i < r->ndomains; i++) {
		fputs(i == 0 ? "\n    " : ",\n    ", out);
		json_domain(out, &r->domains[i]);
	}
	fputs(r->ndomains > 0 ? "\n  ],\n  \"total\": " : "],\n  \"total\": ", out);
	json_domain(out, &r->total);
	fputs(",\n", out);
	if (r->opts.over)
		fprintf(out, "  \"over_percent\": %" PRIu64 ",\n  \"over_count\": %zu,\n",
		    r->opts.over_percent, r->nover);
	fprintf(out, "  \"%s\": [", r->opts.over ? "over" : "top");
	for (i = 0; i < r->nlist; i++) {
		fputs(i == 0 ? "\n    " : ",\n    ", out);
		json_box(out, r->list[i]);
	}
	fputs(r->nlist > 0 ? "\n  ],\n" : "],\n", out);
	fputs("  \"histogram\": [", out);
	for (i = 0; i < MQ_REPORT_BUCKETS; i++) {
		fprintf(out, "%s{\"from\": %zu, \"to\": ", i == 0 ? "" : ", ",
		    i * 10);
		if (i == MQ_REPORT_BUCKETS - 1)
			fputs("null", out);
		else
			fprintf(out, "%zu", i * 10 + 10);
		fprintf(out, ", \"mailboxes\": %zu}", r->histogram[i]);
	}
	fputs("],\n  \"errors\": [", out);
	for (i = 0; i < r->nerrors; i++) {
		fputs(i == 0 ? "\n    {\"address\": " : ",\n    {\"address\": ", out);
		mq_json_string(out, r->errors[i]->address);
		fputs(", \"error\": ", out);
		mq_json_string(out, r->errors[i]->error);
		fputs("}", out);
	}
	fputs(r->nerrors > 0 ? "\n  ]\n}\n" : "]\n}\n", out);
}

/*
 * HTML: one page, inline CSS and SVG. No script, no external reference of
 * any kind (no xmlns either: inline SVG in HTML needs none).
 */

#define BAR_W 240
#define BAR_H 14
#define HIST_W 490
#define HIST_H 160
#define HIST_BAR 36

static const char html_style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
	"table{border-collapse:collapse}"
	"th,td{padding:.25em .7em;text-align:right;border-bottom:1px solid #ddd}"
	"th:first-child,td:first-child{text-align:left}"
	"th.bar,td.bar{text-align:left}"
	".meta{color:#666}"
	"svg .track{fill:#e8e8e8}svg .fill{fill:#3a7bd5}"
	"svg .warn{fill:#e0a030}svg .over{fill:#d33}"
	"svg text{font:11px sans-serif;fill:#444}"
	"tr.total td{font-weight:bold}";

/* fill_class - the colour of a bar at this use %. */
static const char *
fill_class(double pct)
{
	if (pct >= 100)
		return "fill over";
	if (pct >= 90)
		return "fill warn";
	return "fill";
}

static void
html_bar(FILE *out, const char *domain, double pct)
{
	double w = pct < 0 ? 0 : pct > 100 ? BAR_W : pct * BAR_W / 100;
	char label[32];

	fputs("<svg class=\"bar\" data-domain=\"", out);
	mq_html_text(out, domain);
	fprintf(out, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"%s\">"
	    "<rect class=\"track\" width=\"%d\" height=\"%d\" rx=\"3\"/>"
	    "<rect class=\"%s\" width=\"%.1f\" height=\"%d\" rx=\"3\"/></svg>",
	    BAR_W, BAR_H, BAR_W, BAR_H,
	    pct < 0 ? "no byte limit" : pct_text(label, sizeof(label), pct, true),
	    BAR_W, BAR_H, fill_class(pct), w, BAR_H);
}

static void
html_domain_row(FILE *out, const struct mq_report_domain *d, bool raw,
    bool total)
{
	char users[32], quota[32], used[32], pct[32];

	snprintf(users, sizeof(users), "%zu", d->users);
	if (d->quota_bytes == 0)
		mq_strlcpy(quota, "-", sizeof(quota));
	else
		bytes_text(quota, sizeof(quota), d->quota_bytes, raw);
	fputs(total ? "<tr class=\"total\"><td>Total" : "<tr class=\"domain\"><td>",
	    out);
	if (!total)
		mq_html_text(out, d->name);
	fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
	    "<td>%zu</td><td class=\"bar\">", users, quota,
	    bytes_text(used, sizeof(used), d->used_bytes, raw),
	    pct_text(pct, sizeof(pct), domain_percent(d), true), d->over);
	if (!total)
		html_bar(out, d->name, domain_percent(d));
	fputs("</td></tr>\n", out);
}

static void
html_histogram(FILE *out, const struct mq_report *r)
{
	size_t max = 0, i;
	int base = HIST_H - 20;

	for (i = 0; i < MQ_REPORT_BUCKETS; i++)
		if (r->histogram[i] > max)
			max = r->histogram[i];
	fprintf(out, "<svg class=\"histogram\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" role=\"img\" "
	    "aria-label=\"mailboxes by use percent\">\n",
	    HIST_W, HIST_H, HIST_W, HIST_H);
	for (i = 0; i < MQ_REPORT_BUCKETS; i++) {
		double h = max == 0 ? 0 :
		    (double)r->histogram[i] * (base - 14) / (double)max;
		int x = 4 + (int)i * (HIST_BAR + 8);
		char label[16];

		fprintf(out, "<rect class=\"bucket %s\" data-count=\"%zu\" "
		    "x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>"
		    "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%zu</text>"
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
		    fill_class(i == MQ_REPORT_BUCKETS - 1 ? 100 : i == 9 ? 90 : 0),
		    r->histogram[i], x, base - h, HIST_BAR, h,
		    x + HIST_BAR / 2, base - h - 3, r->histogram[i],
		    x + HIST_BAR / 2, HIST_H - 4,
		    bucket_label(label, sizeof(label), i));
	}
	fputs("</svg>\n", out);
}

static void
write_html(FILE *out, const struct mq_report *r)
{
	bool raw = r->opts.raw_bytes;
	char title[128];
	size_t i;

	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n"
	    "<title>Mailbox usage</title>\n<style>%s</style>\n</head>\n<body>\n"
	    "<h1>Mailbox usage</h1>\n<p class=\"meta\">", html_style);
	if (r->opts.generated != 0) {
		char when[32];
		struct tm tm;

		gmtime_r(&r->opts.generated, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "%s &middot; ", when);
	}
	fprintf(out, "%zu mailboxes in %zu domains", r->total.users, r->ndomains);
	if (r->opts.seconds >= 0)
		fprintf(out, " &middot; read in %.2f s", r->opts.seconds);
	fputs("</p>\n", out);

	fputs("<h2>Domains</h2>\n<table id=\"domains\">\n<thead><tr>"
	    "<th>Domain</th><th>Users</th><th>Quota</th><th>Used</th>"
	    "<th>Use</th><th>Over</th><th class=\"bar\">Usage</th></tr></thead>\n<tbody>\n",
	    out);
	for (i = 0; i < r->ndomains; i++)
		html_domain_row(out, &r->domains[i], raw, false);
	fputs("</tbody>\n<tfoot>\n", out);
	html_domain_row(out, &r->total, raw, true);
	fputs("</tfoot>\n</table>\n", out);

	fputs("<h2>Mailboxes by use</h2>\n", out);
	html_histogram(out, r);

	fputs("<h2>", out);
	mq_html_text(out, list_title(title, sizeof(title), r));
	fputs("</h2>\n<table id=\"mailboxes\">\n<thead><tr><th>Mailbox</th>"
	    "<th>Used</th><th>Quota</th><th>Use</th><th>Messages</th>"
	    "<th>Status</th></tr></thead>\n<tbody>\n", out);
	for (i = 0; i < r->nlist; i++) {
		const struct mq_report_box *b = r->list[i];
		char used[32], quota[32], pct[32];

		fputs("<tr class=\"mailbox\"><td>", out);
		mq_html_text(out, b->address);
		fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%" PRIu64,
		    bytes_text(used, sizeof(used), b->used_bytes, raw),
		    limit_text(quota, sizeof(quota), b->limit_bytes, raw),
		    pct_text(pct, sizeof(pct), mq_report_percent(b), true),
		    b->used_messages);
		if (b->limit_messages > 0)
			fprintf(out, " / %" PRIu64, b->limit_messages);
		fprintf(out, "</td><td>%s</td></tr>\n", !b->enabled ? "disabled" :
		    mq_report_at_or_above(b, 100) ? "over" : "ok");
	}
	fputs("</tbody>\n</table>\n", out);

	if (r->nerrors > 0) {
		fprintf(out, "<h2>Not read (%zu)</h2>\n<ul id=\"errors\">\n",
		    r->nerrors);
		for (i = 0; i < r->nerrors; i++) {
			fputs("<li>", out);
			mq_html_text(out, r->errors[i]->address);
			fputs(": ", out);
			mq_html_text(out, r->errors[i]->error);
			fputs("</li>\n", out);
		}
		fputs("</ul>\n", out);
	}
	fputs("</body>\n</html>\n", out);
}

int
mq_report_write(FILE *out, const struct mq_report *r,
    enum mq_report_format format)
{
	switch (format) {
	case MQ_REPORT_TABLE:
		write_table(out, r);
		break;
	case MQ_REPORT_CSV:
		write_csv(out, r);
		break;
	case MQ_REPORT_JSON:
		write_json(out, r);
		break;
	case MQ_REPORT_HTML:
		write_html(out, r);
		break;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
