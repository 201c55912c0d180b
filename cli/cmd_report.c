/* SPDX-License-Identifier: MIT */
/*
 * cmd_report - `mailquota report`: every mailbox of the users query (or of
 * one domain) read in parallel through mq_session_mailbox, so each figure
 * is the decision's own (maildirsize recounted where Maildir++ says so, or
 * the SQL usage query, as quota.usage says; never du), then grouped and
 * rendered by report_fmt.
 *
 * Mailboxes that cannot be read are reported (a warning each on stderr and
 * in the output) and make the exit status 2; the rest of the report is
 * still produced.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "cli_scan.h"
#include "engine.h"
#include "log.h"
#include "report_fmt.h"
#include "util.h"

#define DEFAULT_TOP 10
#define MAX_PERCENT 100000

#define NOT_LISTED "listed by the users query, but "

struct item {
	char address[MQ_ADDRESS_MAX + 1];
	char why[256];				/* the engine's reason */
	char error[sizeof(NOT_LISTED) + 256];	/* the report's, never cut */
};

struct scan {
	const struct mq_strlist *list;
	struct item *items;
	struct mq_report_box *boxes;
};

/* read_box - one mailbox, on a pool thread. */
static void
read_box(struct mq_session *s, size_t i, void *ctx)
{
	struct scan *sc = ctx;
	struct item *it = &sc->items[i];
	struct mq_report_box *b = &sc->boxes[i];
	struct mq_box_report rep = { 0 };
	const char *at;
	int r;

	r = mq_session_mailbox(s, sc->list->v[i], &rep, it->why, sizeof(it->why));
	if (r == MQ_FOUND)
		mq_strlcpy(it->address, rep.address, sizeof(it->address));
	else
		mq_sanitize(it->address, sizeof(it->address), sc->list->v[i],
		    strlen(sc->list->v[i]));
	at = strrchr(it->address, '@');
	b->address = it->address;
	b->domain = at != NULL ? at + 1 : "";
	if (r != MQ_FOUND) {
		snprintf(it->error, sizeof(it->error), "%s%s",
		    r == MQ_NOTFOUND ? NOT_LISTED : "", it->why);
		b->error = it->error;
		mq_box_report_clear(&rep);
		return;
	}
	b->enabled = rep.state.enabled;
	b->limit_bytes = rep.state.limit_bytes;
	b->used_bytes = rep.state.used_bytes;
	b->limit_messages = rep.state.limit_messages;
	b->used_messages = rep.state.used_messages;
	b->limit_source = rep.limit_source;
	b->usage_source = mq_cli_origin_name(rep.usage_origin);
	mq_box_report_clear(&rep);
}

/* parse_percent - "95" or "95%", 0 to MAX_PERCENT. */
static int
parse_percent(const char *s, uint64_t *pct_r)
{
	size_t len = strlen(s);

	if (len > 0 && s[len - 1] == '%')
		len--;
	return mq_parse_u64n(s, len, pct_r) == 0 && *pct_r <= MAX_PERCENT ? 0 : -1;
}

/* The command line of `mailquota report`. */
struct report_args {
	struct mq_report_opts ro;
	enum mq_report_format format;
	const char *domain;
};

/* report_option - one option into a: 0, or EX_USAGE (said on stderr). */
static int
report_option(int c, struct report_args *a, bool *top_given)
{
	uint64_t top;

	switch (c) {
	case 'd':
		a->domain = optarg;
		return 0;
	case 't':
		if (mq_parse_u64(optarg, &top) < 0 || top > SIZE_MAX) {
			fprintf(stderr, "mailquota: --top: not a count\n");
			return EX_USAGE;
		}
		a->ro.top = (size_t)top;
		*top_given = true;
		return 0;
	case 'o':
		if (parse_percent(optarg, &a->ro.over_percent) < 0) {
			fprintf(stderr, "mailquota: --over: a percentage from 0 to %d\n",
			    MAX_PERCENT);
			return EX_USAGE;
		}
		a->ro.over = true;
		return 0;
	case 'f':
		if (mq_report_format_parse(optarg, &a->format) < 0) {
			fprintf(stderr, "mailquota: --format: table, csv, json or html\n");
			return EX_USAGE;
		}
		return 0;
	case 'b':
		a->ro.raw_bytes = true;
		return 0;
	default:
		mq_cli_usage(stderr);
		return EX_USAGE;
	}
}

/* parse_args - the options of `mailquota report`: 0 or EX_USAGE. */
static int
parse_args(int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "top", required_argument, NULL, 't' },
		{ "over", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "bytes", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	bool top_given = false;
	int c, r;

	optind = 0;	/* glibc: re-initialise after main's getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if ((r = report_option(c, a, &top_given)) != 0)
			return r;
	if (optind != argc) {
		mq_cli_usage(stderr);
		return EX_USAGE;
	}
	/* --over lists every match unless --top caps it. */
	if (a->ro.over && !top_given)
		a->ro.top = 0;
	return 0;
}

/*
 * scan - every mailbox of the users query (or of the domain), read on the
 * pool into sc: MQ_EXIT_OK, or MQ_EXIT_TEMPFAIL when the query failed.
 */
static int
scan(const struct mq_config *cfg, struct report_args *a, struct mq_strlist *list,
    struct scan *sc)
{
	struct mq_engine *engine = mq_engine_new(cfg);
	struct mq_session *session = mq_session_new(engine);
	uint64_t start = mq_now_monotonic_us();
	char error[256];
	int r;

	r = mq_scan_users(session, a->domain, list, error, sizeof(error));
	mq_session_free(&session);
	if (r != MQ_FOUND) {
		fprintf(stderr, "mailquota: users query: %s\n", error);
		mq_engine_free(&engine);
		return MQ_EXIT_TEMPFAIL;
	}
	sc->list = list;
	sc->items = xcalloc(list->n > 0 ? list->n : 1, sizeof(*sc->items));
	sc->boxes = xcalloc(list->n > 0 ? list->n : 1, sizeof(*sc->boxes));
	mq_scan_run(engine, list->n, mq_scan_threads(cfg), read_box, sc);
	a->ro.seconds = (double)(mq_now_monotonic_us() - start) / 1e6;
	a->ro.generated = time(NULL);
	mq_engine_free(&engine);
	return MQ_EXIT_OK;
}

int
mq_cmd_report(const struct mq_config *cfg, int argc, char **argv)
{
	struct report_args a = { .ro = { .top = DEFAULT_TOP }, .format = MQ_REPORT_TABLE };
	struct mq_strlist list = { 0 };
	struct mq_report report;
	struct scan sc = { 0 };
	int rc;

	if ((rc = parse_args(argc, argv, &a)) != 0 ||
	    (rc = scan(cfg, &a, &list, &sc)) != MQ_EXIT_OK)
		return rc;
	for (size_t i = 0; i < list.n; i++) {
		if (sc.boxes[i].error != NULL) {
			mq_warn("%s: %s", sc.boxes[i].address, sc.boxes[i].error);
			rc = MQ_EXIT_TEMPFAIL;
		}
	}
	mq_report_build(&report, sc.boxes, list.n, &a.ro);
	if (mq_report_write(stdout, &report, a.format) < 0) {
		fprintf(stderr, "mailquota: cannot write the report\n");
		rc = EX_IOERR;
	} else if (rc == MQ_EXIT_OK && a.ro.over && report.nover > 0) {
		rc = MQ_EXIT_FOUND;
	}
	mq_report_free(&report);
	free(sc.items);
	free(sc.boxes);
	mq_strlist_free(&list);
	return rc;
}
