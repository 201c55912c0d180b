/* SPDX-License-Identifier: MIT */
/*
 * warn - what the parts of mailquota-warn share: one run's settings and
 * handles (struct warn), a mailbox's figures, and the steps every mode
 * takes (send.c): load the templates, look a mailbox up, compose one mail,
 * hand a warning over and record it. The modes themselves are hook.c,
 * sweep.c and digest.c; main.c reads the command line and picks one.
 */
#ifndef MQ_WARN_WARN_H
#define MQ_WARN_WARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "deliver.h"
#include "engine.h"
#include "log.h"
#include "mq.h"
#include "statemachine.h"
#include "strlist.h"
#include "template.h"
#include "util.h"

#define HOOK_LOCK_WAIT 10	/* seconds hook mode waits for a running sweep's lock */

struct figures {
	char user[MQ_ADDRESS_MAX + 1];	/* the mailbox address, lower case */
	char shown[MQ_ADDRESS_MAX + 1];	/* the same, sanitised for log lines */
	const char *domain;		/* into user */
	char *maildir;			/* relative to maildir.base, any length */
	uint64_t used, limit, messages;
	bool enabled;
};

struct warn {
	const struct mq_config *cfg;
	struct mq_engine *engine;
	struct mq_session *session;
	struct mq_template *main_tmpl;
	struct mq_template *variant[MQ_WARN_SLOTS];	/* [0] back-under notice; NULL = main */
	bool variant_loaded[MQ_WARN_SLOTS];
	struct mq_warn_policy pol;
	struct mq_deliver_opts dopts;
	struct mq_state *state;		/* NULL: hook mode without a usable state */
	bool unrecorded;		/* a hand-over's "sent" could not be written */
	bool dry_run;
};

/* The modes: each returns the exit status. */
int run_hook(struct warn *w, const char *percent_arg, const char *user);
int run_sweep(struct warn *w);
int run_digest(struct warn *w);

/*
 * report - a problem for the log and for stderr: cron mails a sweep's
 * stderr, and Dovecot logs what a quota_warning script prints there.
 */
void report(enum mq_log_level level, const char *fmt, ...) MQ_PRINTF(2, 3);


/* load_templates - the main template and every configured variant: 0 or EX_CONFIG. */
int load_templates(struct warn *w, unsigned extra);

/*
 * load_checked - read a template and check that it composes: 1 loaded, 0
 * no such file, -1 with "PATH: why" in error.
 */
int load_checked(const char *path, struct mq_template **tmpl_r, char *error,
    size_t errlen);

/*
 * lookup - the mailbox's figures: MQ_FOUND, MQ_NOTFOUND (not a mailbox
 * here) or MQ_TEMPFAIL, with the reason in error.
 */
int lookup(struct warn *w, const char *user, struct figures *f, char *error,
    size_t errlen);

/* collect_user - mq_session_each_user's callback: the address into a struct mq_strlist. */
int collect_user(void *ctx, const char *address);

/*
 * The header fields of a mail sent now: its Date, the same date for the
 * text, and a new Message-ID in warn.from's domain.
 */
struct stamp {
	char date[64];
	char human[64];
	char mid[512];	/* 85 bytes before the '@', a domain of at most 255 */
};

void stamp_now(struct stamp *s, const char *from);

/* compose_to - the mail from warn.from to the address, from template and vars: 0 or -1. */
int compose_to(const struct warn *w, const char *to, const struct mq_template *t,
    const struct mq_tvar *vars, size_t nvars, const struct stamp *s,
    char **msg_r, size_t *len_r, char *error, size_t errlen);

const char *kind_name(enum mq_warn_send kind);

/*
 * send_mail - compose the mail for kind/threshold and hand it over (or, in
 * a dry run, print it). 0 handed over; -1 not handed over; -3 it cannot be
 * composed at all (no template, an address that is not plain), which
 * trying again will not change. The reason is in error.
 */
int send_mail(struct warn *w, const struct figures *f, enum mq_warn_send kind,
    unsigned threshold, char *error, size_t errlen);

/*
 * hand_over - record "sending", send, record "sent" (or put the marks back
 * when it failed). 0 handed over; -1 not (error set); -2 the state could
 * not be written (nothing sent); -3 the mail cannot be composed;
 * MQ_DELIVER_REFUSED the recipient's server refused it for good (recorded
 * as "refused").
 */
int hand_over(struct warn *w, const struct figures *f, const struct mq_warn_plan *plan,
    int64_t now, char *error, size_t errlen);

#endif
