/* SPDX-License-Identifier: MIT */
/*
 * server - listeners and connections of mailquota-policyd. See server.h.
 *
 * A connection is a pair of fds (one socket, or stdin/stdout for -s) with
 * a persistent read event, a write event used only when a reply did not go
 * out whole, and an idle timer. Its input buffer grows to one line
 * (line_max + 1 bytes) and no further: proto consumes whole lines, so a
 * buffer that is full without a newline is already an error. One request
 * at a time: while a request is at a worker or a reply is unsent, further
 * bytes wait in the buffer (reading pauses when it is full).
 *
 * Hot path (a cache hit): one read, the parse, mq_engine_decide_cached, one
 * write, one log line. A hit on a figure past its TTL is answered the
 * same way and also queues a background re-validation (mq_workers_refresh,
 * an allocation in workers.c). No allocation per request in this file; the
 * only system calls are the read and the write (the log line is queued
 * for the logging thread: log.c). Not a bufferevent: it would enable and
 * disable its write event around every reply (epoll_ctl calls) and copy
 * through evbuffers, while a reply of at most ~510 bytes nearly always
 * leaves in one write(2).
 * The idle timers share one libevent common timeout, so re-arming one
 * after each reply is O(1).
 *
 * A connection that goes away while its request is at a worker is marked
 * dead and kept until the job comes back, then freed with the result
 * dropped: workers never see connections, and the loop never frees memory
 * a job still points to.
 *
 * Diagnostics: a malformed request is one warning naming the client and
 * the reason; the connection is closed without a reply, as the protocol
 * asks. Idle connections close at policy.idle_timeout (debug), stalled
 * requests and unread replies likewise (notice).
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "util.h"
#include "decide.h"
#include "engine.h"
#include "metrics.h"
#include "proto.h"
#include "server.h"
#include "workers.h"

#define CONN_INBUF_START 1024	/* most requests fit; a longer one grows it */
#define ACCEPT_PAUSE_MS 250
#define LOG_LINE_MAX 2048
#define JOB_SPARE_MAX 64	/* finished jobs kept for reuse */
#define CLIENT_BUCKETS 256	/* per-client connection counts (inet) */

/* One client address with connections open on an inet listener. */
struct client {
	struct client *next;
	unsigned char addr[16];		/* IPv4 in the first 4 bytes */
	unsigned char len;
	size_t n;
};

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct mq_server *srv;
	int rfd, wfd;			/* the same socket, or stdin/stdout */
	bool stdio;
	struct event *rev, *wev, *tev;
	char *in;			/* unparsed bytes */
	size_t inlen, incap;
	char out[MQ_REPLY_MAX + 16];	/* the unsent rest of a reply */
	size_t outoff, outlen;		/* outlen > 0: a reply is being written */
	struct mq_policy_request req;
	struct mq_job *job;		/* while busy: the request at a worker */
	uint64_t t0;			/* when the request was complete */
	bool busy;			/* the request is at a worker */
	bool eof;			/* the peer has finished sending */
	bool closing;			/* shutdown: close after the reply */
	bool dead;			/* closed while busy: free when the job returns */
	bool read_paused;
	struct client *client;		/* inet: its address's count */
	char peer[128];
};

struct listener {
	struct mq_server *srv;
	struct evconnlistener *lev;
	char *spec;
	char *unix_path;		/* removed at shutdown (if still allowed) */
};

struct mq_server {
	struct event_base *base;
	struct mq_runtime *rt;		/* answers new requests */
	struct mq_workers *workers;

	/* from rt->cfg */
	struct mq_proto_limits limits;
	size_t in_max;
	const struct timeval *idle_tv;	/* NULL: no idle timeout */
	struct timeval idle_plain;
	int idle_secs;
	int max_conns;			/* <= 0: no limit */
	int max_per_client;		/* inet, per address; <= 0: no limit */
	struct client *clients[CLIENT_BUCKETS];
	time_t client_limit_logged;

	struct listener **listeners;	/* each allocated: libevent keeps the pointer */
	size_t nlisteners;
	bool accepting;			/* listeners enabled */
	bool accept_error_pause;	/* EMFILE & co: wait a moment */
	struct event *accept_timer;
	time_t limit_logged, accept_logged;
	uint64_t tempfail_logged_us;	/* last "tempfail:" line */
	uint64_t tempfail_unlogged;	/* tempfails since, not logged */

	bool stdio;
	bool stopping, forced;
	struct event *stop_timer;

	TAILQ_HEAD(, conn) conns;
	size_t nconns;			/* open (not dead) connections */
	size_t inflight;		/* jobs at workers */
	struct mq_job *spare_jobs;	/* finished jobs kept for reuse */
	size_t nspare_jobs;
	struct mq_counters st;		/* see metrics.h */
	time_t started;
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void update_accept(struct mq_server *srv);

/* ---------------------------------------------------------------- binding */

static int
set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* sockaddr_text - "192.0.2.1:25" or "[2001:db8::1]:25". */
static void
sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
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
		sockaddr_text(ai->ai_addr, addr, sizeof(addr));
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

/* ------------------------------------------------------------ decision log */

struct linebuf {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void
lb_raw(struct linebuf *b, const char *s, size_t n)
{
	size_t room = sizeof(b->buf) - 1 - b->len;

	if (n > room)
		n = room;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void
lb_str(struct linebuf *b, const char *s)
{
	lb_raw(b, s, strlen(s));
}

/*
 * lb_value - untrusted text as a log value: control and non-ASCII bytes
 * become '?', a value with blanks or quotes is double-quoted (with \" and
 * \\ inside), an empty one is "-".
 */
static void
lb_value(struct linebuf *b, const char *s, size_t n)
{
	bool quote = false;
	size_t i;

	if (n == 0) {
		lb_raw(b, "-", 1);
		return;
	}
	for (i = 0; i < n && !quote; i++)
		quote = s[i] == ' ' || s[i] == '"';
	if (quote)
		lb_raw(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (quote && (ch == '"' || ch == '\\'))
			lb_raw(b, "\\", 1);
		if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		lb_raw(b, (const char *)&ch, 1);
	}
	if (quote)
		lb_raw(b, "\"", 1);
}

static void
lb_u64(struct linebuf *b, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	lb_raw(b, num, (size_t)n);
}

#define LOG_ADDR_MAX 256	/* bytes of an address shown in a decision line */

/*
 * lb_address - an address in a decision line: one longer than LOG_ADDR_MAX
 * (Postfix passes up to 2038 bytes) is shown cut, with its length, so that
 * the fields after it still fit in the line.
 */
static void
lb_address(struct linebuf *b, const char *s, size_t n)
{
	char cut[LOG_ADDR_MAX + 32];
	int k;

	if (n <= LOG_ADDR_MAX) {
		lb_value(b, s, n);
		return;
	}
	k = snprintf(cut, sizeof(cut), "%.*s...[len=%zu]", LOG_ADDR_MAX, s, n);
	lb_value(b, cut, k < 0 ? 0 : (size_t)k < sizeof(cut) ? (size_t)k :
	    sizeof(cut) - 1);
}

/*
 * log_decision - the one line per request (format fixed by the docs).
 * action is the reply decided (with dry_run: the one not sent).
 */
static void
log_decision(const struct conn *c, const struct mq_verdict *v,
    const char *action, bool dry_run, uint64_t latency_us)
{
	struct linebuf b;
	const struct mq_policy_request *r = &c->req;
	const struct mq_box_report *box = NULL;
	size_t nb = v->nboxes < MQ_VERDICT_BOXES ? v->nboxes : MQ_VERDICT_BOXES;
	size_t i;
	const char *outcome;
	char ms[48];

	if (!mq_log_enabled(MQ_LOG_INFO))
		return;
	b.len = 0;
	b.buf[0] = '\0';
	lb_str(&b, "queue_id=");
	lb_value(&b, r->queue_id, strlen(r->queue_id));
	lb_str(&b, " client=");
	lb_value(&b, r->client_address, strlen(r->client_address));
	lb_str(&b, " recipient=");
	/* Past MQ_ADDRESS_MAX the request keeps a cut copy and the real length. */
	lb_address(&b, r->recipient, r->recipient_len > MQ_ADDRESS_MAX ?
	    r->recipient_len : strlen(r->recipient));
	lb_str(&b, " via=");
	lb_str(&b, mq_how_name(v->how));
	lb_str(&b, " mailboxes=");
	if (nb == 0)
		lb_str(&b, "-");
	for (i = 0; i < nb; i++) {
		if (i > 0)
			lb_str(&b, ",");
		lb_address(&b, v->boxes[i].address, strlen(v->boxes[i].address));
	}
	if (v->nboxes > nb)
		lb_str(&b, ",...");
	outcome = (unsigned)v->outcome < MQ_OUT_COUNT ?
	    mq_outcome_name(v->outcome) : NULL;
	lb_str(&b, " outcome=");
	lb_str(&b, outcome != NULL ? outcome : "-");
	if (v->decisive < nb)
		box = &v->boxes[v->decisive];
	else if (nb == 1)
		box = &v->boxes[0];
	lb_str(&b, " used=");
	if (box != NULL)
		lb_u64(&b, box->state.used_bytes);
	else
		lb_str(&b, "-");
	lb_str(&b, " limit=");
	if (box != NULL)
		lb_u64(&b, box->state.limit_bytes);
	else
		lb_str(&b, "-");
	lb_str(&b, v->cached ? " cache=hit" : v->stale ? " cache=stale" :
	    " cache=miss");
	snprintf(ms, sizeof(ms), " latency_ms=%llu.%03llu",
	    (unsigned long long)(latency_us / 1000),
	    (unsigned long long)(latency_us % 1000));
	lb_str(&b, ms);
	lb_str(&b, " action=");
	lb_value(&b, action, strlen(action));
	if (dry_run)
		lb_str(&b, " dry_run=yes");
	mq_info("%s", b.buf);
}

/* ------------------------------------------------------------ connections */

static void
conn_arm_timer(struct conn *c)
{
	if (c->srv->idle_tv != NULL)
		event_add(c->tev, c->srv->idle_tv);
}

/*
 * job_get, job_put - a job for a request that goes to a worker. A job
 * holds a whole verdict (some 7 KiB), so idle connections keep none:
 * finished jobs wait in a small pool instead.
 */
static struct mq_job *
job_get(struct mq_server *srv)
{
	struct mq_job *job = srv->spare_jobs;

	if (job == NULL)
		return xmalloc(sizeof(*job));
	srv->spare_jobs = job->next;
	srv->nspare_jobs--;
	return job;
}

static void
job_put(struct mq_server *srv, struct mq_job *job)
{
	if (srv->nspare_jobs >= JOB_SPARE_MAX) {
		free(job);
		return;
	}
	job->next = srv->spare_jobs;
	srv->spare_jobs = job;
	srv->nspare_jobs++;
}

/* conn_free - the memory of a connection whose fds are closed. */
static void
conn_free(struct conn *c)
{
	free(c->in);
	free(c);
}

/* client_bucket - where an address's count lives. */
static struct client **
client_bucket(struct mq_server *srv, const unsigned char *addr, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	struct client **pc;

	for (size_t i = 0; i < len; i++)
		h = (h ^ addr[i]) * 16777619u;
	for (pc = &srv->clients[h % CLIENT_BUCKETS]; *pc != NULL; pc = &(*pc)->next)
		if ((*pc)->len == len && memcmp((*pc)->addr, addr, len) == 0)
			break;
	return pc;
}

/*
 * client_take - count one more connection from sa's address; NULL (and
 * nothing counted) when it already has policy.max_connections_per_client.
 * Only inet addresses are counted: *client_r stays NULL for the others.
 */
static bool
client_take(struct mq_server *srv, const struct sockaddr *sa,
    struct client **client_r)
{
	const unsigned char *addr;
	struct client **pc;
	size_t len;

	*client_r = NULL;
	if (sa->sa_family == AF_INET) {
		addr = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		len = 4;
	} else if (sa->sa_family == AF_INET6) {
		addr = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		len = 16;
	} else
		return true;
	pc = client_bucket(srv, addr, len);
	if (*pc == NULL) {
		*pc = xcalloc(1, sizeof(**pc));
		memcpy((*pc)->addr, addr, len);
		(*pc)->len = (unsigned char)len;
	} else if (srv->max_per_client > 0 && (*pc)->n >= (size_t)srv->max_per_client)
		return false;
	(*pc)->n++;
	*client_r = *pc;
	return true;
}

static void
client_release(struct mq_server *srv, struct client *cl)
{
	struct client **pc;

	if (cl == NULL || --cl->n > 0)
		return;
	pc = client_bucket(srv, cl->addr, cl->len);
	*pc = cl->next;
	free(cl);
}

static void
conn_close(struct conn *c)
{
	struct mq_server *srv = c->srv;

	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
	client_release(srv, c->client);
	c->client = NULL;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	c->rev = c->wev = c->tev = NULL;
	close(c->rfd);
	if (c->wfd != c->rfd)
		close(c->wfd);
	if (c->busy)
		c->dead = true;	/* the job still points here: freed in job_done */
	else
		conn_free(c);

	if (srv->stdio && !srv->stopping)
		mq_server_shutdown(srv);
	update_accept(srv);
	if (srv->stopping && srv->nconns == 0 && srv->inflight == 0)
		event_base_loopbreak(srv->base);
}

/* conn_write - send a reply; what does not go out now waits for EV_WRITE. */
static int
conn_write(struct conn *c, const char *buf, size_t len)
{
	ssize_t n = write(c->wfd, buf, len);

	if (n == (ssize_t)len)
		return 0;
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		n = 0;
	}
	memcpy(c->out, buf + n, len - (size_t)n);
	c->outoff = 0;
	c->outlen = len - (size_t)n;
	event_add(c->wev, NULL);
	return 0;
}

/*
 * log_tempfail - why a request is a temporary failure (a query that timed
 * out, a broken query, the database gone), at most one line a second: an
 * outage fails every request, and the decision lines already count them.
 */
static void
log_tempfail(struct mq_server *srv, const char *reason)
{
	uint64_t now = mq_now_monotonic_us();
	char why[320];

	if (srv->tempfail_logged_us != 0 && now - srv->tempfail_logged_us < 1000000u) {
		srv->tempfail_unlogged++;
		return;
	}
	/* Driver messages may quote the key, which came from the peer. */
	mq_sanitize(why, sizeof(why), reason, strlen(reason));
	if (srv->tempfail_unlogged > 0)
		mq_warn("tempfail: %s (and %llu more since the last such line)", why,
		    (unsigned long long)srv->tempfail_unlogged);
	else
		mq_warn("tempfail: %s", why);
	srv->tempfail_logged_us = now;
	srv->tempfail_unlogged = 0;
}

/*
 * conn_reply - answer the current request with a verdict; -1 when the
 * connection closed.
 */
static int
conn_reply(struct conn *c, const struct mq_verdict *v)
{
	struct mq_server *srv = c->srv;
	const char *send = v->action;
	bool dry_run = v->dry_run;
	char buf[MQ_REPLY_MAX + 16];
	uint64_t latency_us;
	size_t n;
	int rc;

	n = mq_proto_format(buf, sizeof(buf), send);
	if (n == 0) {
		char act[64];

		mq_sanitize(act, sizeof(act), send, strlen(send));
		mq_error("client %s: unusable action \"%s\"; closing the connection",
		    c->peer, act);
		conn_close(c);
		return -1;
	}
	/*
	 * The reply is ready: log first, so the line exists by the time
	 * Postfix has the answer, then the one write.
	 */
	latency_us = mq_now_monotonic_us() - c->t0;
	if (v->outcome == MQ_OUT_TEMPFAIL && v->reason[0] != '\0')
		log_tempfail(srv, v->reason);
	log_decision(c, v, dry_run ? v->withheld : v->action, dry_run,
	    latency_us);
	rc = conn_write(c, buf, n);

	srv->st.requests++;
	mq_metrics_observe(&srv->st, latency_us);
	if ((unsigned)v->outcome < MQ_OUT_COUNT)
		srv->st.outcome[v->outcome]++;
	if (dry_run)
		srv->st.dry_run++;
	if (v->on_error_pass)
		srv->st.on_error_pass++;
	mq_proto_reset(&c->req);
	if (rc < 0) {
		mq_debug("client %s: write: %s", c->peer, strerror(errno));
		conn_close(c);
		return -1;
	}
	conn_arm_timer(c);
	return 0;
}

/* conn_request - decide a complete request: inline on a hit, else a worker. */
static int
conn_request(struct conn *c)
{
	struct mq_server *srv = c->srv;
	struct mq_check_request creq;
	struct mq_verdict verdict;

	c->t0 = mq_now_monotonic_us();
	creq.recipient = c->req.recipient;
	/* One byte past MQ_ADDRESS_MAX (a NUL) is enough to say "too long". */
	creq.recipient_len = c->req.recipient_len > MQ_ADDRESS_MAX ?
	    MQ_ADDRESS_MAX + 1 : c->req.recipient_len;
	creq.size = c->req.size;
	creq.stage = c->req.is_policy ? c->req.stage : MQ_STAGE_OTHER;

	if (mq_engine_decide_cached(srv->rt->engine, &creq, &verdict) == 0) {
		srv->st.on_loop++;
		/*
		 * Answered from a figure past its TTL: re-validate it in the
		 * background now (before the reply resets c->req, which creq
		 * points into), so the next request finds it fresh.
		 */
		if (verdict.refresh &&
		    !mq_workers_refresh(srv->workers, srv->rt, &creq))
			mq_debug("refresh queue full: re-validation dropped");
		return conn_reply(c, &verdict);
	}
	c->job = job_get(srv);
	mq_job_set(c->job, srv->rt, &creq, c);
	c->busy = true;
	srv->inflight++;
	mq_workers_submit(srv->workers, c->job);
	return 0;
}

/*
 * conn_process - parse and answer what is buffered, one request at a time,
 * then close when the peer is done (or shutdown asked) and nothing is
 * pending.
 */
static void
conn_process(struct conn *c)
{
	struct mq_server *srv = c->srv;
	size_t off = 0, used;
	int st;

	while (!c->busy && c->outlen == 0 && !c->closing && off < c->inlen) {
		st = mq_proto_parse(&c->req, c->in + off, c->inlen - off,
		    &srv->limits, &used);
		off += used;
		if (st == MQ_PROTO_MORE)
			break;
		if (st != MQ_PROTO_DONE) {
			srv->st.malformed++;
			mq_warn("client %s: malformed request: %s; closing the connection",
			    c->peer, mq_proto_strerror(st));
			conn_close(c);
			return;
		}
		if (conn_request(c) < 0)
			return;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	if (!c->busy && c->outlen == 0 && (c->closing || c->eof)) {
		if (c->eof && !c->closing && (c->inlen > 0 || c->req.nbytes > 0))
			mq_debug("client %s: connection ended inside a request",
			    c->peer);
		conn_close(c);
		return;
	}
	if (c->read_paused && !c->eof && c->inlen < c->incap) {
		c->read_paused = false;
		event_add(c->rev, NULL);
	}
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct mq_server *srv = c->srv;
	ssize_t n;

	if (c->inlen == c->incap) {
		if (c->incap < srv->in_max) {
			c->incap = c->incap * 2 < srv->in_max ? c->incap * 2 :
			    srv->in_max;
			c->in = xreallocarray(c->in, c->incap, 1);
		} else {
			/* Only while busy or writing: pipelined bytes wait here. */
			c->read_paused = true;
			event_del(c->rev);
			return;
		}
	}
	n = read(c->rfd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		mq_debug("client %s: read: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* Finish what was sent (a half-closed client still gets its replies). */
		c->eof = true;
		event_del(c->rev);
	} else
		c->inlen += (size_t)n;
	conn_process(c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	n = write(c->wfd, c->out + c->outoff, c->outlen - c->outoff);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		mq_debug("client %s: write: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	c->outoff += (size_t)n;
	if (c->outoff < c->outlen)
		return;
	c->outoff = c->outlen = 0;
	event_del(c->wev);
	conn_process(c);
}

static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct mq_server *srv = c->srv;

	if (c->busy) {
		/* A worker has it: the reply, not the client, is late. */
		conn_arm_timer(c);
		return;
	}
	srv->st.timeouts++;
	if (c->outlen > 0)
		mq_notice("client %s: not reading its reply for %d s; closing the connection",
		    c->peer, srv->idle_secs);
	else if (c->inlen > 0 || c->req.nbytes > 0)
		mq_notice("client %s: request incomplete after %d s; closing the connection",
		    c->peer, srv->idle_secs);
	else
		mq_debug("client %s: idle for %d s; closing the connection",
		    c->peer, srv->idle_secs);
	conn_close(c);
}

static struct conn *
conn_new(struct mq_server *srv, int rfd, int wfd, const char *peer,
    bool stdio)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->rfd = rfd;
	c->wfd = wfd;
	c->stdio = stdio;
	c->incap = srv->in_max < CONN_INBUF_START ? srv->in_max :
	    CONN_INBUF_START;
	c->in = xmalloc(c->incap);
	mq_strlcpy(c->peer, peer, sizeof(c->peer));
	mq_proto_reset(&c->req);
	c->rev = event_new(srv->base, rfd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(srv->base, wfd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->tev = evtimer_new(srv->base, conn_timeout_cb, c);
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL)
		mq_fatal(EX_OSERR, "cannot allocate connection events");
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	srv->st.conns_total++;
	if (event_add(c->rev, NULL) < 0) {
		mq_error("client %s: cannot watch the connection", peer);
		conn_close(c);
		return NULL;
	}
	conn_arm_timer(c);
	return c;
}

/* job_done - a worker's verdict, on the loop thread. */
static void
job_done(struct mq_job *job, void *arg)
{
	struct mq_server *srv = arg;
	struct conn *c = job->owner;
	struct mq_runtime *rt = job->rt;

	/* Ours now, and the connection's no more: it may close in conn_reply. */
	job->rt = NULL;
	c->job = NULL;
	srv->inflight--;
	if (c->dead) {
		srv->st.dropped++;
		mq_debug("client %s: gone before its reply; result dropped",
		    c->peer);
		conn_free(c);
	} else {
		c->busy = false;
		srv->st.by_workers++;
		if (conn_reply(c, &job->verdict) == 0)
			conn_process(c);
	}
	job_put(srv, job);
	mq_runtime_unref(&rt);
	if (srv->stopping && srv->nconns == 0 && srv->inflight == 0)
		event_base_loopbreak(srv->base);
}

/* -------------------------------------------------------------- listeners */

/* update_accept - accept only below max_connections, not while paused or stopping. */
static void
update_accept(struct mq_server *srv)
{
	bool want = !srv->stopping && !srv->accept_error_pause &&
	    (srv->max_conns <= 0 || srv->nconns < (size_t)srv->max_conns);
	size_t i;

	if (want == srv->accepting || srv->nlisteners == 0) {
		srv->accepting = want;
		return;
	}
	for (i = 0; i < srv->nlisteners; i++) {
		if (want)
			evconnlistener_enable(srv->listeners[i]->lev);
		else
			evconnlistener_disable(srv->listeners[i]->lev);
	}
	srv->accepting = want;
	if (!want && !srv->stopping && !srv->accept_error_pause) {
		time_t now = time(NULL);

		if (now - srv->limit_logged >= 60) {
			srv->limit_logged = now;
			mq_notice("max_connections (%d) reached: not accepting until one closes",
			    srv->max_conns);
		}
	}
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	struct mq_server *srv = l->srv;
	struct client *cl;
	struct conn *c;
	char peer[128];

	if (srv->stopping) {
		close(fd);
		return;
	}
	sockaddr_text(sa, peer, sizeof(peer));
#ifdef SO_PEERCRED
	if (sa->sa_family == AF_UNIX) {
		/* No address on a unix socket: name the client process instead. */
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			snprintf(peer, sizeof(peer), "unix:pid=%ld",
			    (long)cred.pid);
	}
#endif
	if (!client_take(srv, sa, &cl)) {
		time_t now = time(NULL);

		srv->st.client_limit++;
		close(fd);
		/* Once a minute at most: a client at its cap keeps trying. */
		if (now - srv->client_limit_logged >= 60) {
			srv->client_limit_logged = now;
			mq_notice("client %s: max_connections_per_client (%d) reached: "
			    "connection closed (%" PRIu64 " so far)", peer,
			    srv->max_per_client, srv->st.client_limit);
		}
		return;
	}
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int on = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	if ((c = conn_new(srv, fd, fd, peer, false)) != NULL) {
		c->client = cl;
		mq_debug("client %s: connected on %s", peer, l->spec);
	} else
		client_release(srv, cl);
	update_accept(srv);
}

static void
accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq_server *srv = arg;

	srv->accept_error_pause = false;
	update_accept(srv);
}

/* accept_error_cb - out of fds or memory: pause accepting instead of spinning. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	struct mq_server *srv = l->srv;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	time_t now = time(NULL);

	srv->st.accept_errors++;
	/* Once a minute at most: a descriptor shortage can last. */
	if (now - srv->accept_logged >= 60) {
		srv->accept_logged = now;
		mq_warn("%s: accept: %s; pausing new connections for %d ms (%llu accept errors so far)",
		    l->spec, strerror(err), ACCEPT_PAUSE_MS,
		    (unsigned long long)srv->st.accept_errors);
	}
	srv->accept_error_pause = true;
	update_accept(srv);
	evtimer_add(srv->accept_timer, &tv);
}

int
mq_server_listen(struct mq_server *srv, int fd, const struct mq_listen *l)
{
	struct listener *li;

	li = xcalloc(1, sizeof(*li));
	li->srv = srv;
	li->lev = evconnlistener_new(srv->base, accept_cb, li,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (li->lev == NULL) {
		mq_error("%s: cannot create the listener", l->spec);
		free(li);
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(li->lev, accept_error_cb);
	li->spec = xstrdup(l->spec);
	if (l->kind == MQ_LISTEN_UNIX)
		li->unix_path = xstrdup(l->path);
	srv->listeners = xreallocarray(srv->listeners, srv->nlisteners + 1,
	    sizeof(*srv->listeners));
	srv->listeners[srv->nlisteners++] = li;
	if (!srv->accepting)
		evconnlistener_disable(li->lev);
	return 0;
}

int
mq_server_serve_stdio(struct mq_server *srv, int rfd, int wfd)
{
	/* Pipes or a socket; a regular file cannot be non-blocking, no harm. */
	set_nonblock_cloexec(rfd);
	if (wfd != rfd)
		set_nonblock_cloexec(wfd);
	srv->stdio = true;
	return conn_new(srv, rfd, wfd, "stdin", true) != NULL ? 0 : -1;
}

/* ----------------------------------------------------------------- server */

/* apply_config - the per-connection limits and timers of a configuration. */
static void
apply_config(struct mq_server *srv, const struct mq_config *cfg)
{
	size_t line_max = MQ_PROTO_LINE_MAX;

	if (cfg->policy.max_request_size < line_max)
		line_max = cfg->policy.max_request_size;
	if (line_max < 1)
		line_max = 1;
	srv->limits.line_max = line_max;
	srv->limits.max_attrs = MQ_PROTO_MAX_ATTRS;
	srv->limits.max_request = cfg->policy.max_request_size;
	srv->in_max = line_max + 1;
	srv->max_conns = cfg->policy.max_connections;
	srv->max_per_client = cfg->policy.max_connections_per_client;
	srv->idle_secs = cfg->policy.idle_timeout;
	srv->idle_tv = NULL;
	if (srv->idle_secs > 0) {
		srv->idle_plain.tv_sec = srv->idle_secs;
		srv->idle_plain.tv_usec = 0;
		/* Every connection shares the duration: libevent keeps them in one queue. */
		srv->idle_tv = event_base_init_common_timeout(srv->base,
		    &srv->idle_plain);
		if (srv->idle_tv == NULL)
			srv->idle_tv = &srv->idle_plain;
	}
}

struct mq_server *
mq_server_new(struct event_base *base, struct mq_runtime *rt)
{
	struct mq_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->rt = mq_runtime_ref(rt);
	srv->started = time(NULL);
	TAILQ_INIT(&srv->conns);
	apply_config(srv, rt->cfg);
	srv->accepting = true;
	srv->accept_timer = evtimer_new(base, accept_timer_cb, srv);
	srv->workers = mq_workers_new(base, rt->cfg->policy.workers, rt,
	    job_done, srv);
	return srv;
}

void
mq_server_reload(struct mq_server *srv, struct mq_runtime *rt)
{
	struct mq_runtime *old = srv->rt;

	srv->rt = mq_runtime_ref(rt);
	apply_config(srv, rt->cfg);
	mq_workers_set_runtime(srv->workers, rt);
	/* The new engine counts from zero: keep the old one's figures. */
	mq_metrics_retire(&srv->st, old->engine);
	mq_runtime_unref(&old);
	update_accept(srv);
}

const struct mq_config *
mq_server_config(const struct mq_server *srv)
{
	return srv->rt->cfg;
}

static void
stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq_server *srv = arg;

	mq_warn("%zu connection(s) and %zu request(s) still busy after %d s; exiting anyway",
	    srv->nconns, srv->inflight, MQ_SERVER_STOP_SECS);
	srv->forced = true;
	event_base_loopbreak(srv->base);
}

static void
close_listeners(struct mq_server *srv)
{
	size_t i;

	for (i = 0; i < srv->nlisteners; i++) {
		struct listener *l = srv->listeners[i];

		evconnlistener_free(l->lev);
		/*
		 * After dropping privileges this fails where the directory is
		 * not policy.user's: the next start removes the stale socket
		 * (under the path's lock, so never a live one).
		 */
		if (l->unix_path != NULL && unlink(l->unix_path) < 0)
			mq_notice("%s: cannot remove the socket (%s); the next start "
			    "removes it", l->spec, strerror(errno));
		free(l->spec);
		free(l->unix_path);
		free(l);
	}
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}

void
mq_server_shutdown(struct mq_server *srv)
{
	struct timeval tv = { MQ_SERVER_STOP_SECS, 0 };
	struct conn *c, *next;

	if (srv->stopping)
		return;
	srv->stopping = true;
	close_listeners(srv);
	evtimer_del(srv->accept_timer);
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->busy && c->outlen == 0)
			conn_close(c);
		else
			c->closing = true;
	}
	if (srv->nconns == 0 && srv->inflight == 0) {
		event_base_loopbreak(srv->base);
		return;
	}
	mq_info("waiting for %zu request(s) in flight", srv->inflight);
	srv->stop_timer = evtimer_new(srv->base, stop_timer_cb, srv);
	evtimer_add(srv->stop_timer, &tv);
}

bool
mq_server_forced(const struct mq_server *srv)
{
	return srv->forced;
}

void
mq_server_metrics(struct mq_server *srv, struct mq_metrics_view *v)
{
	mq_metrics_view_init(v, &srv->st, srv->rt->engine);
	v->conns_open = srv->nconns;
	v->in_flight = srv->inflight;
	v->queued = mq_workers_queued(srv->workers);
	v->workers = mq_workers_count(srv->workers);
	v->generation = srv->rt->generation;
	v->start_time = srv->started > 0 ? (uint64_t)srv->started : 0;
}

void
mq_server_log_stats(struct mq_server *srv)
{
	struct mq_metrics_view v;

	mq_server_metrics(srv, &v);
	mq_metrics_log(&v);
}

void
mq_server_free(struct mq_server **srvp)
{
	struct mq_server *srv = *srvp;
	struct conn *c;

	*srvp = NULL;
	if (srv == NULL)
		return;
	srv->stopping = true;
	close_listeners(srv);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_close(c);
	/* Workers first: a dead connection's job may still be running. */
	mq_workers_free(&srv->workers);
	while (srv->spare_jobs != NULL) {
		struct mq_job *job = srv->spare_jobs;

		srv->spare_jobs = job->next;
		free(job);
	}
	if (srv->stop_timer != NULL)
		event_free(srv->stop_timer);
	event_free(srv->accept_timer);
	mq_runtime_unref(&srv->rt);
	free(srv);
}
