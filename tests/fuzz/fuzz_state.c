/* SPDX-License-Identifier: MIT */
/*
 * fuzz_state - libFuzzer target for the replay of the warning state file
 * (warn/state.c).
 *
 * The input is the file. It is replayed with the lock (as a sweep opens
 * it) and read-only (a dry run): both must know the same users. It is
 * then compacted and replayed again: the compacted file must have the same
 * users, no skipped line, and compacting it once more must give the same
 * lines.
 * Files live in a private directory made once per process.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "warn/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static char dir[] = "/tmp/mq-fuzz-state.XXXXXX";

/* remove - the private directory, at exit (replay runs leave nothing). */
static void
remove_dir(void)
{
	static const char *const suffixes[] = { "", ".lock", ".tmp" };
	char p[300];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void
setup(void)
{
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/state", dir);
	atexit(remove_dir);
}

static void
put_file(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

static char *
get_file(size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		abort();
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len_r = (size_t)n;
	return buf;
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* same_lines - the same lines, in any order (the table's order is its own). */
static bool
same_lines(char *a, size_t la, char *b, size_t lb)
{
	char **pa, **pb, *p;
	size_t na = 0, nb = 0, i;
	bool same;

	if (la != lb)
		return false;
	a[la] = b[lb] = '\0';
	pa = calloc(la + 1, sizeof(*pa));
	pb = calloc(lb + 1, sizeof(*pb));
	if (pa == NULL || pb == NULL)
		abort();
	for (p = strtok(a, "\n"); p != NULL; p = strtok(NULL, "\n"))
		pa[na++] = p;
	for (p = strtok(b, "\n"); p != NULL; p = strtok(NULL, "\n"))
		pb[nb++] = p;
	qsort(pa, na, sizeof(*pa), cmp_line);
	qsort(pb, nb, sizeof(*pb), cmp_line);
	same = na == nb;
	for (i = 0; same && i < na; i++)
		same = strcmp(pa[i], pb[i]) == 0;
	free(pa);
	free(pb);
	return same;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mq_state *st, *ro;
	char error[512], *once, *twice;
	size_t users, l1, l2;

	if (path[0] == '\0')
		setup();
	put_file(data, size);
	if (mq_state_open_readonly(path, &ro, error, sizeof(error)) != MQ_STATE_OK)
		abort();
	if (mq_state_open(path, 0, &st, error, sizeof(error)) != MQ_STATE_OK)
		abort();
	users = mq_state_users(st);
	if (mq_state_users(ro) != users || mq_state_skipped(ro) != mq_state_skipped(st))
		abort();
	mq_state_close(&ro);
	if (mq_state_compact(st, false, error, sizeof(error)) != 0)
		abort();
	mq_state_close(&st);
	once = get_file(&l1);

	if (mq_state_open(path, 0, &st, error, sizeof(error)) != MQ_STATE_OK)
		abort();
	if (mq_state_users(st) > users || mq_state_skipped(st) != 0)
		abort();
	if (mq_state_compact(st, false, error, sizeof(error)) != 0)
		abort();
	mq_state_close(&st);
	twice = get_file(&l2);
	if (!same_lines(once, l1, twice, l2))
		abort();
	free(once);
	free(twice);
	return 0;
}
