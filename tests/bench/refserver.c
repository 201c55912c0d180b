/* SPDX-License-Identifier: MIT */
/*
 * mq-refserver - the loopback limit for policy benchmarks.
 *
 * A policy server that does nothing but the protocol's framing: it answers
 * "action=DUNNO\n\n" (or -a TEXT) to every request, a request being
 * whatever comes before an empty line. No parsing, no lookups, no
 * allocation per request, one thread on level-triggered epoll, one read and
 * one write per request. Whatever throughput it reaches under a load
 * generator is what the kernel's loopback, the scheduler and the generator
 * allow; a real policy server is measured against it.
 *
 * Per connection it keeps two facts: whether the last byte seen ended a
 * line (so an empty line split across reads is still found) and how many
 * reply bytes are owed when the socket would not take them all.
 */
#include "autoconf.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "listen.h"
#include "util.h"

#define EVENTS_MAX 256
#define READ_MAX 65536
#define REPLY_MAX 600

struct client {
	bool mid_line;		/* the last byte read was not a newline */
	bool want_out;
	size_t owed;		/* reply bytes still to write */
	size_t phase;		/* offset into the reply of the next byte owed */
};

static struct client *clients;	/* indexed by descriptor */
static size_t nclients;
static int epfd, listen_fd;
static bool listen_unix;
static char reply[REPLY_MAX + 16];
static size_t reply_len;
/* The reply repeated, so several owed replies go out in one write. */
static char replies[64 * sizeof(reply)];
static size_t replies_len;

static void MQ_NORETURN MQ_PRINTF(1, 2)
die(const char *fmt, ...)
{
	va_list ap;

	fputs("mq-refserver: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* open_listener - bind inet:HOST:PORT, inet:[V6]:PORT or unix:/PATH. */
static int
open_listener(const char *spec)
{
	struct mq_listen l;
	const char *why;
	int fd, one = 1;

	if ((why = mq_listen_parse(spec, &l)) != NULL)
		die("%s: %s", spec, why);
	if (l.kind == MQ_LISTEN_UNIX) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		mq_strlcpy(sun.sun_path, l.path, sizeof(sun.sun_path));
		(void)unlink(sun.sun_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			die("%s: %s", spec, strerror(errno));
		(void)chmod(sun.sun_path, l.mode);
		listen_unix = true;
	} else {
		struct addrinfo hints, *ai;
		int r;

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
		if ((r = getaddrinfo(strcmp(l.host, "*") == 0 ? NULL : l.host,
		    l.port, &hints, &ai)) != 0)
			die("%s: %s", spec, gai_strerror(r));
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			die("socket: %s", strerror(errno));
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			die("%s: %s", spec, strerror(errno));
		freeaddrinfo(ai);
	}
	mq_listen_clear(&l);
	if (listen(fd, 4096) == -1)
		die("listen: %s", strerror(errno));
	return fd;
}

static void
watch(int fd, uint32_t events, int op)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(epfd, op, fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
}

static void
drop(int fd)
{
	close(fd);		/* also leaves the epoll set */
}

static void
accept_all(void)
{
	int fd, one = 1;

	for (;;) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "mq-refserver: accept: %s\n", strerror(errno));
			return;
		}
		if ((size_t)fd >= nclients) {
			fprintf(stderr, "mq-refserver: descriptor %d over the limit\n", fd);
			close(fd);
			continue;
		}
		if (!listen_unix)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(&clients[fd], 0, sizeof(clients[fd]));
		watch(fd, EPOLLIN, EPOLL_CTL_ADD);
	}
}

/* flush - write the replies owed; false when the connection is gone. */
static bool
flush(int fd, struct client *c)
{
	while (c->owed > 0) {
		size_t n = replies_len - c->phase;
		ssize_t w;

		if (n > c->owed)
			n = c->owed;
		w = write(fd, replies + c->phase, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->want_out)
					watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
				c->want_out = true;
				return true;
			}
			return false;
		}
		c->owed -= (size_t)w;
		c->phase = (c->phase + (size_t)w) % replies_len;
	}
	if (c->want_out)
		watch(fd, EPOLLIN, EPOLL_CTL_MOD);
	c->want_out = false;
	return true;
}

/* serve - read what is there, count the empty lines, answer each. */
static void
serve(int fd)
{
	static char buf[READ_MAX];
	struct client *c = &clients[fd];
	const char *p, *end, *nl;
	size_t count = 0;
	ssize_t n;
	bool mid = c->mid_line;

	n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		drop(fd);
		return;
	}
	for (p = buf, end = buf + n; p < end;) {
		if (!mid && *p == '\n') {
			count++;	/* an empty line: one request complete */
			p++;
			continue;
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			mid = true;
			break;
		}
		p = nl + 1;
		mid = false;
	}
	c->mid_line = mid;
	if (count == 0)
		return;
	c->owed += count * reply_len;
	if (!c->want_out && !flush(fd, c))
		drop(fd);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur > 1048576)
		rl.rlim_cur = 1048576;
	nclients = (size_t)rl.rlim_cur;
}

static void MQ_NORETURN
usage(void)
{
	fprintf(stderr, "usage: mq-refserver [-a action] inet:HOST:PORT | unix:/PATH\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[EVENTS_MAX];
	const char *action = "DUNNO";
	int ch, n, i, r;

	while ((ch = getopt(argc, argv, "a:")) != -1) {
		switch (ch) {
		case 'a':
			action = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (strchr(action, '\n') != NULL)
		die("the action may not contain a newline");
	r = snprintf(reply, sizeof(reply), "action=%s\n\n", action);
	if (r < 0 || (size_t)r >= sizeof(reply) || r > REPLY_MAX)
		die("action too long");
	reply_len = (size_t)r;
	for (replies_len = 0; replies_len + reply_len <= sizeof(replies);
	    replies_len += reply_len)
		memcpy(replies + replies_len, reply, reply_len);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	clients = xcalloc(nclients, sizeof(*clients));
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	listen_fd = open_listener(argv[optind]);
	watch(listen_fd, EPOLLIN, EPOLL_CTL_ADD);
	fprintf(stderr, "mq-refserver: pid %ld listening on %s\n", (long)getpid(),
	    argv[optind]);

	for (;;) {
		n = epoll_wait(epfd, evs, EVENTS_MAX, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == listen_fd) {
				accept_all();
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (!flush(fd, &clients[fd])) {
					drop(fd);
					continue;
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				serve(fd);
		}
	}
}
