# SPDX-License-Identifier: MIT
"""warnlib - a small harness for the mailquota-warn integration test.

Python 3, standard library only. What is here:
  SRCDIR, BUILDDIR  from $MQ_SRCDIR / $MQ_BUILDDIR (default: the repository)
  skip()            exit 77, or fail when MQ_REQUIRE_ALL=1
  spawn(), at_cleanup()
                    every process started here is stopped by its PID at exit
  tempdir()         a private directory, removed at exit (MQ_KEEP=1 keeps it)
  Fixture           a SQLite database in the tutorial schema and Maildirs with
                    maildirsize files under base/DOMAIN/LOCAL
  write_config()    a mailquota.conf for the fixture
  Postfix           a private Postfix instance that delivers into Maildirs
                    with virtual(8), smtpd on a loopback port
  Dovecot           a private Dovecot 2.3 instance: passwd-file userdb,
                    Maildir++ quota, a quota_warning that runs mailquota-warn
  messages()        the mail files of a Maildir, parsed
"""

import email
import email.policy
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The generic parts (paths, skipping, cleanup by PID, temp dirs, ports) are
# mqtest's, so both harnesses clean up through one list and one handler.
from mqtest import (BUILDDIR, SRCDIR, at_cleanup, free_port, log,  # noqa: E402,F401
                    postfix_available, skip, spawn, wait_until)
import mqtest  # noqa: E402

WARN = os.path.join(BUILDDIR, "warn", "mailquota-warn")

def stop_proc(proc, timeout=5.0):
    """stop_proc - SIGTERM a Popen by its PID, SIGKILL after timeout."""
    return mqtest.stop_pid(proc, timeout=timeout)


def tempdir(prefix="mqwarn-"):
    return mqtest.tempdir(prefix)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def script(path, body):
    """script - an executable /bin/sh script."""
    write(path, "#!/bin/sh\n" + body.strip() + "\n", 0o755)
    return path


def nobody():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def chown_tree(top, uid, gid):
    for d, dirs, files in os.walk(top):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


# --- the database and the Maildirs -----------------------------------------

class Fixture:
    """A SQLite database in the tutorial schema; Maildirs at base/DOMAIN/LOCAL."""

    def __init__(self, root):
        self.root = root
        self.db = os.path.join(root, "mail.db")
        self.base = os.path.join(root, "vmail")
        os.makedirs(self.base, 0o755, exist_ok=True)
        self.conn = sqlite3.connect(self.db)
        self.conn.executescript(self._schema())
        self.domains = {}

    @staticmethod
    def _schema():
        return mqtest.Fixture.schema_sql()

    def domain_id(self, name):
        if name not in self.domains:
            cur = self.conn.execute("INSERT INTO virtual_domains (name) VALUES (?)", (name,))
            self.domains[name] = cur.lastrowid
        return self.domains[name]

    def users(self, rows):
        """users - insert (email, quota_bytes) rows in one transaction."""
        self.conn.executemany(
            "INSERT INTO virtual_users (domain_id, email, password, quota) VALUES (?, ?, 'x', ?)",
            [(self.domain_id(e.rsplit("@", 1)[1]), e, q) for e, q in rows])
        self.conn.commit()
        os.chmod(self.db, 0o644)

    def set_quota(self, email, quota):
        self.conn.execute("UPDATE virtual_users SET quota = ? WHERE email = ?", (quota, email))
        self.conn.commit()

    def maildir_path(self, email):
        local, dom = email.rsplit("@", 1)
        return os.path.join(self.base, dom, local)

    def maildir(self, email, limit=None, used=None, owner=None):
        """maildir - cur/ new/ tmp/ and, when used is given, a maildirsize."""
        md = self.maildir_path(email)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub), 0o700, exist_ok=True)
        if used is not None:
            head = "%dS" % limit if limit else ""
            write(os.path.join(md, "maildirsize"), "%s\n%d %d\n" % (head, used, max(1, used // 1000)),
                  0o600)
        if owner is not None:
            chown_tree(os.path.dirname(md), *owner)
        return md

    def close(self):
        self.conn.close()


def conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(conf_value(x) for x in v) + "}"
    return '"%s"' % str(v).replace("\\", "\\\\").replace('"', '\\"')


def write_config(path, fixture, warn, log_level="info", maildir_path=None, queries=None):
    """write_config - a mailquota.conf: SQLite, the fixture's Maildirs, these warn keys
    (and these queries)."""
    lines = ['database {', '    driver = "sqlite"', '    path = %s' % conf_value(fixture.db), '}']
    if queries:
        lines += ['queries {'] + ["    %s = %s" % (k, conf_value(v)) for k, v in queries.items()]
        lines += ['}']
    lines += ['maildir {', '    base = %s' % conf_value(fixture.base)]
    if maildir_path is not None:
        lines.append('    path = %s' % conf_value(maildir_path))
    lines += ['}', 'warn {']
    lines += ["    %s = %s" % (k, conf_value(v)) for k, v in warn.items()]
    lines += ['}', 'log {', '    level = %s' % conf_value(log_level), '}']
    write(path, "\n".join(lines) + "\n")
    return path


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


def run_parts(parts, results, skipped):
    """run_parts - a test program's main: every part (one broken part does not hide
    the others), its time logged, the skipped ones listed; the exit status."""
    if not os.access(WARN, os.X_OK):
        skip("%s is not built" % WARN)
    if os.geteuid() != 0:
        skip("needs root (private Postfix and Dovecot, Maildirs owned by nobody)")
    for part in parts:
        t = time.monotonic()
        try:
            part()
        except Exception as e:
            import traceback
            traceback.print_exc()
            results.check(part.__name__, False, repr(e))
        log("%s: %.1f s" % (part.__name__, time.monotonic() - t))
    for s in skipped:
        print("SKIP %s" % s, flush=True)
    rc = results.finish()
    if rc == 0 and skipped:
        skip("; ".join(skipped))
    return rc


# --- a private Postfix that delivers with virtual(8) -------------------------

class Postfix:
    """Its own config, queue and data directories and log file; smtpd on
    127.0.0.1:port; mail for the fixture's domains goes to virtual(8), which
    writes Maildirs under the fixture's base as uid/gid."""

    def __init__(self, root, fixture, mailboxes, uid, gid):
        self.root = root
        self.confdir = os.path.join(root, "postfix-etc")
        self.queuedir = os.path.join(root, "postfix-spool")
        self.datadir = os.path.join(root, "postfix-data")
        self.maillog = os.path.join(root, "postfix.log")
        self.port = free_port()
        self.fixture = fixture
        self.mailboxes = mailboxes
        self.uid, self.gid = uid, gid
        self.running = False

    def _postfix(self, *args, check=True):
        r = subprocess.run(["postfix", "-c", self.confdir] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise AssertionError("postfix %s: %s\n%s" % (" ".join(args), out, self.log_tail()))
        return r.returncode, out

    def _master_cf(self):
        with open(mqtest.master_cf_source()) as f:
            return mqtest.rewrite_master_cf(f.read(), "127.0.0.1:%d" % self.port)

    def setup(self):
        os.makedirs(self.confdir, 0o755)
        os.makedirs(self.queuedir, 0o755)
        vmailbox = os.path.join(self.confdir, "vmailbox")
        write(vmailbox, "".join("%s %s/\n" % (m, os.path.relpath(self.fixture.maildir_path(m),
                                                                 self.fixture.base))
                                for m in self.mailboxes))
        domains = sorted({m.rsplit("@", 1)[1] for m in self.mailboxes})
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queuedir,
            "data_directory": self.datadir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": "/var, " + self.root,
            "syslog_name": "postfix-mqwarn",
            "myhostname": "mqwarn.localdomain",
            "mydomain": "localdomain",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "relayhost": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "virtual_mailbox_domains": " ".join(domains),
            "virtual_mailbox_base": self.fixture.base,
            "virtual_mailbox_maps": "texthash:" + vmailbox,
            "virtual_uid_maps": "static:%d" % self.uid,
            "virtual_gid_maps": "static:%d" % self.gid,
            "virtual_transport": "virtual",
            "virtual_mailbox_limit": "0",
            "default_transport": "error",
            "relay_transport": "error",
            "local_transport": "error",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "no",
            "disable_dns_lookups": "yes",
            "smtp_dns_support_level": "disabled",
            "readme_directory": "no",
            "html_directory": "no",
        }
        write(os.path.join(self.confdir, "main.cf"),
              "".join("%s = %s\n" % kv for kv in main.items()))
        write(os.path.join(self.confdir, "master.cf"), self._master_cf())
        self._postfix("set-permissions", check=False)
        rc, out = self._postfix("check", check=False)
        if rc != 0:
            raise AssertionError("postfix check: " + out)
        return self

    def start(self):
        self._postfix("start")
        self.running = True
        at_cleanup(self.stop)

        def accepts():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        if not wait_until(accepts, 20):
            raise AssertionError("smtpd does not listen\n" + self.log_tail())
        return self

    def stop(self):
        if not self.running:
            return
        self.running = False
        mqtest.stop_postfix(self.queuedir, lambda: self._postfix("stop", check=False))

    def sendmail_wrapper(self, path):
        """sendmail_wrapper - a script that is Postfix's sendmail for this instance."""
        return script(path, 'exec /usr/sbin/sendmail -C %s "$@"' % self.confdir)

    def log_tail(self, n=30):
        return mqtest.tail_file(self.maillog, n)


# --- a private Dovecot 2.3 ---------------------------------------------------

DOVECOT_LDA = mqtest.DOVECOT_LDA


def dovecot_missing():
    return mqtest.dovecot_available()


class Dovecot:
    """A private instance: its own base_dir and log, passwd-file userdb,
    maildir quota, quota_warning lines, and a script service that runs
    service_argv (mailquota-warn -c CONF) as user:group."""

    def __init__(self, root, fixture, users, limit, warnings, service_argv, uid, gid,
                 quota=None, lmtp_port=None, extra=(), clone_dict=None,
                 extra_groups=None):
        """quota: the plugin's quota line (default maildir); lmtp_port: also
        serve LMTP on 127.0.0.1; extra: more configuration lines; clone_dict:
        load quota_clone with this quota_clone_dict. Without service_argv
        there is no quota-warning service."""
        self.quota = quota or "maildir:User quota"
        self.clone_dict = clone_dict
        self.lmtp_port = lmtp_port
        self.extra = list(extra)
        self.root = root
        self.conf = os.path.join(root, "dovecot.conf")
        self.base_dir = os.path.join(root, "dovecot-run")
        self.log = os.path.join(root, "dovecot.log")
        self.fixture = fixture
        self.users = users
        self.limit = limit
        self.warnings = warnings          # ["storage=80%% quota-warning 80 %u", ...]
        self.service_argv = service_argv
        self.uid, self.gid = uid, gid
        self.extra_groups = extra_groups    # the script service's extra_groups
        self.proc = None

    def setup(self):
        os.makedirs(self.base_dir, 0o755)
        passwd = os.path.join(self.root, "dovecot-users")
        write(passwd, "".join("%s:{PLAIN}x:%d:%d::%s::\n" % (u, self.uid, self.gid,
                                                           self.fixture.maildir_path(u))
                              for u in self.users))
        plugin = ["  quota = %s" % self.quota,
                  "  quota_rule = *:storage=%dB" % self.limit]
        if self.clone_dict:
            plugin.append("  quota_clone_dict = %s" % self.clone_dict)
        for i, w in enumerate(self.warnings):
            plugin.append("  quota_warning%s = %s" % ("" if i == 0 else str(i + 1), w))
        user = pwd.getpwuid(self.uid).pw_name
        text = [
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % os.path.join(self.root, "dovecot-state"),
            "log_path = %s" % self.log,
            "info_log_path = %s" % self.log,
            "protocols =%s" % (" lmtp" if self.lmtp_port else ""),
            "listen = 127.0.0.1",
            "ssl = no",
            "default_internal_user = dovecot",
            "default_login_user = dovenull",
            "auth_mechanisms = plain",
            "passdb {", "  driver = passwd-file", "  args = %s" % passwd, "}",
            "userdb {", "  driver = passwd-file", "  args = %s" % passwd, "}",
            "mail_location = maildir:~",
            "mail_plugins = quota%s" % (" quota_clone" if self.clone_dict else ""),
            "protocol lda {", "  postmaster_address = postmaster@example.org", "}",
            "plugin {"] + plugin + ["}"]
        if self.service_argv:
            text += [
                "service quota-warning {",
                "  executable = script %s" % " ".join(self.service_argv),
                "  user = %s" % user,
                "  extra_groups = %s" % (self.extra_groups or ""),
                "  vsz_limit = 0",     # no address-space limit: lets sanitizer builds run
                "  unix_listener quota-warning {",
                "    user = %s" % user,
                "    mode = 0600",
                "  }",
                "}"]
        if self.lmtp_port:
            text += ["service lmtp {", "  inet_listener lmtp {",
                     "    address = 127.0.0.1", "    port = %d" % self.lmtp_port,
                     "  }", "}"]
        text = "\n".join(text + self.extra + [
            "service anvil {", "  chroot =", "}",
            # dovecot-lda runs as the mail user too, inside the warning's hand-over
            "service stats {", "  unix_listener stats-writer {", "    mode = 0666", "  }", "}",
            ""])
        os.makedirs(os.path.join(self.root, "dovecot-state"), 0o755)
        write(self.conf, text)
        write(self.log, "", 0o666)
        r = subprocess.run(["doveconf", "-c", self.conf, "-n"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise AssertionError("doveconf: " + r.stdout.decode("utf-8", "replace"))
        return self

    def start(self):
        self.proc = spawn(["dovecot", "-F", "-c", self.conf], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
        sock = os.path.join(self.base_dir, "quota-warning" if self.service_argv else "dict")
        if not wait_until(lambda: os.path.exists(sock), 15):
            raise AssertionError("dovecot did not start\n" + self.log_tail())
        return self

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc, 10)

    def lda(self, user, message, sender="someone@example.net"):
        """lda - deliver message (bytes) with dovecot-lda: its exit status."""
        r = subprocess.run([DOVECOT_LDA, "-c", self.conf, "-d", user, "-f", sender],
                           input=message, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        if r.returncode != 0:
            log("dovecot-lda %s: %d %s" % (user, r.returncode, r.stdout.decode("utf-8", "replace")))
        return r.returncode

    def log_tail(self, n=30):
        return mqtest.tail_file(self.log, n)


class Results:
    """One line per check and a final count; exit status 1 when any failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return cond

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0
