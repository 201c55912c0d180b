/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config - libFuzzer target for the configuration loader
 * (conf/config.c on libconfuse), from a file as the programs read it.
 *
 * The input is written to a file in a private directory and loaded.
 * Invariants: a refusal has a message; an accepted configuration has its
 * listeners, a known driver and limits in range, and frees cleanly.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];
static char dir[] = "/tmp/mq-fuzz-config.XXXXXX";

/* remove_dir - the private directory, at exit (replay runs leave nothing). */
static void
remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mq_config *cfg = NULL;
	char *error = NULL;
	int fd;

	if (path[0] == '\0') {
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/mailquota.conf", dir);
		atexit(remove_dir);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	if (mq_config_load(path, &cfg, &error) != 0) {
		if (error == NULL || error[0] == '\0' || cfg != NULL)
			abort();
		free(error);
		return 0;
	}
	if (cfg == NULL || error != NULL)
		abort();
	if (cfg->policy.workers < 0 || cfg->warn.nthresholds > 100)
		abort();
	mq_config_free(&cfg);
	if (cfg != NULL)
		abort();
	return 0;
}
