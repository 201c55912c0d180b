# SPDX-License-Identifier: MIT
"""mqtest - helpers for the mailquota integration tests (Python 3, stdlib only).

What is here:
  paths         MQ_SRCDIR / MQ_BUILDDIR (default: the repository root)
  skip()        exit 77 (automake "skipped"), or fail when MQ_REQUIRE_ALL=1
  tempdir()     a private directory under $TMPDIR, mode 0755, removed at exit
  free_port()   a free loopback TCP port
  processes     every process started here is stopped by PID at exit, on
                SIGTERM/SIGINT too (never by name)
  write(), script(), nobody(), chown_tree()
                files, /bin/sh scripts and owners for a test's tree
  Fixture       a SQLite database in the tutorial schema plus Maildirs with
                maildirsize files under base/%d/%u
  write_config  a mailquota.conf in libconfuse syntax
  Daemon        mailquota-policyd -f -c CONF, its stderr collected for asserts
  PolicyClient  one persistent policy-protocol connection
  Postfix       a private Postfix instance (own config and queue directories)
                that asks a policy service, or delivers with virtual(8)
  Smtp          raw SMTP commands with (code, enhanced code, text) results
  Dovecot       a private Dovecot 2.3 with maildir quota: dovecot-lda, doveadm,
                a quota-warning script service, LMTP
  Results       one line per case and the closing "N passed, N failed"

Set MQ_KEEP=1 to keep the temporary directories for a post-mortem.
"""

import atexit
import os
import re
import select
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SRCDIR = os.path.abspath(os.environ.get("MQ_SRCDIR") or REPO)
BUILDDIR = os.path.abspath(os.environ.get("MQ_BUILDDIR") or REPO)
REQUIRE_ALL = os.environ.get("MQ_REQUIRE_ALL") == "1"
KEEP = os.environ.get("MQ_KEEP") == "1"

POLICYD = os.path.join(BUILDDIR, "policyd", "mailquota-policyd")
MAILQUOTA = os.path.join(BUILDDIR, "cli", "mailquota")

def log(msg):
    """log - a progress line on stderr (the .log file under make check)."""
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


def skip(reason):
    """skip - exit 77, or 1 when MQ_REQUIRE_ALL=1 makes a missing part a failure."""
    if REQUIRE_ALL:
        print("FAIL: required but missing: %s" % reason, flush=True)
        sys.exit(1)
    print("SKIP: %s" % reason, flush=True)
    sys.exit(77)


def require_binary(path):
    if not os.access(path, os.X_OK):
        skip("%s is not built" % path)


# --- cleanup of everything we started -------------------------------------

_cleanups = []          # LIFO list of callables
_cleanup_lock = threading.Lock()
_cleaned = False


def at_cleanup(fn):
    """at_cleanup - run fn at exit (last registered runs first)."""
    with _cleanup_lock:
        _cleanups.append(fn)
    return fn


def cleanup():
    global _cleaned
    with _cleanup_lock:
        if _cleaned:
            return
        _cleaned = True
        fns = list(reversed(_cleanups))
    for fn in fns:
        try:
            fn()
        except Exception as e:       # keep cleaning the rest
            log("cleanup: %r" % (e,))


def _on_signal(signum, frame):
    cleanup()
    os._exit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def stop_pid(proc, sig=signal.SIGTERM, timeout=5.0):
    """stop_pid - signal a Popen by its PID, wait, SIGKILL after timeout."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait()


def spawn(argv, **kw):
    """spawn - Popen that is stopped by PID at cleanup."""
    proc = subprocess.Popen(argv, **kw)
    at_cleanup(lambda: stop_pid(proc, timeout=3.0))
    return proc


def tempdir(prefix="mqtest-"):
    """tempdir - a private directory (mode 0755 so a daemon user can traverse it)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(d, 0o755)
    if KEEP:
        at_cleanup(lambda: log("kept %s" % d))
    else:
        at_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def free_port(host="127.0.0.1"):
    """free_port - a loopback port nobody listens on right now (bind port 0)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def have_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def listening(port, host="127.0.0.1"):
    """listening - whether something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def tail_file(path, n=30):
    """tail_file - the last n lines of a log file, or a note that there is none."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no %s)" % os.path.basename(path)


def wait_until(pred, timeout=10.0, step=0.05):
    """wait_until - poll pred() until true; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def write(path, text, mode=0o644):
    """write - a text file with this mode."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def script(path, body):
    """script - an executable /bin/sh script."""
    return write(path, "#!/bin/sh\n" + body.strip() + "\n", 0o755)


def nobody():
    """nobody - (uid, gid) of the user nobody, the owner of Maildirs in tests."""
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def chown_tree(top, uid, gid):
    """chown_tree - top and everything below it to uid:gid."""
    for d, dirs, files in os.walk(top):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


# --- fixtures: database and Maildirs --------------------------------------

def maildir_filename(n, size):
    """maildir_filename - a Maildir++ file name with ,S=size (and a W= like Dovecot)."""
    return "%d.M%dP%d.mqtest,S=%d,W=%d:2,S" % (1700000000 + n, n, os.getpid(), size, size)


class Fixture:
    """A SQLite database in the tutorial schema (or PostfixAdmin's, with
    schema="postfixadmin") and Maildirs at base/%d/%u. autocommit=False
    leaves commits to the caller (commit()), for estates of thousands of rows."""

    SCHEMA_FILES = {"default": "schema-default.sql", "postfixadmin": "schema-postfixadmin.sql"}

    def __init__(self, root, schema="default", autocommit=True):
        self.root = root
        self.schema = schema
        self.autocommit = autocommit
        self.db = os.path.join(root, "mail.db")
        self.base = os.path.join(root, "vmail")
        os.makedirs(self.base, mode=0o755, exist_ok=True)
        os.chmod(self.base, 0o755)
        self._conn = sqlite3.connect(self.db)
        self._conn.executescript(self.schema_sql(schema))
        self._conn.commit()
        self.domains = {}
        self._fileno = 0

    @staticmethod
    def schema_sql(schema="default"):
        """schema_sql - the shipped schema file, so the tests load it too."""
        with open(os.path.join(SRCDIR, "conf", Fixture.SCHEMA_FILES[schema])) as f:
            return f.read()

    def commit(self):
        self._conn.commit()
        os.chmod(self.db, 0o644)

    def _done(self):
        if self.autocommit:
            self.commit()

    def close(self):
        self.commit()
        self._conn.close()

    def sql(self, statement, params=()):
        cur = self._conn.execute(statement, params)
        self._done()
        return cur

    def domain(self, name, enabled=True):
        if self.schema == "postfixadmin":
            self._conn.execute("INSERT INTO domain (domain, active) VALUES (?, ?)",
                               (name, 1 if enabled else 0))
            self.domains[name] = name
        else:
            cur = self._conn.execute(
                "INSERT INTO virtual_domains (name, enabled) VALUES (?, ?)",
                (name, 1 if enabled else 0))
            self.domains[name] = cur.lastrowid
        self._done()
        return self.domains[name]

    def _domain_id(self, address):
        d = address.rsplit("@", 1)[1]
        if d not in self.domains:
            self.domain(d)
        return self.domains[d]

    def user(self, email, quota=0, enabled=True, password="{PLAIN}x"):
        """user - a mailbox; PostfixAdmin's maildir column is "%d/%u/"."""
        if self.schema == "postfixadmin":
            local, dom = email.rsplit("@", 1)
            self._domain_id(email)
            self._conn.execute(
                "INSERT INTO mailbox (username, password, maildir, quota, local_part, "
                "domain, active) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (email, password, "%s/%s/" % (dom, local), quota, local, dom,
                 1 if enabled else 0))
        else:
            self._conn.execute(
                "INSERT INTO virtual_users (domain_id, email, password, quota, enabled) "
                "VALUES (?, ?, ?, ?, ?)",
                (self._domain_id(email), email, password, quota, 1 if enabled else 0))
        self._done()

    def users(self, rows):
        """users - (email, quota) rows as mailboxes, in one transaction."""
        auto, self.autocommit = self.autocommit, False
        try:
            for email, quota in rows:
                self.user(email, quota)
        finally:
            self.autocommit = auto
        self._done()

    def set_user(self, email, **cols):
        table, key = (("mailbox", "username") if self.schema == "postfixadmin"
                      else ("virtual_users", "email"))
        for k, v in cols.items():
            if k not in ("quota", "enabled"):
                raise ValueError(k)
            if k == "enabled" and self.schema == "postfixadmin":
                k = "active"
            self._conn.execute("UPDATE %s SET %s = ? WHERE %s = ?" % (table, k, key),
                               (int(v), email))
        self._done()

    def alias(self, source, destination, enabled=True):
        if self.schema == "postfixadmin":
            self._domain_id(source)
            self._conn.execute(
                "INSERT INTO alias (address, goto, domain, active) VALUES (?, ?, ?, ?)",
                (source, destination, source.rsplit("@", 1)[1], 1 if enabled else 0))
        else:
            self._conn.execute(
                "INSERT INTO virtual_aliases (domain_id, source, destination, enabled) "
                "VALUES (?, ?, ?, ?)",
                (self._domain_id(source), source, destination, 1 if enabled else 0))
        self._done()

    def alias_domain(self, alias, target, enabled=True):
        """alias_domain - PostfixAdmin's alias_domain row (both domains must exist)."""
        if self.schema != "postfixadmin":
            raise ValueError("alias_domain needs schema=postfixadmin")
        self._conn.execute(
            "INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES (?, ?, ?)",
            (alias, target, 1 if enabled else 0))
        self._done()

    def maildir_path(self, email):
        local, dom = email.rsplit("@", 1)
        return os.path.join(self.base, dom, local)

    def maildir(self, email, limit_bytes=None, limit_messages=None, usage=(),
                files=(), maildirsize=True, raw=None, folders=(), age=None,
                owner=None):
        """maildir - create the Maildir of email.

        limit_bytes/limit_messages: the maildirsize definition line ("NS,MC");
        usage: (bytes, count) lines after it; files: sizes of messages put in
        cur/ (named with ,S=); folders: extra Maildir++ folders (".Sent");
        raw: the whole maildirsize text instead; maildirsize=False: no file;
        age: seconds to back-date the maildirsize mtime; owner: (uid, gid)
        given the domain's directory and everything below it.
        """
        md = self.maildir_path(email)
        for sub in ("", "cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub), mode=0o755, exist_ok=True)
        os.chmod(os.path.dirname(md), 0o755)
        for folder in folders:
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, folder, sub), mode=0o755, exist_ok=True)
        for size in files:
            self._fileno += 1
            p = os.path.join(md, "cur", maildir_filename(self._fileno, size))
            with open(p, "wb") as f:
                f.write(b"x" * min(size, 64))
            os.chmod(p, 0o644)
        if maildirsize:
            if raw is None:
                parts = []
                if limit_bytes is not None:
                    parts.append("%dS" % limit_bytes)
                if limit_messages is not None:
                    parts.append("%dC" % limit_messages)
                raw = ",".join(parts) + "\n"
                for b, c in usage:
                    raw += "%d %d\n" % (b, c)
            p = os.path.join(md, "maildirsize")
            with open(p, "wb") as f:
                f.write(raw.encode() if isinstance(raw, str) else raw)
            os.chmod(p, 0o644)
            if age is not None:
                t = time.time() - age
                os.utime(p, (t, t))
        if owner is not None:
            chown_tree(os.path.dirname(md), *owner)
        return md


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_conf_value(x) for x in v) + "}"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"' % s


def config_text(sections):
    """config_text - libconfuse text from {"key": value, "section": {...}}."""
    out = []
    for k, v in sections.items():
        if isinstance(v, dict):
            out.append("%s {" % k)
            for k2, v2 in v.items():
                out.append("    %s = %s" % (k2, _conf_value(v2)))
            out.append("}")
        else:
            out.append("%s = %s" % (k, _conf_value(v)))
    return "\n".join(out) + "\n"


def write_config(path, fixture=None, listen=("inet:127.0.0.1:10031",), policy=None,
                 database=None, maildir=None, quota=None, loglevel="info", extra=None):
    """write_config - a mailquota.conf for a fixture; keyword dicts override keys."""
    db = {"driver": "sqlite", "connections": 4}
    if fixture is not None:
        db["path"] = fixture.db
    db.update(database or {})
    md = {"path": "%d/%u"}
    if fixture is not None:
        md["base"] = fixture.base
    md.update(maildir or {})
    pol = {"listen": list(listen)}
    pol.update(policy or {})
    sections = {"database": db, "schema": "default", "maildir": md}
    if quota:
        sections["quota"] = dict(quota)
    sections["policy"] = pol
    sections["log"] = {"level": loglevel}
    sections.update(extra or {})
    with open(path, "w") as f:
        f.write(config_text(sections))
    os.chmod(path, 0o644)
    return path


# --- the daemon -----------------------------------------------------------

# A distinct text for every outcome the daemon can reply with, so that a
# test tells them apart (policy.reply_* keys).
REPLIES = {
    "reply_nouser": "550 5.1.1 User unknown",
    "reply_disabled": "550 5.2.1 Mailbox disabled",
    "reply_overquota": "552 5.2.2 Mailbox is full",
    "reply_toolarge": "552 5.2.3 Message larger than the mailbox quota",
    "reply_tempfail": "451 4.3.0 Temporary lookup failure",
}


# key=value or key="quoted value"
_KV = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
DECISION_KEYS = ["queue_id", "client", "recipient", "via", "mailboxes", "outcome",
                 "used", "limit", "cache", "latency_ms", "action"]


def parse_decision(line):
    """parse_decision - the decision log line as an ordered list of (key, value), or None."""
    i = line.find("queue_id=")
    if i < 0:
        return None
    pairs = []
    for m in _KV.finditer(line[i:]):
        v = m.group(2)
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        pairs.append((m.group(1), v))
    return pairs


class Daemon:
    """mailquota-policyd -f -c CONF with its stderr captured line by line."""

    def __init__(self, conf, addr=None, args=(), env=None):
        self.conf = conf
        self.addr = addr          # ("127.0.0.1", port) or "/path/to/socket"
        self.args = list(args)
        self.env = env
        self.proc = None
        self.lines = []
        self._lock = threading.Lock()
        self._reader = None
        self.reading = threading.Event()    # cleared: stderr is left unread
        self.reading.set()

    def start(self, wait=True, timeout=15.0):
        require_binary(POLICYD)
        argv = [POLICYD, "-f", "-c", self.conf] + self.args
        self.lines = []
        self.proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=self.env)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait and self.addr is not None:
            if not wait_until(lambda: self.proc.poll() is not None or self.accepts(),
                              timeout):
                raise AssertionError("daemon did not listen on %r within %gs:\n%s"
                                     % (self.addr, timeout, self.stderr()))
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s at start:\n%s"
                                     % (self.proc.returncode, self.stderr()))
        return self

    def _read(self, proc):
        for raw in proc.stderr:
            self.reading.wait()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
            if os.environ.get("MQ_VERBOSE"):
                log("policyd: " + line)

    def accepts(self):
        try:
            s = connect(self.addr, timeout=1.0)
        except OSError:
            return False
        s.close()
        return True

    def pid(self):
        return self.proc.pid

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """stop - signal, wait; returns (exit code, seconds taken)."""
        t0 = time.monotonic()
        rc = stop_pid(self.proc, sig, timeout)
        took = time.monotonic() - t0
        if self._reader is not None:
            self._reader.join(2.0)
        return rc, took

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def mark(self):
        """mark - a position in the log; lines_since(mark) returns what came after."""
        with self._lock:
            return len(self.lines)

    def lines_since(self, mark=0):
        with self._lock:
            return list(self.lines[mark:])

    def stderr(self):
        return "\n".join(self.lines_since(0))

    def wait_log(self, pattern, mark=0, timeout=5.0):
        """wait_log - the first line after mark matching the regex, or None."""
        rx = re.compile(pattern)

        def find():
            for line in self.lines_since(mark):
                if rx.search(line):
                    return line
            return None
        return wait_until(find, timeout)

    def decisions(self, mark=0):
        out = []
        for line in self.lines_since(mark):
            d = parse_decision(line)
            if d:
                out.append(d)
        return out


def connect(addr, timeout=5.0):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    elif ":" in addr[0]:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        raise
    return s


def policy_request(recipient, size=None, state="RCPT", **attrs):
    """policy_request - the attributes smtpd sends at RCPT, as an ordered dict."""
    req = {
        "request": "smtpd_access_policy",
        "protocol_state": state,
        "protocol_name": "ESMTP",
        "client_address": "192.0.2.10",
        "client_name": "client.example.net",
        "helo_name": "client.example.net",
        "sender": "s@example.net",
        "recipient": recipient,
        "recipient_count": "0",
        "queue_id": "",
        "instance": "123.456.7",
        "size": "0" if size is None else str(size),
    }
    for k, v in attrs.items():
        if v is None:
            req.pop(k, None)
        else:
            req[k] = str(v)
    return req


def encode_request(attrs):
    if isinstance(attrs, (bytes, bytearray)):
        return bytes(attrs)
    return "".join("%s=%s\n" % (k, v) for k, v in attrs.items()).encode() + b"\n"


class PolicyClient:
    """One persistent policy-protocol connection."""

    def __init__(self, addr, timeout=10.0, sock=None):
        self.addr = addr
        self.timeout = timeout
        self.sock = sock if sock is not None else connect(addr, timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, attrs):
        self.sock.sendall(encode_request(attrs))

    def read_reply(self, timeout=None):
        """read_reply - the action of one reply; None when the peer closed first."""
        end = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout("no reply within the timeout")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n\n", 1)
        text = reply.decode("utf-8", "replace")
        lines = text.split("\n")
        if len(lines) != 1 or not lines[0].startswith("action="):
            raise AssertionError("malformed reply %r" % text)
        return lines[0][len("action="):]

    def ask(self, attrs=None, timeout=None, **kw):
        """ask - send one request (a dict, or policy_request(**kw)), return the action."""
        if attrs is None:
            attrs = policy_request(**kw)
        self.send(attrs)
        return self.read_reply(timeout)

    def closed_by_peer(self, timeout=5.0):
        """closed_by_peer - True when the peer closes without sending anything more."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return self.buf == b""
            if not chunk:
                return self.buf == b""
            self.buf += chunk


# --- a private Postfix instance --------------------------------------------

def postfix_available():
    """postfix_available - None when usable, else why not."""
    if shutil.which("postfix") is None and not os.path.exists("/usr/sbin/postfix"):
        return "postfix is not installed"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    try:
        import pwd
        import grp
        pwd.getpwnam("postfix")
        grp.getgrnam("postdrop")
    except KeyError:
        return "the postfix user or postdrop group is missing"
    if master_cf_source() is None:
        return "no master.cf to copy"
    return None


def master_cf_source():
    for p in ("/etc/postfix/master.cf", "/usr/share/postfix/master.cf.dist"):
        if os.path.exists(p):
            return p
    return None


def _postfix_cmd():
    return shutil.which("postfix") or "/usr/sbin/postfix"


def rewrite_master_cf(text, smtp_listen):
    """rewrite_master_cf - master.cf with smtpd only on smtp_listen, no other inet
    service, no chroot, and a postlog service."""
    out = []
    entries = []            # list of lists of lines (an entry and its continuations)
    for line in text.splitlines():
        if entries and line[:1] in (" ", "\t") and line.strip() and \
                not line.lstrip().startswith("#"):
            entries[-1].append(line)
        else:
            entries.append([line])
    have_postlog = False
    for ent in entries:
        first = ent[0]
        if not first.strip() or first.lstrip().startswith("#"):
            out.extend(ent)
            continue
        f = first.split()
        if len(f) < 8:
            out.extend(ent)
            continue
        if f[1] == "inet":
            out.extend("#" + x for x in ent)      # replaced below
            continue
        if f[0] == "postlog":
            have_postlog = True
        f[4] = "n"                                  # no chroot: nothing copied in
        out.append("\t".join(f[:8]) + ((" " + " ".join(f[8:])) if len(f) > 8 else ""))
        out.extend(ent[1:])
    out.append("%s inet n - n - - smtpd" % smtp_listen)
    if not have_postlog:
        out.append("postlog unix-dgram n - n - 1 postlogd")
    return "\n".join(out) + "\n"


def smtp_reply(code, msg):
    """smtp_reply - (code, enhanced status code or '', text) from smtplib's pair."""
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\s", text + " ")
    enh = m.group(1) if m else ""
    return code, enh, text


class Postfix:
    """A private Postfix instance: its own config, queue and data directories
    and log file under a temp dir, smtpd on 127.0.0.1:port. Recipients are
    judged by the policy service on policy_port (None: none) and their mail
    is discarded, unless deliver_virtual() has it written into Maildirs."""

    def __init__(self, root, policy_port, domains, default_action="DUNNO",
                 policy_timeout="10s", extra_main=None):
        self.root = root
        self.confdir = os.path.join(root, "etc")
        self.queuedir = os.path.join(root, "spool")
        self.datadir = os.path.join(root, "data")
        self.maillog = os.path.join(root, "maillog")
        self.port = free_port()
        self.policy_port = policy_port
        self.domains = list(domains)
        self.default_action = default_action
        self.policy_timeout = policy_timeout
        self.extra_main = dict(extra_main or {})
        self.mailboxes = None
        self.started = False

    def deliver_virtual(self, fixture, mailboxes, uid, gid):
        """deliver_virtual - mail for these mailboxes goes into the fixture's
        Maildirs with virtual(8), written as uid:gid. Before setup()."""
        self.fixture = fixture
        self.mailboxes = list(mailboxes)
        self.uid, self.gid = uid, gid
        for d in sorted({m.rsplit("@", 1)[1] for m in self.mailboxes}):
            if d not in self.domains:
                self.domains.append(d)
        return self

    def _virtual_main(self):
        vmailbox = os.path.join(self.confdir, "vmailbox")
        write(vmailbox, "".join(
            "%s %s/\n" % (m, os.path.relpath(self.fixture.maildir_path(m), self.fixture.base))
            for m in self.mailboxes))
        return {
            "virtual_mailbox_base": self.fixture.base,
            "virtual_mailbox_maps": "texthash:" + vmailbox,
            "virtual_uid_maps": "static:%d" % self.uid,
            "virtual_gid_maps": "static:%d" % self.gid,
            "virtual_transport": "virtual",
            "virtual_mailbox_limit": "0",
        }

    def main_cf(self):
        restrictions = "reject_unauth_destination"
        if self.policy_port is not None:
            restrictions += (", check_policy_service { inet:127.0.0.1:%d, timeout=%s, "
                             "default_action=%s }" % (self.policy_port, self.policy_timeout,
                                                      self.default_action))
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.queuedir,
            "data_directory": self.datadir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": "/var, /dev/stdout, " + self.root,
            "syslog_name": "postfix-mqtest",
            "myhostname": "mqtest.localdomain",
            "mydomain": "localdomain",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "relay_domains": "",
            "relayhost": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "virtual_mailbox_domains": " ".join(self.domains),
            "virtual_mailbox_maps": "",
            "virtual_alias_maps": "",
            "virtual_transport": "discard",
            "default_transport": "error",
            "relay_transport": "error",
            "local_transport": "error",
            # the policy service is the only judge of recipients here
            "smtpd_reject_unlisted_recipient": "no",
            "smtpd_relay_restrictions": "",
            "smtpd_recipient_restrictions": restrictions,
            "smtpd_peername_lookup": "no",
            "smtpd_soft_error_limit": "1000",
            "smtpd_hard_error_limit": "1000",
            "smtpd_junk_command_limit": "10000",
            "smtpd_error_sleep_time": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtputf8_enable": "no",
            "message_size_limit": "10240000",
            "smtp_dns_support_level": "disabled",
            "disable_dns_lookups": "yes",
            "readme_directory": "no",
            "html_directory": "no",
            "shlib_directory": "/usr/lib/postfix",
        }
        if self.mailboxes is not None:
            p.update(self._virtual_main())
        p.update(self.extra_main)
        return "".join("%s = %s\n" % (k, v) for k, v in p.items())

    def _run(self, *args, check=True, timeout=60):
        r = subprocess.run([_postfix_cmd(), "-c", self.confdir] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise AssertionError("postfix %s failed (%d):\n%s\n%s" % (
                " ".join(args), r.returncode, out, self.log_tail()))
        return r.returncode, out

    def setup(self):
        why = postfix_available()
        if why:
            skip(why)
        os.makedirs(self.confdir, mode=0o755, exist_ok=True)
        with open(master_cf_source()) as f:
            master = f.read()
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(rewrite_master_cf(master, "127.0.0.1:%d" % self.port))
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write(self.main_cf())
        # postfix(1) creates the queue and data directories with the right
        # owners (post-install create-missing); the queue directory must be root's.
        os.makedirs(self.queuedir, mode=0o755, exist_ok=True)
        os.chown(self.queuedir, 0, 0)
        for d in (self.root, self.confdir, self.queuedir):
            os.chmod(d, 0o755)
        self._run("set-permissions", check=False)
        rc, out = self._run("check", check=False)
        if rc != 0:
            raise AssertionError("postfix check failed:\n" + out)
        if out.strip():
            log("postfix check: " + out.strip())
        return self

    def start(self, timeout=20.0):
        self._run("start")
        self.started = True
        at_cleanup(self.stop)
        if not wait_until(self._accepts, timeout):
            raise AssertionError("Postfix smtpd did not listen on 127.0.0.1:%d\n%s"
                                 % (self.port, self.log_tail()))
        return self

    def _accepts(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return False
        s.close()
        return True

    def stop(self):
        if not self.started:
            return
        self.started = False
        stop_postfix(self.queuedir, lambda: self._run("stop", check=False, timeout=30))

    def reload(self):
        self._run("reload")

    def sendmail_wrapper(self, path):
        """sendmail_wrapper - a script that is Postfix's sendmail for this instance."""
        return script(path, 'exec /usr/sbin/sendmail -C %s "$@"' % self.confdir)

    def postconf(self, *settings):
        subprocess.run(["postconf", "-c", self.confdir, "-e"] + list(settings), check=True)

    def log_tail(self, n=40):
        return tail_file(self.maillog, n)


def postfix_master_pid(queuedir):
    """postfix_master_pid - the master's PID from its pid file, or None."""
    try:
        with open(os.path.join(queuedir, "pid", "master.pid")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_postfix(queuedir, run_stop):
    """stop_postfix - `postfix stop` (run_stop), then the master by PID if it lingers."""
    pid = postfix_master_pid(queuedir)
    run_stop()
    # the master exits after its children; fall back to its PID
    if pid is not None and not wait_until(lambda: not _pid_alive(pid), 10.0):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours would count as alive; postfix's master is not our child
    return True


class Smtp:
    """Raw SMTP commands on one session; each returns (code, enhanced, text)."""

    def __init__(self, host, port, helo="client.example.net", timeout=30):
        self.host, self.port, self.helo, self.timeout = host, port, helo, timeout
        self.conn = None
        self.connect()

    def connect(self):
        self.conn = smtplib.SMTP(timeout=self.timeout)
        code, msg = self.conn.connect(self.host, self.port)
        if code != 220:
            raise AssertionError("SMTP banner %d %r" % (code, msg))
        code, msg = self.conn.ehlo(self.helo)
        if code != 250:
            raise AssertionError("EHLO %d %r" % (code, msg))

    def cmd(self, line):
        try:
            code, msg = self.conn.docmd(line)
        except smtplib.SMTPServerDisconnected:
            self.connect()
            code, msg = self.conn.docmd(line)
        return smtp_reply(code, msg)

    def cmd_bytes(self, line):
        """cmd_bytes - a command given as bytes and sent as is: 8-bit and
        SMTPUTF8 addresses, control bytes inside a quoted local part."""
        self.conn.sock.sendall(line + b"\r\n")
        return smtp_reply(*self.conn.getreply())

    def rset(self):
        return self.cmd("RSET")

    def mail(self, sender="s@example.net", size=None):
        return self.cmd("MAIL FROM:<%s>%s" % (sender, "" if size is None else " SIZE=%d" % size))

    def rcpt(self, recipient):
        return self.cmd("RCPT TO:<%s>" % recipient)

    def data(self, body):
        """data - DATA, the body (CRLF lines, dot-stuffed by smtplib), the final reply."""
        code, enh, text = self.cmd("DATA")
        if code != 354:
            return code, enh, text
        self.conn.send(smtplib.quotedata(body).encode() + b"\r\n.\r\n")
        return smtp_reply(*self.conn.getreply())

    def quit(self):
        try:
            self.conn.quit()
        except (smtplib.SMTPException, OSError):
            pass


# --- a private Dovecot 2.3 with maildir quota -------------------------------

DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"


def dovecot_available():
    """dovecot_available - None when a private Dovecot 2.3 can run, else why not."""
    for prog in ("dovecot", "doveadm"):
        if shutil.which(prog) is None:
            return "%s is not installed (Debian package dovecot-core)" % prog
    if not os.access(DOVECOT_LDA, os.X_OK):
        return "dovecot-lda is not installed"
    if os.geteuid() != 0:
        return "a private Dovecot instance needs root"
    r = subprocess.run(["dovecot", "--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if not r.stdout.startswith(b"2.3"):
        return "this test configures Dovecot 2.3, found %s" % r.stdout.decode().strip()
    try:
        import pwd
        for u in ("dovecot", "dovenull"):
            pwd.getpwnam(u)
    except KeyError as e:
        return "no %s user" % e
    return None


class Dovecot:
    """A private Dovecot 2.3: own base_dir, state_dir and log under root, a
    passwd-file userdb whose lines carry each user's home (the Maildir,
    mail_location = maildir:~) and extra fields such as quota_rule and
    quota_grace, and quota = maildir unless plugin says otherwise.
    Deliveries go through dovecot-lda, quota queries through doveadm.

    plugin: more plugin {} settings (quota_rule, quota_warning, ...);
    mail_plugins: the mail_plugins line; warn_argv: a quota-warning script
    service running this command as warn_user (uid) with warn_groups as its
    extra_groups; lmtp_port: also serve LMTP on 127.0.0.1; extra: more
    configuration lines."""

    def __init__(self, root, plugin=None, mail_plugins="quota", warn_argv=None,
                 warn_user=None, warn_groups=None, lmtp_port=None, extra=()):
        self.root = root
        self.conf = os.path.join(root, "dovecot.conf")
        self.base_dir = os.path.join(root, "run")
        self.state_dir = os.path.join(root, "state")
        self.log = os.path.join(root, "dovecot.log")
        self.passwd = os.path.join(root, "users.passwd")
        self.plugin = {"quota": "maildir:User quota"}
        self.plugin.update(plugin or {})
        self.mail_plugins = mail_plugins
        self.warn_argv = warn_argv
        self.warn_user = warn_user
        self.warn_groups = warn_groups
        self.lmtp_port = lmtp_port
        self.extra = list(extra)
        self.proc = None

    def _services(self):
        text = []
        if self.warn_argv:
            import pwd
            user = pwd.getpwuid(self.warn_user).pw_name
            text += [
                "service quota-warning {",
                "  executable = script %s" % " ".join(self.warn_argv),
                "  user = %s" % user,
                "  extra_groups = %s" % (self.warn_groups or ""),
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
        return text

    def setup(self, users):
        """setup - users: [(name, uid, gid, home, {extra field: value})]."""
        why = dovecot_available()
        if why:
            skip(why)
        for d in (self.base_dir, self.state_dir):
            os.makedirs(d, 0o755, exist_ok=True)
        with open(self.passwd, "w") as f:
            for name, uid, gid, home, extra in users:
                fields = " ".join("userdb_%s=%s" % kv for kv in sorted(extra.items()))
                f.write("%s::%d:%d::%s::%s\n" % (name, uid, gid, home, fields))
        text = "\n".join([
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "instance_name = mqtest-%d" % os.getpid(),
            "log_path = %s" % self.log,
            "info_log_path = %s" % self.log,
            "protocols =%s" % (" lmtp" if self.lmtp_port else ""),
            "listen = 127.0.0.1",
            "ssl = no",
            "default_internal_user = dovecot",
            "default_login_user = dovenull",
            "first_valid_uid = 1",
            "passdb {", "  driver = passwd-file", "  args = %s" % self.passwd, "}",
            "userdb {", "  driver = passwd-file", "  args = %s" % self.passwd, "}",
            "mail_location = maildir:~",
            "mail_plugins = %s" % self.mail_plugins,
            "protocol lda {", "  postmaster_address = postmaster@example.org", "}",
            "plugin {"] + ["  %s = %s" % kv for kv in self.plugin.items()] + ["}"] +
            self._services() + self.extra + [
            "service anvil {", "  chroot =", "}",
            # dovecot-lda runs as the mail user too, inside a warning's hand-over
            "service stats {", "  unix_listener stats-writer {", "    mode = 0666", "  }", "}",
            ""])
        with open(self.conf, "w") as f:
            f.write(text)
        with open(self.log, "w"):
            pass
        os.chmod(self.log, 0o666)
        r = subprocess.run(["doveconf", "-c", self.conf, "-n"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise AssertionError("doveconf: " + r.stdout.decode("utf-8", "replace"))
        return self

    def start(self, timeout=15.0):
        self.proc = spawn(["dovecot", "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        socks = [os.path.join(self.base_dir, "auth-userdb")]
        if self.warn_argv:
            socks.append(os.path.join(self.base_dir, "quota-warning"))
        if not wait_until(lambda: self.proc.poll() is not None or
                          all(os.path.exists(p) for p in socks),
                          timeout) or self.proc.poll() is not None:
            raise AssertionError("dovecot did not start\n" + self.log_tail())
        return self

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc, timeout=10.0)
            self.proc = None

    def lda_env(self):
        """lda_env - the settings doveconf hands dovecot-lda, read once.

        dovecot-lda -c CONF execs `doveconf -f service=lda -c CONF -m lda
        -m ssl -e` which execs dovecot-lda again with every setting in its
        environment (DOVECONF_ENV=1). Running that doveconf once and
        starting dovecot-lda with its environment is the same delivery with
        one exec instead of three."""
        if getattr(self, "_lda_env", None) is None:
            r = subprocess.run(["doveconf", "-f", "service=lda", "-c", self.conf,
                                "-m", "lda", "-m", "ssl", "-e", "/usr/bin/env", "-0"],
                               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
            self._lda_env = dict(kv.split("=", 1) for kv in
                                 r.stdout.decode("utf-8", "replace").split("\0") if "=" in kv)
        return self._lda_env

    def lda(self, user, message, sender=None, timeout=60):
        """lda - dovecot-lda -e (-f sender): (exit status, its stderr text)."""
        argv = [DOVECOT_LDA, "-d", user, "-e"] + (["-f", sender] if sender else [])
        r = subprocess.run(argv, env=self.lda_env(), input=message, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def doveadm(self, *args, timeout=60):
        """doveadm - doveadm -c CONF ARGS: (exit status, stdout, stderr)."""
        r = subprocess.run(["doveadm", "-c", self.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return (r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))

    def log_tail(self, n=30):
        return tail_file(self.log, n)


# --- results ----------------------------------------------------------------

class Results:
    """One line per case ("ok   NAME", "FAIL NAME: DETAIL", "skip NAME: WHY");
    finish() prints "N passed, N failed" and exits: 1 when a case failed,
    else 0. A pass shows its detail when it is one short line (a count, a
    reply); a failure shows it whole (a log tail)."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []

    def ok(self, name, detail=""):
        self.passed += 1
        detail = str(detail) if detail else ""
        if "\n" in detail or len(detail) > 200:
            detail = ""
        print("ok   %s%s" % (name, ("  (" + detail + ")") if detail else ""), flush=True)

    def fail(self, name, detail):
        self.failed += 1
        self.failures.append(name)
        print("FAIL %s: %s" % (name, detail), flush=True)

    def skip(self, name, why, required=True):
        """skip - a case that cannot run; a failure under MQ_REQUIRE_ALL=1
        unless required=False (the machine, not a package, lacks it)."""
        self.skipped += 1
        print("skip %s: %s" % (name, why), flush=True)
        if REQUIRE_ALL and required:
            self.fail(name, "skipped but MQ_REQUIRE_ALL=1: " + why)

    def check(self, name, cond, detail=""):
        if cond:
            self.ok(name, detail)
        else:
            self.fail(name, detail or "condition false")
        return bool(cond)

    def run(self, name, fn, *args, **kw):
        """run - call fn; an exception is a failure of this case only."""
        try:
            fn(*args, **kw)
        except Exception as e:
            import traceback
            self.fail(name, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stderr)

    def finish(self, skipped_is_skip=False):
        """finish - the count line, cleanup, exit; with skipped_is_skip, a run
        where a case was skipped and none failed exits 77 (skipped)."""
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        cleanup()
        if self.failed:
            sys.exit(1)
        sys.exit(77 if skipped_is_skip and self.skipped else 0)
