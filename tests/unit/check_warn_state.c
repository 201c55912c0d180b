/* SPDX-License-Identifier: MIT */
/*
 * check_warn_state - the warning state file on a real file system: records
 * survive a reopen, the last record wins, torn and junk lines are skipped,
 * compaction keeps exactly the live marks, the lock excludes a second
 * opener, a process killed after "sending" leaves that mark behind, a
 * symlinked state file is refused, the files are 0660 whatever the umask,
 * and the records a hook leaves in a Maildir are applied in order.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "warn/state.h"

static char dir[64];
static char path[128];

static void
setup(void)
{
	mq_strlcpy(dir, "/tmp/check_warn_state.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/warn.state", dir);
}

static void
teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *
read_text(const char *p)
{
	static char buf[65536];
	FILE *f = fopen(p, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct mq_state *
open_ok(void)
{
	struct mq_state *st;
	char error[256];

	ck_assert_int_eq(mq_state_open(path, 0, &st, error, sizeof(error)), MQ_STATE_OK);
	return st;
}

static void
put(struct mq_state *st, const char *user, unsigned slot, unsigned mark, int64_t when)
{
	struct mq_warn_marks m;
	char error[256];

	mq_state_get(st, user, &m);
	m.mark[slot] = (uint8_t)mark;
	m.when[slot] = when;
	ck_assert_int_eq(mq_state_put(st, user, &m, true, error, sizeof(error)), 0);
}

static unsigned
mark_of(struct mq_state *st, const char *user, unsigned slot, int64_t *when)
{
	struct mq_warn_marks m;

	mq_state_get(st, user, &m);
	if (when != NULL)
		*when = m.when[slot];
	return m.mark[slot];
}

START_TEST(test_roundtrip)
{
	struct mq_state *st = open_ok();
	const char *odd = "we ird%\xc3\xa4@example.org";
	int64_t when;

	put(st, "alice@example.org", 80, MQ_MARK_SENT, 100);
	put(st, "bob@example.org", 95, MQ_MARK_SENDING, 200);
	put(st, "bob@example.org", MQ_WARN_BELOW, MQ_MARK_SENT, 300);
	put(st, odd, 100, MQ_MARK_SENT, 400);
	mq_state_close(&st);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(strstr(read_text(path), "we%20ird%25%C3%A4@example.org 100 sent 400\n"));
	ck_assert_ptr_nonnull(strstr(read_text(path), "bob@example.org below sent 300\n"));

	st = open_ok();
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, &when), MQ_MARK_SENT);
	ck_assert_int_eq(when, 100);
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 95, NULL), MQ_MARK_ARMED);
	ck_assert_uint_eq(mark_of(st, "bob@example.org", 95, &when), MQ_MARK_SENDING);
	ck_assert_int_eq(when, 200);
	ck_assert_uint_eq(mark_of(st, "bob@example.org", MQ_WARN_BELOW, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, odd, 100, &when), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "nobody@example.org", 80, NULL), MQ_MARK_ARMED);
	ck_assert_uint_eq(mq_state_skipped(st), 0);

	/* the last record wins; armed removes */
	put(st, "alice@example.org", 80, MQ_MARK_ARMED, 0);
	put(st, "bob@example.org", 95, MQ_MARK_SENT, 250);
	mq_state_close(&st);
	st = open_ok();
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, NULL), MQ_MARK_ARMED);
	ck_assert_uint_eq(mark_of(st, "bob@example.org", 95, &when), MQ_MARK_SENT);
	ck_assert_int_eq(when, 250);
	mq_state_close(&st);
}
END_TEST

/*
 * The longest user the programs take, every byte escaped three times as
 * long, survives a reopen and a compaction; one byte more is refused
 * with an error rather than written as a line replay would skip.
 */
START_TEST(test_longest_user)
{
	static char user[MQ_ADDRESS_MAX + 2];
	const char *domain = "@example.org";
	size_t dlen = strlen(domain), i;
	struct mq_warn_marks m;
	struct mq_state *st = open_ok();
	char error[256];
	int64_t when;

	for (i = 0; i + dlen < MQ_ADDRESS_MAX; i += 2)
		memcpy(user + i, "\xc3\xa9", 2);	/* é */
	i -= (i + dlen - MQ_ADDRESS_MAX);
	memcpy(user + i, domain, dlen + 1);
	ck_assert_uint_eq(strlen(user), MQ_ADDRESS_MAX);
	put(st, user, MQ_WARN_BELOW, MQ_MARK_REFUSED, INT64_MIN);
	put(st, user, 100, MQ_MARK_SENDING, -1);
	mq_state_close(&st);

	st = open_ok();
	ck_assert_uint_eq(mq_state_skipped(st), 0);
	ck_assert_uint_eq(mark_of(st, user, MQ_WARN_BELOW, &when), MQ_MARK_REFUSED);
	ck_assert_int_eq(when, INT64_MIN);
	ck_assert_uint_eq(mark_of(st, user, 100, &when), MQ_MARK_SENDING);
	ck_assert_int_eq(mq_state_compact(st, false, error, sizeof(error)), 0);
	mq_state_close(&st);
	st = open_ok();
	ck_assert_uint_eq(mq_state_skipped(st), 0);
	ck_assert_uint_eq(mark_of(st, user, 100, NULL), MQ_MARK_SENDING);

	memmove(user + 1, user, MQ_ADDRESS_MAX + 1);
	user[0] = 'x';
	mq_state_get(st, user, &m);
	m.mark[80] = MQ_MARK_SENT;
	ck_assert_int_eq(mq_state_put(st, user, &m, true, error, sizeof(error)), -1);
	ck_assert_ptr_nonnull(strstr(error, "longer than"));
	mq_state_close(&st);
}
END_TEST

START_TEST(test_unchanged_writes_nothing)
{
	struct mq_state *st = open_ok();
	struct mq_warn_marks m;
	struct stat a, b;
	char error[256];

	put(st, "alice@example.org", 80, MQ_MARK_SENT, 100);
	ck_assert_int_eq(stat(path, &a), 0);
	mq_state_get(st, "alice@example.org", &m);
	ck_assert_int_eq(mq_state_put(st, "alice@example.org", &m, true, error,
	    sizeof(error)), 0);
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(mq_state_put(st, "carol@example.org", &m, true, error,
	    sizeof(error)), 0);
	ck_assert_int_eq(stat(path, &b), 0);
	ck_assert_int_eq(a.st_size, b.st_size);
	mq_state_close(&st);
}
END_TEST

START_TEST(test_torn_and_junk)
{
	struct mq_state *st;
	char longline[3000];

	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	write_file(path, "# comment\n"
	    "alice@example.org 80 sent 5\n"
	    "garbage\n"
	    "alice@example.org 101 sent 1\n"
	    "alice@example.org 0 sent 1\n"
	    "alice@example.org 95 sent\n"
	    "alice@example.org 95 bogus 1\n"
	    "alice@example.org 95 sent 1 extra\n"
	    "alice@example.org  95 sent 1\n"
	    "bad%2 80 sent 1\n"
	    "bad%00 80 sent 1\n"
	    "\n"
	    "carol@example.org 100 sent -7\n");
	{
		FILE *f = fopen(path, "a");

		fputs(longline, f);
		fputs("dave@example.org 80 sent 9\n", f);
		fputs("bob@example.org 95 se", f);	/* torn: the writer died */
		fclose(f);
	}
	st = open_ok();
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 95, NULL), MQ_MARK_ARMED);
	ck_assert_uint_eq(mark_of(st, "carol@example.org", 100, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "dave@example.org", 80, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "bob@example.org", 95, NULL), MQ_MARK_ARMED);
	/* 9 bad lines, the overlong one, the torn one */
	ck_assert_uint_eq(mq_state_skipped(st), 11);
	/* the next record starts on a line of its own */
	put(st, "erin@example.org", 80, MQ_MARK_SENT, 11);
	mq_state_close(&st);
	ck_assert_ptr_nonnull(strstr(read_text(path), "bob@example.org 95 se\nerin@example.org 80 sent 11\n"));
	st = open_ok();
	ck_assert_uint_eq(mark_of(st, "erin@example.org", 80, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mq_state_skipped(st), 11);
	mq_state_close(&st);
}
END_TEST

START_TEST(test_compact)
{
	struct mq_state *st = open_ok();
	char error[256], tmp[160];
	const char *text;
	int lines = 0;

	for (int i = 0; i < 50; i++) {
		put(st, "alice@example.org", 80, MQ_MARK_SENDING, i);
		put(st, "alice@example.org", 80, MQ_MARK_SENT, i);
	}
	put(st, "bob@example.org", 95, MQ_MARK_SENT, 7);
	put(st, "gone@example.org", 95, MQ_MARK_SENT, 8);
	put(st, "armed@example.org", 95, MQ_MARK_SENT, 8);
	put(st, "armed@example.org", 95, MQ_MARK_ARMED, 0);
	mq_state_close(&st);

	st = open_ok();
	ck_assert(!mq_state_bloated(st));	/* 104 records: below the slack */
	mark_of(st, "alice@example.org", 80, NULL);	/* seen */
	mark_of(st, "bob@example.org", 95, NULL);
	mark_of(st, "armed@example.org", 95, NULL);
	ck_assert_int_eq(mq_state_compact(st, true, error, sizeof(error)), 0);
	text = read_text(path);
	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 3);	/* the header and two live marks */
	ck_assert_ptr_nonnull(strstr(text, "alice@example.org 80 sent 49\n"));
	ck_assert_ptr_nonnull(strstr(text, "bob@example.org 95 sent 7\n"));
	ck_assert_ptr_null(strstr(text, "gone@"));
	ck_assert_ptr_null(strstr(text, "armed@"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	/* appending goes on into the new file */
	put(st, "carol@example.org", 100, MQ_MARK_SENT, 9);
	mq_state_close(&st);
	st = open_ok();
	ck_assert_uint_eq(mark_of(st, "carol@example.org", 100, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, NULL), MQ_MARK_SENT);
	ck_assert_uint_eq(mark_of(st, "gone@example.org", 95, NULL), MQ_MARK_ARMED);
	mq_state_close(&st);
}
END_TEST

START_TEST(test_lock)
{
	struct mq_state *a, *b;
	char error[256];
	uint64_t t0;

	a = open_ok();
	ck_assert_int_eq(mq_state_open(path, 0, &b, error, sizeof(error)), MQ_STATE_BUSY);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(error, "held by another process"));
	t0 = mq_now_monotonic_us();
	ck_assert_int_eq(mq_state_open(path, 1, &b, error, sizeof(error)), MQ_STATE_BUSY);
	ck_assert_uint_ge(mq_now_monotonic_us() - t0, 900000);
	/* a reader without the lock (a dry run) still works */
	ck_assert_int_eq(mq_state_open_readonly(path, &b, error, sizeof(error)), MQ_STATE_OK);
	mq_state_close(&b);
	mq_state_close(&a);
	b = open_ok();
	mq_state_close(&b);
}
END_TEST

START_TEST(test_killed_after_sending)
{
	struct mq_state *st;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mq_state *c;
		struct mq_warn_marks m;
		char error[256];

		if (mq_state_open(path, 0, &c, error, sizeof(error)) != MQ_STATE_OK)
			_exit(1);
		memset(&m, 0, sizeof(m));
		m.mark[80] = MQ_MARK_SENDING;
		m.when[80] = 42;
		if (mq_state_put(c, "alice@example.org", &m, true, error, sizeof(error)) < 0)
			_exit(2);
		raise(SIGKILL);		/* no close, no cleanup */
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	st = open_ok();		/* the dead process's lock is gone */
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, NULL), MQ_MARK_SENDING);
	mq_state_close(&st);
}
END_TEST

START_TEST(test_refuses_symlink)
{
	struct mq_state *st;
	char error[256], target[160];

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_file(target, "");
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(mq_state_open(path, 0, &st, error, sizeof(error)), MQ_STATE_ERROR);
	ck_assert_ptr_null(st);
	ck_assert_int_eq(mq_state_open_readonly(path, &st, error, sizeof(error)), MQ_STATE_ERROR);
}
END_TEST

START_TEST(test_readonly_missing)
{
	struct mq_state *st;
	char error[256];

	ck_assert_int_eq(mq_state_open_readonly(path, &st, error, sizeof(error)), MQ_STATE_OK);
	ck_assert_uint_eq(mark_of(st, "alice@example.org", 80, NULL), MQ_MARK_ARMED);
	mq_state_close(&st);
	ck_assert_int_eq(access(path, F_OK), -1);	/* nothing created */
	snprintf(path, sizeof(path), "%s/no/such/dir/warn.state", dir);
	ck_assert_int_eq(mq_state_open(path, 0, &st, error, sizeof(error)), MQ_STATE_ERROR);
}
END_TEST

/* Whatever the umask, the state's files are 0660: the hook and the sweep share them. */
START_TEST(test_mode_whatever_umask)
{
	const char *names[] = { "", ".lock" };
	mode_t old = umask(0077);
	struct mq_state *st = open_ok();
	struct stat sb;
	char p[160], error[256];

	put(st, "alice@example.org", 80, MQ_MARK_SENT, 100);
	ck_assert_int_eq(mq_state_compact(st, false, error, sizeof(error)), 0);
	mq_state_close(&st);
	umask(old);
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s%s", path, names[i]);
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 07777, 0660);
	}
	/* a file an older version left 0600 gets 0660 on the next open */
	ck_assert_int_eq(chmod(path, 0600), 0);
	st = open_ok();
	mq_state_close(&st);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0660);
}
END_TEST

/* The records a hook leaves in the Maildir: appended, applied in order, removed. */
START_TEST(test_pending)
{
	struct mq_warn_marks m, got;
	char p[160];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(dfd, 0);
	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(mq_state_pending_read(dfd, "alice@example.org", &got), 0);
	memset(&m, 0, sizeof(m));
	m.mark[80] = MQ_MARK_SENT;
	m.when[80] = 100;
	m.mark[95] = MQ_MARK_SENT;
	m.when[95] = 100;
	ck_assert_int_eq(mq_state_pending_write(dfd, "alice@example.org", &m, 0, NULL, 0), 0);
	/* a failed hand-over puts 95 back: armed from 95 up */
	m.mark[95] = MQ_MARK_ARMED;
	ck_assert_int_eq(mq_state_pending_write(dfd, "alice@example.org", &m, 95, NULL, 0), 0);
	snprintf(p, sizeof(p), "%s/%s", dir, MQ_STATE_PENDING);
	ck_assert_ptr_nonnull(strstr(read_text(p), "alice@example.org 95 sent 100\n"));
	ck_assert_ptr_nonnull(strstr(read_text(p), "alice@example.org 95 armed 0\n"));

	memset(&got, 0, sizeof(got));
	got.mark[100] = MQ_MARK_SENT;		/* the state's own, untouched */
	ck_assert_int_gt(mq_state_pending_read(dfd, "alice@example.org", &got), 0);
	ck_assert_uint_eq(got.mark[80], MQ_MARK_SENT);
	ck_assert_int_eq(got.when[80], 100);
	ck_assert_uint_eq(got.mark[95], MQ_MARK_ARMED);
	ck_assert_uint_eq(got.mark[100], MQ_MARK_ARMED);	/* armed from 95 up */
	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(mq_state_pending_read(dfd, "bob@example.org", &got), 0);
	mq_state_pending_done(dfd);
	ck_assert_int_eq(access(p, F_OK), -1);
	close(dfd);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite *s = suite_create("warn_state");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_longest_user);
	tcase_add_test(tc, test_unchanged_writes_nothing);
	tcase_add_test(tc, test_torn_and_junk);
	tcase_add_test(tc, test_compact);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_killed_after_sending);
	tcase_add_test(tc, test_refuses_symlink);
	tcase_add_test(tc, test_readonly_missing);
	tcase_add_test(tc, test_mode_whatever_umask);
	tcase_add_test(tc, test_pending);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
