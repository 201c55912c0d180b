/* SPDX-License-Identifier: MIT */
/*
 * maildir_path - open a mailbox's Maildir confined under maildir.base.
 *
 * The path comes from the database, so it is untrusted: a relative path is
 * taken under base, an absolute one must lie strictly inside base, "." and
 * ".." components are refused, and the walk starts from an fd of base and
 * opens each component with openat(MQ_MAILDIR_DIR_FLAGS), so a symlink
 * anywhere below base is refused rather than followed.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "maildir_path.h"
#include "mq.h"
#include "util.h"

#define MAILDIR_PATH_MAX 4096

/* check_path - refuse "." and ".." components. */
static int
check_path(const char *rel, const char *show, char *error, size_t errlen)
{
	const char *p = rel;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			mq_set_error(error, errlen,
			    "\".\" or \"..\" in mailbox path \"%s\"", show);
			return -1;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

/*
 * relative_path - path as seen from base: itself when relative, the part
 * after base when absolute and inside it. NULL with the reason in error.
 */
static const char *
relative_path(const char *base, const char *path, const char *show,
    char *error, size_t errlen)
{
	size_t baselen;
	const char *rel;

	if (strlen(path) >= MAILDIR_PATH_MAX) {
		mq_set_error(error, errlen, "mailbox path too long: \"%s\"", show);
		return NULL;
	}
	/* An absolute path must lie strictly inside base. */
	baselen = strlen(base);
	while (baselen > 0 && base[baselen - 1] == '/')
		baselen--;
	if (path[0] == '/') {
		if (strncmp(path, base, baselen) != 0 || path[baselen] != '/') {
			mq_set_error(error, errlen,
			    "mailbox path \"%s\" is outside maildir.base", show);
			return NULL;
		}
		rel = path + baselen;
	} else
		rel = path;
	if (check_path(rel, show, error, errlen) < 0)
		return NULL;
	return rel;
}

/*
 * walk - open each component of rel (modified) from fd, which it takes
 * over: MQ_FOUND with *fd_r, MQ_NOTFOUND, or MQ_TEMPFAIL.
 */
static int
walk(int fd, char *rel, const char *show, int *fd_r, char *error,
    size_t errlen)
{
	char *comp, *next;
	int ncomp = 0;

	for (comp = rel; comp != NULL; comp = next) {
		struct stat st;
		int nfd, e;

		if ((next = strchr(comp, '/')) != NULL)
			*next++ = '\0';
		if (*comp == '\0')
			continue;
		ncomp++;
		if ((nfd = openat(fd, comp, MQ_MAILDIR_DIR_FLAGS)) >= 0) {
			close(fd);
			fd = nfd;
			continue;
		}
		e = errno;
		if (e == ENOENT) {
			close(fd);
			return MQ_NOTFOUND;
		}
		/* Linux says ENOTDIR for O_DIRECTORY on a symlink, others ELOOP. */
		if (e == ELOOP || (e == ENOTDIR &&
		    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)))
			mq_set_error(error, errlen,
			    "symlink in mailbox path \"%s\"", show);
		else
			mq_set_error(error, errlen, "mailbox path \"%s\": %s",
			    show, strerror(e));
		close(fd);
		return MQ_TEMPFAIL;
	}
	if (ncomp == 0) {
		close(fd);
		mq_set_error(error, errlen,
		    "mailbox path \"%s\" is maildir.base itself", show);
		return MQ_TEMPFAIL;
	}
	*fd_r = fd;
	return MQ_FOUND;
}

int
mq_maildir_open(const char *base, const char *path, int *fd_r,
    char *error, size_t errlen)
{
	char show[256], *rel;
	const char *r;
	int fd, result;

	*fd_r = -1;
	if (base == NULL || base[0] == '\0') {
		mq_set_error(error, errlen, "maildir.base is not set");
		return MQ_TEMPFAIL;
	}
	mq_shown(show, sizeof(show), path);
	if ((r = relative_path(base, path, show, error, errlen)) == NULL)
		return MQ_TEMPFAIL;
	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		char sb[256];

		mq_set_error(error, errlen, "maildir.base \"%s\": %s",
		    mq_shown(sb, sizeof(sb), base), strerror(errno));
		return MQ_TEMPFAIL;
	}
	rel = xstrdup(r);
	result = walk(fd, rel, show, fd_r, error, errlen);
	free(rel);
	return result;
}
