/* SPDX-License-Identifier: MIT */
/*
 * maildirsize_file - reading a Maildir's maildirsize, and replacing it for
 * recalc.
 *
 * The file lives in a directory its (untrusted) owner controls, so it is
 * looked at before it is opened: it must be a regular file, never a
 * symlink, a device or a FIFO; it is opened O_NOFOLLOW | O_NONBLOCK and
 * read at most MQ_MAILDIRSIZE_MAX bytes. What was read keeps the file's
 * identity, size and mtime, so the usage cache can tell with one fstatat
 * whether it is still the same. Replacing it goes through mq_write_atomic
 * (a temp file renamed over it), so a reader never sees half a file.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "maildirsize_file.h"
#include "mq.h"
#include "util.h"

/* read_bounded - up to size bytes of fd into buf: 0 with *len_r, or -1. */
static int
read_bounded(int fd, char *buf, size_t size, size_t *len_r)
{
	size_t len = 0;

	while (len < size) {
		ssize_t n = read(fd, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_r = len;
	return 0;
}

/* open_regular - open root's maildirsize after a look: -1 error, -2 none. */
static int
open_regular(int root, struct stat *st, char *error, size_t errlen)
{
	int fd;

	/* Look before opening: never open a device or FIFO at all. */
	if (fstatat(root, "maildirsize", st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return -2;
		mq_set_error(error, errlen, "maildirsize: %s", strerror(errno));
		return -1;
	}
	if (S_ISLNK(st->st_mode)) {
		mq_set_error(error, errlen, "maildirsize is a symlink");
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		mq_set_error(error, errlen, "maildirsize is not a regular file");
		return -1;
	}
	fd = openat(root, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -2;	/* removed since the stat */
		mq_set_error(error, errlen, "maildirsize: %s", errno == ELOOP ?
		    "is a symlink" : strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		mq_set_error(error, errlen, "maildirsize is not a regular file");
		close(fd);
		return -1;
	}
	return fd;
}

int
mq_mds_file_read(int root, struct mq_mds_file *rd, char *error, size_t errlen)
{
	char buf[MQ_MAILDIRSIZE_MAX];
	struct stat st;
	size_t len;
	int fd;

	memset(rd, 0, sizeof(*rd));
	if ((fd = open_regular(root, &st, error, errlen)) == -2)
		return 0;
	if (fd < 0)
		return -1;
	rd->exists = true;
	rd->dev = st.st_dev;
	rd->ino = st.st_ino;
	rd->size = st.st_size;
	rd->mtim = st.st_mtim;
	/* At most MQ_MAILDIRSIZE_MAX bytes: a longer file parses as too big. */
	if (read_bounded(fd, buf, sizeof(buf), &len) < 0) {
		mq_set_error(error, errlen, "maildirsize: %s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);

	/* The limits are kept when only the usage lines are bad. */
	rd->status = mq_maildirsize_parse(buf, len, &rd->mds);
	return 0;
}

bool
mq_mds_file_unchanged(int root, const struct mq_mds_file *rd)
{
	struct stat st;

	if (fstatat(root, "maildirsize", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT && !rd->exists;
	return rd->exists && S_ISREG(st.st_mode) && st.st_dev == rd->dev &&
	    st.st_ino == rd->ino && st.st_size == rd->size &&
	    mq_same_time(&st.st_mtim, &rd->mtim);
}

int
mq_maildir_read_size(int dirfd, struct mq_maildirsize *mds,
    enum mq_mds_status *status_r, char *error, size_t errlen)
{
	struct mq_mds_file rd;

	memset(mds, 0, sizeof(*mds));
	*status_r = MQ_MDS_OK;
	if (mq_mds_file_read(dirfd, &rd, error, errlen) < 0)
		return MQ_TEMPFAIL;
	if (!rd.exists)
		return MQ_NOTFOUND;
	*mds = rd.mds;
	*status_r = rd.status;
	return MQ_FOUND;
}

/* same_content - maildirsize holds exactly these bytes already. */
static bool
same_content(int dirfd, const char *text, size_t len)
{
	char buf[256];
	ssize_t n;
	int fd;

	/* Longer than buf: not compared, simply rewritten. */
	if (len >= sizeof(buf))
		return false;
	fd = openat(dirfd, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return false;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)len && memcmp(buf, text, len) == 0;
}

/*
 * replace_mode - the mode for a new maildirsize: the old file's, else the
 * Maildir's (without execute bits); -1 when what is there now is a
 * symlink or not a regular file (planted: refused).
 */
static int
replace_mode(int dirfd, mode_t *mode_r, char *error, size_t errlen)
{
	struct stat dst, st;
	mode_t mode;

	if (fstat(dirfd, &dst) < 0) {
		mq_set_error(error, errlen, "cannot stat Maildir: %s",
		    strerror(errno));
		return -1;
	}
	if (fstatat(dirfd, "maildirsize", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			mq_set_error(error, errlen,
			    "maildirsize is a symlink: refused");
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			mq_set_error(error, errlen,
			    "maildirsize is not a regular file: refused");
			return -1;
		}
		mode = st.st_mode & 0666;
	} else if (errno == ENOENT) {
		mode = dst.st_mode & 0666;
	} else {
		mq_set_error(error, errlen, "maildirsize: %s", strerror(errno));
		return -1;
	}
	*mode_r = mode != 0 ? mode : 0600;
	return 0;
}

int
mq_maildir_write_size(int dirfd, uint64_t limit_bytes,
    uint64_t limit_messages, uint64_t bytes, uint64_t messages,
    char *error, size_t errlen)
{
	char def[MQ_MDS_DEFINITION_SIZE], *text;
	mode_t mode;
	int r;

	if (replace_mode(dirfd, &mode, error, errlen) < 0)
		return -1;
	mq_maildirsize_definition(def, sizeof(def), limit_bytes, limit_messages);
	/* Figures past INT64_MAX are written whole, as Dovecot writes them. */
	text = xasprintf("%s\n%llu %llu\n", def, (unsigned long long)bytes,
	    (unsigned long long)messages);
	if (same_content(dirfd, text, strlen(text)))
		r = 1;
	else
		r = mq_write_atomic(dirfd, "maildirsize", text, strlen(text),
		    mode, MQ_OWNER_DIR, error, errlen);
	free(text);
	return r;
}
