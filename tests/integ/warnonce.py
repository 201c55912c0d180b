#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""warnonce.py - every user warned exactly once, against real components.

  f) the story the units, the postinst and docs/dovecot.md tell: a private
     Dovecot 2.3 runs mailquota-warn as its quota-warning script service
     (as nobody, extra_groups = the state directory's group), the sweep
     runs as the shipped unit's User= with its UMask=, the state directory
     is set up as the postinst does (group-owned, mode 2770) and holds a
     lock file an older version left as root's, mode 0600. dovecot-lda
     delivers until 80 % is crossed: one mail for the crossing, and the
     sweeps after it send nothing. Then the hook loses access to the state
     and 95 % is crossed: the warning is sent once, left in the Maildir,
     and the next sweep records it without sending it again.
  g) a real private Postfix whose policy service is a real
     mailquota-policyd: 12 full mailboxes first in the users query, then
     18 due ones. delivery = smtp: the 12 are refused (552 5.2.2) and
     recorded as refused, all 18 are handed over, the sweep exits 0; a
     second sweep sends nothing. warn.full_fallback = "maildir": the 12
     get the warning in their Maildir. delivery = sendmail with a sendmail
     that exits 67 (EX_NOUSER) for the full ones: the same counts.
  h) a Maildir path of 420 bytes: the warning lands in it, whole; a path
     over 4095 bytes is refused with "maildir path too long".
  i) mailquota-warn --digest through a private Postfix delivering with
     virtual(8): each domain's administrator (postmaster@example.org by
     warn.digest_to; for example.net the address queries.digest_to finds
     in the database) gets one mail listing its mailboxes at or over the
     threshold, fullest first; a second run within warn.digest_interval
     sends nothing; once the interval is over, the next one goes.

Exit 0 all passed, 1 a failure, 77 a component is missing (a failure
with MQ_REQUIRE_ALL=1).
"""

import grp
import os
import pwd
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402
import warnlib as W  # noqa: E402

R = mqtest.Results()
TEMPLATE = os.path.join(mqtest.SRCDIR, "conf", "warning.txt")
DIGEST = os.path.join(mqtest.SRCDIR, "conf", "digest.txt")
SWEEP_UNIT = os.path.join(mqtest.SRCDIR, "conf", "mailquota-warn-sweep.service.in")


def unit_service(path):
    """unit_service - the [Service] keys of a unit file: {key: last value}."""
    keys, sect = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sect = line
                continue
            if sect == "[Service]":
                k, _, v = line.partition("=")
                keys[k.strip()] = v.strip()
    return keys


def hooks_running():
    """hooks_running - whether a mailquota-warn started by Dovecot's script
    service is still running (pgrep exits 1 when none is)."""
    return subprocess.run(["pgrep", "-f", "mailquota-warn .*[0-9]+ "],
                          stdout=subprocess.DEVNULL).returncode == 0


def run_as_unit(argv, unit, timeout=120):
    """run_as_unit - argv as the unit's User=/Group= with its UMask=: (rc, out, err)."""
    user = unit.get("User", "root") or "root"
    umask = int(unit.get("UMask", "0022"), 8)
    pw = pwd.getpwnam(user)
    group = unit.get("Group")
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid

    def become():
        os.umask(umask)
        if pw.pw_uid != 0:
            os.initgroups(user, gid)
            os.setgid(gid)
            os.setuid(pw.pw_uid)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       preexec_fn=become)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


# --- f) the hook as Dovecot runs it, the sweep as the unit runs it ----------

def part_story():
    why = mqtest.dovecot_available()
    if why:
        R.skip("f) Dovecot", why)
        return
    unit = unit_service(SWEEP_UNIT)
    user = unit.get("User", "root") or "root"
    try:
        pwd.getpwnam(user)
    except KeyError:
        R.skip("f) the sweep unit", "its User=%s does not exist here" % user)
        return
    # the postinst's group is mailquota; where the package is not installed
    # the mail group stands in: a group the hook's user is not in by itself
    group = "mailquota"
    try:
        ggid = grp.getgrnam(group).gr_gid
    except KeyError:
        group = "mail"
        ggid = grp.getgrnam(group).gr_gid
    root = mqtest.tempdir("mqwarn-")
    os.chmod(root, 0o755)
    uid, gid = mqtest.nobody()
    fx = mqtest.Fixture(root)
    limit = 100000
    fx.users([("dave@example.org", limit)])
    md = fx.maildir("dave@example.org", maildirsize=False, owner=(uid, gid))
    # as the postinst makes /var/lib/mailquota/warn: its group, mode 2770
    state_dir = os.path.join(root, "lib-warn")
    os.makedirs(state_dir)
    os.chown(state_dir, 0, ggid)
    os.chmod(state_dir, 0o2770)
    state = os.path.join(state_dir, "warn.state")
    # what an older sweep left: the lock as root's, mode 0600
    old = os.open(state + ".lock", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(old)
    spool = os.path.join(root, "spool")
    os.makedirs(spool)
    os.chmod(spool, 0o1777)
    conf = os.path.join(root, "mq.conf")
    dc = mqtest.Dovecot(os.path.join(root, "dovecot"),
                        plugin={"quota_rule": "*:storage=%dB" % limit,
                                "quota_warning": "storage=95%% quota-warning 95 %u",
                                "quota_warning2": "storage=80%% quota-warning 80 %u"},
                        warn_argv=[W.WARN, "-c", conf], warn_user=uid, warn_groups=group)
    # the warning goes back in through dovecot-lda, as a site's sendmail would
    lda = mqtest.script(os.path.join(root, "sendmail-lda"),
                   'f=$(mktemp %s/w.XXXXXX)\ncat > "$f"\n'
                   'exec %s -c %s -f "$3" -d "$5" < "$f"' % (spool, mqtest.DOVECOT_LDA, dc.conf))
    W.warn_config(conf, fx, {
        "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": lda,
        "thresholds": [80, 95], "template": W.copy_file(root, TEMPLATE, "warning.txt"),
        "state": state})
    dc.setup([("dave@example.org", uid, gid, md, {})]).start()
    sweep = [W.WARN, "-c", conf, "--sweep"]

    rc, out, err = run_as_unit(sweep, unit)
    R.check("f) a sweep as the unit's user (%s, UMask=%s) on an empty mailbox: exit 0"
            % (user, unit.get("UMask", "-")), rc == 0, err)
    for name in ("warn.state", "warn.state.lock"):
        st = os.stat(os.path.join(state_dir, name))
        R.check("f) %s: the directory's group, mode 0660 (umask and user notwithstanding)"
                % name, st.st_gid == ggid and (st.st_mode & 0o7777) == 0o660,
                "gid %d mode %o" % (st.st_gid, st.st_mode & 0o7777))

    seq = [0]

    def fill_to(percent):
        """fill_to - dovecot-lda delivers until usage is at least percent %: large
        messages first, small ones near the mark, so the warning still fits."""
        target = limit * percent // 100
        while W.maildirsize_used(md) < target and seq[0] < 60:
            seq[0] += 1
            lines = 128 if W.maildirsize_used(md) < target - 12000 else 12
            msg = ("From: someone@example.net\nTo: dave@example.org\nSubject: filler %d\n"
                   "Message-ID: <filler%d@example.net>\n\n%s"
                   % (seq[0], seq[0], ("x" * 76 + "\n") * lines)).encode()
            rc, out = dc.lda("dave@example.org", msg)
            if rc != 0:
                mqtest.log("dovecot-lda: %d %s" % (rc, out))
                return False
        return True

    R.check("f) dovecot-lda fills the mailbox to 80 %", fill_to(80))
    mqtest.wait_until(lambda: W.warnings_in(md), 20)
    # The warning is in the Maildir once handed over; the hook then still
    # records "sent" under the state's lock. Let it finish first.
    mqtest.wait_until(lambda: not hooks_running(), 20)
    for _ in range(2):
        rc, out, err = run_as_unit(sweep, unit)
        R.check("f) a sweep after the hook: exit 0", rc == 0, err)
    time.sleep(1)
    got = W.warnings_in(md)
    print("     f) mails for the 80 %% crossing: %d" % len(got), flush=True)
    R.check("f) one crossing, one mail (hook as nobody, two sweeps as %s)" % user,
            len(got) == 1, "%d mails\n%s" % (len(got), dc.log_tail()))
    R.check("f) the hook recorded it in the state", W.state_marks(state, "dave@example.org")
            .get("80") == "sent", str(W.state_marks(state, "dave@example.org")))
    R.check("f) the hook's log has no 'state not recorded'",
            "state not recorded" not in open(dc.log, errors="replace").read(), dc.log_tail())

    # the hook cannot record at all: the directory is closed to its group
    os.chmod(state_dir, 0o2700)
    try:
        R.check("f) dovecot-lda fills the mailbox to 95 %", fill_to(95))
        pending = os.path.join(md, "mailquota-warn.pending")
        mqtest.wait_until(lambda: len(W.warnings_in(md)) >= 2 and os.path.exists(pending), 20)
        R.check("f) the unrecorded hook left its record in the Maildir",
                os.path.exists(pending), dc.log_tail())
        rc, out, err = run_as_unit(sweep, unit)
        R.check("f) the sweep after it: exit 0", rc == 0, err)
        rc, out, err = run_as_unit(sweep, unit)
    finally:
        os.chmod(state_dir, 0o2770)
    time.sleep(1)
    got = W.warnings_in(md)
    print("     f) mails for two crossings (80 %%, then 95 %% unrecordable): %d" % len(got),
          flush=True)
    R.check("f) unrecordable: sent once, not again by the sweeps", len(got) == 2,
            "%d mails\n%s" % (len(got), dc.log_tail()))
    R.check("f) the sweep took the record over",
            W.state_marks(state, "dave@example.org").get("95") == "sent" and
            not os.path.exists(os.path.join(md, "mailquota-warn.pending")),
            str(W.state_marks(state, "dave@example.org")))
    dc.stop()


# --- g) refusals by a real Postfix and mailquota-policyd ----------------------

def postfix_sent(pf, prefix):
    """postfix_sent - recipients Postfix logged as delivered (discarded here)."""
    try:
        with open(pf.maillog, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    return re.findall(r"to=<(%s\d+@example\.org)>.*status=sent" % prefix, text)


def part_refusals():
    why = mqtest.postfix_available()
    if why:
        R.skip("g) Postfix", why)
        return
    root = mqtest.tempdir("mqwarn-")
    os.chmod(root, 0o755)
    fx = mqtest.Fixture(os.path.join(root, "fx"))
    fx.domain("example.org")
    full = ["full%02d@example.org" % i for i in range(12)]
    due = ["due%02d@example.org" % i for i in range(18)]
    for a in full:                      # first in the users query
        fx.user(a, quota=100000)
        fx.maildir(a, limit_bytes=100000, usage=[(100000, 10)])
    for a in due:
        fx.user(a, quota=100000)
        fx.maildir(a, limit_bytes=100000, usage=[(85000, 10)])
    fx.commit()
    pport = mqtest.free_port()
    pf = mqtest.Postfix(os.path.join(root, "pf"), pport, ["example.org"]).setup()
    tmpl = W.copy_file(root, TEMPLATE, "warning.txt")

    def conf(name, **warn):
        keys = {"from": "postmaster@example.org", "delivery": "smtp",
                "smtp": "inet:127.0.0.1:%d" % pf.port, "template": tmpl,
                "state": os.path.join(root, name + ".state")}
        keys.update(warn)
        return mqtest.write_config(os.path.join(root, name + ".conf"), fx,
                                   listen=("inet:127.0.0.1:%d" % pport,),
                                   extra={"warn": keys})
    c = conf("smtp")
    d = mqtest.Daemon(c, addr=("127.0.0.1", pport)).start()
    pf.start()
    rc, out, err = W.run_warn(c, "--sweep", timeout=120)
    R.check("g) smtp: the sweep goes on past 12 refusals: exit 0", rc == 0, err[-1500:])
    mqtest.wait_until(lambda: len(set(postfix_sent(pf, "due"))) >= 18, 30)
    warned = set(postfix_sent(pf, "due"))
    print("     g) smtp: %d of 18 due mailboxes warned after 12 refusals" % len(warned),
          flush=True)
    R.check("g) smtp: all 18 due mailboxes warned", warned == set(due),
            str(sorted(set(due) - warned)[:5]))
    R.check("g) smtp: each refusal logged with Postfix's reply",
            len(re.findall(r"refused: user=full\d+@example\.org .*552 5\.2\.2", err)) == 12,
            err[-1500:])
    marks = [W.state_marks(os.path.join(root, "smtp.state"), a).get("100") for a in full]
    R.check("g) smtp: the 12 are marked refused in the state", marks == ["refused"] * 12,
            str(marks))
    R.check("g) smtp: no full mailbox got mail", postfix_sent(pf, "full") == [])
    before = len(postfix_sent(pf, "due"))
    rc, out, err = W.run_warn(c, "--sweep", timeout=120)
    time.sleep(1)
    R.check("g) smtp: a second sweep sends and tries nothing",
            rc == 0 and len(postfix_sent(pf, "due")) == before and "refused:" not in err,
            "%d %s" % (rc, err[-800:]))

    # sendmail: EX_NOUSER for the full ones (before the fallback fills them)
    log_ = os.path.join(root, "sm.log")
    sm = mqtest.script(os.path.join(root, "sendmail"),
                  'cat > /dev/null\ncase "$5" in full*) exit 67;; esac\necho "$5" >> %s' % log_)
    c = conf("sendmail", delivery="sendmail", sendmail=sm)
    rc, out, err = W.run_warn(c, "--sweep", timeout=120)
    with open(log_) as f:
        got = f.read().split()
    print("     g) sendmail: %d of 18 due mailboxes warned after 12 exits 67" % len(got),
          flush=True)
    R.check("g) sendmail: exit 67 is a refusal, the sweep goes on: exit 0, 18 warned",
            rc == 0 and sorted(got) == due, "%d %s %s" % (rc, got[:3], err[-800:]))
    R.check("g) sendmail: refusals marked",
            [W.state_marks(os.path.join(root, "sendmail.state"), a).get("100") for a in full]
            == ["refused"] * 12)
    # the fallback: a warning refused as full is dropped into the Maildir
    c = conf("fallback", full_fallback="maildir")
    rc, out, err = W.run_warn(c, "--sweep", timeout=120)
    dropped = [a for a in full if len(W.warnings_in(fx.maildir_path(a))) == 1]
    print("     g) full_fallback = maildir: %d of 12 refused warnings dropped into the "
          "Maildir" % len(dropped), flush=True)
    R.check("g) fallback: exit 0", rc == 0, err[-1500:])
    R.check("g) fallback: the 12 full mailboxes have the warning in new/", len(dropped) == 12,
            str(sorted(set(full) - set(dropped))[:5]))
    if dropped:
        msg = W.warnings_in(fx.maildir_path(dropped[0]))[0][2]
        R.check("g) fallback: it is the 100 % warning, to the mailbox",
                msg["To"] == dropped[0] and "100 %" in str(msg["Subject"]), str(msg["Subject"]))
    mqtest.wait_until(lambda: len(postfix_sent(pf, "due")) >= before + 18, 30)
    R.check("g) fallback: the 18 due ones went by SMTP again (a new state)",
            len(postfix_sent(pf, "due")) == before + 18, str(len(postfix_sent(pf, "due"))))
    pf.stop()
    d.stop()

    # a transport failure still stops it: sendmail exiting 75 for everyone
    sm75 = mqtest.script(os.path.join(root, "sm75"), "cat > /dev/null\nexit 75")
    c = conf("down", delivery="sendmail", sendmail=sm75)
    rc, out, err = W.run_warn(c, "--sweep", timeout=120)
    R.check("g) a transport failure still stops the sweep after 10: exit 75",
            rc == 75 and "failed in a row: stopping" in err, "%d %s" % (rc, err[-500:]))


# --- h) a long Maildir path -----------------------------------------------------

def part_long_path():
    root = mqtest.tempdir("mqwarn-")
    fx = mqtest.Fixture(root)
    fx.users([("erin@example.org", 100000)])
    middle = "l" * 200 + "/" + "m" * 200
    md = os.path.join(fx.base, "example.org", middle, "erin")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), 0o700)
    mqtest.write(os.path.join(md, "maildirsize"), "100000S\n90000 9\n", 0o600)
    state = os.path.join(root, "warn.state")
    conf = W.warn_config(os.path.join(root, "long.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "maildir",
        "template": W.copy_file(root, TEMPLATE, "warning.txt"), "state": state},
        maildir_path="%d/" + middle + "/%u")
    rel = len(os.path.relpath(md, fx.base))
    rc, out, err = W.run_warn(conf, "80", "erin@example.org")
    got = W.warnings_in(md)
    R.check("h) a %d-byte Maildir path: the warning lands in it" % rel,
            rc == 0 and len(got) == 1, "%d %s" % (rc, err))
    R.check("h) nothing delivered into a cut path",
            not os.path.exists(os.path.join(fx.base, "example.org", "l" * 200, "m" * 40)))
    too_long = "%d/" + "/".join(["x" * 250] * 17) + "/%u"
    conf = W.warn_config(os.path.join(root, "toolong.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "maildir",
        "template": W.copy_file(root, TEMPLATE, "warning.txt"), "state": state},
        maildir_path=too_long)
    rc, out, err = W.run_warn(conf, "80", "erin@example.org")
    R.check("h) a path over 4095 bytes: refused clearly (hook)",
            rc == 75 and "maildir path too long" in err, "%d %s" % (rc, err))
    rc, out, err = W.run_warn(conf, "--sweep")
    R.check("h) ... and by the sweep", rc == 75 and "maildir path too long" in err,
            "%d %s" % (rc, err))


# --- i) the administrators' digest ----------------------------------------------

def part_digest():
    why = mqtest.postfix_available()
    if why:
        R.skip("i) Postfix", why)
        return
    root = mqtest.tempdir("mqwarn-")
    uid, gid = mqtest.nobody()
    fx = mqtest.Fixture(root)
    boxes = {"alice@example.org": 970000, "bob@example.org": 850000,
             "carol@example.org": 500000, "dan@example.net": 1000000,
             "postmaster@example.org": 100000, "postmaster@example.net": 100000}
    fx.users([(a, 1000000) for a in boxes])
    for a, used in boxes.items():
        W.filled(fx, a, 1000000, used, (uid, gid))
    # example.net names its administrator in the database; example.org does not
    fx.sql("CREATE TABLE domain_admins (domain TEXT, admin TEXT)")
    fx.sql("INSERT INTO domain_admins VALUES ('example.net', 'dan@example.net')")
    pf = mqtest.Postfix(os.path.join(root, "postfix"), None, []).deliver_virtual(
        fx, list(boxes), uid, gid).setup().start()
    wrapper = pf.sendmail_wrapper(os.path.join(root, "sendmail"))
    state = os.path.join(root, "warn.state")
    conf = W.warn_config(os.path.join(root, "digest.conf"), fx, {
        "from": "postmaster@example.org", "delivery": "sendmail", "sendmail": wrapper,
        "template": W.copy_file(root, TEMPLATE, "warning.txt"),
        "digest_template": W.copy_file(root, DIGEST, "digest.txt"), "state": state},
        queries={"digest_to": "SELECT admin FROM domain_admins WHERE domain = '%d'"})
    org = fx.maildir_path("postmaster@example.org")
    net = fx.maildir_path("dan@example.net")

    rc, out, err = W.run_warn(conf, "--digest", "--dry-run")
    R.check("i) dry run: one line per domain, nothing sent",
            rc == 0 and "example.org: would send the digest of 2 mailboxes" in out and
            "example.net: would send the digest of 1 mailboxes" in out and
            not W.warnings_in(org), out + err)
    R.check("i) dry run: its summary counts the 2 digests as due",
            "2 digests due" in err, err)
    rc, out, err = W.run_warn(conf, "--digest")
    R.check("i) --digest: exit 0", rc == 0, err)
    mqtest.wait_until(lambda: W.warnings_in(org) and W.warnings_in(net), 20)
    time.sleep(1)
    got_org, got_net = W.warnings_in(org), W.warnings_in(net)
    print("     i) digests: %d to postmaster@example.org, %d to dan@example.net"
          % (len(got_org), len(got_net)), flush=True)
    R.check("i) postmaster@example.net (the query named another) got none",
            W.warnings_in(fx.maildir_path("postmaster@example.net")) == [])
    if R.check("i) one digest for each domain's administrator (digest_to, the query)",
               len(got_org) == 1 and len(got_net) == 1, pf.log_tail()):
        msg = got_org[0][2]
        body = msg.get_content()
        R.check("i) subject", str(msg["Subject"]) == "example.org: 2 mailboxes at or over 80 %",
                str(msg["Subject"]))
        lines = [l.split() for l in body.splitlines() if "@example.org" in l]
        R.check("i) lists the mailboxes at or over 80 %, fullest first",
                [l[0] for l in lines] == ["alice@example.org", "bob@example.org"], body)
        R.check("i) with their figures", "97 %  947.3 KiB of 976.6 KiB" in body and
                "85 %  830.1 KiB of 976.6 KiB" in body, body)
        R.check("i) plain text, UTF-8, no variable left",
                msg.get_content_type() == "text/plain" and "${" not in body)
        R.check("i) example.net's lists its own mailbox only",
                "dan@example.net" in got_net[0][2].get_content() and
                "example.org" not in got_net[0][2].get_content().split("these mailboxes")[1]
                .split("\n\n")[1])
    rc, out, err = W.run_warn(conf, "--digest")
    time.sleep(1)
    R.check("i) a second run within digest_interval sends nothing",
            rc == 0 and len(W.warnings_in(org)) == 1 and len(W.warnings_in(net)) == 1, err)
    # the interval is over for example.org: its record says two days ago
    with open(state, "a") as f:
        f.write("@example.org 100 sent %d\n" % (time.time() - 2 * 86400))
    rc, out, err = W.run_warn(conf, "--digest")
    mqtest.wait_until(lambda: len(W.warnings_in(org)) >= 2, 20)
    time.sleep(1)
    R.check("i) after the interval the next digest goes, to that domain only",
            rc == 0 and len(W.warnings_in(org)) == 2 and len(W.warnings_in(net)) == 1,
            "%d %d %d %s" % (rc, len(W.warnings_in(org)), len(W.warnings_in(net)), err))
    # a sweep keeps the digests' records (they are not mailboxes)
    rc, out, err = W.run_warn(conf, "--sweep")
    with open(state) as f:
        text = f.read()
    R.check("i) a sweep's compaction keeps the digest records",
            re.search(r"^@example\.org 100 sent \d+$", text, re.M) is not None and
            re.search(r"^@example\.net 100 sent \d+$", text, re.M) is not None, text)
    pf.stop()


def main():
    W.run_parts((part_story, part_refusals, part_long_path, part_digest), R)


if __name__ == "__main__":
    sys.exit(main())
