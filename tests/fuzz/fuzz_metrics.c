/* SPDX-License-Identifier: MIT */
/*
 * fuzz_metrics - libFuzzer target for the /metrics HTTP endpoint: the
 * request as a client sends it, through the daemon's own evhttp set-up
 * (mq_metrics_http_new: methods, header and body limits, the connection
 * cap and the deadline) on a loopback socket.
 *
 * Each input is written on a fresh connection, which is then half-closed;
 * the loop runs until the server closes it. Invariants: whatever comes
 * back is one or more HTTP responses ("HTTP/x.y NNN "), a 200 only for a
 * request that named /metrics, and the connection is always closed in the
 * end (no input keeps it open past the write side's close).
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "policyd/metrics.h"

#define MQ_FUZZ_MAX_INPUT 65536
#define MAX_ROUNDS 2000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct mq_metrics_http *http;
static struct sockaddr_in addr;
static struct mq_counters counters;

static void
view(void *arg, struct mq_metrics_view *v)
{
	memset(v, 0, sizeof(*v));
	v->c = &counters;
}

static void
setup(void)
{
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		abort();
	if ((base = event_base_new()) == NULL)
		abort();
	if ((http = mq_metrics_http_new(base, &fd, 1, view, NULL)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[1 << 20];
	size_t sent = 0, got = 0;
	bool wr_closed = false;
	int fd, rounds;

	if (base == NULL)
		setup();
	if (size > MQ_FUZZ_MAX_INPUT)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno != EINPROGRESS)
		abort();
	for (rounds = 0; rounds < MAX_ROUNDS; rounds++) {
		struct pollfd p = { fd, POLLIN | (wr_closed ? 0 : POLLOUT), 0 };
		ssize_t n;

		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) < 0)
			abort();
		if (!wr_closed && (p.revents & POLLOUT)) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			if (n < 0 && errno != EAGAIN)
				wr_closed = true;	/* the server closed first */
			if (sent == size) {
				shutdown(fd, SHUT_WR);
				wr_closed = true;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
			if (n > 0)
				got += (size_t)n;
		}
	}
	if (rounds == MAX_ROUNDS && wr_closed)
		abort();	/* half-closed and still open */
	close(fd);
	event_base_loop(base, EVLOOP_NONBLOCK);
	reply[got] = '\0';
	if (got > 0) {
		/*
		 * evhttp answers in the request's version, whatever it was
		 * ("HTTP/0.0", "HTTP/-1.1"): only the shape is checked.
		 */
		const char *sp = memchr(reply, ' ', got);

		if (got < 13 || memcmp(reply, "HTTP/", 5) != 0 || sp == NULL ||
		    strspn(sp + 1, "0123456789") != 3 || sp[4] != ' ')
			abort();
		if (memcmp(sp + 1, "200", 3) == 0 &&
		    memmem(data, size, "/metrics", 8) == NULL)
			abort();
	}
	return 0;
}
