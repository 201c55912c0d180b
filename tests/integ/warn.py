#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""warn.py - mailquota-warn against real components.

  a) sendmail and SMTP hand-over through a private Postfix that delivers
     into Maildirs with virtual(8); the delivered files are read back and
     their headers and bodies checked (RFC 2047 subject, quoted-printable,
     dot-stuffing through a real smtpd)
  b) delivery = maildir into a full mailbox: the file is in new/, owned by
     the Maildir's owner, named with ,S=, and maildirsize has the delta
  c) a private Dovecot 2.3: dovecot-lda delivers until 80 % is crossed; its
     quota_warning runs mailquota-warn through a script service: exactly
     one warning arrives (the warning itself goes in through dovecot-lda)
  d) a sweep over 3000 mailboxes killed with SIGKILL part-way and run
     again: every due warning sent, at most one twice, a second sweep
     refused while one runs, a third run sends nothing
  e) sendmail failing (exit 75, exit 1): exit 75 and the state does not
     advance; a dry run changes nothing; then the warning and the
     back-under notice go out

Exit 0 all passed, 1 a failure, 77 a component is missing (a failure
with MQ_REQUIRE_ALL=1).
"""

import collections
import email.utils
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import warnlib as W  # noqa: E402

R = mqtest.Results()
TEMPLATE = os.path.join(mqtest.SRCDIR, "conf", "warning.txt")


def copy_template(root, name="warning.txt", src=TEMPLATE):
    return W.copy_file(root, src, name)


def header_checks(tag, msg, rcpt, percent):
    """header_checks - the RFC 5322/MIME/RFC 3834 headers of a delivered warning."""
    R.check("%s: From" % tag, msg["From"] == "postmaster@example.org", str(msg["From"]))
    R.check("%s: To" % tag, msg["To"] == rcpt, str(msg["To"]))
    R.check("%s: Subject" % tag, ("%d %%" % percent) in str(msg["Subject"]), str(msg["Subject"]))
    try:
        date_ok = email.utils.parsedate_to_datetime(str(msg["Date"])) is not None
    except (TypeError, ValueError):
        date_ok = False
    R.check("%s: Date" % tag, date_ok, str(msg["Date"]))
    R.check("%s: Message-ID" % tag,
            re.fullmatch(r"<[^<>@\s]+@example\.org>", str(msg["Message-ID"])) is not None,
            str(msg["Message-ID"]))
    R.check("%s: Auto-Submitted" % tag, msg["Auto-Submitted"] == "auto-generated")
    R.check("%s: MIME-Version" % tag, msg["MIME-Version"] == "1.0")
    R.check("%s: text/plain UTF-8" % tag, msg.get_content_type() == "text/plain" and
            msg.get_content_charset() == "utf-8", str(msg["Content-Type"]))
    R.check("%s: envelope sender" % tag,
            msg["Return-Path"] in (None, "<postmaster@example.org>"), str(msg["Return-Path"]))


# --- a) sendmail and SMTP through Postfix -----------------------------------

def part_postfix():
    why = mqtest.postfix_available()
    if why:
        R.skip("a) Postfix", why)
        return
    root = mqtest.tempdir("mqwarn-")
    uid, gid = mqtest.nobody()
    fx = mqtest.Fixture(root)
    fx.users([("alice@example.org", 1000000), ("bob@example.org", 1000000)])
    W.filled(fx, "alice@example.org", 1000000, 850000, (uid, gid))
    W.filled(fx, "bob@example.org", 1000000, 970000, (uid, gid))
    pf = mqtest.Postfix(os.path.join(root, "postfix"), None, []).deliver_virtual(
        fx, ["alice@example.org", "bob@example.org"], uid, gid).setup().start()
    wrapper = pf.sendmail_wrapper(os.path.join(root, "sendmail"))

    # sendmail: the default template
    conf = W.warn_config(os.path.join(root, "sm.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": wrapper,
        "template": copy_template(root), "state": os.path.join(root, "sm.state")})
    rc, out, err = W.run_warn(conf, "80", "alice@example.org")
    R.check("a) sendmail: exit 0", rc == 0, err)
    md = fx.maildir_path("alice@example.org")
    got = mqtest.wait_until(lambda: W.warnings_in(md), 20)
    if R.check("a) sendmail: delivered by Postfix", len(got or []) == 1, pf.log_tail()):
        name, raw, msg = got[0]
        header_checks("a) sendmail", msg, "alice@example.org", 85)
        body = msg.get_content()
        R.check("a) sendmail: body figures",
                "alice@example.org is now 85 % full" in body and "830.1 KiB" in body and
                "976.6 KiB" in body, body[:300])
        R.check("a) sendmail: body advice", "Trash" in body and "attachments" in body)
        R.check("a) sendmail: no variable left", "${" not in body)
        R.check("a) sendmail: 7bit", msg["Content-Transfer-Encoding"] == "7bit")
        R.check("a) sendmail: owned by the mailbox's uid",
                os.stat(os.path.join(md, "new", name)).st_uid == uid)

    # SMTP: a UTF-8 subject, a long line (quoted-printable), a leading dot
    long_line = "x" * 1200
    tmpl = os.path.join(root, "utf8.txt")
    mqtest.write(tmpl, "Subject: Ihr Postfach ist zu ${percent} % gef\u00fcllt \u2014 ${user}\n"
            "X-Mailbox-Percent: ${percent}\n\n"
            "Gr\u00fc\u00dfe, ${user}.\n.\n..two dots\n" + long_line + "\n")
    conf = W.warn_config(os.path.join(root, "smtp.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "smtp",
        "smtp": "inet:127.0.0.1:%d" % pf.port, "template": tmpl,
        "state": os.path.join(root, "smtp.state")})
    rc, out, err = W.run_warn(conf, "+95", "bob@example.org")
    R.check("a) smtp: exit 0", rc == 0, err)
    md = fx.maildir_path("bob@example.org")
    got = mqtest.wait_until(lambda: W.warnings_in(md), 20)
    if R.check("a) smtp: delivered by Postfix", len(got or []) == 1, pf.log_tail()):
        name, raw, msg = got[0]
        header_checks("a) smtp", msg, "bob@example.org", 97)
        R.check("a) smtp: RFC 2047 subject decodes",
                str(msg["Subject"]) == "Ihr Postfach ist zu 97 % gef\u00fcllt \u2014 bob@example.org",
                str(msg["Subject"]))
        raw_headers = raw.split(b"\n\n", 1)[0]
        R.check("a) smtp: headers are ASCII", all(b < 0x80 for b in raw_headers))
        R.check("a) smtp: template header", msg["X-Mailbox-Percent"] == "97")
        R.check("a) smtp: quoted-printable for a long line",
                msg["Content-Transfer-Encoding"] == "quoted-printable")
        R.check("a) smtp: every line within 998 octets",
                all(len(l) <= 998 for l in raw.split(b"\n")))
        body = msg.get_content()
        R.check("a) smtp: body survives dot-stuffing and QP",
                body == "Gr\u00fc\u00dfe, bob@example.org.\n.\n..two dots\n" + long_line + "\n",
                repr(body[:120]))
    pf.stop()


# --- b) maildir delivery into a full mailbox ----------------------------------

def part_maildir():
    root = mqtest.tempdir("mqwarn-")
    uid, gid = mqtest.nobody()
    fx = mqtest.Fixture(root)
    fx.users([("carol@example.org", 100000)])
    md = W.filled(fx, "carol@example.org", 100000, 100000, (uid, gid))
    conf = W.warn_config(os.path.join(root, "md.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "maildir",
        "template": copy_template(root), "state": os.path.join(root, "md.state")})
    rc, out, err = W.run_warn(conf, "+100", "carol@example.org")
    R.check("b) maildir: exit 0", rc == 0, err)
    files = os.listdir(os.path.join(md, "new"))
    if not R.check("b) maildir: one file in new/", len(files) == 1, str(files)):
        return
    path = os.path.join(md, "new", files[0])
    st = os.stat(path)
    m = re.search(r",S=(\d+)", files[0])
    R.check("b) maildir: ,S= is the file size", m is not None and int(m.group(1)) == st.st_size,
            "%s vs %d" % (files[0], st.st_size))
    R.check("b) maildir: owned by the Maildir's owner", (st.st_uid, st.st_gid) == (uid, gid))
    R.check("b) maildir: tmp/ is empty", os.listdir(os.path.join(md, "tmp")) == [])
    with open(os.path.join(md, "maildirsize")) as f:
        mds = f.read()
    R.check("b) maildir: maildirsize has the delta",
            mds == "100000S\n100000 100\n%d 1\n" % st.st_size, repr(mds))
    msg = W.messages(md)[0][2]
    header_checks("b) maildir", msg, "carol@example.org", 100)
    # the state remembers it, so a sweep now sends nothing more
    rc, out, err = W.run_warn(conf, "--sweep")
    R.check("b) sweep after the hook: exit 0", rc == 0, err)
    R.check("b) sweep after the hook: nothing more",
            len(os.listdir(os.path.join(md, "new"))) == 1)


# --- c) Dovecot's quota_warning ------------------------------------------------

def part_dovecot():
    why = mqtest.dovecot_available()
    if why:
        R.skip("c) Dovecot", why)
        return
    root = mqtest.tempdir("mqwarn-")
    uid, gid = mqtest.nobody()
    fx = mqtest.Fixture(root)
    limit = 100000
    fx.users([("dave@example.org", limit)])
    md = fx.maildir("dave@example.org", maildirsize=False, owner=(uid, gid))
    state_dir = os.path.join(root, "state")
    os.makedirs(state_dir, 0o755)
    os.chown(state_dir, uid, gid)
    conf = os.path.join(root, "mq.conf")
    dc = mqtest.Dovecot(os.path.join(root, "dovecot"),
                        plugin={"quota_rule": "*:storage=%dB" % limit,
                                "quota_warning": "storage=80%% quota-warning 80 %u"},
                        warn_argv=[W.WARN, "-c", conf], warn_user=uid)
    # the warning goes back in through dovecot-lda, as a site's sendmail would do it
    lda = mqtest.script(os.path.join(root, "sendmail-lda"),
                   'cat > "%s/last-warning.$$"\n'
                   'exec %s -c %s -f "$3" -d "$5" < "%s/last-warning.$$"'
                   % (state_dir, mqtest.DOVECOT_LDA, dc.conf, state_dir))
    W.warn_config(conf, fx, {
        "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": lda,
        "template": copy_template(root), "state": os.path.join(state_dir, "warn.state")})
    dc.setup([("dave@example.org", uid, gid, md, {})]).start()
    body = ("x" * 76 + "\n") * 128
    sent = 0
    for i in range(12):
        msg = ("From: someone@example.net\nTo: dave@example.org\nSubject: filler %d\n"
               "Message-ID: <filler%d@example.net>\n\n%s" % (i, i, body)).encode()
        rc, out = dc.lda("dave@example.org", msg)
        if rc != 0:
            mqtest.log("dovecot-lda: %d %s" % (rc, out))
            break
        sent += 1
        if W.maildirsize_used(md) >= limit * 80 // 100:
            # one more below the limit: no second crossing, no second warning
            msg2 = msg.replace(b"filler %d" % i, b"after").replace(b"<filler", b"<after")
            dc.lda("dave@example.org", msg2)
            break
    got = mqtest.wait_until(lambda: W.warnings_in(md), 20)
    time.sleep(2)           # would a second one come?
    got = W.warnings_in(md)
    R.check("c) dovecot: 80 %% crossed after %d messages" % sent, 5 <= sent < 12)
    if R.check("c) dovecot: exactly one warning arrives", len(got) == 1,
               "%d warnings\n%s" % (len(got), dc.log_tail())):
        s = str(got[0][2]["Subject"])
        R.check("c) dovecot: it says 80-something %", re.search(r"\b(8\d|9\d) %", s) is not None, s)
        R.check("c) dovecot: delivered by dovecot-lda (its ,W= file name)",
                re.search(r",S=\d+,W=\d+", got[0][0]) is not None, got[0][0])
    with open(os.path.join(state_dir, "warn.state")) as f:
        R.check("c) dovecot: the hook recorded it",
                re.search(r"^dave@example\.org 80 sent \d+$", f.read(), re.M) is not None)
    dc.stop()


# --- d) a sweep killed with SIGKILL and run again ------------------------------

def part_sweep_kill():
    root = mqtest.tempdir("mqwarn-")
    fx = mqtest.Fixture(root)
    n = 3000
    rows, due = [], set()
    for i in range(n):
        addr = "u%04d@d%d.example" % (i, i % 3)
        rows.append((addr, 1000000))
    fx.users(rows)
    pattern = {0: 500000, 1: 500000, 2: 700000, 3: 790000, 4: 850000, 5: 800000,
               6: 960000, 7: 990000, 8: 1000000, 9: None}
    for i, (addr, _) in enumerate(rows):
        used = pattern[i % 10]
        if used is None:
            fx.maildir(addr, maildirsize=False)     # counted, empty
        else:
            W.filled(fx, addr, 1000000, used)
        if used is not None and used >= 800000:
            due.add(addr)
    count = os.path.join(root, "count")
    wrapper = mqtest.script(os.path.join(root, "sendmail"),
                       'cat > /dev/null\necho "$5" >> %s' % count)
    state = os.path.join(root, "warn.state")
    conf = W.warn_config(os.path.join(root, "sweep.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": wrapper,
        "template": copy_template(root), "state": state})

    def lines():
        try:
            with open(count) as f:
                return f.read().split()
        except OSError:
            return []

    t0 = time.monotonic()
    proc = mqtest.spawn([W.WARN, "-c", conf, "--sweep"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    mqtest.wait_until(lambda: len(lines()) >= len(due) // 3, 120, 0.01)
    # a second sweep meanwhile is refused
    rc2, out2, err2 = W.run_warn(conf, "--sweep")
    R.check("d) a second sweep is refused while one runs",
            rc2 == 75 and "another sweep" in err2, "%d %s" % (rc2, err2))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)                     # an orphaned wrapper finishes its append
    at_kill = len(lines())
    R.check("d) killed part-way (%d of %d sent)" % (at_kill, len(due)), 0 < at_kill < len(due))
    rc, out, err = W.run_warn(conf, "--sweep", timeout=300)
    took = time.monotonic() - t0
    R.check("d) the re-run: exit 0", rc == 0, err[-2000:])
    c = collections.Counter(lines())
    missing = due - set(c)
    extra = set(c) - due
    twice = [a for a, k in c.items() if k == 2]
    more = [a for a, k in c.items() if k > 2]
    R.check("d) every due warning sent (%d)" % len(due), not missing, str(sorted(missing)[:5]))
    R.check("d) none for mailboxes under 80 %", not extra, str(sorted(extra)[:5]))
    R.check("d) at most one duplicate (%d)" % len(twice), len(twice) <= 1 and not more,
            str(twice[:5] + more[:5]))
    print("     d) %d mailboxes, %d warnings, %.1f s for both runs" % (n, len(due), took),
          flush=True)
    before = len(lines())
    rc, out, err = W.run_warn(conf, "--sweep", timeout=300)
    R.check("d) a third sweep sends nothing", rc == 0 and len(lines()) == before,
            "%d, %d -> %d" % (rc, before, len(lines())))
    with open(state) as f:
        live = [l for l in f.read().splitlines() if l and not l.startswith("#")]
    # compacted: one mark per covered threshold, no journal lines left
    want = sum({850000: 1, 800000: 1, 960000: 2, 990000: 2, 1000000: 3}.get(pattern[i % 10], 0)
               for i in range(n))
    R.check("d) the state is compacted (%d marks)" % len(live),
            len(live) == want and all(" sent " in l for l in live), "want %d" % want)


# --- e) sendmail failing -------------------------------------------------------

def part_failing():
    root = mqtest.tempdir("mqwarn-")
    fx = mqtest.Fixture(root)
    fx.users([("erin@example.org", 1000), ("j\u00fcrgen@example.org", 1000)])
    md = W.filled(fx, "erin@example.org", 1000, 900)
    W.filled(fx, "j\u00fcrgen@example.org", 1000, 900)   # due, but not a plain address
    state = os.path.join(root, "warn.state")
    count = os.path.join(root, "count")
    fail75 = mqtest.script(os.path.join(root, "sm75"), "cat > /dev/null\nexit 75")
    fail1 = mqtest.script(os.path.join(root, "sm1"), "exit 1")
    good = mqtest.script(os.path.join(root, "smok"),
                    'cat > %s/last\necho "$5" >> %s' % (root, count))
    tmpl = copy_template(root)

    def conf_with(sendmail):
        return W.warn_config(os.path.join(root, "e.conf"), fx, {
            "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": sendmail,
            "template": tmpl, "state": state})

    def sent_marks():
        """sent_marks - erin's thresholds marked sent, the records replayed in order."""
        marks = W.state_marks(state, "erin@example.org")
        return sorted((k for k, v in marks.items() if v == "sent"), key=lambda k: int(k))

    rc, out, err = W.run_warn(conf_with(fail75), "80", "erin@example.org")
    R.check("e) hook, sendmail exits 75: exit 75", rc == 75, err)
    R.check("e) hook: state not advanced", sent_marks() == [], str(sent_marks()))
    rc, out, err = W.run_warn(conf_with(fail1), "80", "erin@example.org")
    R.check("e) hook, sendmail exits 1: exit 75", rc == 75, err)
    rc, out, err = W.run_warn(conf_with(fail75), "--sweep")
    R.check("e) sweep, sendmail exits 75: exit 75", rc == 75, err)
    R.check("e) sweep: state not advanced", sent_marks() == [], str(sent_marks()))
    rc, out, err = W.run_warn(conf_with(fail1), "--sweep")
    R.check("e) sweep, sendmail exits 1: exit 75", rc == 75 and sent_marks() == [], err)

    size = os.path.getsize(state)
    rc, out, err = W.run_warn(conf_with(good), "--sweep", "--dry-run")
    R.check("e) dry run: says what it would send",
            rc == 0 and "erin@example.org: would send the warning for 80 %" in out, out + err)
    R.check("e) dry run: sends and records nothing",
            not os.path.exists(count) and os.path.getsize(state) == size)

    rc, out, err = W.run_warn(conf_with(good), "--sweep")
    R.check("e) then the warning goes out", rc == 0 and os.path.exists(count) and
            open(count).read() == "erin@example.org\n", err)
    R.check("e) a mailbox whose warning cannot be composed is reported, not retried as "
            "a transport failure", "cannot send: user=j??rgen@example.org" in err, err)
    R.check("e) and is recorded", sent_marks() == ["80"], str(sent_marks()))

    # back under: with warning-below.txt beside the template, the notice goes once
    copy_template(root, "warning-below.txt", os.path.join(mqtest.SRCDIR, "conf", "warning-below.txt"))
    mqtest.write(os.path.join(md, "maildirsize"), "1000S\n1000 2\n", 0o600)
    rc, out, err = W.run_warn(conf_with(good), "--sweep")
    R.check("e) full: the 100 % warning", rc == 0 and open(count).read().count("erin") == 2, err)
    mqtest.write(os.path.join(md, "maildirsize"), "1000S\n100 1\n", 0o600)
    rc, out, err = W.run_warn(conf_with(good), "--sweep")
    with open(os.path.join(root, "last")) as f:
        last = f.read()
    R.check("e) back under: the notice", rc == 0 and open(count).read().count("erin") == 3 and
            "room again" in last, err)
    rc, out, err = W.run_warn(conf_with(good), "--sweep")
    R.check("e) the notice goes once", rc == 0 and open(count).read().count("erin") == 3, err)
    R.check("e) everything re-armed at 10 %", sent_marks() == [], str(sent_marks()))

    # hook mode's downward forms, as Dovecot 2.3 (-100) and 2.4 (below) pass them
    mqtest.write(os.path.join(md, "maildirsize"), "1000S\n1000 2\n", 0o600)
    rc, out, err = W.run_warn(conf_with(good), "+100", "erin@example.org")
    R.check("e) hook +100", rc == 0 and sent_marks() == ["80", "95", "100"],
            "%d %s %s" % (rc, sent_marks(), err))
    mqtest.write(os.path.join(md, "maildirsize"), "1000S\n800 1\n", 0o600)
    for arg in ("-100", "below"):
        before = open(count).read().count("erin")
        rc, out, err = W.run_warn(conf_with(good), arg, "erin@example.org", "example.org")
        with open(os.path.join(root, "last")) as f:
            last = f.read()
        R.check("e) hook %s: the back-under notice" % arg,
                rc == 0 and open(count).read().count("erin") == before + 1 and
                "room again" in last, "%d %s" % (rc, err))
    R.check("e) hook -100 re-armed 100 and 95, not 80 (hysteresis)", sent_marks() == ["80"],
            str(sent_marks()))
    rc, out, err = W.run_warn(conf_with(good), "BELOW", "erin@example.org")
    R.check("e) hook: a bad PERCENT is a usage error", rc == 64, str(rc))


def main():
    W.run_parts((part_postfix, part_maildir, part_dovecot, part_sweep_kill,
                 part_failing), R)


if __name__ == "__main__":
    sys.exit(main())
