/* SPDX-License-Identifier: MIT */
/*
 * cli - the commands of the mailquota program and what they share. main()
 * (mailquota.c) reads the configuration and hands argv from the command
 * name on to one of these; each lives in its own cmd_NAME.c and returns
 * the exit status.
 *
 * Exit statuses (docs/mailquota.1):
 *   0   done, nothing to report
 *   1   check: reject; report --over: a mailbox at or above; recalc
 *       --dry-run: a maildirsize drifts
 *   2   a temporary failure: the database or a mailbox could not be read
 *       or written (the rest of a report or recalc is still done)
 *   64  usage error (EX_USAGE)
 *   67  get/recalc: no such mailbox (EX_NOUSER)
 *   74  the output could not be written (EX_IOERR)
 *   78  configuration error (EX_CONFIG)
 */
#ifndef MQ_CLI_H
#define MQ_CLI_H

#include <stdio.h>
#include "config.h"
#include "maildir.h"

#define MQ_EXIT_OK 0
#define MQ_EXIT_FOUND 1
#define MQ_EXIT_TEMPFAIL 2

int mq_cmd_check(const struct mq_config *cfg, int argc, char **argv);
int mq_cmd_get(const struct mq_config *cfg, int argc, char **argv);
int mq_cmd_report(const struct mq_config *cfg, int argc, char **argv);
int mq_cmd_recalc(const struct mq_config *cfg, int argc, char **argv);

/* mq_cli_usage - the whole usage text (mailquota.c). */
void mq_cli_usage(FILE *out);

/* mq_cli_origin_name - where a usage figure came from, in one word. */
const char *mq_cli_origin_name(enum mq_usage_origin origin);

/* mq_cli_shown - text made safe for a message (see mq_sanitize); returns buf. */
const char *mq_cli_shown(char *buf, size_t size, const char *s);

#endif
