#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Recipients that are not ours, odd recipients, IDN domains and the stored
row, each through a real Postfix smtpd asking mailquota-policyd.

The policy service comes first in smtpd_recipient_restrictions, before
permit_mynetworks and reject_unauth_destination, as for a submission
service: every recipient reaches the daemon (the client is in
mynetworks, so what the daemon lets pass is accepted), and a 5xx can only
be the daemon's. What the daemon sees is what this Postfix passes in
recipient=: the quoted local part unquoted, 8-bit and SMTPUTF8 bytes as
sent (smtputf8_enable = yes, MAIL FROM ... SMTPUTF8), up to the 2038
address bytes that line_length_limit (2048) leaves in RCPT TO.

- not ours: no domain, a domain that is not hosted, an address that does
  not parse -> accepted (reply_success, logged via=notours or notlocal);
  an address in a hosted domain that resolves to nothing -> 550 5.1.1;
- odd recipients (a 1000-byte and a 2026-byte local part, every RFC 5322
  special quoted, 8-bit and control bytes): a clear answer, the daemon
  still running;
- IDN: a domain stored as a U-label reached by its A-label and the
  reverse, in any case;
- the stored row: on a private MariaDB with utf8mb4's default collation,
  bób@example.org matches the row of bob@example.org; the daemon reads
  bob's Maildir and answers 552 for a full mailbox.

Postfix is also the oracle of which recipients are unknown: a second
smtpd of the same instance, without the policy service, runs Postfix's
own smtpd_reject_unlisted_recipient against sqlite: tables holding the
tutorial's queries over the same database. For every case outside the
IDN ones, the daemon answers reply_nouser exactly when that smtpd
answers 550 5.1.1 "User unknown in virtual mailbox table". (Postfix does
not equate the two IDNA forms of a domain; the daemon's IDN rule is an
extension, so those cases only print Postfix's answer.)

One line per check, then "N passed, N failed"; exit 77 when Postfix or
root is missing (a failure with MQ_REQUIRE_ALL=1; a missing MariaDB is a
skipped check, a failure under it too).
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import dbservers  # noqa: E402

QUOTA = 1024 * 1024
ACCEPT = (250, "2.1.5")
FULL = (552, "5.2.2")
NOUSER = (550, "5.1.1")

# example.org as is, bücher.example stored as a U-label, münchen.example
# stored as an A-label.
U_DOMAIN = "b\u00fccher.example"
A_DOMAIN = "xn--mnchen-3ya.example"
DOMAINS = ["example.org", U_DOMAIN, A_DOMAIN]

SPECIALS = b'"()<>[]:;@\\\\,.\\"x"'      # every RFC 5322 special, quoted

# (name, RCPT TO argument as bytes, expected (code, enhanced), logged via or None)
CASES = [
    ("hosted mailbox over quota", b"full@example.org", FULL, "mailbox"),
    ("hosted mailbox under quota", b"under@example.org", ACCEPT, "mailbox"),
    ("hosted domain, no such user", b"nosuch@example.org", NOUSER, "nouser"),
    ("no domain: MAILER-DAEMON is not ours", b"MAILER-DAEMON", ACCEPT, "notours"),
    ("no domain: abuse is not ours", b"abuse", ACCEPT, "notours"),
    ("domain not hosted", b"friend@remote.test", ACCEPT, "notlocal"),
    ('quoted local part in a remote domain ("john doe"@)',
     b'"john doe"@remote.test', ACCEPT, "notlocal"),
    ('quoted local part in a hosted domain, no such user',
     b'"john doe"@example.org', NOUSER, "nouser"),
    ("every RFC 5322 special quoted, remote domain",
     b"<" + SPECIALS + b"@remote.test>", ACCEPT, "notlocal"),
    ("every RFC 5322 special quoted, hosted domain",
     b"<" + SPECIALS + b"@example.org>", NOUSER, "nouser"),
    ("quoted control byte: not an address, passes",
     b'"a\x01b"@example.org', ACCEPT, "notours"),
    ("quoted DEL: not an address, passes", b'"a\x7fb"@example.org', ACCEPT, "notours"),
    ("1000-byte local part, hosted domain", b"a" * 1000 + b"@example.org", NOUSER, "nouser"),
    ("1000-byte local part, remote domain", b"a" * 1000 + b"@remote.test", ACCEPT, "notlocal"),
    ("2026-byte local part (Postfix's longest), hosted domain",
     b"a" * 2026 + b"@example.org", NOUSER, "nouser"),
    ("UTF-8 local part, hosted domain, no such user",
     "b\u00f3b@example.org".encode(), NOUSER, "nouser"),
    ("UTF-8 local part, remote domain", "b\u00f3b@remote.test".encode(), ACCEPT, "notlocal"),
    ("address literal", b'"a b"@[127.0.0.1]', ACCEPT, "notlocal"),
    ("trailing dot of the domain dropped, as trivial-rewrite does",
     b"full@example.org.", FULL, "mailbox"),
    ("source route dropped by smtpd", b"@relay.example:full@example.org", FULL, "mailbox"),
    ("IDN: U-label stored, A-label typed", b"full@xn--bcher-kva.example", FULL, "mailbox"),
    ("IDN: U-label stored, A-label typed in capitals",
     b"FULL@XN--BCHER-KVA.EXAMPLE", FULL, "mailbox"),
    ("IDN: U-label stored, U-label typed", ("full@" + U_DOMAIN).encode(), FULL, "mailbox"),
    ("IDN: U-label stored, U-label typed in capitals (UTF-8 case folded)",
     "full@B\u00dcCHER.example".encode(), FULL, "mailbox"),
    ("IDN: U-label stored, A-label typed, under quota",
     b"under@xn--bcher-kva.example", ACCEPT, "mailbox"),
    ("IDN: U-label stored, A-label typed, no such user",
     b"nosuch@xn--bcher-kva.example", NOUSER, "nouser"),
    ("IDN: A-label stored, U-label typed",
     "full@m\u00fcnchen.example".encode(), FULL, "mailbox"),
    ("IDN: A-label stored, U-label typed in capitals",
     "full@M\u00dcNCHEN.example".encode(), FULL, "mailbox"),
    ("IDN: A-label stored, U-label typed, no such user",
     "nosuch@m\u00fcnchen.example".encode(), NOUSER, "nouser"),
    ("IDN: an A-label that is not IDNA", b"full@xn--zz.example", ACCEPT, "notlocal"),
]

# On MariaDB (utf8mb4, its default collation): the row is bob@example.org.
MARIADB_CASES = [
    ("stored row: bob over quota", b"bob@example.org", FULL, "mailbox"),
    ("stored row: b\u00f3b@ matches bob's row, bob's Maildir decides",
     "b\u00f3b@example.org".encode(), FULL, "mailbox"),
    ("stored row: B\u00d3B@ matches too", "B\u00d3B@example.org".encode(), FULL, "mailbox"),
    ("stored row: no such user", b"nosuch@example.org", NOUSER, "nouser"),
]


# Cases whose Postfix verdict is only printed: the IDN rule goes beyond
# Postfix, and a control byte is not an address to the daemon (it passes)
# while Postfix looks it up and finds no such user.
NO_ORACLE = ("IDN:", "quoted control byte", "quoted DEL")

# Postfix's own lookups (sqlite_table(5)) over the fixture, as the tutorial
# configures virtual_mailbox_domains and virtual_mailbox_maps.
PF_DOMAINS_CF = "SELECT name FROM virtual_domains WHERE name = '%s' AND enabled = 1"
PF_USERS_CF = "SELECT email FROM virtual_users WHERE email = '%s' AND enabled = 1"


def postfix_maps(root, db):
    """sqlite: map files for Postfix over the fixture database."""
    paths = []
    for name, query in (("domains", PF_DOMAINS_CF), ("users", PF_USERS_CF)):
        path = os.path.join(root, "%s.cf" % name)
        with open(path, "w") as f:
            f.write("dbpath = %s\nquery = %s\n" % (db, query))
        os.chmod(path, 0o644)
        paths.append("sqlite:" + path)
    return paths


# What smtpd passes in recipient= (as the decision line logs it): quoted
# local parts unquoted, the source route gone, the trailing dot kept.
LOGGED = {
    b'"john doe"@remote.test': "john doe@remote.test",
    b'"john doe"@example.org': "john doe@example.org",
    b"<" + SPECIALS + b"@example.org>": '()<>[]:;@\\,."x@example.org',
    b"@relay.example:full@example.org": "full@example.org",
    b"full@example.org.": "full@example.org.",
}


def build_fixture(fx):
    for d in DOMAINS:
        fx.domain(d)
    for dom in DOMAINS:
        for local, used in (("full", 1100000), ("under", 1000)):
            fx.user("%s@%s" % (local, dom), quota=QUOTA)
            fx.maildir("%s@%s" % (local, dom), limit_bytes=QUOTA, usage=[(used, 10)])
    fx.commit()


def start_mariadb(root, fx, res):
    """A private MariaDB with bob@example.org (full) in the tutorial schema,
    or None (a skipped check)."""
    try:
        srv = dbservers.start_mariadb(root)
    except dbservers.Unavailable as e:
        res.skip("MariaDB checks", str(e))
        return None
    mqtest.at_cleanup(srv.close)
    srv.load_preset("default", fixture=False)
    srv.insert("virtual_domains", ["id", "name", "enabled"], [(1, "example.org", True)])
    srv.insert("virtual_users", ["id", "domain_id", "email", "password", "quota", "enabled"],
               [(1, 1, "bob@example.org", "x", QUOTA, True)])
    # bob's Maildir is full; no Maildir for any other spelling
    fx.maildir("bob@example.org", limit_bytes=QUOTA, usage=[(1100000, 10)])
    # the premise: the server itself matches the accented spelling to bob
    got = srv.sql("SELECT email FROM virtual_users WHERE email = 'b\u00f3b@example.org';")
    res.check("MariaDB's default utf8mb4 collation matches b\u00f3b@ to bob's row",
              got.strip() == "bob@example.org", "SELECT gave %r" % got.strip())
    return srv


def add_listener(pf, policy_port, restrictions, extra=""):
    """One more smtpd on its own port with its own restrictions."""
    port = mqtest.free_port()
    with open(os.path.join(pf.confdir, "master.cf"), "a") as f:
        # -o values cannot hold blanks: commas separate the restrictions
        f.write("127.0.0.1:%d inet n - n - - smtpd\n"
                "  -o smtpd_recipient_restrictions=%s\n%s"
                % (port, restrictions(policy_port).replace(", ", ",").replace(" ", ","),
                   extra))
    return port


def restrictions(port):
    return ("check_policy_service inet:127.0.0.1:%d, permit_mynetworks, "
            "reject_unauth_destination" % port)


def rcpt_reply(smtp, rcpt):
    """rcpt_reply - RSET, MAIL FROM with SMTPUTF8, RCPT TO: the reply."""
    smtp.rset()
    mcode, _, mtext = smtp.cmd("MAIL FROM:<s@example.net> SMTPUTF8")
    if mcode != 250:
        raise AssertionError("MAIL FROM: %d %s" % (mcode, mtext))
    return smtp.cmd_bytes(b"RCPT TO:<" + rcpt + b">" if not rcpt.startswith(b"<")
                          else b"RCPT TO:" + rcpt)


def run_cases(res, daemon, smtp, cases, label, oracle=None):
    """Each case through the daemon's smtpd; with oracle (an Smtp on the
    smtpd without the policy service), Postfix's own unknown-user verdict
    is compared with the daemon's."""
    for name, rcpt, (code, enh), via in cases:
        name = "[%s] %s" % (label, name)
        mark = daemon.mark()
        try:
            got = rcpt_reply(smtp, rcpt)
            own = rcpt_reply(oracle, rcpt) if oracle is not None else None
        except Exception as e:
            res.fail(name, "%s: %s" % (type(e).__name__, e))
            smtp.connect()
            continue
        shown = rcpt if len(rcpt) < 60 else rcpt[:40] + b"...(%d bytes)" % len(rcpt)
        what = "RCPT TO:<%s> -> %d %s" % (shown.decode("utf-8", "replace"), got[0],
                                          got[2][:60])
        errs = []
        if (got[0], got[1]) != (code, enh):
            errs.append("expected %d %s" % (code, enh))
        if own is not None:
            unknown = own[0] == 550 and "User unknown" in own[2]
            # the harness's transports are error:, so Postfix alone refuses
            # every remote address too; only "User unknown" is the oracle
            what += "; Postfix alone: %d %s" % (own[0], own[2].split("rejected: ")[-1][:45])
            if not name.split("] ", 1)[1].startswith(NO_ORACLE) and \
                    unknown != (got[:2] == NOUSER):
                errs.append("Postfix alone %s it unknown, the daemon %s"
                            % ("finds" if unknown else "does not find",
                               "does" if got[:2] == NOUSER else "does not"))
        if via is not None:
            line = daemon.wait_log(r" via=", mark, 3.0)
            v = dict(mqtest.parse_decision(line) or []) if line else {}
            if v.get("via") != via:
                errs.append("logged via=%s, expected %s" % (v.get("via"), via))
            if rcpt in LOGGED and v.get("recipient") != LOGGED[rcpt]:
                errs.append("Postfix passed recipient=%r, expected %r"
                            % (v.get("recipient"), LOGGED[rcpt]))
            if len(rcpt) > 256 and not v.get("recipient", "").endswith(
                    "...[len=%d]" % len(rcpt)):
                errs.append("long recipient logged as %.80r" % v.get("recipient"))
        if errs:
            res.fail(name, what + "; " + "; ".join(errs))
        else:
            res.ok(name, what)
    res.check("[%s] the daemon still runs" % label, daemon.running(),
              "pid %d" % daemon.pid() if daemon.running() else "it exited")


def main():
    why = mqtest.postfix_available()
    if why:
        mqtest.skip(why)
    mqtest.require_binary(mqtest.POLICYD)
    res = mqtest.Results()

    root = mqtest.tempdir("mq-recipients-")
    fx = mqtest.Fixture(os.path.join(root, "fixture"))
    os.chmod(fx.root, 0o755)
    build_fixture(fx)
    srv = start_mariadb(root, fx, res)
    fx.close()

    port = mqtest.free_port()
    conf = mqtest.write_config(os.path.join(root, "sqlite.conf"), fx,
                               listen=["inet:127.0.0.1:%d" % port],
                               policy=dict(mqtest.REPLIES))
    daemon = mqtest.Daemon(conf, ("127.0.0.1", port)).start()
    mdaemon = None
    if srv is not None:
        mport = mqtest.free_port()
        mconf = mqtest.write_config(
            os.path.join(root, "mysql.conf"), None, listen=["inet:127.0.0.1:%d" % mport],
            policy=dict(mqtest.REPLIES), maildir={"base": fx.base},
            database=srv.database_keys("tcp"))
        mdaemon = mqtest.Daemon(mconf, ("127.0.0.1", mport)).start()

    vdomains, vusers = postfix_maps(root, fx.db)
    pf = mqtest.Postfix(os.path.join(root, "postfix"), port, DOMAINS, extra_main={
        "smtputf8_enable": "yes",
        "smtpd_recipient_restrictions": restrictions(port),
        "virtual_mailbox_domains": vdomains,
        "virtual_mailbox_maps": vusers,
    })
    os.makedirs(pf.root, mode=0o755)
    pf.setup()
    mport_smtp = add_listener(pf, mport, restrictions) if mdaemon else None
    # Postfix alone: no policy service, its own unknown-user check
    oracle_port = add_listener(pf, None, lambda _: "permit_mynetworks, reject_unauth_destination",
                               extra="  -o smtpd_reject_unlisted_recipient=yes\n")
    pf.start()

    smtp = mqtest.Smtp("127.0.0.1", pf.port)
    if not mqtest.wait_until(lambda: mqtest.listening(oracle_port), 10.0):
        res.fail("[postfix alone] smtpd listener", "nothing on port %d" % oracle_port)
    oracle = mqtest.Smtp("127.0.0.1", oracle_port)
    try:
        res.run("[sqlite]", run_cases, res, daemon, smtp, CASES, "sqlite", oracle)
        # Postfix itself accepts a bare postmaster (RFC 5321) without
        # asking the policy service: nothing for the daemon to decide.
        mark = daemon.mark()
        smtp.rset()
        smtp.cmd("MAIL FROM:<s@example.net>")
        got = smtp.rcpt("postmaster")
        res.check("[sqlite] bare postmaster accepted by Postfix without a policy request",
                  got[0] == 250 and daemon.wait_log(r"recipient=postmaster", mark, 1.0) is None,
                  "%d %s" % (got[0], got[2]))
        if mdaemon is not None:
            if not mqtest.wait_until(lambda: mqtest.listening(mport_smtp), 10.0):
                res.fail("[mysql] smtpd listener", "nothing on port %d" % mport_smtp)
            else:
                msmtp = mqtest.Smtp("127.0.0.1", mport_smtp)
                try:
                    res.run("[mysql]", run_cases, res, mdaemon, msmtp, MARIADB_CASES,
                            "mysql")
                finally:
                    msmtp.quit()
    finally:
        smtp.quit()
        oracle.quit()
        if res.failed:
            for label, d in (("sqlite", daemon), ("mysql", mdaemon)):
                if d is not None:
                    mqtest.log("--- daemon log [%s] ---\n%s" % (label, d.stderr()))
            mqtest.log("--- postfix maillog (tail) ---\n" + pf.log_tail(40))
    res.finish()


if __name__ == "__main__":
    main()
