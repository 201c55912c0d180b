#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PostgreSQL's batched lookups, through `mailquota check` with the caches off.

With a driver that batches (pgsql), a recipient's domain, alias and user
rows are fetched in one pipeline round trip before the resolver runs. This
checks that the batched path is taken (its debug line) and that it gives
the same answers as the one-by-one lookups, for mailboxes, aliases, the
catch-all, extensions, disabled and unknown users and foreign domains;
and that a broken query in the batch still ends as a tempfail with the
server's reason, while the lookups that do not need it still answer.
Exit 77 (skip) when mailquota or PostgreSQL is missing, unless
MQ_REQUIRE_ALL=1.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends  # noqa: E402
import dbservers  # noqa: E402
import mqtest  # noqa: E402

R = mqtest.Results()

BATCH_LINE = "queries in one round trip"
CASES = [
    ("alice@example.org", 100, backends.ACCEPT, "success"),
    ("ALICE@Example.ORG", 100, backends.ACCEPT, "success"),
    ("alice+tag@example.org", 100, backends.ACCEPT, "success"),
    ("bob@example.org", 10 ** 9, backends.ACCEPT, "success"),
    ("team@example.org", 100, backends.ACCEPT, "success"),
    ("carol@example.org", 100, backends.REJECT, "disabled"),
    ("dave@disabled.example", 100, backends.REJECT, "disabled"),
    ("nobody@example.org", 100, backends.REJECT, "nouser"),
    ("old@example.org", 100, backends.REJECT, "nouser"),
    ("anyone@other.example", 100, backends.ACCEPT, "success"),
    ("someone@nowhere.example", 100, backends.ACCEPT, "success"),
    ("x'--@example.org", 100, backends.REJECT, "nouser"),
]


def conf_for(srv, tmp, name, queries=None):
    return mqtest.write_config(
        os.path.join(tmp, name), database=srv.database_keys("unix", "mq_default"),
        maildir={"base": os.path.join(tmp, "mail")},
        policy={"reply_nouser": "550 5.1.1 User unknown", "cache_ttl": 0,
                "negative_cache_ttl": 0},
        extra={"queries": queries} if queries else None)


def check(conf, rcpt, size):
    r = subprocess.run(
        [mqtest.MAILQUOTA, "-d", "-c", conf, "check", "--size", str(size),
         "--", rcpt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    outcome = ""
    for line in out.splitlines():
        if line.startswith("outcome:") and line.split(":", 1)[1].split():
            outcome = line.split(":", 1)[1].split()[0]
    return r.returncode, outcome, out


def run(srv, tmp):
    srv.create_database("mq_default")
    srv.load_preset("default", database="mq_default")
    conf = conf_for(srv, tmp, "batch.conf")
    for rcpt, size, code, outcome in CASES:
        rc, got, out = check(conf, rcpt, size)
        R.check("%r: exit %d %s" % (rcpt, code, outcome), rc == code and got == outcome,
                "exit %d outcome %s\n%s" % (rc, got or "-", out))
        R.check("%r: the lookups are batched" % rcpt, BATCH_LINE in out, out)
    # A broken alias query: the batch fails, the lookup one by one says why.
    broken = conf_for(srv, tmp, "broken.conf", queries={
        "alias": "SELECT nosuchcolumn FROM virtual_aliases WHERE source = '%s'"})
    rc, got, out = check(broken, "alice@example.org", 100)
    R.check("broken alias query: exit 2 with the reason",
            rc == backends.TEMPFAIL and "nosuchcolumn" in out, "exit %d\n%s" % (rc, out))
    # A foreign domain never reaches the alias query: still answered.
    rc, got, out = check(broken, "someone@nowhere.example", 100)
    R.check("broken alias query, foreign domain: exit 0", rc == backends.ACCEPT,
            "exit %d\n%s" % (rc, out))


def main():
    mqtest.require_binary(mqtest.MAILQUOTA)
    tmp = mqtest.tempdir("mq-pipeline-")
    os.makedirs(os.path.join(tmp, "mail"))
    try:
        srv = dbservers.start_postgresql(tmp)
    except dbservers.Unavailable as e:
        mqtest.skip("PostgreSQL: %s" % e)
    try:
        run(srv, tmp)
    finally:
        srv.close()
    R.finish()


if __name__ == "__main__":
    main()
