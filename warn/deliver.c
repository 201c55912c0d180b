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
#include <stdarg.h>
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

/*
 * write_within - all of p to the non-blocking fd before deadline (send(2)
 * without SIGPIPE on a socket): 0, -1 on timeout, or an errno value.
 */
static int
write_within(int fd, bool sock, const char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n;
		int r = poll(&pfd, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -1 : errno;
		n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* spawn_sendmail - run "SENDMAIL -i -f FROM -- RCPT" on a pipe: its pid, or -1 with error. */
static pid_t
spawn_sendmail(const struct mq_deliver_opts *o, const char *rcpt, int *wfd_r,
    char *error, size_t errlen)
{
	int p[2];
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
	*wfd_r = p[1];
	return pid;
}

/* sendmail_result - what sendmail's exit status says; werr: writing the message failed. */
static int
sendmail_result(const struct mq_deliver_opts *o, int status, int werr, char *error,
    size_t errlen)
{
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

int
mq_deliver_sendmail(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen)
{
	uint64_t deadline = deadline_after(o->timeout);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int wfd, status = 0, werr;
	pid_t pid;

	if ((pid = spawn_sendmail(o, rcpt, &wfd, error, errlen)) < 0)
		return -1;
	sigaction(SIGPIPE, &ign, &old);
	(void)fcntl(wfd, F_SETFL, O_NONBLOCK);
	if ((werr = write_within(wfd, false, msg, len, deadline)) < 0)
		werr = ETIMEDOUT;
	close(wfd);
	sigaction(SIGPIPE, &old, NULL);
	if (wait_child(pid, werr == ETIMEDOUT ? mq_now_monotonic_us() : deadline,
	    &status) < 0) {
		snprintf(error, errlen, "%s: no answer within %d s, killed",
		    o->sendmail, o->timeout);
		return -1;
	}
	return sendmail_result(o, status, werr, error, errlen);
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
	int err = write_within(c->fd, true, p, len, deadline_after(c->timeout));

	if (err == 0)
		return 0;
	snprintf(error, errlen, "%s: %s: %s", c->peer, step,
	    err < 0 ? "timed out sending" : strerror(err));
	return -1;
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

/*
 * smtp_cmd - send the command (printf-style, CRLF added) and read the
 * reply: 0 when its code is ok1 or ok2.
 */
static int MQ_PRINTF(6, 7)
smtp_cmd(struct smtp *c, int ok1, int ok2, char *error, size_t errlen,
    const char *fmt, ...)
{
	char *cmd, *line, step[32];
	va_list ap;
	int r;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("%s\r\n", cmd);
	/* the step for messages: the command's verb ("MAIL", "RCPT", ...) */
	snprintf(step, sizeof(step), "%.*s", (int)strcspn(cmd, ":< "), cmd);
	free(cmd);
	r = smtp_write(c, line, strlen(line), step, error, errlen);
	free(line);
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

/* smtp_hello - EHLO, or HELO when EHLO is refused for good (then no extensions). */
static int
smtp_hello(struct smtp *c, char *error, size_t errlen)
{
	char name[256];

	helo_name(name, sizeof(name));
	if (smtp_cmd(c, 250, 250, error, errlen, "EHLO %s", name) == 0)
		return 0;
	if (c->code < 500 || c->code > 599 ||
	    smtp_cmd(c, 250, 250, error, errlen, "HELO %s", name) < 0)
		return -1;
	c->reply[0] = '\0';
	return 0;
}

/* smtp_failed - after a failed step: QUIT, unless the connection is gone or closing (421). */
static int
smtp_failed(const struct smtp *c, bool *quit_r)
{
	*quit_r = c->fd >= 0 && c->code != 421;
	return -1;
}

/* smtp_permanent - the last reply refused for good (5xx). */
static bool
smtp_permanent(const struct smtp *c)
{
	return c->code >= 500 && c->code <= 599;
}

/*
 * smtp_transaction - MAIL FROM, RCPT TO and DATA for one message on a
 * session that has said hello. *quit_r: the session may still take QUIT.
 */
static int
smtp_transaction(struct smtp *c, const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, bool body8, bool *quit_r, char *error, size_t errlen)
{
	char *data;
	size_t dlen;
	int r;

	*quit_r = true;
	if (smtp_cmd(c, 250, 250, error, errlen, "MAIL FROM:<%s>%s", o->from,
	    body8 ? " BODY=8BITMIME" : "") < 0)
		return smtp_failed(c, quit_r);
	if (smtp_cmd(c, 250, 251, error, errlen, "RCPT TO:<%s>", rcpt) < 0)
		return c->fd >= 0 && smtp_permanent(c) ? refusal(c) : smtp_failed(c, quit_r);
	if (smtp_cmd(c, 354, 354, error, errlen, "DATA") < 0)
		return smtp_failed(c, quit_r);
	data = mq_smtp_data(msg, len, &dlen);
	r = smtp_write(c, data, dlen, "DATA", error, errlen) < 0 ||
	    smtp_read(c, "end of data", error, errlen) < 0 ? -1 : 0;
	free(data);
	if (r < 0) {
		*quit_r = false;
		return -1;
	}
	if (c->code != 250) {
		rejected(c, "end of data", error, errlen);
		return smtp_permanent(c) ? refusal(c) : -1;
	}
	return 0;	/* handed over; QUIT is a courtesy */
}

/*
 * smtp_session - from the greeting to the end of data. An 8bit message
 * goes as quoted-printable to a server that does not offer 8BITMIME.
 */
static int
smtp_session(struct smtp *c, const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, bool *quit_r, char *error, size_t errlen)
{
	bool eightbit = mq_message_is_8bit(msg, len), mime8;
	char *qp = NULL;
	size_t qlen;
	int r;

	*quit_r = true;
	if (c->code != 220) {
		rejected(c, "greeting", error, errlen);
		return -1;
	}
	if (smtp_hello(c, error, errlen) < 0)
		return smtp_failed(c, quit_r);
	mime8 = has_extension(c->reply, "8BITMIME");
	if (eightbit && !mime8 && (qp = mq_message_to_qp(msg, len, &qlen)) != NULL) {
		msg = qp;
		len = qlen;
	}
	r = smtp_transaction(c, o, rcpt, msg, len, eightbit && mime8, quit_r, error,
	    errlen);
	free(qp);
	return r;
}

int
mq_deliver_smtp(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen)
{
	struct smtp *c = xcalloc(1, sizeof(*c));
	char *host = NULL, *port = NULL;
	const char *why;
	bool quit = false;
	int r = -1;

	c->fd = -1;
	c->timeout = o->timeout;
	c->peer = o->smtp;
	if ((why = mq_inet_parse(o->smtp, false, &host, &port)) != NULL)
		snprintf(error, errlen, "%s: %s", o->smtp, why);
	else if (smtp_connect(c, host, port, error, errlen) == 0 &&
	    smtp_read(c, "greeting", error, errlen) == 0)
		r = smtp_session(c, o, rcpt, msg, len, &quit, error, errlen);
	if (quit) {
		char ignore[256];

		(void)smtp_cmd(c, 221, 221, ignore, sizeof(ignore), "QUIT");
	}
	if (c->fd >= 0)
		close(c->fd);
	free(host);
	free(port);
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

/* open_maildir - the user's Maildir, confined under o->base: its fd, or -1 with error. */
static int
open_maildir(const struct mq_deliver_opts *o, const char *maildir, char *error,
    size_t errlen)
{
	int dfd = -1;

	if (maildir == NULL || maildir[0] == '\0') {
		snprintf(error, errlen, "no Maildir path for this user");
		return -1;
	}
	switch (mq_maildir_open(o->base, maildir, &dfd, error, errlen)) {
	case MQ_FOUND:
		return dfd;
	case MQ_NOTFOUND:
		snprintf(error, errlen, "the Maildir does not exist yet");
		return -1;
	default:
		return -1;
	}
}

/*
 * write_tmp - the message into a new file in tmp/ under a unique name
 * (into name), synced and owned like the Maildir: 0, or -1 with error and
 * nothing left behind.
 */
static int
write_tmp(int tmpfd, const struct stat *owner, const char *msg, size_t len,
    char *name, size_t size, char *error, size_t errlen)
{
	static unsigned seq;
	char host[256];
	struct stat fst;
	int fd = -1;

	helo_name(host, sizeof(host));
	for (int tries = 0; tries < 10; tries++) {
		struct timeval tv;

		gettimeofday(&tv, NULL);
		mq_maildir_name(name, size, (long long)tv.tv_sec, (long)tv.tv_usec,
		    (long)getpid(), ++seq, host, len);
		fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
		return -1;
	}
	if (mq_write_all(fd, msg, len) < 0 || fsync(fd) < 0)
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
	else if (fstat(fd, &fst) == 0 && (fst.st_uid != owner->st_uid ||
	    fst.st_gid != owner->st_gid) && fchown(fd, owner->st_uid, owner->st_gid) < 0)
		snprintf(error, errlen, "chown tmp/%s: %s", name, strerror(errno));
	else {
		int r = close(fd);

		fd = -1;	/* closed even when close(2) fails */
		if (r == 0)
			return 0;
		snprintf(error, errlen, "tmp/%s: %s", name, strerror(errno));
	}
	if (fd >= 0)
		(void)close(fd);
	(void)unlinkat(tmpfd, name, 0);
	return -1;
}

/* account - Maildir++: add the message to maildirsize; without one the next reader recounts. */
static void
account(int dfd, const char *maildir, size_t len)
{
	struct stat st;
	char line[64];
	int fd = openat(dfd, "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			mq_warn("maildir %s: maildirsize: %s (the next recount fixes it)",
			    maildir, strerror(errno));
		return;
	}
	snprintf(line, sizeof(line), "%zu 1\n", len);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    mq_write_all(fd, line, strlen(line)) < 0)
		mq_warn("maildir %s: could not update maildirsize (the next recount "
		    "fixes it)", maildir);
	close(fd);
}

int
mq_deliver_maildir(const struct mq_deliver_opts *o, const char *maildir,
    const char *msg, size_t len, char *error, size_t errlen)
{
	/* the host part is helo_name's: [A-Za-z0-9.-], at most 255 bytes, unescaped */
	char name[512];
	int dfd, tmpfd = -1, newfd = -1, r = -1;
	struct stat dst;

	if ((dfd = open_maildir(o, maildir, error, errlen)) < 0)
		return -1;
	if (fstat(dfd, &dst) < 0)
		snprintf(error, errlen, "fstat Maildir: %s", strerror(errno));
	else if ((tmpfd = subdir(dfd, "tmp", &dst, error, errlen)) >= 0 &&
	    (newfd = subdir(dfd, "new", &dst, error, errlen)) >= 0 &&
	    write_tmp(tmpfd, &dst, msg, len, name, sizeof(name), error, errlen) == 0) {
		if (renameat(tmpfd, name, newfd, name) < 0) {
			snprintf(error, errlen, "rename into new/: %s", strerror(errno));
			(void)unlinkat(tmpfd, name, 0);
		} else {
			(void)fsync(newfd);
			account(dfd, maildir, len);
			r = 0;
		}
	}
	if (newfd >= 0)
		close(newfd);
	if (tmpfd >= 0)
		close(tmpfd);
	close(dfd);
	return r;
}
