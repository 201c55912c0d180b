#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""policy.metrics: Prometheus text at /metrics while mailquota-policyd is
under load, and the same figures in the SIGUSR1 log lines.

A SQLite fixture in the tutorial schema gives one recipient per outcome
(success, nouser, disabled, overquota, toolarge, tempfail). A few client
threads send N policy requests over persistent connections while another
thread scrapes /metrics; afterwards the counters must add up to what was
sent: each outcome, the histogram's _count and +Inf bucket, malformed
requests, connections. Counters must never go back, across a SIGHUP
reload too.

One line per case, then "N passed, N failed"; exit 1 on any failure.
"""

import http.client
import os
import socket
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

MIB = 1024 * 1024
CLIENTS = 4
PER_CLIENT = 500            # requests per connection
MALFORMED = 3

REPLIES = mqtest.REPLIES

# (recipient, size) -> (outcome, action)
CASES = [
    (("ok@example.org", 1000), ("success", "DUNNO")),
    (("someone@remote.test", 1000), ("success", "DUNNO")),
    (("nosuch@example.org", 1000), ("nouser", REPLIES["reply_nouser"])),
    (("off@example.org", 1000), ("disabled", REPLIES["reply_disabled"])),
    (("full@example.org", 1000), ("overquota", REPLIES["reply_overquota"])),
    (("small@example.org", 5000), ("toolarge", REPLIES["reply_toolarge"])),
    (("escape@example.org", 1000), ("tempfail", REPLIES["reply_tempfail"])),
]
OUTCOMES = ["success", "nouser", "disabled", "overquota", "toolarge", "tempfail"]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """parse - {(name, labels): value} from Prometheus text; checks the syntax."""
    out = {}
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, types


def scrape(port, path="/metrics", method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        c.close()


def total(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


def get(samples, name, labels=""):
    return samples.get((name, labels))


class Env:
    pass


def setup():
    mqtest.require_binary(mqtest.POLICYD)
    e = Env()
    e.root = mqtest.tempdir("mq-metrics-")
    fx = e.fx = mqtest.Fixture(os.path.join(e.root, "fixture"))
    fx.domain("example.org")
    fx.user("ok@example.org", quota=10 * MIB)
    fx.maildir("ok@example.org", limit_bytes=10 * MIB, usage=[(MIB, 10)])
    fx.user("full@example.org", quota=MIB)
    fx.maildir("full@example.org", limit_bytes=MIB, usage=[(MIB, 10)])
    fx.user("small@example.org", quota=1000)
    fx.maildir("small@example.org", limit_bytes=1000, usage=[(10, 1)])
    fx.user("off@example.org", quota=MIB, enabled=False)
    fx.maildir("off@example.org", limit_bytes=MIB)
    # A Maildir that is a symlink out of maildir.base: refused, tempfail.
    fx.user("escape@example.org", quota=MIB)
    outside = os.path.join(e.root, "outside")
    os.makedirs(os.path.join(outside, "cur"))
    os.symlink(outside, fx.maildir_path("escape@example.org"))
    fx.commit()
    e.port = mqtest.free_port()
    e.mport = mqtest.free_port()
    e.conf = mqtest.write_config(
        os.path.join(e.root, "mailquota.conf"), fx,
        listen=("inet:127.0.0.1:%d" % e.port,),
        database={"connections": 2},
        policy=dict(REPLIES, metrics="inet:127.0.0.1:%d" % e.mport))
    e.d = mqtest.Daemon(e.conf, addr=("127.0.0.1", e.port)).start()
    return e


def client(e, idx, results, errors):
    """client - PER_CLIENT requests on one connection, cycling through CASES."""
    got = {o: 0 for o in OUTCOMES}
    try:
        pc = mqtest.PolicyClient(("127.0.0.1", e.port))
        for i in range(PER_CLIENT):
            (rcpt, size), (outcome, action) = CASES[(i + idx) % len(CASES)]
            a = pc.ask(recipient=rcpt, size=size, queue_id="Q%d%05d" % (idx, i))
            if a != action:
                errors.append("%s: %r, expected %r" % (rcpt, a, action))
            got[outcome] += 1
        pc.close()
    except Exception as ex:          # reported by the caller
        errors.append("client %d: %r" % (idx, ex))
    results[idx] = got


def scraper(e, stop, seen, errors):
    """scraper - scrape until stopped; every counter must be non-decreasing."""
    last = {}
    while not stop.is_set():
        try:
            status, _, text = scrape(e.mport)
            samples, types = parse(text)
        except Exception as ex:
            errors.append("scrape: %r" % (ex,))
            return
        if status != 200:
            errors.append("scrape: HTTP %d" % status)
            return
        for key, v in samples.items():
            name = key[0]
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if types.get(name) == "counter" or types.get(base) == "histogram":
                if v < last.get(key, 0):
                    errors.append("%s%s went back from %g to %g"
                                  % (key[0], key[1], last[key], v))
                last[key] = v
        seen.append(total(samples, "mailquota_requests_total"))
        time.sleep(0.02)


def run_load(e, r):
    results = [None] * CLIENTS
    errors, scrape_errors, seen = [], [], []
    stop = threading.Event()
    st = threading.Thread(target=scraper, args=(e, stop, seen, scrape_errors))
    st.start()
    threads = [threading.Thread(target=client, args=(e, i, results, errors))
               for i in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # a reload in the middle of the load: counters must carry over
    time.sleep(0.05)
    e.d.send_signal(signal.SIGHUP)
    for t in threads:
        t.join(60)
    took = time.monotonic() - t0
    stop.set()
    st.join(10)
    e.sent = {o: sum(res[o] for res in results if res) for o in OUTCOMES}
    e.n = sum(e.sent.values())
    mqtest.log("load: %d requests over %d connections in %.2fs (%.0f/s), %d scrapes"
               % (e.n, CLIENTS, took, e.n / took if took else 0, len(seen)))
    r.check("load: every reply as expected", not errors and e.n == CLIENTS * PER_CLIENT,
            "; ".join(errors[:5]))
    r.check("scrapes during the load: valid and never going back",
            not scrape_errors and len(seen) >= 2, "; ".join(scrape_errors[:5]))
    r.check("scrapes saw the load in progress",
            any(0 < s < e.n for s in seen),
            "requests_total seen: %r" % seen[:10])


def send_malformed(e):
    for _ in range(MALFORMED):
        s = mqtest.connect(("127.0.0.1", e.port))
        s.sendall(b"request=smtpd_access_policy\nno equals sign here\n\n")
        pc = mqtest.PolicyClient(("127.0.0.1", e.port), sock=s)
        pc.closed_by_peer(5.0)
        pc.close()


def check_totals(e, r):
    # the reply is written after it is counted: wait for the clients' closes
    def settled():
        _, _, text = scrape(e.mport)
        s, _ = parse(text)
        return s if get(s, "mailquota_connections_open") == 0 else None
    samples = mqtest.wait_until(settled, 5.0)
    if samples is None:
        _, _, text = scrape(e.mport)
        samples, _ = parse(text)
        r.fail("connections_open back to 0", "still %r"
               % get(samples, "mailquota_connections_open"))
    else:
        r.ok("connections_open back to 0")
    e.final = samples

    for o in OUTCOMES:
        got = get(samples, "mailquota_requests_total", '{outcome="%s"}' % o)
        r.check("requests_total{outcome=%s} = %d" % (o, e.sent[o]), got == e.sent[o],
                "got %r" % got)
    r.check("sum of requests_total = requests sent (%d)" % e.n,
            total(samples, "mailquota_requests_total") == e.n,
            "got %r" % total(samples, "mailquota_requests_total"))
    count = get(samples, "mailquota_request_duration_seconds_count")
    inf = get(samples, "mailquota_request_duration_seconds_bucket", '{le="+Inf"}')
    r.check("latency histogram _count = +Inf bucket = requests", count == inf == e.n,
            "count %r, +Inf %r" % (count, inf))
    buckets = sorted(((float(k[1][5:-2]) if "Inf" not in k[1] else float("inf")), v)
                     for k, v in samples.items()
                     if k[0] == "mailquota_request_duration_seconds_bucket")
    r.check("histogram buckets cumulative", len(buckets) >= 10 and
            all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)),
            repr(buckets))
    s = get(samples, "mailquota_request_duration_seconds_sum")
    r.check("latency _sum positive and below 10 s per request on average",
            s is not None and 0 < s < 10 * e.n, repr(s))
    by = (get(samples, "mailquota_answered_total", '{by="loop"}') or 0) + \
        (get(samples, "mailquota_answered_total", '{by="worker"}') or 0)
    r.check("answered on the loop + by workers = requests", by == e.n, repr(by))
    hits = get(samples, "mailquota_cache_hits_total")
    misses = get(samples, "mailquota_cache_misses_total")
    r.check("cache hits and misses counted", hits and misses and hits > misses,
            "hits %r misses %r" % (hits, misses))
    r.check("malformed_requests_total = %d" % MALFORMED,
            get(samples, "mailquota_malformed_requests_total") == MALFORMED,
            repr(get(samples, "mailquota_malformed_requests_total")))
    conns = get(samples, "mailquota_connections_total")
    r.check("connections_total >= clients + malformed",
            conns is not None and conns >= CLIENTS + MALFORMED, repr(conns))
    r.check("db_errors_total = 0 on SQLite", get(samples, "mailquota_db_errors_total") == 0,
            repr(get(samples, "mailquota_db_errors_total")))
    r.check("config_generation = 2 after one reload",
            get(samples, "mailquota_config_generation") == 2,
            repr(get(samples, "mailquota_config_generation")))
    r.check("workers = database.connections (2)", get(samples, "mailquota_workers") == 2,
            repr(get(samples, "mailquota_workers")))


def check_usr1(e, r):
    mark = e.d.mark()
    e.d.send_signal(signal.SIGUSR1)
    line = e.d.wait_log(r"stats: requests=", mark)
    lat = e.d.wait_log(r"stats: latency_count=", mark)
    if line is None or lat is None:
        r.fail("SIGUSR1 logs the counters", "no stats lines:\n" + e.d.stderr()[-2000:])
        return
    kv = dict(re.findall(r"(\w+)=(\d+)", line))
    want = {o: e.sent[o] for o in OUTCOMES}
    got = {o: int(kv.get(o, -1)) for o in OUTCOMES}
    r.check("SIGUSR1: outcomes as sent and as /metrics", got == want and
            int(kv.get("requests", -1)) == e.n, "%r vs %r" % (got, want))
    lkv = dict(re.findall(r"(\w+)=(\d+)", lat))
    r.check("SIGUSR1: latency_count = requests", int(lkv.get("latency_count", -1)) == e.n,
            lat)
    conn = e.d.wait_log(r"stats: connections_open=", mark)
    ckv = dict(re.findall(r"(\w+)=(\d+)", conn or ""))
    r.check("SIGUSR1: malformed as /metrics", int(ckv.get("malformed", -1)) ==
            get(e.final, "mailquota_malformed_requests_total"), conn or "none")


def check_http(e, r):
    status, ctype, text = scrape(e.mport)
    r.check("GET /metrics: 200, text/plain version 0.0.4",
            status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype,
            "%d %s" % (status, ctype))
    samples, types = parse(text)
    r.check("HELP and TYPE for each family", all(
        "# HELP %s " % n in text for n in types), "")
    r.check("every counter named *_total", all(
        n.endswith("_total") for n, t in types.items() if t == "counter"),
        repr([n for n, t in types.items() if t == "counter" and not n.endswith("_total")]))
    status, _, _ = scrape(e.mport, "/")
    r.check("GET / is 404", status == 404, str(status))
    status, _, _ = scrape(e.mport, "/metrics", "POST")
    # evhttp answers a method it was told to refuse with 501 (libevent 2.1) or 405
    r.check("POST /metrics refused", status in (405, 501), str(status))
    # the policy port is untouched by HTTP on the metrics port and vice versa
    pc = mqtest.PolicyClient(("127.0.0.1", e.port))
    r.check("policy service still answers", pc.ask(recipient="ok@example.org") == "DUNNO")
    pc.close()


def check_limits(e, r):
    """The metrics listener: a whole-request deadline that trickled bytes
    do not reset, and a cap on open connections."""
    s = socket.create_connection(("127.0.0.1", e.mport), timeout=30)
    t0 = time.monotonic()
    closed_after = None
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    for i in range(len(request)):
        try:
            s.sendall(request[i:i + 1])
            s.settimeout(0.5)       # one byte every half second: under evhttp's 10 s
            if s.recv(4096) == b"":
                closed_after = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed_after = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 25:
            break
    s.close()
    r.check("a request trickled byte by byte is cut at its deadline (about 10 s)",
            closed_after is not None and 9.0 <= closed_after <= 14.0,
            "closed after %s s" % ("%.1f" % closed_after if closed_after else "never (25 s)"))

    held = []
    try:
        for _ in range(16):
            c = socket.create_connection(("127.0.0.1", e.mport), timeout=5)
            c.sendall(b"G")          # evhttp has taken it
            held.append(c)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", e.mport), timeout=5)
        extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        try:
            got = extra.recv(100)
        except OSError:
            got = b""
        extra.close()
        r.check("a 17th metrics connection is closed unanswered", got == b"", repr(got[:40]))
    finally:
        for c in held:
            c.close()
    ok = mqtest.wait_until(lambda: scrape(e.mport)[0] == 200, 5.0)
    r.check("once they close, scrapes are served again", ok)


def check_bind_error(e, r):
    """A taken metrics port is a start-up error, not a silent loss."""
    port = mqtest.free_port()
    conf = mqtest.write_config(
        os.path.join(e.root, "taken.conf"), e.fx,
        listen=("inet:127.0.0.1:%d" % port,),
        policy={"metrics": "inet:127.0.0.1:%d" % e.mport})
    d = mqtest.Daemon(conf, addr=None).start(wait=False)
    try:
        rc = d.proc.wait(10)
    except Exception:
        rc = None
    d.stop()
    r.check("metrics port in use: exits non-zero, says policy.metrics",
            rc not in (0, None) and "policy.metrics" in d.stderr(), "rc %r: %s"
            % (rc, d.stderr()[-300:]))


def main():
    r = mqtest.Results()
    e = setup()
    r.run("load run with scrapes", run_load, e, r)
    r.run("malformed requests", send_malformed, e)
    r.run("totals after the load", check_totals, e, r)
    r.run("SIGUSR1", check_usr1, e, r)
    r.run("HTTP behaviour", check_http, e, r)
    r.run("metrics listener limits", check_limits, e, r)
    r.run("metrics port taken", check_bind_error, e, r)
    rc, took = e.d.stop()
    r.check("SIGTERM with metrics on: exit 0 within 5 s", rc == 0 and took < 5.5,
            "rc %r after %.1fs" % (rc, took))
    sys.exit(r.finish())


if __name__ == "__main__":
    main()
