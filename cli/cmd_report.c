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

struct item {
	char address[MQ_ADDRESS_MAX + 1];
	char error[256];
};

struct scan {
	const struct mq_scan_list *list;
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
	struct mq_box_report rep;
	const char *at;
	int r;

	r = mq_session_mailbox(s, sc->list->addr[i], &rep, it->error,
	    sizeof(it->error));
	if (r == MQ_FOUND)
		mq_strlcpy(it->address, rep.address, sizeof(it->address));
	else
		mq_sanitize(it->address, sizeof(it->address), sc->list->addr[i],
		    strlen(sc->list->addr[i]));
	at = strrchr(it->address, '@');
	b->address = it->address;
	b->domain = at != NULL ? at + 1 : "";
	if (r != MQ_FOUND) {
		if (r == MQ_NOTFOUND) {
			char why[sizeof(it->error)];

			mq_strlcpy(why, it->error, sizeof(why));
			snprintf(it->error, sizeof(it->error),
			    "listed by the users query, but %.200s", why);
		}
		b->error = it->error;
		return;
	}
	b->enabled = rep.state.enabled;
	b->limit_bytes = rep.state.limit_bytes;
	b->used_bytes = rep.state.used_bytes;
	b->limit_messages = rep.state.limit_messages;
	b->used_messages = rep.state.used_messages;
	b->limit_source = rep.limit_source;
	b->usage_source = mq_cli_origin_name(rep.usage_origin);
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

int
mq_cmd_report(const struct mq_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "top", required_argument, NULL, 't' },
		{ "over", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "bytes", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct mq_report_opts ro = { .top = DEFAULT_TOP };
	enum mq_report_format format = MQ_REPORT_TABLE;
	struct mq_scan_list list = { 0 };
	struct mq_engine *engine;
	struct mq_session *session;
	struct mq_report report;
	struct scan sc = { 0 };
	const char *domain = NULL;
	char error[256];
	bool top_given = false;
	uint64_t top, start;
	int c, r, rc = MQ_EXIT_OK;

	optind = 0;	/* glibc: re-initialise after main's getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			domain = optarg;
			break;
		case 't':
			if (mq_parse_u64(optarg, &top) < 0 || top > SIZE_MAX) {
				fprintf(stderr, "mailquota: --top: not a count\n");
				return EX_USAGE;
			}
			ro.top = (size_t)top;
			top_given = true;
			break;
		case 'o':
			if (parse_percent(optarg, &ro.over_percent) < 0) {
				fprintf(stderr, "mailquota: --over: a percentage "
				    "from 0 to %d\n", MAX_PERCENT);
				return EX_USAGE;
			}
			ro.over = true;
			break;
		case 'f':
			if (mq_report_format_parse(optarg, &format) < 0) {
				fprintf(stderr, "mailquota: --format: table, csv, "
				    "json or html\n");
				return EX_USAGE;
			}
			break;
		case 'b':
			ro.raw_bytes = true;
			break;
		default:
			mq_cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		mq_cli_usage(stderr);
		return EX_USAGE;
	}
	/* --over lists every match unless --top caps it. */
	if (ro.over && !top_given)
		ro.top = 0;

	engine = mq_engine_new(cfg);
	session = mq_session_new(engine);
	start = mq_now_monotonic_us();
	r = mq_scan_users(session, domain, &list, error, sizeof(error));
	mq_session_free(&session);
	if (r != MQ_FOUND) {
		fprintf(stderr, "mailquota: users query: %s\n", error);
		mq_engine_free(&engine);
		return MQ_EXIT_TEMPFAIL;
	}

	sc.list = &list;
	sc.items = xcalloc(list.n > 0 ? list.n : 1, sizeof(*sc.items));
	sc.boxes = xcalloc(list.n > 0 ? list.n : 1, sizeof(*sc.boxes));
	mq_scan_run(engine, list.n, mq_scan_threads(cfg), read_box, &sc);
	ro.seconds = (double)(mq_now_monotonic_us() - start) / 1e6;
	ro.generated = time(NULL);
	mq_engine_free(&engine);

	for (size_t i = 0; i < list.n; i++) {
		if (sc.boxes[i].error != NULL) {
			mq_warn("%s: %s", sc.boxes[i].address, sc.boxes[i].error);
			rc = MQ_EXIT_TEMPFAIL;
		}
	}
	mq_report_build(&report, sc.boxes, list.n, &ro);
	if (mq_report_write(stdout, &report, format) < 0) {
		fprintf(stderr, "mailquota: cannot write the report\n");
		rc = EX_IOERR;
	} else if (rc == MQ_EXIT_OK && ro.over && report.nover > 0) {
		rc = MQ_EXIT_FOUND;
	}
	mq_report_free(&report);
	free(sc.items);
	free(sc.boxes);
	mq_scan_list_free(&list);
	return rc;
}
