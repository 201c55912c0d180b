/* SPDX-License-Identifier: MIT */
/*
 * bind - listening sockets for policy.listen entries. See bind.h.
 *
 * Runs once at start-up, single-threaded, as root if the daemon starts so:
 * inet addresses, and unix sockets with a lock file beside each so two
 * daemons cannot both take a path for stale and remove each other's.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "bind.h"

void
mq_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(buf, size, "unix");
		break;
	default:
		snprintf(buf, size, "unknown");
		break;
	}
}

/* bind_inet - one socket per address of HOST:PORT ("*" = every address). */
static int
bind_inet(const struct mq_listen *l, int **fds_r, size_t *nfds_r,
    char *error, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	const char *node = NULL;
	int *fds = NULL, rc, saved = 0, hard = 0;
	size_t nfds = 0, n = 0;
	char addr[128] = "";

	/* mq_listen_parse has taken the brackets off an IPv6 address. */
	if (l->host != NULL && l->host[0] != '\0' && strcmp(l->host, "*") != 0)
		node = l->host;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(node, l->port, &hints, &res)) != 0) {
		snprintf(error, errlen, "%s: %s", l->spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	fds = xcalloc(n, sizeof(*fds));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int s, on = 1;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		mq_sockaddr_text(ai->ai_addr, addr, sizeof(addr));
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (s < 0) {
			saved = errno;
			if (saved != EAFNOSUPPORT)
				hard = 1;
			continue;
		}
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6 &&
		    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
			saved = errno;
			hard = 1;
			close(s);
			continue;
		}
		if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(s, SOMAXCONN) < 0) {
			saved = errno;
			/* An address family the host lacks is not fatal when another binds. */
			if (saved != EADDRNOTAVAIL && saved != EAFNOSUPPORT)
				hard = 1;
			close(s);
			if (hard)
				break;
			continue;
		}
		fds[nfds++] = s;
	}
	freeaddrinfo(res);
	if (hard || nfds == 0) {
		while (nfds > 0)
			close(fds[--nfds]);
		free(fds);
		snprintf(error, errlen, "%s: cannot listen on %s: %s", l->spec,
		    addr[0] != '\0' ? addr : "any address",
		    saved != 0 ? strerror(saved) : "no usable address");
		return -1;
	}
	if (saved != 0)
		mq_notice("%s: some addresses skipped: %s", l->spec,
		    strerror(saved));
	*fds_r = fds;
	*nfds_r = nfds;
	return 0;
}

/*
 * lock_socket_path - flock PATH.lock for the life of the process (the fd
 * is never closed, and not inherited by exec). Whoever holds it owns PATH:
 * two daemons configured with the same socket cannot both decide that it
 * is stale and remove each other's.
 */
static int
lock_socket_path(const struct mq_listen *l, char *error, size_t errlen)
{
	char *lpath = xasprintf("%s.lock", l->path);
	mode_t old_umask = umask(0077);
	int fd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	umask(old_umask);
	if (fd < 0) {
		snprintf(error, errlen, "%s: %s: %s", l->spec, lpath, strerror(errno));
		free(lpath);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(error, errlen, "%s: %s", l->spec, errno == EWOULDBLOCK ?
		    "another mailquota-policyd serves this socket (it holds the .lock file)" :
		    strerror(errno));
		close(fd);
		free(lpath);
		return -1;
	}
	free(lpath);
	return 0;	/* fd kept on purpose: the lock lasts as long as the process */
}

/*
 * remove_stale_socket - with the path's lock held: unlink path if it is a
 * socket nobody listens on (a daemon that stopped after dropping its
 * privileges could not remove it).
 */
static int
remove_stale_socket(const struct mq_listen *l, const struct sockaddr_un *sun,
    char *error, size_t errlen)
{
	struct stat st;
	int s;

	if (lstat(l->path, &st) < 0)
		return errno == ENOENT ? 0 : (snprintf(error, errlen,
		    "%s: %s", l->spec, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(error, errlen, "%s: %s exists and is not a socket",
		    l->spec, l->path);
		return -1;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s >= 0 && connect(s, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		close(s);
		snprintf(error, errlen, "%s: another process is listening on %s",
		    l->spec, l->path);
		return -1;
	}
	if (s >= 0)
		close(s);
	if (unlink(l->path) < 0 && errno != ENOENT) {
		snprintf(error, errlen, "%s: cannot remove the old socket: %s",
		    l->spec, strerror(errno));
		return -1;
	}
	mq_info("%s: removed a stale socket", l->spec);
	return 0;
}

static int
bind_unix(const struct mq_listen *l, int **fds_r, size_t *nfds_r,
    char *error, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old_umask;
	int s, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (l->path == NULL || l->path[0] == '\0' ||
	    strlen(l->path) >= sizeof(sun.sun_path)) {
		snprintf(error, errlen, "%s: socket path empty or too long",
		    l->spec);
		return -1;
	}
	memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
	if (lock_socket_path(l, error, errlen) < 0 ||
	    remove_stale_socket(l, &sun, error, errlen) < 0)
		return -1;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(error, errlen, "%s: socket: %s", l->spec, strerror(errno));
		return -1;
	}
	/*
	 * bind() creates the socket with 0777 less the umask: with the umask
	 * set to the complement of the mode it is born with exactly that mode.
	 * No chmod afterwards, which would follow whatever a writer of the
	 * directory had put at the path meanwhile. Start-up is single-threaded.
	 */
	old_umask = umask(~l->mode & 0777);
	rc = bind(s, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc < 0 || listen(s, SOMAXCONN) < 0) {
		snprintf(error, errlen, "%s: %s", l->spec, strerror(errno));
		close(s);
		return -1;
	}
	*fds_r = xmalloc(sizeof(int));
	(*fds_r)[0] = s;
	*nfds_r = 1;
	return 0;
}

int
mq_listen_bind(const struct mq_listen *l, int **fds_r, size_t *nfds_r,
    char *error, size_t errlen)
{
	*fds_r = NULL;
	*nfds_r = 0;
	if (l->kind == MQ_LISTEN_UNIX)
		return bind_unix(l, fds_r, nfds_r, error, errlen);
	return bind_inet(l, fds_r, nfds_r, error, errlen);
}
