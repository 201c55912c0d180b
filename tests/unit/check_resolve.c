/* SPDX-License-Identifier: MIT */
/*
 * check_resolve - the resolver against an in-memory lookup table: alias
 * precedence, +extensions, catch-alls, "@domain" results, chains, loops,
 * remote destinations, alias domains, Postfix's limits, and failures passed
 * through. tests/integ/oracle_postfix.py holds the same rules against a
 * real Postfix.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "resolve.h"
#include "util.h"

struct row {
	enum mq_query_kind kind;
	const char *key;
	const char *value;	/* alias: destinations; domain/user: "1"/"0"; alias_domain: target */
};

static const struct row table[] = {
	{ MQ_Q_DOMAIN, "example.org", "1" },
	{ MQ_Q_DOMAIN, "example.com", "1" },
	{ MQ_Q_DOMAIN, "off.example", "0" },
	{ MQ_Q_ALIAS_DOMAIN, "alias.example", "example.org" },
	{ MQ_Q_DOMAIN, "alias.example", "1" },
	{ MQ_Q_USER, "anna@example.org", "1" },
	{ MQ_Q_USER, "bob@example.org", "1" },
	{ MQ_Q_USER, "carl@example.org", "0" },
	{ MQ_Q_USER, "carl@example.com", "0" },
	{ MQ_Q_DOMAIN, "old.example", "1" },
	{ MQ_Q_ALIAS, "@old.example", "@example.org" },
	{ MQ_Q_ALIAS, "fwd@example.org", "@example.com, bob@example.org" },
	{ MQ_Q_USER, "dora@example.com", "1" },
	{ MQ_Q_USER, "eve@off.example", "1" },
	{ MQ_Q_USER, "self@example.org", "1" },
	{ MQ_Q_USER, "tagged+x@example.org", "1" },
	{ MQ_Q_ALIAS, "info@example.org", "anna@example.org" },
	{ MQ_Q_ALIAS, "team@example.org", "anna@example.org, bob@example.org,someone@remote.test" },
	{ MQ_Q_ALIAS, "chain1@example.org", "chain2@example.org" },
	{ MQ_Q_ALIAS, "chain2@example.org", "chain3@example.org" },
	{ MQ_Q_ALIAS, "chain3@example.org", "dora@example.com" },
	{ MQ_Q_ALIAS, "loop1@example.org", "loop2@example.org" },
	{ MQ_Q_ALIAS, "loop2@example.org", "loop1@example.org bob@example.org" },
	{ MQ_Q_ALIAS, "self@example.org", "self@example.org anna@example.org" },
	{ MQ_Q_ALIAS, "remote@example.org", "x@remote.test y@remote.test" },
	{ MQ_Q_ALIAS, "anna+list@example.org", "bob@example.org" },
	{ MQ_Q_ALIAS, "@example.com", "dora@example.com" },
	{ MQ_Q_ALIAS, "twice@example.org", "anna@example.org info@example.org" },
	{ MQ_Q_ALIAS, "deep0@example.org", "deep1@example.org" },
	{ MQ_Q_ALIAS, "deep1@example.org", "deep2@example.org" },
	{ MQ_Q_ALIAS, "deep2@example.org", "deep3@example.org" },
	{ MQ_Q_ALIAS, "deep3@example.org", "deep4@example.org" },
	{ MQ_Q_ALIAS, "deep4@example.org", "deep5@example.org" },
	{ MQ_Q_ALIAS, "deep5@example.org", "deep6@example.org" },
	{ MQ_Q_ALIAS, "deep6@example.org", "deep7@example.org" },
	{ MQ_Q_ALIAS, "deep7@example.org", "deep8@example.org" },
	{ MQ_Q_ALIAS, "deep8@example.org", "deep9@example.org" },
	{ MQ_Q_ALIAS, "deep9@example.org", "deep10@example.org" },
	{ MQ_Q_ALIAS, "deep10@example.org", "deep11@example.org" },
	{ MQ_Q_ALIAS, "deep11@example.org", "anna@example.org" },
	{ MQ_Q_ALIAS, "fail@example.org", "broken@example.org" },
};

/* The mock's behaviour switches. */
static int fail_on_key_result;	/* returned for key "broken@example.org" */
static size_t lookups;

static const struct mq_record *
make_record(const struct row *r)
{
	struct mq_record *rec = xcalloc(1, sizeof(*rec));

	atomic_init(&rec->refs, 1);
	rec->kind = r->kind;
	switch (r->kind) {
	case MQ_Q_USER:
		rec->u.user.enabled = strcmp(r->value, "1") == 0;
		rec->u.user.has_quota_bytes = true;
		rec->u.user.quota_bytes = 1000;
		break;
	case MQ_Q_DOMAIN:
		rec->u.domain.enabled = strcmp(r->value, "1") == 0;
		break;
	case MQ_Q_ALIAS: {
		const char *p = r->value;

		while (*p != '\0') {
			size_t n;

			p += strspn(p, ", ");
			n = strcspn(p, ", ");
			if (n == 0)
				break;
			rec->u.alias.dest = xreallocarray(rec->u.alias.dest,
			    rec->u.alias.ndest + 1, sizeof(char *));
			rec->u.alias.dest[rec->u.alias.ndest++] = xstrndup(p, n);
			p += n;
		}
		break;
	}
	default:
		rec->u.text.value = xstrdup(r->value);
		break;
	}
	return rec;
}

static int
mock_get(void *ctx, enum mq_query_kind kind, const struct mq_key *key,
    const struct mq_record **rec_r)
{
	const char *k = kind == MQ_Q_DOMAIN || kind == MQ_Q_ALIAS_DOMAIN ?
	    key->domain : key->address;

	lookups++;
	*rec_r = NULL;
	if (strcmp(k, "broken@example.org") == 0 && fail_on_key_result != 0)
		return fail_on_key_result;
	for (size_t i = 0; i < MQ_NELEM(table); i++) {
		if (table[i].kind == kind && strcmp(table[i].key, k) == 0) {
			*rec_r = make_record(&table[i]);
			return MQ_FOUND;
		}
	}
	return MQ_NOTFOUND;
}

static struct mq_resolution res;

static const struct mq_resolve_opts opts = {
	.delimiters = "+-", .identity = true, .propagate = true,
};

static int
run(const char *recipient)
{
	struct mq_lookup lk = { .get = mock_get };

	for (size_t i = 0; i < MQ_Q_COUNT; i++)
		lk.has_query[i] = true;
	lookups = 0;
	return mq_resolve(&lk, recipient, strlen(recipient), &opts, &res);
}

/* boxes - the resolved mailboxes, sorted-insensitive join for comparison. */
static const char *
boxes(void)
{
	static char buf[1024];

	buf[0] = '\0';
	for (size_t i = 0; i < res.nboxes; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, res.boxes[i].addr.full);
	}
	return buf;
}

struct case_row {
	const char *recipient;
	int status;
	int via;		/* -1: do not check */
	const char *boxes;
	size_t nremote;
	bool domain_enabled;
};

static const struct case_row cases[] = {
	{ "anna@example.org", MQ_RES_FOUND, MQ_VIA_MAILBOX, "anna@example.org", 0, true },
	{ "Anna@Example.ORG", MQ_RES_FOUND, MQ_VIA_MAILBOX, "anna@example.org", 0, true },
	{ "<anna@example.org>", MQ_RES_FOUND, MQ_VIA_MAILBOX, "anna@example.org", 0, true },
	{ "anna+news@example.org", MQ_RES_FOUND, MQ_VIA_MAILBOX, "anna@example.org", 0, true },
	{ "anna-news@example.org", MQ_RES_FOUND, MQ_VIA_MAILBOX, "anna@example.org", 0, true },
	/* an exact alias on the full form wins over the mailbox without it */
	{ "anna+list@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "bob@example.org", 0, true },
	/* a mailbox whose name holds the delimiter is found as written */
	{ "tagged+x@example.org", MQ_RES_FOUND, MQ_VIA_MAILBOX, "tagged+x@example.org", 0, true },
	{ "info@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org", 0, true },
	{ "info+x@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org", 0, true },
	{ "team@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org bob@example.org", 1, true },
	{ "chain1@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "dora@example.com", 0, true },
	/* a loop without a way out: Postfix defers at the recursion limit */
	{ "loop1@example.org", MQ_RES_TOOBIG, -1, "", 0, true },
	{ "self@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "self@example.org anna@example.org", 0, true },
	{ "remote@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "", 2, true },
	{ "twice@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org", 0, true },
	/* the catch-all, and a mailbox beating it */
	{ "nobody@example.com", MQ_RES_FOUND, MQ_VIA_CATCHALL, "dora@example.com", 0, true },
	{ "dora@example.com", MQ_RES_FOUND, MQ_VIA_MAILBOX, "dora@example.com", 0, true },
	{ "nobody@example.org", MQ_RES_NOUSER, -1, "", 0, true },
	{ "someone@remote.test", MQ_RES_NOTLOCAL, -1, "", 0, true },
	{ "eve@off.example", MQ_RES_NOUSER, -1, "", 0, false },
	{ "ghost@off.example", MQ_RES_NOUSER, -1, "", 0, false },
	{ "bob@alias.example", MQ_RES_FOUND, MQ_VIA_MAILBOX, "bob@example.org", 0, true },
	{ "info@alias.example", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org", 0, true },
	{ "deep0@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "anna@example.org", 0, true },
	/* "@domain" results: the same local part there, less an unmatched extension */
	{ "anna@old.example", MQ_RES_FOUND, MQ_VIA_CATCHALL, "anna@example.org", 0, true },
	{ "anna+x@old.example", MQ_RES_FOUND, MQ_VIA_CATCHALL, "anna@example.org", 0, true },
	{ "ghost@old.example", MQ_RES_FOUND, MQ_VIA_CATCHALL, "", 1, true },
	/* Postfix reads "@b, x@c" for u@a as the one address "u@b, x"@c: no mailbox */
	{ "fwd@example.org", MQ_RES_FOUND, MQ_VIA_ALIAS, "", 1, true },
	/* a disabled mailbox is no alias of itself: the catch-all takes it */
	{ "carl@example.com", MQ_RES_FOUND, MQ_VIA_CATCHALL, "dora@example.com", 0, true },
	/* nothing but a disabled mailbox: that mailbox, for "disabled" */
	{ "carl@example.org", MQ_RES_FOUND, MQ_VIA_MAILBOX, "carl@example.org", 0, true },
	{ "not an address", MQ_RES_INVALID, -1, "", 0, true },
	{ "", MQ_RES_INVALID, -1, "", 0, true },
	/* a blank is a character of the local part (Postfix unquotes "a b"@d) */
	{ "x'; DROP TABLE virtual_users; --@example.org", MQ_RES_NOUSER, -1, "", 0, true },
	{ "postmaster", MQ_RES_INVALID, -1, "", 0, true },
	{ "../../etc/passwd@example.org", MQ_RES_NOUSER, -1, "", 0, true },
};

START_TEST(test_resolve_table)
{
	const struct case_row *c = &cases[_i];
	int r = run(c->recipient);

	ck_assert_msg(r == c->status, "%s: status %d, want %d", c->recipient, r, c->status);
	ck_assert_int_eq(res.status, c->status);
	if (c->status == MQ_RES_FOUND) {
		ck_assert_str_eq(boxes(), c->boxes);
		ck_assert_uint_eq(res.nremote, c->nremote);
		if (c->via >= 0)
			ck_assert_int_eq(res.via, c->via);
	}
	if (c->status == MQ_RES_FOUND || c->status == MQ_RES_NOUSER)
		ck_assert_msg(res.domain_enabled == c->domain_enabled, "%s: domain_enabled",
		    c->recipient);
	ck_assert_uint_le(lookups, 500);
	mq_resolution_release(&res);
	ck_assert_uint_eq(res.nboxes, 0);
}
END_TEST

START_TEST(test_failures_pass_through)
{
	fail_on_key_result = MQ_TEMPFAIL;
	ck_assert_int_eq(run("fail@example.org"), MQ_RES_TEMPFAIL);
	ck_assert_uint_eq(res.nboxes, 0);
	fail_on_key_result = MQ_MISS;
	ck_assert_int_eq(run("fail@example.org"), MQ_RES_MISS);
	ck_assert_uint_eq(res.nboxes, 0);
	fail_on_key_result = 0;
	ck_assert_int_eq(run("fail@example.org"), MQ_RES_FOUND);
	ck_assert_uint_eq(res.nboxes, 0);	/* broken@ does not exist: nothing local */
	mq_resolution_release(&res);
}
END_TEST

/*
 * Generated tables: "all@example.org" fans out to wide_n mailboxes, and
 * n<i>@example.org -> n<i+1>@example.org up to n<chain_n>, a mailbox.
 */
static size_t wide_n, chain_n;

static struct mq_record *
new_record(enum mq_query_kind kind)
{
	struct mq_record *rec = xcalloc(1, sizeof(*rec));

	atomic_init(&rec->refs, 1);
	rec->kind = kind;
	return rec;
}

static int
wide_get(void *ctx, enum mq_query_kind kind, const struct mq_key *key,
    const struct mq_record **rec_r)
{
	struct mq_record *rec;
	unsigned long i;
	char *end;

	(void)ctx;
	*rec_r = NULL;
	if (kind == MQ_Q_ALIAS && strcmp(key->address, "all@example.org") == 0) {
		rec = new_record(kind);
		rec->u.alias.ndest = wide_n;
		rec->u.alias.dest = xcalloc(rec->u.alias.ndest, sizeof(char *));
		for (size_t j = 0; j < rec->u.alias.ndest; j++)
			rec->u.alias.dest[j] = xasprintf("u%zu@example.org", j);
		*rec_r = rec;
		return MQ_FOUND;
	}
	if (kind == MQ_Q_ALIAS && key->local[0] == 'n' &&
	    (i = strtoul(key->local + 1, &end, 10), *end == '\0') && i < chain_n) {
		rec = new_record(kind);
		rec->u.alias.ndest = 1;
		rec->u.alias.dest = xcalloc(1, sizeof(char *));
		rec->u.alias.dest[0] = xasprintf("n%lu@example.org", i + 1);
		*rec_r = rec;
		return MQ_FOUND;
	}
	if (kind == MQ_Q_DOMAIN || (kind == MQ_Q_USER && (key->local[0] == 'u' ||
	    (key->local[0] == 'n' && strtoul(key->local + 1, NULL, 10) == chain_n)))) {
		rec = new_record(kind);
		rec->u.user.enabled = true;
		rec->u.domain.enabled = true;
		*rec_r = rec;
		return MQ_FOUND;
	}
	return MQ_NOTFOUND;
}

static int
run_wide(const char *recipient)
{
	struct mq_lookup lk = { .get = wide_get };

	lk.has_query[MQ_Q_ALIAS] = lk.has_query[MQ_Q_USER] = lk.has_query[MQ_Q_DOMAIN] = true;
	return mq_resolve(&lk, recipient, strlen(recipient), &opts, &res);
}

/* virtual_alias_expansion_limit: 1000 addresses are fine, 1001 are deferred. */
START_TEST(test_expansion_limit)
{
	wide_n = MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT;
	ck_assert_int_eq(run_wide("all@example.org"), MQ_RES_FOUND);
	ck_assert_uint_eq(res.nboxes, MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT);
	mq_resolution_release(&res);
	wide_n = MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT + 1;
	ck_assert_int_eq(run_wide("all@example.org"), MQ_RES_TOOBIG);
	ck_assert_uint_eq(res.nboxes, 0);
}
END_TEST

/*
 * virtual_alias_recursion_limit: cleanup stops before the 1000th rewrite
 * of one address, even when that lookup would find nothing.
 */
START_TEST(test_recursion_limit)
{
	chain_n = MQ_VIRTUAL_ALIAS_RECURSION_LIMIT - 1;
	ck_assert_int_eq(run_wide("n0@example.org"), MQ_RES_FOUND);
	ck_assert_uint_eq(res.nboxes, 1);
	mq_resolution_release(&res);
	chain_n = MQ_VIRTUAL_ALIAS_RECURSION_LIMIT;
	ck_assert_int_eq(run_wide("n0@example.org"), MQ_RES_TOOBIG);
	ck_assert_uint_eq(res.nboxes, 0);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_resolve_table, 0, (int)MQ_NELEM(cases));
	tcase_add_test(tc, test_failures_pass_through);
	tcase_add_test(tc, test_expansion_limit);
	tcase_add_test(tc, test_recursion_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(resolve_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mq_resolution_free(&res);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
