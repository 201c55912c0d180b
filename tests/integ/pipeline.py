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
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends  # noqa: E402
import dbservers  # noqa: E402

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
    text = srv.conf_database("unix", database="mq_default")
    text += 'schema = "default"\n'
    if queries:
        text += "queries {\n%s}\n" % "".join(
            '    %s = "%s"\n' % (k, v) for k, v in queries.items())
    text += 'maildir {\n    base = "%s"\n}\n' % os.path.join(tmp, "mail")
    text += ('policy {\n    reply_nouser = "550 5.1.1 User unknown"\n'
             '    cache_ttl = 0\n    negative_cache_ttl = 0\n}\n')
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def check(conf, rcpt, size):
    r = backends.subprocess.run(
        [backends.MAILQUOTA, "-d", "-c", conf, "check", "--size", str(size),
         "--", rcpt], stdout=backends.subprocess.PIPE,
        stderr=backends.subprocess.STDOUT, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    outcome = ""
    for line in out.splitlines():
        if line.startswith("outcome:") and line.split(":", 1)[1].split():
            outcome = line.split(":", 1)[1].split()[0]
    return r.returncode, outcome, out


def run(srv, tmp):
    ok = backends.ok
    srv.create_database("mq_default")
    srv.load_preset("default", database="mq_default")
    conf = conf_for(srv, tmp, "batch.conf")
    for rcpt, size, code, outcome in CASES:
        rc, got, out = check(conf, rcpt, size)
        ok(rc == code and got == outcome,
           "%r: exit %d outcome %s, expected %d %s\n%s" % (
               rcpt, rc, got or "-", code, outcome, out))
        ok(BATCH_LINE in out, "%r: the lookups were not batched\n%s" % (
            rcpt, out))
    # A broken alias query: the batch fails, the lookup one by one says why.
    broken = conf_for(srv, tmp, "broken.conf", queries={
        "alias": "SELECT nosuchcolumn FROM virtual_aliases WHERE source = '%s'"})
    rc, got, out = check(broken, "alice@example.org", 100)
    ok(rc == backends.TEMPFAIL and "nosuchcolumn" in out,
       "broken alias query: exit %d, expected 2 with the reason\n%s" % (rc, out))
    # A foreign domain never reaches the alias query: still answered.
    rc, got, out = check(broken, "someone@nowhere.example", 100)
    ok(rc == backends.ACCEPT, "broken alias query, foreign domain: exit %d\n%s"
       % (rc, out))


def main():
    if not os.access(backends.MAILQUOTA, os.X_OK):
        print("SKIP: %s not built" % backends.MAILQUOTA)
        return 1 if backends.REQUIRE_ALL else backends.SKIP
    tmp = tempfile.mkdtemp(prefix="mq-pipeline-")
    os.makedirs(os.path.join(tmp, "mail"))
    try:
        try:
            srv = dbservers.start_postgresql(tmp)
        except dbservers.Unavailable as e:
            if backends.REQUIRE_ALL:
                print("FAIL: PostgreSQL: %s (MQ_REQUIRE_ALL=1)" % e)
                return 1
            print("SKIP: PostgreSQL: %s" % e)
            return backends.SKIP
        try:
            run(srv, tmp)
        finally:
            srv.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d checks passed, %d failed" % (backends.passes,
                                           len(backends.failures)))
    return 1 if backends.failures else 0


if __name__ == "__main__":
    sys.exit(main())
