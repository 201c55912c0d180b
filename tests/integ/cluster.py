#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mailquota-policyd against real database clusters on loopback: a 3-node
MariaDB Galera cluster and a PostgreSQL primary with two streaming replicas
(dbservers.py; the default preset and tests/integ/fixture-default.sql,
loaded once on the first node or the primary and replicated from there).

Each fault runs under a steady load (dbfaults.Load, cache_ttl = 0 so that
every answer asks the database). For every run: no 5xx (every load
recipient's right answer is DUNNO), no lost client connection, the daemon
never restarted, and the tempfail answers it cost are counted and their
time span measured (logged as "451 for N answers over S s"). Which host the
daemon's connections are on is asked of the servers themselves
(information_schema.PROCESSLIST, pg_stat_activity), never of the daemon.

Galera (hosts = node1, node2, node3):
  isolate   node1 leaves the primary component (gmcast.isolate=1): it keeps
            accepting connections and refuses queries with 1047; the daemon
            moves to node2 with right answers while node1 is still cut off,
            and returns to node1 by itself once it is back (no SIGHUP).
  desync    node2 desynced (wsrep_desync, state 2): a daemon with
            max_replica_lag on node2, node3 leaves node2 for node3 and comes
            back once it is synced again; a daemon without it stays.
  kill      node1 is SIGKILLed: the daemon moves to node2; node1 is started
            again and rejoins (state transfer from node3); the daemon returns
            to it.
PostgreSQL (hosts = replica1, replica2, primary):
  kill      replica1 is SIGKILLed: the daemon moves to replica2, and back to
            replica1 once it is started again.
  lag       replay paused on replica1 while the primary changes a quota: a
            daemon with max_replica_lag = 2 answers from replica2 (the new
            answer) once replica1 is more than 2 s behind, and returns when
            replay resumes; a daemon without it keeps the old answer.
  dovecot   a private Dovecot 2.3 delivers over LMTP and writes the usage
            to the primary through dict-sql: once as its dict quota (quota2),
            once with quota_clone next to a maildir quota. Two daemons
            standing for two MX hosts read it from replica1 and replica2
            (quota.usage = sql, cache_ttl = usage_ttl = 2): LMTP delivers
            until Dovecot refuses with 552; both daemons answer 552 within
            cache_ttl + 2 s of the last delivery (measured, logged);
            doveadm expunge: both back to DUNNO within the same bound.
  primary   the primary is killed: the replicas go on answering, every
            answer right, no tempfail at all.

`cluster.py bench` (make cluster-bench) measures requests a second with
usage from SQL on a replica instead; `cluster.py galera` or `postgresql`
runs one half.

One line per check, then "N passed, N failed"; exit 1 on any failure, 77
when the daemon or the clusters' packages are missing (a failure with
MQ_REQUIRE_ALL=1).
"""

import glob
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import dbservers  # noqa: E402
import dbfaults  # noqa: E402
from dbfaults import Load, ask, DUNNO, TEMPFAIL, FULL, NOUSER  # noqa: E402

SWITCH_LIMIT = 5.0      # seconds to right answers from another host
FAILBACK_LIMIT = 40.0   # seconds to be back on the first host once it is
MAX_LAG = 2             # database.max_replica_lag of the lag daemons
LAG_USER = "lagged@example.org"


class Daemons(dbfaults.Daemons):
    """The daemons of one cluster (srv: the node or primary whose account
    they use), each reading the hosts in the order given."""

    def start(self, name, hosts, policy=None, extra=None, **database):
        port = mqtest.free_port()
        conf = os.path.join(self.root, "%s-%s.conf" % (self.srv.driver, name))
        db = {"driver": self.srv.driver, "hosts": hosts,
              "name": self.srv.database, "user": self.srv.user,
              "password": self.srv.password,
              "connect_timeout": 2, "query_timeout": 2, "connections": 2}
        db.update(database)
        pol = {"reply_nouser": NOUSER, "reply_tempfail": TEMPFAIL,
               "cache_ttl": 0, "negative_cache_ttl": 0}
        pol.update(policy or {})
        ext = {"schema": "default"}
        ext.update(extra or {})
        mqtest.write_config(conf, None, listen=["inet:127.0.0.1:%d" % port],
                            policy=pol, database=db, maildir={"base": self.base},
                            extra=ext)
        d = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
        d.name = "%s/%s" % (self.srv.driver, name)
        self.all.append(d)
        return d

    def dump_logs(self):
        for d in self.all:
            mqtest.log("--- log of %s (tail) ---\n%s" % (
                d.name, "\n".join(d.lines_since(max(0, len(d.lines) - 40)))))


def mysql_sessions(node, user):
    """Connections of user on a Galera node, as the node counts them."""
    try:
        return int(node.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                            "WHERE USER = '%s';" % user, database="").strip())
    except dbservers.ServerError:
        return -1


def replica_value(srv, query):
    """One value read on a replica; None while it has not replayed the
    statements that create what query reads (a fresh replica lags)."""
    try:
        return srv.sql(query).strip()
    except dbservers.ServerError:
        return None


def pg_sessions(srv):
    """mailquota's connections on a PostgreSQL server."""
    try:
        return int(srv.sql("SELECT count(*) FROM pg_stat_activity WHERE "
                           "application_name = 'mailquota';",
                           database="postgres").strip())
    except dbservers.ServerError:
        return -1


def galera_ready(c, i):
    """Whether Galera node i answers queries (wsrep_ready = ON)."""
    try:
        return c.status(i).get("wsrep_ready") == "ON"
    except dbservers.ServerError:
        return False


class Readiness:
    """Whether any of some Galera nodes is ready (wsrep_ready = ON), sampled
    in the background. While none is, a 451 is the right answer: on a
    loaded machine the nodes left behind can miss each other's keepalives
    when one node is cut off, and leave the primary component for a few
    seconds too. Such answers are counted apart, not against the daemon."""

    GRACE = 1.0         # seconds after a sample with none ready

    def __init__(self, cluster, nodes, step=0.25):
        self.cluster, self.nodes, self.step = cluster, nodes, step
        self.none_ready = []        # times of samples with no node ready
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self.stopping.wait(self.step):
            t = time.monotonic()
            if not any(galera_ready(self.cluster, i) for i in self.nodes):
                self.none_ready.append(t)

    def stop(self):
        self.stopping.set()
        self.thread.join()

    def excuses(self, sent, got):
        """Whether an answer between sent and got met no ready node."""
        return any(sent - self.GRACE - self.step <= t <= got + self.GRACE
                   for t in self.none_ready)


class Run:
    """A load on one daemon around a fault; summarises its answers."""

    def __init__(self, res, daemon, label, readiness=None):
        self.res, self.daemon, self.label = res, daemon, label
        self.readiness = readiness
        self.load = Load(daemon.addr).start()
        time.sleep(1.0)         # right answers first
        self.t_fault = time.monotonic()

    def right_since(self, t):
        """Time of the first right answer sent after t (None: not yet)."""
        for sent, got, rcpt, action, err in self.load.snapshot():
            if sent >= t and action == DUNNO:
                return got
        return None

    def wait_right(self, t, limit):
        return mqtest.wait_until(lambda: self.right_since(t), limit, 0.05)

    def finish(self, tempfail_ok=True):
        """Stop the load and check what it got. Returns the seconds of 451."""
        time.sleep(0.5)
        self.load.stop()
        recs = self.load.snapshot()
        res, name = self.res, self.label
        res.check("%s: load ran" % name, len(recs) > 50, "%d answers" % len(recs))
        errors = [r for r in recs if r[4] is not None]
        res.check("%s: no connection errors" % name, not errors,
                  "%d, first: %s" % (len(errors), errors[0][4] if errors else ""))
        wrong = [r for r in recs if r[3] not in (DUNNO, TEMPFAIL)]
        res.check("%s: no 5xx, no wrong answer" % name, not wrong,
                  "%d, first: %r" % (len(wrong), wrong[0][3] if wrong else ""))
        temp = [r for r in recs if r[3] == TEMPFAIL]
        if self.readiness:
            self.readiness.stop()
            excused = [r for r in temp if self.readiness.excuses(r[0], r[1])]
            temp = [r for r in temp if not self.readiness.excuses(r[0], r[1])]
            if excused:
                mqtest.log("%s: %d answers were 451 while no other node was ready "
                           "(right; not counted)" % (name, len(excused)))
        span = (max(r[1] for r in temp) - min(r[0] for r in temp)) if temp else 0.0
        if tempfail_ok:
            res.check("%s: 451 for %d of %d answers over %.2f s" % (
                name, len(temp), len(recs), span), span < SWITCH_LIMIT,
                "limit %.0f s" % SWITCH_LIMIT)
        else:
            res.check("%s: no 451 at all" % name, not temp,
                      "%d of %d answers over %.2f s" % (len(temp), len(recs), span))
        res.check("%s: daemon still running" % name, self.daemon.running())
        mqtest.log("%s: %d answers, 451 for %d over %.2f s" % (
            name, len(recs), len(temp), span))
        return span


def on_host(res, label, sessions, where, others, limit):
    """Wait until the daemon's connections are all on where; check it."""
    t0 = time.monotonic()

    def there():
        return sessions(where) > 0 and all(sessions(o) == 0 for o in others)
    ok = mqtest.wait_until(there, limit, 0.25)
    took = time.monotonic() - t0
    res.check("%s (%.1f s)" % (label, took), ok,
              "sessions: %d there, %s elsewhere" % (
                  sessions(where), [sessions(o) for o in others]))
    return took


# --- Galera ---------------------------------------------------------------

def galera_isolate(res, c, dm, sessions):
    n1, n2, n3 = c.nodes
    ask(dm, "alice@example.org")     # connections are opened on demand
    on_host(res, "galera: the daemon starts on node1", sessions, n1, [n2, n3], 5)
    run = Run(res, dm, "galera isolate node1", Readiness(c, [1, 2]))
    c.isolate(0, True)
    st = mqtest.wait_until(lambda: c.status(0).get("wsrep_ready") == "OFF", 10, 0.1)
    res.check("galera: node1 out of the primary component", st,
              repr({k: v for k, v in c.status(0).items()
                    if k in ("wsrep_ready", "wsrep_cluster_status")}))
    t_out = time.monotonic()
    try:
        n1.sql("SELECT COUNT(*) FROM virtual_users;")
        refused = "no error"
    except dbservers.ServerError as e:
        refused = str(e)
    res.check("galera: node1 accepts connections, refuses queries (1047)",
              "1047" in refused or "WSREP has not yet prepared" in refused, refused)
    t_right = run.wait_right(t_out, SWITCH_LIMIT)
    res.check("galera: right answers while node1 is cut off",
              t_right is not None,
              "after %.2f s" % (t_right - t_out) if t_right else "none")
    # node2 may itself be out for a moment on a loaded machine (Readiness)
    mqtest.wait_until(lambda: galera_ready(c, 1), 30, 0.1)
    on_host(res, "galera: the daemon moved to node2", sessions, n2, [n1, n3], 5)
    res.check("galera: the daemon says why it left node1",
              dm.wait_log(r"not ready|1047", 0, 2) is not None)
    run.finish()
    t0 = time.monotonic()
    c.isolate(0, False)
    c.wait_size(3)
    mqtest.log("galera: node1 back in the primary component in %.2f s" % (
        time.monotonic() - t0))
    load = Load(dm.addr).start()     # a failback happens on a query
    try:
        on_host(res, "galera: back on node1 by itself, no SIGHUP", sessions, n1,
                [n2, n3], FAILBACK_LIMIT)
    finally:
        load.stop()


def kill_first(res, label, dm, victim, sessions, where, others):
    """SIGKILL victim under load: right answers from where, soon."""
    run = Run(res, dm, "%s kill %s" % (label, victim.name))
    victim.kill()
    t_dead = time.monotonic()
    t_right = run.wait_right(t_dead, SWITCH_LIMIT)
    res.check("%s: right answers with %s dead" % (label, victim.name),
              t_right is not None,
              "after %.2f s" % (t_right - t_dead) if t_right else "none")
    on_host(res, "%s: the daemon moved off the dead %s" % (label, victim.name),
            sessions, where, others, 5)
    run.finish()


def galera_kill(res, c, dm, sessions):
    n1, n2, n3 = c.nodes
    kill_first(res, "galera", dm, n1, sessions, n2, [n3])
    t0 = time.monotonic()
    c.rejoin(0, wait=False)
    c.wait_size(3)
    mqtest.log("galera: node1 restarted and synced in %.2f s" % (
        time.monotonic() - t0))
    load = Load(dm.addr).start()
    try:
        on_host(res, "galera: back on the restarted node1", sessions, n1,
                [n2, n3], FAILBACK_LIMIT)
    finally:
        load.stop()


def galera_desync(res, c, lag_d, nolag_d, sessions):
    n1, n2, n3 = c.nodes
    load = Load(lag_d.addr).start()
    load2 = Load(nolag_d.addr).start()
    try:
        ask(lag_d, "alice@example.org")
        on_host(res, "galera: max_replica_lag daemon starts on node2",
                sessions, n2, [n3], 5)
        n2.sql("SET GLOBAL wsrep_desync = ON;", database="")
        st = c.status(1)
        res.check("galera: node2 desynced", st.get("wsrep_local_state") == "2",
                  "wsrep_local_state = %s (%s)" % (
                      st.get("wsrep_local_state"),
                      st.get("wsrep_local_state_comment")))
        on_host(res, "galera: max_replica_lag leaves the desynced node2 for node3",
                sessions, n3, [], 5)
        res.check("galera: the reason is logged",
                  lag_d.wait_log(r"not synced", 0, 2) is not None)
        n2.sql("SET GLOBAL wsrep_desync = OFF;", database="")
        mqtest.wait_until(lambda: c.status(1).get("wsrep_local_state") == "4",
                          10, 0.1)
        # The daemon without max_replica_lag (its own user) stayed on node2
        # all along; this one comes back to it.
        on_host(res, "galera: back on node2 once synced", sessions, n2,
                [n3], FAILBACK_LIMIT)
    finally:
        load.stop()
        load2.stop()
    recs = load.snapshot() + load2.snapshot()
    wrong = [r for r in recs if r[3] not in (DUNNO, TEMPFAIL) or r[4]]
    temp = [r for r in recs if r[3] == TEMPFAIL]
    res.check("galera desync: no 5xx, no lost connection", not wrong and recs,
              "%d answers, %d wrong" % (len(recs), len(wrong)))
    res.check("galera desync: 451 for %d of %d answers" % (len(temp), len(recs)),
              len(temp) < len(recs) / 10)


def galera(res, root, base):
    try:
        t0 = time.monotonic()
        c = dbservers.start_galera(root)
    except dbservers.Unavailable as e:
        res.skip("Galera", str(e))
        return
    mqtest.at_cleanup(c.kill)
    mqtest.log("galera: 3 nodes up and synced in %.1f s" % (time.monotonic() - t0))
    n1 = c.nodes[0]
    # A second account, so that each daemon's connections can be told apart.
    q = ""
    for h in ("localhost", "127.0.0.1"):
        q += ("CREATE USER 'lagcheck'@'%s' IDENTIFIED BY '%s';\n"
              "GRANT SELECT ON `%s`.* TO 'lagcheck'@'%s';\n" % (
                  h, n1.password, n1.database, h))
    n1.sql(q, database="")
    n1.load_preset("default")
    daemons = Daemons(root, n1, base)
    hosts = ["127.0.0.1:%d" % n.port for n in c.nodes]
    try:
        dm = daemons.start("galera", hosts)
        sessions = (lambda node: mysql_sessions(node, n1.user))
        res.run("galera isolate", galera_isolate, res, c, dm, sessions)
        lag_d = daemons.start("galera-lag", hosts[1:], user="lagcheck",
                              max_replica_lag=MAX_LAG)
        nolag_d = daemons.start("galera-nolag", hosts[1:])
        res.run("galera desync", galera_desync, res, c, lag_d, nolag_d,
                lambda node: mysql_sessions(node, "lagcheck"))
        for d in (lag_d, nolag_d):      # nolag_d reads as the same user as dm
            rc, took = d.stop()
            res.check("%s: exits 0 on SIGTERM" % d.name, rc == 0 and took < 5.0,
                      "exit %s after %.1f s" % (rc, took))
        res.run("galera kill", galera_kill, res, c, dm, sessions)
        daemons.stop(res)
    finally:
        daemons.stop()
        if res.failed:
            daemons.dump_logs()
        c.close()


# --- PostgreSQL -----------------------------------------------------------

def pg_kill(res, p, r1, r2, dm):
    ask(dm, "alice@example.org")     # connections are opened on demand
    on_host(res, "pgsql: the daemon starts on replica1", pg_sessions, r1,
            [r2, p], 5)
    kill_first(res, "pgsql", dm, r1, pg_sessions, r2, [p])
    r1.start()
    load = Load(dm.addr).start()
    try:
        on_host(res, "pgsql: back on the restarted replica1 by itself",
                pg_sessions, r1, [r2, p], FAILBACK_LIMIT)
    finally:
        load.stop()


def pg_lag(res, p, r1, r2, lag_d, nolag_d):
    def answers():
        return ask(lag_d, LAG_USER)[0], ask(nolag_d, LAG_USER)[0]
    ok = mqtest.wait_until(lambda: answers() == (DUNNO, DUNNO), 5, 0.2)
    res.check("pgsql lag: %s -> DUNNO from both before" % LAG_USER, ok,
              repr(answers()))
    on_host(res, "pgsql lag: both daemons start on replica1", pg_sessions, r1,
            [r2, p], 5)
    r1.sql("SELECT pg_wal_replay_pause();")
    t_pause = time.monotonic()
    # The quota shrinks on the primary: the right answer is now 552.
    p.sql("UPDATE virtual_users SET quota = 10 WHERE email = '%s';" % LAG_USER)
    mqtest.wait_until(lambda: ask(lag_d, "alice@example.org")[0] == DUNNO
                      and replica_value(r2, "SELECT quota FROM virtual_users WHERE "
                                        "email = '%s';" % LAG_USER) == "10",
                      5, 0.1)
    t_full = None
    deadline = time.monotonic() + MAX_LAG + SWITCH_LIMIT + 3
    stale = 0
    while time.monotonic() < deadline:
        p.sql("UPDATE virtual_users SET password = password WHERE id = 1;")
        a = ask(lag_d, LAG_USER)[0]
        if a == FULL:
            t_full = time.monotonic()
            break
        res_ok = a in (DUNNO, TEMPFAIL)
        if not res_ok:
            break
        stale += a == DUNNO
        time.sleep(0.2)
    lag = r1.lag()
    res.check("pgsql lag: max_replica_lag = %d answers 552 from replica2 after "
              "%.1f s of pause" % (MAX_LAG, (t_full or 0) - t_pause),
              t_full is not None and t_full - t_pause < MAX_LAG + SWITCH_LIMIT,
              "replica1 %.1f s behind; %d stale answers before" % (lag, stale))
    a = ask(nolag_d, LAG_USER)[0]
    res.check("pgsql lag: without max_replica_lag the paused replica still "
              "answers (stale DUNNO)", a == DUNNO, "got %r" % a)
    res.check("pgsql lag: the reason is logged",
              lag_d.wait_log(r"behind, more than max_replica_lag", 0, 2) is not None)
    r1.sql("SELECT pg_wal_replay_resume();")
    t_resume = time.monotonic()
    got = mqtest.wait_until(lambda: ask(nolag_d, LAG_USER)[0] == FULL, 5, 0.1)
    res.check("pgsql lag: replay resumed, replica1 has the new quota", got)
    load = Load(lag_d.addr).start()
    try:
        on_host(res, "pgsql lag: back on replica1 once caught up", pg_sessions,
                r1, [r2, p], FAILBACK_LIMIT)
    finally:
        load.stop()
    mqtest.log("pgsql lag: resumed, failback after %.1f s" % (
        time.monotonic() - t_resume))


DOVE_USER = "dove@example.org"
DOVE_LIMIT = 20000          # bytes, in Dovecot's quota_rule and in virtual_users
DOVE_BODY = 4000            # bytes of each message's body
USAGE_TTL = 2               # cache_ttl and quota.usage_ttl of the two MX daemons
                            # (a usage row from SQL is cached for cache_ttl)


def dovecot_usage(res, root, base, p, r1, r2, daemons, how):
    """A real Dovecot 2.3 delivers over LMTP and keeps a usage table on the
    primary through dict-sql: quota2 as its dict quota (how = "dict"), or
    quota_clone next to its maildir quota (how = "clone"). Two daemons (two
    MX hosts) read it from replica1 and replica2 and refuse once the
    mailbox is full."""
    import smtplib
    why = mqtest.dovecot_available()
    if why is None and not os.path.exists("/usr/lib/dovecot/lmtp"):
        why = "Dovecot's LMTP server is not installed (dovecot-lmtpd)"
    if why is None and not glob.glob("/usr/lib/dovecot/modules/*pgsql*") + \
            glob.glob("/usr/lib/dovecot/modules/dict/*pgsql*"):
        why = "Dovecot's PostgreSQL driver is not installed (dovecot-pgsql)"
    if why is not None:
        res.skip("dovecot usage (%s)" % how, why)
        return
    table = "quota2" if how == "dict" else "quota_clone"
    user = "%s-%s" % (how, DOVE_USER)
    p.sql("CREATE TABLE %s (username varchar(255) PRIMARY KEY, "
          "bytes bigint NOT NULL DEFAULT 0, messages integer NOT NULL DEFAULT 0);"
          "INSERT INTO virtual_users (id, domain_id, email, password, quota, "
          "enabled) VALUES (%d, 1, '%s', 'x', %d, TRUE);" % (
              table, 300 if how == "dict" else 301, user, DOVE_LIMIT))
    dict_conf = os.path.join(root, "dovecot-dict-%s.conf.ext" % how)
    with open(dict_conf, "w") as f:
        f.write("connect = host=%s port=%d dbname=%s user=postgres password=%s\n"
                "map {\n  pattern = priv/quota/storage\n  table = %s\n"
                "  username_field = username\n  value_field = bytes\n}\n"
                "map {\n  pattern = priv/quota/messages\n  table = %s\n"
                "  username_field = username\n  value_field = messages\n}\n"
                % (p.socket_dir, p.port, p.database, p.superpass, table, table))
    os.chmod(dict_conf, 0o644)
    uid, gid = mqtest.nobody()
    os.makedirs(os.path.join(base, "dovecot"), exist_ok=True)
    mqtest.chown_tree(os.path.join(base, "dovecot"), uid, gid)
    lmtp = mqtest.free_port()
    droot = os.path.join(root, "dovecot-" + how)
    os.makedirs(droot)
    plugin = {"quota_rule": "*:storage=%dB" % DOVE_LIMIT}
    if how == "dict":
        plugin["quota"] = "dict:User quota::proxy::sqlquota"
    else:
        plugin["quota_clone_dict"] = "proxy::sqlquota"
    dc = mqtest.Dovecot(droot, plugin=plugin,
                        mail_plugins="quota" if how == "dict" else "quota quota_clone",
                        lmtp_port=lmtp,
                        extra=["dict {", "  sqlquota = pgsql:%s" % dict_conf, "}",
                               "service dict {", "  unix_listener dict {",
                               "    mode = 0666", "  }", "}"])
    dc.setup([(user, uid, gid, os.path.join(base, "dovecot", user), {})]).start()
    mqtest.at_cleanup(dc.stop)
    usage = {"quota": {"usage": "sql", "usage_ttl": USAGE_TTL},
             "queries": {"usage": "SELECT bytes, messages FROM %s "
                                  "WHERE username = '%%s'" % table}}
    mx1 = daemons.start("mx1-" + how, ["127.0.0.1:%d" % r1.port], extra=usage,
                        policy={"cache_ttl": USAGE_TTL})
    mx2 = daemons.start("mx2-" + how, ["127.0.0.1:%d" % r2.port], extra=usage,
                        policy={"cache_ttl": USAGE_TTL})
    msg = ("From: a@example.net\nTo: %s\nSubject: fill\n\n%s\n" % (
        user, ("x" * 76 + "\n") * (DOVE_BODY // 77))).encode()
    size = len(msg)

    def deliver():
        c = smtplib.LMTP("127.0.0.1", lmtp, timeout=30)
        try:
            c.sendmail("a@example.net", [user], msg)
            return 250, ""
        except (smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused) as e:
            if isinstance(e, smtplib.SMTPDataError):
                return e.smtp_code, e.smtp_error.decode("utf-8", "replace")
            code, text = list(e.recipients.values())[0]
            return code, text.decode("utf-8", "replace")
        finally:
            c.close()

    def both(want):
        return all(ask(d, user, size=size)[0] == want for d in (mx1, mx2))
    res.check("dovecot " + how + ": both MX daemons -> DUNNO for an empty mailbox",
              both(DUNNO))
    delivered, last, code, text = 0, None, 250, ""
    while delivered < 20:
        code, text = deliver()
        if code != 250:
            break
        delivered += 1
        last = time.monotonic()
    res.check("dovecot " + how + ": LMTP delivers until the mailbox is full, then %d" % code,
              delivered >= 2 and code == 552 and "Quota" in text,
              "%d delivered, then %d %s" % (delivered, code, text))
    row = p.sql("SELECT bytes, messages FROM %s WHERE username = '%s';"
                % (table, user)).strip()
    res.check("dovecot " + how + ": dict-sql wrote %s on the primary (%s)" % (table, row),
              row.endswith("|%d" % delivered), row)
    t_full = mqtest.wait_until(lambda: both(FULL) and time.monotonic(),
                               USAGE_TTL + 10, 0.05)
    stale = (t_full - last) if t_full else None
    mqtest.log("dovecot " + how + ": the usage row reached replica2 as %s" % replica_value(
        r2, "SELECT bytes, messages FROM %s WHERE username = '%s';" % (table, user)))
    res.check("dovecot " + how + ": both MX daemons -> 552 %.2f s after the last delivery "
              "(cache_ttl %d s)" % (stale or -1, USAGE_TTL),
              bool(t_full) and stale <= USAGE_TTL + 2.0,
              "never" if stale is None else "")
    r = subprocess.run(["doveadm", "-c", dc.conf, "expunge", "-u", user,
                        "mailbox", "INBOX", "all"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    t_exp = time.monotonic()
    row = p.sql("SELECT bytes, messages FROM %s WHERE username = '%s';"
                % (table, user)).strip()
    res.check("dovecot " + how + ": doveadm expunge; %s on the primary: %s" % (table, row),
              r.returncode == 0, r.stdout.strip())
    t_free = mqtest.wait_until(lambda: both(DUNNO) and time.monotonic(),
                               USAGE_TTL + 10, 0.05)
    res.check("dovecot " + how + ": both MX daemons -> DUNNO %.2f s after the expunge" % (
        (t_free - t_exp) if t_free else -1),
        bool(t_free) and t_free - t_exp <= USAGE_TTL + 2.0,
        "answers %r" % ([ask(d, user, size=size)[0] for d in (mx1, mx2)],))
    mqtest.log("dovecot " + how + ": %d messages of %d bytes; 552 on both MX %.2f s after "
               "the last delivery, DUNNO %.2f s after the expunge" % (
                   delivered, size, stale or -1,
                   (t_free - t_exp) if t_free else -1))
    for d in (mx1, mx2):
        d.stop()
    dc.stop()


def pg_primary(res, p, r1, r2, dm, lag_d):
    run = Run(res, dm, "pgsql kill the primary")
    run2 = Run(res, lag_d, "pgsql kill the primary (max_replica_lag)")
    p.kill()
    time.sleep(2.0)
    run.finish(tempfail_ok=False)
    run2.finish(tempfail_ok=False)
    res.check("pgsql: the replicas answered for the dead primary",
              pg_sessions(r1) > 0 and pg_sessions(r2) >= 0,
              "replica1 %d, replica2 %d sessions" % (pg_sessions(r1),
                                                      pg_sessions(r2)))


def postgresql(res, root, base):
    try:
        t0 = time.monotonic()
        p = dbservers.start_postgresql(root)
        mqtest.at_cleanup(p.kill)
        r1, r2 = dbservers.start_postgresql_replicas(p)
    except dbservers.Unavailable as e:
        res.skip("PostgreSQL", str(e))
        return
    mqtest.at_cleanup(r1.kill)
    mqtest.at_cleanup(r2.kill)
    mqtest.log("pgsql: primary and 2 replicas up in %.1f s" % (time.monotonic() - t0))
    p.load_preset("default")
    p.sql("INSERT INTO virtual_users (id, domain_id, email, password, quota, "
          "enabled) VALUES (200, 1, '%s', 'x', 0, TRUE);" % LAG_USER)
    daemons = Daemons(root, p, base)
    hosts = ["127.0.0.1:%d" % s.port for s in (r1, r2, p)]
    try:
        replayed = mqtest.wait_until(lambda: all(replica_value(
            r, "SELECT count(*) FROM virtual_users WHERE id = 200;") == "1"
            for r in (r1, r2)), 30)
        res.check("pgsql: both replicas replayed the schema and the first row",
                  replayed)
        dm = daemons.start("replicas", hosts)
        res.run("pgsql kill", pg_kill, res, p, r1, r2, dm)
        dm.stop()
        lag_d = daemons.start("lag", hosts, max_replica_lag=MAX_LAG)
        nolag_d = daemons.start("nolag", hosts)
        res.run("pgsql lag", pg_lag, res, p, r1, r2, lag_d, nolag_d)
        for how in ("dict", "clone"):
            res.run("dovecot usage (%s)" % how, dovecot_usage, res, root, base,
                    p, r1, r2, daemons, how)
        res.run("pgsql primary", pg_primary, res, p, r1, r2, nolag_d, lag_d)
        daemons.stop(res)
    finally:
        daemons.stop()
        if res.failed:
            daemons.dump_logs()
        for s in (r1, r2, p):
            s.close()


# --- throughput (cluster.py bench; make cluster-bench) -----------------------

BENCH_USERS = 1000
USAGE_QUERY = "SELECT bytes, messages FROM quota_usage WHERE username = '%s'"


def loadgen(addr, rcpt_file, conns, seconds):
    """mq-loadgen against addr: its RESULT line as a dict (None: failed)."""
    import subprocess
    gen = os.path.join(mqtest.BUILDDIR, "tests", "bench", "mq-loadgen")
    r = subprocess.run([gen, "-c", str(conns), "-d", str(seconds), "-w", "200",
                        "-r", rcpt_file, "-s", "1000",
                        "inet:%s:%d" % addr], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=seconds + 60)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), "")
    mqtest.log(r.stdout.strip())
    if r.returncode != 0:
        return None
    out = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    # Every bench user is far below its quota: every answer must be DUNNO.
    out["other_actions"] = sum(
        int(ln.split()[1].split("=", 1)[1]) for ln in r.stdout.splitlines()
        if ln.startswith("ACTION ") and not ln.endswith(" text=DUNNO"))
    return out


def bench(res, root, base, seconds):
    """Requests a second with usage from SQL on a streaming replica."""
    p = dbservers.start_postgresql(root)
    mqtest.at_cleanup(p.kill)
    r1, r2 = dbservers.start_postgresql_replicas(p)
    mqtest.at_cleanup(r1.kill)
    mqtest.at_cleanup(r2.kill)
    daemons = Daemons(root, p, base)
    try:
        p.load_preset("default")
        p.sql("CREATE TABLE quota_usage (username varchar(255) PRIMARY KEY, "
              "bytes bigint NOT NULL, messages integer NOT NULL);")
        users = ["u%04d@example.org" % i for i in range(BENCH_USERS)]
        p.insert("virtual_users", ["id", "domain_id", "email", "password",
                                   "quota", "enabled"],
                 [(1000 + i, 1, u, "x", 10 ** 9, True) for i, u in enumerate(users)])
        p.insert("quota_usage", ["username", "bytes", "messages"],
                 [(u, 1000 * i, i) for i, u in enumerate(users)])
        rcpts = os.path.join(root, "bench-rcpts")
        with open(rcpts, "w") as f:
            f.write("\n".join(users) + "\n")
        mqtest.wait_until(lambda: replica_value(r1, "SELECT count(*) FROM quota_usage;")
                          == str(BENCH_USERS), 30)
        hosts = ["127.0.0.1:%d" % s.port for s in (r1, r2, p)]
        for ttl in (0, 15):
            dm = daemons.start("bench-ttl%d" % ttl, hosts, connections=4,
                               policy={"cache_ttl": ttl, "negative_cache_ttl": ttl},
                               extra={"quota": {"usage": "sql", "usage_ttl": ttl},
                                      "queries": {"usage": USAGE_QUERY}})
            out = loadgen(dm.addr, rcpts, 8, seconds)
            ok = out is not None and out.get("error", "0") == "0" and \
                out["other_actions"] == 0
            res.check("bench: usage from SQL on replica1, cache_ttl = usage_ttl "
                      "= %d: %s requests/s, p50 %s us, p99 %s us" % (
                          ttl, (out or {}).get("rps", "?"),
                          (out or {}).get("p50_us", "?"),
                          (out or {}).get("p99_us", "?")), ok, repr(out))
            dm.stop()
    finally:
        daemons.stop()
        for s in (r1, r2, p):
            s.close()


def main():
    mqtest.require_binary(mqtest.POLICYD)
    res = mqtest.Results()
    root = mqtest.tempdir("mq-cluster-")
    base = os.path.join(root, "vmail")
    os.makedirs(base, mode=0o755)
    only = sys.argv[1:] or ["galera", "postgresql"]
    t0 = time.monotonic()
    if "bench" in only:
        bench(res, root, base, int(os.environ.get("SECONDS_EACH") or "10"))
    if "galera" in only:
        galera(res, root, base)
    if "postgresql" in only:
        postgresql(res, root, base)
    mqtest.log("cluster: %.1f s in all" % (time.monotonic() - t0))
    if res.passed == 0 and res.failed == 0:
        mqtest.skip("neither Galera nor PostgreSQL is installed")
    res.finish()


if __name__ == "__main__":
    main()
