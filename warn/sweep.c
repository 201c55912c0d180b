/* SPDX-License-Identifier: MIT */
/*
 * sweep - mailquota-warn --sweep: every mailbox of the users query,
 * decided by statemachine.c. "sending" is recorded before and "sent" after
 * each hand-over (state.c), so a sweep killed at any point and re-run
 * sends every due warning and repeats at most the one in flight. Records
 * a hook left in a Maildir are taken over first.
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

#define MAX_FAILS_IN_A_ROW 10	/* the sweep stops: the transport is down */

/* One sweep's tally, for its summary and its exit status. */
struct sweep {
	size_t sent, failed, unsendable, refused, lookups_failed;
	size_t in_a_row;	/* hand-overs failed since the last that worked */
	bool stopped;
};

/*
 * take_pending - the records a hook left in the Maildir, into the state:
 * applied to marks and written (synced) before the file is removed.
 */
static void
take_pending(struct warn *w, const struct figures *f, struct mq_warn_marks *marks)
{
	char why[1024];
	int dfd = -1, n;

	if (mq_maildir_open(w->cfg->maildir.base, f->maildir, &dfd, why, sizeof(why)) !=
	    MQ_FOUND)
		return;
	n = mq_state_pending_read(dfd, f->user, marks);
	if (n < 0)
		mq_warn("user=%s: %s: cannot be read", f->shown, MQ_STATE_PENDING);
	if (n > 0 && !w->dry_run) {
		if (mq_state_put(w->state, f->user, marks, true, why, sizeof(why)) == 0) {
			mq_info("user=%s: %d records the hook left in the Maildir taken over",
			    f->shown, n);
			mq_state_pending_done(dfd);
		} else {
			mq_error("state: %s", why);
		}
	}
	close(dfd);
}

/* open_state - the state, locked (read only for a dry run): 0 or the exit status. */
static int
open_state(struct warn *w)
{
	char error[1024];
	int r;

	if (w->dry_run)
		r = mq_state_open_readonly(w->cfg->warn.state, &w->state, error, sizeof(error));
	else
		r = mq_state_open(w->cfg->warn.state, 0, &w->state, error, sizeof(error));
	if (r == MQ_STATE_BUSY) {
		report(MQ_LOG_WARNING, "another sweep is running (%s)", error);
		return EX_TEMPFAIL;
	}
	if (r != MQ_STATE_OK) {
		report(MQ_LOG_ERR, "state: %s", error);
		return EX_TEMPFAIL;
	}
	if (mq_state_skipped(w->state) > 0)
		mq_warn("state %s: %zu unreadable lines skipped", w->cfg->warn.state,
		    mq_state_skipped(w->state));
	return 0;
}

/*
 * keep_unread - a mailbox whose lookup failed keeps its state: marked
 * seen under the engine's lower-case key, so compaction does not drop it.
 */
static void
keep_unread(struct warn *w, char *user)
{
	struct mq_warn_marks marks;

	for (char *c = user; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	mq_state_get(w->state, user, &marks);
}

/* count_hand_over - hand_over's result into the tally; stops after too many failures. */
static void
count_hand_over(struct sweep *sw, int r, const struct figures *f,
    const struct mq_warn_plan *plan, const char *error)
{
	if (r == -2) {
		report(MQ_LOG_ERR, "%s; stopping", error);
		sw->stopped = true;
	} else if (r == MQ_DELIVER_REFUSED) {
		/* this recipient's answer: recorded; the transport works, go on */
		report(MQ_LOG_WARNING, "refused: user=%s kind=%s threshold=%u: %s",
		    f->shown, kind_name(plan->send), plan->threshold, error);
		sw->refused++;
		sw->in_a_row = 0;
	} else if (r == -3) {
		/* the mailbox's data, not the transport: go on */
		report(MQ_LOG_WARNING, "cannot send: user=%s kind=%s threshold=%u: %s",
		    f->shown, kind_name(plan->send), plan->threshold, error);
		sw->unsendable++;
	} else if (r < 0) {
		report(MQ_LOG_WARNING, "not sent: user=%s kind=%s threshold=%u: %s",
		    f->shown, kind_name(plan->send), plan->threshold, error);
		sw->failed++;
		if (++sw->in_a_row >= MAX_FAILS_IN_A_ROW) {
			report(MQ_LOG_ERR, "%u deliveries failed in a row: "
			    "stopping the sweep", MAX_FAILS_IN_A_ROW);
			sw->stopped = true;
		}
	} else {
		sw->sent++;
		sw->in_a_row = 0;
	}
}

/* act - what the plan says for one mailbox: record the marks, send if due. */
static void
act(struct warn *w, struct sweep *sw, const struct figures *f,
    const struct mq_warn_marks *marks, const struct mq_warn_plan *plan, int64_t now)
{
	char error[1024];
	int r;

	if (w->dry_run) {
		if (plan->send != MQ_SEND_NONE && send_mail(w, f, plan->send,
		    plan->threshold, error, sizeof(error)) < 0)
			report(MQ_LOG_WARNING, "user=%s: %s", f->shown, error);
		else if (plan->send != MQ_SEND_NONE)
			sw->sent++;
		return;
	}
	if (mq_state_put(w->state, f->user, &plan->now, false, error, sizeof(error)) < 0) {
		report(MQ_LOG_ERR, "state: %s; stopping", error);
		sw->stopped = true;
		return;
	}
	if (plan->send == MQ_SEND_NONE)
		return;
	if (marks->mark[plan->slot] == MQ_MARK_SENDING)
		mq_notice("user=%s: sending again the %s for %u %% whose hand-over "
		    "was interrupted", f->shown, kind_name(plan->send), plan->threshold);
	r = hand_over(w, f, plan, now, error, sizeof(error));
	count_hand_over(sw, r, f, plan, error);
}

/* sweep_one - look one address of the users query up and act on its plan. */
static void
sweep_one(struct warn *w, struct sweep *sw, char *user)
{
	struct mq_warn_marks marks;
	struct mq_warn_plan plan;
	struct figures f;
	int64_t now = (int64_t)time(NULL);
	char error[1024], u[128];
	int r;

	r = lookup(w, user, &f, error, sizeof(error));
	if (r == MQ_TEMPFAIL) {
		report(MQ_LOG_WARNING, "user=%s: %s", mq_shown(u, sizeof(u), user), error);
		sw->lookups_failed++;
		keep_unread(w, user);
		return;
	}
	if (r == MQ_NOTFOUND) {
		mq_debug("user=%s: %s", mq_shown(u, sizeof(u), user), error);
		return;
	}
	mq_state_get(w->state, f.user, &marks);
	take_pending(w, &f, &marks);
	if (!f.enabled) {
		mq_debug("user=%s: disabled, not checked", f.shown);
	} else {
		mq_warn_plan(&w->pol, &marks, f.used, f.limit, now, &plan);
		act(w, sw, &f, &marks, &plan, now);
	}
	free(f.maildir);
}

int
run_sweep(struct warn *w)
{
	struct mq_strlist users = { 0 };
	struct sweep sw = { 0 };
	uint64_t t0 = mq_now_monotonic_us();
	char error[1024];
	bool complete;
	size_t i;
	int r;

	if (w->cfg->warn.state[0] == '\0') {
		report(MQ_LOG_ERR, "%s: warn.state is empty; --sweep needs a state file",
		    w->cfg->file);
		return EX_CONFIG;
	}
	if ((r = load_templates(w, 0)) != 0 || (r = open_state(w)) != 0)
		return r;
	if (mq_session_each_user(w->session, collect_user, &users, error,
	    sizeof(error)) == MQ_TEMPFAIL) {
		report(MQ_LOG_ERR, "users query: %s", error);
		mq_state_close(&w->state);
		return EX_TEMPFAIL;
	}
	for (i = 0; i < users.n && !sw.stopped; i++)
		sweep_one(w, &sw, users.v[i]);
	complete = i == users.n && !sw.stopped;
	if (!w->dry_run && complete &&
	    mq_state_compact(w->state, true, error, sizeof(error)) < 0)
		mq_warn("state: %s", error);
	mq_state_close(&w->state);
	mq_info("sweep%s: %zu mailboxes, %zu warnings %s, %zu refused, "
	    "%zu not handed over, %zu cannot be sent, %zu lookups failed, %.1f s%s",
	    w->dry_run ? " (dry run)" : "", users.n, sw.sent,
	    w->dry_run ? "due" : "sent", sw.refused, sw.failed, sw.unsendable,
	    sw.lookups_failed, (double)(mq_now_monotonic_us() - t0) / 1e6,
	    complete ? "" : ", stopped early");
	mq_strlist_free(&users);
	return sw.failed > 0 || sw.lookups_failed > 0 || !complete ? EX_TEMPFAIL : 0;
}
