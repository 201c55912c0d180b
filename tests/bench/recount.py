#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""recount.py - what a Maildir without maildirsize and without SQL usage
costs: Dovecot 2.4's default `count` driver writes no maildirsize, so
mailquota recounts the Maildir (one readdir of every cur/ and new/, sizes
from the ,S= in the file names, a stat only for a name without one).

  recount.py [--messages N] [--runs R] [--no-size-names] [--no-cold]

builds a Maildir of N messages (default 100000: 70 % INBOX, 20 %
.Archive, 10 % .Sent, no maildirsize) with a SQLite user database, then
times

  get       `mailquota get` (a recount every run: the CLI keeps no cache),
            warm (directories in the page cache) and cold (after
            `echo 3 > /proc/sys/vm/drop_caches`, which needs root;
            --no-cold leaves it out);
  daemon    mailquota-policyd's answers for that mailbox: the first (a
            recount), the second (from memory, within usage_ttl), one after
            usage_ttl with nothing changed (re-validated from the directory
            mtimes), one more than 2 x usage_ttl after a new message
            landed (a recount the request waits for), and the first answer
            of a daemon started after dropping the caches.

--no-size-names writes file names without ,S= (not Dovecot's: it always
adds S=), so every file is stat()ed. Prints one line per figure (the
median and range of R runs, default 3). Not part of `make check`: it
writes N files and drops the page cache of the whole machine.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import mqtest  # noqa: E402

USER = "alice@example.org"
USAGE_TTL = 1


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def build(fx, n, size_names):
    """The Maildir: n tiny files whose names say 2 KiB to 60 KiB each."""
    md = fx.maildir(USER, maildirsize=False, folders=(".Archive", ".Sent"))
    where = [("cur", 0.7), (".Archive/cur", 0.2), (".Sent/cur", 0.1)]
    total, i = 0, 0
    for sub, share in where:
        d = os.path.join(md, sub)
        for _ in range(int(n * share)):
            i += 1
            size = 2048 + (i * 7919) % 59392
            total += size if size_names else 100
            name = mqtest.maildir_filename(i, size) if size_names else \
                "%d.M%dP1.bench:2,S" % (1700000000 + i, i)
            with open(os.path.join(d, name), "wb") as f:
                f.write(b"x" * 100)
    while i < n:            # the rounding remainder goes to INBOX
        i += 1
        size = 2048
        total += size if size_names else 100
        name = mqtest.maildir_filename(i, size) if size_names else \
            "%d.M%dP1.bench:2,S" % (1700000000 + i, i)
        with open(os.path.join(md, "cur", name), "wb") as f:
            f.write(b"x" * 100)
    return md, total


def timed(fn):
    t = time.monotonic()
    out = fn()
    return time.monotonic() - t, out


def figure(label, secs):
    ms = [s * 1000 for s in secs]
    print("%-44s median %8.1f ms  (%.1f - %.1f ms, %d runs)" % (
        label, statistics.median(ms), min(ms), max(ms), len(ms)), flush=True)


def cli_get(conf):
    r = subprocess.run([mqtest.MAILQUOTA, "-c", conf, "get", USER],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise SystemExit("mailquota get: exit %d: %s" % (
            r.returncode, r.stdout.decode()))
    return r.stdout.decode()


def stored_kib(out):
    for line in out.splitlines():
        if "STORAGE" in line:
            return int(line.split()[3])
    raise SystemExit("mailquota get printed no STORAGE line: %r" % out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-size-names", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    a = ap.parse_args()
    cold = not a.no_cold
    if cold and os.geteuid() != 0:
        raise SystemExit("dropping the page cache needs root (or --no-cold)")
    mqtest.require_binary(mqtest.POLICYD)
    mqtest.require_binary(mqtest.MAILQUOTA)

    root = mqtest.tempdir("mq-recount-")
    fx = mqtest.Fixture(root)
    fx.domain("example.org")
    fx.user(USER, quota=100 * 2 ** 30)
    fx.close()
    t, (md, total) = timed(lambda: build(fx, a.messages,
                                         not a.no_size_names))
    print("built %d messages (%s names) in %.1f s: %d bytes by their names"
          % (a.messages, "S=" if not a.no_size_names else "plain", t, total),
          flush=True)
    port = mqtest.free_port()
    conf = mqtest.write_config(
        os.path.join(root, "mailquota.conf"), fx,
        listen=("inet:127.0.0.1:%d" % port,),
        policy={"cache_ttl": 60}, quota={"usage_ttl": USAGE_TTL})

    # The CLI: every run recounts.
    out = cli_get(conf)
    kib = (total + 1023) // 1024        # rounded up, as doveadm prints it
    if stored_kib(out) != kib:
        raise SystemExit("mailquota get says %d KiB, the files %d KiB" % (
            stored_kib(out), kib))
    figure("mailquota get, warm", [timed(lambda: cli_get(conf))[0]
                                   for _ in range(a.runs)])
    if cold:
        runs = []
        for _ in range(a.runs):
            drop_caches()
            runs.append(timed(lambda: cli_get(conf))[0])
        figure("mailquota get, cold (caches dropped)", runs)

    def ask(c):
        t, got = timed(lambda: c.ask(recipient=USER, size=1))
        if got != "DUNNO":
            raise SystemExit("the daemon answered %r" % got)
        return t

    def one_daemon(drop):
        if drop:
            drop_caches()
        d = mqtest.Daemon(conf, addr=("127.0.0.1", port)).start()
        try:
            c = mqtest.PolicyClient(("127.0.0.1", port), timeout=120)
            # a known domain in the cache first, so only the usage counts
            c.ask(recipient="nobody@example.org", size=1)
            first = ask(c)
            second = ask(c)
            time.sleep(2 * USAGE_TTL + 0.5)
            reval_wait = ask(c)   # older than 2 x TTL: waits, revalidates
            p = os.path.join(md, "new", mqtest.maildir_filename(10 ** 7, 5000))
            with open(p, "wb") as f:
                f.write(b"x")
            time.sleep(2 * USAGE_TTL + 2.5)
            recount = ask(c)  # waits for a new recount
            os.unlink(p)
            time.sleep(2.5)   # so the next daemon's recount is settled
            c.close()
        finally:
            d.stop()
        return first, second, reval_wait, recount

    runs = [one_daemon(False) for _ in range(a.runs)]
    figure("daemon: first answer (recount), warm", [r[0] for r in runs])
    figure("daemon: second answer (memory)", [r[1] for r in runs])
    figure("daemon: after 2 x usage_ttl, unchanged", [r[2] for r in runs])
    figure("daemon: after 2 x usage_ttl, one new message",
           [r[3] for r in runs])
    if cold:
        runs = [one_daemon(True) for _ in range(a.runs)]
        figure("daemon: first answer (recount), cold", [r[0] for r in runs])
    mqtest.cleanup()


if __name__ == "__main__":
    main()
