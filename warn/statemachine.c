/* SPDX-License-Identifier: MIT */
/*
 * statemachine - thresholds x usage -> the warning to send now, with
 * re-arm hysteresis and renotify (see statemachine.h for the rules).
 */
#include "autoconf.h"

#include <string.h>

#include "statemachine.h"

/* bound - ceil(percent * limit / 100) without overflow (percent <= 100). */
static uint64_t
bound(uint64_t limit, unsigned percent)
{
	uint64_t q = limit / 100, r = limit % 100;

	return percent * q + (percent * r + 99) / 100;
}

bool
mq_warn_reached(uint64_t used, uint64_t limit, unsigned percent)
{
	return limit > 0 && used >= bound(limit, percent);
}

uint64_t
mq_warn_percent(uint64_t used, uint64_t limit)
{
	uint64_t whole, rem;
	unsigned frac = 99;

	if (limit == 0)
		return 0;
	whole = used / limit;
	rem = used % limit;
	while (frac > 0 && rem < bound(limit, frac))
		frac--;
	if (whole > (UINT64_MAX - frac) / 100)
		return UINT64_MAX;
	return whole * 100 + frac;
}

/* rearmed - usage has fallen far enough below t to fire it again later. */
static bool
rearmed(uint64_t used, uint64_t limit, unsigned t, unsigned rearm)
{
	return t > rearm ? used < bound(limit, t - rearm) : used == 0;
}

/* done - the threshold's warning went out, or its recipient refused it. */
static bool
done(unsigned mark)
{
	return mark == MQ_MARK_SENT || mark == MQ_MARK_REFUSED;
}

static void
arm(struct mq_warn_marks *m, unsigned slot)
{
	m->mark[slot] = MQ_MARK_ARMED;
	m->when[slot] = 0;
}

static void
set_sent(struct mq_warn_marks *m, unsigned slot, int64_t now)
{
	m->mark[slot] = MQ_MARK_SENT;
	m->when[slot] = now;
}

static void
configured_set(const struct mq_warn_policy *pol, bool conf[MQ_WARN_SLOTS])
{
	memset(conf, 0, MQ_WARN_SLOTS * sizeof(conf[0]));
	for (size_t i = 0; i < pol->nthresholds; i++)
		if (pol->thresholds[i] >= 1 && pol->thresholds[i] < MQ_WARN_SLOTS)
			conf[pol->thresholds[i]] = true;
}

/* cover - every configured threshold up to top is SENT (now, unless already). */
static void
cover(struct mq_warn_marks *m, const bool conf[MQ_WARN_SLOTS], unsigned top,
    int64_t now)
{
	for (unsigned t = 1; t <= top; t++)
		if (conf[t] && !done(m->mark[t]))
			set_sent(m, t, now);
}

void
mq_warn_plan(const struct mq_warn_policy *pol, const struct mq_warn_marks *cur,
    uint64_t used, uint64_t limit, int64_t now, struct mq_warn_plan *plan)
{
	struct mq_warn_marks m = *cur;
	bool conf[MQ_WARN_SLOTS], higher_sent = false;
	unsigned highest = 0, top = 0;

	memset(plan, 0, sizeof(*plan));
	plan->send = MQ_SEND_NONE;
	configured_set(pol, conf);
	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++) {
		if (conf[s])
			highest = s;
		/* an unconfirmed hand-over counts as not sent; unknown thresholds go */
		if (m.mark[s] == MQ_MARK_SENDING || (s != MQ_WARN_BELOW && !conf[s]) ||
		    m.mark[s] > MQ_MARK_REFUSED)
			arm(&m, s);
	}
	if (limit == 0) {
		memset(&m, 0, sizeof(m));
		plan->now = plan->after = m;
		return;
	}

	for (unsigned t = 1; t < MQ_WARN_SLOTS; t++) {
		if (!conf[t] || !done(m.mark[t]) ||
		    !rearmed(used, limit, t, pol->rearm))
			continue;
		if (t == highest && pol->below_notice) {
			/* re-armed only once the notice is handed over */
			plan->send = MQ_SEND_BELOW;
			plan->slot = MQ_WARN_BELOW;
			plan->threshold = t;
		} else {
			arm(&m, t);
		}
	}
	if (plan->send == MQ_SEND_BELOW) {
		plan->now = m;
		arm(&m, highest);
		arm(&m, MQ_WARN_BELOW);
		plan->after = m;
		return;
	}
	arm(&m, MQ_WARN_BELOW);

	for (unsigned t = 1; t < MQ_WARN_SLOTS; t++)
		if (conf[t] && mq_warn_reached(used, limit, t))
			top = t;
	if (top == 0) {
		plan->now = plan->after = m;
		return;
	}
	for (unsigned t = top + 1; t < MQ_WARN_SLOTS; t++)
		if (conf[t] && done(m.mark[t]))
			higher_sent = true;
	if (!done(m.mark[top]) && !higher_sent) {
		plan->send = MQ_SEND_WARNING;
		plan->slot = plan->threshold = top;
		plan->now = m;
		cover(&m, conf, top, now);
		plan->after = m;
		return;
	}
	/* top is already in force (itself or a higher one): cover silently */
	cover(&m, conf, top, now);
	plan->now = m;
	if (pol->renotify_hours > 0 && now - m.when[top] >=
	    (int64_t)pol->renotify_hours * 3600) {
		plan->send = MQ_SEND_RENOTIFY;
		plan->slot = plan->threshold = top;
		m.when[top] = now;
	}
	plan->after = m;
}

void
mq_warn_hook_plan(const struct mq_warn_policy *pol,
    const struct mq_warn_marks *cur, enum mq_hook_dir dir, unsigned threshold,
    uint64_t used, uint64_t limit, int64_t now, struct mq_warn_plan *plan)
{
	struct mq_warn_marks m = *cur;
	bool conf[MQ_WARN_SLOTS];

	memset(plan, 0, sizeof(*plan));
	plan->send = MQ_SEND_NONE;
	if (threshold < 1 || threshold >= MQ_WARN_SLOTS) {
		plan->now = plan->after = m;
		return;
	}
	configured_set(pol, conf);
	for (unsigned s = 0; s < MQ_WARN_SLOTS; s++)
		if (!done(m.mark[s]))
			arm(&m, s);
	plan->threshold = threshold;
	if (dir == MQ_HOOK_UP) {
		plan->send = MQ_SEND_WARNING;
		plan->slot = threshold;
		plan->now = m;
		cover(&m, conf, threshold, now);
		set_sent(&m, threshold, now);
		arm(&m, MQ_WARN_BELOW);
		plan->after = m;
		return;
	}
	for (unsigned s = threshold; s < MQ_WARN_SLOTS; s++)
		arm(&m, s);
	for (unsigned t = 1; t < threshold; t++)
		if (done(m.mark[t]) && limit > 0 &&
		    rearmed(used, limit, t, pol->rearm))
			arm(&m, t);
	arm(&m, MQ_WARN_BELOW);
	plan->now = plan->after = m;
	if (pol->below_notice) {
		plan->send = MQ_SEND_BELOW;
		plan->slot = MQ_WARN_BELOW;
	}
}
