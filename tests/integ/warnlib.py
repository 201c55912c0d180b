# SPDX-License-Identifier: MIT
"""warnlib - what the mailquota-warn integration tests share beyond mqtest.

Python 3, standard library only. The harness itself (paths, skipping,
cleanup by PID, Fixture, write_config, Postfix, Dovecot, Results) is
mqtest's; what is here is about warnings:
  WARN              the mailquota-warn binary of this build
  run_warn()        mailquota-warn -c CONF ARGS: (exit status, stdout, stderr)
  warn_config()     mqtest.write_config with a warn {} section
  filled()          a fixture Maildir whose maildirsize says N bytes are used
  messages()        the mail files of a Maildir, parsed; warnings_in()
  maildirsize_used(), state_marks()
                    what a Maildir and the state file say
  run_parts()       a test program's main: every part, one broken part
                    does not hide the others
"""

import email
import email.policy
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

WARN = os.path.join(mqtest.BUILDDIR, "warn", "mailquota-warn")


def warn_config(path, fixture, warn, maildir_path=None, queries=None):
    """warn_config - a mailquota.conf for the fixture with these warn keys
    (a maildir.path, queries): mqtest's writer with a warn {} section."""
    extra = {"warn": warn}
    if queries:
        extra["queries"] = queries
    return mqtest.write_config(path, fixture,
                               maildir={"path": maildir_path} if maildir_path else None,
                               extra=extra)


def filled(fixture, email, limit, used, owner=None):
    """filled - the Maildir of email, its maildirsize saying limit bytes
    and used of them taken (a message a KB)."""
    return fixture.maildir(email, limit_bytes=limit, usage=[(used, max(1, used // 1000))],
                           owner=owner)


def run_warn(conf, *args, timeout=60, env=None):
    """run_warn - mailquota-warn -c conf args...: (exit status, stdout, stderr)."""
    r = subprocess.run([WARN, "-c", conf] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def messages(maildir):
    """messages - [(file name, raw bytes, parsed message)] in new/ and cur/, oldest first."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            out.append((name, raw, email.message_from_bytes(raw, policy=email.policy.default)))
    return out


def warnings_in(maildir):
    return [m for m in messages(maildir) if m[2].get("Auto-Submitted") == "auto-generated"]


def copy_file(root, src, name):
    """copy_file - src as root/name, mode 0644 (templates)."""
    dst = os.path.join(root, name)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    return dst


def maildirsize_used(md):
    """maildirsize_used - the bytes a Maildir's maildirsize adds up to (0 without one)."""
    try:
        with open(os.path.join(md, "maildirsize")) as f:
            return sum(int(l.split()[0]) for l in f.read().splitlines()[1:] if l.strip())
    except OSError:
        return 0


def state_marks(path, user):
    """state_marks - {slot: mark} of user in a state file, the records replayed in
    order; armed slots left out."""
    marks = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4 and p[0] == user:
                    marks[p[1]] = p[2]
    except OSError:
        pass
    return {k: v for k, v in marks.items() if v != "armed"}


def run_parts(parts, results):
    """run_parts - a test program's main: every part (an exception fails that
    part only), its time logged; exits through results.finish(), 77 when a
    part was skipped and none failed."""
    if not os.access(WARN, os.X_OK):
        mqtest.skip("%s is not built" % WARN)
    if os.geteuid() != 0:
        mqtest.skip("needs root (private Postfix and Dovecot, Maildirs owned by nobody)")
    for part in parts:
        t = time.monotonic()
        results.run(part.__name__, part)
        mqtest.log("%s: %.1f s" % (part.__name__, time.monotonic() - t))
    results.finish(skipped_is_skip=True)
