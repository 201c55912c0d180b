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
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbservers  # noqa: E402
import mqtest  # noqa: E402

MAILQUOTA = mqtest.MAILQUOTA

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

R = mqtest.Results()


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
               quota=None, **dbkeys):
    """A configuration for srv with the preset's queries (or some replaced)
    and these database keys."""
    db = srv.database_keys(via, database)
    db.update(dbkeys)
    extra = {"schema": preset}
    if queries:
        extra["queries"] = queries
    return mqtest.write_config(
        path, database=db, maildir={"base": os.path.join(os.path.dirname(path), "mail")},
        policy={"reply_nouser": "550 5.1.1 User unknown"}, quota=quota, extra=extra)


def expect(conf, label, rcpt, size, code, outcome=None):
    rc, got, out, _ = run_check(conf, rcpt, size)
    R.check("%s: check %r --size %d: exit %d %s" % (label, rcpt, size, code, outcome or ""),
            rc == code and (outcome is None or got == outcome),
            "exit %d outcome %s\n%s" % (rc, got or "-", out))


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
    R.check("%s: %s still has %s rows" % (label, table, want), count == want,
            "%s rows" % count)


def usage_from_sql(srv, tmp):
    """PostfixAdmin's quota2 as the usage source (quota.usage = sql)."""
    label = "%s/postfixadmin/usage=sql" % srv.driver
    conf = write_conf(os.path.join(tmp, "%s-usage.conf" % srv.driver), srv,
                      "postfixadmin", database="mq_postfixadmin",
                      quota={"usage": "sql"})
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
               hosts=["unix:" + os.path.join(tmp, "no-such.sock"), "127.0.0.2", srv.host],
               port=srv.port)
    expect(conf, d + " failover", "alice@example.org", 100, ACCEPT, "success")

    write_conf(conf, srv, "default", database=db, password="wrong")
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    words = "Access denied" if d == "mysql" else "password authentication failed"
    R.check("%s wrong password: exit 2 with %r" % (d, words),
            rc == TEMPFAIL and words in out, "exit %d\n%s" % (rc, out))

    write_conf(conf, srv, "default", database=db, queries={
        "user": "SELECT quota, enabled FROM no_such_table WHERE email = '%s'"})
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    R.check("%s broken query: exit 2 naming the table" % d,
            rc == TEMPFAIL and "no_such_table" in out, "exit %d\n%s" % (rc, out))

    if d == "mysql":
        slow = "SELECT 0 AS quota, SLEEP(10) = 0 AS enabled FROM DUAL " \
               "WHERE '%s' <> ''"
    else:
        slow = "SELECT 0 AS quota, true AS enabled FROM pg_sleep(10) " \
               "WHERE '%s' <> ''"
    write_conf(conf, srv, "default", database=db, query_timeout=2,
               queries={"user": slow})
    rc, got, out, took = run_check(conf, "alice@example.org", 100)
    R.check("%s slow query: exit 2 at query_timeout (2 s)" % d,
            rc == TEMPFAIL and took < 5 and "timed out" in out,
            "exit %d after %.1f s\n%s" % (rc, took, out))

    # The server goes away, comes back, crashes, comes back.
    write_conf(conf, srv, "default", database=db)
    for how in ("stop", "kill"):
        getattr(srv, how)()
        rc, got, out, took = run_check(conf, "alice@example.org", 100)
        R.check("%s server %sped: exit 2 at once" % (d, how),
                rc == TEMPFAIL and took < 3, "exit %d after %.1f s\n%s" % (rc, took, out))
        srv.start()
        expect(conf, "%s after %s and start" % (d, how), "alice@example.org",
               100, ACCEPT, "success")


def one_server(name, start, tmp):
    try:
        srv = start(tmp)
    except dbservers.Unavailable as e:
        R.skip(name, str(e))
        return False
    try:
        for preset in ("default", "postfixadmin"):
            srv.create_database("mq_" + preset)
            srv.load_preset(preset, database="mq_" + preset)
        probe = write_conf(os.path.join(tmp, "probe.conf"), srv, "default",
                           database="mq_default")
        rc, _, out, _ = run_check(probe, "alice@example.org")
        if "not compiled in" in out:
            R.skip(name, "mailquota built without the %s driver" % srv.driver)
            return False
        decisions(srv, tmp, "default", "tcp")
        decisions(srv, tmp, "postfixadmin", "unix")
        usage_from_sql(srv, tmp)
        faults(srv, tmp)
    finally:
        srv.close()
    return True


def main():
    mqtest.require_binary(MAILQUOTA)
    tmp = mqtest.tempdir("mq-backends-")
    os.makedirs(os.path.join(tmp, "mail"))
    ran = 0
    for name, start in (("MariaDB", dbservers.start_mariadb),
                        ("PostgreSQL", dbservers.start_postgresql)):
        ran += one_server(name, start, tmp)
    R.finish(skipped_is_skip=ran == 0)


if __name__ == "__main__":
    main()
