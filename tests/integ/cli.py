#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cli.py - mailquota report, get and recalc on generated Maildir trees and a
SQLite database with the tutorial schema.

Checks that:
  * report's totals match a count this script does on its own (the Maildir++
    rules: a right maildirsize is believed, a missing or untrustworthy one is
    recounted), in table, csv and json, which agree with each other;
  * --top, --domain and --over list the right mailboxes, and --over exits 1
    exactly when one is at or above the threshold;
  * get prints doveadm's rows (KiB, "-" for no limit) and its json;
  * recalc --dry-run reports drift and exits 1, recalc rewrites the file
    (owned like the Maildir) and a second dry run is clean;
  * recalc refuses a symlink planted as maildirsize or as a folder, and
    report reports such a mailbox as not read (exit 2);
  * recalc racing a writer that appends delta lines leaves a whole, valid
    maildirsize at every read;
  * the progress bar is drawn on a terminal and nothing is when piped;
  * the html page, loaded in headless Chromium behind a proxy that records
    every request, makes no request and shows one bar per domain and the
    top-N rows.

Binaries through $MQ_BUILDDIR, sources through $MQ_SRCDIR (default: the
repository root). Exits 77 (skip) when something it needs is missing,
unless MQ_REQUIRE_ALL=1.
"""

import csv
import io
import html.parser
import json
import os
import pty
import random
import re
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

MQ = mqtest.MAILQUOTA
SCHEMA = os.path.join(mqtest.SRCDIR, "conf", "schema-default.sql")

R = mqtest.Results()


def check(cond, what):
    """check - R.check(what, cond): here the condition reads first."""
    return R.check(what, cond)


def run(args, conf, stdin=None, env=None):
    p = subprocess.run([MQ, "-c", conf] + args, capture_output=True,
                       text=True, timeout=120, input=stdin, env=env)
    return p.returncode, p.stdout, p.stderr


# --------------------------------------------------------------------------
# The estate

DOMAINS = ["alpha.test", "beta.test", "gamma.test"]
IGNORE = ["Trash"]


class Box:
    def __init__(self, domain, user, quota):
        self.domain, self.user, self.quota = domain, user, quota
        self.address = "%s@%s" % (user, domain)
        self.files = []          # (folder, sub, name, size)


def msg_name(i, size):
    return "17000%05d.M%dP1.test,S=%d:2,S" % (i, i, size)


def count_maildir(path):
    """Independent recount: ,S= sizes of cur/ and new/ of the Maildir and of
    every .Folder that is not ignored."""
    total = n = 0
    folders = [""] + sorted(e for e in os.listdir(path)
                            if e.startswith(".") and e not in (".", "..")
                            and os.path.isdir(os.path.join(path, e))
                            and not os.path.islink(os.path.join(path, e))
                            and e[1:] not in IGNORE)
    for f in folders:
        for sub in ("cur", "new"):
            d = os.path.join(path, f, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                m = re.search(r",S=(\d+)", name.split(":")[0])
                total += int(m.group(1)) if m else os.path.getsize(os.path.join(d, name))
                n += 1
    return total, n


def build_estate(top, rnd, nboxes=36):
    base = os.path.join(top, "mail")
    db = sqlite3.connect(os.path.join(top, "mail.db"))
    with open(SCHEMA) as f:
        db.executescript(f.read())
    for i, d in enumerate(DOMAINS):
        db.execute("INSERT INTO virtual_domains(id,name,enabled) VALUES (?,?,1)",
                   (i + 1, d))
    boxes = []
    seq = 0
    for i in range(nboxes):
        d = DOMAINS[i % len(DOMAINS)]
        quota = rnd.choice([0, 20000, 50000, 100000, 400000])
        b = Box(d, "user%02d" % i, quota)
        boxes.append(b)
        db.execute("INSERT INTO virtual_users(domain_id,email,password,quota,enabled)"
                   " VALUES (?,?,?,?,1)", (DOMAINS.index(d) + 1, b.address, "x", quota))
        if i % 9 == 8:
            continue                            # no Maildir yet
        md = os.path.join(base, d, b.user)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for folder in (".Sent", ".Trash"):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, folder, sub))
        for k in range(rnd.randint(0, 12)):
            folder = rnd.choice(["", "", ".Sent", ".Trash"])
            sub = rnd.choice(["cur", "new"])
            size = rnd.randint(100, 30000)
            seq += 1
            name = msg_name(seq, size) if sub == "cur" else msg_name(seq, size).split(":")[0]
            with open(os.path.join(md, folder, sub, name), "wb") as f:
                f.write(b"x" * 16)
        used, n = count_maildir(md)
        kind = i % 6
        if kind in (0, 1, 2):                   # a right file, one line
            write_mds(md, "%dS" % quota if quota else "0S", [(used, n)])
        elif kind == 3:                         # right, as a summary plus deltas
            write_mds(md, "%dS" % quota if quota else "0S",
                      [(used - 100, n - 1), (100, 1)] if n > 0 else [(0, 0)])
        elif kind == 4:                         # missing: recounted
            pass
        else:                                   # corrupt: recounted
            with open(os.path.join(md, "maildirsize"), "w") as f:
                f.write("%dS\nnot numbers\n" % quota)
    # One mailbox that is surely over quota, one exactly at it.
    for b, factor in ((boxes[0], 3), (boxes[1], 1)):
        set_usage(db, base, b, factor)
    db.commit()
    db.close()
    return base, boxes


def set_usage(db, base, b, factor):
    """Make b hold factor times its quota (a quota of 100000 if none), with a
    right one-line maildirsize."""
    if b.quota == 0:
        b.quota = 100000
        db.execute("UPDATE virtual_users SET quota=? WHERE email=?", (b.quota, b.address))
    md = os.path.join(base, b.domain, b.user)
    shutil.rmtree(md, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    with open(os.path.join(md, "cur", msg_name(90000 + len(b.user), b.quota * factor)), "wb") as f:
        f.write(b"y")
    write_mds(md, "%dS" % b.quota, [(b.quota * factor, 1)])


def write_mds(md, definition, lines):
    with open(os.path.join(md, "maildirsize"), "w") as f:
        f.write(definition + "\n")
        for bytes_, n in lines:
            f.write("%d %d\n" % (bytes_, n))


def expected(base, boxes):
    """Per mailbox (limit, used, messages), per domain totals: the report's
    definitions, computed here."""
    per = {}
    for b in boxes:
        md = os.path.join(base, b.domain, b.user)
        used, n = count_maildir(md) if os.path.isdir(md) else (0, 0)
        per[b.address] = (b.quota, used, n)
    doms = {}
    for b in boxes:
        q, u, n = per[b.address]
        d = doms.setdefault(b.domain, dict(users=0, quota=0, used=0, over=0, messages=0))
        d["users"] += 1
        d["quota"] += q
        d["used"] += u
        d["messages"] += n
        d["over"] += 1 if q and u >= q else 0
    return per, doms


def write_conf(top, base, quota=None, queries=None, name="mailquota.conf"):
    return mqtest.write_config(
        os.path.join(top, name),
        database={"path": os.path.join(top, "mail.db"), "connections": 3},
        maildir={"base": base, "ignore": IGNORE}, quota=quota,
        extra={"queries": queries} if queries else None)


# --------------------------------------------------------------------------
# report


def parse_table(out):
    """The domain section of a --bytes table: {domain: [users, quota, used, pct, over]}."""
    rows = {}
    lines = out.splitlines()
    assert lines[0].split() == ["DOMAIN", "USERS", "QUOTA", "USED", "USE%", "OVER"], lines[0]
    for line in lines[1:]:
        if not line.strip():
            break
        f = line.split()
        rows[f[0]] = [int(f[1]), 0 if f[2] == "-" else int(f[2]), int(f[3]), f[4], int(f[5])]
    return rows


def test_report(conf, base, boxes):
    per, doms = expected(base, boxes)

    rc, out, err = run(["report", "--format", "json", "--top", "5"], conf)
    check(rc == 0, "report json exits 0 (rc=%d, %s)" % (rc, err.strip()))
    check(err == "", "report writes nothing on stderr when it is not a terminal")
    js = json.loads(out)
    got = {d["domain"]: d for d in js["domains"]}
    check(sorted(got) == sorted(doms), "json: one entry per domain")
    for name, d in doms.items():
        g = got[name]
        check((g["users"], g["quota_bytes"], g["used_bytes"], g["over_quota"], g["messages"])
              == (d["users"], d["quota"], d["used"], d["over"], d["messages"]),
              "json %s totals match the independent count %r" % (name, d))
    t = js["total"]
    check((t["users"], t["used_bytes"], t["quota_bytes"]) ==
          (len(boxes), sum(d["used"] for d in doms.values()),
           sum(d["quota"] for d in doms.values())), "json total")
    top = sorted(per, key=lambda a: (-per[a][1], a))[:5]
    check([m["address"] for m in js["top"]] == top, "json top 5 by bytes used")
    for m in js["top"]:
        q, u, n = per[m["address"]]
        check((m["quota_bytes"], m["used_bytes"], m["messages"]) == (q, u, n),
              "json top: %s figures" % m["address"])
    check(sum(h["mailboxes"] for h in js["histogram"]) ==
          sum(1 for a in per if per[a][0] > 0), "histogram counts every mailbox with a limit")

    rc, out, err = run(["report", "--format", "csv", "--top", "5"], conf)
    check(rc == 0, "report csv exits 0")
    rows = list(csv.reader(io.StringIO(out)))
    check(rows[0] == ["type", "name", "users", "quota_bytes", "used_bytes", "use_percent",
                      "over_quota", "messages", "message_limit", "errors"], "csv header")
    cdom = {r[1]: r for r in rows[1:] if r[0] == "domain"}
    for name, g in got.items():
        r = cdom[name]
        pct = "" if g["use_percent"] is None else "%.1f" % g["use_percent"]
        check([int(r[2]), int(r[3]), int(r[4]), r[5], int(r[6]), int(r[7])] ==
              [g["users"], g["quota_bytes"], g["used_bytes"], pct, g["over_quota"], g["messages"]],
              "csv %s agrees with json" % name)
    check([r[1] for r in rows if r[0] == "mailbox"] == top, "csv lists the same top 5")

    rc, out, err = run(["report", "--bytes", "--top", "5"], conf)
    check(rc == 0, "report table exits 0")
    tab = parse_table(out)
    for name, g in got.items():
        pct = "-" if g["use_percent"] is None else "%.1f%%" % g["use_percent"]
        check(tab[name] == [g["users"], g["quota_bytes"], g["used_bytes"], pct, g["over_quota"]],
              "table %s agrees with json" % name)
    check(all(a in out for a in top), "table lists the top 5")

    rc, out, err = run(["report", "--format", "json", "--domain", "BETA.test"], conf)
    js = json.loads(out)
    check([d["domain"] for d in js["domains"]] == ["beta.test"] and
          js["total"]["users"] == doms["beta.test"]["users"], "--domain keeps one domain")

    # --over: exactly the mailboxes at or above, exit 1; none above: exit 0.
    def pct(a):
        q, u, n = per[a]
        return u * 100 / q if q else -1
    rc, out, err = run(["report", "--format", "json", "--over", "90"], conf)
    want = sorted((a for a in per if per[a][0] and per[a][1] * 100 >= 90 * per[a][0]),
                  key=lambda a: (-pct(a), a))
    js = json.loads(out)
    check(rc == 1 and len(want) >= 2, "--over 90 exits 1 (rc=%d, %d expected)" % (rc, len(want)))
    check([m["address"] for m in js["over"]] == want and js["over_count"] == len(want),
          "--over 90 lists exactly the mailboxes at or above 90 %")
    rc, out, err = run(["report", "--over", "100"], conf)
    check(rc == 1 and boxes[1].address in out, "--over 100 includes the mailbox exactly at its quota")
    above = int(max(pct(a) for a in per)) + 1
    rc, out, err = run(["report", "--over", "%d%%" % above], conf)
    check(rc == 0 and "at or above %d%%: 0" % above in out,
          "--over %d%% finds none: exit 0 (rc=%d)" % (above, rc))
    rc, out, err = run(["report", "--over", "x"], conf)
    check(rc == 64, "--over x is a usage error")
    rc, out, err = run(["report", "--format", "xml"], conf)
    check(rc == 64, "--format xml is a usage error")
    return per


# --------------------------------------------------------------------------
# get


def test_get(conf, per):
    addr = max(per, key=lambda a: (per[a][0] > 0, per[a][1]))
    q, u, n = per[addr]
    rc, out, err = run(["get", addr.upper()], conf)
    lines = out.splitlines()
    check(rc == 0 and len(lines) == 3, "get exits 0 with a header and two rows")
    check(lines[0].split() == ["Quota", "name", "Type", "Value", "Limit", "%"], "get header")
    # doveadm's figures: KiB rounded up, % of the two rounded figures
    ku, kq = (u + 1023) // 1024, (q + 1023) // 1024
    check(lines[1].split() == ["User", "quota", "STORAGE", str(ku), str(kq),
                               str(ku * 100 // kq)], "get STORAGE row in KiB: %r" % lines[1])
    check(lines[2].split() == ["User", "quota", "MESSAGE", str(n), "-", "0"],
          "get MESSAGE row, no limit: %r" % lines[2])
    rc, out, err = run(["get", addr, "--format", "json"], conf)
    js = json.loads(out)
    check(rc == 0 and js == [
        {"name": "User quota", "type": "STORAGE", "value": str(ku),
         "limit": str(kq), "percent": str(ku * 100 // kq)},
        {"name": "User quota", "type": "MESSAGE", "value": str(n), "limit": "-", "percent": "0"}],
        "get --format json is doveadm's")
    rc, out, err = run(["get", "nobody@alpha.test"], conf)
    check(rc == 67 and out == "", "get of an unknown mailbox exits 67")


# --------------------------------------------------------------------------
# recalc


def mds_path(base, b):
    return os.path.join(base, b.domain, b.user, "maildirsize")


def read(path):
    with open(path) as f:
        return f.read()


def test_recalc(conf, base, boxes, per):
    b = next(x for x in boxes if x.quota and os.path.isdir(os.path.join(base, x.domain, x.user))
             and per[x.address][2] > 1 and x not in boxes[:2])
    md = os.path.join(base, b.domain, b.user)
    q, u, n = per[b.address]
    if os.geteuid() == 0:
        for dirpath, dirnames, filenames in os.walk(md):
            for e in dirnames + filenames:
                os.lchown(os.path.join(dirpath, e), 65534, 65534)
        os.chown(md, 65534, 65534)
    # A trusted, wrong file: report believes it (Maildir++), recalc fixes it.
    write_mds(md, "%dS" % q, [(u // 2, n - 1)])
    rc, out, err = run(["report", "--format", "json", "--top", "100"], conf)
    got = {m["address"]: m for m in json.loads(out)["top"]}
    check(got[b.address]["used_bytes"] == u // 2, "report believes a trusted maildirsize")
    before = read(mds_path(base, b))
    rc, out, err = run(["recalc", "--dry-run", b.address], conf)
    check(rc == 1 and "status=drift" in out and
          "file=%d/%d count=%d/%d drift=+%d/+1" % (u // 2, n - 1, u, n, u - u // 2) in out,
          "recalc --dry-run shows the drift and exits 1: %r" % out.strip())
    check(read(mds_path(base, b)) == before, "--dry-run writes nothing")
    rc, out, err = run(["recalc", b.address], conf)
    check(rc == 0 and "status=rewritten" in out, "recalc rewrites (rc=%d %r)" % (rc, out.strip()))
    check(read(mds_path(base, b)) == "%dS\n%d %d\n" % (q, u, n), "the new maildirsize is right")
    st = os.stat(mds_path(base, b))
    if os.geteuid() == 0:
        check((st.st_uid, st.st_gid) == (65534, 65534), "the new file belongs to the Maildir's owner")
    check(not [e for e in os.listdir(md) if e.endswith(".tmp")], "no temp file left")
    rc, out, err = run(["recalc", "--dry-run", b.address], conf)
    check(rc == 0 and "status=ok" in out and "drift=+0/+0" in out, "a second dry run is clean")
    rc, out, err = run(["recalc", b.address], conf)
    check(rc == 0 and "status=unchanged" in out, "a right file is left alone")

    # The message limit of an old definition line is kept; the row's bytes win.
    write_mds(md, "1S,77C", [(5, 5)])
    rc, out, err = run(["recalc", b.address], conf)
    check(read(mds_path(base, b)) == "%dS,77C\n%d %d\n" % (q, u, n),
          "definition: bytes from the row, messages kept from the old file")

    # --all: the missing and corrupt files drift; after recalc --all, none.
    rc, out, err = run(["recalc", "--all", "--dry-run"], conf)
    check(rc == 1 and out.count("\n") == len(boxes), "recalc --all --dry-run: one line per mailbox, exit 1")
    rc, out, err = run(["recalc", "--all"], conf)
    check(rc == 0, "recalc --all exits 0 (%s)" % err.strip())
    rc, out, err = run(["recalc", "--all", "--dry-run"], conf)
    check(rc == 0 and "status=drift" not in out, "after recalc --all nothing drifts")
    rc, out, err = run(["recalc", "nobody@alpha.test"], conf)
    check(rc == 67 and "status=nouser" in out, "recalc of an unknown mailbox exits 67")
    rc, out, err = run(["recalc"], conf)
    check(rc == 64, "recalc without a mailbox is a usage error")
    return b


def test_symlinks(conf, base, boxes, top):
    victims = [x for x in boxes[2:] if os.path.isdir(os.path.join(base, x.domain, x.user))][:2]
    outside = os.path.join(top, "outside")
    os.makedirs(os.path.join(outside, "cur"))
    os.makedirs(os.path.join(outside, "new"))
    secret = os.path.join(top, "secret")
    with open(secret, "w") as f:
        f.write("do not touch\n")

    b = victims[0]
    os.unlink(mds_path(base, b))
    os.symlink(secret, mds_path(base, b))
    rc, out, err = run(["recalc", b.address], conf)
    check(rc == 2 and "status=error" in out and "symlink" in out,
          "recalc refuses a symlinked maildirsize: %r" % out.strip())
    check(read(secret) == "do not touch\n" and os.path.islink(mds_path(base, b)),
          "the symlink and its target are untouched")
    rc, out, err = run(["report", "--format", "json"], conf)
    js = json.loads(out)
    check(rc == 2 and [e["address"] for e in js["errors"]] == [b.address],
          "report lists the mailbox as not read and exits 2")
    os.unlink(mds_path(base, b))

    b = victims[1]
    md = os.path.join(base, b.domain, b.user)
    with open(os.path.join(outside, "cur", msg_name(1, 5000)), "wb") as f:
        f.write(b"z")
    before = read(mds_path(base, b)) if os.path.exists(mds_path(base, b)) else None
    os.symlink(outside, os.path.join(md, ".Evil"))
    rc, out, err = run(["recalc", b.address], conf)
    check(rc == 2 and "folder .Evil is a symlink" in out,
          "recalc refuses a symlinked folder: %r" % out.strip())
    after = read(mds_path(base, b)) if os.path.exists(mds_path(base, b)) else None
    check(before == after, "nothing written for it")
    os.unlink(os.path.join(md, ".Evil"))
    os.symlink(outside, os.path.join(md, "cur.tmp"))     # not a folder name: harmless
    rc, out, err = run(["recalc", b.address], conf)
    check(rc == 0, "a symlink that is no folder does not stop recalc")
    os.unlink(os.path.join(md, "cur.tmp"))


DEF_RE = re.compile(r"^(\d+[SC])(,\d+[SC])*$")
LINE_RE = re.compile(r"^\s*-?\d+\s+-?\d+\s*$")


def valid_mds(text):
    """A whole Maildir++ file: a definition line, then usage lines; only the
    last line may be unterminated (an append in progress)."""
    if not text or "\n" not in text:
        return False
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    if not DEF_RE.match(complete[0]):
        return False
    if not all(LINE_RE.match(l) for l in complete[1:]):
        return False
    return tail == "" or re.match(r"^-?\d*\s*-?\d*$", tail) is not None


def test_race(conf, base, b):
    path = mds_path(base, b)
    stop = threading.Event()
    stats = dict(reads=0, bad=[], appends=0, append_errors=0)

    def appender():
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
                os.write(fd, b"1234 1\n")
                os.close(fd)
                stats["appends"] += 1
            except OSError:
                stats["append_errors"] += 1

    def reader():
        while not stop.is_set():
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                stats["bad"].append("open: %s" % e)
                continue
            stats["reads"] += 1
            if not valid_mds(text):
                stats["bad"].append(repr(text[:200]))

    # Separate processes would race the same way; threads keep it simple
    # and the GIL is released around every system call.
    threads = [threading.Thread(target=appender), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    rcs = []
    for _ in range(40):
        rc, out, err = run(["recalc", b.address], conf)
        rcs.append(rc)
    stop.set()
    for t in threads:
        t.join()
    check(all(rc == 0 for rc in rcs), "40 recalcs against a writer all succeed (%r)" % set(rcs))
    check(stats["reads"] > 100 and stats["appends"] > 100,
          "the reader read %d times, the writer appended %d times" % (stats["reads"], stats["appends"]))
    check(not stats["bad"] and stats["append_errors"] == 0,
          "every read was a whole, valid maildirsize (%d bad, %d append errors) %r"
          % (len(stats["bad"]), stats["append_errors"], stats["bad"][:3]))
    rc, out, err = run(["recalc", b.address], conf)
    check(valid_mds(read(path)) and read(path).count("\n") == 2, "settles to two lines")


# --------------------------------------------------------------------------
# progress bar


def test_progress(top, base):
    # A deliberately slow usage query (a recursive count per mailbox) makes
    # the scan last more than a second.
    slow = ("WITH RECURSIVE c(x) AS "
            "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
            "SELECT count(*) - 400000 + length('%s') AS bytes, 1 AS messages FROM c")
    conf = write_conf(top, base, quota={"usage": "sql"}, queries={"usage": slow},
                      name="slow.conf")
    t0 = time.monotonic()
    rc, out, err = run(["report"], conf)
    took = time.monotonic() - t0
    check(rc == 0 and err == "", "piped: no progress bar (rc=%d, %.1f s) %s" % (rc, took, err[:300]))
    if took < 1.3:
        print("note: slow scan took %.1f s only; progress bar test skipped" % took)
        return
    master, slave = pty.openpty()
    with open(os.path.join(top, "slow.out"), "w") as outf:
        p = subprocess.Popen([MQ, "-c", conf, "report"], stdout=outf, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    p.wait(timeout=60)
    os.close(master)
    check(p.returncode == 0 and re.search(rb"\r\[[#.]{30}\] +\d+%  \d+/\d+ mailboxes", seen)
          is not None, "on a terminal the progress bar is drawn: %r" % seen[:80])
    check(seen.endswith(b"\r\x1b[K"), "and the line is cleared at the end")


# --------------------------------------------------------------------------
# html in Chromium


class Proxy:
    """Every request Chromium tries to make, through --proxy-server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                self.requests.append(c.recv(1024).split(b"\r\n")[0].decode("latin-1"))
            except OSError:
                self.requests.append("(connection)")
            c.close()

    def close(self):
        self.sock.close()


# Chromium's own service traffic, which it sends even with every
# --disable-* flag below (network time, account and component checks): not
# something a page asked for.
CHROMIUM_SERVICES = re.compile(r"^(?:GET|POST|CONNECT) (?:https?://)?[^/ ]*\b"
                               r"(?:google\.com|googleapis\.com|gstatic\.com|gvt1\.com)[:/ ]")


def chromium_load(chromium, top, path):
    """Load file path in headless Chromium behind a recording proxy: (rc,
    dom, requests the page made)."""
    proxy = Proxy()
    profile = tempfile.mkdtemp(prefix="chromium-", dir=top)
    try:
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run", "--disable-extensions",
                            "--disable-default-apps", "--disable-domain-reliability",
                            "--no-pings", "--disable-features=NetworkTimeServiceQuerying",
                            "--proxy-server=http://127.0.0.1:%d" % proxy.port,
                            "--proxy-bypass-list=<-loopback>",
                            "--user-data-dir=" + profile, "--dump-dom", "file://" + path],
                           capture_output=True, text=True, timeout=120)
    finally:
        proxy.close()
    shutil.rmtree(profile, ignore_errors=True)
    return p.returncode, p.stdout, [r for r in proxy.requests if not CHROMIUM_SERVICES.match(r)]


def test_html(conf, top, ndomains):
    rc, page, err = run(["report", "--format", "html", "--top", "7"], conf)
    check(rc in (0, 2) and page.startswith("<!DOCTYPE html>"), "report --format html")
    check(re.search(r"https?:", page) is None and "url(" not in page and "//" not in page,
          "the page names no http(s) URL and no external reference")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        R.skip("the page in Chromium", "chromium is not installed (apt-get install -y chromium)")
        return
    # The control: a page that does fetch something is seen by the proxy.
    probe = os.path.join(top, "probe.html")
    with open(probe, "w") as f:
        f.write('<!DOCTYPE html><html><body><img src="http://probe.mailquota.invalid/x.png">'
                '</body></html>')
    rc, dom, requests = chromium_load(chromium, top, probe)
    check(any("probe.mailquota.invalid" in r for r in requests),
          "control: the proxy sees a page's request (%r)" % requests)

    path = os.path.join(top, "report.html")
    with open(path, "w") as f:
        f.write(page)
    rc, dom, requests = chromium_load(chromium, top, path)
    check(rc == 0 and "</html>" in dom, "Chromium loads the page (rc=%d)" % rc)
    check(len(re.findall(r'<svg class="bar"', dom)) == ndomains,
          "the DOM has one usage bar per domain (%d)" % ndomains)
    check(len(re.findall(r'<tr class="mailbox">', dom)) == 7, "the DOM has the top 7 rows")
    check(len(re.findall(r'<rect class="bucket', dom)) == 11, "the DOM has the histogram")
    check(requests == [], "no request left the page: %r" % requests)


# --------------------------------------------------------------------------
# hostile addresses: csv, json and html read back by Python's parsers

FORMULA_START = "=+-@\t\r"


class _Text(html.parser.HTMLParser):
    """The page's text, its tags and its attribute values."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.tags, self.attrs = [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.extend(v for _, v in attrs if v is not None)

    def handle_data(self, data):
        self.text.append(data)


def hostile_local(rnd):
    alphabet = "abc=+-@\"',;<>&'%\t\r\n \\`$(){}[]|!#*?~\u00e9\u4e2d\U0001F4EC"
    n = rnd.randint(1, 12)
    local = "".join(rnd.choice(alphabet) for _ in range(n))
    if rnd.random() < 0.5:
        local = rnd.choice(FORMULA_START) + local
    return local.replace("/", "_")


def test_hostile(top, seed):
    """Local parts that break naive writers (formula starters, quotes,
    commas, markup, control characters): csv.reader, json.loads and
    html.parser must give each address back, and no csv cell may start a
    spreadsheet formula."""
    rnd = random.Random(seed)
    root = os.path.join(top, "hostile")
    base = os.path.join(root, "mail")
    os.makedirs(base)
    db = sqlite3.connect(os.path.join(root, "mail.db"))
    with open(SCHEMA) as f:
        db.executescript(f.read())
    db.execute("INSERT INTO virtual_domains(id,name,enabled) VALUES (1,'evil.test',1)")
    addrs = set()
    while len(addrs) < 30:
        local = hostile_local(rnd)
        if local in (".", "..") or "\0" in local:
            continue
        addr = local + "@evil.test"
        if addr in addrs:
            continue
        addrs.add(addr)
        db.execute("INSERT INTO virtual_users(domain_id,email,password,quota,enabled)"
                   " VALUES (1,?,?,?,1)", (addr, "x", 100000))
        md = os.path.join(base, "evil.test", local)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        with open(os.path.join(md, "cur", msg_name(len(addrs), 1000 + len(addrs))), "wb") as f:
            f.write(b"x")
    db.commit()
    db.close()
    conf = mqtest.write_config(os.path.join(root, "mailquota.conf"),
                               database={"path": os.path.join(root, "mail.db")},
                               maildir={"base": base})
    note = " (seed %d)" % seed
    # Addresses the parser refuses are listed as errors, shown with every
    # byte outside printable ASCII as '?'; the others are mailboxes.
    rc, out, err = run(["report", "--format", "json", "--top", "100"], conf)
    valid = {m["address"] for m in json.loads(out)["top"]}
    want = set()
    for a in addrs:
        if a in valid:
            want.add(("mailbox", a))
        else:
            want.add(("error", "".join(c if " " <= c < "\x7f" else "?" * len(c.encode())
                                       for c in a)))
    check(len(valid) >= 5 and len(valid) < len(addrs),
          "hostile estate: %d valid addresses, %d refused%s" % (len(valid), len(addrs) - len(valid), note))

    rc, out, err = run(["report", "--format", "csv", "--top", "100"], conf)
    rows = list(csv.reader(io.StringIO(out, newline="")))
    got = set()
    for r in rows[1:]:
        if len(r) > 1 and r[0] in ("mailbox", "error"):
            a = r[1]
            if a[:2] in ("'" + c for c in FORMULA_START):
                a = a[1:]
            got.add((r[0], a))
    check(rc in (0, 2) and got == want, "csv read back by csv.reader: every hostile address" +
          note + ("" if got == want else ": missing %r, extra %r" % (want - got, got - want)))
    bad = [c for r in rows for c in r if c[:1] in tuple(FORMULA_START) and c[:1] != ""]
    check(bad == [], "csv: no cell starts a spreadsheet formula%s %r" % (note, bad[:3]))

    rc, out, err = run(["report", "--format", "json", "--top", "100"], conf)
    try:
        js = json.loads(out)
        got = {("mailbox", m["address"]) for m in js["top"]} | \
            {("error", m["address"]) for m in js["errors"]}
    except ValueError as ex:
        got = {"unparsable: %s" % ex}
    check(got == want, "json read back by json.loads: every hostile address" + note +
          ("" if got == want else ": missing %r, extra %r" % (want - got, got - want)))

    rc, page, err = run(["report", "--format", "html", "--top", "100"], conf)
    p = _Text()
    p.feed(page)
    p.close()
    text = "".join(p.text)
    missing = [a for k, a in want if a not in text]
    check(missing == [], "html read back by html.parser: every hostile address in the text" +
          note + ("" if not missing else ": %r" % missing[:3]))
    check("script" not in p.tags and "img" not in p.tags,
          "html: no address became markup%s (tags %s)" % (note, sorted(p.tags)))


# --------------------------------------------------------------------------


def main():
    mqtest.require_binary(MQ)
    if not os.path.exists(SCHEMA):
        mqtest.skip("no %s" % SCHEMA)
    rc = subprocess.run([MQ, "-h"], capture_output=True).returncode
    if rc != 0:
        mqtest.skip("mailquota -h failed")
    top = mqtest.tempdir("mq-cli-")
    rnd = random.Random(int(os.environ.get("MQ_SEED", "5")))
    base, boxes = build_estate(top, rnd)
    conf = write_conf(top, base)
    rc, out, err = run(["check", boxes[0].address], conf)
    check(rc == 1 and "overquota" in out, "check agrees that the full mailbox rejects")
    per = test_report(conf, base, boxes)
    test_get(conf, per)
    b = test_recalc(conf, base, boxes, per)
    test_race(conf, base, b)
    test_html(conf, top, len(DOMAINS))
    test_symlinks(conf, base, boxes, top)
    test_progress(top, base)
    test_hostile(top, int(os.environ.get("MQ_SEED", "5")))
    R.finish()


if __name__ == "__main__":
    main()
