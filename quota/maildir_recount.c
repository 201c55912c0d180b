/* SPDX-License-Identifier: MIT */
/*
 * maildir_recount - a Maildir's usage counted from its files, as Dovecot's
 * recount does: cur/ and new/ of the Maildir and of every ".Folder" but
 * those in maildir.ignore, each message's size from ",S=" in its name, else
 * from lstat. Nothing is followed: folders and directories that are
 * symlinks are skipped, and every directory is opened with
 * MQ_MAILDIR_DIR_FLAGS.
 *
 * A recount also notes the identity and mtime of every directory it read
 * (struct mq_recount), so that the usage cache can later tell with fstatat
 * alone whether the figure still holds. Directory mtimes have a coarse
 * clock (jiffies, or whole seconds on some file systems), so a file landing
 * in the same tick as the read would not move the mtime: a recount whose
 * directories changed within the last MTIME_SETTLE_SECS is not "settled",
 * and the cache redoes it rather than revalidate it.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "maildir_path.h"
#include "maildir_recount.h"
#include "util.h"

#define MTIME_SETTLE_SECS 2

/*
 * add_sat - a + b, held at UINT64_MAX. Dovecot's recount adds in uint64_t
 * too (and would wrap past it, where this holds).
 */
static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

/* recount_stamp - remember a directory's identity and mtime before reading it. */
static void
recount_stamp(struct mq_recount *rc, const char *rel, const struct stat *st,
    time_t now)
{
	struct mq_dirstamp *d;

	if (rc->ndirs == rc->capdirs) {
		rc->capdirs = rc->capdirs ? rc->capdirs * 2 : 8;
		rc->dirs = xreallocarray(rc->dirs, rc->capdirs, sizeof(*rc->dirs));
	}
	d = &rc->dirs[rc->ndirs++];
	d->rel = xstrdup(rel);
	d->dev = st->st_dev;
	d->ino = st->st_ino;
	d->mtim = st->st_mtim;
	if (st->st_mtim.tv_sec > now - MTIME_SETTLE_SECS)
		rc->settled = false;
}

/* mq_recount_clear - free the stamps and forget the figure. */
void
mq_recount_clear(struct mq_recount *rc)
{
	size_t i;

	for (i = 0; i < rc->ndirs; i++)
		free(rc->dirs[i].rel);
	free(rc->dirs);
	memset(rc, 0, sizeof(*rc));
}

/* mq_recount_copy - a deep copy of src into dst. */
void
mq_recount_copy(struct mq_recount *dst, const struct mq_recount *src)
{
	size_t i;

	*dst = *src;
	dst->dirs = NULL;
	dst->capdirs = dst->ndirs;
	if (src->ndirs == 0)
		return;
	dst->dirs = xreallocarray(NULL, src->ndirs, sizeof(*dst->dirs));
	for (i = 0; i < src->ndirs; i++) {
		dst->dirs[i] = src->dirs[i];
		dst->dirs[i].rel = xstrdup(src->dirs[i].rel);
	}
}

/*
 * count_messages - add up one cur/ or new/ below parent as Dovecot's
 * recount does: every entry but ".", ".." and names starting with "..",
 * its size from the name (mq_maildir_filename_size), else from lstat. A
 * symlink without a size in its name is not followed (Dovecot would). A
 * missing directory, a symlink or a non-directory has nothing to count.
 */
static int
count_messages(int parent, const char *name, const char *rel,
    struct mq_recount *rc, time_t now, char *error, size_t errlen)
{
	char show[128];
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd;

	if ((fd = openat(parent, name, MQ_MAILDIR_DIR_FLAGS)) < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return 0;
		mq_set_error(error, errlen, "cannot open %s: %s",
		    mq_shown(show, sizeof(show), rel), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || (dir = fdopendir(fd)) == NULL) {
		mq_set_error(error, errlen, "cannot read %s: %s",
		    mq_shown(show, sizeof(show), rel), strerror(errno));
		close(fd);
		return -1;
	}
	recount_stamp(rc, rel, &st, now);
	for (;;) {
		const char *n;
		uint64_t size = 0;

		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		n = de->d_name;
		/* Dovecot passes over ".", ".." and "..*" only: ".x" counts. */
		if (n[0] == '.' && (n[1] == '\0' || n[1] == '.'))
			continue;
		/* A size in the name is taken whatever the entry is. */
		if (mq_maildir_filename_size(n, &size) < 0) {
			if (de->d_type == DT_LNK)
				continue;	/* never followed */
			if (fstatat(dirfd(dir), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;	/* moved on meanwhile */
				mq_set_error(error, errlen, "cannot stat in %s: %s",
				    mq_shown(show, sizeof(show), rel),
				    strerror(errno));
				closedir(dir);
				return -1;
			}
			if (S_ISLNK(st.st_mode))
				continue;
			/* Anything else counts with its size, as stat(2) says. */
			size = (uint64_t)st.st_size;
		}
		rc->bytes = add_sat(rc->bytes, size);
		rc->messages = add_sat(rc->messages, 1);
	}
	if (errno != 0) {
		mq_set_error(error, errlen, "cannot read %s: %s",
		    mq_shown(show, sizeof(show), rel), strerror(errno));
		closedir(dir);
		return -1;
	}
	closedir(dir);
	return 0;
}

/* ignored - whether folder ".NAME" is listed (as "NAME" or ".NAME") in ignore. */
static bool
ignored(const char *name, char *const *ignore, size_t nignore)
{
	size_t i;

	for (i = 0; i < nignore; i++) {
		const char *ig = ignore[i];

		if (ig == NULL)
			continue;
		if (ig[0] == '.')
			ig++;
		if (strcmp(ig, name + 1) == 0)
			return true;
	}
	return false;
}

/* count_folder - cur/ and new/ of one ".Folder"; a symlink is skipped. */
static int
count_folder(int root, const char *name, struct mq_recount *rc, time_t now,
    char *error, size_t errlen)
{
	static const char *const sub[] = { "cur", "new" };
	char rel[NAME_MAX + 8], show[128];
	struct stat st;
	int fd, r;

	if ((fd = openat(root, name, MQ_MAILDIR_DIR_FLAGS)) < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return 0;
		mq_set_error(error, errlen, "cannot open folder %s: %s",
		    mq_shown(show, sizeof(show), name), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mq_set_error(error, errlen, "cannot stat folder %s: %s",
		    mq_shown(show, sizeof(show), name), strerror(errno));
		close(fd);
		return -1;
	}
	recount_stamp(rc, name, &st, now);
	r = 0;
	for (size_t i = 0; i < MQ_NELEM(sub) && r == 0; i++) {
		/* name is a directory entry (at most NAME_MAX): rel holds it. */
		if (snprintf(rel, sizeof(rel), "%s/%s", name, sub[i]) >=
		    (int)sizeof(rel)) {
			mq_set_error(error, errlen, "folder name too long: %s",
			    mq_shown(show, sizeof(show), name));
			r = -1;
		} else
			r = count_messages(fd, sub[i], rel, rc, now, error,
			    errlen);
	}
	close(fd);
	return r;
}

/* mq_recount_run - the whole recount of the Maildir at root, stamps included. */
int
mq_recount_run(int root, char *const *ignore, size_t nignore,
    struct mq_recount *rc, char *error, size_t errlen)
{
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	DIR *dir;
	int fd;

	memset(rc, 0, sizeof(*rc));
	rc->settled = true;
	if (fstat(root, &st) < 0) {
		mq_set_error(error, errlen, "cannot stat Maildir: %s",
		    strerror(errno));
		return -1;
	}
	recount_stamp(rc, "", &st, now);
	if (count_messages(root, "cur", "cur", rc, now, error, errlen) < 0 ||
	    count_messages(root, "new", "new", rc, now, error, errlen) < 0)
		goto fail;

	/* A fresh fd: readdir must not move the caller's offset. */
	if ((fd = openat(root, ".", MQ_MAILDIR_DIR_FLAGS)) < 0 ||
	    (dir = fdopendir(fd)) == NULL) {
		mq_set_error(error, errlen, "cannot read Maildir: %s",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	for (;;) {
		const char *n;

		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		n = de->d_name;
		if (n[0] != '.' || n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (ignored(n, ignore, nignore))
			continue;
		if (count_folder(root, n, rc, now, error, errlen) < 0) {
			closedir(dir);
			goto fail;
		}
	}
	if (errno != 0) {
		mq_set_error(error, errlen, "cannot read Maildir: %s",
		    strerror(errno));
		closedir(dir);
		goto fail;
	}
	closedir(dir);
	rc->valid = true;
	return 0;

fail:
	mq_recount_clear(rc);
	return -1;
}

int
mq_maildir_recount(int dirfd, char *const *ignore, size_t nignore,
    uint64_t *bytes_r, uint64_t *messages_r, char *error, size_t errlen)
{
	struct mq_recount rc;

	*bytes_r = *messages_r = 0;
	if (mq_recount_run(dirfd, ignore, nignore, &rc, error, errlen) < 0)
		return -1;
	*bytes_r = rc.bytes;
	*messages_r = rc.messages;
	mq_recount_clear(&rc);
	return 0;
}

/* mq_recount_unchanged - every directory the recount read is as it was then. */
bool
mq_recount_unchanged(int root, const struct mq_recount *rc)
{
	size_t i;

	for (i = 0; i < rc->ndirs; i++) {
		const struct mq_dirstamp *d = &rc->dirs[i];
		struct stat st;
		int r;

		if (d->rel[0] == '\0')
			r = fstat(root, &st);
		else
			r = fstatat(root, d->rel, &st, AT_SYMLINK_NOFOLLOW);
		if (r < 0 || !S_ISDIR(st.st_mode) || st.st_dev != d->dev ||
		    st.st_ino != d->ino || !mq_same_time(&st.st_mtim, &d->mtim))
			return false;
	}
	return true;
}