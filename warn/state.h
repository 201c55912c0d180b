/* SPDX-License-Identifier: MIT */
/*
 * state - the sweep's memory of which warnings were sent, crash-safe.
 *
 * One text file, PATH, of records "USER SLOT MARK WHEN" (USER with bytes
 * outside printable ASCII, blanks and '%' as %XX; SLOT 1..100 or "below";
 * MARK armed, sending, sent or refused; WHEN unix seconds). Reading replays the
 * records in order, the last one per user and slot wins, so the file is
 * both snapshot and journal. Changes are appended with O_APPEND and, when
 * asked, fsync'd; whatever is not is fsync'd by the next synced append and
 * at close. The sweep syncs "sending" before each hand-over; the "sent"
 * after it rides on the next one. A torn or
 * unparsable line (a crash mid-write, a hand edit) is skipped. Compaction
 * writes the live marks to PATH.tmp, fsyncs it, renames it over PATH and
 * fsyncs the directory, so PATH is always either the old or the new file.
 *
 * PATH.lock is flock'ed exclusively for as long as the state is open, so
 * two sweeps (or a sweep and a hook call) never interleave their records.
 */
#ifndef MQ_WARN_STATE_H
#define MQ_WARN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include "mq.h"
#include "statemachine.h"

/*
 * The longest record line: a user of MQ_ADDRESS_MAX bytes, every byte
 * written as %XX, then " below" or " 100", the longest mark name, a
 * signed 64-bit time and the newline. A shorter limit would make replay
 * skip a long user's records and warn that user again.
 */
#define MQ_STATE_LINE_MAX (3 * MQ_ADDRESS_MAX + 64)

enum mq_state_result {
	MQ_STATE_ERROR = -1,
	MQ_STATE_OK = 0,
	MQ_STATE_BUSY = 1,	/* another process holds the lock */
};

struct mq_state;

/*
 * mq_state_open - take the lock (trying for up to wait_secs seconds; 0 =
 * once), read PATH (created when missing) and keep it open for appending.
 */
int mq_state_open(const char *path, int wait_secs, struct mq_state **st_r,
    char *error, size_t errlen);

/* mq_state_open_readonly - read PATH without the lock; nothing is written (dry runs). */
int mq_state_open_readonly(const char *path, struct mq_state **st_r,
    char *error, size_t errlen);

/* mq_state_get - the user's marks (all ARMED when unknown); marks the user as seen. */
void mq_state_get(struct mq_state *st, const char *user, struct mq_warn_marks *m);

/*
 * mq_state_put - record the user's marks: one line per slot that differs
 * from what is stored, appended in one write, then fsync'd when sync.
 * 0, or -1 with the reason (the memory is then unchanged).
 */
int mq_state_put(struct mq_state *st, const char *user,
    const struct mq_warn_marks *m, bool sync, char *error, size_t errlen);

/*
 * mq_state_compact - rewrite PATH with only the live marks (temp file,
 * fsync, rename, directory fsync). prune_unseen: users never passed to
 * mq_state_get since opening are left out (they left the users query).
 */
int mq_state_compact(struct mq_state *st, bool prune_unseen, char *error,
    size_t errlen);

/* mq_state_bloated - the file holds many more records than live marks. */
bool mq_state_bloated(const struct mq_state *st);

/* mq_state_users - users with marks (tests/fuzz/fuzz_state.c compares replays by it). */
size_t mq_state_users(const struct mq_state *st);
/* mq_state_skipped - lines skipped while reading, for the sweep's warning. */
size_t mq_state_skipped(const struct mq_state *st);

/*
 * Records the hook could not put in the state (no access to its directory,
 * a full disk): the hook, which runs as the Maildir's owner, appends them
 * to MQ_STATE_PENDING in the mailbox's Maildir, fsync'd, before it sends;
 * the next sweep applies them to the state, then removes the file. So a
 * warning sent unrecorded is still sent once.
 */
#define MQ_STATE_PENDING "mailquota-warn.pending"
#define MQ_STATE_PENDING_MAX 65536	/* bytes read of it */

/*
 * mq_state_pending_write - append the user's marks to the Maildir (dfd):
 * every slot that is not ARMED, and with armed_from > 0 the slots from
 * armed_from up and the back-under slot as ARMED. 0 or -1 with error.
 */
int mq_state_pending_write(int dfd, const char *user, const struct mq_warn_marks *m,
    unsigned armed_from, char *error, size_t errlen);

/*
 * mq_state_pending_read - apply the Maildir's pending records for user to
 * m, in order: the number applied, 0 when there is no file, -1 when it
 * cannot be read.
 */
int mq_state_pending_read(int dfd, const char *user, struct mq_warn_marks *m);

/* mq_state_pending_done - remove the pending records (once they are in the state). */
void mq_state_pending_done(int dfd);

/* mq_state_close - release the lock and free everything. */
void mq_state_close(struct mq_state **st);

#endif
