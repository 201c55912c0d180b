#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End to end: a private Postfix smtpd asks mailquota-policyd through
check_policy_service, and SMTP sessions check the reply code and the
enhanced status code of RCPT TO for every quota situation.

The same case list runs against every database backend: SQLite, and a
private MariaDB and PostgreSQL (tests/integ/dbservers.py) holding the same
rows, copied from the SQLite fixture. PostfixAdmin's schema has a fixture
and case list of its own (maildir column, active flags, alias domains,
backup-MX domains, quota2 usage), run on MariaDB and PostgreSQL. Every
target has its own daemon; one Postfix instance serves them all, with one
smtpd listener per target whose check_policy_service points at that
target's daemon. The Maildirs are shared: the daemons only read them.

One line per case, then "N passed, N failed"; exit 1 on any failure,
77 when Postfix or root is missing (a failure with MQ_REQUIRE_ALL=1; a
missing database server is a skipped target, a failure under it too).
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import dbservers  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
QUOTA = 1 * MIB

ACCEPT = (250, "2.1.5")
FULL = (552, "5.2.2")
TOOLARGE = (552, "5.2.3")
NOUSER = (550, "5.1.1")
DISABLED = (550, "5.2.1")
TEMPFAIL = (451, "4.3.0")

REPLIES = mqtest.REPLIES

DOMAINS = ["example.org", "disabled.example", "catchall.example"]
PFA_DOMAINS = ["pfa.example", "pfa-off.example", "pfa-alias.example",
               "pfa-oldalias.example", "pfa-backup.example", "pfa-catch.example"]

# (case name, recipient, SIZE or None, expected (code, enhanced code))
CASES = [
    ("under quota", "under@example.org", 1000, ACCEPT),
    ("at quota", "at@example.org", 1, FULL),
    ("at quota, no SIZE", "at@example.org", None, FULL),
    ("over quota", "over@example.org", 1000, FULL),
    ("SIZE fits", "near@example.org", 500, ACCEPT),
    ("SIZE exactly fills", "near@example.org", 576, ACCEPT),
    ("SIZE pushes over", "near@example.org", 577, FULL),
    ("SIZE exceeds the whole quota", "under@example.org", QUOTA + 1, TOOLARGE),
    ("unlimited", "unlimited@example.org", 5000000, ACCEPT),
    ("5 GiB quota, 3 GiB used", "big@example.org", 1000000, ACCEPT),
    ("5 GiB quota, 500 bytes left, SIZE fills", "bigfull@example.org", 500, ACCEPT),
    ("5 GiB quota, 500 bytes left, SIZE over", "bigfull@example.org", 501, FULL),
    ("message count full", "msgfull@example.org", 100, FULL),
    ("message count one left", "msgok@example.org", 100, ACCEPT),
    ("unknown user", "nosuch@example.org", 1000, NOUSER),
    ("disabled user", "disabled@example.org", 1000, DISABLED),
    ("user in a disabled domain", "user@disabled.example", 1000, DISABLED),
    ("alias to an under-quota user", "alias-under@example.org", 1000, ACCEPT),
    ("alias to an over-quota user", "alias-over@example.org", 1000, FULL),
    ("alias, two destinations one full, all", "alias-two@example.org", 1000, ACCEPT),
    ("alias, two rows one full, all", "alias-rows@example.org", 1000, ACCEPT),
    ("alias chain to an over-quota user", "chain@example.org", 1000, FULL),
    ("alias to a remote address", "alias-remote@example.org", 1000, ACCEPT),
    ("catch-all to an over-quota user", "anybody@catchall.example", 1000, FULL),
    ("mailbox beats the catch-all", "real@catchall.example", 1000, ACCEPT),
    ("+ext of an over-quota user", "over+tag@example.org", 1000, FULL),
    ("+ext of an under-quota user", "under+tag@example.org", 1000, ACCEPT),
    ("mixed case, over quota", "OvEr@Example.ORG", 1000, FULL),
    ("mixed case, under quota", "Under@EXAMPLE.org", 1000, ACCEPT),
    ("maildirsize missing, recount over", "recount@example.org", 1000, FULL),
    ("maildirsize missing, recount under", "recount-under@example.org", 1000, ACCEPT),
    ("maildirsize corrupt, recount over", "corrupt@example.org", 1000, FULL),
    ("maildirsize 5120 bytes or more, recount over", "toobig@example.org", 1000, FULL),
    ("maildirsize stale (several lines, over), recount under", "stale@example.org", 1000, ACCEPT),
    ("maildirsize stale (older than 15 min, over), recount under", "old@example.org", 1000, ACCEPT),
    ("Maildir missing", "nodir@example.org", 1000, ACCEPT),
    ("maildirsize unreadable", "noread@example.org", 1000, TEMPFAIL),
]

# PostfixAdmin's schema (see build_pfa), quota.usage = "both".
PFA_CASES = [
    ("under quota", "under@pfa.example", 1000, ACCEPT),
    ("over quota", "full@pfa.example", 1000, FULL),
    ("SIZE exceeds the whole quota", "under@pfa.example", QUOTA + 1, TOOLARGE),
    ("the maildir column decides, not maildir.path", "moved@pfa.example", 1000, FULL),
    ("unlimited (quota 0)", "unlimited@pfa.example", 5000000, ACCEPT),
    ("inactive mailbox", "off@pfa.example", 1000, DISABLED),
    # Postfix accepts it (and bounces it at delivery); so must the daemon
    ("inactive mailbox, its self-alias left active", "offself@pfa.example", 1000, ACCEPT),
    ("mailbox in an inactive domain", "user@pfa-off.example", 1000, DISABLED),
    ("unknown user", "nosuch@pfa.example", 1000, NOUSER),
    ("alias to an over-quota mailbox", "to-full@pfa.example", 1000, FULL),
    ("alias to an under-quota mailbox", "to-under@pfa.example", 1000, ACCEPT),
    ("inactive alias", "off-alias@pfa.example", 1000, NOUSER),
    ("alias, two destinations one full, all", "two@pfa.example", 1000, ACCEPT),
    ("alias to a remote address", "forward@pfa.example", 1000, ACCEPT),
    ("catch-all to an over-quota mailbox", "anybody@pfa-catch.example", 1000, FULL),
    ("mailbox beats the catch-all", "real@pfa-catch.example", 1000, ACCEPT),
    ("alias domain, over-quota mailbox", "full@pfa-alias.example", 1000, FULL),
    ("alias domain, under-quota mailbox", "under@pfa-alias.example", 1000, ACCEPT),
    ("alias domain, unknown user", "nosuch@pfa-alias.example", 1000, NOUSER),
    ("inactive alias domain", "full@pfa-oldalias.example", 1000, NOUSER),
    ("backup-MX domain is not local (its catch-all is not used)",
     "anyone@pfa-backup.example", 1000, ACCEPT),
    ("quota2 full, maildirsize under (usage = both)", "sqlfull@pfa.example", 1000, FULL),
    ("quota2 under, maildirsize under (usage = both)", "sqlunder@pfa.example", 1000, ACCEPT),
    ("+ext of an over-quota mailbox", "full+tag@pfa.example", 1000, FULL),
    ("mixed case, under quota", "Under@PFA.Example", 1000, ACCEPT),
]

# after a SIGHUP with alias_overquota = "any"
ANY_CASES = [
    ("alias, two destinations one full, any", "alias-two@example.org", 1000, FULL),
    ("alias, two rows one full, any", "alias-rows@example.org", 1000, FULL),
    ("alias to an under-quota user, any", "alias-under@example.org", 1000, ACCEPT),
]

PFA_ANY_CASES = [
    ("alias, two destinations one full, any", "two@pfa.example", 1000, FULL),
    ("alias to an under-quota mailbox, any", "to-under@pfa.example", 1000, ACCEPT),
]

# with the daemon stopped, Postfix's default_action (DUNNO) applies
STOPPED_CASES = [
    ("daemon stopped: default_action DUNNO accepts an over-quota user",
     "over@example.org", 1000, ACCEPT),
]
PFA_STOPPED_CASES = [
    ("daemon stopped: default_action DUNNO accepts an over-quota user",
     "full@pfa.example", 1000, ACCEPT),
]


def build_fixture(fx, as_root):
    for d in DOMAINS:
        fx.domain(d, enabled=(d != "disabled.example"))
    hundred_k = [100000] * 11           # 1100000 bytes: over a 1 MiB quota

    def user(email, quota=QUOTA, enabled=True, **md):
        fx.user(email, quota=quota, enabled=enabled)
        if md.get("nodir"):
            return
        md.setdefault("limit_bytes", quota)
        fx.maildir(email, **md)

    user("under@example.org", usage=[(500000, 50)])
    user("at@example.org", usage=[(QUOTA, 100)])
    user("over@example.org", usage=[(1100000, 110)])
    user("near@example.org", usage=[(QUOTA - 576, 90)])
    user("unlimited@example.org", quota=0, usage=[(50 * GIB, 500000)])
    user("big@example.org", quota=5 * GIB, usage=[(3 * GIB, 3000)])
    user("bigfull@example.org", quota=5 * GIB, usage=[(5 * GIB - 500, 5000)])
    user("msgfull@example.org", limit_messages=10, usage=[(1000, 10)])
    user("msgok@example.org", limit_messages=10, usage=[(1000, 9)])
    user("disabled@example.org", enabled=False, usage=[(1000, 1)])
    user("user@disabled.example", usage=[(1000, 1)])
    user("real@catchall.example", usage=[(1000, 1)])
    user("recount@example.org", maildirsize=False, files=hundred_k)
    user("recount-under@example.org", maildirsize=False, files=[1000, 2000, 3000])
    user("corrupt@example.org", raw="1048576S\nthis is not a usage line\n", files=hundred_k)
    user("toobig@example.org", raw="1048576S\n" + "1 0\n" * 1400, files=hundred_k)
    user("stale@example.org", usage=[(600000, 6), (600000, 6)], files=[100000, 100000])
    user("old@example.org", usage=[(1200000, 12)], files=[100000, 100000], age=20 * 60)
    user("nodir@example.org", nodir=True)
    user("noread@example.org", usage=[(1000, 1)])
    if as_root:
        os.chmod(os.path.join(fx.maildir_path("noread@example.org"), "maildirsize"), 0)

    fx.alias("alias-under@example.org", "under@example.org")
    fx.alias("alias-over@example.org", "over@example.org")
    fx.alias("alias-two@example.org", "under@example.org, over@example.org")
    fx.alias("alias-rows@example.org", "under@example.org")
    fx.alias("alias-rows@example.org", "over@example.org")
    fx.alias("chain@example.org", "chain-mid@example.org")
    fx.alias("chain-mid@example.org", "over@example.org")
    fx.alias("alias-remote@example.org", "friend@remote.test")
    fx.alias("@catchall.example", "over@example.org")
    fx.commit()


# --- PostfixAdmin: rows and Maildirs --------------------------------------

PFA_DOMAIN_COLS = ["domain", "description", "transport", "backupmx", "active"]
PFA_DOMAIN_ROWS = [
    ("pfa.example", "", "virtual", False, True),
    ("pfa-off.example", "switched off", "virtual", False, False),
    ("pfa-alias.example", "alias of pfa.example", "virtual", False, True),
    ("pfa-oldalias.example", "a former alias domain", "virtual", False, True),
    ("pfa-backup.example", "backup MX only", "relay:[mx.pfa-backup.example]", True, True),
    ("pfa-catch.example", "", "virtual", False, True),
]
PFA_MAILBOX_COLS = ["username", "password", "name", "maildir", "quota",
                    "local_part", "domain", "active"]
# (address, maildir column, quota, active, Maildir contents for fx.maildir)
PFA_MAILBOXES = [
    ("under@pfa.example", "pfa.example/u-under/", QUOTA, True, {"usage": [(500000, 50)]}),
    ("full@pfa.example", "pfa.example/u-full/", QUOTA, True, {"usage": [(1100000, 110)]}),
    ("moved@pfa.example", "pfa.example/u-moved/", QUOTA, True, {"usage": [(QUOTA, 100)]}),
    ("unlimited@pfa.example", "pfa.example/u-unlimited/", 0, True,
     {"usage": [(50 * GIB, 500000)]}),
    ("off@pfa.example", "pfa.example/u-off/", QUOTA, False, {"usage": [(1000, 1)]}),
    ("offself@pfa.example", "pfa.example/u-offself/", QUOTA, False, {"usage": [(1000, 1)]}),
    ("user@pfa-off.example", "pfa-off.example/u-user/", QUOTA, True, {"usage": [(1000, 1)]}),
    ("sqlfull@pfa.example", "pfa.example/u-sqlfull/", QUOTA, True, {"usage": [(1000, 1)]}),
    ("sqlunder@pfa.example", "pfa.example/u-sqlunder/", QUOTA, True, {"usage": [(1000, 1)]}),
    ("real@pfa-catch.example", "pfa-catch.example/u-real/", QUOTA, True, {"usage": [(1000, 1)]}),
]
PFA_ALIAS_COLS = ["address", "goto", "domain", "active"]
# Inactive mailboxes whose self-alias was left active (PostfixAdmin itself
# deactivates both): Postfix's alias map still knows the address.
PFA_SELF_ALIAS_LEFT_ACTIVE = {"offself@pfa.example"}
PFA_ALIASES = [
    ("to-full@pfa.example", "full@pfa.example", True),
    ("to-under@pfa.example", "under@pfa.example", True),
    ("off-alias@pfa.example", "under@pfa.example", False),
    ("two@pfa.example", "under@pfa.example,full@pfa.example", True),
    ("forward@pfa.example", "friend@remote.test", True),
    ("@pfa-catch.example", "full@pfa.example", True),
    # never asked: the domain is a backup MX, so nothing in it is local
    ("@pfa-backup.example", "full@pfa.example", True),
]
PFA_ALIAS_DOMAINS = [
    ("pfa-alias.example", "pfa.example", True),
    ("pfa-oldalias.example", "pfa.example", False),
]
# Dovecot's dict quota: sqlfull is full by SQL only; sqlunder under by both.
PFA_QUOTA2 = [
    ("sqlfull@pfa.example", QUOTA, 100),
    ("sqlunder@pfa.example", 100, 1),
]


def build_pfa_maildirs(fx):
    """The Maildirs the maildir column points at (base/pfa.example/u-NAME)."""
    for addr, column, quota, _, md in PFA_MAILBOXES:
        dom, sub = column.strip("/").split("/")
        md = dict(md)
        md.setdefault("limit_bytes", quota)
        fx.maildir("%s@%s" % (sub, dom), **md)
    # moved@ at maildir.path's %d/%u is nearly empty: only if the column
    # were ignored would it be read.
    fx.maildir("moved@pfa.example", limit_bytes=QUOTA, usage=[(1000, 1)])


def load_pfa(srv, database):
    """PostfixAdmin's tables and the rows of the case list above."""
    srv.load_preset("postfixadmin", fixture=False, database=database)
    srv.insert("domain", PFA_DOMAIN_COLS, PFA_DOMAIN_ROWS, database)
    srv.insert("mailbox", PFA_MAILBOX_COLS, [
        (a, "x", a.split("@")[0], column, quota, a.split("@")[0],
         a.split("@")[1], active)
        for a, column, quota, active, _ in PFA_MAILBOXES], database)
    # PostfixAdmin keeps an alias row address -> itself for every mailbox,
    # active as the mailbox is (an active self-alias of an inactive mailbox
    # makes Postfix accept the address and bounce it later; so does the daemon).
    self_rows = [(a, a, a.split("@")[1], active or a in PFA_SELF_ALIAS_LEFT_ACTIVE)
                 for a, _, _, active, _ in PFA_MAILBOXES]
    srv.insert("alias", PFA_ALIAS_COLS, self_rows + [
        (a, goto, a.split("@")[1], active) for a, goto, active in PFA_ALIASES],
        database)
    srv.insert("alias_domain", ["alias_domain", "target_domain", "active"],
               PFA_ALIAS_DOMAINS, database)
    srv.insert("quota2", ["username", "bytes", "messages"], PFA_QUOTA2, database)


def load_default(srv, database, sqlite_path):
    """The tutorial schema with every row of the SQLite fixture."""
    srv.load_preset("default", fixture=False, database=database)
    src = sqlite3.connect(sqlite_path)
    try:
        for table, cols in (
                ("virtual_domains", ["id", "name", "enabled"]),
                ("virtual_users", ["id", "domain_id", "email", "password",
                                   "quota", "enabled"]),
                ("virtual_aliases", ["id", "domain_id", "source",
                                     "destination", "enabled"])):
            rows = src.execute("SELECT %s FROM %s ORDER BY id" % (
                ", ".join(cols), table)).fetchall()
            # SQLite's 1/0 flags are booleans on the servers.
            flag = cols.index("enabled")
            srv.insert(table, cols, [
                r[:flag] + (bool(r[flag]),) + r[flag + 1:] for r in rows],
                database)
    finally:
        src.close()


# --- targets: one daemon and one smtpd listener each ----------------------

class Target:
    """One backend and preset: its daemon, config and smtpd port."""

    def __init__(self, label, preset, database, root):
        self.label = label              # "sqlite", "mysql/default", ...
        self.preset = preset
        self.database = database        # the database {} keys
        self.conf = os.path.join(root, "mailquota-%s.conf" % label.replace("/", "-"))
        self.port = mqtest.free_port()
        self.smtp_port = None           # set when Postfix is configured
        self.daemon = None
        self.cases = CASES if preset == "default" else PFA_CASES
        self.any_cases = ANY_CASES if preset == "default" else PFA_ANY_CASES
        self.stopped_cases = STOPPED_CASES if preset == "default" else PFA_STOPPED_CASES
        self.any_probe = "alias-two@example.org" if preset == "default" else "two@pfa.example"

    def write_config(self, fx, alias_overquota, as_root):
        policy = dict(REPLIES)
        policy["alias_overquota"] = alias_overquota
        if as_root:
            # as root the unreadable maildirsize would be readable: drop privileges
            policy["user"] = "nobody"
        extra = {"schema": self.preset}
        quota = {"usage": "both"} if self.preset == "postfixadmin" else None
        return mqtest.write_config(self.conf, None, listen=["inet:127.0.0.1:%d" % self.port],
                                   policy=policy, database=self.database,
                                   maildir={"base": fx.base}, quota=quota, extra=extra)


def server_database(srv, name):
    """The database {} keys reaching srv over TCP."""
    return dict(srv.database_keys("tcp", name), connections=4)


def start_servers(root, fx):
    """MariaDB and PostgreSQL, started side by side, each loaded with both
    fixtures. Returns {name: (srv, None) or (None, why)}."""
    out = {}

    def one(name, start):
        try:
            srv = start(root)
        except dbservers.Unavailable as e:
            out[name] = (None, str(e))
            return
        except Exception as e:
            out[name] = (None, "%s: %s" % (type(e).__name__, e))
            return
        mqtest.at_cleanup(srv.close)
        try:
            srv.create_database("mq_default")
            load_default(srv, "mq_default", fx.db)
            srv.create_database("mq_pfa")
            load_pfa(srv, "mq_pfa")
            out[name] = (srv, None)
        except Exception as e:
            out[name] = (None, "loading the fixtures: %s: %s" % (type(e).__name__, e))

    threads = [threading.Thread(target=one, args=(n, f)) for n, f in (
        ("MariaDB", dbservers.start_mariadb),
        ("PostgreSQL", dbservers.start_postgresql))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def driver_missing(target):
    """Why the daemon cannot use the target's driver, or None."""
    r = subprocess.run([mqtest.POLICYD, "-t", "-c", target.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode("utf-8", "replace")
    if "not compiled in" in out or "unknown driver" in out.lower():
        return "mailquota-policyd built without the %s driver" % target.database["driver"]
    # -t names the Maildir made unreadable on purpose (noread@): that alone
    # is not a failure of the set-up
    other = [ln for ln in out.splitlines()
             if ln.strip() and "warning:" not in ln and "/noread/" not in ln and
             not re.search(r"cannot read 1 of \d+ Maildir", ln)]
    if r.returncode != 0 and (other or "/noread/maildirsize" not in out):
        raise AssertionError("%s: mailquota-policyd -t failed:\n%s" % (target.label, out))
    return None


def add_listeners(pf, targets):
    """One more smtpd per target after the first, each asking its own daemon
    with the same timeout and default action as the main one."""
    targets[0].smtp_port = pf.port
    with open(os.path.join(pf.confdir, "master.cf"), "a") as f:
        for t in targets[1:]:
            t.smtp_port = mqtest.free_port()
            # -o values cannot hold blanks: commas separate the restrictions
            f.write("127.0.0.1:%d inet n - n - - smtpd\n"
                    "  -o smtpd_recipient_restrictions=reject_unauth_destination,"
                    "check_policy_service,inet:127.0.0.1:%d\n"
                    "  -o smtpd_policy_service_timeout=%s\n"
                    "  -o smtpd_policy_service_default_action=%s\n"
                    % (t.smtp_port, t.port, pf.policy_timeout, pf.default_action))


def run_cases(res, smtp, cases, label):
    for name, rcpt, size, (code, enh) in cases:
        name = "[%s] %s" % (label, name)
        try:
            smtp.rset()
            mcode, menh, mtext = smtp.mail(size=size)
            if mcode != 250:
                res.fail(name, "MAIL FROM SIZE=%s: %d %s" % (size, mcode, mtext))
                continue
            got = smtp.rcpt(rcpt)
        except Exception as e:
            res.fail(name, "%s: %s" % (type(e).__name__, e))
            smtp.connect()
            continue
        what = "RCPT TO:<%s> SIZE=%s -> %d %s" % (rcpt, size, got[0], got[2])
        if (got[0], got[1]) == (code, enh):
            res.ok(name, what)
        else:
            res.fail(name, "%s; expected %d %s" % (what, code, enh))


def wait_alias_any(target):
    """After SIGHUP: wait until the daemon answers with alias_overquota = any."""
    c = mqtest.PolicyClient(("127.0.0.1", target.port))
    try:
        def changed():
            return c.ask(recipient=target.any_probe, size=1000) == REPLIES["reply_overquota"]
        return mqtest.wait_until(changed, 5.0, 0.2)
    finally:
        c.close()


def run_target(res, t, fx, pf, as_root):
    """Every case of one target through its smtpd listener."""
    smtp = mqtest.Smtp("127.0.0.1", t.smtp_port)
    try:
        cases = t.cases
        if not as_root:
            cases = [c for c in cases if c[1] != "noread@example.org"]
            if t.preset == "default":
                res.skip("[%s] maildirsize unreadable" % t.label,
                         "needs root to drop to another user")
        mark = t.daemon.mark()
        run_cases(res, smtp, cases, t.label)
        if t.preset == "postfixadmin":
            # not local: decided without looking for any mailbox or alias
            line = t.daemon.wait_log(r"recipient=anyone@pfa-backup\.example ", mark, 2.0)
            res.check("[%s] backup-MX domain logged via=notlocal" % t.label,
                      line is not None and " via=notlocal " in line, line or "no log line")

        t.write_config(fx, "any", as_root)
        t.daemon.send_signal(signal.SIGHUP)
        if not wait_alias_any(t):
            res.fail("[%s] SIGHUP to alias_overquota = any" % t.label,
                     "the daemon still answers as with all")
        run_cases(res, smtp, t.any_cases, t.label)

        rc, took = t.daemon.stop()
        res.check("[%s] daemon stops on SIGTERM" % t.label, rc == 0 and took < 5.0,
                  "exit %s after %.1fs" % (rc, took))
        run_cases(res, smtp, t.stopped_cases, t.label)
    finally:
        smtp.quit()


def main():
    why = mqtest.postfix_available()
    if why:
        mqtest.skip(why)
    mqtest.require_binary(mqtest.POLICYD)
    as_root = os.geteuid() == 0
    res = mqtest.Results()

    root = mqtest.tempdir("mq-postfix-")
    fx = mqtest.Fixture(os.path.join(root, "fixture"))
    os.chmod(fx.root, 0o755)
    build_fixture(fx, as_root)
    build_pfa_maildirs(fx)
    fx.close()

    targets = [Target("sqlite", "default", {"driver": "sqlite", "path": fx.db}, root)]
    servers = start_servers(root, fx)
    for name in ("MariaDB", "PostgreSQL"):
        srv, why = servers[name]
        if srv is None:
            res.skip("%s targets" % name, why)
            continue
        targets.append(Target(srv.driver + "/default", "default",
                              server_database(srv, "mq_default"), root))
        targets.append(Target(srv.driver + "/postfixadmin", "postfixadmin",
                              server_database(srv, "mq_pfa"), root))
    ready = []
    for t in targets:
        t.write_config(fx, "all", as_root)
        missing = driver_missing(t)
        if missing:
            res.skip("[%s]" % t.label, missing)
            continue
        ready.append(t)
    targets = ready
    for t in targets:
        t.daemon = mqtest.Daemon(t.conf, ("127.0.0.1", t.port)).start()

    pf = mqtest.Postfix(os.path.join(root, "postfix"), targets[0].port,
                        DOMAINS + PFA_DOMAINS)
    os.makedirs(pf.root, mode=0o755)
    pf.setup()
    add_listeners(pf, targets)
    pf.start()
    for t in targets[1:]:
        if not mqtest.wait_until(lambda: mqtest.listening(t.smtp_port), 10.0):
            res.fail("[%s] smtpd listener" % t.label, "nothing on port %d" % t.smtp_port)

    try:
        for t in targets:
            res.run("[%s]" % t.label, run_target, res, t, fx, pf, as_root)
    finally:
        if res.failed:
            for t in targets:
                mqtest.log("--- daemon log [%s] ---\n%s" % (t.label, t.daemon.stderr()))
            mqtest.log("--- postfix maillog (tail) ---\n" + pf.log_tail(60))
    res.finish()


if __name__ == "__main__":
    main()
