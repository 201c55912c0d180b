#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mailquota-policyd over real sockets on a SQLite fixture: persistent
connections, concurrency, malformed input, idle timeout, SIGHUP reload,
a blocking mailbox, unix and IPv6 listeners, -s, -t, SIGTERM and the
decision log line.

One line per case, then "N passed, N failed"; exit 1 on any failure.
"""

import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
QUOTA = MIB

REPLIES = mqtest.REPLIES
OVER = REPLIES["reply_overquota"]
RELOADED = "552 5.2.2 Mailbox is full, reloaded"
DUNNO = "DUNNO"

# recipient -> the answer at RCPT with size=1000
EXPECT = {
    "under@example.org": DUNNO,
    "over@example.org": OVER,
    "nosuch@example.org": REPLIES["reply_nouser"],
    "disabled@example.org": REPLIES["reply_disabled"],
    "alias@example.org": OVER,
    "someone@remote.test": DUNNO,
}
SPARE = ["spare%d@example.org" % i for i in range(12)]   # never asked before the FIFO case


class Env:
    pass


def setup():
    mqtest.require_binary(mqtest.POLICYD)
    e = Env()
    e.root = mqtest.tempdir("mq-daemon-")
    fx = e.fx = mqtest.Fixture(os.path.join(e.root, "fixture"))
    os.chmod(fx.root, 0o755)
    fx.domain("example.org")
    for email, used in (("under@example.org", 500000), ("over@example.org", 1100000),
                        ("near@example.org", QUOTA - 576)):
        fx.user(email, quota=QUOTA)
        fx.maildir(email, limit_bytes=QUOTA, usage=[(used, 10)])
    fx.user("big@example.org", quota=5 * GIB)
    fx.maildir("big@example.org", limit_bytes=5 * GIB, usage=[(3 * GIB, 3000)])
    fx.user("disabled@example.org", quota=QUOTA, enabled=False)
    fx.alias("alias@example.org", "over@example.org")
    for email in SPARE:
        fx.user(email, quota=QUOTA)
        fx.maildir(email, limit_bytes=QUOTA, usage=[(1000, 1)])
    fx.user("fifo@example.org", quota=QUOTA)
    md = fx.maildir("fifo@example.org", maildirsize=False)
    e.fifo = os.path.join(md, "maildirsize")
    os.mkfifo(e.fifo, 0o644)
    mqtest.at_cleanup(lambda: release_fifo(e.fifo))
    fx.commit()

    e.port = mqtest.free_port()
    e.sock = os.path.join(e.root, "policyd.sock")
    e.conf = os.path.join(e.root, "mailquota.conf")
    e.listen = ["inet:127.0.0.1:%d" % e.port, "unix:%s:0660" % e.sock]
    write_conf(e)
    e.addr = ("127.0.0.1", e.port)
    e.daemon = mqtest.Daemon(e.conf, e.addr).start()
    return e


def write_conf(e, quota=None, **policy):
    p = dict(REPLIES)
    p["idle_timeout"] = 60
    p.update(policy)
    mqtest.write_config(e.conf, e.fx, listen=e.listen, policy=p, quota=quota)


def reload_conf(e, quota=None, **policy):
    """reload_conf - a new configuration by SIGHUP; returns once it is in use."""
    write_conf(e, quota, **policy)
    mark = e.daemon.mark()
    e.daemon.send_signal(signal.SIGHUP)
    return e.daemon.wait_log(r"(?i)reload", mark, 5.0) is not None


def release_fifo(path):
    """release_fifo - let a reader blocked on the FIFO see end of file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return          # nobody is reading it
    os.close(fd)


def ask(e, recipient, size=1000, **kw):
    c = mqtest.PolicyClient(e.addr)
    try:
        return c.ask(recipient=recipient, size=size, **kw)
    finally:
        c.close()


# --- cases -------------------------------------------------------------------

def t_answers(res, e):
    c = mqtest.PolicyClient(e.addr)
    rows = [
        ("RCPT under quota", dict(recipient="under@example.org", size=1000), DUNNO),
        ("RCPT over quota", dict(recipient="over@example.org", size=1000), OVER),
        ("RCPT unknown user", dict(recipient="nosuch@example.org", size=1000),
         REPLIES["reply_nouser"]),
        ("RCPT disabled user", dict(recipient="disabled@example.org"), REPLIES["reply_disabled"]),
        ("RCPT alias to over quota", dict(recipient="alias@example.org"), OVER),
        ("RCPT domain not in the database", dict(recipient="someone@remote.test"), DUNNO),
        ("RCPT SIZE exactly fills", dict(recipient="near@example.org", size=576), DUNNO),
        ("RCPT SIZE pushes over", dict(recipient="near@example.org", size=577), OVER),
        ("RCPT SIZE over the whole quota", dict(recipient="under@example.org", size=QUOTA + 1),
         REPLIES["reply_toolarge"]),
        ("RCPT 5 GiB quota, 3 GiB used, 2 GiB fills", dict(recipient="big@example.org",
                                                         size=2 * GIB), DUNNO),
        ("RCPT 5 GiB quota, 3 GiB used, 2 GiB + 1 over", dict(recipient="big@example.org",
                                                            size=2 * GIB + 1), OVER),
        ("END-OF-MESSAGE real size pushes over",
         dict(recipient="near@example.org", size=577, state="END-OF-MESSAGE"), OVER),
        ("END-OF-MESSAGE real size fits",
         dict(recipient="near@example.org", size=100, state="END-OF-MESSAGE"), DUNNO),
        ("END-OF-MESSAGE empty recipient",
         dict(recipient="", size=100, state="END-OF-MESSAGE"), DUNNO),
        ("DATA state is not judged", dict(recipient="over@example.org", state="DATA"), DUNNO),
        ("other request types get reply_success",
         dict(recipient="over@example.org", request="something_else"), DUNNO),
        ("size not a number counts as 0", dict(recipient="near@example.org", size="600x"), DUNNO),
    ]
    try:
        for name, kw, want in rows:
            got = c.ask(**kw)
            res.check(name, got == want, "got %r, want %r" % (got, want))
        # attributes in any order, unknown ones ignored, the first of a repeat wins
        raw = (b"zzz_unknown=1\nrecipient=over@example.org\nsize=10\n"
               b"protocol_state=RCPT\nrecipient=under@example.org\n"
               b"request=smtpd_access_policy\nx-y.z=\n\n")
        got = c.ask(raw)
        res.check("any order, unknown and repeated attributes", got == OVER, "got %r" % got)
    finally:
        c.close()


def t_many_on_one(res, e, n=1000):
    c = mqtest.PolicyClient(e.addr)
    keys = list(EXPECT)
    bad = []
    t0 = time.monotonic()
    try:
        for i in range(n):
            rcpt = keys[i % len(keys)]
            got = c.ask(recipient=rcpt, size=1000)
            if got != EXPECT[rcpt]:
                bad.append((i, rcpt, got))
    finally:
        c.close()
    took = time.monotonic() - t0
    res.check("%d requests on one connection" % n, not bad,
              "%d wrong, first %r" % (len(bad), bad[:1]) if bad else "%.2fs" % took)


def t_concurrent(res, e, n=200):
    keys = list(EXPECT)
    conns = []
    try:
        for i in range(n):
            conns.append(mqtest.PolicyClient(e.addr, timeout=15))
        bad = []
        for rnd in range(2):
            for i, c in enumerate(conns):
                c.send(mqtest.policy_request(keys[(i + rnd) % len(keys)], 1000))
            for i, c in enumerate(conns):
                rcpt = keys[(i + rnd) % len(keys)]
                try:
                    got = c.read_reply()
                except OSError as ex:
                    got = "error %s" % ex
                if got != EXPECT[rcpt]:
                    bad.append((rnd, i, rcpt, got))
        res.check("%d concurrent connections, two rounds" % n, not bad,
                  "%d wrong, first %r" % (len(bad), bad[:1]) if bad else "")
    finally:
        for c in conns:
            c.close()


MALFORMED = [
    ("line without '='", b"request=smtpd_access_policy\nthis line has no equals sign\n\n"),
    ("NUL byte", b"request=smtpd_access_policy\nrecipient=ov\0er@example.org\n\n"),
    ("line over 8192 bytes", b"request=smtpd_access_policy\nx=" + b"a" * 9000 + b"\n\n"),
    ("too many attributes", b"request=smtpd_access_policy\n" +
     b"".join(b"x%d=1\n" % i for i in range(400)) + b"\n"),
    ("request over max_request_size", b"request=smtpd_access_policy\n" +
     b"".join(b"x%d=%s\n" % (i, b"b" * 4000) for i in range(30)) + b"\n"),
]


def t_malformed(res, e):
    a = mqtest.PolicyClient(e.addr)
    try:
        first = a.ask(recipient="over@example.org")
        for name, payload in MALFORMED:
            mark = e.daemon.mark()
            b = mqtest.PolicyClient(e.addr)
            port = b.sock.getsockname()[1]
            try:
                try:
                    b.sock.sendall(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass        # closed while we were still sending: fine
                closed = b.closed_by_peer(5.0)
            finally:
                b.close()
            still = a.ask(recipient="over@example.org")
            named = e.daemon.wait_log(r"127\.0\.0\.1", mark, 3.0)
            named_ok = named is not None and mqtest.parse_decision(named) is None
            ok = closed and still == first and named_ok
            res.check("malformed: %s" % name, ok,
                      "closed without reply=%s, other connection answered=%s, "
                      "logged with the client=%s (port %d)%s" % (
                          closed, still == first, named_ok, port,
                          ": " + named if named else ""))
    finally:
        a.close()


def t_unix(res, e):
    if not mqtest.wait_until(lambda: os.path.exists(e.sock), 2.0):
        res.fail("unix listener", "%s does not exist" % e.sock)
        return
    mode = stat.S_IMODE(os.stat(e.sock).st_mode)
    st = os.stat(e.sock)
    res.check("unix listener is a socket with mode 0660", stat.S_ISSOCK(st.st_mode) and mode == 0o660,
              "mode %o" % mode)
    c = mqtest.PolicyClient(e.sock)
    try:
        got = [c.ask(recipient="over@example.org"), c.ask(recipient="under@example.org")]
    finally:
        c.close()
    res.check("unix listener answers", got == [OVER, DUNNO], "got %r" % got)


def t_fifo(res, e):
    """A mailbox whose maildirsize blocks must not hold up other connections."""
    slow = mqtest.PolicyClient(e.addr, timeout=30)
    try:
        slow.send(mqtest.policy_request("fifo@example.org", 1000))
        time.sleep(0.2)
        t0 = time.monotonic()
        answered = 0
        wrong = []
        for rcpt in SPARE[:8]:              # uncached: each needs the database and the disk
            try:
                got = ask(e, rcpt)
            except OSError as ex:
                got = "error %s" % ex
            if got == DUNNO:
                answered += 1
            else:
                wrong.append((rcpt, got))
            if time.monotonic() - t0 > 5.0:
                break
        took = time.monotonic() - t0
        res.check("blocking maildirsize (FIFO) does not delay other connections",
                  answered == 8 and took <= 5.0,
                  "%d/8 answered in %.2fs%s" % (answered, took, ", wrong %r" % wrong if wrong else ""))
        # a maildirsize that is not a regular file is unreadable (tempfail)
        # or unusable (recount: the Maildir is empty, so DUNNO)
        name = "FIFO maildirsize itself answered"
        try:
            got = slow.read_reply(10.0)
            res.check(name, got in (REPLIES["reply_tempfail"], DUNNO), "got %r" % got)
        except socket.timeout:
            release_fifo(e.fifo)
            res.fail(name, "no answer within 10s (a worker blocked in the FIFO?)")
    finally:
        release_fifo(e.fifo)
        slow.close()


def t_locked_db(res, e):
    """A database lookup that waits must not hold up answers that need no database.

    A writer holding SQLite's exclusive lock makes a worker's query wait (up
    to query_timeout); recipients whose facts are cached must still be
    answered at once on other connections.
    """
    if ask(e, "under@example.org") != DUNNO:       # now cached
        res.fail("locked database", "under@example.org not answered DUNNO")
        return
    lock = sqlite3.connect(e.fx.db, timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    slow = mqtest.PolicyClient(e.addr, timeout=30)
    released = False
    try:
        slow.send(mqtest.policy_request(SPARE[8], 1000))   # uncached: needs the database
        time.sleep(0.3)
        t0 = time.monotonic()
        answers = [ask(e, "under@example.org") for _ in range(20)]
        took = time.monotonic() - t0
        res.check("a waiting database lookup does not delay cached answers",
                  answers.count(DUNNO) == 20 and took <= 5.0,
                  "%d/20 answered DUNNO in %.2fs" % (answers.count(DUNNO), took))
        try:
            early = slow.read_reply(0.2)
        except socket.timeout:
            early = None
        res.check("the lookup behind the lock is really waiting", early is None,
                  "answered %r while the database was locked" % early)
        lock.execute("ROLLBACK")
        released = True
        name = "the waiting lookup is answered once the lock is gone"
        try:
            got = slow.read_reply(10.0)
            res.check(name, got in (DUNNO, REPLIES["reply_tempfail"]), "got %r" % got)
        except socket.timeout:
            res.fail(name, "no answer within 10s")
    finally:
        if not released:
            lock.execute("ROLLBACK")
        lock.close()
        slow.close()


def t_sighup(res, e):
    c = mqtest.PolicyClient(e.addr)
    try:
        before = c.ask(recipient="over@example.org")
        write_conf(e, reply_overquota=RELOADED)
        mark = e.daemon.mark()
        e.daemon.send_signal(signal.SIGHUP)
        after = mqtest.wait_until(
            lambda: c.ask(recipient="over@example.org") == RELOADED, 5.0, 0.2)
        res.check("SIGHUP: the same open connection gets the new reply_overquota",
                  before == OVER and after,
                  "before %r, after reload %r" % (before, c.ask(recipient="over@example.org")))
        res.check("SIGHUP: still answers other recipients",
                  c.ask(recipient="under@example.org") == DUNNO)
        if e.daemon.wait_log(r"(?i)reload", mark, 1.0) is None:
            mqtest.log("note: no log line mentioning the reload")
    finally:
        write_conf(e)
        e.daemon.send_signal(signal.SIGHUP)
        c.close()
    # back to the first text before the next cases
    mqtest.wait_until(lambda: ask(e, "over@example.org") == OVER, 5.0, 0.2)


def t_usage_ttl_cache_off(res, e):
    """With the row cache off, rows come from the database on every request,
    while a usage figure younger than quota.usage_ttl is reused without
    looking at the disk (the worker honours it as the event loop does).
    """
    ttl = 3
    rcpt = SPARE[10]
    md = e.fx.maildir_path(rcpt)
    mds = os.path.join(md, "maildirsize")
    db = sqlite3.connect(e.fx.db, isolation_level=None)
    try:
        if not reload_conf(e, quota={"usage_ttl": ttl}, cache_ttl=0, negative_cache_ttl=0):
            res.fail("usage_ttl, cache off: reload", "no reload logged")
            return
        t0 = time.monotonic()
        first = ask(e, rcpt)
        # deliveries the daemon has not seen yet: one summary line, over quota
        with open(mds + ".new", "w") as f:
            f.write("%dS\n%d 2\n" % (QUOTA, QUOTA + 1000))
        os.rename(mds + ".new", mds)
        second = ask(e, rcpt)
        elapsed = time.monotonic() - t0
        if elapsed < ttl:
            res.check("usage_ttl, cache off: the figure is reused within usage_ttl",
                      first == DUNNO and second == DUNNO,
                      "got %r then %r" % (first, second))
        else:
            mqtest.log("note: %.1fs between the two requests, over usage_ttl: "
                       "not judged" % elapsed)
        db.execute("UPDATE virtual_users SET quota = 500 WHERE email = ?", (rcpt,))
        got = ask(e, rcpt)
        res.check("usage_ttl, cache off: a changed row counts at once",
                  got == REPLIES["reply_toolarge"], "got %r" % got)
        db.execute("UPDATE virtual_users SET quota = ? WHERE email = ?", (QUOTA, rcpt))
        got = mqtest.wait_until(lambda: ask(e, rcpt) == OVER, 2 * ttl + 5, 0.25)
        res.check("usage_ttl, cache off: the delivery counts once usage_ttl has passed",
                  got and time.monotonic() - t0 >= ttl,
                  "last answer %r after %.1fs" % (ask(e, rcpt), time.monotonic() - t0))
    finally:
        db.close()
        reload_conf(e)


def t_stderr_stalled(res, e, n=4000):
    """A log nobody reads must not hold up answers: with stderr a full pipe,
    the decision lines are dropped and counted, and every request is still
    answered at once."""
    if ask(e, "under@example.org") != DUNNO:       # cached: answered on the loop
        res.fail("stalled stderr", "under@example.org not answered DUNNO")
        return
    mark = e.daemon.mark()
    e.daemon.reading.clear()
    c = mqtest.PolicyClient(e.addr, timeout=10)
    answered = 0
    try:
        t0 = time.monotonic()
        for _ in range(n):
            if c.ask(recipient="under@example.org") != DUNNO:
                break
            answered += 1
        took = time.monotonic() - t0
        # a reload sets up logging again: it must not wait for the stuck log either
        e.daemon.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        try:
            after_hup = c.ask(recipient="under@example.org", timeout=5)
        except socket.timeout:
            after_hup = None
    except socket.timeout:
        took = time.monotonic() - t0
        after_hup = None
    finally:
        e.daemon.reading.set()
        c.close()
    res.check("stalled stderr: every request answered while the log is not read",
              answered == n, "%d of %d answered in %.1fs" % (answered, n, took))
    res.check("stalled stderr: answers go on after a SIGHUP", after_hup == DUNNO,
              "got %r" % after_hup)
    line = e.daemon.wait_log(r"warning: \d+ log line\(s\) dropped", mark, 10.0)
    res.check("stalled stderr: the dropped lines are counted in the log", line is not None,
              line or "no 'dropped' warning")
    res.check("stalled stderr: logging goes on afterwards",
              ask(e, "over@example.org") == OVER and
              e.daemon.wait_log(r"recipient=over@example\.org", mark, 5.0) is not None)


def t_decision_log(res, e):
    mark = e.daemon.mark()
    reqs = [
        ("under@example.org", "AAA111", "success", "mailbox", "500000", str(QUOTA), DUNNO),
        ("over@example.org", "AAA112", "overquota", "mailbox", "1100000", str(QUOTA), OVER),
        ("nosuch@example.org", "AAA113", "nouser", "nouser", None, None, REPLIES["reply_nouser"]),
        ("alias@example.org", "AAA114", "overquota", "alias", "1100000", str(QUOTA), OVER),
        ("someone@remote.test", "AAA115", "success", "notlocal", None, None, DUNNO),
        ("disabled@example.org", "AAA116", "disabled", None, None, None, REPLIES["reply_disabled"]),
    ]
    c = mqtest.PolicyClient(e.addr)
    try:
        for rcpt, qid, *_ in reqs:
            c.ask(recipient=rcpt, size=1000, queue_id=qid)
    finally:
        c.close()
    # Only this case's lines: a line of the previous case may still be on
    # its way from the daemon's stderr when the mark is taken.
    qids = {r[1] for r in reqs}

    def mine():
        return [d for d in e.daemon.decisions(mark) if dict(d).get("queue_id") in qids]

    mqtest.wait_until(lambda: len(mine()) >= len(reqs), 3.0)
    lines = mine()
    res.check("decision log: one line per request", len(lines) == len(reqs),
              "%d lines for %d requests" % (len(lines), len(reqs)))
    by_qid = {dict(d).get("queue_id"): d for d in lines}
    for rcpt, qid, outcome, via, used, limit, action in reqs:
        d = by_qid.get(qid)
        name = "decision log for %s" % rcpt
        if d is None:
            res.fail(name, "no line with queue_id=%s" % qid)
            continue
        keys = [k for k, _ in d]
        v = dict(d)
        errs = []
        want_keys = mqtest.DECISION_KEYS
        if keys[:len(want_keys)] != want_keys or keys[len(want_keys):] not in ([], ["dry_run"]):
            errs.append("keys %s" % " ".join(keys))
        if v.get("client") != "192.0.2.10":
            errs.append("client=%s" % v.get("client"))
        if v.get("recipient") != rcpt:
            errs.append("recipient=%s" % v.get("recipient"))
        if v.get("outcome") != outcome:
            errs.append("outcome=%s want %s" % (v.get("outcome"), outcome))
        if via is not None and v.get("via") != via:
            errs.append("via=%s want %s" % (v.get("via"), via))
        if v.get("via") not in ("mailbox", "alias", "catchall", "notlocal", "nouser",
                                "notours", "none"):
            errs.append("via=%s not a known value" % v.get("via"))
        if used is not None and v.get("used") != used:
            errs.append("used=%s want %s" % (v.get("used"), used))
        if limit is not None and v.get("limit") != limit:
            errs.append("limit=%s want %s" % (v.get("limit"), limit))
        want_mb = {"mailbox": rcpt, "alias": "over@example.org"}.get(via)
        if want_mb is not None and v.get("mailboxes") != want_mb:
            errs.append("mailboxes=%s want %s" % (v.get("mailboxes"), want_mb))
        if v.get("cache") not in ("hit", "miss", "-"):
            errs.append("cache=%s" % v.get("cache"))
        if not re.fullmatch(r"\d+(\.\d+)?", v.get("latency_ms") or ""):
            errs.append("latency_ms=%s" % v.get("latency_ms"))
        if v.get("action") != action:
            errs.append("action=%s want %s" % (v.get("action"), action))
        raw = [ln for ln in e.daemon.lines_since(mark) if "queue_id=%s" % qid in ln]
        if raw and " " in action and ('action="%s"' % action) not in raw[0]:
            errs.append("action with spaces not in double quotes")
        res.check(name, not errs, "; ".join(errs) if errs else " ".join(
            "%s=%s" % kv for kv in d[2:6]))


def t_ipv6(res, e):
    if not mqtest.have_ipv6_loopback():
        res.skip("IPv6 ::1 listener", "no ::1 on this machine", required=False)
        return
    root = mqtest.tempdir("mq-daemon6-")
    port = mqtest.free_port("::1")
    conf = os.path.join(root, "v6.conf")
    mqtest.write_config(conf, e.fx, listen=["inet:[::1]:%d" % port], policy=REPLIES)
    d = mqtest.Daemon(conf, ("::1", port)).start()
    try:
        c = mqtest.PolicyClient(("::1", port))
        try:
            got = [c.ask(recipient="over@example.org"), c.ask(recipient="under@example.org")]
        finally:
            c.close()
        res.check("IPv6 ::1 listener answers", got == [OVER, DUNNO], "got %r" % got)
    finally:
        d.stop()


def t_idle(res, e):
    root = mqtest.tempdir("mq-daemon-idle-")
    port = mqtest.free_port()
    conf = os.path.join(root, "idle.conf")
    p = dict(REPLIES)
    p["idle_timeout"] = 2
    mqtest.write_config(conf, e.fx, listen=["inet:127.0.0.1:%d" % port], policy=p)
    d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
    try:
        silent = mqtest.PolicyClient(("127.0.0.1", port))
        used = mqtest.PolicyClient(("127.0.0.1", port))
        t0 = time.monotonic()
        first = used.ask(recipient="over@example.org")
        c1 = silent.closed_by_peer(8.0)
        t1 = time.monotonic() - t0
        c2 = used.closed_by_peer(8.0)
        silent.close()
        used.close()
        res.check("idle_timeout closes a silent client", c1 and 1.0 <= t1 <= 8.0,
                  "closed=%s after %.1fs" % (c1, t1))
        res.check("idle_timeout closes an idle client after a request",
                  first == OVER and c2, "answer %r, closed=%s" % (first, c2))
        fresh = mqtest.PolicyClient(("127.0.0.1", port))
        try:
            res.check("new connections still served after idle cuts",
                      fresh.ask(recipient="under@example.org") == DUNNO)
        finally:
            fresh.close()
    finally:
        d.stop()


def t_stdio(res, e):
    """-s: one connection on stdin/stdout (a spawn(8) service)."""
    a, b = socket.socketpair()
    proc = mqtest.spawn([mqtest.POLICYD, "-s", "-c", e.conf], stdin=b, stdout=b,
                        stderr=subprocess.PIPE)
    b.close()
    c = mqtest.PolicyClient(None, sock=a)
    try:
        got = [c.ask(recipient="over@example.org"), c.ask(recipient="under@example.org"),
               c.ask(recipient="nosuch@example.org")]
        res.check("-s answers several requests on stdin/stdout",
                  got == [OVER, DUNNO, REPLIES["reply_nouser"]], "got %r" % got)
        a.shutdown(socket.SHUT_WR)
        try:
            rc = proc.wait(5.0)
        except subprocess.TimeoutExpired:
            rc = None
        res.check("-s exits 0 at end of input", rc == 0, "exit %r" % rc)
    finally:
        c.close()
        mqtest.stop_pid(proc)
        if proc.stderr:
            err = proc.stderr.read().decode("utf-8", "replace")
            if err:
                mqtest.log("-s stderr:\n" + err)


def t_check_config(res, e):
    r = subprocess.run([mqtest.POLICYD, "-t", "-c", e.conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    res.check("-t with a good configuration exits 0", r.returncode == 0,
              "exit %d: %s" % (r.returncode, r.stdout.decode(errors="replace").strip()))
    root = mqtest.tempdir("mq-daemon-conf-")
    bad = [
        ("reply class mismatch", {"reply_overquota": "552 4.2.2 Mailbox is full"},
         "reply_overquota"),
        ("OK as a reply", {"reply_success": "OK"}, "reply_success"),
        ("unknown key", {"no_such_key": 1}, "no_such_key"),
        ("permanent reply_tempfail", {"reply_tempfail": "550 5.3.0 Lookup failure"},
         "reply_tempfail"),
        ("DEFER_IF_REJECT as reply_tempfail", {"reply_tempfail": "DEFER_IF_REJECT later"},
         "reply_tempfail"),
    ]
    for name, policy, key in bad:
        conf = os.path.join(root, "bad-%s.conf" % key)
        mqtest.write_config(conf, e.fx, listen=["inet:127.0.0.1:%d" % e.port], policy=policy)
        r = subprocess.run([mqtest.POLICYD, "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        out = r.stdout.decode(errors="replace").strip()
        line_no = 0
        with open(conf) as f:
            for i, ln in enumerate(f, 1):
                if ln.strip().startswith(key):
                    line_no = i
        ok = r.returncode in (1, 78) and conf in out and key in out
        res.check("-t with a bad configuration (%s) fails naming file and key" % name, ok,
                  "exit %d: %s" % (r.returncode, out))
        if ok and ("%s:%d" % (conf, line_no)) not in out:
            mqtest.log("note: message does not say %s:%d: %s" % (conf, line_no, out))


def t_success_expanded(res, e):
    """dry_run and on_error = pass answer reply_success with its variables expanded."""
    root = mqtest.tempdir("mq-daemon-dry-")
    success = "PREPEND X-Quota: %{user} %{used} of %{limit}"
    for name, policy, database, rcpt in (
            ("dry_run", {"dry_run": True}, None, "over@example.org"),
            ("on_error = pass", {"on_error": "pass"},
             {"path": os.path.join(root, "missing.db")}, "under@example.org")):
        port = mqtest.free_port()
        conf = os.path.join(root, "%s.conf" % port)
        p = dict(REPLIES)
        p.update(policy)
        p["reply_success"] = success
        mqtest.write_config(conf, e.fx, listen=["inet:127.0.0.1:%d" % port], policy=p,
                            database=database)
        d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
        try:
            c = mqtest.PolicyClient(("127.0.0.1", port))
            try:
                got = c.ask(recipient=rcpt)
            finally:
                c.close()
            ok = (got.startswith("PREPEND X-Quota: %s " % rcpt) and "%{" not in got
                  and re.search(r" of \S", got) is not None)
            res.check("%s: reply_success sent with its variables expanded" % name, ok,
                      "got %r" % got)
        finally:
            d.stop()


def _pids_with(conf):
    """Processes whose command line names conf (a daemon that went to the background)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if conf.encode() in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def _kill_all(conf):
    for pid in _pids_with(conf):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    mqtest.wait_until(lambda: not _pids_with(conf), 5.0)


def _open_fixture(prefix):
    """A fixture any user can read (a daemon that dropped to nobody):
    mailboxes a, b, c, d @example.org, each with 10 bytes of 1 MiB."""
    root = mqtest.tempdir(prefix)
    os.chmod(root, 0o755)
    fx = mqtest.Fixture(os.path.join(root, "fixture"))
    os.chmod(fx.root, 0o755)
    fx.domain("example.org")
    for u in ("a", "b", "c", "d"):
        fx.user(u + "@example.org", quota=QUOTA)
        fx.maildir(u + "@example.org", limit_bytes=QUOTA, usage=[(10, 1)])
    fx.commit()
    return root, fx


def t_socket(res, e):
    """The unix socket: born with its mode (no chmod), a symlink or a live
    listener at the path refused, one daemon per path (the .lock), and the
    restart path of a socket left behind by a daemon that ran as nobody."""
    root, fx = _open_fixture("mq-daemon-sock-")
    sdir = os.path.join(root, "sock")
    os.mkdir(sdir, 0o755)
    path = os.path.join(sdir, "policy")

    def conf_for(name, mode="0604", **policy):
        c = os.path.join(root, name + ".conf")
        p = dict(REPLIES)
        p.update(policy)
        mqtest.write_config(c, fx, listen=["unix:%s:%s" % (path, mode)], policy=p)
        return c

    def start_fails(c):
        r = subprocess.run([mqtest.POLICYD, "-f", "-c", c], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return r.returncode, r.stdout.decode(errors="replace").strip()

    old = os.umask(0o077)
    try:
        d = mqtest.Daemon(conf_for("mode"), path).start()
    finally:
        os.umask(old)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        res.check("unix socket born with the configured mode 0604 under umask 077",
                  mode == 0o604, "mode %o" % mode)
        rc, out = start_fails(conf_for("second"))
        res.check("a second daemon on the same socket is refused, the first keeps serving",
                  rc != 0 and "another" in out and _ask_quiet(_at_unix(path), "a@example.org") == DUNNO,
                  "exit %d: %s" % (rc, out))
    finally:
        d.stop()
    res.check("the socket is removed at stop (no privileges dropped)",
              not os.path.lexists(path), "still there" if os.path.lexists(path) else "")

    target = os.path.join(root, "target")
    with open(target, "w") as f:
        f.write("x")
    os.chmod(target, 0o600)
    os.symlink(target, path)
    rc, out = start_fails(conf_for("symlink", mode="0666"))
    res.check("a symlink at the socket path is refused, its target untouched",
              rc != 0 and "not a socket" in out and
              stat.S_IMODE(os.stat(target).st_mode) == 0o600, "exit %d: %s" % (rc, out))
    os.unlink(path)

    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(path)
    other.listen(1)
    try:
        rc, out = start_fails(conf_for("live"))
        res.check("a socket another process listens on is left alone",
                  rc != 0 and "listening" in out and os.path.exists(path),
                  "exit %d: %s" % (rc, out))
    finally:
        other.close()
        os.unlink(path)

    if os.geteuid() != 0:
        res.skip("socket left by a daemon running as nobody", "not running as root",
                 required=False)
        return
    c = conf_for("nobody", mode="0666", user="nobody")
    d = mqtest.Daemon(c, path).start()
    first = _ask_quiet(_at_unix(path), "a@example.org")
    d.stop()
    left = os.path.exists(path)
    d = mqtest.Daemon(c, path).start()
    try:
        again = _ask_quiet(_at_unix(path), "b@example.org")
        res.check("policy.user = nobody, root's socket directory: the socket stays at stop, "
                  "the next start removes it and serves",
                  first == DUNNO and left and again == DUNNO and
                  d.wait_log(r"removed a stale socket", 0, 2.0) is not None,
                  "first %r, left %s, again %r" % (first, left, again))
    finally:
        d.stop()


def t_root(res, e):
    """As root: no background start without policy.user; "root" written out
    is taken; -f only warns; -t names the Maildirs policy.user cannot read."""
    if os.geteuid() != 0:
        res.skip("root: background start without policy.user", "not running as root",
                 required=False)
        return
    root, fx = _open_fixture("mq-daemon-root-")
    closed = fx.maildir_path("c@example.org")
    os.chmod(closed, 0o700)
    port = mqtest.free_port()
    listen = ["inet:127.0.0.1:%d" % port]

    conf = os.path.join(root, "nouser.conf")
    mqtest.write_config(conf, fx, listen=listen, policy=REPLIES)
    mqtest.at_cleanup(lambda: _kill_all(conf))
    r = subprocess.run([mqtest.POLICYD, "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace").strip()
    time.sleep(0.3)
    left = _pids_with(conf)
    res.check("as root without policy.user: no background start, the message says what to set",
              r.returncode == 78 and "policy.user" in out and "root" in out and not left,
              "exit %d, still running %r: %s" % (r.returncode, left, out))
    _kill_all(conf)

    # The shipped unit runs the daemon with -f, its stderr the journal:
    # systemd names that stream in JOURNAL_STREAM=DEV:INODE. There, -f does
    # not excuse a missing policy.user.
    journal = os.path.join(root, "journal-stream")
    with open(journal, "w+b") as jf:
        st = os.fstat(jf.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        r = subprocess.run([mqtest.POLICYD, "-f", "-c", conf], stdout=subprocess.DEVNULL,
                           stderr=jf, timeout=30, env=env)
        jf.seek(0)
        out = jf.read().decode(errors="replace").strip()
    left = _pids_with(conf)
    # (its message goes to syslog only, which is the journal there)
    res.check("-f as root with stderr the journal, no policy.user: refused as in "
              "the background", r.returncode == 78 and not left, "exit %d, still running %r: %s" % (r.returncode, left, out))
    _kill_all(conf)

    d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
    try:
        got = d.wait_log(r"running as root: set policy\.user", 0, 5.0)
        res.check("-f as root without policy.user: starts, with the warning",
                  d.running() and got is not None, d.stderr()[-400:])
    finally:
        d.stop()

    conf_root = os.path.join(root, "root.conf")
    p = dict(REPLIES)
    p["user"] = "root"
    mqtest.write_config(conf_root, fx, listen=listen, policy=p)
    mqtest.at_cleanup(lambda: _kill_all(conf_root))
    r = subprocess.run([mqtest.POLICYD, "-c", conf_root], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    up = r.returncode == 0 and mqtest.wait_until(
        lambda: _ask_quiet(_at(port), "a@example.org") == DUNNO, 10.0)
    res.check("policy.user = \"root\" written out: starts in the background and answers",
              up, "exit %d: %s" % (r.returncode, r.stdout.decode(errors="replace")))
    _kill_all(conf_root)

    conf_nobody = os.path.join(root, "nobody.conf")
    p = dict(REPLIES)
    p["user"] = "nobody"
    mqtest.write_config(conf_nobody, fx, listen=listen, policy=p)
    r = subprocess.run([mqtest.POLICYD, "-t", "-c", conf_nobody], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    others = [fx.maildir_path(u + "@example.org") for u in ("a", "b", "d")]
    res.check("-t as policy.user: names the Maildir it cannot read, and only that one",
              r.returncode == 1 and closed in out and '"nobody"' in out and
              not any(("%s:" % o) in out for o in others), "exit %d: %s" % (r.returncode, out))
    os.chmod(closed, 0o755)
    r = subprocess.run([mqtest.POLICYD, "-t", "-c", conf_nobody], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    res.check("-t as policy.user: every Maildir readable, configuration OK",
              r.returncode == 0 and "configuration OK" in out, "exit %d: %s" % (r.returncode, out))


def _ask_quiet(e, recipient):
    try:
        return ask(e, recipient)
    except OSError:
        return None


def _at_unix(path):
    e = Env()
    e.addr = path
    return e


def _at(port):
    e = Env()
    e.addr = ("127.0.0.1", port)
    return e


def t_per_client(res, e):
    """policy.max_connections_per_client: the next connection from an
    address at its cap is closed at once; other addresses are served; a
    closed connection frees its place."""
    root = mqtest.tempdir("mq-daemon-percl-")
    port = mqtest.free_port("0.0.0.0")
    conf = os.path.join(root, "percl.conf")
    p = dict(REPLIES)
    p["max_connections_per_client"] = 3
    mqtest.write_config(conf, e.fx, listen=["inet:0.0.0.0:%d" % port], policy=p)
    d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()

    def client_from(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5.0)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        return mqtest.PolicyClient(None, sock=s)

    # 127.0.0.3: not the address of the start-up probe (127.0.0.1), whose
    # close the daemon may not have seen yet
    held = []
    try:
        held = [client_from("127.0.0.3") for _ in range(3)]
        got = [c.ask(recipient="under@example.org") for c in held]
        res.check("max_connections_per_client = 3: three connections from one address served",
                  got == [DUNNO] * 3, "got %r" % got)
        fourth = client_from("127.0.0.3")
        closed = fourth.closed_by_peer(5.0)
        fourth.close()
        res.check("the fourth from that address is closed without a reply", closed)
        other = client_from("127.0.0.2")
        try:
            res.check("another client address is still served",
                      other.ask(recipient="under@example.org") == DUNNO)
        finally:
            other.close()
        held.pop().close()
        again = None
        for _ in range(50):           # the daemon sees the close first
            c = client_from("127.0.0.3")
            try:
                again = c.ask(recipient="under@example.org", timeout=2.0)
                break
            except (OSError, AssertionError):
                time.sleep(0.05)
            finally:
                c.close()
        res.check("a closed connection frees its place", again == DUNNO, "got %r" % again)
        res.check("the refusal is logged",
                  d.wait_log(r"max_connections_per_client \(3\) reached", 0, 2.0) is not None)
    finally:
        for c in held:
            c.close()
        d.stop()


def t_sigterm(res, e):
    idle = mqtest.PolicyClient(e.addr)
    try:
        idle.ask(recipient="under@example.org")
        rc, took = e.daemon.stop(signal.SIGTERM, timeout=10.0)
        res.check("SIGTERM with an open connection: exit 0 within 5 s",
                  rc == 0 and took <= 5.0, "exit %s after %.2fs" % (rc, took))
    finally:
        idle.close()


def main():
    e = setup()
    res = mqtest.Results()
    for name, fn in [
            ("answers", t_answers),
            ("decision log", t_decision_log),
            ("many requests on one connection", t_many_on_one),
            ("concurrent connections", t_concurrent),
            ("malformed input", t_malformed),
            ("unix listener", t_unix),
            ("blocking maildirsize", t_fifo),
            ("locked database", t_locked_db),
            ("SIGHUP", t_sighup),
            ("usage_ttl with the row cache off", t_usage_ttl_cache_off),
            ("stalled stderr", t_stderr_stalled),
            ("IPv6", t_ipv6),
            ("idle timeout", t_idle),
            ("-s", t_stdio),
            ("-t", t_check_config),
            ("reply_success expanded", t_success_expanded),
            ("root and policy.user", t_root),
            ("unix socket life cycle", t_socket),
            ("connections per client", t_per_client),
            ("SIGTERM", t_sigterm)]:
        if not e.daemon.running() and fn is not t_sigterm:
            res.fail(name, "the daemon is not running (exit %s)" % e.daemon.proc.returncode)
            continue
        res.run(name, fn, res, e)
    if res.failed:
        mqtest.log("--- daemon log (tail) ---\n" + "\n".join(e.daemon.lines_since(0)[-80:]))
    res.finish()


if __name__ == "__main__":
    main()
