/* SPDX-License-Identifier: MIT */
/*
 * cmd_get - `mailquota get USER`: one mailbox's quota the way
 * `doveadm quota get -u USER` prints it, so scripts written for one read
 * the other: a STORAGE row in KiB (rounded up) and a MESSAGE row, each
 * with Value, Limit ("-" for none) and % (integer, rounded down, of the
 * rounded figures), under the quota
 * name "User quota". --format json gives doveadm's json (every value a
 * string). The figures are the decision's own (mq_session_mailbox).
 */
#include "autoconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "engine.h"
#include "report_fmt.h"
#include "util.h"

#define QUOTA_NAME "User quota"

struct row {
	const char *type;
	char value[32];
	char limit[32];
	char percent[24];
};

/*
 * fill_row - value and limit in the row's unit, rounded up as doveadm
 * does ((v + unit - 1) / unit), and % of the two rounded figures.
 */
static void
fill_row(struct row *r, const char *type, uint64_t used, uint64_t limit,
    uint64_t unit)
{
	uint64_t v = used / unit + (used % unit != 0);
	uint64_t l = limit / unit + (limit % unit != 0);

	r->type = type;
	snprintf(r->value, sizeof(r->value), "%" PRIu64, v);
	if (limit == 0) {
		mq_strlcpy(r->limit, "-", sizeof(r->limit));
		mq_strlcpy(r->percent, "0", sizeof(r->percent));
	} else {
		snprintf(r->limit, sizeof(r->limit), "%" PRIu64, l);
		/* doveadm's uint64 arithmetic, a wrap included. */
		snprintf(r->percent, sizeof(r->percent), "%" PRIu64, v * 100 / l);
	}
}

static void
print_table(const struct row *rows, size_t n)
{
	size_t wv = strlen("Value"), wl = strlen("Limit"), wp = 1;

	for (size_t i = 0; i < n; i++) {
		if (strlen(rows[i].value) > wv)
			wv = strlen(rows[i].value);
		if (strlen(rows[i].limit) > wl)
			wl = strlen(rows[i].limit);
		if (strlen(rows[i].percent) > wp)
			wp = strlen(rows[i].percent);
	}
	printf("%-10s %-7s %*s %*s %*s\n", "Quota name", "Type", (int)wv,
	    "Value", (int)wl, "Limit", (int)wp, "%");
	for (size_t i = 0; i < n; i++)
		printf("%-10s %-7s %*s %*s %*s\n", QUOTA_NAME, rows[i].type,
		    (int)wv, rows[i].value, (int)wl, rows[i].limit, (int)wp,
		    rows[i].percent);
}

static void
print_json(const struct row *rows, size_t n)
{
	fputs("[", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%s{\"name\":\"%s\",\"type\":\"%s\",\"value\":\"%s\","
		    "\"limit\":\"%s\",\"percent\":\"%s\"}", i == 0 ? "" : ",",
		    QUOTA_NAME, rows[i].type, rows[i].value, rows[i].limit,
		    rows[i].percent);
	fputs("]\n", stdout);
}

int
mq_cmd_get(const struct mq_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	enum mq_report_format format = MQ_REPORT_TABLE;
	struct mq_engine *engine;
	struct mq_session *session;
	struct mq_box_report rep = { 0 };
	struct row rows[2];
	char error[256], shown[MQ_ADDRESS_MAX + 8];
	int c, r;

	optind = 0;	/* glibc: re-initialise after main's getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (mq_report_format_parse(optarg, &format) < 0 ||
			    (format != MQ_REPORT_TABLE && format != MQ_REPORT_JSON)) {
				fprintf(stderr, "mailquota: get --format: table or json\n");
				return EX_USAGE;
			}
			break;
		default:
			mq_cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		mq_cli_usage(stderr);
		return EX_USAGE;
	}
	mq_cli_shown(shown, sizeof(shown), argv[optind]);

	engine = mq_engine_new(cfg);
	session = mq_session_new(engine);
	r = mq_session_mailbox(session, argv[optind], &rep, error, sizeof(error));
	mq_session_free(&session);
	mq_engine_free(&engine);
	if (r == MQ_NOTFOUND) {
		fprintf(stderr, "mailquota: %s: no such mailbox\n", shown);
		return EX_NOUSER;
	}
	if (r != MQ_FOUND) {
		fprintf(stderr, "mailquota: %s: %s\n", shown, error);
		return MQ_EXIT_TEMPFAIL;
	}

	fill_row(&rows[0], "STORAGE", rep.state.used_bytes, rep.state.limit_bytes, 1024);
	fill_row(&rows[1], "MESSAGE", rep.state.used_messages,
	    rep.state.limit_messages, 1);
	mq_box_report_clear(&rep);
	if (format == MQ_REPORT_JSON)
		print_json(rows, MQ_NELEM(rows));
	else
		print_table(rows, MQ_NELEM(rows));
	return fflush(stdout) == 0 && !ferror(stdout) ? MQ_EXIT_OK : EX_IOERR;
}
