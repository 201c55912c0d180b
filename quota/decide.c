/* SPDX-License-Identifier: MIT */
/*
 * decide - the quota arithmetic (Dovecot's rules, see decide.h) for one
 * mailbox, and how several mailboxes of an alias combine. Pure.
 *
 * Every figure is a uint64_t that may come from a database row or a
 * maildirsize file, so none of the comparisons may overflow: used + size is
 * never computed, and limit + grace saturates at UINT64_MAX.
 */
#include "autoconf.h"

#include <stdint.h>
#include <string.h>

#include "decide.h"

static const char *const outcome_names[MQ_OUT_COUNT] = {
	[MQ_OUT_SUCCESS] = "success",
	[MQ_OUT_NOUSER] = "nouser",
	[MQ_OUT_DISABLED] = "disabled",
	[MQ_OUT_OVERQUOTA] = "overquota",
	[MQ_OUT_TOOLARGE] = "toolarge",
	[MQ_OUT_TEMPFAIL] = "tempfail",
};

/*
 * mq_grace_for - grace bytes for a limit: fixed, else limit * percent /
 * 100. For a limit Dovecot can hold (up to INT64_MAX) the percentage is
 * Dovecot's own signed 64-bit arithmetic, wrap included: above
 * INT64_MAX / percent its product overflows, and the grace it delivers
 * with is that wrapped value (0 for a limit of INT64_MAX at 10 %, or
 * "negative", i.e. near 2^64 once seen as its unsigned extra bytes).
 */
uint64_t
mq_grace_for(const struct mq_grace *grace, uint64_t limit_bytes)
{
	uint64_t q, r, whole, part;

	if (grace == NULL)
		return 0;
	if (grace->bytes != 0)
		return grace->bytes;
	if (grace->percent == 0 || limit_bytes == 0)
		return 0;
	if (limit_bytes <= INT64_MAX) {
		uint64_t prod = limit_bytes * grace->percent;	/* wraps */
		int64_t sp;

		memcpy(&sp, &prod, sizeof(sp));
		return (uint64_t)(sp / 100);
	}
	/*
	 * limit * p / 100 == (q * 100 + r) * p / 100 == q * p + r * p / 100
	 * exactly (integer division), where r * p < 100 * 2^32 cannot overflow.
	 */
	q = limit_bytes / 100;
	r = limit_bytes % 100;
	if (q > UINT64_MAX / grace->percent)
		return UINT64_MAX;
	whole = q * grace->percent;
	part = r * grace->percent / 100;
	if (whole > UINT64_MAX - part)
		return UINT64_MAX;
	return whole + part;
}

/*
 * mq_decide_box - the outcome for one mailbox receiving size bytes, as
 * Dovecot's quota_test_alloc at delivery: refused when the message count
 * is at its limit or the message does not fit below limit + grace (none
 * when already at the limit); a refused message bigger than the whole
 * limit is TOOLARGE. Size 0 (unknown) is checked as one byte.
 */
enum mq_outcome
mq_decide_box(const struct mq_box_state *box, uint64_t size,
    const struct mq_grace *grace)
{
	bool refused = false;

	if (!box->enabled)
		return MQ_OUT_DISABLED;
	if (size == 0)
		size = 1;
	/* messages + 1 > limit, without the + 1 overflowing. */
	if (box->limit_messages != 0 &&
	    box->used_messages >= box->limit_messages)
		refused = true;
	if (box->limit_bytes != 0) {
		uint64_t g, room;

		if (box->used_bytes >= box->limit_bytes) {
			refused = true;
		} else {
			g = mq_grace_for(grace, box->limit_bytes);
			room = box->limit_bytes - box->used_bytes;
			/*
			 * A percentage in Dovecot's range: its uint64_t ceiling,
			 * which wraps with an overflowed grace. Else it holds.
			 */
			if (grace != NULL && grace->bytes == 0 &&
			    box->limit_bytes <= INT64_MAX)
				room += g;
			else
				room = room > UINT64_MAX - g ? UINT64_MAX : room + g;
			if (size > room)
				refused = true;
		}
	}
	if (!refused)
		return MQ_OUT_SUCCESS;
	return box->limit_bytes != 0 && size > box->limit_bytes ?
	    MQ_OUT_TOOLARGE : MQ_OUT_OVERQUOTA;
}

/*
 * combine - mq_decide_boxes over outcomes already judged (outcomes given),
 * or judging each mailbox here (outcomes NULL): each one is judged once.
 * *which_r names the mailbox whose figures explain the answer: the first
 * rejecting one (for OVERQUOTA one that said OVERQUOTA), the first
 * accepting enabled one for SUCCESS, the first one for DISABLED, and n
 * when there is no mailbox.
 */
static enum mq_outcome
combine(const struct mq_box_state *boxes, const enum mq_outcome *outcomes,
    size_t n, enum mq_alias_overquota mode, uint64_t size,
    const struct mq_grace *grace, size_t *which_r)
{
	size_t i, enabled = 0, rejects = 0, toolarge = 0;
	size_t first_accept = n, first_over = n, first_large = n;
	enum mq_outcome out, result;
	size_t which;
	bool rejected;

	for (i = 0; i < n; i++) {
		out = outcomes != NULL ? outcomes[i] :
		    mq_decide_box(&boxes[i], size, grace);
		switch (out) {
		case MQ_OUT_DISABLED:
			continue;
		case MQ_OUT_SUCCESS:
			if (first_accept == n)
				first_accept = i;
			break;
		case MQ_OUT_TOOLARGE:
			toolarge++;
			rejects++;
			if (first_large == n)
				first_large = i;
			break;
		default:
			rejects++;
			if (first_over == n)
				first_over = i;
			break;
		}
		enabled++;
	}

	if (n == 0) {
		result = MQ_OUT_SUCCESS;
		which = n;
	} else if (enabled == 0) {
		result = MQ_OUT_DISABLED;
		which = 0;
	} else {
		rejected = mode == MQ_ALIAS_ANY ? rejects > 0 : rejects == enabled;
		if (!rejected) {
			result = MQ_OUT_SUCCESS;
			which = first_accept;
		} else if (toolarge == rejects) {
			result = MQ_OUT_TOOLARGE;
			which = first_large;
		} else {
			result = MQ_OUT_OVERQUOTA;
			which = first_over;
		}
	}
	if (which_r != NULL)
		*which_r = which;
	return result;
}

enum mq_outcome
mq_decide_boxes(const struct mq_box_state *boxes, size_t n,
    enum mq_alias_overquota mode, uint64_t size, const struct mq_grace *grace,
    size_t *which_r)
{
	return combine(boxes, NULL, n, mode, size, grace, which_r);
}

enum mq_outcome
mq_decide_outcomes(const enum mq_outcome *outcomes, size_t n,
    enum mq_alias_overquota mode, size_t *which_r)
{
	return combine(NULL, outcomes, n, mode, 0, NULL, which_r);
}

/* mq_outcome_name - the log and metrics name of an outcome. */
const char *
mq_outcome_name(enum mq_outcome outcome)
{
	if ((unsigned)outcome >= MQ_OUT_COUNT)
		return "unknown";
	return outcome_names[outcome];
}
