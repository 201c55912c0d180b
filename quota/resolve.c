/* SPDX-License-Identifier: MIT */
/*
 * resolve - recipient -> local mailboxes, through struct mq_lookup only.
 *
 * This follows Postfix, which is the test oracle (tests/integ/oracle_postfix.py):
 * mail_addr_find's key order, mail_addr_map's "@domain" results and
 * extension propagation, cleanup_map1n's expansion loop and its limits,
 * split_addr's rules for where an extension starts. Addresses are kept
 * lower-cased, as Postfix's database tables fold their keys.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "resolve.h"
#include "strlist.h"
#include "util.h"

struct state {
	struct mq_lookup *lookup;
	const struct mq_resolve_opts *opts;
	struct mq_resolution *out;
	struct mq_strlist argv;	/* the expansion, as cleanup's argv */
	struct mq_strlist self;	/* addresses that expanded into themselves */
	struct mq_strlist chain;	/* the addresses one slot went through */
};

/* What one address lookup found, for the recipient's own report. */
struct hit {
	bool found;
	bool catchall;
	bool itself;		/* the key mapped to itself alone: a mailbox */
	struct mq_address key;
};

/*
 * ext_cut - where the extension starts in local (Postfix's split_addr):
 * 0 for no extension. postmaster, mailer-daemon and double-bounce are never
 * split; with '-' a delimiter, neither are owner-* and *-request; a local
 * part that would become empty is not split.
 */
static size_t
ext_cut(const char *local, const char *delims)
{
	size_t len = strlen(local), cut;

	if (delims == NULL || *delims == '\0')
		return 0;
	if (strcasecmp(local, "postmaster") == 0 ||
	    strcasecmp(local, "mailer-daemon") == 0 ||
	    strcasecmp(local, "double-bounce") == 0)
		return 0;
	if (strchr(delims, '-') != NULL) {
		if (strncasecmp(local, "owner-", 6) == 0)
			return 0;
		if (len > 8 && strcasecmp(local + len - 8, "-request") == 0)
			return 0;
	}
	cut = strcspn(local, delims);
	return cut == len ? 0 : cut;
}

/* key_of - a lookup key "local@domain" (local may be empty: "@domain"). */
static int
key_of(struct mq_address *k, const char *local, size_t llen, const char *domain)
{
	size_t dlen = strlen(domain);

	if (llen + 1 + dlen > MQ_ADDRESS_MAX)
		return -1;
	memcpy(k->local, local, llen);
	k->local[llen] = '\0';
	memcpy(k->domain, domain, dlen + 1);
	memcpy(k->full, local, llen);
	k->full[llen] = '@';
	memcpy(k->full + llen + 1, domain, dlen + 1);
	return 0;
}

static int
get(struct state *st, enum mq_query_kind kind, const struct mq_address *k,
    const struct mq_record **rec_r)
{
	struct mq_key key = mq_address_key(k);

	*rec_r = NULL;
	if (!st->lookup->has_query[kind])
		return MQ_NOTFOUND;
	return st->lookup->get(st->lookup->ctx, kind, &key, rec_r);
}

/* alias_target - the target of an alias domain, into buf; MQ_NOTFOUND if none. */
static int
alias_target(struct state *st, const char *domain, char *buf, size_t size)
{
	struct mq_address k;
	const struct mq_record *rec;
	int r;

	if (key_of(&k, "", 0, domain) < 0)
		return MQ_NOTFOUND;
	r = get(st, MQ_Q_ALIAS_DOMAIN, &k, &rec);
	if (r != MQ_FOUND)
		return r;
	if (mq_strlcpy(buf, rec->u.text.value, size) >= size || buf[0] == '\0')
		r = MQ_NOTFOUND;	/* no domain fits an address */
	for (char *p = buf; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	mq_record_unref(&rec);
	return r;
}

/* user_enabled - MQ_FOUND with the record only for an enabled mailbox. */
static int
user_enabled(struct state *st, const struct mq_address *k, const struct mq_record **rec_r,
    const struct mq_record **disabled_r)
{
	int r = get(st, MQ_Q_USER, k, rec_r);

	if (r == MQ_FOUND && !(*rec_r)->u.user.enabled) {
		if (disabled_r != NULL && *disabled_r == NULL)
			*disabled_r = mq_record_ref(*rec_r);
		mq_record_unref(rec_r);
		return MQ_NOTFOUND;
	}
	return r;
}

/* alias_rows - the alias query's destinations for k, appended to dest. */
static int
alias_rows(struct state *st, const struct mq_address *k, struct mq_strlist *dest)
{
	const struct mq_record *rec;
	int r = get(st, MQ_Q_ALIAS, k, &rec);

	if (r != MQ_FOUND)
		return r;
	for (size_t i = 0; i < rec->u.alias.ndest; i++)
		mq_strlist_push(dest, xstrdup(rec->u.alias.dest[i]));
	mq_record_unref(&rec);
	return MQ_FOUND;
}

/*
 * map_key - one key through the virtual_alias_maps: the alias query, the
 * mailbox as its own alias (identity), the alias domain's alias of
 * local@target and its catch-all @target (both need a local part, as
 * Postfix's %u suppresses the query). The destinations go to *dest_r
 * (owned), or NULL when nothing matched.
 */
static int
map_key(struct state *st, const struct mq_address *k, struct mq_strlist *dest, bool *catchall_r)
{
	const struct mq_record *rec;
	char target[MQ_ADDRESS_MAX + 1];
	struct mq_address tk;
	int r;

	*catchall_r = k->local[0] == '\0';
	r = alias_rows(st, k, dest);
	if (r != MQ_NOTFOUND)
		return r;
	if (k->local[0] == '\0')
		return MQ_NOTFOUND;
	if (st->opts->identity) {
		r = user_enabled(st, k, &rec, NULL);
		if (r == MQ_FOUND) {
			mq_record_unref(&rec);
			mq_strlist_push(dest, xstrdup(k->full));
			return MQ_FOUND;
		}
		if (r != MQ_NOTFOUND)
			return r;
	}
	if (!st->lookup->has_query[MQ_Q_ALIAS_DOMAIN])
		return MQ_NOTFOUND;
	r = alias_target(st, k->domain, target, sizeof(target));
	if (r != MQ_FOUND)
		return r;
	for (int pass = 0; pass < 2; pass++) {
		if (key_of(&tk, k->local, pass == 0 ? strlen(k->local) : 0, target) < 0)
			continue;
		r = alias_rows(st, &tk, dest);
		if (r == MQ_FOUND)
			*catchall_r = pass == 1;
		if (r != MQ_NOTFOUND)
			return r;
	}
	return MQ_NOTFOUND;
}

/* lower_dup - a lower-cased copy (table keys fold case; so do we). */
static char *
lower_dup(const char *s, size_t n)
{
	char *d = xstrndup(s, n);

	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/*
 * addr_keys - the keys of mail_addr_find for addr: user+ext@domain,
 * user@domain (when there is an extension), @domain. Returns how many, 0
 * for an address that is not a user@domain, -1 for one too long to look
 * up; *llen_r and *cut_r get the local part's length and where its
 * extension starts (0: none).
 */
static int
addr_keys(struct state *st, const char *addr, struct mq_address keys[3],
    size_t *llen_r, size_t *cut_r)
{
	const char *at = strrchr(addr, '@');
	char local[MQ_ADDRESS_MAX + 1];
	size_t llen, cut;
	int n = 0;

	if (at == NULL || at == addr || at[1] == '\0')
		return 0;
	llen = (size_t)(at - addr);
	if (llen > MQ_ADDRESS_MAX)
		return -1;
	memcpy(local, addr, llen);
	local[llen] = '\0';
	cut = ext_cut(local, st->opts->delimiters);
	if (key_of(&keys[n++], addr, llen, at + 1) < 0)
		return -1;
	if (cut > 0)
		(void)key_of(&keys[n++], addr, cut, at + 1);
	(void)key_of(&keys[n++], "", 0, at + 1);
	*llen_r = llen;
	*cut_r = cut;
	return n;
}

/*
 * join_at_result - Postfix prepends the local part to the whole result
 * text and reads that as one address: "@b, x@c" for u@a is the address
 * "u@b, x"@c. Its lookups find at most a catch-all; it is no mailbox.
 */
static void
join_at_result(struct mq_strlist *dest)
{
	struct mq_buf one = { 0 };

	if (dest->n <= 1 || dest->v[0][0] != '@')
		return;
	for (size_t i = 0; i < dest->n; i++) {
		if (i > 0)
			mq_buf_addc(&one, ',');
		mq_buf_adds(&one, dest->v[i]);
		free(dest->v[i]);
	}
	dest->v[0] = mq_buf_steal(&one, NULL);
	dest->n = 1;
}

/*
 * map_results - the destinations as mail_addr_map returns them: a first
 * "@other" gets the local part of addr (its first keep bytes), and ext
 * (the unmatched extension, elen bytes; NULL: none) goes to every result
 * when propagated. Lower-cased into result.
 */
static void
map_results(struct state *st, const char *addr, size_t keep, const char *ext,
    size_t elen, const struct mq_strlist *dest, struct mq_strlist *result)
{
	for (size_t i = 0; i < dest->n; i++) {
		const char *d = dest->v[i];
		const char *dat;
		char *s;

		if (i == 0 && d[0] == '@')
			s = xasprintf("%.*s%s", (int)keep, addr, d);
		else
			s = xstrdup(d);
		if (ext != NULL && st->opts->propagate) {
			char *t;

			dat = strrchr(s, '@');
			if (dat == NULL)
				t = xasprintf("%s%.*s", s, (int)elen, ext);
			else
				t = xasprintf("%.*s%.*s%s", (int)(dat - s), s,
				    (int)elen, ext, dat);
			free(s);
			s = t;
		}
		mq_strlist_push(result, lower_dup(s, strlen(s)));
		free(s);
	}
}

/*
 * addr_map - Postfix's mail_addr_map for one address: the first key of
 * user+ext@domain, user@domain, @domain that any map knows; a first result
 * "@other" gets the address's local part (less an unmatched extension);
 * the unmatched extension goes to every result. MQ_NOTFOUND for an address
 * that is not a user@domain (it is final as it is).
 */
static int
addr_map(struct state *st, const char *addr, struct mq_strlist *result, struct hit *hit)
{
	struct mq_address keys[3];
	size_t llen = 0, cut = 0, matched = 0;
	struct mq_strlist dest = { 0 };
	bool catchall = false;
	int nkeys, r = MQ_NOTFOUND;
	const char *ext;

	nkeys = addr_keys(st, addr, keys, &llen, &cut);
	if (nkeys <= 0)
		return nkeys == 0 ? MQ_NOTFOUND : MQ_RES_TOOBIG;
	for (int i = 0; i < nkeys; i++) {
		r = map_key(st, &keys[i], &dest, &catchall);
		if (r == MQ_FOUND) {
			matched = (size_t)i;
			break;
		}
		if (r != MQ_NOTFOUND) {
			mq_strlist_free(&dest);
			return r;
		}
	}
	if (r != MQ_FOUND)
		return MQ_NOTFOUND;
	if (hit != NULL) {
		hit->found = true;
		hit->catchall = catchall;
		hit->key = keys[matched];
		hit->itself = dest.n == 1 && strcasecmp(dest.v[0], keys[matched].full) == 0;
	}
	join_at_result(&dest);
	/* The unmatched extension: when user@domain matched user+ext@domain. */
	ext = cut > 0 && matched == 1 ? addr + cut : NULL;
	map_results(st, addr, ext != NULL ? cut : llen, ext, llen - cut, &dest,
	    result);
	mq_strlist_free(&dest);
	return MQ_FOUND;
}

/*
 * expand - cleanup_map1n: every address of argv is expanded in place until
 * a lookup finds nothing or it expanded into itself; more addresses are
 * appended. TOOBIG where Postfix defers the message.
 */
static int
expand(struct state *st, struct hit *hit)
{
	for (size_t i = 0; i < st->argv.n; i++) {
		if (st->argv.n > MQ_VIRTUAL_ALIAS_EXPANSION_LIMIT)
			return MQ_RES_TOOBIG;
		mq_strlist_free(&st->chain);
		for (size_t count = 0;; count++) {
			struct mq_strlist res = { 0 };
			char *saved;
			int r;

			if (mq_strlist_has(&st->self, st->argv.v[i]))
				break;
			/* A chain back to an address it passed repeats until the limit. */
			if (count >= MQ_VIRTUAL_ALIAS_RECURSION_LIMIT ||
			    mq_strlist_has(&st->chain, st->argv.v[i]))
				return MQ_RES_TOOBIG;
			mq_strlist_push(&st->chain, xstrdup(st->argv.v[i]));
			r = addr_map(st, st->argv.v[i], &res, i == 0 && count == 0 ? hit : NULL);
			if (r == MQ_NOTFOUND)
				break;
			if (r != MQ_FOUND)
				return r;
			saved = st->argv.v[i];
			for (size_t j = 0; j < res.n; j++) {
				if (strcmp(saved, res.v[j]) == 0 && !mq_strlist_has(&st->self, saved))
					mq_strlist_push(&st->self, xstrdup(saved));
				if (j == 0)
					st->argv.v[i] = res.v[j];
				else
					mq_strlist_push(&st->argv, res.v[j]);
			}
			free(saved);
			free(res.v);	/* the strings moved to argv */
			if (res.n == 0)
				break;	/* an empty result: nothing to expand */
		}
	}
	return MQ_RES_FOUND;
}

static void
add_box(struct state *st, const struct mq_address *addr, const struct mq_record *user)
{
	struct mq_resolution *out = st->out;

	for (size_t i = 0; i < out->nboxes; i++) {
		if (out->boxes[i].user == user ||
		    strcmp(out->boxes[i].addr.full, addr->full) == 0) {
			mq_record_unref(&user);
			return;		/* reached twice: one mailbox */
		}
	}
	if (out->nboxes == out->boxcap) {
		out->boxcap = out->boxcap ? out->boxcap * 2 : 8;
		out->boxes = xreallocarray(out->boxes, out->boxcap, sizeof(*out->boxes));
	}
	out->boxes[out->nboxes].addr = *addr;
	out->boxes[out->nboxes].user = user;
	out->boxes[out->nboxes].domain_enabled = true;
	out->nboxes++;
}

/*
 * mailbox - the enabled mailbox a final address is delivered to, as
 * virtual_mailbox_maps finds it: user+ext@domain, then user@domain, each as
 * itself and in the alias domain's target. MQ_NOTFOUND when there is none;
 * *disabled_r gets the first disabled mailbox passed over.
 */
static int
mailbox(struct state *st, const struct mq_address *a, struct mq_address *box_r,
    const struct mq_record **rec_r, const struct mq_record **disabled_r)
{
	char target[MQ_ADDRESS_MAX + 1];
	bool have_target = false;
	struct mq_address k;
	size_t cut = ext_cut(a->local, st->opts->delimiters);
	int r;

	if (st->lookup->has_query[MQ_Q_ALIAS_DOMAIN]) {
		r = alias_target(st, a->domain, target, sizeof(target));
		if (r != MQ_FOUND && r != MQ_NOTFOUND)
			return r;
		have_target = r == MQ_FOUND;
	}
	for (int form = 0; form < 2; form++) {
		size_t llen = form == 0 ? strlen(a->local) : cut;

		if (form == 1 && cut == 0)
			break;
		for (int t = 0; t < (have_target ? 2 : 1); t++) {
			if (key_of(&k, a->local, llen, t == 0 ? a->domain : target) < 0)
				continue;
			r = user_enabled(st, &k, rec_r, disabled_r);
			if (r == MQ_FOUND) {
				*box_r = k;
				return MQ_FOUND;
			}
			if (r != MQ_NOTFOUND)
				return r;
		}
	}
	return MQ_NOTFOUND;
}

static int
domain_state(struct state *st, const char *domain, bool *enabled_r)
{
	struct mq_address k;
	const struct mq_record *rec;
	int r;

	if (key_of(&k, "", 0, domain) < 0)
		return MQ_NOTFOUND;
	r = get(st, MQ_Q_DOMAIN, &k, &rec);
	if (r == MQ_FOUND) {
		*enabled_r = rec->u.domain.enabled;
		mq_record_unref(&rec);
	}
	return r;
}

/*
 * final_boxes - the mailboxes of the expansion's final addresses: those in
 * an enabled domain of ours with an enabled mailbox; the others are remote.
 */
static int
final_boxes(struct state *st, const struct mq_address *rcpt)
{
	struct mq_resolution *out = st->out;
	const struct mq_record *rec;
	struct mq_address box, parsed;
	bool enabled = true;
	bool rcpt_final = mq_address_reparses(rcpt);
	int r;

	for (size_t i = 0; i < st->argv.n; i++) {
		const struct mq_address *a = &parsed;
		const char *s = st->argv.v[i];

		/* The recipient itself (a mailbox) is parsed already. */
		if (rcpt_final && strcmp(s, rcpt->full) == 0) {
			a = rcpt;
		} else if (mq_address_parse(s, strlen(s), &parsed) < 0) {
			if (strlen(s) > MQ_ADDRESS_MAX)
				return MQ_RES_TOOBIG;	/* cannot look it up: not judged */
			out->nremote++;
			continue;
		}
		r = domain_state(st, a->domain, &enabled);
		if (r == MQ_NOTFOUND || (r == MQ_FOUND && !enabled)) {
			out->nremote++;		/* not a virtual mailbox domain */
			continue;
		}
		if (r != MQ_FOUND)
			return r;
		r = mailbox(st, a, &box, &rec, NULL);
		if (r == MQ_NOTFOUND) {
			out->nremote++;		/* bounces after acceptance */
			continue;
		}
		if (r != MQ_FOUND)
			return r;
		add_box(st, &box, rec);
	}
	return MQ_RES_FOUND;
}

static int
resolve(struct state *st, const struct mq_address *rcpt)
{
	struct mq_resolution *out = st->out;
	const struct mq_record *rec, *disabled = NULL;
	struct mq_address box;
	struct hit hit = { 0 };
	bool enabled = true;
	int r;

	r = domain_state(st, rcpt->domain, &enabled);
	if (r != MQ_FOUND)
		return r == MQ_NOTFOUND ? MQ_RES_NOTLOCAL : r;
	out->domain_enabled = enabled;
	if (!enabled)
		return MQ_RES_NOUSER;	/* the caller answers "disabled" */

	mq_strlist_push(&st->argv, xstrdup(rcpt->full));
	r = expand(st, &hit);
	if (r != MQ_RES_FOUND)
		return r;
	if (hit.found) {
		/* A mailbox as its own alias (or self-alias) is a mailbox. */
		out->via = hit.itself ? MQ_VIA_MAILBOX :
		    hit.catchall ? MQ_VIA_CATCHALL : MQ_VIA_ALIAS;
		out->matched = hit.key;
	} else {
		/* Not in virtual_alias_maps: smtpd wants a mailbox. */
		r = mailbox(st, rcpt, &box, &rec, &disabled);
		if (r == MQ_NOTFOUND) {
			if (disabled == NULL)
				return MQ_RES_NOUSER;
			/* Only a disabled mailbox: say so rather than "unknown". */
			add_box(st, rcpt, disabled);
			out->via = MQ_VIA_MAILBOX;
			return MQ_RES_FOUND;
		}
		if (r != MQ_FOUND)
			goto fail;
		mq_record_unref(&rec);
		out->via = MQ_VIA_MAILBOX;
		out->matched = box;
	}
	if (disabled != NULL)
		mq_record_unref(&disabled);
	return final_boxes(st, rcpt);
fail:
	if (disabled != NULL)
		mq_record_unref(&disabled);
	return r;
}

int
mq_resolve_address(struct mq_lookup *lookup, const struct mq_address *rcpt,
    const struct mq_resolve_opts *opts, struct mq_resolution *out)
{
	struct state st = { .lookup = lookup, .opts = opts, .out = out };
	int r;

	out->status = MQ_RES_NOUSER;
	out->via = MQ_VIA_MAILBOX;
	out->domain_enabled = true;
	out->nboxes = 0;
	out->nremote = 0;
	out->matched = *rcpt;
	r = resolve(&st, rcpt);
	mq_strlist_free(&st.argv);
	mq_strlist_free(&st.self);
	mq_strlist_free(&st.chain);
	if (r < 0 || r == MQ_RES_TOOBIG || r == MQ_RES_NOTLOCAL || r == MQ_RES_NOUSER)
		mq_resolution_release(out);
	out->status = r;
	return r;
}

int
mq_resolve(struct mq_lookup *lookup, const char *recipient, size_t len,
    const struct mq_resolve_opts *opts, struct mq_resolution *out)
{
	struct mq_address addr;

	if (mq_address_parse(recipient, len, &addr) < 0) {
		out->status = MQ_RES_INVALID;
		out->via = MQ_VIA_MAILBOX;
		out->domain_enabled = true;
		out->nboxes = 0;
		out->nremote = 0;
		memset(&out->matched, 0, sizeof(out->matched));
		return out->status;
	}
	return mq_resolve_address(lookup, &addr, opts, out);
}

void
mq_resolution_release(struct mq_resolution *res)
{
	for (size_t i = 0; i < res->nboxes; i++)
		mq_record_unref(&res->boxes[i].user);
	res->nboxes = 0;
}

void
mq_resolution_free(struct mq_resolution *res)
{
	mq_resolution_release(res);
	free(res->boxes);
	res->boxes = NULL;
	res->boxcap = 0;
}
