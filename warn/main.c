/* SPDX-License-Identifier: MIT */
/*
 * mailquota-warn - quota warnings: Dovecot's quota_warning hook, and a
 * sweep over every mailbox that remembers what it sent.
 *
 *   mailquota-warn [-c FILE] [-d] PERCENT USER     hook mode
 *   mailquota-warn [-c FILE] [-d] --sweep [--dry-run]
 *   mailquota-warn [-c FILE] [-d] --digest [--dry-run]
 *
 * The figures come from the same engine as the policy daemon (limit from
 * the user row or maildirsize, usage from maildirsize or SQL). Hook mode
 * sends what Dovecot asks for and records it in the state, so a later
 * sweep does not repeat it. The sweep decides with statemachine.c and
 * records "sending" before and "sent" after each hand-over (state.c), so a
 * sweep killed at any point and re-run sends every due warning and repeats
 * at most the one in flight. A hook that cannot record leaves its records
 * in the Maildir (state.h) and the next sweep takes them over. --digest
 * mails each domain's administrator the list of its mailboxes at or over
 * warn.digest_threshold, at most once per warn.digest_interval hours
 * (recorded in the same state under the key "@DOMAIN").
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "compose.h"
#include "config.h"
#include "deliver.h"
#include "buf.h"
#include "engine.h"
#include "log.h"
#include "maildir.h"
#include "mq.h"
#include "state.h"
#include "statemachine.h"
#include "template.h"
#include "util.h"

#define DELIVER_TIMEOUT 60	/* seconds for sendmail, and for each SMTP step */
#define HOOK_LOCK_WAIT 10	/* seconds hook mode waits for a running sweep's lock */
#define MAX_FAILS_IN_A_ROW 10	/* the sweep stops: the transport is down */

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

static bool log_on_stderr;	/* the logger writes to stderr already */

/*
 * report - a problem for the log and for stderr: cron mails a sweep's
 * stderr, and Dovecot logs what a quota_warning script prints there.
 */
static void MQ_PRINTF(2, 3)
report(enum mq_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mq_log(level, "%s", line);
	if (!log_on_stderr)
		fprintf(stderr, "mailquota-warn: %s\n", line);
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

/* shown - an untrusted string for a log line. */
static const char *
shown(char *buf, size_t size, const char *s)
{
	mq_sanitize(buf, size, s, strlen(s));
	return buf;
}

/* template_for - the template for a slot: its own file if present, else the main one. */
static const struct mq_template *
template_for(struct warn *w, unsigned slot, char *error, size_t errlen, int *err_r)
{
	*err_r = 0;
	if (!w->variant_loaded[slot]) {
		char suffix[16], *path;
		int r;

		if (slot == MQ_WARN_BELOW)
			snprintf(suffix, sizeof(suffix), "below");
		else
			snprintf(suffix, sizeof(suffix), "%u", slot);
		path = mq_template_variant(w->cfg->warn.template_path, suffix);
		r = mq_template_load(path, &w->variant[slot], error, errlen);
		free(path);
		if (r < 0 || (r > 0 && mq_compose_check(w->variant[slot], error, errlen) < 0)) {
			if (r > 0) {
				char *msg = xasprintf("%s: %s", w->variant[slot]->path, error);

				mq_strlcpy(error, msg, errlen);
				free(msg);
				mq_template_free(&w->variant[slot]);
			}
			*err_r = -1;
			return NULL;
		}
		w->variant_loaded[slot] = true;
	}
	if (w->variant[slot] != NULL)
		return w->variant[slot];
	return slot == MQ_WARN_BELOW ? NULL : w->main_tmpl;
}

/* load_templates - the main template and every configured variant: 0 or EX_CONFIG. */
static int
load_templates(struct warn *w, unsigned extra)
{
	char error[512];
	int r, err;

	r = mq_template_load(w->cfg->warn.template_path, &w->main_tmpl, error, sizeof(error));
	if (r == 0)
		snprintf(error, sizeof(error), "%s: no such file (warn.template)",
		    w->cfg->warn.template_path);
	if (r > 0 && mq_compose_check(w->main_tmpl, error, sizeof(error)) < 0) {
		char *msg = xasprintf("%s: %s", w->cfg->warn.template_path, error);

		mq_strlcpy(error, msg, sizeof(error));
		free(msg);
		r = -1;
	}
	if (r <= 0) {
		report(MQ_LOG_ERR, "%s", error);
		return EX_CONFIG;
	}
	for (size_t i = 0; i < w->cfg->warn.nthresholds; i++) {
		(void)template_for(w, w->cfg->warn.thresholds[i], error, sizeof(error), &err);
		if (err < 0) {
			report(MQ_LOG_ERR, "%s", error);
			return EX_CONFIG;
		}
	}
	if (extra > 0 && extra < MQ_WARN_SLOTS) {
		(void)template_for(w, extra, error, sizeof(error), &err);
		if (err < 0) {
			report(MQ_LOG_ERR, "%s", error);
			return EX_CONFIG;
		}
	}
	(void)template_for(w, MQ_WARN_BELOW, error, sizeof(error), &err);
	if (err < 0) {
		report(MQ_LOG_ERR, "%s", error);
		return EX_CONFIG;
	}
	w->pol.below_notice = w->variant[MQ_WARN_BELOW] != NULL;
	return 0;
}

/*
 * lookup - the mailbox's figures: MQ_FOUND, MQ_NOTFOUND (not a mailbox
 * here) or MQ_TEMPFAIL, with the reason in error.
 */
static int
lookup(struct warn *w, const char *user, struct figures *f, char *error,
    size_t errlen)
{
	struct mq_check_request req = { .recipient = user,
	    .recipient_len = strlen(user), .size = 0, .stage = MQ_STAGE_RCPT };
	struct mq_verdict *v = xmalloc(sizeof(*v));
	const struct mq_box_report *b = NULL;
	int r = MQ_FOUND;

	mq_session_decide(w->session, &req, v);
	if (v->outcome == MQ_OUT_TEMPFAIL) {
		snprintf(error, errlen, "%s", v->reason[0] != '\0' ? v->reason : "lookup failed");
		r = MQ_TEMPFAIL;
		goto out;
	}
	for (size_t i = 0; i < v->nboxes && i < MQ_VERDICT_BOXES; i++)
		if (strcasecmp(v->boxes[i].address, user) == 0)
			b = &v->boxes[i];
	if (b == NULL && v->nboxes == 1)
		b = &v->boxes[0];
	if (b == NULL) {
		snprintf(error, errlen, "not a mailbox here (%s)",
		    mq_how_name(v->how));
		r = MQ_NOTFOUND;
		goto out;
	}
	memset(f, 0, sizeof(*f));
	mq_strlcpy(f->user, b->address, sizeof(f->user));	/* the same size */
	mq_sanitize(f->shown, sizeof(f->shown), f->user, strlen(f->user));
	f->domain = strchr(f->user, '@') != NULL ? strchr(f->user, '@') + 1 : "";
	f->maildir = xstrdup(b->maildir);
	f->used = b->state.used_bytes;
	f->limit = b->state.limit_bytes;
	f->messages = b->state.used_messages;
	f->enabled = b->state.enabled;
out:
	free(v);
	return r;
}

static void
message_id(char *buf, size_t size, const char *from)
{
	static unsigned seq;
	const char *at = strrchr(from, '@');
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = mq_now_monotonic_us() ^ ((uint64_t)getpid() << 32);
	snprintf(buf, size, "mailquota-warn.%lld.%ld.%u.%016" PRIx64 "@%s",
	    (long long)time(NULL), (long)getpid(), ++seq, rnd,
	    at != NULL ? at + 1 : "localhost");
}

static const char *
kind_name(enum mq_warn_send kind)
{
	switch (kind) {
	case MQ_SEND_RENOTIFY: return "renotify";
	case MQ_SEND_BELOW: return "below";
	default: return "warning";
	}
}

/*
 * send_mail - compose the mail for kind/threshold and hand it over (or, in
 * a dry run, print it). 0 handed over; -1 not handed over; -3 it cannot be
 * composed at all (no template, an address that is not plain), which
 * trying again will not change. The reason is in error.
 */
static int
send_mail(struct warn *w, const struct figures *f, enum mq_warn_send kind,
    unsigned threshold, char *error, size_t errlen)
{
	char percent[24], thr[8], used[32], limit[32], used_b[24], limit_b[24];
	char msgs[24], date[64], human[64], mid[256], why[256];
	const struct mq_template *t;
	struct tm tm;
	time_t now = time(NULL);
	char *msg;
	size_t len;
	int r, err;

	t = template_for(w, kind == MQ_SEND_BELOW ? MQ_WARN_BELOW : threshold,
	    why, sizeof(why), &err);
	if (t == NULL) {
		snprintf(error, errlen, "%s", err < 0 ? why : "no template");
		return -3;
	}
	snprintf(percent, sizeof(percent), "%" PRIu64, mq_warn_percent(f->used, f->limit));
	snprintf(thr, sizeof(thr), "%u", threshold);
	mq_human_bytes(used, sizeof(used), f->used);
	if (f->limit == 0)
		mq_strlcpy(limit, "unlimited", sizeof(limit));
	else
		mq_human_bytes(limit, sizeof(limit), f->limit);
	snprintf(used_b, sizeof(used_b), "%" PRIu64, f->used);
	snprintf(limit_b, sizeof(limit_b), "%" PRIu64, f->limit);
	snprintf(msgs, sizeof(msgs), "%" PRIu64, f->messages);
	localtime_r(&now, &tm);
	mq_format_date(date, sizeof(date), &tm, tm.tm_gmtoff);
	strftime(human, sizeof(human), "%Y-%m-%d %H:%M %z", &tm);
	message_id(mid, sizeof(mid), w->cfg->warn.from);
	{
		const struct mq_tvar vars[] = {
			{ "user", f->user }, { "domain", f->domain },
			{ "percent", percent }, { "threshold", thr },
			{ "used", used }, { "limit", limit },
			{ "used_bytes", used_b }, { "limit_bytes", limit_b },
			{ "messages", msgs }, { "date", human },
		};
		struct mq_mail mail = { .from = w->cfg->warn.from, .to = f->user,
		    .date = date, .message_id = mid, .tmpl = t, .vars = vars,
		    .nvars = MQ_NELEM(vars) };

		if (mq_compose(&mail, &msg, &len, error, errlen) < 0)
			return -3;
	}
	if (w->dry_run) {
		printf("%s: would send the %s for %u %% (now %s %%, %s of %s)\n",
		    f->shown, kind == MQ_SEND_BELOW ? "back-under notice" :
		    kind == MQ_SEND_RENOTIFY ? "reminder" : "warning", threshold,
		    percent, used, limit);
		free(msg);
		return 0;
	}
	r = mq_deliver(&w->dopts, f->user, f->maildir, msg, len, error, errlen);
	if (r == MQ_DELIVER_FULL && w->cfg->warn.full_fallback &&
	    w->dopts.method != MQ_DELIVERY_MAILDIR) {
		char why2[256];

		if (mq_deliver_maildir(&w->dopts, f->maildir, msg, len, why2, sizeof(why2)) == 0) {
			mq_notice("user=%s: refused as full (%s): dropped into the Maildir "
			    "instead (warn.full_fallback)", f->shown, error);
			r = 0;
		} else {
			mq_warn("user=%s: warn.full_fallback: %s", f->shown, why2);
		}
	}
	free(msg);
	if (r == 0)
		mq_info("sent: user=%s kind=%s threshold=%u percent=%s used=%" PRIu64
		    " limit=%" PRIu64 " message_id=<%s>", f->shown, kind_name(kind),
		    threshold, percent, f->used, f->limit, mid);
	return r;
}

/*
 * hand_over - record "sending", send, record "sent" (or put the marks back
 * when it failed). 0 handed over; -1 not (error set); -2 the state could
 * not be written (nothing sent); -3 the mail cannot be composed;
 * MQ_DELIVER_REFUSED the recipient's server refused it for good (recorded
 * as "refused").
 */
static int
hand_over(struct warn *w, const struct figures *f, const struct mq_warn_plan *plan,
    int64_t now, char *error, size_t errlen)
{
	struct mq_warn_marks sending = plan->now;
	char why[400];
	int r;

	if (w->state != NULL) {
		sending.mark[plan->slot] = MQ_MARK_SENDING;
		sending.when[plan->slot] = now;
		if (mq_state_put(w->state, f->user, &sending, true, why, sizeof(why)) < 0) {
			snprintf(error, errlen, "state: %s", why);
			return -2;
		}
	}
	/*
	 * The records after the hand-over need no fsync of their own: the
	 * next "sending" (or closing the state) flushes them, and if a crash
	 * loses one, its "sending" is on disk and only that mail goes again.
	 */
	if ((r = send_mail(w, f, plan->send, plan->threshold, error, errlen)) ==
	    MQ_DELIVER_REFUSED || r == MQ_DELIVER_FULL) {
		/* the recipient's answer, for good: marked, not retried until re-armed */
		struct mq_warn_marks refused = plan->after;

		if (plan->slot != MQ_WARN_BELOW) {
			refused.mark[plan->slot] = MQ_MARK_REFUSED;
			refused.when[plan->slot] = now;
		}
		if (w->state != NULL &&
		    mq_state_put(w->state, f->user, &refused, false, why, sizeof(why)) < 0)
			mq_error("state: %s", why);
		return MQ_DELIVER_REFUSED;
	}
	if (r < 0) {
		if (w->state != NULL &&
		    mq_state_put(w->state, f->user, &plan->now, false, why, sizeof(why)) < 0)
			mq_error("state: %s", why);
		return r;
	}
	if (w->state != NULL &&
	    mq_state_put(w->state, f->user, &plan->after, false, why, sizeof(why)) < 0) {
		/* handed over: the hook leaves the record in the Maildir instead */
		mq_error("state: %s", why);
		w->unrecorded = true;
	}
	return 0;
}

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
	char why[256];
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

/*
 * take_pending - the records a hook left in the Maildir, into the state:
 * applied to marks and written (synced) before the file is removed.
 */
static void
take_pending(struct warn *w, const struct figures *f, struct mq_warn_marks *marks)
{
	char why[256];
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

static int
run_hook(struct warn *w, const char *percent_arg, const char *user)
{
	char error[512], u[128];
	struct mq_warn_marks marks;
	struct mq_warn_plan plan;
	struct figures f;
	enum mq_hook_dir dir;
	unsigned thr;
	int64_t now = (int64_t)time(NULL);
	bool pending = false;	/* the records are in the Maildir */
	int r;

	if (parse_percent(percent_arg, &thr, &dir) < 0) {
		fprintf(stderr, "mailquota-warn: PERCENT must be 1 to 100, +N, -N or "
		    "below, not \"%s\"\n", shown(u, sizeof(u), percent_arg));
		return EX_USAGE;
	}
	if (user[0] == '\0' || strlen(user) > MQ_ADDRESS_MAX) {
		fprintf(stderr, "mailquota-warn: USER must be a mailbox address\n");
		return EX_USAGE;
	}
	if ((r = load_templates(w, thr)) != 0)
		return r;
	r = lookup(w, user, &f, error, sizeof(error));
	if (r != MQ_FOUND) {
		report(MQ_LOG_WARNING, "not sent: user=%s threshold=%u: %s",
		    shown(u, sizeof(u), user), thr, error);
		return EX_TEMPFAIL;
	}
	if (w->cfg->warn.state[0] != '\0') {
		r = mq_state_open(w->cfg->warn.state, HOOK_LOCK_WAIT, &w->state,
		    error, sizeof(error));
		if (r != MQ_STATE_OK)
			report(MQ_LOG_WARNING, "state not recorded: %s", error);
	}
	if (w->state != NULL)
		mq_state_get(w->state, f.user, &marks);
	else
		memset(&marks, 0, sizeof(marks));
	mq_warn_hook_plan(&w->pol, &marks, dir, thr, f.used, f.limit, now, &plan);
	if (w->state != NULL &&
	    mq_state_put(w->state, f.user, &plan.now, false, error, sizeof(error)) < 0) {
		report(MQ_LOG_WARNING, "state not recorded: %s", error);
		mq_state_close(&w->state);
	}
	if (plan.send == MQ_SEND_NONE) {
		mq_info("user=%s is back under %u %%: re-armed; no back-under "
		    "template, nothing sent", f.shown, thr);
		r = 0;
	} else {
		r = w->state != NULL ? hand_over(w, &f, &plan, now, error, sizeof(error)) : -2;
		if (r == -2) {
			/*
			 * Dovecot does not ask twice: send it unrecorded, but
			 * first leave the record in the Maildir, so that a sweep
			 * running meanwhile does not send it too; put back when
			 * the hand-over fails.
			 */
			if (w->state != NULL)
				report(MQ_LOG_WARNING, "state not recorded: %s", error);
			mq_state_close(&w->state);
			pending = leave_pending(w, &f, &plan.after, dir == MQ_HOOK_DOWN ? thr : 0);
			r = hand_over(w, &f, &plan, now, error, sizeof(error));
			if (pending && r < 0 && r != MQ_DELIVER_REFUSED)
				(void)leave_pending(w, &f, &plan.now, plan.slot);
		}
		if (r == MQ_DELIVER_REFUSED)
			report(MQ_LOG_WARNING, "refused: user=%s threshold=%u: %s", f.shown,
			    thr, error);
		else if (r < 0)
			report(MQ_LOG_WARNING, "not sent: user=%s threshold=%u: %s", f.shown,
			    thr, error);
	}
	if ((r == 0 || r == MQ_DELIVER_REFUSED) && !pending && w->cfg->warn.state[0] != '\0' &&
	    (w->state == NULL || w->unrecorded))
		(void)leave_pending(w, &f, &plan.after, dir == MQ_HOOK_DOWN ? thr : 0);
	if (w->state != NULL && mq_state_bloated(w->state) &&
	    mq_state_compact(w->state, false, error, sizeof(error)) < 0)
		mq_warn("state: %s", error);
	mq_state_close(&w->state);
	free(f.maildir);
	return r == 0 ? 0 : r == MQ_DELIVER_REFUSED ? EX_UNAVAILABLE : EX_TEMPFAIL;
}

struct userlist {
	char **v;
	size_t n, cap;
};

static int
collect_user(void *ctx, const char *address)
{
	struct userlist *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(address);
	return 0;
}

static int
run_sweep(struct warn *w)
{
	struct userlist users = { 0 };
	char error[512], u[128];
	size_t sent = 0, failed = 0, unsendable = 0, refused = 0, lookups_failed = 0;
	size_t in_a_row = 0, i;
	uint64_t t0 = mq_now_monotonic_us();
	bool complete = true, stopped = false;
	int r;

	if (w->cfg->warn.state[0] == '\0') {
		report(MQ_LOG_ERR, "%s: warn.state is empty; --sweep needs a state file",
		    w->cfg->file);
		return EX_CONFIG;
	}
	if ((r = load_templates(w, 0)) != 0)
		return r;
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

	r = mq_session_each_user(w->session, collect_user, &users, error, sizeof(error));
	if (r == MQ_TEMPFAIL) {
		report(MQ_LOG_ERR, "users query: %s", error);
		mq_state_close(&w->state);
		return EX_TEMPFAIL;
	}
	for (i = 0; i < users.n && !stopped; i++) {
		struct mq_warn_marks marks;
		struct mq_warn_plan plan;
		struct figures f;
		int64_t now = (int64_t)time(NULL);

		r = lookup(w, users.v[i], &f, error, sizeof(error));
		if (r == MQ_TEMPFAIL) {
			report(MQ_LOG_WARNING, "user=%s: %s", shown(u, sizeof(u), users.v[i]),
			    error);
			lookups_failed++;
			/* keep its state: mark it seen under the engine's lower-case key */
			for (char *c = users.v[i]; *c != '\0'; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
			mq_state_get(w->state, users.v[i], &marks);
			continue;
		}
		if (r == MQ_NOTFOUND) {
			mq_debug("user=%s: %s", shown(u, sizeof(u), users.v[i]), error);
			continue;
		}
		mq_state_get(w->state, f.user, &marks);
		take_pending(w, &f, &marks);
		if (!f.enabled) {
			mq_debug("user=%s: disabled, not checked", f.shown);
			free(f.maildir);
			continue;
		}
		mq_warn_plan(&w->pol, &marks, f.used, f.limit, now, &plan);
		if (w->dry_run) {
			if (plan.send != MQ_SEND_NONE && send_mail(w, &f, plan.send,
			    plan.threshold, error, sizeof(error)) < 0)
				report(MQ_LOG_WARNING, "user=%s: %s", f.shown, error);
			else if (plan.send != MQ_SEND_NONE)
				sent++;
			free(f.maildir);
			continue;
		}
		if (mq_state_put(w->state, f.user, &plan.now, false, error, sizeof(error)) < 0) {
			report(MQ_LOG_ERR, "state: %s; stopping", error);
			stopped = true;
			free(f.maildir);
			break;
		}
		if (plan.send == MQ_SEND_NONE) {
			free(f.maildir);
			continue;
		}
		if (marks.mark[plan.slot] == MQ_MARK_SENDING)
			mq_notice("user=%s: sending again the %s for %u %% whose hand-over "
			    "was interrupted", f.shown, kind_name(plan.send), plan.threshold);
		r = hand_over(w, &f, &plan, now, error, sizeof(error));
		free(f.maildir);
		if (r == -2) {
			report(MQ_LOG_ERR, "%s; stopping", error);
			stopped = true;
		} else if (r == MQ_DELIVER_REFUSED) {
			/* this recipient's answer: recorded; the transport works, go on */
			report(MQ_LOG_WARNING, "refused: user=%s kind=%s threshold=%u: %s",
			    f.shown, kind_name(plan.send), plan.threshold, error);
			refused++;
			in_a_row = 0;
		} else if (r == -3) {
			/* the mailbox's data, not the transport: go on */
			report(MQ_LOG_WARNING, "cannot send: user=%s kind=%s threshold=%u: %s",
			    f.shown, kind_name(plan.send), plan.threshold, error);
			unsendable++;
		} else if (r < 0) {
			report(MQ_LOG_WARNING, "not sent: user=%s kind=%s threshold=%u: %s",
			    f.shown, kind_name(plan.send), plan.threshold, error);
			failed++;
			if (++in_a_row >= MAX_FAILS_IN_A_ROW) {
				report(MQ_LOG_ERR, "%u deliveries failed in a row: "
				    "stopping the sweep", MAX_FAILS_IN_A_ROW);
				stopped = true;
			}
		} else {
			sent++;
			in_a_row = 0;
		}
	}
	complete = i == users.n && !stopped;
	if (!w->dry_run && complete &&
	    mq_state_compact(w->state, true, error, sizeof(error)) < 0)
		mq_warn("state: %s", error);
	mq_state_close(&w->state);
	mq_info("sweep%s: %zu mailboxes, %zu warnings %s, %zu refused, "
	    "%zu not handed over, %zu cannot be sent, %zu lookups failed, %.1f s%s",
	    w->dry_run ? " (dry run)" : "", users.n, sent,
	    w->dry_run ? "due" : "sent", refused, failed, unsendable, lookups_failed,
	    (double)(mq_now_monotonic_us() - t0) / 1e6, complete ? "" : ", stopped early");
	for (i = 0; i < users.n; i++)
		free(users.v[i]);
	free(users.v);
	return failed > 0 || lookups_failed > 0 || !complete ? EX_TEMPFAIL : 0;
}

/* ---- --digest ---- */

struct digest_box {
	char *user;
	uint64_t used, limit, percent;
};

struct digest_domain {
	char *name;
	struct digest_box *boxes;
	size_t n;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct digest_domain *)a)->name,
	    ((const struct digest_domain *)b)->name);
}

static int
by_fullness(const void *a, const void *b)
{
	const struct digest_box *x = a, *y = b;

	if (x->percent != y->percent)
		return x->percent < y->percent ? 1 : -1;
	return strcmp(x->user, y->user);
}

/* digest_table - the plain-text list of a domain's mailboxes, one a line. */
static char *
digest_table(const struct digest_domain *d)
{
	struct mq_buf b = { 0 };
	size_t width = 0;

	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->boxes[i].user) > width)
			width = strlen(d->boxes[i].user);
	for (size_t i = 0; i < d->n; i++) {
		char used[32], limit[32];

		mq_human_bytes(used, sizeof(used), d->boxes[i].used);
		mq_human_bytes(limit, sizeof(limit), d->boxes[i].limit);
		mq_buf_printf(&b, "  %-*s %4" PRIu64 " %%  %s of %s\n", (int)width,
		    d->boxes[i].user, d->boxes[i].percent, used, limit);
	}
	return b.s != NULL ? b.s : xstrdup("");
}

/* digest_to - warn.digest_to for a domain: "%d" is the domain. */
static char *
digest_to(const char *pattern, const char *domain)
{
	struct mq_buf b = { 0 };

	for (const char *p = pattern; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			mq_buf_adds(&b, domain);
			p++;
		} else {
			mq_buf_addc(&b, *p);
		}
	}
	return b.s;
}

/*
 * send_digest - compose the domain's digest and hand it over: 0, or < 0
 * as send_mail.
 */
static int
send_digest(struct warn *w, const struct mq_template *t, const struct digest_domain *d,
    const char *to, char *error, size_t errlen)
{
	char count[24], thr[8], date[64], human[64], mid[256];
	char *table = digest_table(d), *msg = NULL, *maildir = NULL;
	time_t now = time(NULL);
	struct tm tm;
	size_t len;
	int r;

	snprintf(count, sizeof(count), "%zu", d->n);
	snprintf(thr, sizeof(thr), "%d", w->cfg->warn.digest_threshold);
	localtime_r(&now, &tm);
	mq_format_date(date, sizeof(date), &tm, tm.tm_gmtoff);
	strftime(human, sizeof(human), "%Y-%m-%d %H:%M %z", &tm);
	message_id(mid, sizeof(mid), w->cfg->warn.from);
	{
		const struct mq_tvar vars[] = {
			{ "domain", d->name }, { "to", to }, { "count", count },
			{ "threshold", thr }, { "mailboxes", table }, { "date", human },
		};
		struct mq_mail mail = { .from = w->cfg->warn.from, .to = to,
		    .date = date, .message_id = mid, .tmpl = t, .vars = vars,
		    .nvars = MQ_NELEM(vars) };

		r = mq_compose(&mail, &msg, &len, error, errlen);
	}
	free(table);
	if (r < 0)
		return -3;
	if (w->dry_run) {
		printf("%s: would send the digest of %zu mailboxes at or over %s %% to %s\n",
		    d->name, d->n, thr, to);
		free(msg);
		return 0;
	}
	if (w->dopts.method == MQ_DELIVERY_MAILDIR) {
		struct figures f;

		/* a drop needs the administrator's own Maildir */
		if (lookup(w, to, &f, error, errlen) != MQ_FOUND) {
			free(msg);
			return -1;
		}
		maildir = f.maildir;
	}
	r = mq_deliver(&w->dopts, to, maildir, msg, len, error, errlen);
	free(maildir);
	free(msg);
	if (r == 0)
		mq_info("digest sent: domain=%s to=%s mailboxes=%zu message_id=<%s>",
		    d->name, to, d->n, mid);
	return r;
}

static int
run_digest(struct warn *w)
{
	struct userlist users = { 0 };
	struct digest_domain *doms = NULL;
	struct mq_template *t = NULL;
	size_t ndoms = 0, sent = 0, failed = 0, recent = 0, lookups_failed = 0;
	int64_t now = (int64_t)time(NULL);
	char error[512];
	int r, rc = 0;

	if (w->cfg->warn.state[0] == '\0') {
		report(MQ_LOG_ERR, "%s: warn.state is empty; --digest needs a state file",
		    w->cfg->file);
		return EX_CONFIG;
	}
	r = mq_template_load(w->cfg->warn.digest_template, &t, error, sizeof(error));
	if (r == 0)
		snprintf(error, sizeof(error), "%s: no such file (warn.digest_template)",
		    w->cfg->warn.digest_template);
	if (r > 0 && mq_compose_check(t, error, sizeof(error)) < 0)
		r = -1;
	if (r <= 0) {
		report(MQ_LOG_ERR, "%s", error);
		mq_template_free(&t);
		return EX_CONFIG;
	}
	if (w->dry_run)
		r = mq_state_open_readonly(w->cfg->warn.state, &w->state, error, sizeof(error));
	else
		r = mq_state_open(w->cfg->warn.state, HOOK_LOCK_WAIT, &w->state, error,
		    sizeof(error));
	if (r != MQ_STATE_OK) {
		report(MQ_LOG_ERR, "state: %s", error);
		mq_template_free(&t);
		return EX_TEMPFAIL;
	}
	if (mq_session_each_user(w->session, collect_user, &users, error,
	    sizeof(error)) == MQ_TEMPFAIL) {
		report(MQ_LOG_ERR, "users query: %s", error);
		rc = EX_TEMPFAIL;
		goto out;
	}
	for (size_t i = 0; i < users.n; i++) {
		struct digest_domain *d = NULL;
		struct figures f;
		uint64_t pct;

		r = lookup(w, users.v[i], &f, error, sizeof(error));
		if (r == MQ_TEMPFAIL)
			lookups_failed++;
		if (r != MQ_FOUND)
			continue;
		free(f.maildir);
		pct = mq_warn_percent(f.used, f.limit);
		if (!f.enabled || f.limit == 0 || pct < (uint64_t)w->cfg->warn.digest_threshold)
			continue;
		for (size_t k = 0; k < ndoms; k++)
			if (strcmp(doms[k].name, f.domain) == 0)
				d = &doms[k];
		if (d == NULL) {
			doms = xreallocarray(doms, ndoms + 1, sizeof(*doms));
			d = &doms[ndoms++];
			memset(d, 0, sizeof(*d));
			d->name = xstrdup(f.domain);
		}
		d->boxes = xreallocarray(d->boxes, d->n + 1, sizeof(*d->boxes));
		d->boxes[d->n++] = (struct digest_box){ xstrdup(f.user), f.used, f.limit, pct };
	}
	if (ndoms > 0)
		qsort(doms, ndoms, sizeof(*doms), by_name);
	for (size_t k = 0; k < ndoms; k++) {
		struct digest_domain *d = &doms[k];
		char *key = xasprintf("@%s", d->name), *to = NULL;
		struct mq_warn_marks m;

		qsort(d->boxes, d->n, sizeof(*d->boxes), by_fullness);
		/* the administrator: queries.digest_to's answer, else warn.digest_to */
		r = mq_session_digest_to(w->session, d->name, &to, error, sizeof(error));
		if (r == MQ_TEMPFAIL) {
			report(MQ_LOG_WARNING, "digest not sent: domain=%s: digest_to query: %s",
			    d->name, error);
			failed++;
			free(key);
			continue;
		}
		if (to == NULL)
			to = digest_to(w->cfg->warn.digest_to, d->name);
		/* the domain's record: slot 100 "sent" at the last digest */
		mq_state_get(w->state, key, &m);
		if (m.mark[100] == MQ_MARK_SENT && now - m.when[100] <
		    (int64_t)w->cfg->warn.digest_interval * 3600) {
			mq_debug("domain=%s: digest sent %" PRId64 " s ago, not yet due",
			    d->name, now - m.when[100]);
			recent++;
		} else if ((r = send_digest(w, t, d, to, error, sizeof(error))) < 0) {
			report(MQ_LOG_WARNING, "digest not sent: domain=%s to=%s: %s", d->name,
			    to, error);
			failed++;
		} else if (!w->dry_run) {
			m.mark[100] = MQ_MARK_SENT;
			m.when[100] = now;
			if (mq_state_put(w->state, key, &m, true, error, sizeof(error)) < 0)
				report(MQ_LOG_ERR, "state: %s", error);
			sent++;
		}
		free(key);
		free(to);
	}
	mq_info("digest%s: %zu domains with mailboxes at or over %d %%, %zu digests %s, "
	    "%zu sent within %d hours, %zu not sent, %zu lookups failed",
	    w->dry_run ? " (dry run)" : "", ndoms, w->cfg->warn.digest_threshold, sent,
	    w->dry_run ? "due" : "sent", recent, w->cfg->warn.digest_interval, failed,
	    lookups_failed);
	rc = failed > 0 || lookups_failed > 0 ? EX_TEMPFAIL : 0;
out:
	for (size_t k = 0; k < ndoms; k++) {
		for (size_t i = 0; i < doms[k].n; i++)
			free(doms[k].boxes[i].user);
		free(doms[k].boxes);
		free(doms[k].name);
	}
	free(doms);
	for (size_t i = 0; i < users.n; i++)
		free(users.v[i]);
	free(users.v);
	mq_state_close(&w->state);
	mq_template_free(&t);
	return rc;
}

/* is_percent_arg - an argument that starts the positionals although it begins with '-'. */
static bool
is_percent_arg(const char *a)
{
	if (*a == '+' || *a == '-')
		a++;
	return *a >= '0' && *a <= '9';
}

int
main(int argc, char **argv)
{
	const char *conf = NULL;
	struct mq_config *cfg = NULL;
	struct warn w = { 0 };
	bool sweep = false, digest = false, dry_run = false, debug = false;
	char *error = NULL;
	int i, rc;

	mq_log_open("mailquota-warn", LOG_MAIL, MQ_LOG_WARNING, true, false);
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
		if (strcmp(a, "--sweep") == 0) {
			sweep = true;
		} else if (strcmp(a, "--digest") == 0) {
			digest = true;
		} else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
			dry_run = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("mailquota-warn %s\n", PACKAGE_VERSION);
			return 0;
		} else if (strcmp(a, "-d") == 0) {
			debug = true;
		} else if (strncmp(a, "-c", 2) == 0) {
			if (a[2] != '\0')
				conf = a + 2;
			else if (i + 1 < argc)
				conf = argv[++i];
			else {
				usage(stderr);
				return EX_USAGE;
			}
		} else {
			fprintf(stderr, "mailquota-warn: unknown option %s\n", a);
			usage(stderr);
			return EX_USAGE;
		}
	}
	/* hook mode: more words after USER (some sites pass %d too) are ignored */
	if ((sweep && digest) || ((sweep || digest) && argc - i != 0) ||
	    (!sweep && !digest && argc - i < 2) || (dry_run && !sweep && !digest)) {
		usage(stderr);
		return EX_USAGE;
	}
	if (conf == NULL)
		conf = mq_config_default_path();
	if (mq_config_load(conf, &cfg, &error) < 0) {
		fprintf(stderr, "mailquota-warn: %s\n", error);
		free(error);
		return EX_CONFIG;
	}
	log_on_stderr = debug || dry_run || isatty(STDERR_FILENO);
	mq_log_open("mailquota-warn", cfg->log.facility,
	    debug ? MQ_LOG_DEBUG : (enum mq_log_level)cfg->log.level, log_on_stderr, true);

	w.cfg = cfg;
	w.dry_run = dry_run;
	w.pol.thresholds = cfg->warn.thresholds;
	w.pol.nthresholds = cfg->warn.nthresholds;
	w.pol.rearm = (unsigned)cfg->warn.rearm;
	w.pol.renotify_hours = (unsigned)cfg->warn.renotify;
	w.dopts.method = cfg->warn.delivery;
	w.dopts.sendmail = cfg->warn.sendmail;
	w.dopts.smtp = cfg->warn.smtp;
	w.dopts.from = cfg->warn.from;
	w.dopts.base = cfg->maildir.base;
	w.dopts.timeout = DELIVER_TIMEOUT;
	if (!mq_address_ok(cfg->warn.from)) {
		fprintf(stderr, "mailquota-warn: %s: warn.from: not a plain "
		    "user@domain address\n", cfg->file);
		mq_config_free(&cfg);
		return EX_CONFIG;
	}
	w.engine = mq_engine_new(cfg);
	w.session = mq_session_new(w.engine);

	rc = sweep ? run_sweep(&w) : digest ? run_digest(&w) :
	    run_hook(&w, argv[i], argv[i + 1]);

	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++)
		mq_template_free(&w.variant[s]);
	mq_template_free(&w.main_tmpl);
	mq_session_free(&w.session);
	mq_engine_free(&w.engine);
	mq_config_free(&cfg);
	return rc;
}
