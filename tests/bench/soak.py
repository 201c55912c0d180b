#!/usr/bin/env python3
"""The soak run: mailquota-policyd for a long time under everything at once.

  mailquota-policyd (build it with ASan+UBSan: docs/benchmarks.md) answers
  a private PostgreSQL (tests/integ/dbservers.py) loaded with a
  genfixture.py fixture, while

  load      rounds of mq-loadgen runs, one per expected answer (pass, full,
            disabled, unknown user), each over --conns connections, RCPT and
            END-OF-MESSAGE in turn; the recipients of each group are taken
            from the fixture's classes.tsv: under-quota and unlimited
            mailboxes, addresses in domains that are not hosted and aliases
            to such mailboxes or to a remote address must get DUNNO;
            over-quota and nearly full mailboxes (a 1 KiB message no longer
            fits) and aliases whose every mailbox is full 552; disabled
            mailboxes 550 5.2.1; unknown users of a hosted domain 550 5.1.1
  SIGHUP    every --hup-every seconds, the configuration switching between
            cache_ttl = 0 and a short cache each time
  database  PostgreSQL stopped every --restart-every seconds, kept down for
            --down-for seconds, then started again
  Maildirs  maildirsize files rewritten all the time under the daemon, the
            usage they state unchanged: replaced by rename with the usage
            split over several lines, or appended to (a +N line and a -N
            line in one write, as a delivery and an expunge would); a file
            that grows past 5120 bytes is recounted by the daemon from the
            ,S= sizes, which add up to the same usage
  RSS       the daemon's VmRSS sampled every --rss-every seconds

Every answer is checked against its group: a 5xx other than the group's own
is a wrong 5xx, a 451 is allowed only in a round that overlaps an outage
(from the stop to --grace seconds after the server is back), any other
mismatch is a wrong answer, and a mq-loadgen error (connection refused or
cut, timeout, malformed reply) is an error. The daemon's log lines of level
error or worse outside the outages are errors too. At the end the daemon
gets SIGTERM: it must exit 0 and ASan, UBSan and LSan must have printed
nothing. RSS is flat when it grows by less than --rss-limit MiB over the
second half of the run (ASan's quarantine fills during the first).

Prints the figures, one line per check and "N passed, N failed"; exit 1 on
any failure, 77 when a component is missing (a failure with
MQ_REQUIRE_ALL=1). --json FILE writes the figures for docs/benchmarks.md.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import mqtest  # noqa: E402
import dbservers  # noqa: E402

PASS = "DUNNO"
FULL = "552 5.2.2 Mailbox is full"
DISABLED = "550 5.2.1 Mailbox disabled"
NOUSER = "550 5.1.1 User unknown"
TEMPFAIL = "451 4.3.0 Temporary lookup failure"
GROUPS = [("pass", PASS), ("full", FULL), ("disabled", DISABLED), ("nouser", NOUSER)]

# ASan's own memory bounded where an option can, so that the RSS comes
# closer to the daemon's (see "The soak run" in docs/benchmarks.md: what is
# left is ASan's allocator and stack depot). With the defaults the
# fake stacks of detect_stack_use_after_return, 11 MiB a thread, become
# resident a page at a time for half an hour (0.7 MiB a minute), and a
# 256 MiB quarantine lets the allocator's size and its shadow wander by tens
# of MiB. Both are ASan's and bounded. A 32 MiB quarantine still holds a
# second or more of this load's frees (two reloads' engines, 17.5 MiB
# each); 64 KiB fake stacks still catch a use after return into a frame
# that is not reused at once.
ASAN_OPTIONS = ("detect_leaks=1:abort_on_error=0:strict_string_checks=1:"
                "detect_stack_use_after_return=1:max_uar_stack_size_log=16:"
                "quarantine_size_mb=32")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float,
                   default=float(os.environ.get("SOAK_MINUTES") or 30))
    p.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED") or 1))
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--conns", type=int, default=2, help="connections per group")
    p.add_argument("--per-round", type=int, default=300,
                   help="requests per group and round")
    p.add_argument("--round", type=float, default=2.0, help="seconds per round (at least)")
    p.add_argument("--hup-every", type=float, default=3.0)
    p.add_argument("--restart-every", type=float, default=60.0)
    p.add_argument("--down-for", type=float, default=3.0)
    p.add_argument("--grace", type=float, default=8.0,
                   help="seconds after the server is back during which 451 is allowed")
    p.add_argument("--rewrite-every", type=float, default=0.05)
    p.add_argument("--rss-every", type=float, default=5.0)
    p.add_argument("--rss-limit", type=float, default=8.0,
                   help="MiB the daemon may grow over the second half (the live "
                   "heap of an ASan build, else the RSS)")
    p.add_argument("--preload", help="LD_PRELOAD for the daemon alone, e.g. "
                   "libasan and a library that samples ASan's allocator counters")
    p.add_argument("--allow-plain", action="store_true",
                   help="run a daemon built without ASan")
    p.add_argument("--json", help="write the figures here")
    return p.parse_args()


def heapwatch(tmp, daemon_path):
    """LD_PRELOAD that makes an ASan daemon write its live heap to a file
    (tests/bench/heapwatch.c, built here with the system compiler): the
    libasan the daemon links, which must come first, then the sampler.
    (None, None) when either cannot be had."""
    so = os.path.join(tmp, "heapwatch.so")
    cc = os.environ.get("CC") or "cc"
    src = os.path.join(mqtest.SRCDIR, "tests", "bench", "heapwatch.c")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-pthread", "-o", so, src],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        mqtest.log("soak: heapwatch not built: %s" % r.stdout.strip())
        return None, None
    ldd = subprocess.run(["ldd", daemon_path], stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"(\S*libasan\.so\S*) => (\S+)", ldd)
    if not m:
        mqtest.log("soak: the daemon links no shared libasan; live heap not sampled")
        return None, None
    return "%s %s" % (m.group(2), so), os.path.join(tmp, "heapwatch.txt")


def live_heap(path):
    """[(seconds, KiB)] the sampler wrote; [] without it."""
    try:
        with open(path) as f:
            return [tuple(int(x) for x in ln.split()) for ln in f if len(ln.split()) == 2]
    except OSError:
        return []


def minute_medians(points):
    """One (seconds, median) a minute: a sample taken while a reload holds
    the old engine and the new at once is not a trend."""
    by = {}
    for t, v in points:
        by.setdefault(t // 60, []).append(v)
    return [(m * 60 + 30, sorted(v)[len(v) // 2]) for m, v in sorted(by.items())]


def sanitized(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


# --- the fixture ----------------------------------------------------------

def load_groups(fixdir):
    """{group: [addresses]} from classes.tsv, and how many aliases were left
    out because their answer depends on more than one class."""
    rows = []
    cls = {}
    with open(os.path.join(fixdir, "classes.tsv")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows.append(parts)
            cls[parts[0]] = parts[1]
    groups = {g: [] for g, _ in GROUPS}
    mixed = 0
    by_class = {"under": "pass", "unlimited": "pass", "notours": "pass",
                "overquota": "full", "nearlyfull": "full",
                "disabled": "disabled", "unknown": "nouser"}
    for parts in rows:
        addr, c = parts[0], parts[1]
        if c != "alias":
            groups[by_class[c]].append(addr)
            continue
        dests = [d for d in parts[2].split(",") if d]
        local = [cls.get(d) for d in dests if not d.endswith("@remote.example")]
        if all(x in ("under", "unlimited") for x in local):
            groups["pass"].append(addr)          # remote or every mailbox has room
        elif local and len(local) == len(dests) and \
                all(x in ("overquota", "nearlyfull") for x in local):
            groups["full"].append(addr)          # alias_overquota = "all"
        else:
            mixed += 1
    return groups, mixed


def user_table(fixdir):
    """email -> (maildir, limit, used, messages) of the mailboxes on disk."""
    import sqlite3
    db = sqlite3.connect(os.path.join(fixdir, "mail.db"))
    out = {}
    base = os.path.join(fixdir, "base")
    for email, quota in db.execute("SELECT email, quota FROM virtual_users"):
        local, _, dom = email.partition("@")
        home = os.path.join(base, dom, local)
        ms = os.path.join(home, "maildirsize")
        if not os.path.exists(ms):
            continue
        with open(ms) as f:
            lines = f.read().split("\n")
        used, count = (int(x) for x in lines[1].split())
        out[email] = (home, quota, used, count)
    db.close()
    return out


# --- where the memory is -------------------------------------------------

# ASan's fixed places on x86-64: the shadow (low and high, the gap between
# them never mapped) and the primary allocator's space, which holds every
# heap block of up to 128 KiB, live or in the quarantine.
ASAN_SHADOW = (0x7fff8000, 0x10007fff8000)
ASAN_PRIMARY = (0x600000000000, 0x640000000000)


def rss_by_region(pid):
    """The process's resident KiB by kind of mapping: ASan's shadow, ASan's
    primary heap, other anonymous memory (bigger heap blocks, thread stacks,
    ASan's fake stacks and its own bookkeeping; glibc's heap in a plain
    build) and mapped files."""
    out = {"shadow": 0, "asan_heap": 0, "anon": 0, "files": 0}
    kind = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                fields = line.split(None, 5)
                lo = int(fields[0].split("-")[0], 16)
                name = fields[5].strip() if len(fields) > 5 else ""
                if ASAN_SHADOW[0] <= lo < ASAN_SHADOW[1]:
                    kind = "shadow"
                elif ASAN_PRIMARY[0] <= lo < ASAN_PRIMARY[1]:
                    kind = "asan_heap"
                elif name.startswith("/"):
                    kind = "files"
                else:
                    kind = "anon"
            elif line.startswith("Rss:"):
                out[kind] += int(line.split()[1])
    return out


# --- the activities -------------------------------------------------------

class Soak:
    def __init__(self, a, tmp, fixdir, srv, daemon, confs):
        self.a, self.tmp, self.fixdir, self.srv, self.daemon = a, tmp, fixdir, srv, daemon
        self.confs = confs
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.outages = []         # [start, end or None]
        self.rss = []             # (seconds since start, KiB)
        self.regions = []         # (seconds since start, rss_by_region()), each minute
        self.marks = []           # (seconds since start, log length)
        self.load = []            # the 1-minute load average, with the RSS
        self.rounds = []
        self.hups = 0
        self.restarts = 0
        self.restart_times = []   # seconds the server took to start
        self.rewrites = {"rename": 0, "append": 0}
        self.problems = []        # thread failures
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0

    def in_outage(self, t0, t1):
        with self.lock:
            for s, e in self.outages:
                end = (e if e is not None else float("inf")) + self.a.grace
                if t0 < end and t1 > s:
                    return True
        return False

    def guarded(self, fn):
        def run():
            try:
                fn()
            except Exception as e:  # reported as a failure, the run goes on
                self.problems.append("%s: %s: %s" % (fn.__name__, type(e).__name__, e))
        return threading.Thread(target=run, daemon=True)

    def hupper(self):
        i = 0
        while not self.done.wait(self.a.hup_every):
            i += 1
            with open(self.confs[i % 2]) as f:
                text = f.read()
            with open(self.confs[2] + ".new", "w") as f:
                f.write(text)
            os.replace(self.confs[2] + ".new", self.confs[2])
            self.daemon.send_signal(signal.SIGHUP)
            self.hups += 1

    def restarter(self):
        while not self.done.wait(self.a.restart_every):
            with self.lock:
                self.outages.append([self.now(), None])
            self.srv.stop()
            if self.done.wait(self.a.down_for):
                self.srv.start()
                with self.lock:
                    self.outages[-1][1] = self.now()
                break
            s = time.monotonic()
            self.srv.start()
            self.restart_times.append(time.monotonic() - s)
            with self.lock:
                self.outages[-1][1] = self.now()
            self.restarts += 1

    def rewriter(self):
        rng = random.Random(self.a.seed)
        users = sorted(self.users.items())
        while not self.done.wait(self.a.rewrite_every):
            email, (home, limit, used, count) = rng.choice(users)
            ms = os.path.join(home, "maildirsize")
            if rng.random() < 0.5:
                # A recalculation's way: a new file renamed over the old one,
                # here with the usage spread over several lines.
                parts = rng.randint(1, 4)
                cuts = sorted(rng.randint(0, used) for _ in range(parts - 1))
                sizes = [b - a for a, b in zip([0] + cuts, cuts + [used])]
                counts = [count] + [0] * (parts - 1)
                text = "%dS\n" % limit + "".join("%d %d\n" % (s, c)
                                                 for s, c in zip(sizes, counts))
                tmp = os.path.join(home, "tmp", "maildirsize.%d" % os.getpid())
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.write(fd, text.encode())
                os.close(fd)
                os.rename(tmp, ms)
                self.rewrites["rename"] += 1
            else:
                # A delivery and an expunge of the same size, one append.
                n = rng.randint(1, 100000)
                fd = os.open(ms, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
                os.write(fd, ("%d 1\n-%d -1\n" % (n, n)).encode())
                os.close(fd)
                self.rewrites["append"] += 1

    def sampler(self):
        """RSS every --rss-every seconds; every second the log's length, so
        that a log line can be placed in time (within a second)."""
        pid = self.daemon.pid()
        next_rss = 0.0
        while True:
            t = self.now()
            self.marks.append((t, self.daemon.mark()))
            if t >= next_rss:
                next_rss = t + self.a.rss_every
                with open("/proc/loadavg") as f:
                    self.load.append(float(f.read().split()[0]))
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.rss.append((t, int(line.split()[1])))
                if not self.regions or t - self.regions[-1][0] >= 60:
                    self.regions.append((t, rss_by_region(pid)))
            if self.done.wait(1.0):
                break

    def line_time(self, i):
        """When log line i arrived: the first sample that had seen it."""
        for t, m in self.marks:
            if m > i:
                return t
        return self.now()

    def round(self, n):
        """One mq-loadgen per group, side by side; returns the round's record."""
        stage = n % 2
        t0 = self.now()
        procs = []
        for g, _ in GROUPS:
            argv = [self.loadgen, "-c", str(self.a.conns), "-n", str(self.a.per_round),
                    "-r", self.rfiles[g], "-s", "1024", "-t", "30"]
            if stage:
                argv.append("-e")
            argv.append("inet:127.0.0.1:%d" % self.daemon.addr[1])
            procs.append((g, subprocess.Popen(argv, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)))
        rec = {"n": n, "stage": "END-OF-MESSAGE" if stage else "RCPT", "groups": {}}
        for g, p in procs:
            out, _ = p.communicate()
            actions = {}
            for line in out.splitlines():
                m = re.match(r"ACTION count=(\d+) text=(.*)$", line)
                if m:
                    actions[m.group(2)] = actions.get(m.group(2), 0) + int(m.group(1))
            rec["groups"][g] = {"rc": p.returncode, "actions": actions,
                                "tail": out[-400:] if p.returncode else ""}
        rec["t0"], rec["t1"] = t0, self.now()
        rec["outage"] = self.in_outage(t0, rec["t1"])
        return rec

    def run(self):
        self.loadgen = os.path.join(mqtest.BUILDDIR, "tests", "bench", "mq-loadgen")
        mqtest.require_binary(self.loadgen)
        self.users = user_table(self.fixdir)
        groups, self.mixed_aliases = load_groups(self.fixdir)
        self.group_sizes = {g: len(v) for g, v in groups.items()}
        self.rfiles = {}
        for g, addrs in groups.items():
            path = os.path.join(self.tmp, "rcpt-%s.txt" % g)
            random.Random(self.a.seed).shuffle(addrs)
            with open(path, "w") as f:
                f.write("\n".join(addrs) + "\n")
            self.rfiles[g] = path
        threads = [self.guarded(f) for f in (self.hupper, self.restarter,
                                              self.rewriter, self.sampler)]
        for t in threads:
            t.start()

        def stop_threads():
            # On ^C too: no SIGHUP, rewrite or restart after the clean-up
            # has begun removing the temporary directory.
            self.done.set()
            for t in threads:
                t.join(15)
        mqtest.at_cleanup(stop_threads)
        end = self.a.minutes * 60
        n = 0
        last_report = 0
        while self.now() < end and self.daemon.running():
            t = self.now()
            self.rounds.append(self.round(n))
            n += 1
            if self.now() - last_report >= 60:
                last_report = self.now()
                mqtest.log("soak: %.0f s, %d rounds, %d HUP, %d restarts, RSS %s KiB"
                           % (self.now(), n, self.hups, self.restarts,
                              self.rss[-1][1] if self.rss else "?"))
            rest = self.a.round - (self.now() - t)
            if rest > 0:
                time.sleep(rest)
        self.done.set()
        for t in threads:
            t.join(60)
        if not self.srv.running():
            self.srv.start()


# --- the verdict ----------------------------------------------------------

def slope(points):
    """Least-squares slope of (x, y) points, y per x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else 0.0


def region_growth(regions):
    """MiB each kind of mapping grew by over the second half (least squares)."""
    if len(regions) < 2:
        return {}
    half = [(t, r) for t, r in regions if t >= regions[-1][0] / 2]
    if len(half) < 2:
        return {}
    span = half[-1][0] - half[0][0]
    return {k: round(slope([(t, r[k]) for t, r in half]) * span / 1024, 2)
            for k in half[0][1]}


def tally(soak):
    expect = dict(GROUPS)
    t = {"requests": 0, "by_group": {}, "wrong_5xx": 0, "tempfail_in_outage": 0,
         "tempfail_outside": 0, "wrong_other": 0, "loadgen_errors": 0, "examples": []}
    for r in soak.rounds:
        for g, res in r["groups"].items():
            bg = t["by_group"].setdefault(g, {})
            if res["rc"] != 0:
                t["loadgen_errors"] += 1
                if len(t["examples"]) < 10:
                    t["examples"].append("round %d %s: mq-loadgen exit %s: %s"
                                         % (r["n"], g, res["rc"], res["tail"].strip()))
            for text, count in res["actions"].items():
                t["requests"] += count
                bg[text] = bg.get(text, 0) + count
                if text == expect[g]:
                    continue
                if text == TEMPFAIL:
                    key = "tempfail_in_outage" if r["outage"] else "tempfail_outside"
                elif text[:1] == "5":
                    key = "wrong_5xx"
                else:
                    key = "wrong_other"
                t[key] += count
                if key != "tempfail_in_outage" and len(t["examples"]) < 10:
                    t["examples"].append("round %d (%.1f-%.1f s, %s) %s: %d x %r"
                                         % (r["n"], r["t0"], r["t1"], r["stage"], g,
                                            count, text))
    return t


LEVEL_RX = re.compile(r"\b(error|crit|critical|alert|emerg|fatal)\b", re.I)


def error_lines(soak):
    """Log lines of level error or worse: (during an outage, outside)."""
    during, outside = [], []
    for i, ln in enumerate(soak.daemon.lines_since(0)):
        if LEVEL_RX.search(ln):
            t = soak.line_time(i)
            (during if soak.in_outage(t - 1, t) else outside).append("%.0f s: %s" % (t, ln))
    return during, outside


def metrics(port):
    """The daemon's /metrics as {name: value} (labels kept in the name)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    out = {}
    for line in data.decode("utf-8", "replace").split("\r\n\r\n", 1)[-1].splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def recovery(soak):
    """Per outage: its length, the 451s of the rounds that overlap it, and
    how long after the server was back the last round with a 451 ended (an
    upper bound on the time to right answers, to the round)."""
    out = []
    for s, e in soak.outages:
        if e is None:
            continue
        n451, last = 0, None
        for r in soak.rounds:
            if r["t1"] <= s or r["t0"] >= e + soak.a.grace:
                continue
            k = sum(g["actions"].get(TEMPFAIL, 0) for g in r["groups"].values())
            n451 += k
            if k:
                last = r["t1"]
        out.append({"down_s": round(e - s, 2), "tempfail": n451,
                    "back_within_s": round(last - e, 2) if last is not None else 0})
    return out


def main():
    a = parse_args()
    res = mqtest.Results()
    mqtest.require_binary(mqtest.POLICYD)
    if not a.allow_plain and not sanitized(mqtest.POLICYD):
        print("soak: %s is not built with ASan+UBSan (see docs/benchmarks.md; "
              "--allow-plain to run it anyway)" % mqtest.POLICYD)
        sys.exit(1)
    tmp = mqtest.tempdir("mq-soak-")
    fixdir = os.path.join(tmp, "fix")
    subprocess.run([sys.executable, os.path.join(HERE, "genfixture.py"), "--out", fixdir,
                    "--users", str(a.users), "--seed", str(a.seed), "--data-only"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        srv = dbservers.start_postgresql(tmp)
    except dbservers.Unavailable as e:
        mqtest.skip("PostgreSQL: %s" % e)
    mqtest.at_cleanup(srv.kill)
    srv.load(os.path.join(mqtest.SRCDIR, "conf", "schema-default-pgsql.sql"))
    srv.load(os.path.join(fixdir, "dump.sql"))
    port = mqtest.free_port()
    mport = mqtest.free_port()
    confs = []
    for i, ttl in enumerate((0, 5)):
        path = os.path.join(tmp, "mailquota-%d.conf" % i)
        mqtest.write_config(
            path, None, listen=["inet:127.0.0.1:%d" % port],
            policy={"reply_nouser": NOUSER, "reply_tempfail": TEMPFAIL,
                    "cache_ttl": ttl, "negative_cache_ttl": ttl,
                    "metrics": "inet:127.0.0.1:%d" % mport},
            database=dict(srv.database_keys("tcp"), connections=4),
            maildir={"base": os.path.join(fixdir, "base")}, loglevel="notice",
            extra={"schema": "default"})
        confs.append(path)
    conf = os.path.join(tmp, "mailquota.conf")
    with open(confs[0]) as f, open(conf, "w") as g:
        g.write(f.read())
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", ASAN_OPTIONS)
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    heap_file = None
    if a.preload:
        env["LD_PRELOAD"] = a.preload
    elif sanitized(mqtest.POLICYD):
        preload, heap_file = heapwatch(tmp, mqtest.POLICYD)
        if preload:
            env["LD_PRELOAD"] = preload
            env["HEAPWATCH_FILE"] = heap_file
    daemon = mqtest.Daemon(conf, ("127.0.0.1", port), env=env).start()
    confs.append(conf)
    mqtest.log("soak: %.1f minutes, daemon pid %d, PostgreSQL %d, fixture %s (seed %d)"
               % (a.minutes, daemon.pid(), srv.port, fixdir, a.seed))
    soak = Soak(a, tmp, fixdir, srv, daemon, confs)
    soak.run()
    alive = daemon.running()
    time.sleep(1)     # the last SIGHUP handled
    try:
        m = metrics(mport) if alive else {}
    except OSError as e:
        m = {}
        soak.problems.append("metrics: %s" % e)
    alive = daemon.running()
    rc, took = daemon.stop(timeout=10.0) if alive else (daemon.proc.returncode, 0.0)
    srv.stop()

    t = tally(soak)
    san = [ln for ln in daemon.lines_since(0)
           if "Sanitizer" in ln or "runtime error:" in ln]
    db_errs, other_errs = error_lines(soak)
    generation = m.get("mailquota_config_generation")
    rss = soak.rss
    half = [p for p in rss if p[0] >= rss[-1][0] / 2] if rss else []
    growth_half = (slope(half) * (half[-1][0] - half[0][0]) / 1024) if len(half) > 1 else 0.0
    heap = minute_medians(live_heap(heap_file)) if heap_file else []
    heap_half = [p for p in heap if p[0] >= heap[-1][0] / 2] if heap else []
    heap_growth = ((slope(heap_half) * (heap_half[-1][0] - heap_half[0][0]) / 1024)
                   if len(heap_half) > 1 else None)
    figures = {
        "minutes": round(soak.now() / 60, 2), "seed": a.seed, "users": a.users,
        "rounds": len(soak.rounds), "requests": t["requests"],
        "requests_per_s": round(t["requests"] / max(1, soak.now()), 1),
        "group_addresses": soak.group_sizes, "mixed_aliases_left_out": soak.mixed_aliases,
        "answers": t["by_group"], "wrong_5xx": t["wrong_5xx"],
        "tempfail_in_outage": t["tempfail_in_outage"],
        "tempfail_outside": t["tempfail_outside"], "wrong_other": t["wrong_other"],
        "loadgen_errors": t["loadgen_errors"], "hups": soak.hups,
        "db_restarts": soak.restarts,
        "db_start_s_max": round(max(soak.restart_times or [0]), 2),
        "maildirsize_rewrites": soak.rewrites,
        "log_error_lines_outage": len(db_errs), "log_error_lines_other": len(other_errs),
        "config_generation": generation,
        "metrics": {k: v for k, v in m.items()
                    if k.startswith(("mailquota_db_", "mailquota_requests"))},
        "live_heap_kib_per_minute": [v for _, v in heap],
        "live_heap_growth_second_half_mib": (round(heap_growth, 2)
                                             if heap_growth is not None else None),
        "rss_kib_first": rss[0][1] if rss else None, "rss_kib_last": rss[-1][1] if rss else None,
        "rss_kib_max": max(p[1] for p in rss) if rss else None,
        "rss_slope_kib_per_min": round(slope(rss) * 60, 1),
        "rss_slope_second_half_kib_per_min": round(slope(half) * 60, 1),
        "rss_growth_second_half_mib": round(growth_half, 2),
        "rss_kib_by_minute": [p[1] for i, p in enumerate(rss)
                              if i == 0 or int(p[0] // 60) != int(rss[i - 1][0] // 60)],
        "rss_regions_kib_by_minute": [dict(r, minute=round(t / 60)) for t, r in soak.regions],
        "rss_regions_growth_second_half_mib": region_growth(soak.regions),
        "exit": rc, "exit_s": round(took, 2), "sanitizer_lines": len(san),
        "asan": sanitized(mqtest.POLICYD),
    }
    rec = recovery(soak)
    figures["outages"] = len(rec)
    figures["outage_down_s_max"] = max((o["down_s"] for o in rec), default=0)
    figures["outage_back_within_s_max"] = max((o["back_within_s"] for o in rec), default=0)
    figures["outage_tempfail_mean"] = round(sum(o["tempfail"] for o in rec) / len(rec)) \
        if rec else 0
    figures["loadavg_1min_mean"] = round(sum(soak.load) / len(soak.load), 2) \
        if soak.load else None
    figures["loadavg_1min_max"] = max(soak.load) if soak.load else None
    print(json.dumps(figures, indent=1, sort_keys=True))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1, sort_keys=True)
            f.write("\n")
    for ex in t["examples"]:
        mqtest.log("soak: " + ex)
    res.check("no harness thread failed", not soak.problems, "; ".join(soak.problems))
    res.check("the daemon ran to the end", alive)
    res.check("every mq-loadgen run ended well", t["loadgen_errors"] == 0,
              "%d runs failed" % t["loadgen_errors"])
    res.check("0 wrong 5xx", t["wrong_5xx"] == 0, "%d" % t["wrong_5xx"])
    res.check("0 tempfail outside the outages", t["tempfail_outside"] == 0,
              "%d" % t["tempfail_outside"])
    res.check("0 other wrong answers", t["wrong_other"] == 0, "%d" % t["wrong_other"])
    res.check("every group answered", all(sum(v.values()) > 0 for v in t["by_group"].values())
              and len(t["by_group"]) == len(GROUPS), repr(t["by_group"]))
    res.check("the database was restarted", soak.restarts >= 1 or a.minutes * 60 <
              a.restart_every, "%d" % soak.restarts)
    res.check("0 error lines in the log outside the outages",
              not other_errs, "%d, first: %s" % (len(other_errs), other_errs[0])
              if other_errs else "")
    res.check("every SIGHUP reloaded the configuration", generation == soak.hups + 1,
              "generation %s after %d SIGHUP" % (generation, soak.hups))
    res.check("exit 0 on SIGTERM within 10 s", rc == 0 and took < 10, "exit %s after %.1f s"
              % (rc, took))
    res.check("no sanitizer report", not san, "\n".join(san[:20]))
    if heap_growth is not None:
        # An ASan build: its RSS also holds the sanitizer's bookkeeping,
        # which grows by design (docs/benchmarks.md); the daemon's own
        # memory is the live heap. The RSS is in the figures either way.
        res.check("live heap flat over the second half", heap_growth < a.rss_limit,
                  "%.2f MiB (RSS %.2f MiB)" % (heap_growth, growth_half))
    else:
        res.check("RSS flat over the second half", growth_half < a.rss_limit,
                  "%.2f MiB" % growth_half)
    res.finish()


if __name__ == "__main__":
    main()
