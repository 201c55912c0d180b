/* SPDX-License-Identifier: MIT */
/*
 * maildirsize - parse a Maildir++ quota file held in memory, decide
 * whether its figure may be believed, and read the ",S=" size out of a
 * Maildir file name, and format the definition line that recalc writes.
 * No I/O, no allocation, no logging: this is the part fed by the fuzzer.
 * maildirsize_file.c does the reading and writing.
 *
 * The rules are Dovecot 2.3's (src/plugins/quota/quota-maildir.c), down
 * to how a line is read: limits clamp to INT64_MAX, a usage line is
 * scanf("%lld %d"), the sums wrap as Dovecot's long long and int do, and
 * a negative sum makes the file corrupt (a recount).
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "maildirsize.h"
#include "util.h"

/* is_space - what isspace() says in the C locale (scanf's separators). */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

/*
 * parse_limit - one "NNNS" or "NNNC" item of the definition line, as
 * Dovecot reads it: digits from the first byte (no blank, no sign), then
 * exactly one 'S' or 'C' (upper case). An item that does not read so, or
 * whose digits leave 64 bits, is ignored; a 0 leaves the limit as it was;
 * a value of 2^63 or more becomes INT64_MAX.
 */
static void
parse_limit(const char *s, size_t len, struct mq_maildirsize *out)
{
	uint64_t v = 0;
	size_t i;

	if (len < 2 || s[0] < '0' || s[0] > '9')
		return;
	for (i = 0; i < len - 1; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return;
		v = v * 10 + d;
	}
	if (v > INT64_MAX)
		v = INT64_MAX;
	switch (s[len - 1]) {
	case 'S':
		out->has_limit_bytes = true;
		if (v != 0)
			out->limit_bytes = v;
		break;
	case 'C':
		out->has_limit_messages = true;
		if (v != 0)
			out->limit_messages = v;
		break;
	default:
		break;
	}
}

/* parse_definition - the first line: comma-separated items, never an error. */
static void
parse_definition(const char *s, size_t len, struct mq_maildirsize *out)
{
	const char *end = s + len;

	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item_end = comma != NULL ? comma : end;

		parse_limit(s, (size_t)(item_end - s), out);
		if (comma == NULL)
			break;
		s = comma + 1;
	}
}

/*
 * scan_number - one "%lld" of scanf at *p: blanks, an optional sign, at
 * least one digit; the value is held at INT64_MIN..INT64_MAX as strtoll
 * does. false when there is no number.
 */
static bool
scan_number(const char **p, const char *end, int64_t *v)
{
	const char *s = *p;
	uint64_t mag = 0, cap;
	bool neg = false, any = false;

	while (s < end && is_space(*s))
		s++;
	if (s < end && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	cap = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned char)*s - '0';

		any = true;
		mag = mag > (cap - d) / 10 ? cap : mag * 10 + d;
	}
	if (!any)
		return false;
	*v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) :
	    (int64_t)mag;
	*p = s;
	return true;
}

/*
 * parse_usage - a usage line read as Dovecot's sscanf("%lld %d") does:
 * blanks before either number, signs, anything after the second number
 * ignored. The count is a C int: its value taken modulo 2^32.
 */
static int
parse_usage(const char *s, size_t len, int64_t *bytes_r, int32_t *count_r)
{
	const char *end = s + len;
	int64_t c;

	if (!scan_number(&s, end, bytes_r) || !scan_number(&s, end, &c))
		return -1;
	*count_r = (int32_t)(uint32_t)(uint64_t)c;
	return 0;
}

enum mq_mds_status
mq_maildirsize_parse(const char *buf, size_t len, struct mq_maildirsize *out)
{
	uint64_t bytes = 0;
	uint32_t count = 0;
	const char *p, *end, *nl;
	size_t cut = len;

	memset(out, 0, sizeof(*out));
	if (len > MQ_MAILDIRSIZE_MAX)
		len = cut = MQ_MAILDIRSIZE_MAX;

	/* Only complete lines count: a writer may be appending the last one. */
	while (cut > 0 && buf[cut - 1] != '\n')
		cut--;
	/* Nothing before the last newline, or a NUL: nothing is read. */
	if (cut <= 1 || memchr(buf, '\0', cut) != NULL)
		return len >= MQ_MAILDIRSIZE_MAX ? MQ_MDS_TOOBIG : MQ_MDS_CORRUPT;

	p = buf;
	end = buf + cut;
	nl = memchr(p, '\n', (size_t)(end - p));
	parse_definition(p, (size_t)(nl - p), out);
	out->lines = 1;
	if (len >= MQ_MAILDIRSIZE_MAX)
		return MQ_MDS_TOOBIG;
	for (p = nl + 1; p < end; p = nl + 1) {
		int64_t db;
		int32_t dc;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (parse_usage(p, (size_t)(nl - p), &db, &dc) < 0)
			goto corrupt;
		/* Two's complement sums, as Dovecot's long long and int wrap. */
		bytes += (uint64_t)db;
		count += (uint32_t)dc;
		out->lines++;
	}
	if ((int64_t)bytes < 0 || (int32_t)count < 0)
		goto corrupt;
	out->bytes = bytes;
	out->messages = count;
	return MQ_MDS_OK;

corrupt:
	out->lines = 0;
	return MQ_MDS_CORRUPT;
}

bool
mq_maildirsize_trusted(const struct mq_maildirsize *mds,
    uint64_t limit_bytes, uint64_t limit_messages, time_t mtime, time_t now)
{
	time_t age;
	bool over;

	/* The file's limits are not the ones in force: it is rewritten. */
	if (limit_bytes > INT64_MAX)
		limit_bytes = INT64_MAX;
	if (limit_messages > INT64_MAX)
		limit_messages = INT64_MAX;
	if (mds->limit_bytes != limit_bytes ||
	    mds->limit_messages != limit_messages)
		return false;
	over = (limit_bytes != 0 && mds->bytes > limit_bytes) ||
	    (limit_messages != 0 && mds->messages > limit_messages);
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
	const char *p = strstr(name, ",S=");
	uint64_t v = 0;

	/* The first ",S=" anywhere, as Dovecot's recount reads it. */
	if (p == NULL)
		return -1;
	for (p += 3; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');	/* wraps, as Dovecot's */
	if (*p != ':' && *p != ',' && *p != '\0')
		return -1;
	*size_r = v;
	return 0;
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
