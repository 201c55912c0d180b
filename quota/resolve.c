/*
 * resolve - recipient -> local mailboxes, through struct mq_lookup only.
 *
 * Every lookup counts against MQ_MAX_ALIAS_NODES, so a hostile or broken
 * alias table costs bounded work; past a bound the answer is TOOBIG and the
 * caller accepts rather than judge a partial expansion.
 */
#include "autoconf.h"

#include <stddef.h>
#include <string.h>

#include "resolve.h"
#include "util.h"

struct state {
	struct mq_lookup *lookup;
	const char *delimiters;
	struct mq_resolution *out;
	size_t nodes;
	/* The expansion path: addresses (or "@domain") being expanded. */
	const char *path[MQ_MAX_ALIAS_DEPTH + 1];
	size_t depth;
	bool overflow;		/* more mailboxes than MQ_MAX_MAILBOXES */
};

/* get - one lookup, counted; MQ_RES_TOOBIG past the node bound. */
static int
get(struct state *st, enum mq_query_kind kind, const struct mq_key *key,
    const struct mq_record **rec_r)
{
	*rec_r = NULL;
	if (++st->nodes > MQ_MAX_ALIAS_NODES)
		return MQ_RES_TOOBIG;
	return st->lookup->get(st->lookup->ctx, kind, key, rec_r);
}

static bool
on_path(const struct state *st, const char *addr)
{
	for (size_t i = 0; i < st->depth; i++)
		if (strcmp(st->path[i], addr) == 0)
			return true;
	return false;
}

static int
domain_lookup(struct state *st, const char *domain, bool *enabled_r)
{
	struct mq_key key = { .address = domain, .local = "", .domain = domain };
	const struct mq_record *rec;
	int r = get(st, MQ_Q_DOMAIN, &key, &rec);

	if (r == MQ_FOUND) {
		*enabled_r = rec->u.domain.enabled;
		mq_record_unref(&rec);
	}
	return r;
}

/* alias_domain - rewrite addr to its alias domain's target, once. */
static int
alias_domain(struct state *st, struct mq_address *addr)
{
	struct mq_key key = { .address = addr->domain, .local = "", .domain = addr->domain };
	const struct mq_record *rec;
	struct mq_address target;
	int r;

	if (!st->lookup->has_query[MQ_Q_ALIAS_DOMAIN])
		return MQ_NOTFOUND;
	r = get(st, MQ_Q_ALIAS_DOMAIN, &key, &rec);
	if (r != MQ_FOUND)
		return r;
	if (mq_address_with_domain(addr, rec->u.text.value, &target) == 0)
		*addr = target;
	mq_record_unref(&rec);
	return MQ_FOUND;
}

static void
add_box(struct state *st, const struct mq_address *addr,
    const struct mq_record *user, bool domain_enabled)
{
	struct mq_resolution *out = st->out;

	for (size_t i = 0; i < out->nboxes; i++) {
		if (strcmp(out->boxes[i].addr.full, addr->full) == 0) {
			mq_record_unref(&user);
			return;		/* reached twice: one mailbox */
		}
	}
	if (out->nboxes == MQ_MAX_MAILBOXES) {
		mq_record_unref(&user);
		st->overflow = true;
		return;
	}
	out->boxes[out->nboxes].addr = *addr;
	out->boxes[out->nboxes].user = user;
	out->boxes[out->nboxes].domain_enabled = domain_enabled;
	out->nboxes++;
}

static int resolve_address(struct state *, struct mq_address *, enum mq_res_via *);

/* expand - resolve each destination of an alias record found for source. */
static int
expand(struct state *st, const char *source, const struct mq_record *rec)
{
	enum mq_res_via via;
	int r = MQ_RES_FOUND;

	if (st->depth >= MQ_MAX_ALIAS_DEPTH)
		return MQ_RES_TOOBIG;
	st->path[st->depth++] = source;
	for (size_t i = 0; i < rec->u.alias.ndest && r >= 0; i++) {
		const char *d = rec->u.alias.dest[i];
		struct mq_address dest;

		if (mq_address_parse(d, strlen(d), &dest) < 0)
			continue;	/* "|pipe", "/file", ":include:": not a mailbox here */
		r = resolve_address(st, &dest, &via);
		if (r == MQ_RES_NOTLOCAL)
			st->out->nremote++;
		if (r == MQ_RES_NOTLOCAL || r == MQ_RES_NOUSER)
			r = MQ_RES_FOUND;	/* remote or undeliverable: no quota here */
		if (r == MQ_RES_TOOBIG)
			break;
	}
	st->depth--;
	return r;
}

/*
 * resolve_address - exact alias (with, then without the extension), then
 * the mailbox (with, then without), then the catch-all. An address already
 * on the expansion path is taken as a mailbox only.
 */
static int
resolve_address(struct state *st, struct mq_address *addr, enum mq_res_via *via_r)
{
	struct mq_address cand[2], catchall;
	const struct mq_record *rec;
	size_t ncand = 1;
	bool enabled = true;
	int r;

	if ((r = alias_domain(st, addr)) < 0 && r != MQ_NOTFOUND)
		return r;
	if ((r = domain_lookup(st, addr->domain, &enabled)) != MQ_FOUND)
		return r == MQ_NOTFOUND ? MQ_RES_NOTLOCAL : r;
	if (st->depth == 0) {
		st->out->domain_enabled = enabled;
		st->out->matched = *addr;
	}
	cand[0] = *addr;
	if (mq_address_strip_ext(addr, st->delimiters, &cand[1]) == 1)
		ncand = 2;

	for (size_t i = 0; i < ncand; i++) {
		struct mq_key key = mq_address_key(&cand[i]);

		if (on_path(st, cand[i].full))
			continue;
		r = get(st, MQ_Q_ALIAS, &key, &rec);
		if (r == MQ_FOUND) {
			*via_r = MQ_VIA_ALIAS;
			if (st->depth == 0)
				st->out->matched = cand[i];
			r = expand(st, cand[i].full, rec);
			mq_record_unref(&rec);
			return r;
		}
		if (r != MQ_NOTFOUND)
			return r;
	}
	for (size_t i = 0; i < ncand; i++) {
		struct mq_key key = mq_address_key(&cand[i]);

		r = get(st, MQ_Q_USER, &key, &rec);
		if (r == MQ_FOUND) {
			*via_r = MQ_VIA_MAILBOX;
			if (st->depth == 0)
				st->out->matched = cand[i];
			add_box(st, &cand[i], rec, enabled);
			return MQ_RES_FOUND;
		}
		if (r != MQ_NOTFOUND)
			return r;
	}

	/* The catch-all "@domain", looked up with an empty local part. */
	catchall = *addr;
	catchall.local[0] = '\0';
	catchall.full[0] = '@';
	mq_strlcpy(catchall.full + 1, addr->domain, sizeof(catchall.full) - 1);
	if (!on_path(st, catchall.full)) {
		struct mq_key key = mq_address_key(&catchall);

		r = get(st, MQ_Q_ALIAS, &key, &rec);
		if (r == MQ_FOUND) {
			*via_r = MQ_VIA_CATCHALL;
			r = expand(st, catchall.full, rec);
			mq_record_unref(&rec);
			return r;
		}
		if (r != MQ_NOTFOUND)
			return r;
	}
	return MQ_RES_NOUSER;
}

int
mq_resolve(struct mq_lookup *lookup, const char *recipient, size_t len,
    const char *delimiters, struct mq_resolution *out)
{
	struct state st = { .lookup = lookup, .delimiters = delimiters, .out = out };
	struct mq_address addr;
	int r;

	memset(out, 0, offsetof(struct mq_resolution, boxes));
	out->nboxes = 0;
	out->nremote = 0;
	out->domain_enabled = true;
	if (mq_address_parse(recipient, len, &addr) < 0) {
		out->status = MQ_RES_INVALID;
		return out->status;
	}
	out->matched = addr;
	r = resolve_address(&st, &addr, &out->via);
	if (st.overflow && r >= 0)
		r = MQ_RES_TOOBIG;
	if (r < 0 || r == MQ_RES_TOOBIG)
		mq_resolution_release(out);
	out->status = r;
	return r;
}

void
mq_resolution_release(struct mq_resolution *res)
{
	for (size_t i = 0; i < res->nboxes; i++)
		mq_record_unref(&res->boxes[i].user);
	res->nboxes = 0;
}
