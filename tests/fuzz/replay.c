/* SPDX-License-Identifier: MIT */
/*
 * replay - run a fuzz target's entry point over files, without libFuzzer:
 * `make check` links one per target with the normal compiler (so the
 * plain and the ASan build both replay every seed corpus) and runs it on
 * tests/fuzz/corpus/NAME/. Arguments are files or directories (their
 * regular files, in name order). Prints one line per input and a summary;
 * a crash or an abort() in the target fails the program.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t passed;

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* an exact-size copy, so ASan sees a read past the input */
	if ((exact = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	printf("ok %s (%zu bytes)\n", path, len);
	fflush(stdout);
	passed++;
	return 0;
}

int
main(int argc, char **argv)
{
	int i, failed = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			failed++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **list;
			int n = scandir(argv[i], &list, NULL, alphasort), k;

			if (n < 0) {
				perror(argv[i]);
				failed++;
				continue;
			}
			for (k = 0; k < n; k++) {
				char path[4096];

				if (list[k]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s",
					    argv[i], list[k]->d_name);
					if (run_file(path) < 0)
						failed++;
				}
				free(list[k]);
			}
			free(list);
		} else if (run_file(argv[i]) < 0)
			failed++;
	}
	printf("%zu passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
