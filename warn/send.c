/* SPDX-License-Identifier: MIT */
/*
 * send - the steps every mode of mailquota-warn takes (see warn.h): the
 * templates, a mailbox's figures from the engine, one mail composed and
 * handed over, and the state's "sending"/"sent" records around it.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "compose.h"
#include "state.h"
#include "warn.h"

int
load_checked(const char *path, struct mq_template **tmpl_r, char *error,
    size_t errlen)
{
	char why[512];
	int r = mq_template_load(path, tmpl_r, error, errlen);

	if (r > 0 && mq_compose_check(*tmpl_r, why, sizeof(why)) < 0) {
		snprintf(error, errlen, "%s: %s", path, why);
		mq_template_free(tmpl_r);
		return -1;
	}
	return r;
}

/* template_for - the template for a slot: its own file if present, else the main one. */
static const struct mq_template *
template_for(struct warn *w, unsigned slot, char *error, size_t errlen, int *err_r)
{
	*err_r = 0;
	if (!w->variant_loaded[slot]) {
		char suffix[16], *path;

		if (slot == MQ_WARN_BELOW)
			snprintf(suffix, sizeof(suffix), "below");
		else
			snprintf(suffix, sizeof(suffix), "%u", slot);
		path = mq_template_variant(w->cfg->warn.template_path, suffix);
		if (load_checked(path, &w->variant[slot], error, errlen) < 0)
			*err_r = -1;
		free(path);
		if (*err_r < 0)
			return NULL;
		w->variant_loaded[slot] = true;
	}
	if (w->variant[slot] != NULL)
		return w->variant[slot];
	return slot == MQ_WARN_BELOW ? NULL : w->main_tmpl;
}

int
load_templates(struct warn *w, unsigned extra)
{
	const struct mq_config *cfg = w->cfg;
	unsigned slots[MQ_WARN_SLOTS + 2];
	size_t nslots = 0;
	char error[1024];
	int r, err;

	r = load_checked(cfg->warn.template_path, &w->main_tmpl, error, sizeof(error));
	if (r == 0)
		snprintf(error, sizeof(error), "%s: no such file (warn.template)",
		    cfg->warn.template_path);
	if (r <= 0) {
		report(MQ_LOG_ERR, "%s", error);
		return EX_CONFIG;
	}
	/* every configured threshold's variant, the hook's own, the back-under notice */
	for (size_t i = 0; i < cfg->warn.nthresholds && nslots < MQ_WARN_SLOTS; i++)
		slots[nslots++] = cfg->warn.thresholds[i];
	if (extra > 0 && extra < MQ_WARN_SLOTS)
		slots[nslots++] = extra;
	slots[nslots++] = MQ_WARN_BELOW;
	for (size_t i = 0; i < nslots; i++) {
		(void)template_for(w, slots[i], error, sizeof(error), &err);
		if (err < 0) {
			report(MQ_LOG_ERR, "%s", error);
			return EX_CONFIG;
		}
	}
	w->pol.below_notice = w->variant[MQ_WARN_BELOW] != NULL;
	return 0;
}

int
lookup(struct warn *w, const char *user, struct figures *f, char *error,
    size_t errlen)
{
	struct mq_check_request req = { .recipient = user,
	    .recipient_len = strlen(user), .size = 0, .stage = MQ_STAGE_RCPT };
	struct mq_verdict *v = xcalloc(1, sizeof(*v));
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
	mq_verdict_clear(v);
	free(v);
	return r;
}

int
collect_user(void *ctx, const char *address)
{
	mq_strlist_add(ctx, address);
	return 0;
}

void
stamp_now(struct stamp *s, const char *from)
{
	static unsigned seq;
	const char *at = strrchr(from, '@');
	time_t now = time(NULL);
	uint64_t rnd = 0;
	struct tm tm;

	localtime_r(&now, &tm);
	mq_format_date(s->date, sizeof(s->date), &tm, tm.tm_gmtoff);
	strftime(s->human, sizeof(s->human), "%Y-%m-%d %H:%M %z", &tm);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = mq_now_monotonic_us() ^ ((uint64_t)getpid() << 32);
	/* warn.from passed mq_address_ok at start: its domain fits (warn.h) */
	snprintf(s->mid, sizeof(s->mid), "mailquota-warn.%lld.%ld.%u.%016" PRIx64 "@%s",
	    (long long)now, (long)getpid(), ++seq, rnd, at != NULL ? at + 1 : "localhost");
}

int
compose_to(const struct warn *w, const char *to, const struct mq_template *t,
    const struct mq_tvar *vars, size_t nvars, const struct stamp *s,
    char **msg_r, size_t *len_r, char *error, size_t errlen)
{
	struct mq_mail mail = { .from = w->cfg->warn.from, .to = to,
	    .date = s->date, .message_id = s->mid, .tmpl = t, .vars = vars,
	    .nvars = nvars };

	return mq_compose(&mail, msg_r, len_r, error, errlen);
}

const char *
kind_name(enum mq_warn_send kind)
{
	switch (kind) {
	case MQ_SEND_RENOTIFY: return "renotify";
	case MQ_SEND_BELOW: return "below";
	default: return "warning";
	}
}

/* The figures of a mailbox as the template's variables show them. */
struct shown_figures {
	char percent[24], threshold[16], used[32], limit[32];
	char used_bytes[24], limit_bytes[24], messages[24];
};

static void
format_figures(struct shown_figures *sf, const struct figures *f, unsigned threshold)
{
	snprintf(sf->percent, sizeof(sf->percent), "%" PRIu64,
	    mq_warn_percent(f->used, f->limit));
	snprintf(sf->threshold, sizeof(sf->threshold), "%u", threshold);
	mq_human_bytes(sf->used, sizeof(sf->used), f->used);
	if (f->limit == 0)
		mq_strlcpy(sf->limit, "unlimited", sizeof(sf->limit));
	else
		mq_human_bytes(sf->limit, sizeof(sf->limit), f->limit);
	snprintf(sf->used_bytes, sizeof(sf->used_bytes), "%" PRIu64, f->used);
	snprintf(sf->limit_bytes, sizeof(sf->limit_bytes), "%" PRIu64, f->limit);
	snprintf(sf->messages, sizeof(sf->messages), "%" PRIu64, f->messages);
}

/*
 * deliver_or_drop - hand the mail over; with warn.full_fallback, a mail
 * refused because the mailbox is full goes into its Maildir instead.
 */
static int
deliver_or_drop(struct warn *w, const struct figures *f, const char *msg, size_t len,
    char *error, size_t errlen)
{
	char why[1024];
	int r = mq_deliver(&w->dopts, f->user, f->maildir, msg, len, error, errlen);

	if (r != MQ_DELIVER_FULL || !w->cfg->warn.full_fallback ||
	    w->dopts.method == MQ_DELIVERY_MAILDIR)
		return r;
	if (mq_deliver_maildir(&w->dopts, f->maildir, msg, len, why, sizeof(why)) < 0) {
		mq_warn("user=%s: warn.full_fallback: %s", f->shown, why);
		return r;
	}
	mq_notice("user=%s: refused as full (%s): dropped into the Maildir "
	    "instead (warn.full_fallback)", f->shown, error);
	return 0;
}

int
send_mail(struct warn *w, const struct figures *f, enum mq_warn_send kind,
    unsigned threshold, char *error, size_t errlen)
{
	const struct mq_template *t;
	struct shown_figures sf;
	struct stamp s;
	char *msg;
	size_t len;
	int r, err;

	t = template_for(w, kind == MQ_SEND_BELOW ? MQ_WARN_BELOW : threshold,
	    error, errlen, &err);
	if (t == NULL) {
		if (err == 0)
			snprintf(error, errlen, "no template");
		return -3;
	}
	format_figures(&sf, f, threshold);
	stamp_now(&s, w->cfg->warn.from);
	const struct mq_tvar vars[] = {
		{ "user", f->user }, { "domain", f->domain },
		{ "percent", sf.percent }, { "threshold", sf.threshold },
		{ "used", sf.used }, { "limit", sf.limit },
		{ "used_bytes", sf.used_bytes }, { "limit_bytes", sf.limit_bytes },
		{ "messages", sf.messages }, { "date", s.human },
	};
	if (compose_to(w, f->user, t, vars, MQ_NELEM(vars), &s, &msg, &len, error,
	    errlen) < 0)
		return -3;
	if (w->dry_run) {
		printf("%s: would send the %s for %u %% (now %s %%, %s of %s)\n",
		    f->shown, kind == MQ_SEND_BELOW ? "back-under notice" :
		    kind == MQ_SEND_RENOTIFY ? "reminder" : "warning", threshold,
		    sf.percent, sf.used, sf.limit);
		free(msg);
		return 0;
	}
	r = deliver_or_drop(w, f, msg, len, error, errlen);
	free(msg);
	if (r == 0)
		mq_info("sent: user=%s kind=%s threshold=%u percent=%s used=%" PRIu64
		    " limit=%" PRIu64 " message_id=<%s>", f->shown, kind_name(kind),
		    threshold, sf.percent, f->used, f->limit, s.mid);
	return r;
}

/* record - put the user's marks into the state (when there is one); false when that fails. */
static bool
record(struct warn *w, const struct figures *f, const struct mq_warn_marks *m)
{
	char why[1024];

	if (w->state == NULL || mq_state_put(w->state, f->user, m, false, why,
	    sizeof(why)) == 0)
		return true;
	mq_error("state: %s", why);
	return false;
}

int
hand_over(struct warn *w, const struct figures *f, const struct mq_warn_plan *plan,
    int64_t now, char *error, size_t errlen)
{
	struct mq_warn_marks marks = plan->now;
	char why[1024];
	int r;

	if (w->state != NULL) {
		marks.mark[plan->slot] = MQ_MARK_SENDING;
		marks.when[plan->slot] = now;
		if (mq_state_put(w->state, f->user, &marks, true, why, sizeof(why)) < 0) {
			snprintf(error, errlen, "state: %s", why);
			return -2;
		}
	}
	/*
	 * The records after the hand-over need no fsync of their own: the
	 * next "sending" (or closing the state) flushes them, and if a crash
	 * loses one, its "sending" is on disk and only that mail goes again.
	 */
	r = send_mail(w, f, plan->send, plan->threshold, error, errlen);
	if (r == MQ_DELIVER_REFUSED || r == MQ_DELIVER_FULL) {
		/* the recipient's answer, for good: marked, not retried until re-armed */
		marks = plan->after;
		if (plan->slot != MQ_WARN_BELOW) {
			marks.mark[plan->slot] = MQ_MARK_REFUSED;
			marks.when[plan->slot] = now;
		}
		(void)record(w, f, &marks);
		return MQ_DELIVER_REFUSED;
	}
	if (r < 0) {
		(void)record(w, f, &plan->now);
		return r;
	}
	/* handed over: the hook leaves the record in the Maildir instead */
	if (!record(w, f, &plan->after))
		w->unrecorded = true;
	return 0;
}
