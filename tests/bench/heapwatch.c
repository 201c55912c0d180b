/* SPDX-License-Identifier: MIT */
/*
 * heapwatch - preloaded into an ASan-built daemon by tests/bench/soak.py:
 * every HEAPWATCH_EVERY seconds (default 5) a line "SECONDS KIB" with the
 * bytes ASan's allocator holds for live allocations, appended to
 * HEAPWATCH_FILE. The resident size of an ASan build also counts the
 * sanitizer's own bookkeeping (quarantine, shadow, stack depot, fake
 * stacks); this is the daemon's heap alone, which must stay flat.
 * Not part of any program: built by soak.py with the system compiler.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* sanitizer/allocator_interface.h; resolved in the ASan runtime */
size_t __sanitizer_get_current_allocated_bytes(void);

static void *
watch(void *arg)
{
	const char *path = getenv("HEAPWATCH_FILE");
	const char *every_s = getenv("HEAPWATCH_EVERY");
	unsigned every = every_s != NULL ? (unsigned)atoi(every_s) : 5;
	struct timespec t0, t;
	FILE *f;

	(void)arg;
	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		sleep(every > 0 ? every : 5);
		clock_gettime(CLOCK_MONOTONIC, &t);
		fprintf(f, "%ld %zu\n", (long)(t.tv_sec - t0.tv_sec),
		    __sanitizer_get_current_allocated_bytes() / 1024);
		fflush(f);
	}
	return NULL;
}

__attribute__((constructor)) static void
heapwatch_start(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, watch, NULL) == 0)
		pthread_detach(th);
}
