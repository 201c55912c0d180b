#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Database faults under a running mailquota-policyd, on MariaDB and
PostgreSQL (private servers from dbservers.py, the default preset and
tests/integ/fixture-default.sql).

For each server:

  outage    Daemon "load" (cache_ttl = 0, so every request asks the
            database) gets a steady load from several client threads while
            the server is stopped and started again. Every answer while it
            is down must be reply_tempfail (they are counted), none may be a
            5xx, no client may lose its connection, every answer must come
            within 1 s, the daemon must not die, and right answers must come
            back within a few seconds of the server, with no restart.
            During the same outage: on_error = pass answers reply_success;
            policy.stale_ttl answers primed recipients from expired cache
            entries (cache=stale, counted in the SIGUSR1 stats) and still
            tempfails one it never saw; the same cache without stale_ttl
            tempfails; stale_ttl with cache_ttl = 0 answers from the last
            answer the database gave.
  slow      A test-only user query sleeps (SLEEP() / pg_sleep()) for one
            address only. A daemon with two workers: that request is cut at
            query_timeout (tempfail), and while it hangs, requests whose
            answers are cached are answered on the event loop and uncached
            ones by the other worker, each at once; afterwards the cut
            connection is replaced and both workers answer again.
  -t        mailquota-policyd -t passes with both presets, and fails with
            the server's own words (and the query's name) for a query on a
            missing table and for a table the account may not read.

One line per check, then "N passed, N failed"; exit 1 on any failure, 77
when the daemon or both servers are missing (a failure with
MQ_REQUIRE_ALL=1, as is a single missing server).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import dbservers  # noqa: E402

DUNNO = "DUNNO"
TEMPFAIL = "451 4.3.0 Temporary lookup failure"
NOUSER = "550 5.1.1 User unknown"
DISABLED = "550 5.2.1 Mailbox disabled"
FULL = "552 5.2.2 Mailbox is full"

QUERY_TIMEOUT = 2       # seconds, database.query_timeout of every daemon
MAX_LATENCY = 1.0       # every answer during the outage, in seconds
DOWN_FOR = 3.0          # seconds the server stays down (at least)
RECOVERY_LIMIT = 8.0    # right answers again within this many seconds
LOAD_THREADS = 8

# Load recipients: each one's right answer is DUNNO (fixture-default.sql),
# so a 5xx is always wrong, and tempfail is wrong while the server is up.
LOAD_RCPTS = ["alice@example.org", "bob@example.org", "team@example.org",
              "postmaster@example.org", "o'brien@example.org",
              "alice+tag@example.org", "someone@nowhere.example"]

# Primed before the outage in the caching daemons, with their right answers
# (size 100: full@ has a quota of 10 bytes).
PRIMED = [("alice@example.org", DUNNO), ("full@example.org", FULL),
          ("carol@example.org", DISABLED), ("nobody@example.org", NOUSER),
          ("team@example.org", DUNNO)]
# not asked before the outage, nor a destination of anything primed
NOT_PRIMED = ("o'brien@example.org", DUNNO)

# Answered by the slow-query daemon's second worker while the first hangs.
UNCACHED = [("carol@example.org", DISABLED), ("nobody@example.org", NOUSER),
            ("o'brien@example.org", DUNNO), ("postmaster@example.org", DUNNO),
            ("erin@other.example", DUNNO), ("someone@nowhere.example", DUNNO)]
CACHED = [("alice@example.org", DUNNO), ("bob@example.org", DUNNO),
          ("full@example.org", FULL)]
AFTER = [("team@example.org", DUNNO), ("list@example.org", DUNNO)]

SLOW = "slow@example.org"
SLOW_QUERY = {
    "mysql": "SELECT u.quota AS quota, (u.enabled AND d.enabled) AS enabled "
             "FROM virtual_users u JOIN virtual_domains d ON d.id = u.domain_id "
             "WHERE u.email = '%s' AND (u.email <> 'slow@example.org' "
             "OR SLEEP(30) = 0)",
    "pgsql": "SELECT u.quota AS quota, (u.enabled AND d.enabled) AS enabled "
             "FROM virtual_users u JOIN virtual_domains d ON d.id = u.domain_id "
             "WHERE u.email = '%s' AND (u.email <> 'slow@example.org' "
             "OR (SELECT true FROM pg_sleep(30)))",
}


class Daemons:
    """The daemons of one server, each with its own config and port."""

    def __init__(self, root, srv, base):
        self.root, self.srv, self.base = root, srv, base
        self.all = []

    def start(self, name, database=None, queries=None, **policy):
        port = mqtest.free_port()
        conf = os.path.join(self.root, "%s-%s.conf" % (self.srv.driver, name))
        db = self.srv.database_keys("tcp")
        db.update({"query_timeout": QUERY_TIMEOUT, "connections": 4})
        db.update(database or {})
        pol = {"reply_nouser": NOUSER, "reply_tempfail": TEMPFAIL}
        pol.update(policy)
        extra = {"schema": "default"}
        if queries:
            extra["queries"] = queries
        mqtest.write_config(conf, None, listen=["inet:127.0.0.1:%d" % port],
                            policy=pol, database=db, maildir={"base": self.base},
                            extra=extra)
        d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
        d.name = "%s/%s" % (self.srv.driver, name)
        self.all.append(d)
        return d

    def stop(self, res=None):
        """Stop every daemon still running; with res, each must exit 0 on
        SIGTERM within 5 s (a sanitizer report at exit is a failure)."""
        for d in self.all:
            if d.running():
                rc, took = d.stop()
                if res is not None:
                    res.check("%s: exits 0 on SIGTERM" % d.name, rc == 0 and took < 5.0,
                              "exit %s after %.1f s" % (rc, took))
                    bad = [ln for ln in d.lines_since(0)
                           if "Sanitizer" in ln or "runtime error:" in ln]
                    res.check("%s: no sanitizer report" % d.name, not bad,
                              bad[0] if bad else "")


def ask(daemon, rcpt, size=100, timeout=5.0):
    """One request on a new connection: (action or None, seconds, error)."""
    t0 = time.monotonic()
    try:
        c = mqtest.PolicyClient(daemon.addr, timeout=timeout)
        try:
            a = c.ask(recipient=rcpt, size=size)
        finally:
            c.close()
        return a, time.monotonic() - t0, None if a is not None else "closed"
    except Exception as e:
        return None, time.monotonic() - t0, "%s: %s" % (type(e).__name__, e)


def expect_all(res, label, daemon, pairs, want=None, limit=MAX_LATENCY):
    """Ask each (recipient, right answer); want overrides the answer. Returns
    once the decision lines are read too, so a later mark() comes after them."""
    mark = daemon.mark()
    for rcpt, right in pairs:
        expected = want if want is not None else right
        a, took, err = ask(daemon, rcpt)
        res.check("%s: %s -> %s" % (label, rcpt, expected),
                  err is None and a == expected and took < limit,
                  "got %r in %.3f s%s" % (a, took, (", " + err) if err else ""))
    mqtest.wait_until(lambda: len(daemon.decisions(mark)) >= len(pairs), 2.0)


class Load:
    """LOAD_THREADS persistent policy clients asking in a loop; every
    answer is recorded as (sent, received, recipient, action, error)."""

    def __init__(self, addr, pause=0.01):
        self.addr, self.pause = addr, pause
        self.records = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(LOAD_THREADS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(10)

    def run(self, n):
        client = None
        i = n
        while not self.done.is_set():
            rcpt = LOAD_RCPTS[i % len(LOAD_RCPTS)]
            i += 1
            t0 = time.monotonic()
            action = err = None
            try:
                if client is None:
                    client = mqtest.PolicyClient(self.addr, timeout=10)
                action = client.ask(recipient=rcpt, size=100, timeout=10)
                if action is None:
                    err = "connection closed by the daemon"
            except Exception as e:
                err = "%s: %s" % (type(e).__name__, e)
            if err is not None and client is not None:
                client.close()
                client = None
            with self.lock:
                self.records.append((t0, time.monotonic(), rcpt, action, err))
            time.sleep(self.pause)
        if client is not None:
            client.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)


def stats_line(daemon, key):
    """SIGUSR1, then the value of key=N in the stats line it logs."""
    mark = daemon.mark()
    daemon.send_signal(signal.SIGUSR1)
    line = daemon.wait_log(r"stats: .*\b%s=\d+" % key, mark, 5.0)
    if line is None:
        return None
    return int(re.search(r"\b%s=(\d+)" % key, line).group(1))


def decision_for(daemon, mark, rcpt, timeout=2.0):
    """The decision line logged for rcpt after mark, as a dict."""
    line = daemon.wait_log(r"recipient=%s " % re.escape(rcpt), mark, timeout)
    if line is None:
        return {}
    return dict(mqtest.parse_decision(line) or [])


def load_outage(res, srv, load_d, how, during=None, warmup=1.5):
    """A load on load_d while the server is stopped (how = "stop") or
    killed ("kill") for DOWN_FOR seconds and started again; during() runs
    while it is down. Checks every answer of the run."""
    d = srv.driver
    name = "%s (%s)" % (load_d.name, how)
    load = Load(load_d.addr).start()
    t_right = None
    try:
        time.sleep(warmup)      # a stretch of right answers first
        t_stop = time.monotonic()
        getattr(srv, how)()
        t_down = time.monotonic()
        mqtest.log("%s: server %s took %.2f s" % (d, how, t_down - t_stop))
        if during is not None:
            during()
        left = DOWN_FOR - (time.monotonic() - t_down)
        if left > 0:
            time.sleep(left)
        t_start = time.monotonic()
        srv.start()
        t_up = time.monotonic()
        mqtest.log("%s: server start took %.2f s" % (d, t_up - t_start))

        def recovered():
            for sent, got, rcpt, action, err in load.snapshot():
                if sent >= t_up and action == DUNNO:
                    return got
            return None
        t_right = mqtest.wait_until(recovered, RECOVERY_LIMIT + 5, 0.05)
        time.sleep(1.5)         # right answers only, from now on
    finally:
        load.stop()
    recs = load.snapshot()

    res.check("%s: load ran" % name, len(recs) > 100, "%d answers" % len(recs))
    errors = [r for r in recs if r[4] is not None]
    res.check("%s: no connection errors" % name, not errors,
              "%d, first: %s" % (len(errors), errors[0][4] if errors else ""))
    fivexx = [r for r in recs if r[3] is not None and r[3].startswith("5")]
    res.check("%s: no 5xx answer" % name, not fivexx,
              "%d, first: %r" % (len(fivexx), fivexx[0][3] if fivexx else ""))
    slowest = max((r[1] - r[0] for r in recs), default=0)
    res.check("%s: every answer within %.1f s" % (name, MAX_LATENCY),
              slowest < MAX_LATENCY, "slowest %.3f s" % slowest)
    before = [r for r in recs if r[1] <= t_stop]
    res.check("%s: right answers before the outage" % name,
              before and all(r[3] == DUNNO for r in before),
              "%d answers, %d not DUNNO" % (len(before),
                                           sum(r[3] != DUNNO for r in before)))
    down = [r for r in recs if r[0] >= t_down and r[1] <= t_start]
    wrong = [r for r in down if r[3] != TEMPFAIL]
    res.check("%s: only tempfail while the server is down" % name,
              len(down) > 0 and not wrong,
              "%d answers in %.1f s, %d tempfail, %d other%s" % (
                  len(down), t_start - t_down, len(down) - len(wrong), len(wrong),
                  (": %r" % (wrong[0][3],)) if wrong else ""))
    res.check("%s: right answers within %.0f s of the server's start" % (
        name, RECOVERY_LIMIT), t_right is not None and t_right - t_up < RECOVERY_LIMIT,
        "after %s s" % ("%.2f" % (t_right - t_up) if t_right else "never"))
    if t_right is not None:
        after = [r for r in recs if r[0] >= t_right + 0.5]
        res.check("%s: only right answers after recovery" % name,
                  after and all(r[3] == DUNNO for r in after),
                  "%d answers, %d not DUNNO" % (len(after),
                                               sum(r[3] != DUNNO for r in after)))
    res.check("%s: still running, never restarted" % name, load_d.running(),
              "exit %s" % load_d.proc.returncode)
    mqtest.log("%s: %d answers, %d while down (all tempfail: %s), recovery %.2f s, "
               "slowest %.3f s" % (name, len(recs), len(down), not wrong,
                                   (t_right - t_up) if t_right else -1, slowest))


def outage(res, srv, daemons):
    load_d = daemons.start("load", cache_ttl=0, negative_cache_ttl=0)
    pass_d = daemons.start("pass", cache_ttl=0, negative_cache_ttl=0, on_error="pass")
    stale_d = daemons.start("stale", cache_ttl=1, negative_cache_ttl=1, stale_ttl=300)
    nostale_d = daemons.start("nostale", cache_ttl=1, negative_cache_ttl=1)
    stale0_d = daemons.start("stale-ttl0", cache_ttl=0, negative_cache_ttl=0,
                             stale_ttl=300)

    for dm in (stale_d, nostale_d, stale0_d):
        expect_all(res, "%s up, priming" % dm.name, dm, PRIMED)
    expect_all(res, "%s up" % pass_d.name, pass_d, [("full@example.org", FULL)])

    def probes():
        """While the server is down (the load keeps running)."""
        # on_error = pass: reply_success, logged as a tempfail.
        mark = pass_d.mark()
        expect_all(res, "%s down, on_error = pass" % pass_d.name, pass_d,
                   [("full@example.org", FULL), ("alice@example.org", DUNNO)],
                   want=DUNNO)
        line = decision_for(pass_d, mark, "full@example.org")
        res.check("%s down: decision line outcome=tempfail action=DUNNO" % pass_d.name,
                  line.get("outcome") == "tempfail" and line.get("action") == DUNNO,
                  repr(line))

        # stale_ttl: the expired entries answer, and say so.
        mark = stale_d.mark()
        expect_all(res, "%s down, stale_ttl = 300" % stale_d.name, stale_d, PRIMED)
        line = decision_for(stale_d, mark, "full@example.org")
        res.check("%s down: decision line cache=stale" % stale_d.name,
                  line.get("cache") == "stale", repr(line))
        expect_all(res, "%s down, never cached" % stale_d.name, stale_d,
                   [NOT_PRIMED], want=TEMPFAIL)
        hits = stats_line(stale_d, "stale_hits")
        answers = stats_line(stale_d, "stale_answers")
        res.check("%s: SIGUSR1 counts stale hits and answers" % stale_d.name,
                  hits is not None and answers is not None and
                  hits >= len(PRIMED) and answers == len(PRIMED),
                  "stale_hits=%s stale_answers=%s" % (hits, answers))
        expect_all(res, "%s down, stale_ttl = 0" % nostale_d.name, nostale_d,
                   PRIMED, want=TEMPFAIL)
        expect_all(res, "%s down, cache_ttl = 0, stale_ttl = 300" % stale0_d.name,
                   stale0_d, PRIMED)
        res.check("%s: the reason of a tempfail is logged" % load_d.name,
                  load_d.wait_log(r"tempfail: lookup failed: .*(connect|unavailable)",
                                  0, 2.0) is not None)

    load_outage(res, srv, load_d, "stop", probes)

    errs = stats_line(load_d, "db_errors")
    res.check("%s: SIGUSR1 logs db_errors" % load_d.name, errs is not None and errs > 0,
              "db_errors=%s" % errs)
    # Back to normal everywhere, without a restart.
    def right_again(dm, rcpt, answer):
        return mqtest.wait_until(lambda: ask(dm, rcpt)[0] == answer, 5.0, 0.2)
    res.check("%s: reject again after the outage" % pass_d.name,
              right_again(pass_d, "full@example.org", FULL))
    res.check("%s: the never-cached recipient answers after the outage" % stale_d.name,
              right_again(stale_d, *NOT_PRIMED))
    for dm in (load_d, pass_d, stale_d, nostale_d, stale0_d):
        res.check("%s: alive after the outage" % dm.name, dm.running())

    # A crash this time: every connection reset at once.
    load_outage(res, srv, load_d, "kill", warmup=1.0)


def slow_query(res, srv, daemons):
    """One hanging query must not hold up anything else."""
    srv.sql("INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled) "
            "VALUES (100, 1, '%s', 'x', 1000, TRUE)" % SLOW)
    dm = daemons.start("slow", database={"connections": 2},
                       queries={"user": SLOW_QUERY[srv.driver]},
                       cache_ttl=300, negative_cache_ttl=300)
    expect_all(res, "%s priming" % dm.name, dm, CACHED)

    result = {}

    def slow():
        result["slow"] = ask(dm, SLOW, timeout=QUERY_TIMEOUT + 10)
    t = threading.Thread(target=slow)
    mark = dm.mark()
    t0 = time.monotonic()
    t.start()
    time.sleep(0.3)         # the slow request is in a worker now
    cached, uncached = [], []      # (recipient, right?, seconds, answered at)
    i = 0
    while t.is_alive() and time.monotonic() - t0 < QUERY_TIMEOUT - 0.3:
        rcpt, right = CACHED[i % len(CACHED)]
        a, took, err = ask(dm, rcpt)
        cached.append((rcpt, a == right and err is None, took, time.monotonic()))
        if i < len(UNCACHED):
            rcpt, right = UNCACHED[i]
            a, took, err = ask(dm, rcpt)
            uncached.append((rcpt, a == right and err is None, took, time.monotonic()))
        i += 1
        time.sleep(0.05)
    t.join(QUERY_TIMEOUT + 15)
    a, took, err = result.get("slow", (None, 0, "no answer"))
    slow_end = t0 + took
    # only what was answered while the slow request still waited counts
    cached = [x for x in cached if x[3] < slow_end]
    res.check("%s: the sleeping query is cut at query_timeout (%d s)" % (
        dm.name, QUERY_TIMEOUT),
        a == TEMPFAIL and QUERY_TIMEOUT - 0.5 <= took <= QUERY_TIMEOUT + 1.5,
        "got %r after %.2f s%s" % (a, took, (", " + err) if err else ""))
    res.check("%s: the timeout is logged" % dm.name,
              dm.wait_log(r"timed out", mark, 2.0) is not None)
    res.check("%s: cached answers from the event loop while it hangs" % dm.name,
              len(cached) >= 5 and all(ok and took < 0.25 for _, ok, took, _ in cached),
              "%d answers, slowest %.3f s, %d wrong" % (
                  len(cached), max((x[2] for x in cached), default=0),
                  sum(not x[1] for x in cached)))
    res.check("%s: uncached answers from the other worker while it hangs" % dm.name,
              len(uncached) == len(UNCACHED) and
              all(ok and took < 0.5 and at < slow_end for _, ok, took, at in uncached),
              "%d of %d, slowest %.3f s, %d wrong" % (
                  len(uncached), len(UNCACHED), max((x[2] for x in uncached), default=0),
                  sum(not x[1] for x in uncached)))
    lines = [dict(mqtest.parse_decision(ln) or []) for ln in dm.lines_since(mark)]
    hits = [ln for ln in lines if ln.get("recipient") in dict(CACHED)]
    misses = [ln for ln in hits if ln.get("cache") != "hit"]
    res.check("%s: those were cache hits" % dm.name, hits and not misses,
              "%d lines, %d not hits, first: %r" % (len(hits), len(misses),
                                                   misses[0] if misses else None))

    # The cut connection was dropped; both workers answer again, together.
    out = {}
    ths = [threading.Thread(target=lambda r=r: out.__setitem__(r, ask(dm, r)))
           for r, _ in AFTER]
    for th in ths:
        th.start()
    for th in ths:
        th.join(10)
    for rcpt, right in AFTER:
        a, took, err = out.get(rcpt, (None, 0, "no answer"))
        res.check("%s: after the timeout, %s -> %s" % (dm.name, rcpt, right),
                  a == right and took < MAX_LATENCY, "got %r in %.3f s" % (a, took))
    res.check("%s: alive" % dm.name, dm.running())


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def test_mode(res, srv, root):
    """mailquota-policyd -t: the server's own error for a broken query."""
    d = srv.driver
    srv.create_database("mq_pfa")
    srv.load_preset("postfixadmin", database="mq_pfa")
    if d == "mysql":
        srv.sql("CREATE DATABASE mq_secret; "
                "CREATE TABLE mq_secret.t (email varchar(100), quota int, enabled int);",
                database="")
        secret = "SELECT quota, enabled FROM mq_secret.t WHERE email = '%s'"
        denied = ["SELECT command denied", "mq_secret", "(1142)"]
        missing = ["no_such_table", "doesn't exist", "(1146)"]
    else:
        srv.sql("CREATE TABLE secret (email text, quota int, enabled boolean); "
                "REVOKE SELECT ON secret FROM %s;" % srv.user)
        secret = "SELECT quota, enabled FROM secret WHERE email = '%s'"
        denied = ["permission denied for table secret"]
        missing = ['relation "no_such_table" does not exist']

    def run(name, preset="default", database=None, queries=None):
        conf = os.path.join(root, "%s-t-%s.conf" % (d, name))
        extra = {"schema": preset}
        if queries:
            extra["queries"] = queries
        mqtest.write_config(conf, database=srv.database_keys("tcp", database),
                            maildir={"base": root}, extra=extra)
        r = subprocess.run([mqtest.POLICYD, "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    for preset, db in (("default", None), ("postfixadmin", "mq_pfa")):
        rc, out = run(preset, preset, db)
        res.check("%s -t: %s preset passes" % (d, preset),
                  rc == 0 and "configuration OK" in out, "exit %d: %s" % (rc, last_line(out)))
    broken = "SELECT quota, enabled FROM no_such_table WHERE email = '%s'"
    rc, out = run("broken", queries={"user": broken})
    res.check("%s -t: a missing table fails with the server's words" % d,
              rc == 1 and "queries.user:" in out and all(w in out for w in missing),
              "exit %d: %s" % (rc, last_line(out)))
    rc, out = run("grant", queries={"user": secret})
    res.check("%s -t: a table without a grant fails with the server's words" % d,
              rc == 1 and "queries.user:" in out and all(w in out for w in denied),
              "exit %d: %s" % (rc, last_line(out)))
    rc, out = run("both", queries={
        "user": secret,
        "domain": "SELECT enabled FROM no_such_table WHERE name = '%d'"})
    res.check("%s -t: every broken query is reported, by name" % d,
              rc == 1 and "queries.user:" in out and "queries.domain:" in out,
              "exit %d: %s" % (rc, last_line(out)))


def one_server(res, name, start, root, base):
    try:
        srv = start(root)
    except dbservers.Unavailable as e:
        res.skip(name, str(e))
        return
    mqtest.at_cleanup(srv.close)
    daemons = Daemons(root, srv, base)
    try:
        srv.load_preset("default")
        probe = mqtest.write_config(os.path.join(root, "%s-probe.conf" % srv.driver),
                                    database=srv.database_keys("tcp"), maildir={"base": base})
        r = subprocess.run([mqtest.POLICYD, "-t", "-c", probe],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if b"not compiled in" in r.stdout:
            res.skip(name, "mailquota-policyd built without the %s driver" % srv.driver)
            return
        res.run("%s -t" % name, test_mode, res, srv, root)
        res.run("%s outage" % name, outage, res, srv, daemons)
        daemons.stop(res)
        if not srv.running():
            srv.start()
        res.run("%s slow query" % name, slow_query, res, srv, daemons)
        daemons.stop(res)
    finally:
        daemons.stop()
        if res.failed:
            for dm in daemons.all:
                mqtest.log("--- log of %s (tail) ---\n%s" % (
                    dm.name, "\n".join(dm.lines_since(max(0, len(dm.lines) - 40)))))
        srv.close()


def main():
    mqtest.require_binary(mqtest.POLICYD)
    res = mqtest.Results()
    root = mqtest.tempdir("mq-dbfaults-")
    base = os.path.join(root, "vmail")
    os.makedirs(base, mode=0o755)
    for name, start in (("MariaDB", dbservers.start_mariadb),
                        ("PostgreSQL", dbservers.start_postgresql)):
        one_server(res, name, start, root, base)
    if res.passed == 0 and res.failed == 0:
        mqtest.skip("neither MariaDB nor PostgreSQL is installed")
    res.finish()


if __name__ == "__main__":
    main()
