/* SPDX-License-Identifier: MIT */
/*
 * hook - mailquota-warn PERCENT USER, as Dovecot's quota_warning calls it:
 * send what Dovecot asks for and record it in the state, so that a later
 * sweep does not repeat it. A hook that cannot record leaves its records
 * in the Maildir (state.h) and the next sweep takes them over.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "state.h"
#include "warn.h"

/* parse_percent - "80", "+100", "-100", "below": threshold and direction; -1 bad. */
static int
parse_percent(const char *arg, unsigned *thr_r, enum mq_hook_dir *dir_r)
{
	uint64_t v;
	size_t n;

	*dir_r = MQ_HOOK_UP;
	if (strcmp(arg, "below") == 0) {
		*dir_r = MQ_HOOK_DOWN;
		*thr_r = 100;
		return 0;
	}
	if (arg[0] == '+' || arg[0] == '-') {
		*dir_r = arg[0] == '-' ? MQ_HOOK_DOWN : MQ_HOOK_UP;
		arg++;
	}
	n = strcspn(arg, "%");	/* "80%" is taken too */
	if (n == 0 || (arg[n] == '%' && arg[n + 1] != '\0') ||
	    mq_parse_u64n(arg, n, &v) < 0 || v < 1 || v > 100)
		return -1;
	*thr_r = (unsigned)v;
	return 0;
}

/*
 * leave_pending - what the hook could not put in the state goes into the
 * Maildir (state.h), where the next sweep takes it over: a warning sent
 * unrecorded is not sent again.
 */
static bool
leave_pending(struct warn *w, const struct figures *f, const struct mq_warn_marks *m,
    unsigned armed_from)
{
	char why[1024];
	int dfd = -1;
	bool ok = false;

	if (w->cfg->warn.state[0] == '\0')
		return false;
	if (mq_maildir_open(w->cfg->maildir.base, f->maildir, &dfd, why, sizeof(why)) !=
	    MQ_FOUND || mq_state_pending_write(dfd, f->user, m, armed_from, why,
	    sizeof(why)) < 0) {
		report(MQ_LOG_ERR, "user=%s: not recorded anywhere, a sweep may send it "
		    "again: %s", f->shown, why);
	} else {
		report(MQ_LOG_NOTICE, "user=%s: recorded in the Maildir's %s for the next "
		    "sweep", f->shown, MQ_STATE_PENDING);
		ok = true;
	}
	if (dfd >= 0)
		close(dfd);
	return ok;
}

/* The hook's call: what Dovecot asked for, and where its records went. */
struct hook {
	unsigned thr;
	enum mq_hook_dir dir;
	struct figures f;
	struct mq_warn_plan plan;
	bool pending;		/* the records are in the Maildir */
};

/* check_args - PERCENT and USER: 0, or EX_USAGE (said on stderr). */
static int
check_args(const char *percent_arg, const char *user, struct hook *h)
{
	char u[128];

	if (parse_percent(percent_arg, &h->thr, &h->dir) < 0) {
		fprintf(stderr, "mailquota-warn: PERCENT must be 1 to 100, +N, -N or "
		    "below, not \"%s\"\n", mq_shown(u, sizeof(u), percent_arg));
		return EX_USAGE;
	}
	if (user[0] == '\0' || strlen(user) > MQ_ADDRESS_MAX) {
		fprintf(stderr, "mailquota-warn: USER must be a mailbox address\n");
		return EX_USAGE;
	}
	return 0;
}

/*
 * plan_hook - open the state (the hook goes on without it), decide what
 * to send, and record the re-armed marks before sending.
 */
static void
plan_hook(struct warn *w, struct hook *h, int64_t now)
{
	struct mq_warn_marks marks;
	char error[1024];

	memset(&marks, 0, sizeof(marks));
	if (w->cfg->warn.state[0] != '\0' && mq_state_open(w->cfg->warn.state,
	    HOOK_LOCK_WAIT, &w->state, error, sizeof(error)) != MQ_STATE_OK)
		report(MQ_LOG_WARNING, "state not recorded: %s", error);
	if (w->state != NULL)
		mq_state_get(w->state, h->f.user, &marks);
	mq_warn_hook_plan(&w->pol, &marks, h->dir, h->thr, h->f.used, h->f.limit, now,
	    &h->plan);
	if (w->state != NULL && mq_state_put(w->state, h->f.user, &h->plan.now, false,
	    error, sizeof(error)) < 0) {
		report(MQ_LOG_WARNING, "state not recorded: %s", error);
		mq_state_close(&w->state);
	}
}

/* armed_from - for a mailbox back under: the slots from thr up are re-armed. */
static unsigned
armed_from(const struct hook *h)
{
	return h->dir == MQ_HOOK_DOWN ? h->thr : 0;
}

/*
 * send_unrecorded - Dovecot does not ask twice: send it unrecorded, but
 * first leave the record in the Maildir, so that a sweep running meanwhile
 * does not send it too; put back when the hand-over fails.
 */
static int
send_unrecorded(struct warn *w, struct hook *h, int64_t now, char *error, size_t errlen)
{
	int r;

	if (w->state != NULL)
		report(MQ_LOG_WARNING, "state not recorded: %s", error);
	mq_state_close(&w->state);
	h->pending = leave_pending(w, &h->f, &h->plan.after, armed_from(h));
	r = hand_over(w, &h->f, &h->plan, now, error, errlen);
	if (h->pending && r < 0 && r != MQ_DELIVER_REFUSED)
		(void)leave_pending(w, &h->f, &h->plan.now, h->plan.slot);
	return r;
}

/* send_hook - the planned mail, recorded in the state or else in the Maildir. */
static int
send_hook(struct warn *w, struct hook *h, int64_t now)
{
	char error[1024];
	int r;

	if (h->plan.send == MQ_SEND_NONE) {
		mq_info("user=%s is back under %u %%: re-armed; no back-under "
		    "template, nothing sent", h->f.shown, h->thr);
		return 0;
	}
	r = w->state != NULL ? hand_over(w, &h->f, &h->plan, now, error, sizeof(error)) : -2;
	if (r == -2)
		r = send_unrecorded(w, h, now, error, sizeof(error));
	if (r == MQ_DELIVER_REFUSED)
		report(MQ_LOG_WARNING, "refused: user=%s threshold=%u: %s", h->f.shown,
		    h->thr, error);
	else if (r < 0)
		report(MQ_LOG_WARNING, "not sent: user=%s threshold=%u: %s", h->f.shown,
		    h->thr, error);
	return r;
}

int
run_hook(struct warn *w, const char *percent_arg, const char *user)
{
	struct hook h = { 0 };
	int64_t now = (int64_t)time(NULL);
	char error[1024], u[128];
	int r;

	if ((r = check_args(percent_arg, user, &h)) != 0 ||
	    (r = load_templates(w, h.thr)) != 0)
		return r;
	if (lookup(w, user, &h.f, error, sizeof(error)) != MQ_FOUND) {
		report(MQ_LOG_WARNING, "not sent: user=%s threshold=%u: %s",
		    mq_shown(u, sizeof(u), user), h.thr, error);
		return EX_TEMPFAIL;
	}
	plan_hook(w, &h, now);
	r = send_hook(w, &h, now);
	if ((r == 0 || r == MQ_DELIVER_REFUSED) && !h.pending &&
	    w->cfg->warn.state[0] != '\0' && (w->state == NULL || w->unrecorded))
		(void)leave_pending(w, &h.f, &h.plan.after, armed_from(&h));
	if (w->state != NULL && mq_state_bloated(w->state) &&
	    mq_state_compact(w->state, false, error, sizeof(error)) < 0)
		mq_warn("state: %s", error);
	mq_state_close(&w->state);
	free(h.f.maildir);
	return r == 0 ? 0 : r == MQ_DELIVER_REFUSED ? EX_UNAVAILABLE : EX_TEMPFAIL;
}
