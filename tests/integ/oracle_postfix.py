#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""oracle_postfix - Postfix itself decides how a recipient resolves.

A seeded generator builds random estates (domains, alias domains, mailboxes
under, near, at and over quota or without a Maildir, aliases with chains,
loops, self-maps, catch-alls, several destinations, remote destinations,
extension sources, disabled rows) in the tutorial schema and in
PostfixAdmin's. A private Postfix with sqlite: tables (the tutorial's
queries, or PostfixAdmin's alias, alias-domain and alias-domain catch-all
maps) and every local delivery going to discard:LABEL, where LABEL names the
mailbox, receives thousands of probe recipients with DATA. Its RCPT replies
and the final recipients it logs (to= with orig_to=) are the oracle:

  Postfix rejects the RCPT as unknown (550)     -> the daemon rejects (5xx)
  some final recipient is a mailbox over quota  -> reply_overquota
  otherwise (delivered, bounced later, remote,
  deferred by the alias expansion limits)       -> a pass

mailquota-policyd gets the same probes over the policy protocol, and a
sample through a Postfix whose check_policy_service is the only judge of a
recipient. Every disagreement is printed with its seed, probe and the rows
involved.

Seed 0 is a fixed estate in which every rule is probed; it always runs.

Environment:
  ORACLE_SEEDS    seeds: a count ("20", the default), a list ("3,17") or a range ("5-9")
  ORACLE_PROBES   probes per seed and schema, a random sample (default 40; 0: all)

`make oracle-postfix SEEDS=N PROBES=M` runs more (default 200 seeds, every probe).
"""

import os
import random
import re
import socket
import sys
import time

import dbservers
import mqtest

SIZE = 1000                     # the message size asked about, and sent
REMOTE = "remote.example"       # a domain no table knows
DELIMS_MULTI = "+-"
# Probes per seed and schema (a random sample of all the generator makes; 0: all).
MAX_PROBES = int(os.environ.get("ORACLE_PROBES") or "40")


# --- the estate ----------------------------------------------------------

class Estate:
    """One seed's rows. Domain names carry the seed, so many estates share a database."""

    def __init__(self, seed, schema, delims="+", max_probes=0):
        self.seed = seed
        self.schema = schema
        self.delims = delims
        self.rnd = random.Random("%s-%d-%s" % (schema, seed, delims))
        self.domains = {}       # name -> "hosted" | "disabled" | "aliasdom"
        self.boxes = {}         # email -> dict(quota, used, enabled, maildir)
        self.aliases = []       # (source, destination, enabled)
        self.alias_domains = [] # (alias, target, enabled)
        self.probes = []
        self.generate(max_probes)

    def dom(self, i):
        return "d%d.s%d.%s.test" % (i, self.seed, "pa" if self.schema == "postfixadmin" else "tu")

    def fixed(self):
        """fixed - seed 0: one estate where every rule is sure to be probed."""
        d0, d1, d2, d3, d4 = (self.dom(i) for i in range(5))
        self.hosted, self.disabled, self.adoms = [d0, d1, d2], d3, [d4]
        self.domains.update({d0: "hosted", d1: "hosted", d2: "hosted",
                             d3: "disabled", d4: "aliasdom"})
        for b, state, en in (("anna@" + d0, "over", True), ("bob@" + d0, "under", True),
                             ("carl@" + d0, "over", False), ("owner-list@" + d1, "over", True),
                             ("list-request@" + d1, "over", True),
                             ("postmaster@" + d1, "over", True), ("kim@" + d2, "over", True),
                             ("lea@" + d2, "under", True), ("anna@" + d2, "under", True),
                             ("dora@" + d3, "over", True)):
            self.boxes[b] = dict(quota=10000, used=20000 if state == "over" else 100,
                                 state=state, enabled=en)
        if self.schema == "postfixadmin":
            self.alias_domains.append((d4, d0, True))
            self.aliases += [(b, b, True) for b in sorted(self.boxes)]
        else:
            self.aliases.append(("@" + d4, "@" + d0, True))     # the tutorial's forward
        mids = ["mid%d@%s" % (i, d2) for i in range(30)]
        leaves = ",".join("fan%d@%s" % (i, REMOTE) for i in range(40))
        self.aliases += [
            ("@" + d0, "bob@" + d0, True),                  # catch-all (takes disabled carl)
            ("@" + d1, "@" + d2, True),                     # domain-wide forward
            ("in0@" + d0, "@%s, lea@%s" % (d2, d0), True),  # "@other" with more after it
            ("in1@" + d0, "in2@" + d0, True),               # a loop
            ("in2@" + d0, "in1@" + d0, True),
            ("in3@" + d0, "in3@%s, kim@%s" % (d0, d2), True),   # keeps a copy
            ("in4@" + d0, "anna@%s kim@%s\tlea@%s" % (d0, d2, d2), True),
            ("in5@" + d0, "ANNA@" + d2.upper(), True),      # a result in capitals
            ("kim+tag@" + d2, "anna@" + d0, True),          # an extension source
            ("wide@" + d2, ",".join(mids), True),           # 1200 addresses: deferred
            ("narrow@" + d2, ",".join(mids[:20]), True),    # 800: delivered
            ("Mixed@" + d2, "anna@" + d0, True),            # a source in capitals
            ("off@" + d2, "kim@" + d2, False),              # a disabled alias
        ] + [(m, leaves, True) for m in mids]
        p = set()
        for b in self.boxes:
            lp, d = b.split("@")
            for c in self.delims:
                p.update({b, b.upper(), "%s%sx@%s" % (lp, c, d), "%s@%s" % (lp, d4),
                          "%s%sx@%s" % (lp, c, d4)})
        for src, _, _ in self.aliases:
            lp, d = src.split("@")
            if lp:
                p.update({src, src.lower(), "%s%sq@%s" % (lp, self.delims[0], d)})
        for d in self.domains:
            p.update({"nobody@" + d, "%stag@%s" % (self.delims[0], d), "postmaster@" + d,
                      "owner-list%sx@%s" % (self.delims[-1], d)})
        p.add("someone@" + REMOTE)
        self.probes = sorted(p)

    def generate(self, max_probes):
        if self.seed == 0:
            self.fixed()
            return
        r = self.rnd
        nd = 3
        hosted = [self.dom(i) for i in range(nd)]
        for d in hosted:
            self.domains[d] = "hosted"
        disabled = self.dom(nd)
        self.domains[disabled] = "disabled"
        adoms = [self.dom(nd + 1 + i) for i in range(r.randint(1, 2))]
        for a in adoms:
            self.domains[a] = "aliasdom"
        self.hosted = hosted
        self.disabled = disabled
        self.adoms = adoms

        names = ["anna", "bob", "carl", "dora", "emil", "fay", "gus", "hana",
                 "ivo", "jan", "kim", "lea", "postmaster", "owner-list", "list-request",
                 "a.b", "x_y"]
        for d in hosted + [disabled]:
            for n in r.sample(names, r.randint(3, 5)):
                state = r.choice(["under", "near", "at", "over", "unlimited", "nomaildir",
                                  "under", "over"])
                quota = 0 if state == "unlimited" else r.choice([10000, 50000, 200000])
                used = {"under": quota // 4, "near": quota - SIZE, "at": quota,
                        "over": quota + 5000, "unlimited": 777, "nomaildir": 0}[state]
                self.boxes["%s@%s" % (n, d)] = dict(
                    quota=quota, used=used, state=state,
                    enabled=r.random() > 0.12)
        local_boxes = sorted(self.boxes)
        # Alias domains: a row "@a" -> "@b" (both schemas), or PostfixAdmin's table.
        for a in adoms:
            t = r.choice(hosted + ([disabled] if r.random() < 0.2 else []))
            if self.schema == "postfixadmin" and r.random() < 0.7:
                self.alias_domains.append((a, t, r.random() > 0.1))
            else:
                self.aliases.append(("@" + a, "@" + t, r.random() > 0.1))
            if r.random() < 0.4:            # a mailbox of its own in the alias domain
                n = r.choice(names)
                self.boxes["%s@%s" % (n, a)] = dict(quota=10000, used=20000, state="over",
                                                    enabled=True)
                local_boxes = sorted(self.boxes)
        if self.schema == "postfixadmin":
            for b in local_boxes:
                if r.random() < 0.85:
                    self.aliases.append((b, b, True))   # PostfixAdmin's self-alias

        def box():
            return r.choice(local_boxes)

        def anydest():
            x = r.random()
            if x < 0.55:
                b = box()
                return b.upper() if r.random() < 0.1 else b
            if x < 0.7:
                return "ext%d@%s" % (r.randint(1, 9), REMOTE)
            if x < 0.85:
                return "ghost%d@%s" % (r.randint(1, 3), r.choice(hosted))
            return "in%d@%s" % (r.randint(0, 9), r.choice(hosted))   # maybe another alias

        def sep():
            return r.choice([",", ", ", " ", " ,  ", "\t"])

        for d in hosted + [disabled]:
            for i in range(r.randint(3, 7)):
                src = "in%d@%s" % (i, d)
                kind = r.random()
                if kind < 0.35:
                    dest = anydest()
                elif kind < 0.6:
                    dest = sep().join(anydest() for _ in range(r.randint(2, 4)))
                elif kind < 0.7:
                    dest = src + sep() + anydest()                 # keep a copy
                elif kind < 0.78:
                    dest = "@" + r.choice(hosted + [REMOTE] + adoms)   # same local part elsewhere
                    if r.random() < 0.5:
                        dest += sep() + anydest()
                elif kind < 0.86:
                    dest = src                                      # self-map
                elif r.random() < 0.5:
                    dest = "in%d@%s" % (r.randint(0, 9), r.choice(hosted))  # chain or loop
                else:
                    dest = anydest()
                self.aliases.append((src, dest, r.random() > 0.1))
            # a mailbox forwarded elsewhere, with or without a copy
            mine = [b for b in local_boxes if b.endswith("@" + d)]
            for b in r.sample(mine, min(len(mine), r.randint(0, 2))):
                if self.schema == "postfixadmin":
                    self.aliases = [a for a in self.aliases if a[0] != b]
                dest = anydest() if r.random() < 0.5 else b + sep() + anydest()
                self.aliases.append((b, dest, r.random() > 0.1))
            # an extension source
            if mine and r.random() < 0.6:
                b = r.choice(mine)
                lp, dd = b.split("@")
                self.aliases.append(("%s%stag@%s" % (lp, self.delims[-1], dd), anydest(), True))
            # a catch-all
            if r.random() < 0.5:
                c = r.random()
                dest = anydest() if c < 0.85 else "@" + r.choice(hosted + adoms)
                self.aliases.append(("@" + d, dest, r.random() > 0.1))
            # a mixed-case source (tables fold the key, the stored row does not match)
            if r.random() < 0.2:
                self.aliases.append(("Mixed%d@%s" % (r.randint(0, 9), d), anydest(), True))
        # an expansion wider than virtual_alias_expansion_limit (1000)
        if r.random() < 0.35:
            d = r.choice(hosted)
            leaves = ["fan%d@%s" % (i, REMOTE) for i in range(40)]
            mids = []
            for i in range(30):
                m = "mid%d@%s" % (i, d)
                self.aliases.append((m, ",".join(leaves), True))
                mids.append(m)
            self.aliases.append(("wide@%s" % d, ",".join(mids), True))
            self.aliases.append(("narrow@%s" % d, ",".join(mids[:20]), True))

        # Probes.
        p = set()
        dl = self.delims
        for b in sorted(self.boxes):
            lp, d = b.split("@")
            p.add(b)
            if r.random() < 0.3:
                p.add(lp.capitalize() + "@" + d.upper())
            p.add("%s%stag@%s" % (lp, r.choice(dl), d))
            for a in self.adoms:
                if r.random() < 0.5:
                    p.add("%s@%s" % (lp, a))
                if r.random() < 0.3:
                    p.add("%s%sx@%s" % (lp, dl[0], a))
        for src, _, _ in self.aliases:
            lp, d = src.split("@")
            if lp:
                p.add(src)
                if r.random() < 0.5:
                    p.add("%s%sq@%s" % (lp, r.choice(dl), d))
                if r.random() < 0.2:
                    p.add(src.upper())
        for d in self.domains:
            p.add("nobody@%s" % d)
            p.add("nobody%sx@%s" % (dl[0], d))
            p.add("postmaster@%s" % d)
            p.add("%stag@%s" % (dl[0], d))
        p.add("someone@%s" % REMOTE)
        p.add("someone@unhosted.s%d.test" % self.seed)
        self.probes = sorted(p)
        if max_probes and len(self.probes) > max_probes:
            self.probes = sorted(r.sample(self.probes, max_probes))

    def load(self, fx):
        """load - the rows into a mqtest.Fixture (SQLite) and the Maildirs."""
        for d, kind in sorted(self.domains.items()):
            fx.domain(d, enabled=kind != "disabled")
        for a, t, en in self.alias_domains:
            fx.alias_domain(a, t, en)
        for b, v in sorted(self.boxes.items()):
            fx.user(b, quota=v["quota"], enabled=v["enabled"])
            if v["state"] != "nomaildir":
                fx.maildir(b, limit_bytes=v["quota"], usage=[(v["used"], 1)])
        for s, d, en in self.aliases:
            fx.alias(s, d, en)

    def rows_about(self, probe, finals=()):
        """rows_about - the rows a disagreement may involve, for the report."""
        lp, d = probe.lower().rsplit("@", 1)
        want = {probe.lower(), d} | {f.lower() for f in finals}
        base = re.split("[" + re.escape(self.delims) + "]", lp)[0]
        want.add("%s@%s" % (base, d))
        out = []
        for s, dst, en in self.aliases:
            sl = s.lower()
            if sl in want or sl == "@" + d or any(w in dst.lower() for w in want if "@" in w):
                out.append("alias %s -> %r%s" % (s, dst, "" if en else " (disabled)"))
        for a, t, en in self.alias_domains:
            if a == d or t == d:
                out.append("alias_domain %s -> %s%s" % (a, t, "" if en else " (disabled)"))
        for b, v in self.boxes.items():
            if b in want or b.split("@")[0] == base:
                out.append("mailbox %s %s quota=%d used=%d%s" % (
                    b, v["state"], v["quota"], v["used"], "" if v["enabled"] else " (disabled)"))
        out.append("domain %s: %s" % (d, self.domains.get(d, "not in the database")))
        return out


# --- Postfix's side ----------------------------------------------------------

def sql_maps(schema, driver="sqlite"):
    """sql_maps - {name: query} as the tutorial or PostfixAdmin configure
    them, with the enabled/active conditions, plus a transport map whose
    discard:LABEL names the mailbox Postfix delivers to."""
    if schema == "postfixadmin":
        return {
            "domains": "SELECT domain FROM domain WHERE domain='%s' AND backupmx=0 AND active=1",
            "mailboxes": "SELECT maildir FROM mailbox WHERE username='%s' AND active=1",
            "adom_mailboxes": "SELECT maildir FROM mailbox, alias_domain "
                              "WHERE alias_domain.alias_domain='%d' "
                              "AND mailbox.username='%u' || '@' || alias_domain.target_domain "
                              "AND mailbox.active=1 AND alias_domain.active=1",
            "aliases": "SELECT goto FROM alias WHERE address='%s' AND active=1",
            "adom_aliases": "SELECT goto FROM alias, alias_domain "
                            "WHERE alias_domain.alias_domain='%d' "
                            "AND alias.address='%u' || '@' || alias_domain.target_domain "
                            "AND alias.active=1 AND alias_domain.active=1",
            "adom_catchall": "SELECT goto FROM alias, alias_domain "
                             "WHERE alias_domain.alias_domain='%d' "
                             "AND alias.address='@' || alias_domain.target_domain "
                             "AND alias.active=1 AND alias_domain.active=1",
            # transport_maps apply to every domain: only a hosted one may
            # reach a mailbox, as virtual_mailbox_domains decides.
            "transport": "SELECT 'discard:' || replace(username, '@', '=') FROM mailbox "
                         "WHERE username='%s' AND active=1 "
                         "AND '%d' IN (SELECT domain FROM domain WHERE active=1 AND backupmx=0) "
                         "UNION ALL SELECT 'discard:' || replace(username, '@', '=') "
                         "FROM mailbox, alias_domain "
                         "WHERE NOT EXISTS (SELECT 1 FROM mailbox "
                         "WHERE username='%s' AND active=1) AND "
                         "alias_domain.alias_domain='%d' "
                         "AND mailbox.username='%u' || '@' || alias_domain.target_domain "
                         "AND mailbox.active=1 AND alias_domain.active=1 "
                         "AND '%d' IN (SELECT domain FROM domain WHERE active=1 AND backupmx=0)",
        }
    # The tutorial's queries, portable to SQLite, MariaDB and PostgreSQL.
    label = ("CONCAT('discard:', REPLACE(u.email, '@', '='))" if driver == "mysql"
             else "'discard:' || REPLACE(u.email, '@', '=')")
    return {
        "domains": "SELECT 1 FROM virtual_domains WHERE name='%s' AND enabled",
        "mailboxes": "SELECT 1 FROM virtual_users u JOIN virtual_domains d "
                     "ON d.id=u.domain_id WHERE u.email='%s' AND u.enabled AND d.enabled",
        "aliases": "SELECT a.destination FROM virtual_aliases a JOIN virtual_domains d "
                   "ON d.id=a.domain_id WHERE a.source='%s' AND a.enabled AND d.enabled",
        "email2email": "SELECT u.email FROM virtual_users u JOIN virtual_domains d "
                       "ON d.id=u.domain_id WHERE u.email='%s' AND u.enabled AND d.enabled",
        "transport": "SELECT " + label + " FROM virtual_users u "
                     "JOIN virtual_domains d ON d.id=u.domain_id "
                     "WHERE u.email='%s' AND u.enabled AND d.enabled",
    }


def postfix_tables(schema, confdir, db):
    """postfix_tables - write the .cf files; the main.cf settings that use them."""
    driver = "sqlite" if isinstance(db, str) else db.driver
    q = sql_maps(schema, driver)
    for name, query in q.items():
        with open(os.path.join(confdir, name + ".cf"), "w") as f:
            if driver == "sqlite":
                f.write("dbpath = %s\n" % db)
            else:
                f.write("hosts = inet:%s:%d\nuser = %s\npassword = %s\ndbname = %s\n"
                        % (db.host, db.port, db.user, db.password, db.database))
            f.write("query = %s\n" % query)

    def m(*names):
        return ", ".join("%s:%s/%s.cf" % (driver, confdir, n) for n in names)

    if schema == "postfixadmin":
        return {
            "virtual_mailbox_domains": m("domains"),
            "virtual_mailbox_maps": m("mailboxes", "adom_mailboxes"),
            "virtual_alias_maps": m("aliases", "adom_aliases", "adom_catchall"),
            "transport_maps": m("transport"),
        }
    return {
        "virtual_mailbox_domains": m("domains"),
        "virtual_mailbox_maps": m("mailboxes"),
        "virtual_alias_maps": m("aliases", "email2email"),
        "transport_maps": m("transport"),
    }


class OraclePostfix:
    """One private Postfix for every phase (its setup costs seconds): smtpd
    on pf.port judges recipients itself with the phase's tables; a second
    smtpd on policy_port leaves every recipient to check_policy_service on
    daemon_port (the phase's daemon)."""

    def __init__(self, root):
        self.daemon_port = mqtest.free_port()
        self.policy_port = mqtest.free_port()
        self.pf = oracle_postfix(root, "+", {})
        self.pf.extra_main["mq_policy_restrictions"] = (
            "check_policy_service inet:127.0.0.1:%d, reject_unauth_destination"
            % self.daemon_port)
        os.makedirs(self.pf.confdir, mode=0o755, exist_ok=True)
        self.phase = 0

    def configure(self, schema, delims, db):
        """configure - the phase's tables and delimiters; start or reload."""
        self.phase += 1
        d = os.path.join(self.pf.confdir, "phase%d" % self.phase)
        os.makedirs(d, mode=0o755, exist_ok=True)
        settings = dict(postfix_tables(schema, d, db), recipient_delimiter=delims)
        if self.phase == 1:
            self.pf.extra_main.update(settings)
            self.pf.setup()
            with open(os.path.join(self.pf.confdir, "master.cf"), "a") as f:
                f.write("127.0.0.1:%d inet n - n - - smtpd\n"
                        "  -o smtpd_recipient_restrictions=$mq_policy_restrictions\n"
                        "  -o smtpd_relay_restrictions=\n"
                        "  -o smtpd_reject_unlisted_recipient=no\n" % self.policy_port)
            self.pf.start()
        else:
            self.pf.postconf(*("%s=%s" % kv for kv in settings.items()))
            self.pf.reload()
            time.sleep(1.5)     # the old smtpd, cleanup, trivial-rewrite exit
        return self.pf


def oracle_postfix(root, delims, maps):
    """oracle_postfix - a private Postfix that judges recipients itself."""
    pf = mqtest.Postfix(root, 0, [], extra_main=dict({
        "smtpd_recipient_restrictions": "reject_unauth_destination",
        "smtpd_reject_unlisted_recipient": "yes",
        "recipient_delimiter": delims,
        "virtual_transport": "discard:NOBOX",
        "in_flow_delay": "0",
        "smtpd_recipient_limit": "1000",
        # A loop costs cleanup this many rewrites of one address before it
        # defers the message; 1000 (the default) makes each of the many
        # loops here cost seconds. The boundary itself is a unit test.
        "virtual_alias_recursion_limit": "100",
    }, **maps))
    return pf


QUEUED = re.compile(r"queued as ([0-9A-Za-z]+)")
DELIVERY = re.compile(r" ([0-9A-F]{6,}|[0-9B-Zb-z]{10,}): to=<([^>]*)>(?:, orig_to=<([^>]*)>)?,"
                      r" relay=([^,]*),.* status=(\w+) \((.*)\)$")
REMOVED = re.compile(r" ([0-9A-F]{6,}|[0-9B-Zb-z]{10,}): removed$")


def send_batch(smtp, probes, out):
    """send_batch - one transaction; RCPT replies into out; returns the queue
    id, None when the DATA was refused (the caller splits the batch), or ""
    when no RCPT was accepted."""
    code, _, text = smtp.mail("")
    if code != 250:
        raise AssertionError("MAIL FROM: %d %s" % (code, text))
    accepted = []
    for p in probes:
        code, _, text = smtp.rcpt(p)
        out[p] = {"rcpt": code, "rcpt_text": text}
        if code == 250:
            accepted.append(p)
    if not accepted:
        smtp.rset()
        return ""
    body = "Subject: oracle\r\n\r\n" + ("x" * 70 + "\r\n") * (SIZE // 72)
    code, _, text = smtp.data(body)
    if code == 250:
        m = QUEUED.search(text)
        for p in accepted:
            out[p]["qid"] = m.group(1)
        return m.group(1)
    if 400 <= code < 500:
        if len(accepted) == 1:
            out[accepted[0]]["data"] = "%d %s" % (code, text)
            return ""
        return None
    raise AssertionError("end of DATA: %d %s" % (code, text))


def ask_postfix(pf, probes, batch=80):
    """ask_postfix - every probe through smtpd with DATA; {probe: result}."""
    out = {}
    qids = set()
    refused = 0
    smtp = mqtest.Smtp("127.0.0.1", pf.port)
    todo = [probes[i:i + batch] for i in range(0, len(probes), batch)]
    while todo:
        b = todo.pop()
        q = send_batch(smtp, b, out)
        if q is None:          # an alias expansion error somewhere: split
            refused += 1
            h = len(b) // 2
            todo += [b[:h], b[h:]]
        elif q:
            qids.add(q)
    smtp.quit()
    mqtest.log("%d messages sent, %d refused at DATA" % (len(qids), refused))
    # Wait for every message to be delivered (discard) and removed.
    lowmap = {}
    for p in out:
        out[p]["finals"] = []
        lowmap.setdefault(p.lower(), []).append(p)
    done = set()

    def read():
        with open(pf.maillog, errors="replace") as f:
            for line in f:
                m = REMOVED.search(line)
                if m:
                    done.add(m.group(1))
        return qids <= done
    if not mqtest.wait_until(read, 120.0, 0.5):
        raise AssertionError("Postfix did not deliver %d messages:\n%s"
                             % (len(qids - done), pf.log_tail()))
    with open(pf.maillog, errors="replace") as f:
        for line in f:
            m = DELIVERY.search(line)
            if not m or m.group(1) not in qids:
                continue
            qid, to, orig, relay, status, why = m.groups()
            orig = orig or to
            for p in lowmap.get(orig.lower(), []):
                if out[p].get("qid") == qid:
                    out[p]["finals"].append((to, relay, status, why))
    return out


def postfix_expect(est, res):
    """postfix_expect - what the daemon must answer, from Postfix's behaviour:
    "reject" (a 5xx), "overquota", or "pass"."""
    if res["rcpt"] >= 500:
        if "Relay access denied" in res["rcpt_text"]:
            return "notours"
        return "reject"
    if res["rcpt"] != 250:
        return "tempfail"
    for to, relay, status, why in res["finals"]:
        # discard(8) logs its next hop, the LABEL: "user=domain", or NOBOX
        # for a virtual domain's address that no mailbox row has.
        if status == "sent" and why != "NOBOX":
            box = why.replace("=", "@", 1).lower()
            v = est.boxes.get(box)
            if v is None:
                return "unknown-label %s" % why
            if v["quota"] and v["used"] + SIZE > v["quota"]:
                return "overquota"
    return "pass"


# --- the daemon's side -------------------------------------------------------

def daemon_class(action):
    R = mqtest.REPLIES
    if action == R["reply_overquota"]:
        return "overquota"
    if action in (R["reply_nouser"], R["reply_disabled"]):
        return "reject"
    if action == R["reply_tempfail"]:
        return "tempfail"
    if action.split()[0].upper() in ("DUNNO", "OK", "PREPEND"):
        return "pass"
    return "other: " + action


def agree(est, probe, want, got):
    if want == got:
        return True
    if want == "notours":
        # Not a hosted domain for Postfix: the daemon passes it, or says
        # "disabled" for a domain row that exists but is disabled.
        d = probe.lower().rsplit("@", 1)[1]
        return got == "pass" or (got == "reject" and est.domains.get(d) == "disabled")
    return False


def start_daemon(root, db, base, schema, delims, port):
    conf = os.path.join(root, "mailquota-%s.conf" % schema)
    pol = dict(mqtest.REPLIES)
    pol.update({"recipient_delimiter": delims, "alias_overquota": "any",
                "cache_ttl": 0, "negative_cache_ttl": 0})
    if isinstance(db, str):
        database = {"driver": "sqlite", "path": db}
    else:
        database = {"driver": db.driver, "hosts": [db.host], "port": db.port,
                    "name": db.database, "user": db.user, "password": db.password}
    mqtest.write_config(conf, listen=("inet:127.0.0.1:%d" % port,),
                        database=database,
                        maildir={"base": base, "path": "%d/%u"},
                        policy=pol, loglevel="warning", extra={"schema": schema})
    d = mqtest.Daemon(conf, ("127.0.0.1", port))
    d.start()
    return d, port


def parse_seeds(text, default):
    if not text:
        return list(range(1, default + 1))
    if "," in text or "-" in text.strip("-"):
        out = []
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                out += list(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
        return out
    return list(range(1, int(text) + 1))


def copy_to_server(fx, srv):
    """copy_to_server - the fixture's tutorial tables into a MariaDB or PostgreSQL server."""
    srv.load(os.path.join(mqtest.SRCDIR, "conf", "schema-default-%s.sql" % srv.driver))
    for table in ("virtual_domains", "virtual_users", "virtual_aliases"):
        cur = fx.sql("SELECT * FROM %s ORDER BY id" % table)
        cols = [c[0] for c in cur.description]
        rows = [[bool(v) if c == "enabled" else v for c, v in zip(cols, row)]
                for row in cur.fetchall()]
        srv.insert(table, cols, rows)


def run_phase(res, root, opf, schema, delims, seeds, policy_sample=0, server=None):
    """run_phase - one Postfix, one daemon, the estates of every seed in one
    database: the fixture's SQLite file, or server (MariaDB or PostgreSQL)."""
    t0 = time.monotonic()
    proot = os.path.join(root, "%s%s%s" % (schema, "-multi" if len(delims) > 1 else "",
                                           "-" + server.driver if server else ""))
    fx = mqtest.Fixture(os.path.join(proot, "fixture"), schema=schema, autocommit=False)
    estates = [Estate(s, schema, delims, MAX_PROBES) for s in seeds]
    for est in estates:
        est.load(fx)
    fx.commit()
    os.chmod(proot, 0o755)
    os.chmod(os.path.dirname(fx.db), 0o755)
    db = fx.db
    if server is not None:
        copy_to_server(fx, server)
        db = server

    pf = opf.configure(schema, delims, db)
    mqtest.log("%s: estates loaded, Postfix up, %.1fs" % (schema, time.monotonic() - t0))
    allprobes = [p for est in estates for p in est.probes]
    pres = ask_postfix(pf, allprobes)
    mqtest.log("%s: %d probes through Postfix, %.1fs" % (schema, len(allprobes),
                                                         time.monotonic() - t0))

    daemon, port = start_daemon(proot, db, fx.base, schema, delims, opf.daemon_port)
    client = mqtest.PolicyClient(("127.0.0.1", port), timeout=30)
    tag = "%s delimiters=%r%s" % (schema, delims, " on " + server.driver if server else "")
    total = bad = 0
    answers = {}
    for est in estates:
        nbad = 0
        for p in est.probes:
            want = postfix_expect(est, pres[p])
            action = client.ask(recipient=p, size=SIZE)
            got = daemon_class(action)
            answers[p] = action
            total += 1
            if not agree(est, p, want, got):
                nbad += 1
                finals = [f[0] for f in pres[p]["finals"]]
                print("DISAGREE seed=%d %s probe=%s postfix=%s (rcpt %d %s; finals %s%s) "
                      "daemon=%s (%s)\n    rows: %s" % (
                          est.seed, tag, p, want, pres[p]["rcpt"], pres[p]["rcpt_text"],
                          ["%s %s %s (%s)" % f for f in pres[p]["finals"]],
                          (" data " + pres[p]["data"]) if "data" in pres[p] else "",
                          got, action, "\n          ".join(est.rows_about(p, finals))),
                      flush=True)
        bad += nbad
        res.check("seed %d %s: %d probes agree with Postfix" % (est.seed, tag, len(est.probes)),
                  nbad == 0, "%d disagreements" % nbad)
    client.close()

    if policy_sample:
        # The same probes through a Postfix that asks the daemon and knows no user.
        rnd = random.Random(seeds[0])
        sample = rnd.sample(allprobes, min(policy_sample, len(allprobes)))
        smtp = mqtest.Smtp("127.0.0.1", opf.policy_port)
        smtp.mail("", size=SIZE)
        nbad = 0
        for i, p in enumerate(sample):
            if i and i % 200 == 0:
                smtp.rset()
                smtp.mail("", size=SIZE)
            code, _, text = smtp.rcpt(p)
            want = answers[p]
            w = want.split(" ", 2)
            if daemon_class(want) == "pass":
                # reject_unauth_destination comes first for a domain not hosted
                ok = code == 250 or "Relay access denied" in text
            else:
                ok = len(w) == 3 and code == int(w[0]) and text.startswith(w[1]) \
                    and text.endswith(w[2])
            if not ok:
                nbad += 1
                print("DISAGREE %s probe=%s through check_policy_service: %d %s, direct %s"
                      % (tag, p, code, text, want), flush=True)
        smtp.quit()
        res.check("%s: %d probes through check_policy_service match the direct answers"
                  % (tag, len(sample)), nbad == 0, "%d differ" % nbad)
    daemon.stop()
    mqtest.log("%s: %d seeds, %d probes, %d disagreements, %.1fs"
               % (tag, len(seeds), total, bad, time.monotonic() - t0))
    return total


def main():
    why = mqtest.postfix_available()
    if why:
        mqtest.skip(why)
    if not os.path.exists("/usr/lib/postfix/postfix-sqlite.so"):
        mqtest.skip("Postfix has no sqlite: tables (Debian package postfix-sqlite)")
    mqtest.require_binary(mqtest.POLICYD)
    seeds = parse_seeds(os.environ.get("ORACLE_SEEDS", ""), 20)
    if 0 not in seeds:
        seeds.insert(0, 0)      # the fixed estate: every rule probed
    print("seeds %s" % ",".join(map(str, seeds)), flush=True)
    res = mqtest.Results()
    root = mqtest.tempdir("mq-oracle-")
    os.chmod(root, 0o755)
    n = 0
    opf = OraclePostfix(os.path.join(root, "postfix"))
    n += run_phase(res, root, opf, "default", "+", seeds, policy_sample=150)
    n += run_phase(res, root, opf, "postfixadmin", "+", seeds, policy_sample=150)
    n += run_phase(res, root, opf, "default", DELIMS_MULTI, seeds[:2])
    # mysql: and pgsql: tables on the private servers: the fixed estate (seed 0).
    for name, start in (("MariaDB", dbservers.start_mariadb),
                        ("PostgreSQL", dbservers.start_postgresql)):
        try:
            srv = start(os.path.join(root, name))
        except dbservers.Unavailable as e:
            res.skip("%s tables" % name, str(e))
            continue
        except Exception as e:
            res.fail("%s tables" % name, "the server did not start: %s: %s"
                     % (type(e).__name__, str(e)[-500:]))
            continue
        mqtest.at_cleanup(srv.close)
        if not os.path.exists("/usr/lib/postfix/postfix-%s.so" % srv.driver):
            res.skip("%s tables" % name, "Postfix has no %s: tables (Debian package "
                     "postfix-%s)" % (srv.driver, srv.driver))
        else:
            n += run_phase(res, root, opf, "default", "+", seeds[:1], server=srv)
        srv.close()
    mqtest.log("%d probes in all" % n)
    res.finish()


if __name__ == "__main__":
    main()
