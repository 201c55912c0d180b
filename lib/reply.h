/* SPDX-License-Identifier: MIT */
/*
 * reply - the configured reply strings: validation at load time and
 * %{variable} expansion per request. Pure.
 *
 * A reply is "DUNNO" or another Postfix access(5) action word, or an SMTP
 * code: "NNN X.Y.Z text" where the text is present and the enhanced code's
 * class matches the reply code's first digit (RFC 3463); "OK" is refused
 * (it would skip the rest of smtpd_recipient_restrictions). No CR, LF or
 * NUL, at most MQ_REPLY_MAX characters.
 *
 * Variables: %{user} the recipient, %{percent} use in percent, %{limit} and
 * %{used} in binary units ("1.5 GiB"). Unknown %{...} stay as written.
 */
#ifndef MQ_REPLY_H
#define MQ_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct mq_reply_vars {
	const char *user;
	uint64_t limit_bytes;
	uint64_t used_bytes;
};

/* Returns 0, or -1 with a static explanation in *why_r. */
int mq_reply_validate(const char *reply, const char **why_r);
/* Expands into out (truncating at size - 1); returns the length written. */
size_t mq_reply_expand(char *out, size_t size, const char *tmpl,
    const struct mq_reply_vars *vars);

#endif
