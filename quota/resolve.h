/*
 * resolve - recipient -> the local mailboxes whose quota decides it.
 * Written once against struct mq_lookup, so the same code runs cache-only on
 * the event loop and cache-then-database in a worker and in the CLI.
 *
 * Order (Postfix's, with SPEC's precedence): the address is lower-cased; an
 * alias domain maps to its target domain; a domain not in the database is
 * not local (MQ_RES_NOTLOCAL: no quota here); then the exact alias (with,
 * then without the +extension), the mailbox (with, then without), and the
 * domain's catch-all "@domain". Alias destinations expand recursively the
 * same way; an address already on the expansion path (a self-reference or a
 * loop) is looked up as a mailbox only; destinations outside the database's
 * domains are ignored; depth and node count are bounded, and an expansion
 * past the bounds is MQ_RES_TOOBIG (never a reject on a partial view).
 */
#ifndef MQ_RESOLVE_H
#define MQ_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include "address.h"
#include "lookup.h"

#define MQ_MAX_MAILBOXES 64
#define MQ_MAX_ALIAS_DEPTH 10
#define MQ_MAX_ALIAS_NODES 256

enum mq_res_status {
	MQ_RES_TEMPFAIL = MQ_TEMPFAIL,	/* a lookup failed; its get() keeps why */
	MQ_RES_MISS = MQ_MISS,		/* cache-only and something was not cached */
	MQ_RES_NOUSER = 0,		/* local domain, no mailbox, alias or catch-all */
	MQ_RES_FOUND = 1,		/* boxes[] holds the mailboxes (maybe none: all remote) */
	MQ_RES_NOTLOCAL = 2,		/* the domain is not in the database */
	MQ_RES_INVALID = 3,		/* not a parseable address */
	MQ_RES_TOOBIG = 4,		/* alias expansion past the bounds */
};

enum mq_res_via { MQ_VIA_MAILBOX, MQ_VIA_ALIAS, MQ_VIA_CATCHALL };

struct mq_mailbox {
	struct mq_address addr;
	const struct mq_record *user;	/* owned: released by mq_resolution_release */
	bool domain_enabled;
};

struct mq_resolution {
	enum mq_res_status status;
	enum mq_res_via via;		/* how the recipient itself matched */
	bool domain_enabled;		/* the recipient's (target) domain */
	struct mq_address matched;	/* the address that matched (after +ext strip, alias domain) */
	size_t nboxes;
	struct mq_mailbox boxes[MQ_MAX_MAILBOXES];
	size_t nremote;			/* destinations ignored as not local */
};

int mq_resolve(struct mq_lookup *lookup, const char *recipient, size_t len,
    const char *delimiters, struct mq_resolution *out);
void mq_resolution_release(struct mq_resolution *res);

#endif
