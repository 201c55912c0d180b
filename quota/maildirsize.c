/*
 * maildirsize - parse a Maildir++ quota file held in memory, decide
 * whether its figure may be believed, and read the ",S=" size out of a
 * Maildir file name, and format the definition line that recalc writes.
 * No I/O, no allocation, no logging: this is the part fed by the fuzzer.
 * maildir.c does the reading and writing.
 *
 * Every number stays inside the signed 64-bit range the format allows:
 * limits clamp to INT64_MAX, usage lines and their sums that leave the
 * range make the file corrupt (a recount is the safe answer).
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "maildirsize.h"
#include "util.h"

/* is_blank - the separators tolerated around fields (and a stray CR). */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* trim - shrink [*s, *s + *len) past leading and trailing blanks. */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank((*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1]))
		(*len)--;
}

/*
 * parse_limit - one "NNNS" or "NNNC" item of the definition line. Digits
 * beyond INT64_MAX clamp to it (a limit that large is unlimited anyway).
 */
static int
parse_limit(const char *s, size_t len, struct mq_maildirsize *out)
{
	uint64_t v = 0;
	size_t i;

	trim(&s, &len);
	if (len < 2)
		return -1;
	for (i = 0; i < len - 1; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			v = INT64_MAX;
		else
			v = v * 10 + d;
	}
	switch (s[len - 1]) {
	case 'S':
	case 's':
		out->has_limit_bytes = true;
		out->limit_bytes = v;
		break;
	case 'C':
	case 'c':
		out->has_limit_messages = true;
		out->limit_messages = v;
		break;
	default:
		return -1;
	}
	return 0;
}

/* parse_definition - the first line: empty, or comma-separated limits. */
static int
parse_definition(const char *s, size_t len, struct mq_maildirsize *out)
{
	const char *end;

	trim(&s, &len);
	if (len == 0)
		return 0;
	end = s + len;
	while (s <= end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item_end = comma != NULL ? comma : end;

		if (parse_limit(s, (size_t)(item_end - s), out) < 0)
			return -1;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	return 0;
}

/* parse_usage - a "BYTES COUNT" line into its two signed deltas. */
static int
parse_usage(const char *s, size_t len, int64_t *bytes_r, int64_t *count_r)
{
	const char *end, *sep;

	trim(&s, &len);
	end = s + len;
	for (sep = s; sep < end && !is_blank(*sep); sep++)
		;
	if (sep == s || sep == end)
		return -1;
	if (mq_parse_i64n(s, (size_t)(sep - s), bytes_r) < 0)
		return -1;
	while (sep < end && is_blank(*sep))
		sep++;
	return mq_parse_i64n(sep, (size_t)(end - sep), count_r);
}

enum mq_mds_status
mq_maildirsize_parse(const char *buf, size_t len, struct mq_maildirsize *out)
{
	int64_t bytes = 0, count = 0;
	const char *p, *end, *nl;

	memset(out, 0, sizeof(*out));
	if (len >= MQ_MAILDIRSIZE_MAX)
		return MQ_MDS_TOOBIG;
	if (memchr(buf, '\0', len) != NULL)
		return MQ_MDS_CORRUPT;

	/* Only complete lines count: a writer may be appending the last one. */
	p = buf;
	end = buf + len;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		size_t n = (size_t)(nl - p);

		if (out->lines == 0) {
			if (parse_definition(p, n, out) < 0)
				goto corrupt;
		} else {
			int64_t db, dc;

			if (parse_usage(p, n, &db, &dc) < 0 ||
			    __builtin_add_overflow(bytes, db, &bytes) ||
			    __builtin_add_overflow(count, dc, &count))
				goto corrupt;
		}
		out->lines++;
		p = nl + 1;
	}
	if (out->lines == 0 || bytes < 0 || count < 0)
		goto corrupt;
	out->bytes = (uint64_t)bytes;
	out->messages = (uint64_t)count;
	return MQ_MDS_OK;

corrupt:
	memset(out, 0, sizeof(*out));
	return MQ_MDS_CORRUPT;
}

/* over_limit - used >= limit for bytes, count > limit for messages (0 = none). */
static bool
over_limit(uint64_t bytes, uint64_t messages, uint64_t limit_bytes,
    uint64_t limit_messages)
{
	return (limit_bytes != 0 && bytes >= limit_bytes) ||
	    (limit_messages != 0 && messages > limit_messages);
}

bool
mq_maildirsize_trusted(const struct mq_maildirsize *mds,
    uint64_t limit_bytes, uint64_t limit_messages, time_t mtime, time_t now)
{
	time_t age;
	bool over;

	over = over_limit(mds->bytes, mds->messages, limit_bytes,
	    limit_messages) ||
	    over_limit(mds->bytes, mds->messages,
	    mds->has_limit_bytes ? mds->limit_bytes : 0,
	    mds->has_limit_messages ? mds->limit_messages : 0);
	if (!over)
		return true;
	/* Over quota: believe only a fresh file that is one summary line. */
	if (mds->lines > 2)
		return false;
	if (__builtin_sub_overflow(now, mtime, &age))
		return mtime > now;	/* far in the future: not stale */
	return age <= MQ_MAILDIRSIZE_STALE_SECS;
}

int
mq_maildir_filename_size(const char *name, uint64_t *size_r)
{
	const char *p, *end, *info;

	/* Fields are between the unique part and ":2,FLAGS"; the flags are not. */
	info = strchr(name, ':');
	end = info != NULL ? info : name + strlen(name);
	for (p = name; (p = memchr(p, ',', (size_t)(end - p))) != NULL; p++) {
		const char *digits, *q;

		if (end - p < 4 || p[1] != 'S' || p[2] != '=')
			continue;
		digits = p + 3;
		for (q = digits; q < end && *q != ','; q++)
			;
		if (mq_parse_u64n(digits, (size_t)(q - digits), size_r) < 0 ||
		    *size_r > INT64_MAX)
			return -1;
		return 0;
	}
	return -1;
}

void
mq_maildirsize_definition(char *buf, size_t size, uint64_t limit_bytes,
    uint64_t limit_messages)
{
	/* Maildir++ limits live in the signed 64-bit range. */
	if (limit_bytes > INT64_MAX)
		limit_bytes = INT64_MAX;
	if (limit_messages > INT64_MAX)
		limit_messages = INT64_MAX;
	if (limit_messages == 0)
		snprintf(buf, size, "%lluS", (unsigned long long)limit_bytes);
	else if (limit_bytes == 0)
		snprintf(buf, size, "%lluC", (unsigned long long)limit_messages);
	else
		snprintf(buf, size, "%lluS,%lluC", (unsigned long long)limit_bytes,
		    (unsigned long long)limit_messages);
}
