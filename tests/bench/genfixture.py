#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate a mail-hosting fixture for the benchmarks.

N virtual users over M domains, the same users three ways:

  mail.db         SQLite database in the tutorial schema (conf/schema-default.sql:
                  virtual_domains, virtual_users, virtual_aliases)
  dump.sql        the same rows as portable SQL for MariaDB and PostgreSQL
                  (CREATE TABLE + INSERT; --data-only leaves the DDL out)
  users.passwd    a Dovecot passwd-file (passdb and userdb) with the same
                  users, their homes and quotas (userdb_quota_rule=*:bytes=N)
  base/           Maildirs, BASE/DOMAIN/LOCAL/{cur,new,tmp}, each with a
                  maildirsize file and message files whose ,S= sizes add up
                  to the usage the maildirsize file states, so a recount by
                  any Maildir++ reader finds the same figure
  recipients.txt  the load: every mailbox and alias once (or --load-users
                  of the mailboxes and the same share of the aliases) plus
                  about 10 % unknown recipients, shuffled, one per line
  classes.tsv     every address of recipients.txt with its class, one per
                  line: ADDRESS TAB CLASS [TAB DESTINATIONS]; the class of a
                  mailbox (under, unlimited, overquota, nearlyfull, disabled),
                  "alias" with its destination list, "unknown" (a hosted
                  domain) or "notours" (a domain that is not hosted)
  fixture.json    the parameters and how many addresses fall in each class

The mix: most mailboxes under quota, some unlimited, some over quota, some
nearly full (a 1 KiB message no longer fits), a few disabled, aliases to one
or several mailboxes and to a remote address. Deterministic for a given
--seed. Uses only the Python standard library.
"""

import argparse
import json
import os
import random
import sqlite3
import sys

MIB = 1024 * 1024
LIMITS = [100 * MIB, 512 * MIB, 1024 * MIB, 2048 * MIB, 5120 * MIB, 10240 * MIB]

# Used when conf/schema-default.sql is absent or empty; the column set is the
# tutorial schema's. BOOLEAN is TINYINT(1) to MariaDB, a real boolean to
# PostgreSQL (whose preset queries say "u.enabled AND d.enabled"); dump.sql
# writes '1'/'0', which both accept for integer and boolean columns alike.
DEFAULT_DDL = """
CREATE TABLE virtual_domains (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE virtual_users (
    id INTEGER NOT NULL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES virtual_domains (id),
    email VARCHAR(255) NOT NULL UNIQUE,
    password VARCHAR(255) NOT NULL,
    quota BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE virtual_aliases (
    id INTEGER NOT NULL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES virtual_domains (id),
    source VARCHAR(255) NOT NULL,
    destination VARCHAR(255) NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX virtual_aliases_source ON virtual_aliases (source);
"""

# A password hash users never log in with; realistic length and shape.
PASSWORD = "{SHA512-CRYPT}$6$benchbenchbench$" + "x" * 86


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--domains", type=int, default=0,
                   help="default: one per 100 users, at least 1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--unknown-pct", type=float, default=10.0,
                   help="share of unknown recipients in recipients.txt")
    p.add_argument("--schema", default=os.path.join(here, "..", "..", "conf",
                                                    "schema-default.sql"),
                   help="SQLite DDL for mail.db (default conf/schema-default.sql)")
    p.add_argument("--owner", default="",
                   help="UID:GID to own the Maildirs (and in users.passwd)")
    p.add_argument("--load-users", type=int, default=0,
                   help="put only this many (random) users in recipients.txt, "
                        "and the same share of the aliases; default all")
    p.add_argument("--maildirs", choices=("all", "load", "none"), default="all",
                   help="Maildirs for every user, for the users the load can reach "
                        "(recipients and alias destinations), or none")
    p.add_argument("--data-only", action="store_true",
                   help="dump.sql without CREATE TABLE")
    return p.parse_args()


def make_users(rng, nusers, ndomains):
    """Domains, users (with class, limit, usage) and aliases."""
    domains = ["dom%04d.example" % i for i in range(1, ndomains + 1)]
    users = []
    for i in range(nusers):
        dom_idx = i % ndomains
        local = "user%06d" % i
        r = rng.random()
        limit = rng.choice(LIMITS)
        enabled = 1
        if r < 0.10:
            cls, limit, used = "unlimited", 0, rng.randrange(0, 3000 * MIB)
        elif r < 0.18:
            cls, used = "overquota", limit + rng.randrange(0, 4 * MIB)
        elif r < 0.23:
            cls, used = "nearlyfull", limit - rng.randrange(1, 1024)
        elif r < 0.25:
            cls, used, enabled = "disabled", rng.randrange(0, limit // 2), 0
        else:
            cls, used = "under", rng.randrange(0, limit * 8 // 10)
        users.append({
            "id": i + 1, "domain_id": dom_idx + 1, "local": local,
            "domain": domains[dom_idx], "email": "%s@%s" % (local, domains[dom_idx]),
            "quota": limit, "used": used, "enabled": enabled, "class": cls,
        })

    by_domain = [[] for _ in domains]
    for u in users:
        by_domain[u["domain_id"] - 1].append(u)
    aliases = []

    def alias(dom_idx, source, dest):
        aliases.append({"id": len(aliases) + 1, "domain_id": dom_idx + 1,
                        "source": source, "destination": dest, "enabled": 1})

    for d, dom in enumerate(domains):
        boxes = by_domain[d]
        if not boxes:
            continue
        # The usual role addresses: one mailbox, two mailboxes, and a
        # forward that leaves the system (no quota here).
        alias(d, "postmaster@" + dom, boxes[0]["email"])
        alias(d, "info@" + dom, ",".join(b["email"] for b in boxes[:2]))
        if d % 10 == 0:
            alias(d, "forward@" + dom, "someone@remote.example")
    # Personal aliases for 3 % of the users.
    for u in users:
        if rng.random() < 0.03:
            alias(u["domain_id"] - 1, "first.last%06d@%s" % (u["id"], u["domain"]),
                  u["email"])
    return domains, users, aliases


def make_recipients(rng, users, aliases, domains, unknown_pct, load_users):
    """The load's addresses (shuffled), how many are unknown, and the aliases in it."""
    if load_users and load_users < len(users):
        # The same share of the aliases as of the users, so the load looks
        # like that of a smaller site drawn from a larger database.
        aliases = rng.sample(aliases, max(1, len(aliases) * load_users // len(users)))
        users = rng.sample(users, load_users)
    known = [u["email"] for u in users] + [a["source"] for a in aliases]
    nunknown = int(round(len(known) * unknown_pct / (100.0 - unknown_pct)))
    unknown = []
    for i in range(nunknown):
        if i % 5 == 4:
            # Not one of our domains at all.
            unknown.append("nobody%06d@elsewhere.example" % i)
        else:
            unknown.append("nobody%06d@%s" % (i, domains[rng.randrange(len(domains))]))
    rcpts = known + unknown
    rng.shuffle(rcpts)
    return rcpts, len(unknown), aliases


def write_sqlite(path, schema, domains, users, aliases):
    if os.path.exists(path):
        os.unlink(path)
    ddl = DEFAULT_DDL
    if schema and os.path.exists(schema) and os.path.getsize(schema) > 0:
        with open(schema) as f:
            ddl = f.read()
    db = sqlite3.connect(path)
    db.executescript(ddl)
    with db:
        db.executemany("INSERT INTO virtual_domains (id, name, enabled) VALUES (?, ?, 1)",
                       [(i + 1, d) for i, d in enumerate(domains)])
        db.executemany(
            "INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(u["id"], u["domain_id"], u["email"], PASSWORD, u["quota"], u["enabled"])
             for u in users])
        db.executemany(
            "INSERT INTO virtual_aliases (id, domain_id, source, destination, enabled)"
            " VALUES (?, ?, ?, ?, ?)",
            [(a["id"], a["domain_id"], a["source"], a["destination"], a["enabled"])
             for a in aliases])
    db.close()


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def write_dump(path, data_only, domains, users, aliases):
    """Portable SQL: standard DDL, multi-row INSERTs in one transaction."""
    batch = 500

    def inserts(f, head, rows):
        for i in range(0, len(rows), batch):
            f.write(head + " VALUES\n")
            f.write(",\n".join(rows[i:i + batch]))
            f.write(";\n")

    with open(path, "w") as f:
        f.write("-- mailquota benchmark fixture: %d domains, %d users, %d aliases\n"
                % (len(domains), len(users), len(aliases)))
        if not data_only:
            f.write(DEFAULT_DDL.lstrip())
        f.write("BEGIN;\n")
        inserts(f, "INSERT INTO virtual_domains (id, name, enabled)",
                ["(%d, %s, '1')" % (i + 1, sql_str(d)) for i, d in enumerate(domains)])
        inserts(f, "INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled)",
                ["(%d, %d, %s, %s, %d, '%d')" % (u["id"], u["domain_id"], sql_str(u["email"]),
                                               sql_str(PASSWORD), u["quota"], u["enabled"])
                 for u in users])
        inserts(f, "INSERT INTO virtual_aliases (id, domain_id, source, destination, enabled)",
                ["(%d, %d, %s, %s, '1')" % (a["id"], a["domain_id"], sql_str(a["source"]),
                                            sql_str(a["destination"])) for a in aliases])
        f.write("COMMIT;\n")


def write_passwd(path, base, users, uid, gid):
    """Dovecot passwd-file: user:pass:uid:gid:gecos:home:shell:extra."""
    with open(path, "w") as f:
        for u in users:
            extra = "userdb_quota_rule=*:bytes=%d" % u["quota"] if u["quota"] else ""
            f.write("%s:{PLAIN}bench:%d:%d::%s/%s/%s::%s\n" % (
                u["email"], uid, gid, base, u["domain"], u["local"], extra))


def write_maildirs(base, users, owner):
    """Maildir++ with maildirsize and message files matching its figures."""
    own = (lambda p: os.chown(p, owner[0], owner[1])) if owner else (lambda p: None)

    def mkdir(p):
        os.mkdir(p, 0o700)
        own(p)

    os.makedirs(base, exist_ok=True)
    own(base)
    seen = set()
    for u in users:
        ddir = os.path.join(base, u["domain"])
        if u["domain"] not in seen:
            seen.add(u["domain"])
            mkdir(ddir)
        home = os.path.join(ddir, u["local"])
        mkdir(home)
        for sub in ("cur", "new", "tmp"):
            mkdir(os.path.join(home, sub))
        used = u["used"]
        # Two messages (or none) whose sizes add up to the usage.
        sizes = [] if used == 0 else [used // 2, used - used // 2]
        for k, size in enumerate(sizes):
            name = "1700000000.M%dP%d.bench.example,S=%d,W=%d:2,S" % (k, u["id"], size, size)
            fp = os.path.join(home, "cur", name)
            with open(fp, "w"):
                pass
            own(fp)
        ms = os.path.join(home, "maildirsize")
        with open(ms, "w") as f:
            f.write("%dS\n%d %d\n" % (u["quota"], used, len(sizes)))
        os.chmod(ms, 0o600)
        own(ms)


def write_classes(path, rcpts, users, aliases, domains):
    """classes.tsv: what each load address is, for a harness that checks
    every answer against the fixture (tests/bench/soak.py)."""
    cls = {u["email"]: u["class"] for u in users}
    dest = {a["source"]: a["destination"] for a in aliases}
    hosted = set(domains)
    with open(path, "w") as f:
        for r in rcpts:
            if r in cls:
                f.write("%s\t%s\n" % (r, cls[r]))
            elif r in dest:
                f.write("%s\talias\t%s\n" % (r, dest[r]))
            elif r.rpartition("@")[2] in hosted:
                f.write("%s\tunknown\n" % r)
            else:
                f.write("%s\tnotours\n" % r)


def main():
    a = parse_args()
    if a.users < 1:
        sys.exit("genfixture: --users must be at least 1")
    ndomains = a.domains or max(1, a.users // 100)
    ndomains = min(ndomains, a.users)
    owner = None
    if a.owner:
        try:
            owner = tuple(int(x) for x in a.owner.split(":"))
            assert len(owner) == 2
        except (ValueError, AssertionError):
            sys.exit("genfixture: --owner wants UID:GID")
    uid, gid = owner if owner else (os.getuid(), os.getgid())

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "base")
    if a.maildirs != "none" and os.path.exists(base):
        sys.exit("genfixture: %s exists; use a fresh --out" % base)
    rng = random.Random(a.seed)
    domains, users, aliases = make_users(rng, a.users, ndomains)
    rcpts, nunknown, load_aliases = make_recipients(rng, users, aliases, domains, a.unknown_pct,
                                      a.load_users)

    write_sqlite(os.path.join(out, "mail.db"), a.schema, domains, users, aliases)
    write_dump(os.path.join(out, "dump.sql"), a.data_only, domains, users, aliases)
    write_passwd(os.path.join(out, "users.passwd"), base, users, uid, gid)
    with open(os.path.join(out, "recipients.txt"), "w") as f:
        f.write("\n".join(rcpts) + "\n")
    write_classes(os.path.join(out, "classes.tsv"), rcpts, users, aliases, domains)
    if a.maildirs == "load":
        # Only the mailboxes a request can reach: recipients and the local
        # destinations of every alias. The others have no Maildir, which
        # reads as nothing used yet.
        reach = set(rcpts)
        for al in load_aliases:
            reach.update(d for d in al["destination"].split(","))
        write_maildirs(base, [u for u in users if u["email"] in reach], owner)
    elif a.maildirs == "all":
        write_maildirs(base, users, owner)

    classes = {}
    for u in users:
        classes[u["class"]] = classes.get(u["class"], 0) + 1
    summary = {
        "users": len(users), "domains": len(domains), "aliases": len(aliases),
        "recipients": len(rcpts), "unknown_recipients": nunknown,
        "classes": classes, "seed": a.seed, "base": base,
        "owner": [uid, gid], "load_users": a.load_users or len(users),
        "maildirs": a.maildirs,
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    print("genfixture: %d users, %d domains, %d aliases, %d recipients (%d unknown) in %s"
          % (len(users), len(domains), len(aliases), len(rcpts), nunknown, out))


if __name__ == "__main__":
    main()
