/* SPDX-License-Identifier: MIT */
/*
 * check_buf - the growable string (lib/buf.h): appends past the first
 * allocation, embedded NULs, printf, truncate and reset keeping the memory,
 * steal; the string list (lib/strlist.h): growth, copies and taken
 * strings, lookup, reuse after free; and mq_assert, which must abort with
 * a "panic:" line.
 */
#include "autoconf.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "strlist.h"

/* A list past its first allocation keeps every string, copies and taken ones. */
START_TEST(test_strlist)
{
	struct mq_strlist l = { 0 };
	char name[32], *mine = xstrdup("taken");

	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "user%d@example.org", i);
		mq_strlist_add(&l, name);
	}
	name[0] = 'X';			/* the list holds a copy */
	mq_strlist_push(&l, mine);
	ck_assert_uint_eq(l.n, 101);
	ck_assert_str_eq(l.v[0], "user0@example.org");
	ck_assert_str_eq(l.v[99], "user99@example.org");
	ck_assert_ptr_eq(l.v[100], mine);
	ck_assert(mq_strlist_has(&l, "user42@example.org"));
	ck_assert(mq_strlist_has(&l, "taken"));
	ck_assert(!mq_strlist_has(&l, "user100@example.org"));
	ck_assert(!mq_strlist_has(&l, "USER1@example.org"));	/* exact */
	mq_strlist_free(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.v);
	ck_assert(!mq_strlist_has(&l, "taken"));
	mq_strlist_add(&l, "again");		/* usable after free */
	ck_assert_uint_eq(l.n, 1);
	mq_strlist_free(&l);
}
END_TEST

START_TEST(test_empty)
{
	struct mq_buf b = { NULL, 0, 0 };
	char *s;
	size_t len = 99;

	ck_assert_str_eq(mq_buf_str(&b), "");
	mq_buf_reset(&b);		/* nothing to reset: no crash */
	s = mq_buf_steal(&b, &len);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(len, 0);
	free(s);
	mq_buf_free(&b);
}
END_TEST

START_TEST(test_grow)
{
	struct mq_buf b = { NULL, 0, 0 };
	size_t i;

	for (i = 0; i < 1000; i++)
		mq_buf_addc(&b, (char)('a' + i % 26));
	ck_assert_uint_eq(b.len, 1000);
	ck_assert_uint_eq(strlen(b.s), 1000);
	ck_assert_int_eq(b.s[26], 'a');
	mq_buf_addcn(&b, '-', 5000);
	ck_assert_uint_eq(b.len, 6000);
	ck_assert_int_eq(b.s[5999], '-');
	ck_assert_int_eq(b.s[6000], '\0');
	mq_buf_free(&b);
	ck_assert_ptr_null(b.s);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(test_nul_inside)
{
	struct mq_buf b = { NULL, 0, 0 };

	mq_buf_add(&b, "a\0b", 3);
	mq_buf_adds(&b, "c");
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(memcmp(b.s, "a\0bc", 5), 0);
	mq_buf_free(&b);
}
END_TEST

START_TEST(test_printf)
{
	struct mq_buf b = { NULL, 0, 0 };
	char big[3000];

	mq_buf_printf(&b, "%s=%d", "n", 42);
	ck_assert_str_eq(mq_buf_str(&b), "n=42");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mq_buf_printf(&b, " %s.", big);
	ck_assert_uint_eq(b.len, 4 + 1 + 2999 + 1);
	ck_assert_int_eq(b.s[b.len - 1], '.');
	mq_buf_free(&b);
}
END_TEST

START_TEST(test_truncate_reset)
{
	struct mq_buf b = { NULL, 0, 0 };
	const char *mem;
	size_t cap;

	mq_buf_adds(&b, "hello, world");
	mq_buf_truncate(&b, 5);
	ck_assert_str_eq(b.s, "hello");
	mq_buf_truncate(&b, 50);	/* longer than the contents: no-op */
	ck_assert_str_eq(b.s, "hello");
	mem = b.s;
	cap = b.cap;
	mq_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(mq_buf_str(&b), "");
	mq_buf_adds(&b, "again");
	ck_assert_ptr_eq(b.s, mem);	/* the memory is reused */
	ck_assert_uint_eq(b.cap, cap);
	ck_assert_str_eq(b.s, "again");
	mq_buf_free(&b);
}
END_TEST

START_TEST(test_steal)
{
	struct mq_buf b = { NULL, 0, 0 };
	char *s;
	size_t len;

	mq_buf_adds(&b, "abc");
	s = mq_buf_steal(&b, &len);
	ck_assert_str_eq(s, "abc");
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_null(b.s);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	free(s);
}
END_TEST

/* assert_child - in a child: log to stderr (a pipe), fail an assertion. */
static void
assert_child(int errfd)
{
	dup2(errfd, STDERR_FILENO);
	mq_log_open("check_buf", LOG_USER, MQ_LOG_INFO, true, false);
	mq_assert(1 + 1 == 3);
	_exit(0);	/* not reached when mq_assert works */
}

START_TEST(test_assert_aborts)
{
	int fds[2], status;
	char out[512];
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		assert_child(fds[1]);
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	    "status %d: not killed by SIGABRT", status);
	ck_assert_msg(strstr(out, "panic: ") != NULL &&
	    strstr(out, "check_buf.c:") != NULL &&
	    strstr(out, ": assertion failed: 1 + 1 == 3") != NULL,
	    "logged: %s", out);
}
END_TEST

START_TEST(test_assert_true)
{
	int n = 0;

	mq_assert(n == 0);	/* a true condition is a no-op */
	mq_assert(++n == 1);	/* evaluated once */
	ck_assert_int_eq(n, 1);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_nul_inside);
	tcase_add_test(tc, test_printf);
	tcase_add_test(tc, test_truncate_reset);
	tcase_add_test(tc, test_steal);
	tcase_add_test(tc, test_strlist);
	tcase_add_test(tc, test_assert_aborts);
	tcase_add_test(tc, test_assert_true);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
