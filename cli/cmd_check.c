/* SPDX-License-Identifier: MIT */
/*
 * cmd_check - `mailquota check RECIPIENT`: the daemon's own decision
 * (engine.c, the same code path as a worker's) for one recipient, printed
 * with the facts behind it. Exit 0 accept, 1 reject, 2 tempfail.
 */
#include "autoconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "util.h"

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
	char shown[MQ_ADDRESS_MAX + 8], path[MQ_MAILDIR_PATH_MAX];

	printf("action=%s\n", v->action);
	printf("outcome:    %s%s%s\n", mq_outcome_name(v->outcome),
	    v->dry_run ? " (dry_run: answered with reply_success)" : "",
	    v->on_error_pass ? " (on_error = pass: answered with reply_success)" : "");
	if (v->dry_run || v->on_error_pass)
		printf("withheld:   %s\n", v->withheld);
	printf("recipient:  %s (via %s)\n",
	    mq_cli_shown(shown, sizeof(shown), recipient), mq_how_name(v->how));
	if (v->reason[0] != '\0')
		printf("reason:     %s\n", v->reason);
	for (size_t i = 0; i < v->nboxes && i < MQ_VERDICT_BOXES; i++) {
		const struct mq_box_report *b = &v->boxes[i];

		printf("mailbox:    %s%s -> %s\n", b->address,
		    b->state.enabled ? "" : " (disabled)", mq_outcome_name(b->outcome));
		printf("  maildir   %s\n", b->maildir != NULL ?
		    mq_cli_shown(path, sizeof(path), b->maildir) : "(not known)");
		print_limit("storage", b->state.limit_bytes, b->state.used_bytes, true);
		printf("            limit from %s, usage from %s\n", b->limit_source,
		    mq_cli_origin_name(b->usage_origin));
		print_limit("messages", b->state.limit_messages, b->state.used_messages, false);
	}
	if (v->nboxes > MQ_VERDICT_BOXES)
		printf("(and %zu more mailboxes)\n", v->nboxes - MQ_VERDICT_BOXES);
}

int
mq_cmd_check(const struct mq_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "eom", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct mq_check_request req = { .stage = MQ_STAGE_RCPT };
	struct mq_engine *engine;
	struct mq_session *session;
	struct mq_verdict v = { 0 };
	int c, code;

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
			mq_cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		mq_cli_usage(stderr);
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
		code = MQ_EXIT_TEMPFAIL;
		break;
	case MQ_OUT_SUCCESS:
		code = MQ_EXIT_OK;
		break;
	case MQ_OUT_NOUSER:
		/* reply_nouser may well be DUNNO: report what Postfix would do. */
		code = strcmp(cfg->policy.reply_nouser, cfg->policy.reply_success) == 0 ?
		    MQ_EXIT_OK : MQ_EXIT_FOUND;
		break;
	default:
		code = MQ_EXIT_FOUND;
		break;
	}
	mq_verdict_clear(&v);
	return code;
}
