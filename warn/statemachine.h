/* SPDX-License-Identifier: MIT */
/*
 * statemachine - which warning a mailbox gets now. Pure and table-tested.
 *
 * Each threshold (a percentage, 1..100) of a mailbox is ARMED (may fire),
 * SENT (fired at `when`), REFUSED (refused by the recipient's server at
 * `when`: counts as SENT) or SENDING (a hand-over was started and not
 * confirmed: treated as ARMED, so a warning interrupted by a crash is sent
 * again). Slot 0 is the "back under quota" notice.
 *
 * The sweep rules, for usage U of limit L (0 = unlimited: everything
 * re-arms, nothing is sent):
 *   - a SENT threshold T re-arms when U < (T - rearm) % of L (at U = 0
 *     when rearm >= T): hysteresis, so a mailbox hovering around T is
 *     warned once;
 *   - when the highest configured threshold re-arms and the back-under
 *     notice is enabled, that notice is sent (and the re-arm recorded once
 *     it is handed over);
 *   - of the thresholds U has reached, only the highest is sent, and only
 *     if it is not SENT and no higher threshold is still SENT; the lower
 *     ones it covers are marked SENT with it, so a mailbox that jumps from
 *     50 % to 100 % gets one mail, not three;
 *   - renotify > 0: the highest reached threshold, SENT at least renotify
 *     hours ago, is sent again;
 *   - marks of thresholds no longer configured are dropped.
 * A lowered quota needs no rule of its own: U/L simply jumps.
 */
#ifndef MQ_WARN_STATEMACHINE_H
#define MQ_WARN_STATEMACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQ_WARN_BELOW 0		/* the slot of the back-under notice */
#define MQ_WARN_SLOTS 101	/* 0 and the percentages 1..100 */

/*
 * REFUSED: the recipient's server refused the warning for good (a 5xx
 * for that recipient). It counts as SENT: the sweep goes on and tries
 * again only after a re-arm (or a reminder).
 */
enum mq_mark { MQ_MARK_ARMED = 0, MQ_MARK_SENDING, MQ_MARK_SENT, MQ_MARK_REFUSED };

struct mq_warn_marks {
	uint8_t mark[MQ_WARN_SLOTS];	/* enum mq_mark */
	int64_t when[MQ_WARN_SLOTS];	/* unix time of the last change; 0 when ARMED */
};

struct mq_warn_policy {
	const unsigned *thresholds;	/* ascending, 1..100 */
	size_t nthresholds;
	unsigned rearm;			/* percentage points */
	unsigned renotify_hours;	/* 0 = never */
	bool below_notice;		/* send the back-under notice */
};

enum mq_warn_send {
	MQ_SEND_NONE,
	MQ_SEND_WARNING,		/* threshold crossed upwards */
	MQ_SEND_RENOTIFY,		/* still true after renotify hours */
	MQ_SEND_BELOW,			/* back under the highest threshold */
};

struct mq_warn_plan {
	enum mq_warn_send send;
	unsigned slot;			/* the threshold (WARNING, RENOTIFY) or MQ_WARN_BELOW */
	unsigned threshold;		/* the threshold the mail is about */
	struct mq_warn_marks now;	/* to record at once (re-arms, covered thresholds) */
	struct mq_warn_marks after;	/* to record once the mail is handed over */
};

/* Hook mode: what Dovecot reported. */
enum mq_hook_dir { MQ_HOOK_UP, MQ_HOOK_DOWN };

/* mq_warn_reached - U has reached percent % of L (L > 0), exactly. */
bool mq_warn_reached(uint64_t used, uint64_t limit, unsigned percent);

/* mq_warn_percent - floor(U * 100 / L) without overflow (0 when L is 0). */
uint64_t mq_warn_percent(uint64_t used, uint64_t limit);

/* mq_warn_plan - the sweep's decision for one mailbox. */
void mq_warn_plan(const struct mq_warn_policy *pol, const struct mq_warn_marks *cur,
    uint64_t used, uint64_t limit, int64_t now, struct mq_warn_plan *plan);

/*
 * mq_warn_hook_plan - hook mode: Dovecot decided that threshold was crossed
 * (UP: send its warning; the lower configured thresholds are covered) or
 * that usage fell back under it (DOWN: it and every threshold above re-arm;
 * the back-under notice is sent when enabled).
 */
void mq_warn_hook_plan(const struct mq_warn_policy *pol,
    const struct mq_warn_marks *cur, enum mq_hook_dir dir, unsigned threshold,
    uint64_t used, uint64_t limit, int64_t now, struct mq_warn_plan *plan);

#endif
