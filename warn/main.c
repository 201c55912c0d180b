/* SPDX-License-Identifier: MIT */
/*
 * mailquota-warn - quota warnings: Dovecot's quota_warning hook, and a
 * sweep over every mailbox that remembers what it sent.
 *
 *   mailquota-warn [-c FILE] [-d] PERCENT USER     hook mode (hook.c)
 *   mailquota-warn [-c FILE] [-d] --sweep [--dry-run]     (sweep.c)
 *   mailquota-warn [-c FILE] [-d] --digest [--dry-run]    (digest.c)
 *
 * This file reads the command line and the configuration and runs the
 * mode. The figures come from the same engine as the policy daemon (limit
 * from the user row or maildirsize, usage from maildirsize or SQL); what
 * the modes share is in send.c.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "compose.h"
#include "warn.h"

#define DELIVER_TIMEOUT 60	/* seconds for sendmail, and for each SMTP step */

/* The command line. */
struct options {
	const char *conf;
	bool sweep, digest, dry_run, debug;
	int first;		/* argv index of PERCENT in hook mode */
};

static bool log_on_stderr;	/* the logger writes to stderr already */

void
report(enum mq_log_level level, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	mq_log(level, "%s", line);
	if (!log_on_stderr)
		fprintf(stderr, "mailquota-warn: %s\n", line);
	free(line);
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: mailquota-warn [-c FILE] [-d] PERCENT USER\n"
	    "       mailquota-warn [-c FILE] [-d] --sweep [--dry-run]\n"
	    "       mailquota-warn [-c FILE] [-d] --digest [--dry-run]\n"
	    "       mailquota-warn -h | -V\n"
	    "\n"
	    "  PERCENT    as Dovecot's quota_warning passes it: 80, 95, +100 (crossed\n"
	    "             upwards), -100 or below (back under)\n"
	    "  USER       the mailbox address\n"
	    "  --sweep    check every mailbox and send each threshold's warning once\n"
	    "  --digest   mail each domain's administrator its mailboxes over\n"
	    "             warn.digest_threshold\n"
	    "  --dry-run  with --sweep or --digest: print what would be sent, send\n"
	    "             and record nothing\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -d         debug logging on stderr\n"
	    "Exit status: 0 handed over, 69 refused by the recipient's server, 75 not\n"
	    "handed over (try again), 78 configuration error, 64 usage error.\n",
	    mq_config_default_path());
}

/* is_percent_arg - an argument that starts the positionals although it begins with '-'. */
static bool
is_percent_arg(const char *a)
{
	if (*a == '+' || *a == '-')
		a++;
	return *a >= '0' && *a <= '9';
}

/*
 * parse_option - one option at argv[*i] (moving *i past its value): 0,
 * -1 a usage error (said), or 1 when -h or -V has been answered.
 */
static int
parse_option(int argc, char **argv, int *i, struct options *o)
{
	const char *a = argv[*i];

	if (strcmp(a, "--sweep") == 0) {
		o->sweep = true;
	} else if (strcmp(a, "--digest") == 0) {
		o->digest = true;
	} else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
		o->dry_run = true;
	} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		usage(stdout);
		return 1;
	} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
		printf("mailquota-warn %s\n", PACKAGE_VERSION);
		return 1;
	} else if (strcmp(a, "-d") == 0) {
		o->debug = true;
	} else if (strncmp(a, "-c", 2) == 0 && (a[2] != '\0' || *i + 1 < argc)) {
		o->conf = a[2] != '\0' ? a + 2 : argv[++*i];
	} else {
		if (strncmp(a, "-c", 2) != 0)
			fprintf(stderr, "mailquota-warn: unknown option %s\n", a);
		usage(stderr);
		return -1;
	}
	return 0;
}

/*
 * parse_args - the options, then the mode's words: 0, or the exit status
 * (-h and -V answered: 0 with *done_r set).
 */
static int
parse_args(int argc, char **argv, struct options *o, bool *done_r)
{
	int i, r;

	/*
	 * Options by hand: "-100" is a PERCENT, not a cluster of options, and
	 * Dovecot's script service puts it after whatever options we were given.
	 */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0' || is_percent_arg(a))
			break;
		if ((r = parse_option(argc, argv, &i, o)) != 0) {
			*done_r = r > 0;
			return r > 0 ? 0 : EX_USAGE;
		}
	}
	o->first = i;
	/* hook mode: more words after USER (some sites pass %d too) are ignored */
	if ((o->sweep && o->digest) || ((o->sweep || o->digest) && argc - i != 0) ||
	    (!o->sweep && !o->digest && argc - i < 2) ||
	    (o->dry_run && !o->sweep && !o->digest)) {
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

/* setup - the configuration, the logger and the run's settings: 0 or EX_CONFIG. */
static int
setup(const struct options *o, struct mq_config **cfg_r, struct warn *w)
{
	const char *conf = o->conf != NULL ? o->conf : mq_config_default_path();
	struct mq_config *cfg;
	char *error = NULL;

	if (mq_config_load(conf, cfg_r, &error) < 0) {
		fprintf(stderr, "mailquota-warn: %s\n", error);
		free(error);
		return EX_CONFIG;
	}
	cfg = *cfg_r;
	log_on_stderr = o->debug || o->dry_run || isatty(STDERR_FILENO);
	mq_log_open("mailquota-warn", cfg->log.facility,
	    o->debug ? MQ_LOG_DEBUG : (enum mq_log_level)cfg->log.level, log_on_stderr, true);
	if (!mq_address_ok(cfg->warn.from)) {
		fprintf(stderr, "mailquota-warn: %s: warn.from: not a plain "
		    "user@domain address\n", cfg->file);
		return EX_CONFIG;
	}
	w->cfg = cfg;
	w->dry_run = o->dry_run;
	w->pol.thresholds = cfg->warn.thresholds;
	w->pol.nthresholds = cfg->warn.nthresholds;
	w->pol.rearm = (unsigned)cfg->warn.rearm;
	w->pol.renotify_hours = (unsigned)cfg->warn.renotify;
	w->dopts = (struct mq_deliver_opts){ .method = cfg->warn.delivery,
	    .sendmail = cfg->warn.sendmail, .smtp = cfg->warn.smtp,
	    .from = cfg->warn.from, .base = cfg->maildir.base,
	    .timeout = DELIVER_TIMEOUT };
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct mq_config *cfg = NULL;
	struct warn w = { 0 };
	bool done = false;
	int rc;

	mq_log_open("mailquota-warn", LOG_MAIL, MQ_LOG_WARNING, true, false);
	if ((rc = parse_args(argc, argv, &o, &done)) != 0 || done)
		return rc;
	if ((rc = setup(&o, &cfg, &w)) != 0) {
		mq_config_free(&cfg);
		return rc;
	}
	w.engine = mq_engine_new(cfg);
	w.session = mq_session_new(w.engine);

	rc = o.sweep ? run_sweep(&w) : o.digest ? run_digest(&w) :
	    run_hook(&w, argv[o.first], argv[o.first + 1]);

	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++)
		mq_template_free(&w.variant[s]);
	mq_template_free(&w.main_tmpl);
	mq_session_free(&w.session);
	mq_engine_free(&w.engine);
	mq_config_free(&cfg);
	return rc;
}
