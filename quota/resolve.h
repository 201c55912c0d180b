/* SPDX-License-Identifier: MIT */
/*
 * resolve - recipient -> the local mailboxes whose quota decides it, the
 * way Postfix's cleanup(8) expands virtual_alias_maps and its
 * trivial-rewrite(8) and virtual(8) find a virtual mailbox. Written once
 * against struct mq_lookup, so the same code runs cache-only on the event
 * loop and cache-then-database in a worker and in the CLI.
 *
 * One address is looked up (mail_addr_find's order) as user+ext@domain,
 * user@domain, then @domain; each key goes through the alias query, then
 * the mailbox as its own alias when opts->identity (the tutorial's
 * email2email map), then the alias domain's alias and catch-all
 * (PostfixAdmin's alias-domain maps). A result "@other" is the same local
 * part (without the unmatched extension) in other; the unmatched extension
 * is appended to every result (propagate_unmatched_extensions). The
 * recipient is expanded as cleanup does: each address until a lookup finds
 * nothing or it expanded into itself; a chain that comes back to an address
 * or grows past MQ_VIRTUAL_ALIAS_RECURSION_LIMIT, or a list past
 * MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT addresses, is where Postfix defers the
 * message: MQ_RES_TOOBIG. The final addresses in an enabled domain whose
 * mailbox (with, then without the extension, or the alias domain's target)
 * is enabled are the mailboxes.
 */
#ifndef MQ_RESOLVE_H
#define MQ_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include "address.h"
#include "lookup.h"

/* Postfix's virtual_alias_recursion_limit and virtual_alias_expansion_limit defaults. */
#define MQ_VIRTUAL_ALIAS_RECURSION_LIMIT 1000
#define MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT 1000

enum mq_res_status {
	MQ_RES_TEMPFAIL = MQ_TEMPFAIL,	/* a lookup failed; its get() keeps why */
	MQ_RES_MISS = MQ_MISS,		/* cache-only and something was not cached */
	MQ_RES_NOUSER = 0,		/* hosted domain, no alias, mailbox or catch-all */
	MQ_RES_FOUND = 1,		/* boxes[] holds the mailboxes (maybe none) */
	MQ_RES_NOTLOCAL = 2,		/* the domain is not in the database */
	MQ_RES_INVALID = 3,		/* not a parseable address */
	MQ_RES_TOOBIG = 4,		/* where Postfix defers the expansion */
};

enum mq_res_via { MQ_VIA_MAILBOX, MQ_VIA_ALIAS, MQ_VIA_CATCHALL };

struct mq_mailbox {
	struct mq_address addr;
	const struct mq_record *user;	/* owned: released by mq_resolution_release */
	bool domain_enabled;
};

struct mq_resolve_opts {
	const char *delimiters;		/* recipient_delimiter; "" or NULL: none */
	bool identity;			/* a mailbox is its own alias (email2email) */
	bool propagate;			/* propagate_unmatched_extensions has "virtual" */
};

struct mq_resolution {
	enum mq_res_status status;
	enum mq_res_via via;		/* how the recipient itself matched */
	bool domain_enabled;		/* the recipient's domain */
	struct mq_address matched;	/* the key that matched the recipient */
	size_t nboxes;
	struct mq_mailbox *boxes;	/* grown as needed; kept between calls */
	size_t boxcap;
	size_t nremote;			/* final addresses that are not local mailboxes */
};

int mq_resolve(struct mq_lookup *lookup, const char *recipient, size_t len,
    const struct mq_resolve_opts *opts, struct mq_resolution *out);
/*
 * mq_resolve_address - mq_resolve for a recipient the caller has parsed
 * already (mq_address_parse), so that it is not parsed again.
 */
int mq_resolve_address(struct mq_lookup *lookup, const struct mq_address *rcpt,
    const struct mq_resolve_opts *opts, struct mq_resolution *out);
/* mq_resolution_release - the records; the boxes array stays for reuse. */
void mq_resolution_release(struct mq_resolution *res);
/* mq_resolution_free - release and free the boxes array. */
void mq_resolution_free(struct mq_resolution *res);

#endif
