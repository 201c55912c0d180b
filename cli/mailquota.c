/* SPDX-License-Identifier: MIT */
/*
 * mailquota - the administrator's command line: global options, the
 * configuration, then one command. Each command lives in its own file
 * (cmd_check.c, cmd_get.c, cmd_report.c, cmd_recalc.c); cli.h lists them
 * with the exit statuses they share.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "util.h"

static const struct command {
	const char *name;
	int (*run)(const struct mq_config *, int, char **);
} commands[] = {
	{ "check", mq_cmd_check },
	{ "get", mq_cmd_get },
	{ "report", mq_cmd_report },
	{ "recalc", mq_cmd_recalc },
};

void
mq_cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: mailquota [-c FILE] [-d] check RECIPIENT [--size BYTES] [--eom]\n"
	    "       mailquota [-c FILE] [-d] get USER [--format table|json]\n"
	    "       mailquota [-c FILE] [-d] report [--domain D] [--top N] [--over PCT]\n"
	    "                 [--format table|csv|json|html] [--bytes]\n"
	    "       mailquota [-c FILE] [-d] recalc [--dry-run] USER... | --all\n"
	    "       mailquota -h | -V\n"
	    "\n"
	    "  -c FILE   configuration file (default %s)\n"
	    "  -d        debug logging on stderr\n"
	    "  check     the action mailquota-policyd would send for RECIPIENT and the\n"
	    "            facts behind it; exit 0 accept, 1 reject, 2 tempfail\n"
	    "    --size BYTES  the message size (SIZE= at RCPT; default 0)\n"
	    "    --eom         decide as at END-OF-MESSAGE instead of RCPT\n"
	    "  get       quota of one mailbox, like doveadm quota get -u USER\n"
	    "  report    per-domain totals and the largest mailboxes\n"
	    "    --domain D    only that domain\n"
	    "    --top N       list the N largest mailboxes (default 10; 0 = none)\n"
	    "    --over PCT    list the mailboxes at or above PCT %% instead; exit 1\n"
	    "                  when there is any\n"
	    "    --format F    table (default), csv, json or html (one page)\n"
	    "    --bytes       table and html: bytes instead of KiB/MiB/GiB\n"
	    "  recalc    count every folder and rewrite maildirsize\n"
	    "    --all         every mailbox of the users query\n"
	    "    --dry-run     only show the drift; exit 1 when any\n"
	    "\n"
	    "exit: 0 ok, 1 reject/over/drift, 2 temporary failure, 64 usage,\n"
	    "      67 no such mailbox, 74 output error, 78 configuration error\n",
	    mq_config_default_path());
}

const char *
mq_cli_origin_name(enum mq_usage_origin o)
{
	switch (o) {
	case MQ_ORIGIN_MAILDIRSIZE: return "maildirsize";
	case MQ_ORIGIN_RECOUNT: return "recount";
	case MQ_ORIGIN_SQL: return "sql";
	default: return "none";
	}
}

const char *
mq_cli_shown(char *buf, size_t size, const char *s)
{
	mq_sanitize(buf, size, s, strlen(s));
	return buf;
}

int
main(int argc, char **argv)
{
	const char *conf = mq_config_default_path();
	const struct command *cmd = NULL;
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
			mq_cli_usage(stdout);
			return 0;
		case 'V':
			printf("mailquota %s\n", PACKAGE_VERSION);
			return 0;
		default:
			mq_cli_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		mq_cli_usage(stderr);
		return EX_USAGE;
	}
	for (size_t i = 0; i < MQ_NELEM(commands); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		char shown[64];

		fprintf(stderr, "mailquota: unknown command \"%s\" (try -h)\n",
		    mq_cli_shown(shown, sizeof(shown), argv[optind]));
		return EX_USAGE;
	}
	if (mq_config_load(conf, &cfg, &error) < 0) {
		fprintf(stderr, "mailquota: %s\n", error);
		free(error);
		return EX_CONFIG;
	}
	mq_log_set_level(debug ? MQ_LOG_DEBUG : MQ_LOG_WARNING);
	rc = cmd->run(cfg, argc - optind, argv + optind);
	mq_config_free(&cfg);
	return rc;
}
