/* SPDX-License-Identifier: MIT */
/*
 * compose - a warning mail from a template: RFC 5322 headers, MIME, and the
 * wire forms SMTP needs. Pure: the caller supplies the date, the
 * Message-ID and the variables.
 *
 * The message is text with LF line ends (what sendmail(1) and a Maildir
 * take); mq_smtp_data() turns it into CRLF with dot-stuffing. Headers:
 * From, To, Subject, Date, Message-ID, Auto-Submitted: auto-generated
 * (RFC 3834), MIME-Version, Content-Type: text/plain; charset=UTF-8, and a
 * Content-Transfer-Encoding that keeps every line within 998 octets: 7bit
 * or 8bit when the body's lines are short, quoted-printable otherwise.
 * Header values with non-ASCII text become RFC 2047 encoded-words; long
 * ones are folded. Other template headers (Reply-To, X-...) follow; the
 * ones above cannot be overridden by a template.
 */
#ifndef MQ_WARN_COMPOSE_H
#define MQ_WARN_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "template.h"

#define MQ_LINE_MAX 998		/* RFC 5322 2.1.1, without CRLF */

struct mq_mail {
	const char *from;		/* addr-spec: header From and envelope sender */
	const char *to;			/* addr-spec */
	const char *date;		/* from mq_format_date() */
	const char *message_id;		/* without the angle brackets */
	const struct mq_template *tmpl;
	const struct mq_tvar *vars;
	size_t nvars;
};

/*
 * mq_compose - the whole message, malloc'ed, in *msg_r and *len_r: 0, or -1
 * with the reason (an address that is not a plain dot-atom addr-spec).
 */
int mq_compose(const struct mq_mail *mail, char **msg_r, size_t *len_r,
    char *error, size_t errlen);

/*
 * mq_compose_check - whether a template can be used: no header that the
 * composer sets itself, at most one Subject. 0, or -1 with the reason.
 */
int mq_compose_check(const struct mq_template *tmpl, char *error, size_t errlen);

/* mq_address_ok - a plain addr-spec (dot-atom local part, ASCII domain). */
bool mq_address_ok(const char *addr);

/* mq_format_date - RFC 5322 date-time of tm with its UTC offset in seconds. */
void mq_format_date(char *buf, size_t size, const struct tm *tm, long gmtoff);

/*
 * mq_header_encode - "Name: value" folded to lines of at most 78 octets
 * where the words allow, with RFC 2047 encoded-words (UTF-8, B) when the
 * value has non-ASCII bytes, "=?" or a word too long to fold. Each line
 * ends with LF. Control characters become spaces. Malloc'ed.
 */
char *mq_header_encode(const char *name, const char *value);

/* mq_qp_encode - RFC 2045 quoted-printable of LF-separated text, LF line ends. */
char *mq_qp_encode(const char *text, size_t len, size_t *len_r);

/*
 * mq_message_to_qp - the message with an 8bit body re-encoded as
 * quoted-printable (for an SMTP server without 8BITMIME). NULL when the
 * message is not 8bit and needs no change.
 */
char *mq_message_to_qp(const char *msg, size_t len, size_t *len_r);

/* mq_message_is_8bit - the message declares Content-Transfer-Encoding: 8bit. */
bool mq_message_is_8bit(const char *msg, size_t len);

/*
 * mq_smtp_data - the message as SMTP DATA: CRLF line ends, a line starting
 * with '.' gets another '.', a final CRLF if missing, then ".\r\n".
 */
char *mq_smtp_data(const char *msg, size_t len, size_t *len_r);

#endif
