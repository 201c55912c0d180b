/* SPDX-License-Identifier: MIT */
/*
 * check_util - the strict number parsers, bounded copies, log sanitising,
 * human-readable sizes, mq_write_all, the allocators that never return
 * NULL, the bounded condition wait and the monotonic clock.
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"

struct u64_row {
	const char *in;
	int rc;
	uint64_t value;		/* when rc == 0 */
};

static const struct u64_row u64_rows[] = {
	{ "0", 0, 0 },
	{ "1024", 0, 1024 },
	{ "007", 0, 7 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -1, 0 },	/* one past UINT64_MAX */
	{ "99999999999999999999", -1, 0 },
	{ "000000000000000000001", -1, 0 },	/* 21 digits: refused, not read */
	{ "", -1, 0 },
	{ "-1", -1, 0 },
	{ "+1", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1.5", -1, 0 },
	{ "0x10", -1, 0 },
	{ "1e3", -1, 0 },
	{ "abc", -1, 0 },
};

START_TEST(test_parse_u64)
{
	const struct u64_row *row = &u64_rows[_i];
	uint64_t v = 12345;

	ck_assert_msg(mq_parse_u64(row->in, &v) == row->rc, "\"%s\"", row->in);
	if (row->rc == 0)
		ck_assert_msg(v == row->value, "\"%s\" read as %llu", row->in,
		    (unsigned long long)v);
	else
		ck_assert_msg(v == 12345, "\"%s\": value written on failure", row->in);
}
END_TEST

START_TEST(test_parse_u64n_stops_at_len)
{
	uint64_t v;

	ck_assert_int_eq(mq_parse_u64n("123junk", 3, &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_int_eq(mq_parse_u64n("123junk", 4, &v), -1);
	ck_assert_int_eq(mq_parse_u64n("5", 0, &v), -1);
}
END_TEST

struct i64_row {
	const char *in;
	int rc;
	int64_t value;
};

static const struct i64_row i64_rows[] = {
	{ "0", 0, 0 },
	{ "-0", 0, 0 },
	{ "-5120", 0, -5120 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "9223372036854775808", -1, 0 },
	{ "-9223372036854775808", 0, INT64_MIN },
	{ "-9223372036854775809", -1, 0 },
	{ "-", -1, 0 },
	{ "--1", -1, 0 },
	{ "+1", -1, 0 },
	{ "", -1, 0 },
};

START_TEST(test_parse_i64n)
{
	const struct i64_row *row = &i64_rows[_i];
	int64_t v = 0;

	ck_assert_msg(mq_parse_i64n(row->in, strlen(row->in), &v) == row->rc,
	    "\"%s\"", row->in);
	if (row->rc == 0)
		ck_assert_msg(v == row->value, "\"%s\" read as %lld", row->in, (long long)v);
}
END_TEST

START_TEST(test_set_error_marks_a_cut)
{
	char buf[16], big[64];

	mq_set_error(buf, sizeof(buf), "%s", "short");
	ck_assert_str_eq(buf, "short");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mq_set_error(buf, sizeof(buf), "reason: %s", big);
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
	ck_assert_str_eq(buf, "reason: xxxx...");
	mq_set_error(NULL, 0, "%s", big);	/* no buffer: nothing written */
}
END_TEST

START_TEST(test_strlcpy)
{
	char buf[8];

	ck_assert_uint_eq(mq_strlcpy(buf, "short", sizeof(buf)), 5);
	ck_assert_str_eq(buf, "short");
	/* The return value tells the caller that the copy was cut. */
	ck_assert_uint_eq(mq_strlcpy(buf, "much too long", sizeof(buf)), 13);
	ck_assert_str_eq(buf, "much to");
	ck_assert_uint_eq(mq_strlcpy(buf, "", sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_sanitize)
{
	char buf[16];

	mq_sanitize(buf, sizeof(buf), "ok text", 7);
	ck_assert_str_eq(buf, "ok text");
	/* controls and 8-bit bytes never reach a log line as they are */
	mq_sanitize(buf, sizeof(buf), "a\nb\rc\x1b\xc3\xa9", 8);
	ck_assert_str_eq(buf, "a?b?c???");
	/* an embedded NUL is a control too: len, not strlen, counts */
	mq_sanitize(buf, sizeof(buf), "x\0y", 3);
	ck_assert_str_eq(buf, "x?y");
	/* longer than the buffer: cut, and the cut is visible */
	mq_sanitize(buf, sizeof(buf), "0123456789abcdefghij", 20);
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
	ck_assert_str_eq(buf, "0123456789ab...");
}
END_TEST

START_TEST(test_human_bytes)
{
	char buf[32];

	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), 0), "0 B");
	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), 1023), "1023 B");
	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), 1024), "1.0 KiB");
	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), 10485760), "10.0 MiB");
	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), UINT64_C(5) << 30), "5.0 GiB");
	ck_assert_str_eq(mq_human_bytes(buf, sizeof(buf), UINT64_MAX), "16.0 EiB");
}
END_TEST

START_TEST(test_write_all)
{
	static char big[1 << 20];	/* more than a pipe holds at once */
	int fds[2];
	size_t got = 0, bad = 0;
	pid_t pid;

	memset(big, 'm', sizeof(big));
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(mq_write_all(fds[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(fds[1]);
	for (;;) {
		char chunk[65536];
		ssize_t n = read(fds[0], chunk, sizeof(chunk));

		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		/* counted, asserted once below: check writes each passed
		 * assertion to its pipe, a million of them outlast the timeout */
		for (ssize_t i = 0; i < n; i++)
			bad += chunk[i] != 'm';
		got += (size_t)n;
	}
	close(fds[0]);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(got, sizeof(big));
	/* a closed reader is an error, not a hang or a short success */
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(mq_write_all(fds[1], "x", 1), -1);
	close(fds[1]);
}
END_TEST

/*
 * write_as - in a child running as uid:gid, mq_write_atomic "f" into the
 * directory dfd with owner: the child's exit status is 0 or 1 (-1 returned).
 */
static int
write_as(int dfd, uid_t uid, gid_t gid, enum mq_owner owner)
{
	char err[256];
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(2);
		_exit(mq_write_atomic(dfd, "f", "x\n", 2, 0660, owner, err,
		    sizeof(err)) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * mq_write_atomic's owner: root hands the file to the directory's owner
 * and group under either policy; a user who is not the directory's owner
 * fails under MQ_OWNER_DIR and keeps the file under MQ_OWNER_DIR_IF_ROOT
 * (a group-shared directory, as the warning state's). Needs root.
 */
START_TEST(test_write_atomic_owner)
{
	const uid_t owner = 1, user = 65534;	/* daemon, nobody */
	const gid_t group = 65534;
	char dir[] = "/tmp/mq-check-owner.XXXXXX", err[256];
	struct stat st;
	int dfd;

	if (geteuid() != 0)
		return;		/* the ownership rules need root to set up */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chown(dir, owner, group), 0);
	ck_assert_int_eq(chmod(dir, 02770), 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);

	ck_assert_int_eq(mq_write_atomic(dfd, "f", "x\n", 2, 0660,
	    MQ_OWNER_DIR_IF_ROOT, err, sizeof(err)), 0);
	ck_assert_int_eq(fstatat(dfd, "f", &st, 0), 0);
	ck_assert(st.st_uid == owner && st.st_gid == group);

	ck_assert_int_eq(write_as(dfd, user, group, MQ_OWNER_DIR), 1);
	ck_assert_int_eq(fstatat(dfd, "f", &st, 0), 0);
	ck_assert(st.st_uid == owner);		/* untouched */
	ck_assert_int_eq(write_as(dfd, user, group, MQ_OWNER_DIR_IF_ROOT), 0);
	ck_assert_int_eq(fstatat(dfd, "f", &st, 0), 0);
	ck_assert(st.st_uid == user && st.st_gid == group);
	ck_assert_int_eq(st.st_mode & 07777, 0660);

	ck_assert_int_eq(unlinkat(dfd, "f", 0), 0);
	close(dfd);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* mq_write_atomic: the new content in place, no temp file left behind. */
START_TEST(test_write_atomic)
{
	char dir[] = "/tmp/mq-check-util.XXXXXX", buf[64], err[256];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int dfd, fd, names = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(mq_write_atomic(dfd, "f", "old\n", 4, 0640,
	    MQ_OWNER_DIR, err, sizeof(err)), 0);
	ck_assert_int_eq(mq_write_atomic(dfd, "f", "new text\n", 9, 0600,
	    MQ_OWNER_DIR, err, sizeof(err)), 0);
	fd = openat(dfd, "f", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf));
	ck_assert_int_eq(n, 9);
	ck_assert(memcmp(buf, "new text\n", 9) == 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	close(fd);

	/* A name that cannot be replaced: an error, and no temp file stays. */
	ck_assert_int_eq(mkdirat(dfd, "sub", 0700), 0);
	ck_assert_int_eq(mq_write_atomic(dfd, "sub", "x", 1, 0600,
	    MQ_OWNER_DIR, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot rename"));
	d = fdopendir(dup(dfd));
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			names++;
	closedir(d);
	ck_assert_int_eq(names, 2);	/* "f" and "sub" */
	ck_assert_int_eq(unlinkat(dfd, "f", 0), 0);
	ck_assert_int_eq(unlinkat(dfd, "sub", AT_REMOVEDIR), 0);
	close(dfd);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_fnv1a)
{
	/* the published FNV-1a 64 test vectors */
	ck_assert(mq_fnv1a_str(MQ_FNV1A_INIT, "") == UINT64_C(0xcbf29ce484222325));
	ck_assert(mq_fnv1a_str(MQ_FNV1A_INIT, "a") == UINT64_C(0xaf63dc4c8601ec8c));
	ck_assert(mq_fnv1a_str(MQ_FNV1A_INIT, "foobar") == UINT64_C(0x85944171f73967e8));
}
END_TEST

START_TEST(test_xalloc)
{
	char *p;
	int *v;

	p = xstrndup("abcdef", 3);
	ck_assert_str_eq(p, "abc");
	free(p);
	p = xstrndup("ab", 10);		/* shorter than n: the whole string */
	ck_assert_str_eq(p, "ab");
	free(p);
	p = xasprintf("%s=%d", "size", 42);
	ck_assert_str_eq(p, "size=42");
	free(p);
	v = xcalloc(4, sizeof(*v));
	ck_assert(v[0] == 0 && v[3] == 0);
	v[3] = 7;
	v = xreallocarray(v, 1000, sizeof(*v));	/* grows, keeps what was there */
	ck_assert_int_eq(v[3], 7);
	free(v);
}
END_TEST

/* n * size past SIZE_MAX is refused, not wrapped: the process exits EX_OSERR. */
START_TEST(test_xreallocarray_overflow)
{
	void *p = xreallocarray(NULL, SIZE_MAX / 2 + 2, 2);

	free(p);	/* not reached */
}
END_TEST

/*
 * mq_cond_wait_ms - a wait nobody signals ends after the time given (and a
 * time of more than a second carries into tv_sec).
 */
START_TEST(test_cond_wait_times_out)
{
	static const unsigned waits[] = { 30, 1020 };
	pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	unsigned ms = waits[_i];
	uint64_t t0, took;
	int rc;

	pthread_mutex_lock(&mtx);
	t0 = mq_now_monotonic_us();
	do
		rc = mq_cond_wait_ms(&cond, &mtx, ms);
	while (rc == 0);	/* a spurious wake-up: wait again */
	took = mq_now_monotonic_us() - t0;
	pthread_mutex_unlock(&mtx);
	ck_assert_int_eq(rc, ETIMEDOUT);
	ck_assert_uint_ge(took, (uint64_t)ms * 1000 * 9 / 10);
	ck_assert_uint_lt(took, (uint64_t)ms * 1000 + 5000000);
}
END_TEST

START_TEST(test_monotonic_clock)
{
	uint64_t a = mq_now_monotonic_us(), b;

	usleep(2000);
	b = mq_now_monotonic_us();
	ck_assert_uint_gt(a, 0);
	ck_assert_uint_ge(b - a, 2000);
	ck_assert_uint_lt(b - a, 5000000);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	/* test_write_all forks and moves 1 MiB through a pipe */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_parse_u64, 0, (int)MQ_NELEM(u64_rows));
	tcase_add_test(tc, test_parse_u64n_stops_at_len);
	tcase_add_loop_test(tc, test_parse_i64n, 0, (int)MQ_NELEM(i64_rows));
	tcase_add_test(tc, test_set_error_marks_a_cut);
	tcase_add_test(tc, test_strlcpy);
	tcase_add_test(tc, test_sanitize);
	tcase_add_test(tc, test_human_bytes);
	tcase_add_test(tc, test_write_all);
	tcase_add_test(tc, test_write_atomic);
	tcase_add_test(tc, test_write_atomic_owner);
	tcase_add_test(tc, test_fnv1a);
	tcase_add_test(tc, test_xalloc);
	tcase_add_exit_test(tc, test_xreallocarray_overflow, EX_OSERR);
	tcase_add_loop_test(tc, test_cond_wait_times_out, 0, 2);
	tcase_add_test(tc, test_monotonic_clock);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
