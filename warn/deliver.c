/* SPDX-License-Identifier: MIT */
/*
 * deliver - hand a warning to sendmail, to an SMTP server, or into the
 * Maildir (see deliver.h).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "compose.h"
#include "deliver.h"
#include "listen.h"
#include "log.h"
#include "maildir.h"
#include "mq.h"
#include "util.h"

#define SMTP_REPLY_MAX 16384	/* bytes of one reply, all its lines */

int
mq_deliver(const struct mq_deliver_opts *o, const char *rcpt,
    const char *maildir, const char *msg, size_t len, char *error, size_t errlen)
{
	switch (o->method) {
	case MQ_DELIVERY_SMTP:
		return mq_deliver_smtp(o, rcpt, msg, len, error, errlen);
	case MQ_DELIVERY_MAILDIR:
		return mq_deliver_maildir(o, maildir, msg, len, error, errlen);
	default:
		return mq_deliver_sendmail(o, rcpt, msg, len, error, errlen);
	}
}

/* ---- sendmail ---- */

static uint64_t
deadline_after(int secs)
{
	return mq_now_monotonic_us() + (uint64_t)(secs > 0 ? secs : 1) * 1000000u;
}

/* ms_left - milliseconds until deadline (0 when past), for poll(). */
static int
ms_left(uint64_t deadline)
{
	uint64_t now = mq_now_monotonic_us();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now) / 1000 + 1);
}

/*
 * wait_child - reap pid before deadline, else kill it. -1 on timeout.
 * Polls with a growing sleep (1 ms, 2 ms, ... 50 ms): a sendmail that is
 * done in a few milliseconds costs no more than that.
 */
static int
wait_child(pid_t pid, uint64_t deadline, int *status)
{
	long nap = 1000 * 1000;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		struct timespec ts = { 0, nap };

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return 0;	/* already reaped: nothing to wait for */
		if (mq_now_monotonic_us() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		nanosleep(&ts, NULL);
		if (nap < 50 * 1000 * 1000)
			nap *= 2;
	}
}

int
mq_deliver_sendmail(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen)
{
	uint64_t deadline = deadline_after(o->timeout);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	size_t off = 0;
	int p[2], status = 0, werr = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(error, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		snprintf(error, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { (char *)o->sendmail, "-i", "-f",
		    (char *)o->from, "--", (char *)rcpt, NULL };

		/* stdin is the message; stdout goes where our stderr goes */
		if (dup2(p[0], STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execv(o->sendmail, argv);
		_exit(127);
	}
	close(p[0]);
	sigaction(SIGPIPE, &ign, &old);
	(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
	while (off < len) {
		struct pollfd pfd = { .fd = p[1], .events = POLLOUT };
		ssize_t n;
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			werr = r == 0 ? ETIMEDOUT : errno;
			break;
		}
		n = write(p[1], msg + off, len - off);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			werr = errno;
			break;
		}
		off += (size_t)n;
	}
	close(p[1]);
	sigaction(SIGPIPE, &old, NULL);
	if (wait_child(pid, werr == ETIMEDOUT ? mq_now_monotonic_us() : deadline,
	    &status) < 0) {
		snprintf(error, errlen, "%s: no answer within %d s, killed",
		    o->sendmail, o->timeout);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(error, errlen, "%s: could not be run", o->sendmail);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		int st = WEXITSTATUS(status);

		snprintf(error, errlen, "%s exited with status %d", o->sendmail, st);
		/* sysexits: the recipient's fault, not the transport's */
		if (st == EX_DATAERR || st == EX_NOUSER || st == EX_NOHOST)
			return MQ_DELIVER_REFUSED;
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(error, errlen, "%s killed by signal %d", o->sendmail,
		    WTERMSIG(status));
		return -1;
	}
	if (werr != 0) {
		/* it exited 0 without reading everything: not a hand-over */
		snprintf(error, errlen, "%s: writing the message: %s", o->sendmail,
		    strerror(werr));
		return -1;
	}
	return 0;
}

/* ---- SMTP ---- */

long
mq_smtp_reply(const char *buf, size_t len, int *code_r)
{
	size_t i = 0;
	int code = -1;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		const char *l = buf + i;
		size_t llen;
		int c;

		if (nl == NULL)
			return 0;
		llen = (size_t)(nl - l);
		if (llen > 0 && l[llen - 1] == '\r')
			llen--;
		if (llen < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
		    l[2] < '0' || l[2] > '9')
			return -1;
		c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (code >= 0 && c != code)
			return -1;
		code = c;
		if (llen > 3 && l[3] != ' ' && l[3] != '-')
			return -1;
		i = (size_t)(nl - buf) + 1;
		if (llen == 3 || l[3] == ' ') {
			*code_r = code;
			return (long)i;
		}
	}
	return 0;
}

struct smtp {
	int fd;
	int timeout;
	const char *peer;
	char buf[SMTP_REPLY_MAX];
	size_t have;
	char reply[SMTP_REPLY_MAX + 1];	/* the last complete reply */
	int code;
};

/* smtp_read - the next reply into c->reply/c->code: 0, or -1 with error. */
static int
smtp_read(struct smtp *c, const char *step, char *error, size_t errlen)
{
	uint64_t deadline = deadline_after(c->timeout);
	long used;

	while ((used = mq_smtp_reply(c->buf, c->have, &c->code)) == 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (c->have == sizeof(c->buf)) {
			snprintf(error, errlen, "%s: %s: reply too long", c->peer, step);
			return -1;
		}
		r = poll(&pfd, 1, ms_left(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(error, errlen, "%s: %s: no reply within %d s",
			    c->peer, step, c->timeout);
			return -1;
		}
		n = r < 0 ? -1 : recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(error, errlen, "%s: %s: %s", c->peer, step,
			    n == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		c->have += (size_t)n;
	}
	if (used < 0) {
		snprintf(error, errlen, "%s: %s: malformed reply", c->peer, step);
		return -1;
	}
	memcpy(c->reply, c->buf, (size_t)used);
	c->reply[used] = '\0';
	memmove(c->buf, c->buf + used, c->have - (size_t)used);
	c->have -= (size_t)used;
	return 0;
}

static int
smtp_write(struct smtp *c, const char *p, size_t len, const char *step,
    char *error, size_t errlen)
{
	uint64_t deadline = deadline_after(c->timeout);

	while (len > 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t n;
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(error, errlen, "%s: %s: %s", c->peer, step,
			    r == 0 ? "timed out sending" : strerror(errno));
			return -1;
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(error, errlen, "%s: %s: %s", c->peer, step, strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* rejected - the error text for an unexpected reply (its last line, sanitised). */
static void
rejected(struct smtp *c, const char *step, char *error, size_t errlen)
{
	const char *last = c->reply;
	size_t n = strlen(c->reply);
	char shown[256];

	while (n > 0 && (c->reply[n - 1] == '\n' || c->reply[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++)
		if (c->reply[i] == '\n')
			last = c->reply + i + 1;
	mq_sanitize(shown, sizeof(shown), last, (size_t)(c->reply + n - last));
	snprintf(error, errlen, "%s: %s: %s", c->peer, step, shown);
}

/* refusal - what a 5xx reply for the one recipient means: REFUSED or FULL. */
static int
refusal(const struct smtp *c)
{
	const char *text = c->reply + 4;

	if (c->code == 552 || (strlen(c->reply) > 4 && strncmp(text, "5.2.2", 5) == 0 &&
	    (text[5] == ' ' || text[5] == '\r' || text[5] == '\n')))
		return MQ_DELIVER_FULL;
	return MQ_DELIVER_REFUSED;
}

/* smtp_cmd - send line (CRLF added) and read the reply: 0 when its code is ok1 or ok2. */
static int
smtp_cmd(struct smtp *c, const char *line, int ok1, int ok2, char *error,
    size_t errlen)
{
	char *l = xasprintf("%s\r\n", line), step[32];
	int r;

	snprintf(step, sizeof(step), "%.*s", (int)strcspn(line, ":< "), line);
	r = smtp_write(c, l, strlen(l), step, error, errlen);
	free(l);
	if (r < 0 || smtp_read(c, step, error, errlen) < 0)
		return -1;
	if (c->code != ok1 && c->code != ok2) {
		rejected(c, step, error, errlen);
		return -1;
	}
	return 0;
}

/* has_extension - the EHLO reply offers keyword. */
static bool
has_extension(const char *reply, const char *keyword)
{
	size_t klen = strlen(keyword);

	for (const char *l = reply; *l != '\0'; ) {
		const char *nl = strchr(l, '\n');

		if (strlen(l) > 4 && strncasecmp(l + 4, keyword, klen) == 0 &&
		    (l[4 + klen] == '\r' || l[4 + klen] == '\n' ||
		    l[4 + klen] == ' ' || l[4 + klen] == '\0'))
			return true;
		if (nl == NULL)
			break;
		l = nl + 1;
	}
	return false;
}

static int
smtp_connect(struct smtp *c, const char *host, const char *port, char *error,
    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *res, *ai;
	int r, err = 0;

	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(error, errlen, "%s: %s", c->peer, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		uint64_t deadline = deadline_after(c->timeout);
		struct pollfd pfd;
		socklen_t elen = sizeof(err);

		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (c->fd < 0) {
			err = errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (err == EINPROGRESS) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			while ((r = poll(&pfd, 1, ms_left(deadline))) < 0 && errno == EINTR)
				;
			if (r == 1 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
			    err == 0)
				break;
			if (r == 0)
				err = ETIMEDOUT;
		}
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(error, errlen, "%s: connect: %s", c->peer, strerror(err));
		return -1;
	}
	return 0;
}

/* helo_name - this host's name for EHLO, or "localhost". */
static void
helo_name(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0 || buf[0] == '\0' ||
	    strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	    strlen(buf))
		mq_strlcpy(buf, "localhost", size);
}

int
mq_deliver_smtp(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen)
{
	struct smtp *c = xcalloc(1, sizeof(*c));
	char *host = NULL, *port = NULL, name[256], *line, *data = NULL, *qp = NULL;
	const char *why;
	size_t dlen, qlen;
	bool eightbit = mq_message_is_8bit(msg, len), mime8;
	int r = -1;

	c->fd = -1;
	c->timeout = o->timeout;
	c->peer = o->smtp;
	if ((why = mq_inet_parse(o->smtp, false, &host, &port)) != NULL) {
		snprintf(error, errlen, "%s: %s", o->smtp, why);
		goto out;
	}
	if (smtp_connect(c, host, port, error, errlen) < 0)
		goto out;
	if (smtp_read(c, "greeting", error, errlen) < 0)
		goto out;
	if (c->code != 220) {
		rejected(c, "greeting", error, errlen);
		goto quit;
	}
	helo_name(name, sizeof(name));
	line = xasprintf("EHLO %s", name);
	r = smtp_cmd(c, line, 250, 250, error, errlen);
	free(line);
	if (r < 0) {
		if (c->code < 500 || c->code > 599)
			goto fail;
		line = xasprintf("HELO %s", name);
		r = smtp_cmd(c, line, 250, 250, error, errlen);
		free(line);
		if (r < 0)
			goto fail;
		c->reply[0] = '\0';	/* no extensions */
	}
	r = -1;
	mime8 = has_extension(c->reply, "8BITMIME");
	if (eightbit && !mime8) {
		qp = mq_message_to_qp(msg, len, &qlen);
		if (qp != NULL) {
			msg = qp;
			len = qlen;
		}
	}
	line = xasprintf("MAIL FROM:<%s>%s", o->from,
	    eightbit && mime8 ? " BODY=8BITMIME" : "");
	if (smtp_cmd(c, line, 250, 250, error, errlen) < 0) {
		free(line);
		goto fail;
	}
	free(line);
	line = xasprintf("RCPT TO:<%s>", rcpt);
	if (smtp_cmd(c, line, 250, 251, error, errlen) < 0) {
		free(line);
		if (c->fd >= 0 && c->code >= 500 && c->code <= 599) {
			r = refusal(c);
			goto quit;
		}
		goto fail;
	}
	free(line);
	if (smtp_cmd(c, "DATA", 354, 354, error, errlen) < 0)
		goto fail;
	data = mq_smtp_data(msg, len, &dlen);
	if (smtp_write(c, data, dlen, "DATA", error, errlen) < 0 ||
	    smtp_read(c, "end of data", error, errlen) < 0)
		goto out;
	if (c->code != 250) {
		rejected(c, "end of data", error, errlen);
		if (c->code >= 500 && c->code <= 599)
			r = refusal(c);
		goto quit;
	}
	r = 0;		/* handed over; QUIT is a courtesy */
	goto quit;
fail:
	if (c->fd < 0 || c->code == 421)
		goto out;
quit:
	{
		char ignore[256];

		(void)smtp_cmd(c, "QUIT", 221, 221, ignore, sizeof(ignore));
	}
out:
	if (c->fd >= 0)
		close(c->fd);
	free(host);
	free(port);
	free(data);
	free(qp);
	free(c);
	return r;
}

/* ---- Maildir ---- */

void
mq_maildir_name(char *buf, size_t size, long long secs, long usecs, long pid,
    unsigned seq, const char *host, size_t msgsize)
{
	struct mq_buf h = { 0 };

	/* '/' and ':' cannot appear in a Maildir name's host part; ',' starts fields */
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/')
			mq_buf_adds(&h, "\\057");
		else if (*p == ':')
			mq_buf_adds(&h, "\\072");
		else if (*p == ',')
			mq_buf_adds(&h, "\\054");
		else
			mq_buf_addc(&h, *p);
	}
	snprintf(buf, size, "%lld.M%06ldP%ldQ%u.%s,S=%zu", secs, usecs, pid, seq,
	    h.s != NULL ? h.s : "localhost", msgsize);
	mq_buf_free(&h);
}

/* subdir - open (creating when missing) tmp/ or new/ of the Maildir, owned like it. */
static int
subdir(int dfd, const char *name, const struct stat *owner, char *error,
    size_t errlen)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST) {
			snprintf(error, errlen, "mkdir %s: %s", name, strerror(errno));
			return -1;
		}
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchown(fd, owner->st_uid, owner->st_gid) < 0 &&
		    geteuid() == 0) {
			snprintf(error, errlen, "chown %s: %s", name, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (fd < 0)
		snprintf(error, errlen, "%s/: %s", name, strerror(errno));
	return fd;
}

int
mq_deliver_maildir(const struct mq_deliver_opts *o, const char *maildir,
    const char *msg, size_t len, char *error, size_t errlen)
{
	static unsigned seq;
	char host[256], name[512], line[64], why[256];
	int dfd = -1, tmpfd = -1, newfd = -1, fd = -1, r = -1, tries;
	struct stat dst, fst;

	if (maildir == NULL || maildir[0] == '\0') {
		snprintf(error, errlen, "no Maildir path for this user");
		return -1;
	}
	switch (mq_maildir_open(o->base, maildir, &dfd, why, sizeof(why))) {
	case MQ_FOUND:
		break;
	case MQ_NOTFOUND:
		snprintf(error, errlen, "the Maildir does not exist yet");
		return -1;
	default:
		snprintf(error, errlen, "%s", why);
		return -1;
	}
	if (fstat(dfd, &dst) < 0) {
		snprintf(error, errlen, "fstat Maildir: %s", strerror(errno));
		goto out;
	}
	if ((tmpfd = subdir(dfd, "tmp", &dst, error, errlen)) < 0 ||
	    (newfd = subdir(dfd, "new", &dst, error, errlen)) < 0)
		goto out;
	helo_name(host, sizeof(host));
	for (tries = 0; tries < 10; tries++) {
		struct timeval tv;

		gettimeofday(&tv, NULL);
		mq_maildir_name(name, sizeof(name), (long long)tv.tv_sec,
		    (long)tv.tv_usec, (long)getpid(), ++seq, host, len);
		fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
		goto out;
	}
	if (mq_write_all(fd, msg, len) < 0 || fsync(fd) < 0) {
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
		goto unlink;
	}
	if (fstat(fd, &fst) == 0 && (fst.st_uid != dst.st_uid || fst.st_gid != dst.st_gid) &&
	    fchown(fd, dst.st_uid, dst.st_gid) < 0) {
		snprintf(error, errlen, "chown tmp/%s: %s", name, strerror(errno));
		goto unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
		goto unlink;
	}
	fd = -1;
	if (renameat(tmpfd, name, newfd, name) < 0) {
		snprintf(error, errlen, "rename into new/: %s", strerror(errno));
		goto unlink;
	}
	(void)fsync(newfd);
	r = 0;

	/* Maildir++: account for it; without a maildirsize the next reader recounts. */
	fd = openat(dfd, "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			mq_warn("maildir %s: maildirsize: %s (the next recount fixes it)",
			    maildir, strerror(errno));
		goto out;
	}
	snprintf(line, sizeof(line), "%zu 1\n", len);
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) ||
	    mq_write_all(fd, line, strlen(line)) < 0)
		mq_warn("maildir %s: could not update maildirsize (the next recount "
		    "fixes it)", maildir);
	goto out;
unlink:
	(void)unlinkat(tmpfd, name, 0);
out:
	if (fd >= 0)
		close(fd);
	if (newfd >= 0)
		close(newfd);
	if (tmpfd >= 0)
		close(tmpfd);
	if (dfd >= 0)
		close(dfd);
	return r;
}
