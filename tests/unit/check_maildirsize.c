/* SPDX-License-Identifier: MIT */
/*
 * check_maildirsize - the Maildir++ parser, the trust rule and file name
 * sizes and the definition line as tables; then the Maildir reader and
 * the maildirsize writer against real trees in a private temporary
 * directory: confinement, symlinks, recounts and the usage cache.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildir.h"
#include "maildirsize.h"
#include "mq.h"
#include "util.h"

/*
 * The parser.
 */

struct parse_case {
	const char *name;
	const char *buf;
	size_t len;			/* 0: strlen(buf) */
	enum mq_mds_status status;
	bool has_lb;
	uint64_t lb;
	bool has_lm;
	uint64_t lm;
	uint64_t bytes;
	uint64_t messages;
	unsigned lines;
};

#define OK MQ_MDS_OK
#define BAD MQ_MDS_CORRUPT

/* The expected figures are Dovecot 2.3's reading (quota-maildir.c). */
static const struct parse_case parse_cases[] = {
	{ "both limits", "1000000S,1000C\n100 2\n50 1\n", 0, OK,
	    true, 1000000, true, 1000, 150, 3, 3 },
	{ "count first", "1000C,1000000S\n100 2\n", 0, OK,
	    true, 1000000, true, 1000, 100, 2, 2 },
	{ "bytes limit only", "5000S\n10 1\n", 0, OK,
	    true, 5000, false, 0, 10, 1, 2 },
	{ "count limit only", "20C\n10 1\n", 0, OK,
	    false, 0, true, 20, 10, 1, 2 },
	{ "empty definition line", "\n10 1\n", 0, OK,
	    false, 0, false, 0, 10, 1, 2 },
	{ "definition line only", "1000S\n", 0, OK,
	    true, 1000, false, 0, 0, 0, 1 },
	{ "a lone newline", "\n", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "zero limits", "0S,0C\n5 1\n", 0, OK,
	    true, 0, true, 0, 5, 1, 2 },
	{ "lower-case suffixes are ignored", "1000s,5c\n1 1\n", 0, OK,
	    false, 0, false, 0, 1, 1, 2 },
	{ "blanks in the definition are ignored", "  1000S , 20C\n  10\t 2 \n", 0, OK,
	    false, 0, false, 0, 10, 2, 2 },
	{ "CRLF: the definition is not read", "1000S\r\n10 1\r\n", 0, OK,
	    false, 0, false, 0, 10, 1, 2 },
	{ "negative deltas", "1000S\n100 5\n-30 -2\n", 0, OK,
	    true, 1000, false, 0, 70, 3, 3 },
	{ "deltas back to zero", "\n100 5\n-100 -5\n", 0, OK,
	    false, 0, false, 0, 0, 0, 3 },
	{ "negative byte total", "1000S\n10 1\n-20 -1\n", 0, BAD,
	    true, 1000, false, 0, 0, 0, 0 },
	{ "negative count total", "\n10 1\n0 -2\n", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "partial last line ignored", "1000S\n100 5\n50 1", 0, OK,
	    true, 1000, false, 0, 100, 5, 2 },
	{ "partial junk line ignored", "1000S\n100 5\n5x", 0, OK,
	    true, 1000, false, 0, 100, 5, 2 },
	{ "partial definition line", "1000S", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "empty file", "", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "NUL in a usage line", "1000S\n10\0 1\n", 12, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "NUL in the partial line is not read", "1000S\n10 1\n\0", 12, OK,
	    true, 1000, false, 0, 10, 1, 2 },
	{ "NUL in the definition", "10\0S\n", 5, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "junk usage line", "1000S\nabc 1\n", 0, BAD,
	    true, 1000, false, 0, 0, 0, 0 },
	{ "one field", "1000S\n10\n", 0, BAD,
	    true, 1000, false, 0, 0, 0, 0 },
	{ "a third field is ignored", "1000S\n10 1 1\n", 0, OK,
	    true, 1000, false, 0, 10, 1, 2 },
	{ "trailing words are ignored", "1000S\n10 1 junk\n", 0, OK,
	    true, 1000, false, 0, 10, 1, 2 },
	{ "empty usage line", "1000S\n\n", 0, BAD,
	    true, 1000, false, 0, 0, 0, 0 },
	{ "plus signs", "1000S\n+10 +1\n", 0, OK,
	    true, 1000, false, 0, 10, 1, 2 },
	{ "second number glued by its sign", "1000S\n10-1\n5 3\n", 0, OK,
	    true, 1000, false, 0, 15, 2, 3 },
	{ "comma between the numbers", "1000S\n10,1\n", 0, BAD,
	    true, 1000, false, 0, 0, 0, 0 },
	{ "unknown suffix is ignored", "1000X\n", 0, OK,
	    false, 0, false, 0, 0, 0, 1 },
	{ "suffix without number is ignored", "S\n", 0, OK,
	    false, 0, false, 0, 0, 0, 1 },
	{ "trailing comma", "1000S,\n", 0, OK,
	    true, 1000, false, 0, 0, 0, 1 },
	{ "negative limit is ignored", "-5S,7C\n", 0, OK,
	    false, 0, true, 7, 0, 0, 1 },
	{ "the last non-zero item wins", "5S,7S,0S\n", 0, OK,
	    true, 7, false, 0, 0, 0, 1 },
	{ "limit INT64_MAX", "9223372036854775807S\n", 0, OK,
	    true, INT64_MAX, false, 0, 0, 0, 1 },
	{ "limit above INT64_MAX clamps", "9223372036854775808S\n", 0, OK,
	    true, INT64_MAX, false, 0, 0, 0, 1 },
	{ "limit above 64 bits is ignored", "99999999999999999999999999C\n", 0, OK,
	    false, 0, false, 0, 0, 0, 1 },
	{ "usage INT64_MAX", "\n9223372036854775807 1\n", 0, OK,
	    false, 0, false, 0, INT64_MAX, 1, 2 },
	{ "usage above INT64_MAX is held there", "\n99999999999999999999 1\n", 0, OK,
	    false, 0, false, 0, INT64_MAX, 1, 2 },
	{ "byte sum wraps negative", "\n9223372036854775807 1\n1 1\n", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "INT64_MIN line", "\n-9223372036854775808 0\n", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
	{ "count is a C int", "\n10 4294967297\n", 0, OK,
	    false, 0, false, 0, 10, 1, 2 },
	{ "count wraps negative", "\n10 2147483648\n", 0, BAD,
	    false, 0, false, 0, 0, 0, 0 },
};

START_TEST(test_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	size_t len = c->len ? c->len : strlen(c->buf);
	struct mq_maildirsize m;
	enum mq_mds_status st;

	memset(&m, 0xa5, sizeof(m));
	st = mq_maildirsize_parse(c->buf, len, &m);
	ck_assert_msg(st == c->status, "%s: status %d, want %d", c->name,
	    st, c->status);
	ck_assert_msg(m.has_limit_bytes == c->has_lb, "%s: has_limit_bytes", c->name);
	ck_assert_msg(m.limit_bytes == c->lb, "%s: limit_bytes %llu", c->name,
	    (unsigned long long)m.limit_bytes);
	ck_assert_msg(m.has_limit_messages == c->has_lm, "%s: has_limit_messages",
	    c->name);
	ck_assert_msg(m.limit_messages == c->lm, "%s: limit_messages %llu",
	    c->name, (unsigned long long)m.limit_messages);
	ck_assert_msg(m.bytes == c->bytes, "%s: bytes %llu", c->name,
	    (unsigned long long)m.bytes);
	ck_assert_msg(m.messages == c->messages, "%s: messages %llu", c->name,
	    (unsigned long long)m.messages);
	ck_assert_msg(m.lines == c->lines, "%s: lines %u", c->name, m.lines);
}
END_TEST

/* fill_valid - a valid maildirsize of exactly len bytes (len >= 16). */
static char *
fill_valid(size_t len, uint64_t *bytes_r, uint64_t *messages_r)
{
	char *buf = xmalloc(len + 1);
	size_t off, first;

	/* "1000000S\n" + "NNN 1\n" (first absorbs len % 4) + "1 1\n"... */
	off = (size_t)snprintf(buf, len + 1, "1000000S\n");
	first = 4 + (len - off) % 4;
	if (first < 5)
		first += 4;
	snprintf(buf + off, len + 1 - off, "%0*d 1\n", (int)first - 3, 7);
	off += first;
	*bytes_r = 7;
	*messages_r = 1;
	while (off < len) {
		memcpy(buf + off, "1 1\n", 4);
		off += 4;
		(*bytes_r)++;
		(*messages_r)++;
	}
	buf[len] = '\0';
	return buf;
}

START_TEST(test_parse_size_limit)
{
	struct mq_maildirsize m;
	uint64_t b, n;
	char *buf;

	buf = fill_valid(MQ_MAILDIRSIZE_MAX - 1, &b, &n);
	ck_assert_uint_eq(strlen(buf), 5119);
	ck_assert_int_eq(mq_maildirsize_parse(buf, 5119, &m), MQ_MDS_OK);
	ck_assert_uint_eq(m.bytes, b);
	ck_assert_uint_eq(m.messages, n);
	ck_assert_uint_eq(m.limit_bytes, 1000000);
	free(buf);

	buf = fill_valid(MQ_MAILDIRSIZE_MAX, &b, &n);
	ck_assert_uint_eq(strlen(buf), 5120);
	ck_assert_int_eq(mq_maildirsize_parse(buf, 5120, &m), MQ_MDS_TOOBIG);
	/* Its definition line is still read, as Dovecot does. */
	ck_assert_uint_eq(m.lines, 1);
	ck_assert_uint_eq(m.limit_bytes, 1000000);
	ck_assert_uint_eq(m.bytes, 0);
	/* Too big wins over any content. */
	memset(buf, 0, 5120);
	ck_assert_int_eq(mq_maildirsize_parse(buf, 5120, &m), MQ_MDS_TOOBIG);
	free(buf);
}
END_TEST

/*
 * The trust rule.
 */

struct trust_case {
	const char *name;
	bool has_lb;
	uint64_t lb;			/* the file's own limits */
	bool has_lm;
	uint64_t lm;
	uint64_t bytes;
	uint64_t messages;
	unsigned lines;
	uint64_t limit_bytes;		/* the caller's */
	uint64_t limit_messages;
	time_t age;
	bool trusted;
};

#define FRESH 10
#define STALE (MQ_MAILDIRSIZE_STALE_SECS + 1)

/* The file's limits are the caller's unless the case says otherwise. */
static const struct trust_case trust_cases[] = {
	{ "under, several lines, fresh", true, 1000, true, 10, 500, 5, 9,
	    1000, 10, FRESH, true },
	{ "under, several lines, stale", true, 1000, true, 10, 500, 5, 9,
	    1000, 10, STALE, true },
	{ "under, one line, a day old", true, 1000, true, 10, 999, 10, 2,
	    1000, 10, 86400, true },
	{ "over, one line, fresh", true, 1000, false, 0, 2000, 5, 2,
	    1000, 0, FRESH, true },
	{ "over, one line, stale", true, 1000, false, 0, 2000, 5, 2,
	    1000, 0, STALE, false },
	{ "over, one line, exactly 15 minutes", true, 1000, false, 0, 2000, 5, 2,
	    1000, 0, MQ_MAILDIRSIZE_STALE_SECS, true },
	{ "over, two lines, fresh", true, 1000, false, 0, 2000, 5, 3,
	    1000, 0, FRESH, false },
	{ "over, many lines, fresh", true, 1000, false, 0, 2000, 5, 40,
	    1000, 0, 0, false },
	{ "bytes equal to limit is not over", true, 1000, false, 0, 1000, 5, 3,
	    1000, 0, STALE, true },
	{ "bytes one over the limit", true, 1000, false, 0, 1001, 5, 3,
	    1000, 0, FRESH, false },
	{ "count equal to limit is under", false, 0, true, 10, 10, 10, 3,
	    0, 10, FRESH, true },
	{ "count over limit", false, 0, true, 10, 10, 11, 3,
	    0, 10, FRESH, false },
	{ "count over limit, one line, fresh", false, 0, true, 10, 10, 11, 2,
	    0, 10, FRESH, true },
	{ "unlimited never over", false, 0, false, 0, INT64_MAX, INT64_MAX, 50,
	    0, 0, STALE, true },
	{ "definition bytes differ", true, 2000, false, 0, 10, 1, 2,
	    1000, 0, FRESH, false },
	{ "definition lacks the count limit", true, 1000, false, 0, 10, 1, 2,
	    1000, 10, FRESH, false },
	{ "definition has a count limit the caller has not", true, 1000, true, 5,
	    10, 1, 2, 1000, 0, FRESH, false },
	{ "own limit 0 is the caller's 0", true, 0, true, 0, 5000, 50, 3,
	    0, 0, STALE, true },
	{ "caller above INT64_MAX compares as INT64_MAX", true, INT64_MAX, false, 0,
	    10, 1, 2, UINT64_MAX - 1, 0, FRESH, true },
	{ "future mtime is not stale", true, 1000, false, 0, 2000, 5, 2,
	    1000, 0, -3600, true },
};

START_TEST(test_trusted_table)
{
	const struct trust_case *c = &trust_cases[_i];
	struct mq_maildirsize m = {
		.has_limit_bytes = c->has_lb, .limit_bytes = c->lb,
		.has_limit_messages = c->has_lm, .limit_messages = c->lm,
		.bytes = c->bytes, .messages = c->messages, .lines = c->lines,
	};
	time_t now = 1700000000;

	ck_assert_msg(mq_maildirsize_trusted(&m, c->limit_bytes,
	    c->limit_messages, now - c->age, now) == c->trusted,
	    "%s: want %s", c->name, c->trusted ? "trusted" : "untrusted");
}
END_TEST

START_TEST(test_trusted_extreme_times)
{
	struct mq_maildirsize m = { .bytes = 10, .lines = 2,
	    .has_limit_bytes = true, .limit_bytes = 5 };

	/* No overflow in the age arithmetic. */
	ck_assert(!mq_maildirsize_trusted(&m, 5, 0, INT64_MIN, INT64_MAX));
	ck_assert(mq_maildirsize_trusted(&m, 5, 0, INT64_MAX, INT64_MIN));
}
END_TEST

/*
 * File name sizes.
 */

struct fname_case {
	const char *name;
	int ret;
	uint64_t size;
};

static const struct fname_case fname_cases[] = {
	{ "1700000000.M1P2.host,S=1000,W=1020:2,S", 0, 1000 },
	{ "1700000000.M1P2.host,S=1000:2,", 0, 1000 },
	{ "1700000000.M1P2.host,S=1000", 0, 1000 },
	{ "1700000000.M1P2.host,W=1020,S=77:2,RS", 0, 77 },
	{ "1700000000.M1P2.host,S=0:2,", 0, 0 },
	{ "1700000000.M1P2.host:2,S", -1, 0 },
	{ "1700000000.M1P2.host", -1, 0 },
	{ "1700000000.M1P2.host,W=100:2,S", -1, 0 },
	{ "1700000000.M1P2.host,S=:2,", 0, 0 },		/* no digits: 0 */
	{ "1700000000.M1P2.host,S=12a:2,", -1, 0 },
	{ "1700000000.M1P2.host,S=-5", -1, 0 },
	{ "1700000000.M1P2.host,S=18446744073709551617", 0, 1 },	/* wraps */
	{ "1700000000.M1P2.host,S=9223372036854775808", 0, 9223372036854775808ULL },
	{ "1700000000.M1P2.host:2,S=100", 0, 100 },	/* behind the flags too */
	{ "1700000000.M1P2.host,S=12a,S=100", -1, 0 },	/* the first one only */
	{ ".hidden,S=5", 0, 5 },
	{ "", -1, 0 },
	{ ",S=5", 0, 5 },
};

START_TEST(test_filename_size_table)
{
	const struct fname_case *c = &fname_cases[_i];
	uint64_t size = 12345;
	int r = mq_maildir_filename_size(c->name, &size);

	ck_assert_msg(r == c->ret, "\"%s\": returned %d", c->name, r);
	if (r == 0)
		ck_assert_msg(size == c->size, "\"%s\": size %llu", c->name,
		    (unsigned long long)size);
}
END_TEST

struct def_case {
	uint64_t bytes, messages;
	const char *line;
};

static const struct def_case def_cases[] = {
	{ 0, 0, "0S" },				/* no limit: Dovecot writes 0S */
	{ 1000, 0, "1000S" },
	{ 0, 50, "50C" },
	{ 1000, 50, "1000S,50C" },
	{ UINT64_MAX, UINT64_MAX,		/* clamped to the format's range */
	    "9223372036854775807S,9223372036854775807C" },
};

/* The definition line recalc writes, and that the parser reads it back. */
START_TEST(test_definition_table)
{
	const struct def_case *c = &def_cases[_i];
	struct mq_maildirsize mds;
	char buf[64], file[80];

	mq_maildirsize_definition(buf, sizeof(buf), c->bytes, c->messages);
	ck_assert_str_eq(buf, c->line);
	snprintf(file, sizeof(file), "%s\n", buf);
	ck_assert_int_eq(mq_maildirsize_parse(file, strlen(file), &mds), MQ_MDS_OK);
	ck_assert_uint_eq(mds.limit_bytes, c->bytes > INT64_MAX ? INT64_MAX : c->bytes);
	ck_assert_uint_eq(mds.limit_messages,
	    c->messages > INT64_MAX ? INT64_MAX : c->messages);
}
END_TEST

/*
 * File-system tests: a base directory per test.
 */

static char base[64];
static char *ignore_trash[] = { "Trash" };

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fs_setup(void)
{
	mq_strlcpy(base, "/tmp/mq-check-maildir-XXXXXX", sizeof(base));
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void
fs_teardown(void)
{
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* at - base/rel in a static ring of buffers. */
static const char * MQ_PRINTF(1, 2)
at(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static unsigned n;
	char rel[PATH_MAX / 2];
	char *b = bufs[n++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, PATH_MAX, "%s/%s", base, rel);
	return b;
}

/* mkdirs - mkdir -p for a path below base. */
static void
mkdirs(const char *rel)
{
	char path[PATH_MAX];
	char *p;

	ck_assert_uint_lt(strlen(rel), PATH_MAX / 2);
	snprintf(path, sizeof(path), "%s/%.*s", base, PATH_MAX / 2, rel);
	for (p = path + strlen(base) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* put - write a file below base with these bytes. */
static void
put(const char *rel, const char *data, size_t len)
{
	FILE *f = fopen(at("%s", rel), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
puts_file(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

/* make_maildir - cur/ new/ tmp/ under rel. */
static void
make_maildir(const char *rel)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char sub[PATH_MAX];
	size_t i;

	mkdirs(rel);
	for (i = 0; i < MQ_NELEM(subs); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", rel, subs[i]);
		mkdirs(sub);
	}
}

/* set_mtime - set the mtime of base/rel to exactly this second. */
static void
set_mtime(const char *rel, time_t when)
{
	struct timespec ts[2];

	ts[0].tv_sec = when;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, at("%s", rel), ts,
	    AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * The standard tree, under "d/u" (expected recount 8657 bytes, 8 messages,
 * as Dovecot counts: .hidden and sub/ by their names; with ignore
 * {"Trash"}: 8657 - 40 = 8617 and 7):
 *   cur/  a,S=100:2,S   plain:2,S (7 bytes, no ,S=)   .hidden   sub/
 *   new/  b,S=200
 *   tmp/  t,S=9999  (never counted)
 *   .Sent/cur/ c,S=300:2,S   .Sent/new/ (empty)
 *   .Trash/cur/ e,S=40:2,S
 *   .Trash.Sub/new/ f,S=10
 *   .Empty/ (no cur/new)   .customflags (a file)   courierimapkeywords/
 */
static void
make_tree(void)
{
	make_maildir("d/u");
	puts_file("d/u/cur/a,S=100:2,S", "x");
	puts_file("d/u/cur/plain:2,S", "1234567");
	puts_file("d/u/cur/.hidden,S=5000", "x");
	mkdirs("d/u/cur/sub,S=3000");
	puts_file("d/u/new/b,S=200", "x");
	puts_file("d/u/tmp/t,S=9999", "x");
	make_maildir("d/u/.Sent");
	puts_file("d/u/.Sent/cur/c,S=300:2,S", "x");
	make_maildir("d/u/.Trash");
	puts_file("d/u/.Trash/cur/e,S=40:2,S", "x");
	make_maildir("d/u/.Trash.Sub");
	puts_file("d/u/.Trash.Sub/new/f,S=10", "x");
	mkdirs("d/u/.Empty");
	puts_file("d/u/.customflags", "0 Junk\n");
	mkdirs("d/u/courierimapkeywords");
}

/* settle_tree - date every directory of the standard tree back to when. */
static void
settle_tree(time_t when)
{
	static const char *const dirs[] = {
		"d/u", "d/u/cur", "d/u/new", "d/u/.Sent", "d/u/.Sent/cur",
		"d/u/.Sent/new", "d/u/.Trash", "d/u/.Trash/cur",
		"d/u/.Trash/new", "d/u/.Trash.Sub", "d/u/.Trash.Sub/cur",
		"d/u/.Trash.Sub/new", "d/u/.Empty",
	};
	size_t i;

	for (i = 0; i < MQ_NELEM(dirs); i++)
		set_mtime(dirs[i], when);
}

static struct mq_maildir_opts
opts_for(bool recalc)
{
	struct mq_maildir_opts o = {
		.base = base, .ignore = NULL, .nignore = 0,
		.recalc = recalc, .header_limits = true, .usage_ttl = 5,
	};

	return o;
}

/* The row gives no limit. */
#define U MQ_LIMIT_UNSET

/* usage - mq_maildir_usage without a cache. */
static int
usage(const struct mq_maildir_opts *o, const char *path, uint64_t lb,
    uint64_t lm, struct mq_usage *u, char *err, size_t errlen)
{
	err[0] = '\0';
	return mq_maildir_usage(NULL, o, path, lb, lm, u, err, errlen);
}

START_TEST(test_usage_good_file)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	puts_file("d/u/maildirsize", "1000000S,100C\n500 3\n20 1\n");
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, 520);
	ck_assert_uint_eq(u.messages, 4);
	ck_assert(u.has_limit_bytes);
	ck_assert_uint_eq(u.limit_bytes, 1000000);
	ck_assert(u.has_limit_messages);
	ck_assert_uint_eq(u.limit_messages, 100);
	ck_assert(!u.cached);
}
END_TEST

START_TEST(test_usage_exact_sizes)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	uint64_t b, n;
	char err[256], *buf;

	make_tree();
	buf = fill_valid(MQ_MAILDIRSIZE_MAX - 1, &b, &n);
	put("d/u/maildirsize", buf, MQ_MAILDIRSIZE_MAX - 1);
	free(buf);
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, b);
	ck_assert_uint_eq(u.messages, n);

	buf = fill_valid(MQ_MAILDIRSIZE_MAX, &b, &n);
	put("d/u/maildirsize", buf, MQ_MAILDIRSIZE_MAX);
	free(buf);
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	ck_assert_uint_eq(u.messages, 8);
	/* The definition line of a too-big file still gives the limit. */
	ck_assert(u.has_limit_bytes);
	ck_assert_uint_eq(u.limit_bytes, 1000000);
}
END_TEST

START_TEST(test_usage_missing_file)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	ck_assert_uint_eq(u.messages, 8);
	ck_assert(!u.has_limit_bytes && !u.has_limit_messages);

	o.recalc = false;
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_NONE);
	ck_assert_uint_eq(u.bytes, 0);
	ck_assert_uint_eq(u.messages, 0);
}
END_TEST

START_TEST(test_usage_corrupt_file)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	puts_file("d/u/maildirsize", "2000S,9C\n100 1\nthis is junk\n");
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	ck_assert_uint_eq(u.messages, 8);
	ck_assert_uint_eq(u.limit_bytes, 2000);
	ck_assert_uint_eq(u.limit_messages, 9);

	put("d/u/maildirsize", "2000S\n1\0 1\n", 11);
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);

	/* Without recalc a file that cannot be read counts as nothing. */
	o.recalc = false;
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_NONE);
	ck_assert_uint_eq(u.bytes, 0);
}
END_TEST

START_TEST(test_usage_over_quota)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	/* One summary line, fresh: believed even though it is over. */
	puts_file("d/u/maildirsize", "1000S\n2000 5\n");
	ck_assert_int_eq(usage(&o, "d/u", 1000, 0, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, 2000);

	/* The same, an hour old: recounted. */
	set_mtime("d/u/maildirsize", time(NULL) - 3600);
	ck_assert_int_eq(usage(&o, "d/u", 1000, 0, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	ck_assert_uint_eq(u.messages, 8);
	ck_assert_uint_eq(u.limit_bytes, 1000);

	/* Old but under the caller's (larger) limit and its own: believed. */
	puts_file("d/u/maildirsize", "5000S\n2000 5\n");
	set_mtime("d/u/maildirsize", time(NULL) - 3600);
	ck_assert_int_eq(usage(&o, "d/u", 5000, 0, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);

	/* Over by its own definition line, several lines, fresh: recounted. */
	puts_file("d/u/maildirsize", "1000S\n600 2\n600 3\n");
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);

	/* Over by message count. */
	puts_file("d/u/maildirsize", "4C\n600 2\n600 3\n");
	ck_assert_int_eq(usage(&o, "d/u", U, 4, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	puts_file("d/u/maildirsize", "5C\n600 2\n600 3\n");
	ck_assert_int_eq(usage(&o, "d/u", U, 5, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);

	/* Exactly at the limit, several lines: not over, believed. */
	puts_file("d/u/maildirsize", "1200S\n600 2\n600 3\n");
	ck_assert_int_eq(usage(&o, "d/u", 1200, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);

	/* A definition line that is not the row's limits: recounted. */
	puts_file("d/u/maildirsize", "1300S\n600 2\n");
	ck_assert_int_eq(usage(&o, "d/u", 1200, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);

	/* recalc off: a parsable file is believed. */
	o.recalc = false;
	puts_file("d/u/maildirsize", "1000S\n600 2\n600 3\n");
	ck_assert_int_eq(usage(&o, "d/u", 1000, 0, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, 1200);
}
END_TEST

START_TEST(test_recount_ignore)
{
	struct mq_maildir_opts o = opts_for(true);
	char *dot_trash[] = { ".Trash" };
	struct mq_usage u;
	uint64_t bytes, msgs;
	char err[256];
	int fd;

	make_tree();
	o.ignore = ignore_trash;
	o.nignore = 1;
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8617);	/* .Trash.Sub still counted */
	ck_assert_uint_eq(u.messages, 7);

	ck_assert_int_eq(mq_maildir_open(base, "d/u", &fd, err, sizeof(err)),
	    MQ_FOUND);
	ck_assert_int_eq(mq_maildir_recount(fd, NULL, 0, &bytes, &msgs, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(bytes, 8657);
	ck_assert_uint_eq(msgs, 8);
	ck_assert_int_eq(mq_maildir_recount(fd, dot_trash, 1, &bytes, &msgs, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(bytes, 8617);
	ck_assert_uint_eq(msgs, 7);
	/* The caller's fd is still usable (its offset was not consumed). */
	ck_assert_int_eq(mq_maildir_recount(fd, NULL, 0, &bytes, &msgs, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(bytes, 8657);
	close(fd);
}
END_TEST

START_TEST(test_symlink_maildirsize)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	puts_file("elsewhere", "1000S\n1 1\n");
	ck_assert_int_eq(symlink(at("elsewhere"), at("d/u/maildirsize")), 0);
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "symlink") != NULL, "error: %s", err);
}
END_TEST

/* slurp - a file below base, whole (small files only). */
static char *
slurp(const char *rel)
{
	static char buf[256];
	FILE *f = fopen(at("%s", rel), "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* no_temp_left - no maildirsize.*.tmp in base/rel. */
static bool
no_temp_left(const char *rel)
{
	DIR *d = opendir(at("%s", rel));
	struct dirent *de;
	bool clean = true;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (strncmp(de->d_name, "maildirsize.", 12) == 0 && n > 4 &&
		    strcmp(de->d_name + n - 4, ".tmp") == 0)
			clean = false;
	}
	closedir(d);
	return clean;
}

START_TEST(test_write_size)
{
	struct mq_maildirsize mds;
	enum mq_mds_status st;
	struct stat sb;
	char err[256];
	int fd;

	make_tree();
	puts_file("d/u/maildirsize", "5S\n1 1\n2 2\n");
	ck_assert_int_eq(chmod(at("d/u/maildirsize"), 0640), 0);
	ck_assert_int_eq(mq_maildir_open(base, "d/u", &fd, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(mq_maildir_read_size(fd, &mds, &st, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(st, MQ_MDS_OK);
	ck_assert_uint_eq(mds.bytes, 3);
	ck_assert_uint_eq(mds.lines, 3);

	ck_assert_int_eq(mq_maildir_write_size(fd, 1000, 5, 8617, 5, err, sizeof(err)), 0);
	ck_assert_str_eq(slurp("d/u/maildirsize"), "1000S,5C\n8617 5\n");
	ck_assert_int_eq(stat(at("d/u/maildirsize"), &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0640);	/* the old file's mode */
	ck_assert(no_temp_left("d/u"));
	ck_assert_int_eq(mq_maildir_read_size(fd, &mds, &st, err, sizeof(err)), MQ_FOUND);
	ck_assert_uint_eq(mds.bytes, 8617);
	ck_assert_uint_eq(mds.lines, 2);
	/* The same text again: nothing to write; another format: rewritten. */
	ck_assert_int_eq(mq_maildir_write_size(fd, 1000, 5, 8617, 5, err, sizeof(err)), 1);
	puts_file("d/u/maildirsize", "1000S,5C\n+8617 +5\n");
	ck_assert_int_eq(mq_maildir_write_size(fd, 1000, 5, 8617, 5, err, sizeof(err)), 0);
	ck_assert_str_eq(slurp("d/u/maildirsize"), "1000S,5C\n8617 5\n");

	/* Missing: created with the Maildir's mode bits (rw only). */
	ck_assert_int_eq(unlink(at("d/u/maildirsize")), 0);
	ck_assert_int_eq(mq_maildir_read_size(fd, &mds, &st, err, sizeof(err)), MQ_NOTFOUND);
	ck_assert_int_eq(mq_maildir_write_size(fd, 0, 0, 0, 0, err, sizeof(err)), 0);
	ck_assert_str_eq(slurp("d/u/maildirsize"), "0S\n0 0\n");
	ck_assert_int_eq(stat(at("d/u/maildirsize"), &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0644);

	/* A planted symlink is refused and left as it is. */
	ck_assert_int_eq(unlink(at("d/u/maildirsize")), 0);
	puts_file("elsewhere", "keep\n");
	ck_assert_int_eq(symlink(at("elsewhere"), at("d/u/maildirsize")), 0);
	ck_assert_int_eq(mq_maildir_read_size(fd, &mds, &st, err, sizeof(err)), MQ_TEMPFAIL);
	ck_assert_int_eq(mq_maildir_write_size(fd, 1, 1, 1, 1, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "symlink") != NULL, "error: %s", err);
	ck_assert_int_eq(lstat(at("d/u/maildirsize"), &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	ck_assert_str_eq(slurp("elsewhere"), "keep\n");
	ck_assert(no_temp_left("d/u"));

	/* A directory in its place too. */
	ck_assert_int_eq(unlink(at("d/u/maildirsize")), 0);
	mkdirs("d/u/maildirsize");
	ck_assert_int_eq(mq_maildir_write_size(fd, 1, 1, 1, 1, err, sizeof(err)), -1);
	close(fd);
}
END_TEST

START_TEST(test_symlinks_in_maildir_skipped)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	make_maildir("outside");
	puts_file("outside/cur/z,S=50000:2,S", "x");
	ck_assert_int_eq(symlink(at("outside"), at("d/u/.Link")), 0);
	ck_assert_int_eq(symlink(at("outside/cur"), at("d/u/.Empty/cur")), 0);
	ck_assert_int_eq(symlink(at("outside/cur/z,S=50000:2,S"),
	    at("d/u/cur/y,S=60000:2,S")), 0);
	ck_assert_int_eq(symlink(at("outside/cur/z,S=50000:2,S"),
	    at("d/u/cur/nosize:2,S")), 0);
	/* Nothing is followed; y's name carries its size, so it counts. */
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 68657);
	ck_assert_uint_eq(u.messages, 9);
}
END_TEST

START_TEST(test_path_confinement)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256], path[PATH_MAX + 64];
	int fd;

	make_tree();
	make_maildir("real/u");
	puts_file("real/u/maildirsize", "\n1 1\n");
	ck_assert_int_eq(symlink(at("real"), at("link")), 0);
	ck_assert_int_eq(symlink(at("real/u"), at("d/v")), 0);

	/* A symlink anywhere below base. */
	ck_assert_int_eq(usage(&o, "link/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "symlink in mailbox path") != NULL, "%s", err);
	ck_assert_int_eq(usage(&o, "d/v", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "symlink in mailbox path") != NULL, "%s", err);

	/* ".." and "." components, whether or not they exist. */
	ck_assert_int_eq(usage(&o, "d/../real/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "..") != NULL, "%s", err);
	ck_assert_int_eq(usage(&o, "../x", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(usage(&o, "nope/../../x", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(usage(&o, "./d/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(usage(&o, "d/u/..", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	/* Names that merely contain dots are fine. */
	ck_assert_int_eq(usage(&o, "d/..u", U, U, &u, err, sizeof(err)),
	    MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_NONE);

	/* Empty components collapse. */
	ck_assert_int_eq(usage(&o, "real//u/", U, U, &u, err, sizeof(err)),
	    MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, 1);

	/* Absolute paths: inside base works, anything else is refused. */
	snprintf(path, sizeof(path), "%s/real/u", base);
	ck_assert_int_eq(usage(&o, path, U, U, &u, err, sizeof(err)), MQ_FOUND);
	ck_assert_uint_eq(u.bytes, 1);
	ck_assert_int_eq(usage(&o, "/etc", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "outside maildir.base") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%sx/real/u", base);
	ck_assert_int_eq(usage(&o, path, U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(usage(&o, base, U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	snprintf(path, sizeof(path), "%s/", base);
	ck_assert_int_eq(usage(&o, path, U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(usage(&o, "", U, U, &u, err, sizeof(err)), MQ_TEMPFAIL);
	snprintf(path, sizeof(path), "%s/real/../real/u", base);
	ck_assert_int_eq(usage(&o, path, U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);

	/* A base written with a trailing slash means the same. */
	snprintf(path, sizeof(path), "%s/", base);
	o.base = path;
	ck_assert_int_eq(usage(&o, "real/u", U, U, &u, err, sizeof(err)),
	    MQ_FOUND);
	ck_assert_uint_eq(u.bytes, 1);
	{
		char abs[PATH_MAX + 64];

		snprintf(abs, sizeof(abs), "%s/real/u", base);
		ck_assert_int_eq(mq_maildir_open(path, abs, &fd, err,
		    sizeof(err)), MQ_FOUND);
	}
	close(fd);

	/* A regular file on the way is not a Maildir. */
	puts_file("file", "x");
	ck_assert_int_eq(mq_maildir_open(base, "file/u", &fd, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(strstr(err, "symlink") == NULL, "%s", err);
}
END_TEST

static void
on_alarm(int sig)
{
	static const char msg[] = "blocked on the FIFO\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(3);
}

START_TEST(test_fifo_maildirsize)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];

	make_tree();
	ck_assert_int_eq(mkfifo(at("d/u/maildirsize"), 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	alarm(0);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
}
END_TEST

START_TEST(test_missing_maildir)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256];
	int fd;

	ck_assert_int_eq(usage(&o, "nodomain/nouser", U, U, &u, err,
	    sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_NONE);
	ck_assert_uint_eq(u.bytes, 0);
	ck_assert_uint_eq(u.messages, 0);
	ck_assert_int_eq(mq_maildir_open(base, "nodomain/nouser", &fd, err,
	    sizeof(err)), MQ_NOTFOUND);

	/* A missing base is a configuration problem, not an empty mailbox. */
	o.base = at("no-such-base");
	ck_assert_int_eq(usage(&o, "d/u", U, U, &u, err, sizeof(err)),
	    MQ_TEMPFAIL);
	ck_assert_msg(strstr(err, "maildir.base") != NULL, "%s", err);
}
END_TEST

/*
 * as_nobody - run fn in a child without root's override of permissions
 * (the test runs as root in CI containers); its exit status is the result.
 */
static void
as_nobody(int (*fn)(void))
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		ck_assert_int_eq(fn(), 0);
		return;
	}
	ck_assert_int_eq(chmod(base, 0755), 0);
	if ((pid = fork()) == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		_exit(fn());
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", status);
}

/* expect_denied - usage of d/u is a TEMPFAIL that says why. */
static int
expect_denied(void)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage u;
	char err[256] = "";
	int r = mq_maildir_usage(NULL, &o, "d/u", U, U, &u, err, sizeof(err));

	if (r != MQ_TEMPFAIL || strstr(err, "Permission denied") == NULL) {
		fprintf(stderr, "r=%d err=%s\n", r, err);
		return 1;
	}
	return 0;
}

START_TEST(test_unreadable)
{
	make_tree();
	puts_file("d/u/maildirsize", "\n1 1\n");
	ck_assert_int_eq(chmod(at("d/u/maildirsize"), 0), 0);
	as_nobody(expect_denied);

	/* An unreadable folder during a recount. */
	ck_assert_int_eq(unlink(at("d/u/maildirsize")), 0);
	ck_assert_int_eq(chmod(at("d/u/.Sent/cur"), 0), 0);
	as_nobody(expect_denied);
}
END_TEST

/*
 * The usage cache.
 */

static int
cusage(struct mq_usage_cache *c, const struct mq_maildir_opts *o,
    const char *path, struct mq_usage *u)
{
	char err[256];
	int r = mq_maildir_usage(c, o, path, U, U, u, err, sizeof(err));

	ck_assert_msg(r == MQ_FOUND, "%s: %s", path, err);
	return r;
}

START_TEST(test_cache_recount)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage_cache *c = mq_usage_cache_new(16);
	struct mq_usage u;
	time_t t0 = time(NULL) - 100;
	uint64_t now;

	make_tree();
	settle_tree(t0);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u",
	    mq_now_monotonic_us(), &u), MQ_MISS);

	cusage(c, &o, "d/u", &u);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	ck_assert(!u.cached);

	/* Within the TTL: answered without looking. */
	now = mq_now_monotonic_us();
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u", now, &u),
	    MQ_FOUND);
	ck_assert(u.cached);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);
	/* After twice the TTL, a miss; a TTL of 0 never answers. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u",
	    now + 11 * 1000000u, &u), MQ_MISS);
	o.usage_ttl = 0;
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u", now, &u),
	    MQ_MISS);
	o.usage_ttl = 5;

	/* Nothing changed: the recount is reused. */
	cusage(c, &o, "d/u", &u);
	ck_assert(u.cached);
	ck_assert_uint_eq(u.bytes, 8657);

	/*
	 * A file lands but cur/ keeps its old mtime: still reused, which
	 * shows no recount ran.
	 */
	puts_file("d/u/cur/g,S=1000:2,S", "x");
	set_mtime("d/u/cur", t0);
	cusage(c, &o, "d/u", &u);
	ck_assert(u.cached);
	ck_assert_uint_eq(u.bytes, 8657);

	/* cur/'s mtime moves: recounted. */
	set_mtime("d/u/cur", t0 + 50);
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 9657);
	ck_assert_uint_eq(u.messages, 9);

	/* A change in a folder's new/ is seen too. */
	puts_file("d/u/.Sent/new/h,S=5:2,", "x");
	set_mtime("d/u/.Sent/new", t0 + 60);
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 9662);

	/* So is a new folder (the Maildir's own mtime). */
	make_maildir("d/u/.New");
	puts_file("d/u/.New/cur/i,S=8:2,", "x");
	set_mtime("d/u/.New/cur", t0);
	set_mtime("d/u/.New/new", t0);
	set_mtime("d/u/.New", t0);
	set_mtime("d/u", t0 + 70);
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 9670);
	cusage(c, &o, "d/u", &u);
	ck_assert(u.cached);

	/* A maildirsize appearing is read, and then trusted. */
	puts_file("d/u/maildirsize", "\n77 7\n");
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_MAILDIRSIZE);
	ck_assert_uint_eq(u.bytes, 77);

	mq_usage_cache_flush(c);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u",
	    mq_now_monotonic_us(), &u), MQ_MISS);
	mq_usage_cache_free(&c);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_cache_unsettled)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage_cache *c = mq_usage_cache_new(16);
	struct mq_usage u;
	time_t t0 = time(NULL) - 100;

	make_tree();
	settle_tree(t0);
	/* cur/ changed just now: a same-tick change could hide, so recount. */
	set_mtime("d/u/cur", time(NULL));
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 8657);
	/* Settled: reused. */
	set_mtime("d/u/cur", t0);
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	cusage(c, &o, "d/u", &u);
	ck_assert(u.cached);
	mq_usage_cache_free(&c);
}
END_TEST

START_TEST(test_cache_maildirsize)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage_cache *c = mq_usage_cache_new(16);
	struct mq_usage u;
	char err[256];

	make_tree();
	puts_file("d/u/maildirsize", "1000S\n100 1\n");
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 100);
	cusage(c, &o, "d/u", &u);
	ck_assert(u.cached);
	ck_assert_uint_eq(u.bytes, 100);
	ck_assert_uint_eq(u.limit_bytes, 1000);

	/* An appended delta changes the size: read again. */
	puts_file("d/u/maildirsize", "1000S\n100 1\n50 1\n");
	cusage(c, &o, "d/u", &u);
	ck_assert(!u.cached);
	ck_assert_uint_eq(u.bytes, 150);

	/* The same figure re-judged against a new limit: now recounted. */
	ck_assert_int_eq(mq_maildir_usage(c, &o, "d/u", 120, 0, &u, err,
	    sizeof(err)), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_RECOUNT);
	ck_assert_uint_eq(u.bytes, 8657);

	/* A failure is not hidden by the older answer. */
	ck_assert_int_eq(unlink(at("d/u/maildirsize")), 0);
	ck_assert_int_eq(mkfifo(at("d/u/maildirsize"), 0600), 0);
	ck_assert_int_eq(mq_maildir_usage(c, &o, "d/u", U, U, &u, err,
	    sizeof(err)), MQ_TEMPFAIL);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "d/u",
	    mq_now_monotonic_us(), &u), MQ_MISS);
	mq_usage_cache_free(&c);
}
END_TEST

START_TEST(test_cache_bounded)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage_cache *c = mq_usage_cache_new(2);
	struct mq_usage u;
	uint64_t now;

	make_maildir("a");
	make_maildir("b");
	make_maildir("c");
	puts_file("a/maildirsize", "\n1 1\n");
	puts_file("b/maildirsize", "\n2 1\n");
	puts_file("c/maildirsize", "\n3 1\n");
	cusage(c, &o, "a", &u);
	cusage(c, &o, "b", &u);
	now = mq_now_monotonic_us();
	/* Touch "a", so "b" is the least recently used. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now, &u), MQ_FOUND);
	cusage(c, &o, "c", &u);
	now = mq_now_monotonic_us();
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now, &u), MQ_FOUND);
	ck_assert_uint_eq(u.bytes, 1);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "b", now, &u), MQ_MISS);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "c", now, &u), MQ_FOUND);
	ck_assert_uint_eq(u.bytes, 3);
	/* A missing Maildir is cached too. */
	cusage(c, &o, "nowhere", &u);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "nowhere",
	    mq_now_monotonic_us(), &u), MQ_FOUND);
	ck_assert_int_eq(u.origin, MQ_ORIGIN_NONE);
	mq_usage_cache_free(&c);

	/* A cache of size 0 stores nothing, and NULL is no cache at all. */
	c = mq_usage_cache_new(0);
	cusage(c, &o, "a", &u);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a",
	    mq_now_monotonic_us(), &u), MQ_MISS);
	mq_usage_cache_free(&c);
	ck_assert_int_eq(mq_maildir_usage_cached(NULL, &o, "a",
	    mq_now_monotonic_us(), &u), MQ_MISS);
}
END_TEST

/*
 * Refresh-ahead: younger than usage_ttl a plain hit; up to 2 x usage_ttl
 * still a hit, the first of them asking for a re-validation; older, a
 * miss. Times are given explicitly, relative to just after the store.
 */
START_TEST(test_cache_refresh_ahead)
{
	struct mq_maildir_opts o = opts_for(true);
	struct mq_usage_cache *c = mq_usage_cache_new(16);
	struct mq_usage u;
	const uint64_t s = 1000000u, ms = 1000u;
	uint64_t now;

	make_maildir("a");
	make_maildir("b");
	puts_file("a/maildirsize", "\n10 1\n");
	puts_file("b/maildirsize", "\n20 1\n");
	cusage(c, &o, "a", &u);
	cusage(c, &o, "b", &u);
	ck_assert(!u.refresh);
	now = mq_now_monotonic_us();

	/* Fresh: no refresh asked, however often. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 4900 * ms,
	    &u), MQ_FOUND);
	ck_assert(u.cached);
	ck_assert(!u.refresh);
	ck_assert_uint_eq(u.bytes, 10);

	/* Past the TTL: served, and only the first answer asks for a refresh. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 5 * s, &u),
	    MQ_FOUND);
	ck_assert(u.cached);
	ck_assert(u.refresh);
	ck_assert_uint_eq(u.bytes, 10);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 7 * s, &u),
	    MQ_FOUND);
	ck_assert(!u.refresh);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a",
	    now + 9900 * ms, &u), MQ_FOUND);
	ck_assert(!u.refresh);
	/* The mark is per path: "b" asks for its own. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "b", now + 6 * s, &u),
	    MQ_FOUND);
	ck_assert(u.refresh);
	ck_assert_uint_eq(u.bytes, 20);

	/* At twice the TTL nothing is served, refresh in flight or not. */
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 10 * s, &u),
	    MQ_MISS);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "b", now + 10 * s, &u),
	    MQ_MISS);

	/* A re-validation clears the mark and restarts the clock. */
	puts_file("a/maildirsize", "\n10 1\n5 1\n");
	cusage(c, &o, "a", &u);
	ck_assert(!u.refresh);
	ck_assert_uint_eq(u.bytes, 15);
	now = mq_now_monotonic_us();
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 1 * s, &u),
	    MQ_FOUND);
	ck_assert(!u.refresh);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 6 * s, &u),
	    MQ_FOUND);
	ck_assert(u.refresh);
	ck_assert_uint_eq(u.bytes, 15);
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 6 * s, &u),
	    MQ_FOUND);
	ck_assert(!u.refresh);

	/* A failed re-validation drops the figure: the next request waits. */
	ck_assert_int_eq(unlink(at("a/maildirsize")), 0);
	ck_assert_int_eq(mkfifo(at("a/maildirsize"), 0600), 0);
	{
		char err[256];

		ck_assert_int_eq(mq_maildir_usage(c, &o, "a", U, U, &u, err,
		    sizeof(err)), MQ_TEMPFAIL);
	}
	ck_assert_int_eq(mq_maildir_usage_cached(c, &o, "a", now + 1 * s, &u),
	    MQ_MISS);
	mq_usage_cache_free(&c);
}
END_TEST

struct thread_arg {
	struct mq_usage_cache *cache;
	const struct mq_maildir_opts *opts;
	int bad;
};

static void *
hammer(void *p)
{
	static const char *const paths[] = { "a", "b", "c", "d/u", "none" };
	static const uint64_t want[] = { 1, 2, 3, 8657, 0 };
	struct thread_arg *a = p;
	int i;

	for (i = 0; i < 400; i++) {
		size_t k = (size_t)i % MQ_NELEM(paths);
		struct mq_usage u;
		char err[256];

		if (i % 3 == 0)
			mq_usage_cache_flush(a->cache);
		if (mq_maildir_usage_cached(a->cache, a->opts, paths[k],
		    mq_now_monotonic_us(), &u) != MQ_FOUND &&
		    mq_maildir_usage(a->cache, a->opts, paths[k], U, U, &u,
		    err, sizeof(err)) != MQ_FOUND)
			a->bad++;
		else if (u.bytes != want[k])
			a->bad++;
	}
	return NULL;
}

START_TEST(test_cache_threads)
{
	struct mq_maildir_opts o = opts_for(true);
	struct thread_arg args[4];
	pthread_t t[4];
	size_t i;

	make_tree();
	settle_tree(time(NULL) - 100);
	make_maildir("a");
	make_maildir("b");
	make_maildir("c");
	puts_file("a/maildirsize", "\n1 1\n");
	puts_file("b/maildirsize", "\n2 1\n");
	puts_file("c/maildirsize", "\n3 1\n");
	/* Two threads share each cache; the cache is smaller than the set. */
	for (i = 0; i < 4; i++) {
		args[i].cache = i % 2 == 0 ? mq_usage_cache_new(3) :
		    args[i - 1].cache;
		args[i].opts = &o;
		args[i].bad = 0;
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(args[i].bad, 0);
	}
	mq_usage_cache_free(&args[0].cache);
	mq_usage_cache_free(&args[2].cache);
}
END_TEST

static Suite *
maildirsize_suite(void)
{
	Suite *s = suite_create("maildirsize");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_table, 0, MQ_NELEM(parse_cases));
	tcase_add_test(tc, test_parse_size_limit);
	tcase_add_loop_test(tc, test_trusted_table, 0, MQ_NELEM(trust_cases));
	tcase_add_test(tc, test_trusted_extreme_times);
	tcase_add_loop_test(tc, test_filename_size_table, 0,
	    MQ_NELEM(fname_cases));
	tcase_add_loop_test(tc, test_definition_table, 0, MQ_NELEM(def_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("maildir");
	tcase_add_checked_fixture(tc, fs_setup, fs_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_usage_good_file);
	tcase_add_test(tc, test_usage_exact_sizes);
	tcase_add_test(tc, test_usage_missing_file);
	tcase_add_test(tc, test_usage_corrupt_file);
	tcase_add_test(tc, test_usage_over_quota);
	tcase_add_test(tc, test_recount_ignore);
	tcase_add_test(tc, test_symlink_maildirsize);
	tcase_add_test(tc, test_symlinks_in_maildir_skipped);
	tcase_add_test(tc, test_write_size);
	tcase_add_test(tc, test_path_confinement);
	tcase_add_test(tc, test_fifo_maildirsize);
	tcase_add_test(tc, test_missing_maildir);
	tcase_add_test(tc, test_unreadable);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, fs_setup, fs_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_cache_recount);
	tcase_add_test(tc, test_cache_unsettled);
	tcase_add_test(tc, test_cache_maildirsize);
	tcase_add_test(tc, test_cache_bounded);
	tcase_add_test(tc, test_cache_refresh_ahead);
	tcase_add_test(tc, test_cache_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(maildirsize_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
