/* SPDX-License-Identifier: MIT */
/*
 * decide - the quota arithmetic and the combination of several mailboxes.
 * Pure and table-tested.
 *
 * One mailbox (limits 0 = unlimited), Dovecot's quota_test_alloc:
 *   disabled                                   -> DISABLED
 *   messages + 1 > limit_messages, or
 *   used >= limit_bytes, or
 *   used + size > limit_bytes + grace          -> refused
 *   refused and size > limit_bytes             -> TOOLARGE
 *   refused                                    -> OVERQUOTA
 *   otherwise                                  -> SUCCESS
 * A message that exactly fills the quota is accepted, and so is one bigger
 * than the limit that fits within limit + grace. Size 0 (not known) is
 * checked as 1 byte. No sum overflows.
 *
 * Several mailboxes (an alias): disabled ones are left out (their own
 * delivery fails later); none left enabled -> DISABLED. The alias is
 * rejected when all (MQ_ALIAS_ALL) or any (MQ_ALIAS_ANY) of the enabled ones
 * would reject; the reply is TOOLARGE when every rejecting mailbox says
 * TOOLARGE, else OVERQUOTA. No mailbox at all (every destination remote)
 * -> SUCCESS.
 */
#ifndef MQ_DECIDE_H
#define MQ_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mq.h"

enum mq_outcome {
	MQ_OUT_SUCCESS,
	MQ_OUT_NOUSER,
	MQ_OUT_DISABLED,
	MQ_OUT_OVERQUOTA,
	MQ_OUT_TOOLARGE,
	MQ_OUT_TEMPFAIL,
	MQ_OUT_COUNT
};

struct mq_box_state {
	bool enabled;
	uint64_t limit_bytes;
	uint64_t limit_messages;
	uint64_t used_bytes;
	uint64_t used_messages;
};

struct mq_grace {
	uint64_t bytes;
	unsigned percent;		/* of limit_bytes, when bytes is 0 */
};

uint64_t mq_grace_for(const struct mq_grace *grace, uint64_t limit_bytes);
enum mq_outcome mq_decide_box(const struct mq_box_state *box, uint64_t size,
    const struct mq_grace *grace);
/* which_r: the index of the mailbox that decided (or n when none did). */
enum mq_outcome mq_decide_boxes(const struct mq_box_state *boxes, size_t n,
    enum mq_alias_overquota mode, uint64_t size, const struct mq_grace *grace,
    size_t *which_r);
/*
 * mq_decide_outcomes - mq_decide_boxes for mailboxes already judged one by
 * one with mq_decide_box (outcomes[i] for mailbox i), so that none is
 * judged twice.
 */
enum mq_outcome mq_decide_outcomes(const enum mq_outcome *outcomes, size_t n,
    enum mq_alias_overquota mode, size_t *which_r);

const char *mq_outcome_name(enum mq_outcome outcome);

#endif
