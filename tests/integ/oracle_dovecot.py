#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""oracle_dovecot.py - Dovecot 2.3 as the oracle of the quota decision.

A seeded generator makes Maildirs: byte and message limits (small and
64-bit), message files in cur/, new/ and folders (Dovecot's names with
,S=, names without it, odd names), and a maildirsize in every state
(exact, missing, several lines, old, corrupt, a header that differs from
the limits, 5120 bytes or more, odd but readable lines). Each Maildir is
copied: a private Dovecot (passwd-file userdb carrying the same limits as
quota_rule, quota = maildir, quota_grace 0 and the default 10 %) delivers
a real LF message of a size picked around a boundary (room - 1, room,
room + 1, room + grace, more than the limit) with dovecot-lda -e into one
copy; mailquota-policyd answers END-OF-MESSAGE for the stored size (the
delivered file's ,S=) on another. Exit 0 + a file in new/ is "accept",
exit 77 with "Quota exceeded" is "refuse"; anything else is an error.

Two kinds of mailbox: "forced" ones whose limits Dovecot gets from
quota_rule = *:... (the row gives them; a message limit of 0 is sometimes
NULL in the row, the daemon then runs with maildir.header_limits = false)
and "header" ones with no quota_rule at all, whose limits are the
maildirsize header's (the row's limits are NULL, header_limits = true).

Then `mailquota get` against `doveadm quota get` on fresh copies, and
`mailquota recalc` + get against `doveadm quota recalc` + get (the files
both write must be the same bytes).

Every disagreement is printed with its seed, the mailbox's files and both
answers. One line per seed and check, then "N passed, N failed".

  oracle_dovecot.py [--seeds N] [--first S] [--mailboxes M] [--all-sizes]
                    [--get M]
Environment: ORACLE_SEEDS, ORACLE_FIRST, ORACLE_MAILBOXES override the
defaults (10 seeds from 1, 150 mailboxes each).
"""

import argparse
import concurrent.futures
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

INT64_MAX = (1 << 63) - 1
DOMAIN = "oracle.test"
MAIL_UID = MAIL_GID = 8          # Debian's "mail" user: Dovecot refuses root
MIN_MSG = 40                     # a header line, a blank line, a body
MAX_MSG = 400000
FOLDERS = [".Sent", ".Trash", ".a.b", ".Drafts"]
GRACES = (0, 10)                 # quota_grace in percent: 0 and Dovecot's default
OVER, TOOLARGE = "552 5.2.2 Mailbox is full", "552 5.2.3 Message larger than the mailbox quota"


# --- the generator ----------------------------------------------------------

class Box:
    """One generated mailbox: limits, files, the maildirsize text."""

    def __init__(self, seed, idx):
        self.seed, self.idx = seed, idx
        self.local = "m%dx%d" % (seed, idx)
        self.files = []           # (relative path, real size, mode "f"|"d")
        self.maildirsize = None   # bytes or None (missing)
        self.mds_age = 0
        self.kind = "forced"
        self.limit_bytes = 0
        self.limit_messages = 0
        self.sql_messages_null = False
        self.state = ""
        self.claims = []          # usage figures a boundary may be taken from
        self.sizes = {}           # grace percent -> message sizes to deliver

    def describe(self):
        out = ["seed=%d mailbox=%s kind=%s state=%s limit_bytes=%d limit_messages=%d%s"
               % (self.seed, self.local, self.kind, self.state, self.limit_bytes,
                  self.limit_messages, " (row: messages NULL)" if self.sql_messages_null else "")]
        for rel, size, mode in self.files:
            out.append("  file %s real=%d%s" % (rel, size, " (directory)" if mode == "d" else ""))
        if self.maildirsize is None:
            out.append("  maildirsize: missing")
        else:
            out.append("  maildirsize (%d bytes, age %ds): %r"
                       % (len(self.maildirsize), self.mds_age, self.maildirsize[:400]))
        return "\n".join(out)


def pick_limit(rng):
    r = rng.random()
    if r < 0.06:
        return 0
    if r < 0.80:
        return rng.randint(3000, 150000)
    return rng.choice([
        (1 << 32) + rng.randint(0, 1 << 20),
        rng.randint(1 << 40, 1 << 50),
        rng.randint(1 << 55, INT64_MAX // 100),
        # where Dovecot's limit * percent overflows
        rng.randint(INT64_MAX // 10 + 1, 1 << 62),
        INT64_MAX,
    ])


def file_name(rng, n, size, where):
    """file_name - a Maildir file name carrying size (or not) and its real size."""
    base = "%d.M%dP%d.oracle" % (1700000000 + n, rng.randint(0, 999999), 4000 + n)
    style = rng.random()
    flags = ":2,S" if where == "cur" else ""
    if style < 0.70:
        return "%s,S=%d,W=%d%s" % (base, size, size + 7, flags), min(size, 2000)
    if style < 0.80:
        real = rng.randint(1, 3000)
        return base + flags, real                       # no ,S=: the file's size
    odd = rng.choice([
        ("%s,S=%dq%s" % (base, size, flags), None),     # junk after the digits: stat
        (".%s,S=%d%s" % (base, size, flags), 50),        # a dot file in cur/
        ("..%s,S=%d%s" % (base, size, flags), 50),       # "..": never counted
        ("%s,S=%s" % (base, ":2,S"), 30),               # ,S= with no digits
        ("%s,S=%d,S=%d%s" % (base, size, size * 2, flags), 10),
        ("%s:2,S=%d" % (base, size), 20),                # ,S= behind the flags
        ("%s,S=%d,W=1:2,%s" % (base, size, "RS"), 10),
    ])
    name, real = odd
    return name, real if real is not None else rng.randint(1, 3000)


def gen_files(rng, box, target_bytes):
    """gen_files - message files adding up to about target_bytes."""
    n = rng.randint(0, 10)
    folders = rng.sample(FOLDERS, rng.randint(0, 3))
    total = 0
    for i in range(n):
        where = rng.choice(["cur", "cur", "new"])
        folder = rng.choice([""] + folders)
        left = max(target_bytes - total, 0)
        size = rng.randint(0, left // max(n - i, 1) * 2) if left else rng.randint(0, 500)
        name, real = file_name(rng, box.idx * 100 + i, size, where)
        box.files.append((os.path.join(folder, where, name), real, "f"))
        total += size
    if rng.random() < 0.03:
        box.files.append(("cur/subdir", 0, "d"))       # a directory in cur/
    if folders and rng.random() < 0.2:
        box.files.append((os.path.join(folders[0], "tmp", "t1,S=999"), 10, "f"))
    return total


def header(limit_bytes, limit_messages):
    """header - the definition line as Dovecot writes it."""
    parts = []
    if limit_bytes != 0 or limit_messages == 0:
        parts.append("%dS" % limit_bytes)
    if limit_messages != 0:
        parts.append("%dC" % limit_messages)
    return ",".join(parts)


def gen_maildirsize(rng, box, est_bytes, est_count):
    lb, lm = box.limit_bytes, box.limit_messages
    claim_b = rng.choice([est_bytes, est_bytes, max(lb - rng.randint(0, 3000), 0), lb, lb + 1,
                          max(est_bytes - rng.randint(1, 5000), 0), est_bytes + rng.randint(1, 5000)])
    claim_c = rng.choice([est_count, est_count, max(est_count - 1, 0), est_count + 1, lm, lm + 1])
    box.claims = [claim_b]
    hd = header(lb, lm)
    state = rng.choice(["exact", "exact", "missing", "multiline", "multiline", "aged",
                        "corrupt", "header", "toobig", "odd", "odd", "headeronly",
                        "unterminated"])
    box.state = state
    if state == "missing":
        return None
    if state == "exact":
        box.claims = [est_bytes]
        return "%s\n%d %d\n" % (hd, est_bytes, est_count)
    if state == "multiline":
        k = rng.randint(2, 6)
        parts = [claim_b // k] * (k - 1)
        parts.append(claim_b - sum(parts))
        lines = ["%d %d" % (b, 1) for b in parts[:-1]] + ["%d %d" % (parts[-1], max(claim_c - k + 1, 0))]
        return hd + "\n" + "\n".join(lines) + "\n"
    if state == "aged":
        box.mds_age = rng.choice([3600, 7200, 86400])
        return "%s\n%d %d\n" % (hd, claim_b, claim_c)
    if state == "corrupt":
        return rng.choice([
            "%s\n%d %d\nabc\n" % (hd, claim_b, claim_c),
            "%s\n%d\n" % (hd, claim_b),
            "%s\n%d %d\n\n1 1\n" % (hd, claim_b, claim_c),
            "%s\n%d %d\n-%d -1\n" % (hd, claim_b, claim_c, claim_b + 10),
            "%s\n%d %d\n1\x002 1\n" % (hd, claim_b, claim_c),
            "%s\n%d,%d\n" % (hd, claim_b, claim_c),
            "",
            "\n",
            "%s" % hd,
        ])
    if state == "header":
        other = rng.choice([
            header(lb * 2 + 1, lm), header(max(lb - 1, 0), lm), header(0, lm),
            header(lb, lm + 5), header(lb, 0) if lm else header(lb, 7),
            ("%ds" % lb) + ("" if not lm else ",%dC" % lm),
            hd + "\r", "%dS,%dC" % (lb, lm), "junk", "",
        ])
        return "%s\n%d %d\n" % (other, claim_b, claim_c)
    if state == "toobig":
        body = "%s\n%d %d\n" % (hd, claim_b, claim_c)
        want = rng.choice([5118, 5119, 5120, 5121, 6000])
        while len(body) + 4 <= want:
            body += "0 0\n"
        body += "x" * (want - len(body) - 1) + "\n" if len(body) < want else ""
        return body[:want - 1] + "\n" if len(body) >= want else body
    if state == "odd":
        box.claims = [claim_b, claim_b + 5]
        return rng.choice([
            "%s\n  %d\t%d  \n" % (hd, claim_b, claim_c),
            "%s\n+%d +%d\n" % (hd, claim_b, claim_c),
            "%s\n%d %d trailing words\n" % (hd, claim_b, claim_c),
            "%s\r\n%d %d\r\n" % (hd, claim_b, claim_c),
            "%s\n%d %d\n5 0\n-5 0\n" % (hd, claim_b, claim_c),
            "%s\n%d-%d\n" % (hd, claim_b + 5, 0) if claim_c == 0 else "%s\n%d %d\n" % (hd, claim_b, claim_c),
            " %s\n%d %d\n" % (hd, claim_b, claim_c),
            "%s,junk\n%d %d\n" % (hd, claim_b, claim_c),
            "%s\n%d %d\n" % (hd, claim_b, claim_c + (1 << 32)),
            "%s\n%d %d\n" % (hd, claim_b, claim_c - (1 << 32)),
            "%s\n99999999999999999999 %d\n" % (hd, claim_c),
            "%s\n%d %d\n1 1\x00" % (hd, claim_b, claim_c),
        ])
    if state == "headeronly":
        box.claims = [0]
        return hd + "\n"
    # unterminated: the last line is still being written
    return "%s\n%d %d\n%d 1" % (hd, claim_b, claim_c, rng.randint(1, 100000))


def gen_box(rng, seed, idx):
    box = Box(seed, idx)
    box.kind = "header" if rng.random() < 0.15 else "forced"
    box.limit_bytes = pick_limit(rng)
    big = box.limit_bytes > (1 << 31)
    if big:
        target = box.limit_bytes - rng.randint(0, 200000)
        est = 0
        # one file carries most of a 64-bit usage in its name
        name = "%d.M1P1.oracle,S=%d,W=%d:2,S" % (1700000000 + idx, max(target, 0), max(target, 0))
        box.files.append(("cur/" + name, 100, "f"))
        est = max(target, 0) + gen_files(rng, box, 50000)
    else:
        frac = rng.choice([0.0, 0.3, 0.7, 0.95, 1.0, 1.05])
        est = gen_files(rng, box, int(box.limit_bytes * frac) if box.limit_bytes else 20000)
    est_count = len([f for f in box.files if "/tmp/" not in f[0]])
    r = rng.random()
    if r < 0.5:
        box.limit_messages = 0
    elif r < 0.9:
        box.limit_messages = max(est_count + rng.choice([-1, 0, 0, 1, 2]), 1)
    else:
        box.limit_messages = rng.choice([1 << 32, (1 << 40) + 3])
    if box.kind == "forced" and box.limit_messages == 0 and rng.random() < 0.5:
        box.sql_messages_null = True
    text = gen_maildirsize(rng, box, est, est_count)
    box.maildirsize = None if text is None else text.encode("latin-1")
    box.claims.append(est)
    return box


def pick_sizes(rng, box, grace_pct, all_sizes):
    """pick_sizes - message sizes around the boundaries of this mailbox."""
    lb = box.limit_bytes
    cands = set()
    for used in box.claims:
        room = lb - used if lb else 5000
        g = lb * grace_pct // 100 if lb else 0
        for s in (room - 1, room, room + 1, room + g - 1, room + g, room + g + 1):
            cands.add(s)
    if lb:
        g = lb * grace_pct // 100
        cands.update((lb, lb + 1, lb + g, lb + g + 1))
    cands.add(rng.randint(MIN_MSG, 3000))
    ok = sorted(s for s in cands if MIN_MSG <= s <= MAX_MSG)
    if not ok:
        ok = [rng.randint(MIN_MSG, 3000)]
    if all_sizes:
        return ok
    return [rng.choice(ok)]


# --- writing the copies -----------------------------------------------------

def write_box(box, path, uid=None, gid=None):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), 0o755, exist_ok=True)
    for rel, size, mode in box.files:
        p = os.path.join(path, rel)
        os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        if mode == "d":
            os.makedirs(p, 0o755, exist_ok=True)
            continue
        with open(p, "wb") as f:
            f.write(b"x" * size)
    if box.maildirsize is not None:
        p = os.path.join(path, "maildirsize")
        with open(p, "wb") as f:
            f.write(box.maildirsize)
        if box.mds_age:
            t = time.time() - box.mds_age
            os.utime(p, (t, t))
    if uid is not None:
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), uid, gid)
        os.lchown(path, uid, gid)


def message(size, tag):
    """message - an LF message of exactly size bytes."""
    head = "Subject: oracle %s\n\n" % tag
    body = size - len(head)
    assert body >= 1, size
    lines = []
    while body > 0:
        n = min(body, 77)
        lines.append("x" * (n - 1) + "\n")
        body -= n
    return (head + "".join(lines)).encode()


# --- one run ----------------------------------------------------------------

class Oracle:
    def __init__(self, args):
        self.args = args
        self.root = mqtest.tempdir("mq-oracle-")
        self.res = mqtest.Results()
        self.boxes = []
        self.deliveries = 0
        self.disagreements = []

    def generate(self):
        for seed in range(self.args.first, self.args.first + self.args.seeds):
            rng = random.Random(seed)
            for i in range(self.args.mailboxes):
                box = gen_box(rng, seed, i)
                box.sizes = {g: pick_sizes(rng, box, g, self.args.all_sizes) for g in GRACES}
                self.boxes.append(box)

    def dv_user(self, box, g, n=0, what="dl"):
        return "%sg%ds%d%s" % (box.local, g, n, "" if what == "dl" else what)

    def dv_home(self, box, g, n=0, what="dl"):
        return os.path.join(self.root, "dv-" + what, "g%d" % g, "%s-%d" % (box.local, n))

    def mq_base(self, what="dl"):
        return os.path.join(self.root, "mq-" + what)

    def setup(self):
        users = []
        for box in self.boxes:
            for g in GRACES:
                # "%" is expanded twice: by passwd-file, then in the plugin settings
                extra = {"quota_grace": "%d%%%%%%%%" % g}
                if box.kind == "forced":
                    extra["quota_rule"] = "*:bytes=%d:messages=%d" % (box.limit_bytes,
                                                                      box.limit_messages)
                for n in range(len(box.sizes[g])):
                    users.append((self.dv_user(box, g, n), MAIL_UID, MAIL_GID,
                                  self.dv_home(box, g, n), extra))
                if g == 0:
                    users.append((self.dv_user(box, g, 0, "q"), MAIL_UID, MAIL_GID,
                                  self.dv_home(box, g, 0, "q"), extra))
        self.dovecot = mqtest.Dovecot(os.path.join(self.root, "dovecot")).setup(users)
        # the copies: one per delivery for Dovecot, one per mailbox for the daemon
        for box in self.boxes:
            for g in GRACES:
                for n in range(len(box.sizes[g])):
                    write_box(box, self.dv_home(box, g, n), MAIL_UID, MAIL_GID)
            write_box(box, os.path.join(self.mq_base(), DOMAIN, box.local))
        for what in ("dl", "q"):
            for g in GRACES:
                d = os.path.join(self.root, "dv-" + what, "g%d" % g)
                os.makedirs(d, 0o755, exist_ok=True)
                os.chown(d, MAIL_UID, MAIL_GID)
        # the database: messages NULL where the row does not give it
        self.db = os.path.join(self.root, "mail.db")
        conn = sqlite3.connect(self.db)
        conn.executescript(
            "CREATE TABLE users (email TEXT PRIMARY KEY, quota INTEGER, messages INTEGER);"
            "CREATE TABLE domains (name TEXT PRIMARY KEY);")
        conn.execute("INSERT INTO domains VALUES (?)", (DOMAIN,))
        for box in self.boxes:
            if box.kind == "header":
                q, m = None, None
            else:
                q = box.limit_bytes
                m = None if box.sql_messages_null else box.limit_messages
            conn.execute("INSERT INTO users VALUES (?, ?, ?)",
                         ("%s@%s" % (box.local, DOMAIN), q, m))
        conn.commit()
        conn.close()
        os.chmod(self.db, 0o644)

    def conf(self, name, grace, header_limits, base, listen=None):
        path = os.path.join(self.root, name + ".conf")
        mqtest.write_config(
            path, listen=listen or ("inet:127.0.0.1:%d" % mqtest.free_port(),),
            database={"driver": "sqlite", "path": self.db},
            maildir={"base": base, "path": "%d/%u", "header_limits": header_limits},
            quota={"grace": "%d%%" % grace, "usage_ttl": 0},
            policy=dict(mqtest.REPLIES, cache_ttl=0, negative_cache_ttl=0),
            extra={"queries": {
                "user": "SELECT quota, messages, 1 AS enabled FROM users WHERE email = '%s'",
                "domain": "SELECT 1 AS enabled FROM domains WHERE name = '%d'",
                "alias": "SELECT NULL AS destination WHERE 0 AND '%s' = ''",
                "users": "SELECT email FROM users"}},
            loglevel="warning")
        return path

    # -- deliveries --

    def deliver_one(self, box, g, n, size):
        home = self.dv_home(box, g, n)
        before = set(os.listdir(os.path.join(home, "new")))
        rc, out = self.dovecot.lda(self.dv_user(box, g, n), message(size, box.local))
        stored = None
        if rc == 0:
            for name in set(os.listdir(os.path.join(home, "new"))) - before:
                if ",S=" in name:
                    stored = int(name.split(",S=")[1].split(",")[0].split(":")[0])
            answer = "accept" if stored is not None else "accept without a file"
        elif rc == 77 and "Quota exceeded" in out:
            answer = "refuse"
        else:
            answer = "error %d: %s" % (rc, out.strip()[:300])
        return answer, stored if stored is not None else size

    def run_deliveries(self):
        jobs = [(box, g, n, size) for box in self.boxes for g in GRACES
                for n, size in enumerate(box.sizes[g])]
        self.outcomes = {}
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as ex:
            for j, r in zip(jobs, ex.map(lambda j: self.deliver_one(*j), jobs)):
                self.outcomes[(j[0].local, j[1], j[2])] = r
                if r[0] == "accept" and r[1] != j[3]:
                    mqtest.log("%s: sent %d bytes, stored %d" % (j[0].local, j[3], r[1]))
        self.deliveries = len(jobs)
        mqtest.log("%d deliveries in %.1fs" % (len(jobs), time.monotonic() - t0))

    # -- the daemon --

    def ask_daemons(self):
        daemons = {}
        for g in GRACES:
            for hl in (False, True):
                port = mqtest.free_port()
                conf = self.conf("policyd-g%d-%s" % (g, hl), g, hl, self.mq_base(),
                                 ("inet:127.0.0.1:%d" % port,))
                d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
                daemons[(g, hl)] = (d, mqtest.PolicyClient(("127.0.0.1", port)))
        self.replies = {}
        for box in self.boxes:
            for g in GRACES:
                for n, size in enumerate(box.sizes[g]):
                    answer, stored = self.outcomes[(box.local, g, n)]
                    hls = [box.kind == "header"]
                    if box.kind == "forced" and not box.sql_messages_null:
                        hls = [False, True]
                    for hl in hls:
                        client = daemons[(g, hl)][1]
                        reply = client.ask(recipient="%s@%s" % (box.local, DOMAIN),
                                           size=stored, state="END-OF-MESSAGE",
                                           recipient_count="1")
                        self.replies[(box.local, g, n, hl)] = reply
        for d, c in daemons.values():
            c.close()
            d.stop()

    def compare(self):
        per_seed = {}
        for box in self.boxes:
            for g in GRACES:
                for n, size in enumerate(box.sizes[g]):
                    answer, stored = self.outcomes[(box.local, g, n)]
                    for hl in (False, True):
                        reply = self.replies.get((box.local, g, n, hl))
                        if reply is None:
                            continue
                        mine = "accept" if reply == "DUNNO" else \
                            "refuse" if reply in (OVER, TOOLARGE) else "other: " + reply
                        good = mine == answer
                        # (a "header" mailbox's limit is whatever its file says)
                        if good and reply == TOOLARGE and box.kind == "forced" and \
                                box.limit_bytes and not stored > box.limit_bytes:
                            good = False
                        s = per_seed.setdefault(box.seed, [0, 0])
                        s[0 if good else 1] += 1
                        if not good:
                            self.disagreements.append(
                                "DISAGREE seed=%d grace=%d%% header_limits=%s size=%d: "
                                "dovecot=%s mailquota=%r\n%s"
                                % (box.seed, g, "true" if hl else "false", stored, answer,
                                   reply, box.describe()))
        for d in self.disagreements[:40]:
            print(d, flush=True)
        if len(self.disagreements) > 40:
            print("... %d more disagreements" % (len(self.disagreements) - 40), flush=True)
        for seed in sorted(per_seed):
            agree, differ = per_seed[seed]
            self.res.check("seed %d: mailquota-policyd agrees with dovecot-lda" % seed,
                           differ == 0, "%d agree, %d disagree" % (agree, differ))

    # -- get and recalc against doveadm --

    def get_rows(self, text):
        rows = {}
        for line in text.splitlines()[1:]:
            f = line.split()
            if len(f) >= 6:
                rows[f[2]] = tuple(f[3:6])
        return rows

    def check_get(self):
        n = self.args.get
        if n <= 0:
            return
        chosen = [b for b in self.boxes if b.idx < n]
        base = self.mq_base("q")
        for box in chosen:
            write_box(box, self.dv_home(box, 0, 0, "q"), MAIL_UID, MAIL_GID)
            write_box(box, os.path.join(base, DOMAIN, box.local))
        confs = {hl: self.conf("cli-%s" % hl, 0, hl, base) for hl in (False, True)}

        def one(box):
            user = self.dv_user(box, 0, 0, "q")
            hl = box.kind == "header"
            conf = confs[hl]
            addr = "%s@%s" % (box.local, DOMAIN)
            out = []
            for step in ("get", "recalc"):
                if step == "recalc":
                    self.dovecot.doveadm("quota", "recalc", "-u", user)
                    r = run_cli([mqtest.MAILQUOTA, "-c", conf, "recalc", addr])
                    if r[0] not in (0,):
                        out.append("%s: mailquota recalc exit %d: %s%s" % (step, r[0], r[1], r[2]))
                rc, dv, err = self.dovecot.doveadm("quota", "get", "-u", user)
                r = run_cli([mqtest.MAILQUOTA, "-c", conf, "get", addr])
                a, b = self.get_rows(dv), self.get_rows(r[1])
                if step == "get" and box.kind == "header" and \
                        all(v[1] == "-" for v in a.values()):
                    # No limit at all: Dovecot 2.3 does not count (it shows 0
                    # until a recalc), mailquota does. Only the limits compare.
                    a = {k: v[1] for k, v in a.items()}
                    b = {k: v[1] for k, v in b.items()}
                if rc != 0 or r[0] != 0 or a != b:
                    out.append("%s: doveadm %r (exit %d %s) mailquota %r (exit %d %s)"
                               % (step, a, rc, err.strip()[:200], b, r[0], r[2].strip()[:200]))
            f1 = read(os.path.join(self.dv_home(box, 0, 0, "q"), "maildirsize"))
            f2 = read(os.path.join(base, DOMAIN, box.local, "maildirsize"))
            if f1 != f2:
                out.append("after recalc: Dovecot wrote %r, mailquota %r" % (f1, f2))
            return box, out

        per_seed = {}
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as ex:
            for box, problems in ex.map(one, chosen):
                s = per_seed.setdefault(box.seed, [0, 0])
                s[1 if problems else 0] += 1
                for p in problems:
                    print("GET DISAGREE %s\n%s" % (p, box.describe()), flush=True)
        for seed in sorted(per_seed):
            agree, differ = per_seed[seed]
            self.res.check("seed %d: mailquota get/recalc agree with doveadm quota get/recalc"
                           % seed, differ == 0, "%d agree, %d disagree" % (agree, differ))


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def run_cli(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=int(os.environ.get("ORACLE_SEEDS", 10)))
    ap.add_argument("--first", type=int, default=int(os.environ.get("ORACLE_FIRST", 1)))
    ap.add_argument("--mailboxes", type=int, default=int(os.environ.get("ORACLE_MAILBOXES", 150)))
    ap.add_argument("--all-sizes", action="store_true",
                    default=os.environ.get("ORACLE_ALL_SIZES") == "1")
    ap.add_argument("--get", type=int, default=int(os.environ.get("ORACLE_GET", 15)),
                    help="mailboxes per seed for the get/recalc comparison")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    mqtest.require_binary(mqtest.POLICYD)
    mqtest.require_binary(mqtest.MAILQUOTA)
    why = mqtest.dovecot_available()
    if why:
        mqtest.skip(why)
    t0 = time.monotonic()
    o = Oracle(args)
    o.generate()
    o.setup()
    o.dovecot.start()
    o.run_deliveries()
    o.check_get()
    o.dovecot.stop()
    o.ask_daemons()
    o.compare()
    print("# seeds %d..%d, %d mailboxes, %d deliveries, %d disagreements, %.0fs"
          % (args.first, args.first + args.seeds - 1, len(o.boxes), o.deliveries,
             len(o.disagreements), time.monotonic() - t0), flush=True)
    o.res.finish()


if __name__ == "__main__":
    main()
