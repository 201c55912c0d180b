/* SPDX-License-Identifier: MIT */
/*
 * maildirsize - the Maildir++ quota file. The parser is pure (and fuzzed).
 *
 * Format: a definition line of comma-separated limits ("1000000S,1000C";
 * 0 or absent = unlimited), then lines "BYTES COUNT" whose sums are the
 * usage (deltas may be negative). Read exactly as Dovecot 2.3 reads it:
 * only the complete lines count (an unterminated last line is being
 * appended); an item of the definition line that is not digits and one
 * 'S' or 'C' is ignored, never an error; a usage line is scanf("%lld %d")
 * (blanks, signs and trailing text are fine, the count is a C int); the
 * file is unusable (recounted) when it is 5120 bytes or more, has no
 * complete line before the last newline, a NUL byte, a line that does not
 * scan, or a negative sum.
 */
#ifndef MQ_MAILDIRSIZE_H
#define MQ_MAILDIRSIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MQ_MAILDIRSIZE_MAX 5120		/* at or above: recount */
#define MQ_MAILDIRSIZE_STALE_SECS (15 * 60)

enum mq_mds_status {
	MQ_MDS_OK = 0,
	MQ_MDS_TOOBIG,		/* >= 5120 bytes */
	MQ_MDS_CORRUPT,		/* NUL, a line that does not scan, negative totals */
};

struct mq_maildirsize {
	/* The limits are read unless there is no line or a NUL (then 0). */
	bool has_limit_bytes;		/* an "NNNS" item was read */
	uint64_t limit_bytes;		/* 0 = unlimited */
	bool has_limit_messages;
	uint64_t limit_messages;
	uint64_t bytes;			/* sum of the usage lines */
	uint64_t messages;
	unsigned lines;			/* complete lines, the definition line included */
};

enum mq_mds_status mq_maildirsize_parse(const char *buf, size_t len,
    struct mq_maildirsize *out);

/*
 * mq_maildirsize_trusted - whether a parsed file may be believed, given
 * the limits in force (0 = unlimited): not when its definition line states
 * other limits (Dovecot rewrites it), nor when its usage is strictly over
 * a limit and the file has more than one usage line or is older than 15
 * minutes.
 */
bool mq_maildirsize_trusted(const struct mq_maildirsize *mds,
    uint64_t limit_bytes, uint64_t limit_messages, time_t mtime, time_t now);

/*
 * mq_maildir_filename_size - the size in a Maildir file name as Dovecot's
 * recount reads it: the digits after the first ",S=" (none is 0; more than
 * 64 bits wrap), which must end the name or be followed by ':' or ','.
 * -1 when there is no such size (the recount then looks at the file).
 */
int mq_maildir_filename_size(const char *name, uint64_t *size_r);

/*
 * mq_maildirsize_definition - the definition line for the limits (0 =
 * unlimited), without the newline: "NNNS,NNNC", a part left out when its
 * limit is 0, "0S" when both are (as Dovecot writes it). A buffer of
 * MQ_MDS_DEFINITION_SIZE bytes holds any of them (limits are held at
 * INT64_MAX: 19 digits each).
 */
#define MQ_MDS_DEFINITION_SIZE 48
void mq_maildirsize_definition(char *buf, size_t size, uint64_t limit_bytes,
    uint64_t limit_messages);

#endif
