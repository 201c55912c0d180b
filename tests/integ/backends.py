#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The MariaDB and PostgreSQL backends, end to end through `mailquota check`.

For each server (a private one from dbservers.py) and each preset (the
tutorial schema and PostfixAdmin's), with the preset's own queries: found,
not found, disabled, too large, aliases, catch-all, alias domains,
backup-MX domains, usage from SQL, and addresses that try SQL injection.
Then the failure cases: failover from dead hosts, a wrong password, a broken
query, a query cut at query_timeout, the server stopped and killed and
started again; each must be a tempfail (exit 2) with the server's reason,
quickly, and right answers must come back once the server does.

Exit codes of `mailquota check`: 0 accept, 1 reject, 2 tempfail.
Exit 77 (skip) when mailquota or both servers are missing, unless
MQ_REQUIRE_ALL=1; a single missing server is skipped the same way.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbservers  # noqa: E402

SKIP = 77
REQUIRE_ALL = os.environ.get("MQ_REQUIRE_ALL") == "1"
BUILDDIR = os.environ.get("MQ_BUILDDIR") or dbservers.srcdir()
MAILQUOTA = os.path.join(BUILDDIR, "cli", "mailquota")

ACCEPT, REJECT, TEMPFAIL = 0, 1, 2

# (recipient, size, exit code, outcome) for both presets: see
# tests/integ/fixture-*.sql.
COMMON = [
    ("alice@example.org", 100, ACCEPT, "success"),
    ("ALICE@Example.ORG", 100, ACCEPT, "success"),
    ("alice+tag@example.org", 100, ACCEPT, "success"),
    ("o'brien@example.org", 100, ACCEPT, "success"),
    ("bob@example.org", 10 ** 9, ACCEPT, "success"),     # unlimited
    ("team@example.org", 100, ACCEPT, "success"),
    ("list@example.org", 100, ACCEPT, "success"),        # a long destination
    ("postmaster@example.org", 100, ACCEPT, "success"),
    ("carol@example.org", 100, REJECT, "disabled"),
    ("dave@disabled.example", 100, REJECT, "disabled"),
    ("nobody@example.org", 100, REJECT, "nouser"),
    ("old@example.org", 100, REJECT, "nouser"),          # disabled alias
    ("full@example.org", 100, REJECT, "toolarge"),
    ("full@example.org", 10, ACCEPT, "success"),         # exactly fills it
    ("someone@nowhere.example", 100, ACCEPT, "success"),  # not local
]

PRESET_CASES = {
    "default": [
        ("anyone@other.example", 100, ACCEPT, "success"),  # catch-all
    ],
    "postfixadmin": [
        ("alice@alias.example", 100, ACCEPT, "success"),   # alias domain
        ("nobody@alias.example", 100, REJECT, "nouser"),
        ("anyone@backup.example", 100, ACCEPT, "success"),  # backup MX: not local
    ],
}

# Each is a recipient that does not exist in example.org, nothing more.
INJECTION = [
    "x'@example.org",
    "x' OR '1'='1@example.org",
    "x' OR 1=1 -- @example.org",
    "x\\' OR 1=1 #@example.org",
    "a\\\\@example.org",
    "%@example.org",
    "_lice@example.org",
    "alic_@example.org",
    "a%e@example.org",
    "alice;DROP TABLE mailbox@example.org",
    "x';DELETE FROM alias;--@example.org",
    "--alice@example.org",
    "alice--@example.org",
    "/*x*/alice@example.org",
    "alice/*@example.org",
    "alice\"@example.org",
    "x" * 300 + "@example.org",
    "\u00fc@example.org",
    "\U0001F600@example.org",
]

failures = []
passes = 0


def ok(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL: " + what, flush=True)
    return cond


def run_check(conf, rcpt, size=0):
    """mailquota check: (exit code, outcome, full output, seconds)."""
    t0 = time.monotonic()
    # "--": a recipient may start with a dash.
    r = subprocess.run([MAILQUOTA, "-c", conf, "check", "--size", str(size),
                        "--", rcpt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    took = time.monotonic() - t0
    out = r.stdout.decode("utf-8", "replace")
    outcome = ""
    for line in out.splitlines():
        if line.startswith("outcome:"):
            outcome = line.split(":", 1)[1].split()[0] if \
                line.split(":", 1)[1].split() else ""
    return r.returncode, outcome, out, took


def write_conf(path, srv, preset, via="tcp", database=None, queries=None,
               extra="", **dbkeys):
    """A configuration for srv with the preset's queries (or some replaced)."""
    text = srv.conf_database(via, database=database, **dbkeys)
    text += 'schema = "%s"\n' % preset
    if queries:
        text += "queries {\n%s}\n" % "".join(
            '    %s = "%s"\n' % (k, v.replace("\\", "\\\\").replace('"', '\\"'))
            for k, v in queries.items())
    text += 'maildir {\n    base = "%s"\n}\n' % os.path.join(
        os.path.dirname(path), "mail")
    text += 'policy {\n    reply_nouser = "550 5.1.1 User unknown"\n}\n'
    text += extra
    with open(path, "w") as f:
        f.write(text)
    return path


def expect(conf, label, rcpt, size, code, outcome=None):
    rc, got, out, _ = run_check(conf, rcpt, size)
    good = rc == code and (outcome is None or got == outcome)
    ok(good, "%s: check %r --size %d: exit %d outcome %s, expected %d %s\n%s"
       % (label, rcpt, size, rc, got or "-", code, outcome or "", out))


def decisions(srv, tmp, preset, via):
    """The preset's cases, through TCP or the unix socket."""
    label = "%s/%s/%s" % (srv.driver, preset, via)
    conf = write_conf(os.path.join(tmp, "%s-%s-%s.conf" % (
        srv.driver, preset, via)), srv, preset, via, database="mq_" + preset)
    for rcpt, size, code, outcome in COMMON + PRESET_CASES[preset]:
        expect(conf, label, rcpt, size, code, outcome)
    for rcpt in INJECTION:
        expect(conf, label + " injection", rcpt, 100, REJECT, "nouser")
    # The data is still all there: nothing above wrote anything.
    table = "virtual_users" if preset == "default" else "mailbox"
    count = srv.sql("SELECT count(*) FROM %s" % table,
                    database="mq_" + preset).strip()
    want = {"default": "7", "postfixadmin": "6"}[preset]
    ok(count == want, "%s: %s has %s rows, want %s" % (label, table, count,
                                                     want))


def usage_from_sql(srv, tmp):
    """PostfixAdmin's quota2 as the usage source (quota.usage = sql)."""
    label = "%s/postfixadmin/usage=sql" % srv.driver
    conf = write_conf(os.path.join(tmp, "%s-usage.conf" % srv.driver), srv,
                      "postfixadmin", database="mq_postfixadmin",
                      extra='quota {\n    usage = "sql"\n}\n')
    # alice: 524288 of 1048576 bytes used.
    expect(conf, label, "alice@example.org", 524288, ACCEPT, "success")
    expect(conf, label, "alice@example.org", 524289, REJECT, "overquota")
    # full: 10 of 10 bytes used.
    expect(conf, label, "full@example.org", 1, REJECT, "overquota")


def faults(srv, tmp):
    """Failover, refused logins, broken and slow queries, outages."""
    d = srv.driver
    db = "mq_default"
    conf = os.path.join(tmp, "%s-fault.conf" % d)

    # Dead hosts first: a socket that is not there, a refused address.
    write_conf(conf, srv, "default", database=db,
               hosts='{"unix:%s", "127.0.0.2", "%s"}' % (
                   os.path.join(tmp, "no-such.sock"), srv.host),
               port=srv.port)
    expect(conf, d + " failover", "alice@example.org", 100, ACCEPT, "success")

    write_conf(conf, srv, "default", database=db, password="wrong")
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    words = "Access denied" if d == "mysql" else "password authentication failed"
    ok(rc == TEMPFAIL and words in out,
       "%s wrong password: exit %d, want 2 with %r\n%s" % (d, rc, words, out))

    write_conf(conf, srv, "default", database=db, queries={
        "user": "SELECT quota, enabled FROM no_such_table WHERE email = '%s'"})
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    ok(rc == TEMPFAIL and "no_such_table" in out,
       "%s broken query: exit %d, want 2 naming the table\n%s" % (d, rc, out))

    if d == "mysql":
        slow = "SELECT 0 AS quota, SLEEP(10) = 0 AS enabled FROM DUAL " \
               "WHERE '%s' <> ''"
    else:
        slow = "SELECT 0 AS quota, true AS enabled FROM pg_sleep(10) " \
               "WHERE '%s' <> ''"
    write_conf(conf, srv, "default", database=db, query_timeout=2,
               queries={"user": slow})
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    ok(rc == TEMPFAIL and took < 5 and "timed out" in out,
       "%s slow query: exit %d after %.1f s, want 2 at query_timeout (2 s)\n%s"
       % (d, rc, took, out))

    # The server goes away, comes back, crashes, comes back.
    write_conf(conf, srv, "default", database=db)
    for how in ("stop", "kill"):
        getattr(srv, how)()
        rc, got, out, took = run_check(conf, "alice@example.org", 100)
        ok(rc == TEMPFAIL and took < 3,
           "%s server %sped: exit %d after %.1f s, want 2 at once\n%s"
           % (d, how, rc, took, out))
        srv.start()
        expect(conf, "%s after %s and start" % (d, how), "alice@example.org",
               100, ACCEPT, "success")


def one_server(name, start, tmp):
    try:
        srv = start(tmp)
    except dbservers.Unavailable as e:
        if REQUIRE_ALL:
            ok(False, "%s: %s (MQ_REQUIRE_ALL=1)" % (name, e))
        else:
            print("SKIP %s: %s" % (name, e), flush=True)
        return False
    try:
        for preset in ("default", "postfixadmin"):
            srv.create_database("mq_" + preset)
            srv.load_preset(preset, database="mq_" + preset)
        probe = write_conf(os.path.join(tmp, "probe.conf"), srv, "default",
                           database="mq_default")
        rc, _, out, _ = run_check(probe, "alice@example.org")
        if "not compiled in" in out:
            if REQUIRE_ALL:
                ok(False, "%s: mailquota has no %s driver" % (name, srv.driver))
            else:
                print("SKIP %s: mailquota built without the %s driver"
                      % (name, srv.driver), flush=True)
            return False
        decisions(srv, tmp, "default", "tcp")
        decisions(srv, tmp, "postfixadmin", "unix")
        usage_from_sql(srv, tmp)
        faults(srv, tmp)
    finally:
        srv.close()
    return True


def main():
    if not os.access(MAILQUOTA, os.X_OK):
        print("SKIP: %s not built" % MAILQUOTA)
        return 1 if REQUIRE_ALL else SKIP
    tmp = tempfile.mkdtemp(prefix="mq-backends-")
    os.makedirs(os.path.join(tmp, "mail"))
    ran = 0
    try:
        for name, start in (("MariaDB", dbservers.start_mariadb),
                            ("PostgreSQL", dbservers.start_postgresql)):
            ran += one_server(name, start, tmp)
    finally:
        if failures and os.environ.get("MQ_KEEP_TMP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d checks passed, %d failed" % (passes, len(failures)))
    if failures:
        return 1
    if ran == 0:
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
