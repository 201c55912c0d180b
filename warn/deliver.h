/* SPDX-License-Identifier: MIT */
/*
 * deliver - hand a composed warning over: to sendmail(1), to an SMTP
 * server, or straight into the user's Maildir.
 *
 * sendmail: fork/exec "SENDMAIL -i -f FROM -- RCPT", the message on its
 *   stdin; handed over when it exits 0 within the timeout.
 * smtp: a small client for a local MTA: greeting, EHLO (HELO when refused),
 *   MAIL FROM (BODY=8BITMIME when offered, else an 8bit body is sent as
 *   quoted-printable), RCPT TO, DATA with dot-stuffing, QUIT. Every reply
 *   is read within the timeout and its code checked.
 * maildir: Courier deliverquota's way for a full mailbox: the file is
 *   written in tmp/ and renamed into new/ under a Maildir++ name with
 *   ",S=SIZE", then "SIZE 1" is appended to maildirsize (when there is
 *   one), all owned by the Maildir directory's owner. The Maildir is opened
 *   confined under maildir.base (mq_maildir_open), everything O_NOFOLLOW.
 * Each returns 0 when handed over, or with the reason in error:
 *   MQ_DELIVER_FAILED   the transport failed (no connection, a timeout, a
 *                       temporary refusal, sendmail exiting otherwise):
 *                       trying again later may work;
 *   MQ_DELIVER_REFUSED  this recipient was refused for good: a 5xx reply to
 *                       RCPT TO or to the end of data, or sendmail exiting
 *                       65 (EX_DATAERR), 67 (EX_NOUSER) or 68 (EX_NOHOST);
 *   MQ_DELIVER_FULL     the same, because the mailbox is full: reply 552 or
 *                       enhanced status 5.2.2.
 */
#ifndef MQ_WARN_DELIVER_H
#define MQ_WARN_DELIVER_H

#include <stddef.h>
#include "config.h"

#define MQ_DELIVER_FAILED (-1)
#define MQ_DELIVER_REFUSED (-4)
#define MQ_DELIVER_FULL (-5)

struct mq_deliver_opts {
	enum mq_delivery method;
	const char *sendmail;	/* absolute path */
	const char *smtp;	/* "inet:HOST:PORT", "inet:[V6]:PORT" */
	const char *from;	/* envelope sender */
	const char *base;	/* maildir.base */
	int timeout;		/* seconds: sendmail's run, each SMTP step */
};

/* mq_deliver - by o->method; maildir is the user's path (relative to base). */
int mq_deliver(const struct mq_deliver_opts *o, const char *rcpt,
    const char *maildir, const char *msg, size_t len, char *error, size_t errlen);

int mq_deliver_sendmail(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen);
int mq_deliver_smtp(const struct mq_deliver_opts *o, const char *rcpt,
    const char *msg, size_t len, char *error, size_t errlen);
int mq_deliver_maildir(const struct mq_deliver_opts *o, const char *maildir,
    const char *msg, size_t len, char *error, size_t errlen);

/*
 * mq_smtp_reply - parse one complete SMTP reply at the start of buf:
 * the number of bytes it takes (0 = not complete yet, -1 = malformed) and
 * its code. Pure; used by the client and its tests.
 */
long mq_smtp_reply(const char *buf, size_t len, int *code_r);

/* mq_maildir_name - a Maildir++ unique name "SECS.MUSECSPPID_QN.HOST,S=SIZE". */
void mq_maildir_name(char *buf, size_t size, long long secs, long usecs,
    long pid, unsigned seq, const char *host, size_t msgsize);

#endif
