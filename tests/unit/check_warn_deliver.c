/* SPDX-License-Identifier: MIT */
/*
 * check_warn_deliver - the three ways a warning is handed over, each
 * against something real: a Maildir on disk (tmp/ then new/, ",S=",
 * maildirsize, confinement), sendmail as a script (arguments, stdin, exit
 * status, timeout), and the SMTP client against a scripted server in a
 * child process (reply parsing, dot-stuffing on the wire, 8BITMIME, a
 * refused recipient). The Postfix and Dovecot runs are in tests/integ.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildirsize.h"
#include "util.h"
#include "warn/compose.h"
#include "warn/deliver.h"

static char dir[64];

static void
setup(void)
{
	mq_strlcpy(dir, "/tmp/check_warn_deliver.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* mkdirs - mkdir -p of each path (relative to dir). */
static void
mkdirs(const char *a, const char *b, const char *c)
{
	const char *paths[] = { a, b, c };
	char cmd[1024];

	for (size_t i = 0; i < MQ_NELEM(paths); i++) {
		if (paths[i] == NULL)
			continue;
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", dir, paths[i]);
		ck_assert_msg(system(cmd) == 0, "%s", cmd);
	}
}

static char *
slurp(const char *p, size_t *len_r)
{
	static char buf[65536];
	FILE *f = fopen(p, "r");
	size_t n;

	ck_assert_msg(f != NULL, "%s", p);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (len_r != NULL)
		*len_r = n;
	return buf;
}

/* only_file - the single entry of a directory (NULL when none; fails on several). */
static char *
only_file(const char *d)
{
	static char name[512];
	DIR *dp = opendir(d);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		mq_strlcpy(name, de->d_name, sizeof(name));
		n++;
	}
	closedir(dp);
	ck_assert_int_le(n, 1);
	return n == 1 ? name : NULL;
}

static const char msg[] =
    "From: postmaster@example.org\n"
    "To: alice@example.org\n"
    "Subject: test\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "line one\n"
    ".\n"
    ".starts with a dot\n"
    "gr\xc3\xbc\xc3\x9f" "e\n";

/* ---- pure parts ---- */

struct reply_row {
	const char *in;
	long used;
	int code;
};

static const struct reply_row reply_rows[] = {
	{ "220 mail.example.org ESMTP\r\n", 28, 220 },
	{ "250-mail.example.org\r\n250-8BITMIME\r\n250 SIZE 1000\r\n", 51, 250 },
	{ "250-first\r\n250 last\r\n354 next", 21, 250 },
	{ "250\r\n", 5, 250 },
	{ "550 5.1.1 no\n", 13, 550 },
	{ "250-incomplete\r\n", 0, 0 },
	{ "250 no newline yet", 0, 0 },
	{ "", 0, 0 },
	{ "25\r\n", -1, 0 },
	{ "abc def\r\n", -1, 0 },
	{ "250-a\r\n251 b\r\n", -1, 0 },
	{ "250x\r\n", -1, 0 },
	{ "650 bad class\r\n", -1, 0 },
};

START_TEST(test_smtp_reply)
{
	const struct reply_row *r = &reply_rows[_i];
	int code = 0;
	long used = mq_smtp_reply(r->in, strlen(r->in), &code);

	ck_assert_int_eq(used, r->used);
	if (used > 0)
		ck_assert_int_eq(code, r->code);
}
END_TEST

START_TEST(test_maildir_name)
{
	char buf[256];

	mq_maildir_name(buf, sizeof(buf), 1700000000, 42, 1234, 7, "mx1.example.org", 815);
	ck_assert_str_eq(buf, "1700000000.M000042P1234Q7.mx1.example.org,S=815");
	mq_maildir_name(buf, sizeof(buf), 1, 999999, 2, 3, "we/ird:host,x", 0);
	ck_assert_str_eq(buf, "1.M999999P2Q3.we\\057ird\\072host\\054x,S=0");
}
END_TEST

/* ---- Maildir ---- */

static struct mq_deliver_opts
maildir_opts(void)
{
	struct mq_deliver_opts o = { .method = MQ_DELIVERY_MAILDIR, .base = dir,
	    .from = "postmaster@example.org", .timeout = 5 };

	return o;
}

START_TEST(test_maildir_full_mailbox)
{
	struct mq_deliver_opts o = maildir_opts();
	char p[512], error[256], want[64], *name, *text;
	size_t len;
	uint64_t size;

	mkdirs("example.org/alice/cur", "example.org/alice/new", "example.org/alice/tmp");
	snprintf(p, sizeof(p), "%s/example.org/alice/maildirsize", dir);
	/* a full mailbox: the warning goes in anyway */
	{
		FILE *f = fopen(p, "w");

		fputs("1000S,10C\n1000 10\n", f);
		fclose(f);
	}
	ck_assert_int_eq(mq_deliver(&o, "alice@example.org", "example.org/alice", msg,
	    strlen(msg), error, sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/example.org/alice/tmp", dir);
	ck_assert_ptr_null(only_file(p));
	snprintf(p, sizeof(p), "%s/example.org/alice/new", dir);
	name = only_file(p);
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(mq_maildir_filename_size(name, &size), 0);
	ck_assert_uint_eq(size, strlen(msg));
	ck_assert_ptr_null(strchr(name, ':'));	/* new/: no flags */
	snprintf(p, sizeof(p), "%s/example.org/alice/new/%s", dir, name);
	text = slurp(p, &len);
	ck_assert_uint_eq(len, strlen(msg));
	ck_assert_str_eq(text, msg);
	{
		struct stat st;

		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0600);
	}
	snprintf(p, sizeof(p), "%s/example.org/alice/maildirsize", dir);
	snprintf(want, sizeof(want), "1000S,10C\n1000 10\n%zu 1\n", strlen(msg));
	ck_assert_str_eq(slurp(p, NULL), want);
}
END_TEST

START_TEST(test_maildir_without_maildirsize_or_tmp)
{
	struct mq_deliver_opts o = maildir_opts();
	char p[512], error[256];

	mkdirs("example.org/bob/cur", NULL, NULL);
	ck_assert_int_eq(mq_deliver_maildir(&o, "example.org/bob", msg, strlen(msg), error,
	    sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/example.org/bob/new", dir);
	ck_assert_ptr_nonnull(only_file(p));
	snprintf(p, sizeof(p), "%s/example.org/bob/maildirsize", dir);
	ck_assert_int_eq(access(p, F_OK), -1);	/* not created: the next reader recounts */
}
END_TEST

START_TEST(test_maildir_refused)
{
	struct mq_deliver_opts o = maildir_opts();
	char error[256], p[512];

	mkdirs("outside/Maildir/new", "outside/Maildir/tmp", "example.org");
	snprintf(p, sizeof(p), "ln -s %s/outside/Maildir %s/example.org/mallory", dir, dir);
	ck_assert_int_eq(system(p), 0);
	/* a symlink below base */
	ck_assert_int_eq(mq_deliver_maildir(&o, "example.org/mallory", msg, strlen(msg),
	    error, sizeof(error)), -1);
	snprintf(p, sizeof(p), "%s/outside/Maildir/new", dir);
	ck_assert_ptr_null(only_file(p));
	/* ".." and an absolute path outside base */
	ck_assert_int_eq(mq_deliver_maildir(&o, "example.org/../outside/Maildir", msg,
	    strlen(msg), error, sizeof(error)), -1);
	ck_assert_int_eq(mq_deliver_maildir(&o, "/etc", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_null(only_file(p));
	/* no Maildir at all */
	ck_assert_int_eq(mq_deliver_maildir(&o, "example.org/nobody", msg, strlen(msg),
	    error, sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "does not exist"));
	ck_assert_int_eq(mq_deliver_maildir(&o, "", msg, strlen(msg), error,
	    sizeof(error)), -1);
}
END_TEST

/* ---- sendmail ---- */

static struct mq_deliver_opts
sendmail_opts(const char *script)
{
	static char path[256];
	struct mq_deliver_opts o = { .method = MQ_DELIVERY_SENDMAIL,
	    .from = "postmaster@example.org", .timeout = 5 };

	snprintf(path, sizeof(path), "%s/%s", dir, script);
	o.sendmail = path;
	return o;
}

static void
script(const char *name, const char *body)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	ck_assert_int_eq(chmod(p, 0755), 0);
}

START_TEST(test_sendmail_ok)
{
	struct mq_deliver_opts o = sendmail_opts("sm");
	char error[256], p[256], cmd[512];

	snprintf(cmd, sizeof(cmd), "printf '%%s\\n' \"$@\" > %s/args; cat > %s/stdin; exit 0",
	    dir, dir);
	script("sm", cmd);
	ck_assert_int_eq(mq_deliver(&o, "alice@example.org", NULL, msg, strlen(msg), error,
	    sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/args", dir);
	ck_assert_str_eq(slurp(p, NULL), "-i\n-f\npostmaster@example.org\n--\nalice@example.org\n");
	snprintf(p, sizeof(p), "%s/stdin", dir);
	ck_assert_str_eq(slurp(p, NULL), msg);
}
END_TEST

START_TEST(test_sendmail_fails)
{
	struct mq_deliver_opts o = sendmail_opts("sm");
	char error[256];

	script("sm", "cat > /dev/null; exit 75");
	ck_assert_int_eq(mq_deliver_sendmail(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "status 75"));

	script("sm", "exit 1");		/* does not even read its input */
	ck_assert_int_eq(mq_deliver_sendmail(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "status 1"));

	script("sm", "kill -TERM $$");
	ck_assert_int_eq(mq_deliver_sendmail(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "signal"));

	o = sendmail_opts("no-such-sendmail");
	ck_assert_int_eq(mq_deliver_sendmail(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "could not be run"));
}
END_TEST

START_TEST(test_sendmail_timeout)
{
	struct mq_deliver_opts o = sendmail_opts("sm");
	char error[256];
	uint64_t t0 = mq_now_monotonic_us();

	script("sm", "cat > /dev/null; exec sleep 30");
	o.timeout = 1;
	ck_assert_int_eq(mq_deliver_sendmail(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "killed"));
	ck_assert_uint_lt(mq_now_monotonic_us() - t0, 5000000);
}
END_TEST

/* ---- SMTP against a scripted server ---- */

enum server_mode { SRV_OK, SRV_NO8BIT, SRV_RCPT_REFUSED, SRV_NOEHLO, SRV_SILENT,
	SRV_RCPT_FULL, SRV_RCPT_LATER };

/* serve - one SMTP session on fd; the DATA received goes to dir/data, commands to dir/cmds. */
static void
serve(int fd, enum server_mode mode)
{
	FILE *in = fdopen(fd, "r"), *out = fdopen(dup(fd), "w");
	char line[2048], p[256];
	FILE *cmds, *data;
	bool indata = false;

	snprintf(p, sizeof(p), "%s/cmds", dir);
	cmds = fopen(p, "w");
	snprintf(p, sizeof(p), "%s/data", dir);
	data = fopen(p, "w");
	if (mode == SRV_SILENT) {
		sleep(5);
		_exit(0);
	}
	fputs("220 test.example ESMTP\r\n", out);
	fflush(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (indata) {
			fputs(line, data);
			if (strcmp(line, ".\r\n") == 0) {
				indata = false;
				fputs("250 2.0.0 queued\r\n", out);
			}
			fflush(out);
			continue;
		}
		fputs(line, cmds);
		if (strncmp(line, "EHLO", 4) == 0) {
			if (mode == SRV_NOEHLO)
				fputs("502 5.5.2 no EHLO here\r\n", out);
			else if (mode == SRV_NO8BIT)
				fputs("250-test.example\r\n250 SIZE 100000\r\n", out);
			else
				fputs("250-test.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", out);
		} else if (strncmp(line, "HELO", 4) == 0) {
			fputs("250 test.example\r\n", out);
		} else if (strncmp(line, "MAIL", 4) == 0) {
			fputs("250 2.1.0 ok\r\n", out);
		} else if (strncmp(line, "RCPT", 4) == 0) {
			fputs(mode == SRV_RCPT_REFUSED ? "550 5.1.1 <alice@example.org>: "
			    "Recipient address rejected\r\n" :
			    mode == SRV_RCPT_FULL ? "550 5.2.2 <alice@example.org>: "
			    "Mailbox is full\r\n" :
			    mode == SRV_RCPT_LATER ? "452 4.2.2 <alice@example.org>: "
			    "try later\r\n" : "250 2.1.5 ok\r\n", out);
		} else if (strncmp(line, "DATA", 4) == 0) {
			fputs("354 go ahead\r\n", out);
			indata = true;
		} else if (strncmp(line, "QUIT", 4) == 0) {
			fputs("221 2.0.0 bye\r\n", out);
			fflush(out);
			break;
		} else {
			fputs("500 5.5.1 what\r\n", out);
		}
		fflush(out);
	}
	fclose(cmds);
	fclose(data);
	_exit(0);
}

/* run_smtp - a server child for one session, then the client against it. */
static int
run_smtp(enum server_mode mode, int timeout, char *error, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	char spec[64];
	struct mq_deliver_opts o = { .method = MQ_DELIVERY_SMTP,
	    .from = "postmaster@example.org", .timeout = timeout };
	int lfd, status, r;
	pid_t pid;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(spec, sizeof(spec), "inet:127.0.0.1:%u", ntohs(sin.sin_port));
	o.smtp = spec;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(1);
		serve(fd, mode);
	}
	close(lfd);
	r = mq_deliver(&o, "alice@example.org", NULL, msg, strlen(msg), error, errlen);
	if (mode == SRV_SILENT)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return r;
}

START_TEST(test_smtp_ok)
{
	char error[256], p[256];
	const char *data, *cmds;

	ck_assert_int_eq(run_smtp(SRV_OK, 5, error, sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/cmds", dir);
	cmds = slurp(p, NULL);
	ck_assert_ptr_nonnull(strstr(cmds, "EHLO "));
	ck_assert_ptr_nonnull(strstr(cmds, "MAIL FROM:<postmaster@example.org> BODY=8BITMIME\r\n"));
	ck_assert_ptr_nonnull(strstr(cmds, "RCPT TO:<alice@example.org>\r\n"));
	ck_assert_ptr_nonnull(strstr(cmds, "DATA\r\nQUIT\r\n"));
	snprintf(p, sizeof(p), "%s/data", dir);
	data = slurp(p, NULL);
	ck_assert_str_eq(data,
	    "From: postmaster@example.org\r\n"
	    "To: alice@example.org\r\n"
	    "Subject: test\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "line one\r\n"
	    "..\r\n"
	    "..starts with a dot\r\n"
	    "gr\xc3\xbc\xc3\x9f" "e\r\n"
	    ".\r\n");
}
END_TEST

START_TEST(test_smtp_no_8bitmime)
{
	char error[256], p[256];
	const char *data;

	ck_assert_int_eq(run_smtp(SRV_NO8BIT, 5, error, sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/cmds", dir);
	ck_assert_ptr_nonnull(strstr(slurp(p, NULL), "MAIL FROM:<postmaster@example.org>\r\n"));
	snprintf(p, sizeof(p), "%s/data", dir);
	data = slurp(p, NULL);
	ck_assert_ptr_nonnull(strstr(data, "Content-Transfer-Encoding: quoted-printable\r\n"));
	ck_assert_ptr_nonnull(strstr(data, "\r\ngr=C3=BC=C3=9Fe\r\n"));
	for (const char *q = data; *q != '\0'; q++)
		ck_assert((unsigned char)*q < 0x80);
}
END_TEST

START_TEST(test_smtp_helo_fallback)
{
	char error[256], p[256];

	ck_assert_int_eq(run_smtp(SRV_NOEHLO, 5, error, sizeof(error)), 0);
	snprintf(p, sizeof(p), "%s/cmds", dir);
	ck_assert_ptr_nonnull(strstr(slurp(p, NULL), "HELO "));
}
END_TEST

START_TEST(test_smtp_refused)
{
	char error[256], p[256];

	ck_assert_int_eq(run_smtp(SRV_RCPT_REFUSED, 5, error, sizeof(error)),
	    MQ_DELIVER_REFUSED);
	ck_assert_ptr_nonnull(strstr(error, "RCPT"));
	ck_assert_ptr_nonnull(strstr(error, "550 5.1.1"));
	snprintf(p, sizeof(p), "%s/cmds", dir);
	ck_assert_ptr_null(strstr(slurp(p, NULL), "DATA"));
	ck_assert_ptr_nonnull(strstr(slurp(p, NULL), "QUIT"));
}
END_TEST

/* 5.2.2 (or 552) is a full mailbox; a 4xx is the transport's "not now" */
START_TEST(test_smtp_full_and_later)
{
	char error[256];

	ck_assert_int_eq(run_smtp(SRV_RCPT_FULL, 5, error, sizeof(error)), MQ_DELIVER_FULL);
	ck_assert_ptr_nonnull(strstr(error, "550 5.2.2"));
	ck_assert_int_eq(run_smtp(SRV_RCPT_LATER, 5, error, sizeof(error)), MQ_DELIVER_FAILED);
	ck_assert_ptr_nonnull(strstr(error, "452 4.2.2"));
}
END_TEST

START_TEST(test_smtp_timeout_and_refused_connection)
{
	char error[256];
	struct mq_deliver_opts o = { .method = MQ_DELIVERY_SMTP,
	    .from = "postmaster@example.org", .timeout = 1, .smtp = "inet:127.0.0.1:1" };

	ck_assert_int_eq(run_smtp(SRV_SILENT, 1, error, sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "no reply"));
	ck_assert_int_eq(mq_deliver_smtp(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "connect"));
	o.smtp = "inet:nonsense";
	ck_assert_int_eq(mq_deliver_smtp(&o, "alice@example.org", msg, strlen(msg), error,
	    sizeof(error)), -1);
}
END_TEST

static Suite *
deliver_suite(void)
{
	Suite *s = suite_create("warn_deliver");
	TCase *pure = tcase_create("pure"), *tc = tcase_create("real");

	tcase_add_loop_test(pure, test_smtp_reply, 0, (int)MQ_NELEM(reply_rows));
	tcase_add_test(pure, test_maildir_name);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_maildir_full_mailbox);
	tcase_add_test(tc, test_maildir_without_maildirsize_or_tmp);
	tcase_add_test(tc, test_maildir_refused);
	tcase_add_test(tc, test_sendmail_ok);
	tcase_add_test(tc, test_sendmail_fails);
	tcase_add_test(tc, test_sendmail_timeout);
	tcase_add_test(tc, test_smtp_ok);
	tcase_add_test(tc, test_smtp_no_8bitmime);
	tcase_add_test(tc, test_smtp_helo_fallback);
	tcase_add_test(tc, test_smtp_refused);
	tcase_add_test(tc, test_smtp_full_and_later);
	tcase_add_test(tc, test_smtp_timeout_and_refused_connection);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(deliver_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
