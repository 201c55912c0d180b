/* SPDX-License-Identifier: MIT */
/*
 * fuzz_maildirsize - libFuzzer target for the Maildir++ parser, the trust
 * rule and the ",S=" file name reader: no crash, no overflow, and the
 * documented invariants hold for any input.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildirsize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { 0, 1, 1000, INT64_MAX, UINT64_MAX };
	struct mq_maildirsize m;
	enum mq_mds_status st;
	uint64_t fsize;
	char *name;
	size_t i;

	st = mq_maildirsize_parse((const char *)data, size, &m);
	if (size >= MQ_MAILDIRSIZE_MAX && st != MQ_MDS_TOOBIG)
		abort();
	if (m.limit_bytes > INT64_MAX || m.limit_messages > INT64_MAX)
		abort();
	if (st == MQ_MDS_OK) {
		if (m.lines == 0 || m.bytes > INT64_MAX ||
		    m.messages > INT32_MAX)
			abort();
		/* Under its own limits, a file is always believed. */
		if ((m.limit_bytes == 0 || m.bytes <= m.limit_bytes) &&
		    (m.limit_messages == 0 || m.messages <= m.limit_messages) &&
		    !mq_maildirsize_trusted(&m, m.limit_bytes, m.limit_messages,
		    0, INT64_MAX))
			abort();
		for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
			(void)mq_maildirsize_trusted(&m, limits[i],
			    limits[(i + 1) % 5], (time_t)size, 1700000000);
	} else if (m.bytes != 0 || m.messages != 0 ||
	    (st == MQ_MDS_CORRUPT && m.lines != 0))
		abort();

	/* The same bytes as a file name. */
	name = malloc(size + 1);
	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	if (mq_maildir_filename_size(name, &fsize) == 0 &&
	    strstr(name, ",S=") == NULL)
		abort();
	free(name);
	return 0;
}
