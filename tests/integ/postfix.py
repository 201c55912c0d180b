#!/usr/bin/env python3
"""End to end: a private Postfix smtpd asks mailquota-policyd through
check_policy_service, and SMTP sessions check the reply code and the
enhanced status code of RCPT TO for every quota situation.

One line per case, then "N passed, N failed"; exit 1 on any failure,
77 when Postfix or root is missing (a failure with MQ_REQUIRE_ALL=1).
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

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

REPLIES = {
    "reply_nouser": "550 5.1.1 User unknown",
    "reply_disabled": "550 5.2.1 Mailbox disabled",
    "reply_overquota": "552 5.2.2 Mailbox is full",
    "reply_toolarge": "552 5.2.3 Message larger than the mailbox quota",
    "reply_tempfail": "451 4.3.0 Temporary lookup failure",
}

DOMAINS = ["example.org", "disabled.example", "catchall.example"]

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

# after a SIGHUP with alias_overquota = "any"
ANY_CASES = [
    ("alias, two destinations one full, any", "alias-two@example.org", 1000, FULL),
    ("alias, two rows one full, any", "alias-rows@example.org", 1000, FULL),
    ("alias to an under-quota user, any", "alias-under@example.org", 1000, ACCEPT),
]

# with the daemon stopped, Postfix's default_action (DUNNO) applies
STOPPED_CASES = [
    ("daemon stopped: default_action DUNNO accepts an over-quota user",
     "over@example.org", 1000, ACCEPT),
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


def daemon_config(path, fx, port, alias_overquota, as_root):
    policy = dict(REPLIES)
    policy["alias_overquota"] = alias_overquota
    if as_root:
        # as root the unreadable maildirsize would be readable: drop privileges
        policy["user"] = "nobody"
    return mqtest.write_config(path, fx, listen=["inet:127.0.0.1:%d" % port], policy=policy)


def run_cases(res, smtp, cases, daemon, postfix):
    for name, rcpt, size, (code, enh) in cases:
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


def wait_alias_any(daemon, port):
    """After SIGHUP: wait until the daemon answers with alias_overquota = any."""
    c = mqtest.PolicyClient(("127.0.0.1", port))
    try:
        def changed():
            return c.ask(recipient="alias-two@example.org", size=1000) == REPLIES["reply_overquota"]
        return mqtest.wait_until(changed, 5.0, 0.2)
    finally:
        c.close()


def main():
    why = mqtest.postfix_available()
    if why:
        mqtest.skip(why)
    mqtest.require_binary(mqtest.POLICYD)
    as_root = os.geteuid() == 0

    root = mqtest.tempdir("mq-postfix-")
    fx = mqtest.Fixture(os.path.join(root, "fixture"))
    os.chmod(fx.root, 0o755)
    build_fixture(fx, as_root)
    fx.close()

    port = mqtest.free_port()
    conf = os.path.join(root, "mailquota.conf")
    daemon_config(conf, fx, port, "all", as_root)
    daemon = mqtest.Daemon(conf, ("127.0.0.1", port)).start()

    pf = mqtest.Postfix(os.path.join(root, "postfix"), port, DOMAINS)
    os.makedirs(pf.root, mode=0o755)
    pf.setup().start()

    res = mqtest.Results()
    smtp = mqtest.Smtp("127.0.0.1", pf.port)
    try:
        cases = CASES if as_root else [c for c in CASES if c[1] != "noread@example.org"]
        if not as_root:
            res.skip("maildirsize unreadable", "needs root to drop to another user")
        run_cases(res, smtp, cases, daemon, pf)

        daemon_config(conf, fx, port, "any", as_root)
        daemon.send_signal(signal.SIGHUP)
        if not wait_alias_any(daemon, port):
            res.fail("SIGHUP to alias_overquota = any", "the daemon still answers as with all")
        run_cases(res, smtp, ANY_CASES, daemon, pf)

        rc, took = daemon.stop()
        res.check("daemon stops on SIGTERM", rc == 0 and took < 5.0,
                  "exit %s after %.1fs" % (rc, took))
        run_cases(res, smtp, STOPPED_CASES, daemon, pf)
    finally:
        smtp.quit()
        if res.failed:
            mqtest.log("--- daemon log ---\n" + daemon.stderr())
            mqtest.log("--- postfix maillog (tail) ---\n" + pf.log_tail(60))
    res.finish()


if __name__ == "__main__":
    main()
