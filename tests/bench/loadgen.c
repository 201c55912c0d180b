/* SPDX-License-Identifier: MIT */
/*
 * mq-loadgen - a Postfix policy client that behaves like smtpd, for
 * benchmarks.
 *
 * It keeps N persistent connections to a policy server (inet:HOST:PORT or
 * unix:/PATH). On each connection it sends one complete request at a time,
 * with the attributes Postfix's smtpd sends at RCPT, and waits for the
 * reply before sending the next, the way smtpd does. One thread drives every
 * connection through level-triggered epoll, so the generator costs one
 * write and one read per request and leaves as much of a small machine as
 * it can to the server being measured.
 *
 * It reports throughput, latency percentiles (from a log-linear histogram
 * with under 1 % error, so memory does not grow with the request count) and
 * the count of each action text, first for a person, then as one
 * "RESULT key=value ..." line plus one "ACTION count=N text=..." line per
 * distinct action, for scripts. Any connection error, an early close, a
 * timeout or a reply that is not exactly "action=TEXT\n\n" ends the run with
 * exit status 1.
 */
#include "autoconf.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "util.h"

#define REQ_MAX 4096		/* one request, recipient included */
#define RCPT_MAX 320		/* longest recipient address accepted */
#define REPLY_MAX 1024		/* "action=" + a reply of at most 500 bytes */
#define ACTIONS_MAX 32		/* distinct action texts counted one by one */
#define EVENTS_MAX 512

/*
 * Latency histogram, in nanoseconds: values below 2^HIST_BITS have a bucket
 * each, above that every power of two is split into 2^(HIST_BITS-1)
 * buckets, so a bucket is at most 1/64 of its value wide.
 */
#define HIST_BITS 7
#define HIST_SUB (1u << HIST_BITS)
#define HIST_HALF (HIST_SUB / 2)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_BITS) * HIST_HALF)

enum conn_state {
	C_SENDING,		/* part of the request is still to be written */
	C_WAITING,		/* request written, reply expected */
	C_IDLE,			/* -I connection that has had its one reply */
	C_DONE,			/* no more requests to send on it */
};

struct conn {
	int fd;
	enum conn_state state;
	bool idle_only;		/* one request, then stays open and silent */
	bool want_out;		/* EPOLLOUT registered */
	uint64_t sent_ns;	/* when the current request was started */
	uint64_t nreq;		/* requests on this socket, for -R */
	size_t out_len, out_off;
	size_t in_len;
	char out[REQ_MAX];
	char in[REPLY_MAX];
};

struct action {
	char text[REPLY_MAX];
	size_t len;
	uint64_t count;
};

struct recipient {
	const char *s;
	size_t len;
};

/* Options. */
static const char *target;
static unsigned nconns = 10;
static unsigned nidle;		/* -I */
static uint64_t nrequests;	/* -n, measured requests */
static double duration;		/* -d seconds */
static uint64_t nwarmup;	/* -w */
static uint64_t per_conn;	/* -R, 0 = never reconnect */
static uint64_t msg_size = 1024;	/* -s */
static double hold;		/* -H seconds */
static double timeout = 30;	/* -t seconds without any reply */
static const char *stage = "RCPT";	/* -e: END-OF-MESSAGE */

/* The target's address, resolved once. */
static struct sockaddr_storage peer;
static socklen_t peer_len;

/* The request in three fixed parts around the queue id and the recipient. */
static char req_head[256], req_mid[256], req_tail[2048];
static size_t req_head_len, req_mid_len, req_tail_len;

static struct recipient *rcpts;
static size_t nrcpts, next_rcpt;

/* Run state. */
static int epfd;
static uint64_t issued, completed, budget = UINT64_MAX;
static uint64_t measured, warm_done, reconnects, idle_pending;
static uint64_t start_ns, last_ns, deadline_ns, progress_ns;
static bool measuring, stop_issuing;
static unsigned active_left;
static uint64_t hist[HIST_BUCKETS];
static uint64_t lat_max, lat_sum;
static struct action actions[ACTIONS_MAX];
static size_t nactions;
static uint64_t other_actions;	/* beyond ACTIONS_MAX distinct texts */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* fail - report a run-ending error and exit 1. */
static void MQ_NORETURN MQ_PRINTF(1, 2)
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("mq-loadgen: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("RESULT error=1 completed=%llu\n", (unsigned long long)completed);
	exit(1);
}

static unsigned
hist_index(uint64_t v)
{
	unsigned shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_BITS + 1;
	return HIST_SUB + (shift - 1) * HIST_HALF +
	    (unsigned)((v >> shift) - HIST_HALF);
}

/* hist_value - the middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < HIST_SUB)
		return i;
	shift = (i - HIST_SUB) / HIST_HALF + 1;
	m = (i - HIST_SUB) % HIST_HALF + HIST_HALF;
	return (m << shift) + ((UINT64_C(1) << shift) >> 1);
}

/* hist_percentile - latency in ns at or below which fraction p of requests fall. */
static uint64_t
hist_percentile(double p)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (measured == 0)
		return 0;
	rank = (uint64_t)(p * (double)measured + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return v > lat_max ? lat_max : v;
		}
	}
	return lat_max;
}

static void
count_action(const char *text, size_t len)
{
	static size_t last;
	size_t i;

	if (last < nactions && actions[last].len == len &&
	    memcmp(actions[last].text, text, len) == 0) {
		actions[last].count++;
		return;
	}
	for (i = 0; i < nactions; i++) {
		if (actions[i].len == len && memcmp(actions[i].text, text, len) == 0) {
			actions[i].count++;
			last = i;
			return;
		}
	}
	if (nactions == ACTIONS_MAX) {
		other_actions++;
		return;
	}
	memcpy(actions[nactions].text, text, len);
	actions[nactions].len = len;
	actions[nactions].count = 1;
	last = nactions++;
}

/* parse_target - inet:HOST:PORT, inet:[V6]:PORT or unix:/PATH into peer. */
static void
parse_target(const char *spec)
{
	struct mq_listen l;
	const char *why;

	if ((why = mq_listen_parse(spec, &l)) != NULL)
		fail("%s: %s", spec, why);
	if (l.kind == MQ_LISTEN_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&peer;

		sun->sun_family = AF_UNIX;
		mq_strlcpy(sun->sun_path, l.path, sizeof(sun->sun_path));
		peer_len = sizeof(*sun);
	} else {
		struct addrinfo hints, *ai;
		int r;

		if (strcmp(l.host, "*") == 0)
			fail("%s: a target needs an address, not *", spec);
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if ((r = getaddrinfo(l.host, l.port, &hints, &ai)) != 0)
			fail("%s: %s", spec, gai_strerror(r));
		memcpy(&peer, ai->ai_addr, ai->ai_addrlen);
		peer_len = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	mq_listen_clear(&l);
}

/*
 * open_socket - a connected, non-blocking socket registered for input.
 * The connect itself blocks: on loopback it completes in the kernel without
 * the server's help, and it keeps the state machine to request and reply.
 */
static void
open_socket(struct conn *c)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fail("socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&peer, peer_len) == -1) {
		if (errno == EINTR)
			continue;
		fail("connect %s: %s", target, strerror(errno));
	}
	if (peer.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fail("fcntl: %s", strerror(errno));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fail("epoll_ctl: %s", strerror(errno));
	c->fd = fd;
	c->nreq = 0;
	c->in_len = 0;
	c->want_out = false;
}

static void
set_want_out(struct conn *c, bool on)
{
	struct epoll_event ev;

	if (c->want_out == on)
		return;
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		fail("epoll_ctl: %s", strerror(errno));
	c->want_out = on;
}

/* flush_out - write what is left of the request, or wait for EPOLLOUT. */
static void
flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_want_out(c, true);
				return;
			}
			fail("write to %s: %s", target, strerror(errno));
		}
		c->out_off += (size_t)n;
	}
	set_want_out(c, false);
	c->state = C_WAITING;
}

/* build_request - the next request into c->out: head, queue id, mid, recipient, tail. */
static void
build_request(struct conn *c)
{
	static const char hex[] = "0123456789ABCDEF";
	const struct recipient *r = &rcpts[next_rcpt];
	uint64_t qid = issued * UINT64_C(0x9E3779B97F4A7C15);
	char *p = c->out;
	int i;

	if (++next_rcpt == nrcpts)
		next_rcpt = 0;
	memcpy(p, req_head, req_head_len);
	p += req_head_len;
	for (i = 0; i < 10; i++, qid >>= 4)
		*p++ = hex[qid & 15];
	memcpy(p, req_mid, req_mid_len);
	p += req_mid_len;
	memcpy(p, r->s, r->len);
	p += r->len;
	memcpy(p, req_tail, req_tail_len);
	p += req_tail_len;
	c->out_len = (size_t)(p - c->out);
	c->out_off = 0;
}

static void
send_request(struct conn *c)
{
	build_request(c);
	issued++;
	c->nreq++;
	c->state = C_SENDING;
	c->sent_ns = now_ns();
	flush_out(c);
}

/* next_on - after a reply on an active connection: the next request, a reconnect, or done. */
static void
next_on(struct conn *c)
{
	if (stop_issuing || issued >= budget) {
		c->state = C_DONE;
		active_left--;
		return;
	}
	if (per_conn != 0 && c->nreq >= per_conn) {
		close(c->fd);
		open_socket(c);
		reconnects++;
	}
	send_request(c);
}

/* got_reply - account for one well-formed reply whose text is a[0..len). */
static void
got_reply(struct conn *c, const char *a, size_t len, uint64_t t)
{
	uint64_t lat;

	completed++;
	progress_ns = t;
	if (c->idle_only) {
		c->state = C_IDLE;
		idle_pending--;
		return;
	}
	if (!measuring) {
		if (++warm_done >= nwarmup) {
			measuring = true;
			start_ns = t;
			if (duration > 0)
				deadline_ns = t + (uint64_t)(duration * 1e9);
		}
	} else {
		lat = t - c->sent_ns;
		hist[hist_index(lat)]++;
		lat_sum += lat;
		if (lat > lat_max)
			lat_max = lat;
		measured++;
		last_ns = t;
		count_action(a, len);
		if (deadline_ns != 0 && t >= deadline_ns)
			stop_issuing = true;
	}
	next_on(c);
}

static void
on_readable(struct conn *c)
{
	size_t scan_from, i;
	ssize_t n;
	char *nl, shown[100];

	scan_from = c->in_len > 0 ? c->in_len - 1 : 0;
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		fail("read from %s: %s", target, strerror(errno));
	}
	if (n == 0)
		fail("%s closed a connection %s", target,
		    c->state == C_WAITING || c->state == C_SENDING ?
		    "before replying" : "while it was idle");
	if (c->state != C_WAITING)
		fail("%s sent %zd bytes nobody asked for", target, n);
	c->in_len += (size_t)n;

	/* The reply ends at the first empty line. */
	for (i = scan_from; i + 1 < c->in_len; i++)
		if (c->in[i] == '\n' && c->in[i + 1] == '\n')
			break;
	if (i + 1 >= c->in_len) {
		if (c->in_len == sizeof(c->in))
			fail("reply longer than %zu bytes", sizeof(c->in));
		return;
	}
	if (i + 2 != c->in_len)
		fail("data after the reply's empty line");
	if (c->in_len < 8 || memcmp(c->in, "action=", 7) != 0) {
		mq_sanitize(shown, sizeof(shown), c->in, c->in_len);
		fail("malformed reply (no action=): \"%s\"", shown);
	}
	nl = memchr(c->in, '\n', c->in_len);
	if (nl != c->in + i) {
		mq_sanitize(shown, sizeof(shown), c->in, c->in_len);
		fail("malformed reply (more than one line): \"%s\"", shown);
	}
	c->in_len = 0;
	got_reply(c, c->in + 7, i - 7, now_ns());
}

static void
on_event(struct conn *c, uint32_t events)
{
	if (events & EPOLLIN)
		on_readable(c);
	else if (events & (EPOLLERR | EPOLLHUP)) {
		int err = 0;
		socklen_t len = sizeof(err);

		(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		fail("connection to %s failed: %s", target,
		    err != 0 ? strerror(err) : "hang-up");
	}
	if ((events & EPOLLOUT) && c->state == C_SENDING)
		flush_out(c);
}

/* load_recipients - one address per line; blank lines and # comments skipped. */
static void
load_recipients(const char *path)
{
	FILE *fp;
	char *data = NULL, *p, *end;
	size_t cap = 0, len = 0, n, alloc = 0;

	if ((fp = fopen(path, "r")) == NULL)
		fail("%s: %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			data = xreallocarray(data, cap, 1);
		}
		n = fread(data + len, 1, cap - len - 1, fp);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(fp))
		fail("%s: read error", path);
	fclose(fp);
	data[len] = '\0';
	for (p = data, end = data + len; p < end;) {
		char *e = memchr(p, '\n', (size_t)(end - p));
		size_t l;

		if (e == NULL)
			e = end;
		*e = '\0';
		l = (size_t)(e - p);
		if (l > 0 && p[l - 1] == '\r')
			p[--l] = '\0';
		if (l > 0 && p[0] != '#') {
			if (l > RCPT_MAX)
				fail("%s: address longer than %d bytes", path, RCPT_MAX);
			if (nrcpts == alloc) {
				alloc = alloc ? alloc * 2 : 1024;
				rcpts = xreallocarray(rcpts, alloc, sizeof(*rcpts));
			}
			rcpts[nrcpts].s = p;
			rcpts[nrcpts].len = l;
			nrcpts++;
		}
		p = e + 1;
	}
	if (nrcpts == 0)
		fail("%s: no recipients", path);
}

/*
 * build_template - the request as Postfix 3.7's smtpd sends it at RCPT
 * (every attribute, empty ones included, in smtpd_check.c's order), plus
 * the two that 3.8 added. An inbound TLS connection without a client
 * certificate or SASL, the common case at an MX.
 */
static void
build_template(void)
{
	int r;

	r = snprintf(req_head, sizeof(req_head),
	    "request=smtpd_access_policy\n"
	    "protocol_state=%s\n"
	    "protocol_name=ESMTP\n"
	    "helo_name=mail.sender.example\n"
	    "queue_id=", stage);
	if (r < 0 || (size_t)r >= sizeof(req_head))
		fail("request head too long");
	req_head_len = (size_t)r;
	r = snprintf(req_mid, sizeof(req_mid),
	    "\n"
	    "sender=newsletter@sender.example\n"
	    "recipient=");
	if (r < 0 || (size_t)r >= sizeof(req_mid))
		fail("request middle too long");
	req_mid_len = (size_t)r;
	r = snprintf(req_tail, sizeof(req_tail),
	    "\n"
	    "recipient_count=%s\n"
	    "client_address=192.0.2.25\n"
	    "client_name=mail.sender.example\n"
	    "reverse_client_name=mail.sender.example\n"
	    "instance=4f1a.6571e2c3.b0d2c.0\n"
	    "sasl_method=\n"
	    "sasl_username=\n"
	    "sasl_sender=\n"
	    "size=%llu\n"
	    "ccert_subject=\n"
	    "ccert_issuer=\n"
	    "ccert_fingerprint=\n"
	    "ccert_pubkey_fingerprint=\n"
	    "encryption_protocol=TLSv1.3\n"
	    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
	    "encryption_keysize=256\n"
	    "etrn_domain=\n"
	    "stress=\n"
	    "client_port=48712\n"
	    "policy_context=\n"
	    "server_address=198.51.100.10\n"
	    "server_port=25\n"
	    "compatibility_level=3.6\n"
	    "mail_version=3.7.11\n"
	    "\n",
	    strcmp(stage, "RCPT") == 0 ? "0" : "1",
	    (unsigned long long)msg_size);
	if (r < 0 || (size_t)r >= sizeof(req_tail))
		fail("request tail too long");
	req_tail_len = (size_t)r;
	if (req_head_len + 10 + req_mid_len + RCPT_MAX + req_tail_len > REQ_MAX)
		fail("request template too long");
}

/* raise_nofile - as many descriptors as the hard limit allows. */
static void
raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		fail("need %u file descriptors, the limit is %llu", need,
		    (unsigned long long)rl.rlim_cur);
}

static double
parse_seconds(const char *s, const char *opt)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1e6) {
		fprintf(stderr, "mq-loadgen: %s wants seconds, not \"%s\"\n", opt, s);
		exit(EX_USAGE);
	}
	return v;
}

static uint64_t
parse_count(const char *s, const char *opt)
{
	uint64_t v;

	if (mq_parse_u64(s, &v) == -1) {
		fprintf(stderr, "mq-loadgen: %s wants a number, not \"%s\"\n", opt, s);
		exit(EX_USAGE);
	}
	return v;
}

static void MQ_NORETURN
usage(void)
{
	fprintf(stderr,
	    "usage: mq-loadgen [-c conns] [-n requests | -d seconds] [-w warmup]\n"
	    "                  [-r recipient-file] [-s size] [-R per-conn] [-e]\n"
	    "                  [-I idle-conns] [-H hold-seconds] [-t timeout]\n"
	    "                  inet:HOST:PORT | unix:/PATH\n"
	    "  -c  connections sending requests (default 10)\n"
	    "  -n  measured requests, after the warm-up\n"
	    "  -d  measure for this many seconds (default 10 when -n is not given)\n"
	    "  -w  warm-up requests, not measured (default 0)\n"
	    "  -r  recipients, one per line, used in turn (default user@example.org)\n"
	    "  -s  the size attribute (default 1024)\n"
	    "  -R  requests per connection before reconnecting (default 0: never)\n"
	    "  -e  send protocol_state=END-OF-MESSAGE instead of RCPT\n"
	    "  -I  extra connections that send one request and then stay idle\n"
	    "  -H  keep every connection open this long after the run\n"
	    "  -t  give up when no reply comes for this long (default 30)\n");
	exit(EX_USAGE);
}

static void
report(void)
{
	double secs = (double)(last_ns - start_ns) / 1e9;
	double rps = secs > 0 ? (double)measured / secs : 0;
	double mean = measured ? (double)lat_sum / (double)measured / 1e3 : 0;
	double p50 = hist_percentile(0.50) / 1e3, p90 = hist_percentile(0.90) / 1e3;
	double p99 = hist_percentile(0.99) / 1e3, p999 = hist_percentile(0.999) / 1e3;
	double max = lat_max / 1e3;
	double own_cpu = 0;
	struct rusage ru;
	size_t i;

	/* The generator's own CPU per request: what it leaves to the server. */
	if (getrusage(RUSAGE_SELF, &ru) == 0 && completed > 0)
		own_cpu = ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e6 +
		    (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec;
	own_cpu = completed > 0 ? own_cpu / (double)completed : 0;

	printf("target       %s\n", target);
	printf("connections  %u active, %u idle\n", nconns, nidle);
	printf("requests     %llu measured, %llu warm-up, %llu reconnects\n",
	    (unsigned long long)measured, (unsigned long long)warm_done,
	    (unsigned long long)reconnects);
	printf("elapsed      %.3f s (%llu requests in all)\n", secs,
	    (unsigned long long)completed);
	printf("throughput   %.0f requests/s\n", rps);
	printf("latency us   mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
	    mean, p50, p90, p99, p999, max);
	printf("own cpu      %.1f us/request\n", own_cpu);
	for (i = 0; i < nactions; i++)
		printf("action       %10llu  %.*s\n", (unsigned long long)actions[i].count,
		    (int)actions[i].len, actions[i].text);
	if (other_actions)
		printf("action       %10llu  (other texts)\n", (unsigned long long)other_actions);
	printf("RESULT target=%s conns=%u idle=%u requests=%llu seconds=%.3f rps=%.0f "
	    "mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
	    "reconnects=%llu total=%llu loadgen_cpu_us=%.2f error=0\n",
	    target, nconns, nidle, (unsigned long long)measured, secs, rps, mean,
	    p50, p90, p99, p999, max, (unsigned long long)reconnects,
	    (unsigned long long)completed, own_cpu);
	for (i = 0; i < nactions; i++)
		printf("ACTION count=%llu text=%.*s\n", (unsigned long long)actions[i].count,
		    (int)actions[i].len, actions[i].text);
	fflush(stdout);
}

/* hold_open - keep every connection open for -H seconds; any input is an error. */
static void
hold_open(void)
{
	struct epoll_event evs[EVENTS_MAX];
	uint64_t until = now_ns() + (uint64_t)(hold * 1e9), t;
	int n, i;

	printf("HOLD seconds=%.1f\n", hold);
	fflush(stdout);
	while ((t = now_ns()) < until) {
		n = epoll_wait(epfd, evs, EVENTS_MAX, (int)((until - t) / 1000000) + 1);
		if (n == -1 && errno != EINTR)
			fail("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[EVENTS_MAX];
	struct conn *conns;
	static struct recipient one = { "user@example.org", 16 };
	const char *rcpt_file = NULL;
	unsigned i, total;
	int ch, n;

	while ((ch = getopt(argc, argv, "c:d:eH:I:n:R:r:s:t:w:")) != -1) {
		switch (ch) {
		case 'c':
			nconns = (unsigned)parse_count(optarg, "-c");
			break;
		case 'd':
			duration = parse_seconds(optarg, "-d");
			break;
		case 'e':
			stage = "END-OF-MESSAGE";
			break;
		case 'H':
			hold = parse_seconds(optarg, "-H");
			break;
		case 'I':
			nidle = (unsigned)parse_count(optarg, "-I");
			break;
		case 'n':
			nrequests = parse_count(optarg, "-n");
			break;
		case 'R':
			per_conn = parse_count(optarg, "-R");
			break;
		case 'r':
			rcpt_file = optarg;
			break;
		case 's':
			msg_size = parse_count(optarg, "-s");
			break;
		case 't':
			timeout = parse_seconds(optarg, "-t");
			break;
		case 'w':
			nwarmup = parse_count(optarg, "-w");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || nconns == 0 || nconns > 100000 || nidle > 100000 ||
	    (nrequests != 0 && duration > 0) || timeout <= 0)
		usage();
	target = argv[optind];
	if (nrequests == 0 && duration == 0)
		duration = 10;
	if (nrequests != 0)
		budget = nwarmup + nrequests;

	signal(SIGPIPE, SIG_IGN);
	parse_target(target);
	if (rcpt_file != NULL)
		load_recipients(rcpt_file);
	else {
		rcpts = &one;
		nrcpts = 1;
	}
	build_template();
	raise_nofile(nconns + nidle + 16);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fail("epoll_create1: %s", strerror(errno));

	total = nconns + nidle;
	conns = xcalloc(total, sizeof(*conns));
	for (i = 0; i < total; i++) {
		conns[i].idle_only = i >= nconns;
		open_socket(&conns[i]);
	}
	start_ns = last_ns = progress_ns = now_ns();
	measuring = nwarmup == 0;
	if (measuring && duration > 0)
		deadline_ns = start_ns + (uint64_t)(duration * 1e9);

	/* Idle connections go first, so they are all open while the load runs. */
	for (i = nconns; i < total; i++) {
		send_request(&conns[i]);
		idle_pending++;
	}
	active_left = nconns;
	for (i = 0; i < nconns; i++) {
		if (issued - nidle >= budget) {
			conns[i].state = C_DONE;
			active_left--;
		} else
			send_request(&conns[i]);
	}
	/* Idle requests do not count against -n. */
	budget = budget == UINT64_MAX ? budget : budget + nidle;

	while (active_left > 0 || idle_pending > 0) {
		n = epoll_wait(epfd, evs, EVENTS_MAX, 100);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fail("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < (unsigned)n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		if (n == 0) {
			uint64_t t = now_ns();

			if (t - progress_ns > (uint64_t)(timeout * 1e9))
				fail("no reply from %s for %.0f s (%u connections still waiting)",
				    target, timeout, active_left + (unsigned)idle_pending);
			if (deadline_ns != 0 && t >= deadline_ns)
				stop_issuing = true;
		}
	}
	report();
	if (hold > 0)
		hold_open();
	for (i = 0; i < total; i++)
		close(conns[i].fd);
	free(conns);
	return 0;
}
