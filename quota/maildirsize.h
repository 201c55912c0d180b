/*
 * maildirsize - the Maildir++ quota file. The parser is pure (and fuzzed).
 *
 * Format: a definition line of comma-separated limits ("1000000S,1000C";
 * 0 or absent = unlimited), then lines "BYTES COUNT" whose sums are the
 * usage (deltas may be negative). The file is unusable (must be recounted)
 * when it is 5120 bytes or more, holds a NUL byte, a line that does not
 * parse, or negative sums. An unterminated last line is ignored (a writer
 * is still appending it).
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
	MQ_MDS_CORRUPT,		/* NUL, junk, negative totals, no definition line */
};

struct mq_maildirsize {
	bool has_limit_bytes;
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
 * mq_maildirsize_trusted - whether a parsed file may be believed. An
 * over-quota figure (by its own limits or by limit_bytes/limit_messages
 * given, 0 = unlimited) is not trusted when the file has more than one
 * usage line or is older than 15 minutes: Maildir++ says recount.
 */
bool mq_maildirsize_trusted(const struct mq_maildirsize *mds,
    uint64_t limit_bytes, uint64_t limit_messages, time_t mtime, time_t now);

/* mq_maildir_filename_size - the ,S=NNN size in a Maildir file name; -1 when absent. */
int mq_maildir_filename_size(const char *name, uint64_t *size_r);

/*
 * mq_maildirsize_definition - the definition line for the limits (0 =
 * unlimited), without the newline: "NNNS,NNNC", a part left out when its
 * limit is 0, "0S" when both are (as Dovecot writes it).
 */
void mq_maildirsize_definition(char *buf, size_t size, uint64_t limit_bytes,
    uint64_t limit_messages);

#endif
