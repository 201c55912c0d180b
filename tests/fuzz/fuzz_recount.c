/* SPDX-License-Identifier: MIT */
/*
 * fuzz_recount - libFuzzer target for the recount of a Maildir
 * (quota/maildir_recount.c): the ",S=" sizes in message file names, and the
 * folders, on a real directory tree.
 *
 * The input is one line per message file: the first byte picks where it
 * goes (cur/ or new/ of the Maildir or of one of two folders, one of them
 * ignored), the second its length in bytes, the rest is its name ('/' and
 * NUL become '_'). The tree is built in a private directory and recounted.
 * The figures are compared with a reference reading of the names written
 * here from the rule Dovecot's recount follows (tests/integ/oracle_dovecot.py
 * checks it against Dovecot itself): the first ",S=<digits>" anywhere in
 * the name, else the file's length; names starting with ".." are not
 * messages, other dot names are).
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static int rootfd = -1;

static const char *const places[] = {
	"cur", "new", ".Sent/cur", ".Sent/new", ".Trash/cur", "tmp",
};

/*
 * ref_size - the size field of a name as Dovecot's recount reads it: the
 * first ",S=" anywhere, the digits after it (none: 0; the value wraps as
 * Dovecot's does), which must end the name or stand before ':' or ',';
 * -1 when there is no such field (the file's length counts then).
 */
static int
ref_size(const char *name, uint64_t *size_r)
{
	const char *p = strstr(name, ",S=");
	uint64_t v = 0;

	if (p == NULL)
		return -1;
	for (p += 3; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (*p != '\0' && *p != ':' && *p != ',')
		return -1;
	*size_r = v;
	return 0;
}

static void
clear(int dirfd)
{
	static const char *const dirs[] = {
		"cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Trash/cur",
	};
	size_t d;

	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		int fd = openat(dirfd, dirs[d], O_RDONLY | O_DIRECTORY);
		DIR *dir;
		struct dirent *de;

		if (fd < 0 || (dir = fdopendir(fd)) == NULL)
			abort();
		while ((de = readdir(dir)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(fd, de->d_name, 0);
		closedir(dir);
	}
}

/* remove_tree - the private Maildir, at exit (replay runs leave nothing). */
static void
remove_tree(void)
{
	static const char *const dirs[] = {
		".Trash/cur", ".Trash", ".Sent/new", ".Sent/cur", ".Sent", "tmp",
		"new", "cur",
	};
	size_t d;

	clear(rootfd);
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		unlinkat(rootfd, dirs[d], AT_REMOVEDIR);
	close(rootfd);
	rmdir(root);
}

static void
setup(void)
{
	static const char *const dirs[] = {
		"cur", "new", "tmp", ".Sent", ".Sent/cur", ".Sent/new", ".Trash",
		".Trash/cur",
	};
	size_t d;

	snprintf(root, sizeof(root), "/tmp/mq-fuzz-recount.XXXXXX");
	if (mkdtemp(root) == NULL ||
	    (rootfd = open(root, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		if (mkdirat(rootfd, dirs[d], 0700) < 0)
			abort();
	atexit(remove_tree);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char zeros[256];
	char *const ignore[] = { "Trash" };
	uint64_t want_bytes = 0, want_msgs = 0, bytes, msgs;
	char error[512];
	size_t i = 0;

	if (rootfd < 0)
		setup();
	clear(rootfd);
	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl != NULL ? (size_t)(nl - (data + i)) : size - i;
		char name[256], path[300];
		const char *place;
		unsigned flen;
		uint64_t s;
		size_t k;
		int fd;

		if (len >= 3 && len - 2 < sizeof(name)) {
			place = places[data[i] % (sizeof(places) / sizeof(places[0]))];
			flen = data[i + 1];
			for (k = 0; k < len - 2; k++) {
				char c = (char)data[i + 2 + k];

				name[k] = c == '/' || c == '\0' ? '_' : c;
			}
			name[len - 2] = '\0';
			snprintf(path, sizeof(path), "%s/%s", place, name);
			if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
			    (fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0) {
				if (write(fd, zeros, flen) != (ssize_t)flen)
					abort();
				close(fd);
				/* Dovecot passes over names starting with ".." only */
				if (strncmp(name, "..", 2) != 0 &&
				    strcmp(place, "tmp") != 0 &&
				    strncmp(place, ".Trash", 6) != 0) {
					want_msgs++;
					if (ref_size(name, &s) < 0)
						s = flen;
					/* held at UINT64_MAX, as the recount's sums */
					want_bytes = want_bytes > UINT64_MAX - s ?
					    UINT64_MAX : want_bytes + s;
				}
			}
		}
		i += len + 1;
	}
	if (mq_maildir_recount(rootfd, ignore, 1, &bytes, &msgs, error,
	    sizeof(error)) != 0)
		abort();
	if (msgs != want_msgs)
		abort();
	if (bytes != want_bytes)
		abort();
	return 0;
}
