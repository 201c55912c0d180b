/* SPDX-License-Identifier: MIT */
/*
 * mq-encode-header - the header encoder for tests/integ/rfc2047.py: reads
 * NUL-terminated values on standard input and writes, for each, what
 * mq_header_encode("Subject", value) gives, followed by a NUL.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "warn/compose.h"

int
main(void)
{
	char *value = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getdelim(&value, &cap, '\0', stdin)) > 0) {
		char *h;

		if (value[n - 1] != '\0')
			break;		/* a last value without its NUL */
		h = mq_header_encode("Subject", value);
		fputs(h, stdout);
		fputc('\0', stdout);
		free(h);
	}
	free(value);
	return ferror(stdout) ? 1 : 0;
}
