/* SPDX-License-Identifier: MIT */
/*
 * digest - mailquota-warn --digest: mail each domain's administrator the
 * list of its mailboxes at or over warn.digest_threshold, at most once per
 * warn.digest_interval hours (recorded in the warning state under the key
 * "@DOMAIN", slot 100).
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "buf.h"
#include "state.h"
#include "warn.h"

#define DIGEST_SLOT 100		/* the slot of a domain's record: "sent" at the last digest */

struct digest_box {
	char *user;
	uint64_t used, limit, percent;
};

struct digest_domain {
	char *name;
	struct digest_box *boxes;
	size_t n;
};

/* The domains with mailboxes over the threshold, and the run's tally. */
struct digest {
	const struct mq_template *tmpl;
	struct digest_domain *doms;
	size_t ndoms;
	size_t sent, failed, recent, lookups_failed;
	int64_t now;
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

/* compose_digest - the domain's digest to its administrator: 0 or -1. */
static int
compose_digest(struct warn *w, const struct digest *dg, const struct digest_domain *d,
    const char *to, const struct stamp *s, char **msg_r, size_t *len_r,
    char *error, size_t errlen)
{
	char count[24], thr[16], *table = digest_table(d);
	const struct mq_tvar vars[] = {
		{ "domain", d->name }, { "to", to }, { "count", count },
		{ "threshold", thr }, { "mailboxes", table }, { "date", s->human },
	};
	int r;

	snprintf(count, sizeof(count), "%zu", d->n);
	snprintf(thr, sizeof(thr), "%d", w->cfg->warn.digest_threshold);
	r = compose_to(w, to, dg->tmpl, vars, MQ_NELEM(vars), s, msg_r, len_r, error,
	    errlen);
	free(table);
	return r;
}

/*
 * send_digest - compose the domain's digest and hand it over: 0, or < 0
 * as send_mail.
 */
static int
send_digest(struct warn *w, const struct digest *dg, const struct digest_domain *d,
    const char *to, char *error, size_t errlen)
{
	char *msg = NULL, *maildir = NULL;
	struct stamp s;
	size_t len;
	int r;

	stamp_now(&s, w->cfg->warn.from);
	if (compose_digest(w, dg, d, to, &s, &msg, &len, error, errlen) < 0)
		return -3;
	if (w->dry_run) {
		printf("%s: would send the digest of %zu mailboxes at or over %d %% to %s\n",
		    d->name, d->n, w->cfg->warn.digest_threshold, to);
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
		    d->name, to, d->n, s.mid);
	return r;
}

/* domain_of - the digest's entry for a domain, added when new. */
static struct digest_domain *
domain_of(struct digest *dg, const char *name)
{
	struct digest_domain *d;

	for (size_t k = 0; k < dg->ndoms; k++)
		if (strcmp(dg->doms[k].name, name) == 0)
			return &dg->doms[k];
	dg->doms = xreallocarray(dg->doms, dg->ndoms + 1, sizeof(*dg->doms));
	d = &dg->doms[dg->ndoms++];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	return d;
}

/* gather - every enabled mailbox at or over the threshold, under its domain. */
static void
gather(struct warn *w, struct digest *dg, const struct mq_strlist *users)
{
	char error[1024];

	for (size_t i = 0; i < users->n; i++) {
		struct digest_domain *d;
		struct figures f;
		uint64_t pct;
		int r = lookup(w, users->v[i], &f, error, sizeof(error));

		if (r == MQ_TEMPFAIL)
			dg->lookups_failed++;
		if (r != MQ_FOUND)
			continue;
		free(f.maildir);
		pct = mq_warn_percent(f.used, f.limit);
		if (!f.enabled || f.limit == 0 ||
		    pct < (uint64_t)w->cfg->warn.digest_threshold)
			continue;
		d = domain_of(dg, f.domain);
		d->boxes = xreallocarray(d->boxes, d->n + 1, sizeof(*d->boxes));
		d->boxes[d->n++] = (struct digest_box){ xstrdup(f.user), f.used, f.limit, pct };
	}
	if (dg->ndoms > 0)
		qsort(dg->doms, dg->ndoms, sizeof(*dg->doms), by_name);
}

/* administrator - queries.digest_to's answer, else warn.digest_to; NULL when the query failed. */
static char *
administrator(struct warn *w, const struct digest_domain *d)
{
	char error[1024], *to = NULL;

	if (mq_session_digest_to(w->session, d->name, &to, error, sizeof(error)) ==
	    MQ_TEMPFAIL) {
		report(MQ_LOG_WARNING, "digest not sent: domain=%s: digest_to query: %s",
		    d->name, error);
		return NULL;
	}
	return to != NULL ? to : digest_to(w->cfg->warn.digest_to, d->name);
}

/* digest_domain - send the domain's digest unless one went within the interval. */
static void
digest_domain(struct warn *w, struct digest *dg, struct digest_domain *d)
{
	char *key, *to, error[1024];
	struct mq_warn_marks m;

	qsort(d->boxes, d->n, sizeof(*d->boxes), by_fullness);
	if ((to = administrator(w, d)) == NULL) {
		dg->failed++;
		return;
	}
	key = xasprintf("@%s", d->name);
	mq_state_get(w->state, key, &m);
	if (m.mark[DIGEST_SLOT] == MQ_MARK_SENT && dg->now - m.when[DIGEST_SLOT] <
	    (int64_t)w->cfg->warn.digest_interval * 3600) {
		mq_debug("domain=%s: digest sent %" PRId64 " s ago, not yet due",
		    d->name, dg->now - m.when[DIGEST_SLOT]);
		dg->recent++;
	} else if (send_digest(w, dg, d, to, error, sizeof(error)) < 0) {
		report(MQ_LOG_WARNING, "digest not sent: domain=%s to=%s: %s", d->name,
		    to, error);
		dg->failed++;
	} else {
		/* a dry run counts the digest as due and records nothing */
		dg->sent++;
		if (!w->dry_run) {
			m.mark[DIGEST_SLOT] = MQ_MARK_SENT;
			m.when[DIGEST_SLOT] = dg->now;
			if (mq_state_put(w->state, key, &m, true, error,
			    sizeof(error)) < 0)
				report(MQ_LOG_ERR, "state: %s", error);
		}
	}
	free(key);
	free(to);
}

static void
digest_free(struct digest *dg)
{
	for (size_t k = 0; k < dg->ndoms; k++) {
		for (size_t i = 0; i < dg->doms[k].n; i++)
			free(dg->doms[k].boxes[i].user);
		free(dg->doms[k].boxes);
		free(dg->doms[k].name);
	}
	free(dg->doms);
}

/* open_digest - the digest template and the state (locked unless a dry run): 0 or the exit status. */
static int
open_digest(struct warn *w, struct mq_template **tmpl_r)
{
	const char *path = w->cfg->warn.digest_template;
	char error[1024];
	int r;

	if (w->cfg->warn.state[0] == '\0') {
		report(MQ_LOG_ERR, "%s: warn.state is empty; --digest needs a state file",
		    w->cfg->file);
		return EX_CONFIG;
	}
	r = load_checked(path, tmpl_r, error, sizeof(error));
	if (r == 0)
		snprintf(error, sizeof(error), "%s: no such file (warn.digest_template)", path);
	if (r <= 0) {
		report(MQ_LOG_ERR, "%s", error);
		return EX_CONFIG;
	}
	if (w->dry_run)
		r = mq_state_open_readonly(w->cfg->warn.state, &w->state, error, sizeof(error));
	else
		r = mq_state_open(w->cfg->warn.state, HOOK_LOCK_WAIT, &w->state, error,
		    sizeof(error));
	if (r != MQ_STATE_OK) {
		report(MQ_LOG_ERR, "state: %s", error);
		return EX_TEMPFAIL;
	}
	return 0;
}

int
run_digest(struct warn *w)
{
	struct mq_strlist users = { 0 };
	struct mq_template *t = NULL;
	struct digest dg = { .now = (int64_t)time(NULL) };
	char error[1024];
	int rc;

	if ((rc = open_digest(w, &t)) != 0) {
		mq_template_free(&t);
		return rc;
	}
	dg.tmpl = t;
	if (mq_session_each_user(w->session, collect_user, &users, error,
	    sizeof(error)) == MQ_TEMPFAIL) {
		report(MQ_LOG_ERR, "users query: %s", error);
		rc = EX_TEMPFAIL;
	} else {
		gather(w, &dg, &users);
		for (size_t k = 0; k < dg.ndoms; k++)
			digest_domain(w, &dg, &dg.doms[k]);
		mq_info("digest%s: %zu domains with mailboxes at or over %d %%, %zu digests "
		    "%s, %zu sent within %d hours, %zu not sent, %zu lookups failed",
		    w->dry_run ? " (dry run)" : "", dg.ndoms, w->cfg->warn.digest_threshold,
		    dg.sent, w->dry_run ? "due" : "sent", dg.recent,
		    w->cfg->warn.digest_interval, dg.failed, dg.lookups_failed);
		rc = dg.failed > 0 || dg.lookups_failed > 0 ? EX_TEMPFAIL : 0;
	}
	digest_free(&dg);
	mq_strlist_free(&users);
	mq_state_close(&w->state);
	mq_template_free(&t);
	return rc;
}
