/*
 * mailquota - the administrator's command line.
 *
 * `check` runs the daemon's own decision (engine.c, the same code) for one
 * recipient and prints the action with the facts behind it.
 */
#include "autoconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "util.h"

#define EXIT_ACCEPT 0
#define EXIT_REJECT 1
#define EXIT_TEMPFAIL 2

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: mailquota [-c FILE] [-d] check RECIPIENT [--size BYTES] [--eom]\n"
	    "       mailquota -h | -V\n"
	    "\n"
	    "  -c FILE   configuration file (default %s)\n"
	    "  -d        debug logging on stderr\n"
	    "  check     print the action mailquota-policyd would send for RECIPIENT\n"
	    "            and the facts behind it; exit 0 accept, 1 reject, 2 tempfail\n"
	    "    --size BYTES  the message size (SIZE= at RCPT; default 0)\n"
	    "    --eom         decide as at END-OF-MESSAGE instead of RCPT\n",
	    mq_config_default_path());
}

static const char *
origin_name(enum mq_usage_origin o)
{
	switch (o) {
	case MQ_ORIGIN_MAILDIRSIZE: return "maildirsize";
	case MQ_ORIGIN_RECOUNT: return "recount";
	case MQ_ORIGIN_SQL: return "sql";
	default: return "no maildir yet";
	}
}

static void
print_limit(const char *label, uint64_t limit, uint64_t used, bool bytes)
{
	char a[32], b[32];

	if (bytes) {
		mq_human_bytes(a, sizeof(a), used);
		if (limit == 0)
			printf("  %-9s %s of unlimited", label, a);
		else
			printf("  %-9s %s of %s (%" PRIu64 " of %" PRIu64 " bytes)", label, a,
			    mq_human_bytes(b, sizeof(b), limit), used, limit);
	} else if (limit == 0) {
		printf("  %-9s %" PRIu64 " of unlimited", label, used);
	} else {
		printf("  %-9s %" PRIu64 " of %" PRIu64, label, used, limit);
	}
	printf("\n");
}

static void
print_verdict(const char *recipient, const struct mq_verdict *v)
{
	printf("action=%s\n", v->action);
	printf("outcome:    %s%s%s\n", mq_outcome_name(v->outcome),
	    v->dry_run ? " (dry_run: answered with reply_success)" : "",
	    v->on_error_pass ? " (on_error = pass: answered with reply_success)" : "");
	if (v->dry_run || v->on_error_pass)
		printf("withheld:   %s\n", v->withheld);
	printf("recipient:  %s (via %s)\n", recipient, v->how);
	if (v->reason[0] != '\0')
		printf("reason:     %s\n", v->reason);
	for (size_t i = 0; i < v->nboxes && i < MQ_VERDICT_BOXES; i++) {
		const struct mq_box_report *b = &v->boxes[i];

		printf("mailbox:    %s%s -> %s\n", b->address,
		    b->state.enabled ? "" : " (disabled)", mq_outcome_name(b->outcome));
		printf("  maildir   %s\n", b->maildir);
		print_limit("storage", b->state.limit_bytes, b->state.used_bytes, true);
		printf("            limit from %s, usage from %s\n", b->limit_source,
		    origin_name(b->usage_origin));
		print_limit("messages", b->state.limit_messages, b->state.used_messages, false);
	}
	if (v->nboxes > MQ_VERDICT_BOXES)
		printf("(and %zu more mailboxes)\n", v->nboxes - MQ_VERDICT_BOXES);
}

static int
cmd_check(const struct mq_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "eom", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct mq_check_request req = { .stage = MQ_STAGE_RCPT };
	struct mq_engine *engine;
	struct mq_session *session;
	struct mq_verdict v;
	int c;

	optind = 0;	/* glibc: re-initialise after main's getopt */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (mq_parse_u64(optarg, &req.size) < 0) {
				fprintf(stderr, "mailquota: --size: not a byte count: %s\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'e':
			req.stage = MQ_STAGE_EOM;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	req.recipient = argv[optind];
	req.recipient_len = strlen(argv[optind]);

	engine = mq_engine_new(cfg);
	session = mq_session_new(engine);
	mq_session_decide(session, &req, &v);
	print_verdict(argv[optind], &v);
	mq_session_free(&session);
	mq_engine_free(&engine);

	switch (v.outcome) {
	case MQ_OUT_TEMPFAIL:
		return EXIT_TEMPFAIL;
	case MQ_OUT_SUCCESS:
		return EXIT_ACCEPT;
	case MQ_OUT_NOUSER:
		/* reply_nouser may well be DUNNO: report what Postfix would do. */
		return strcmp(cfg->policy.reply_nouser, cfg->policy.reply_success) == 0 ?
		    EXIT_ACCEPT : EXIT_REJECT;
	default:
		return EXIT_REJECT;
	}
}

int
main(int argc, char **argv)
{
	const char *conf = mq_config_default_path();
	struct mq_config *cfg;
	char *error;
	bool debug = false;
	int c, rc;

	mq_log_open("mailquota", LOG_MAIL, MQ_LOG_WARNING, true, false);
	while ((c = getopt(argc, argv, "+c:dhV")) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mailquota %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (mq_config_load(conf, &cfg, &error) < 0) {
		fprintf(stderr, "mailquota: %s\n", error);
		free(error);
		return EX_CONFIG;
	}
	mq_log_set_level(debug ? MQ_LOG_DEBUG : MQ_LOG_WARNING);
	if (strcmp(argv[optind], "check") == 0) {
		rc = cmd_check(cfg, argc - optind, argv + optind);
	} else {
		fprintf(stderr, "mailquota: unknown command \"%s\" (try -h)\n", argv[optind]);
		rc = EX_USAGE;
	}
	mq_config_free(&cfg);
	return rc;
}
