#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The systemd units as installed: `make install DESTDIR=...`, then
`systemd-analyze verify --root=DESTDIR` on each unit (so ExecStart= must
name a binary that was installed), the hardening options of
mailquota-policyd.service, `systemd-analyze security --offline` under a
threshold, and the unit's own ExecStart= and ExecReload= lines run against
a test configuration: the daemon must answer, reload and stop cleanly.

No booted systemd is needed. Skips (77) without systemd-analyze unless
MQ_REQUIRE_ALL=1.

One line per case, then "N passed, N failed"; exit 1 on any failure.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

MIB = 1024 * 1024
POLICYD_UNIT = "mailquota-policyd.service"
SWEEP_UNIT = "mailquota-warn-sweep.service"
TIMER_UNIT = "mailquota-warn-sweep.timer"
# systemd-analyze security: overall exposure x10 (2.4 was measured).
EXPOSURE_MAX = 30

# Hardening of mailquota-policyd.service: key -> the exact value(s) wanted.
WANT = {
    "Type": ["simple"],
    "ExecReload": ["/bin/kill -HUP $MAINPID"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "NoNewPrivileges": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["yes"],
    "RuntimeDirectory": ["mailquota"],
    "SystemCallFilter": ["@system-service"],
    "SystemCallArchitectures": ["native"],
    "RestrictSUIDSGID": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "LockPersonality": ["yes"],
    "RestrictNamespaces": ["yes"],
}
WANT_SETS = {
    "CapabilityBoundingSet": {"CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID"},
    "RestrictAddressFamilies": {"AF_INET", "AF_INET6", "AF_UNIX"},
}


def clean_env():
    """clean_env - no parent make's jobserver for the nested make install."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    env["LC_ALL"] = "C"
    return env


def parse_unit(path):
    """parse_unit - {section: {key: [values in order]}}; comments skipped."""
    units = {}
    sect = None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                sect = units.setdefault(line[1:-1], {})
                continue
            k, _, v = line.partition("=")
            sect.setdefault(k.strip(), []).append(v.strip())
    return units


def find(root, name):
    for d, _, files in os.walk(root):
        if name in files:
            return os.path.join(d, name)
    return None


def host_unit_dirs():
    seen, out = set(), []
    for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if os.path.isdir(d) and os.path.realpath(d) not in seen:
            seen.add(os.path.realpath(d))
            out.append(d)
    return out


class Env:
    pass


def install(e, r):
    """install - make install DESTDIR, and make the root usable for verify."""
    if not os.path.exists(os.path.join(mqtest.BUILDDIR, "Makefile")):
        mqtest.skip("no Makefile in %s (configure first)" % mqtest.BUILDDIR)
    p = subprocess.run(["make", "-C", mqtest.BUILDDIR, "install", "DESTDIR=" + e.root],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=clean_env(), timeout=300)
    if p.returncode != 0:
        r.fail("make install DESTDIR", p.stdout.decode("utf-8", "replace")[-1500:])
        return False
    r.ok("make install DESTDIR")
    e.unit = find(e.root, POLICYD_UNIT)
    if e.unit is None:
        mqtest.skip("no %s installed (configured --with-systemdsystemunitdir=no?)"
                    % POLICYD_UNIT)
    e.unitdir = os.path.dirname(e.unit)
    e.policyd = None
    # Unit files of the host (sysinit.target and the like) and /bin/kill,
    # which ExecReload names, must exist under --root too.
    sysdir = os.path.join(e.root, "usr", "lib", "systemd", "system")
    os.makedirs(sysdir, exist_ok=True)
    for d in host_unit_dirs():
        for n in os.listdir(d):
            src = os.path.join(d, n)
            dst = os.path.join(sysdir, n)
            if n.startswith("mailquota") or os.path.lexists(dst) or os.path.isdir(src):
                continue
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy(src, dst)
    kill = shutil.which("kill", path="/bin:/usr/bin")
    for d in ("bin", "usr/bin"):
        os.makedirs(os.path.join(e.root, d), exist_ok=True)
        if kill and not os.path.exists(os.path.join(e.root, d, "kill")):
            shutil.copy(kill, os.path.join(e.root, d, "kill"))
    # verify --root finds units only in systemd's search path under the
    # root; a prefix's unit directory (distcheck's) is not in it.
    e.verifydir = os.path.join(e.root, "etc", "systemd", "system")
    os.makedirs(e.verifydir, exist_ok=True)
    for n in (POLICYD_UNIT, SWEEP_UNIT, TIMER_UNIT):
        if os.path.exists(os.path.join(e.unitdir, n)):
            shutil.copy(os.path.join(e.unitdir, n), e.verifydir)
    man = find(e.root, "mailquota-policyd.8")
    e.manpath = os.path.dirname(os.path.dirname(man)) if man else ""
    return True


def verify(e, unit_path):
    """verify - systemd-analyze verify under the root; its complaints or ''."""
    env = clean_env()
    args = ["systemd-analyze", "verify", "--root=" + e.root]
    if e.manpath and shutil.which("man"):
        env["MANPATH"] = e.manpath
        args.append("--man=yes")
    else:
        args.append("--man=no")
    rel = "/" + os.path.relpath(os.path.join(e.verifydir, os.path.basename(unit_path)),
                                e.root)
    p = subprocess.run(args + [rel], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=60)
    out = p.stdout.decode("utf-8", "replace").strip()
    return p.returncode, out


def check_verify(e, r):
    rc, out = verify(e, e.unit)
    r.check("systemd-analyze verify %s: clean" % POLICYD_UNIT, rc == 0 and out == "",
            "rc %d: %s" % (rc, out))
    timer = os.path.join(e.unitdir, TIMER_UNIT)
    sweep = os.path.join(e.unitdir, SWEEP_UNIT)
    r.check("%s and %s installed" % (SWEEP_UNIT, TIMER_UNIT),
            os.path.exists(timer) and os.path.exists(sweep))
    exec_start = parse_unit(sweep)["Service"]["ExecStart"][0].split()[0]
    if not os.path.exists(e.root + exec_start):
        r.skip("verify %s" % SWEEP_UNIT, "%s is not built in this tree" % exec_start)
        return
    for u in (sweep, timer):
        rc, out = verify(e, u)
        r.check("systemd-analyze verify %s: clean" % os.path.basename(u),
                rc == 0 and out == "", "rc %d: %s" % (rc, out))


def check_hardening(e, r):
    svc = parse_unit(e.unit)["Service"]
    for k, want in WANT.items():
        r.check("%s=%s" % (k, " ".join(want)), svc.get(k) == want, repr(svc.get(k)))
    for k, want in WANT_SETS.items():
        got = set(" ".join(svc.get(k, [])).split())
        r.check("%s is exactly %s" % (k, " ".join(sorted(want))), got == want,
                repr(sorted(got)))
    # ReadOnlyPaths= names maildir.base: the default in the sample config.
    with open(os.path.join(mqtest.SRCDIR, "conf", "mailquota.conf")) as f:
        m = re.search(r'^\s*#?\s*base\s*=\s*"([^"]+)"', f.read(), re.M)
    base = m.group(1) if m else None
    ro = [p.lstrip("-") for v in svc.get("ReadOnlyPaths", []) for p in v.split()]
    r.check("ReadOnlyPaths= names the sample's maildir.base (%s)" % base,
            base is not None and base in ro, repr(ro))
    sweep = parse_unit(os.path.join(e.unitdir, SWEEP_UNIT))["Service"]
    for k in ("ProtectSystem", "ProtectHome", "NoNewPrivileges", "PrivateTmp",
              "SystemCallFilter", "RestrictAddressFamilies"):
        r.check("%s has %s=%s" % (SWEEP_UNIT, k, " ".join(svc[k])),
                sweep.get(k) == svc[k], repr(sweep.get(k)))
    rw = [p.lstrip("-") for v in sweep.get("ReadWritePaths", []) for p in v.split()]
    r.check("%s: Type=oneshot, may write warn.state and the Maildirs" % SWEEP_UNIT,
            sweep.get("Type") == ["oneshot"] and "/var/lib/mailquota" in rw and
            base in rw, "%r %r" % (sweep.get("Type"), rw))
    # the state is shared with Dovecot's hook: the unit does not pin a user
    # of its own on it (mailquota-warn hands the files to the directory's
    # owner), and may write the sample's warn.state directory
    with open(os.path.join(mqtest.SRCDIR, "conf", "mailquota.conf")) as f:
        m = re.search(r'^\s*#?\s*state\s*=\s*"([^"]+)"', f.read(), re.M)
    state_dir = os.path.dirname(m.group(1)) if m else None
    r.check("%s may write the sample's warn.state directory (%s)" % (SWEEP_UNIT, state_dir),
            state_dir is not None and any(state_dir == p or state_dir.startswith(p + "/")
                                          for p in rw), repr(rw))
    r.check("%s: no StateDirectory= (systemd would hand the state to the unit's user)"
            % SWEEP_UNIT, "StateDirectory" not in sweep, repr(sweep.get("StateDirectory")))
    start = shlex.split(svc.get("ExecStart", [""])[0])
    r.check("ExecStart runs the installed daemon with -f",
            len(start) > 0 and os.path.basename(start[0]) == "mailquota-policyd" and
            "-f" in start and os.access(e.root + start[0], os.X_OK), repr(start))
    e.exec_start = start
    e.exec_reload = shlex.split(svc["ExecReload"][0]) if "ExecReload" in svc else []

    args = ["systemd-analyze", "security", "--offline=true", "--root=" + e.root,
            "--threshold=%d" % EXPOSURE_MAX,
            "/" + os.path.relpath(os.path.join(e.verifydir, POLICYD_UNIT), e.root)]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=clean_env(), timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    r.check("systemd-analyze security: exposure at most %.1f" % (EXPOSURE_MAX / 10),
            p.returncode == 0 and m is not None, m.group(0) if m else out[-800:])


def fixture(e):
    fx = mqtest.Fixture(os.path.join(e.root, "fixture"))
    fx.domain("example.org")
    fx.user("ok@example.org", quota=10 * MIB)
    fx.maildir("ok@example.org", limit_bytes=10 * MIB, usage=[(MIB, 10)])
    fx.user("full@example.org", quota=MIB)
    fx.maildir("full@example.org", limit_bytes=MIB, usage=[(MIB, 10)])
    fx.commit()
    return fx


def check_exec(e, r):
    """check_exec - the unit's ExecStart= and ExecReload= with a test config."""
    fx = fixture(e)
    port = mqtest.free_port()
    conf = mqtest.write_config(os.path.join(e.root, "test.conf"), fx,
                               listen=("inet:127.0.0.1:%d" % port,))
    argv = list(e.exec_start)
    argv[0] = e.root + argv[0]
    if "-c" in argv:
        argv[argv.index("-c") + 1] = conf
    else:
        argv += ["-c", conf]
    errlog = os.path.join(e.root, "policyd.stderr")
    with open(errlog, "wb") as ef:
        proc = mqtest.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=ef)

    def log_text():
        with open(errlog, errors="replace") as f:
            return f.read()
    addr = ("127.0.0.1", port)

    def up():
        if proc.poll() is not None:
            return True
        try:
            mqtest.connect(addr, 0.5).close()
            return True
        except OSError:
            return False
    mqtest.wait_until(up, 15)
    if proc.poll() is not None:
        r.fail("ExecStart: the daemon runs in the foreground and listens",
               "exit %r: %s" % (proc.poll(), log_text()[-800:]))
        return
    r.ok("ExecStart: the daemon runs in the foreground and listens")
    pc = mqtest.PolicyClient(addr)
    r.check("ExecStart: answers DUNNO for a mailbox with room",
            pc.ask(recipient="ok@example.org", size=1000) == "DUNNO")
    r.check("ExecStart: rejects a full mailbox",
            pc.ask(recipient="full@example.org", size=1000) == "552 5.2.2 Mailbox is full")

    reload = [a.replace("$MAINPID", str(proc.pid)) for a in e.exec_reload]
    rc = subprocess.run(reload, timeout=10).returncode if reload else -1
    ok = mqtest.wait_until(lambda: "configuration reloaded" in log_text(), 5)
    r.check("ExecReload (%s): the daemon reloads" % " ".join(e.exec_reload),
            rc == 0 and ok, "" if rc == 0 and ok else log_text()[-500:])
    r.check("after the reload the same connection is answered",
            pc.ask(recipient="full@example.org", size=1000) == "552 5.2.2 Mailbox is full")
    pc.close()
    t0 = time.monotonic()
    code = mqtest.stop_pid(proc, signal.SIGTERM, 10)
    took = time.monotonic() - t0
    r.check("SIGTERM (systemctl stop): exit 0 well within TimeoutStopSec",
            code == 0 and took < 5.5, "exit %r after %.1fs" % (code, took))

    sweep = parse_unit(os.path.join(e.unitdir, SWEEP_UNIT))["Service"]
    argv = shlex.split(sweep["ExecStart"][0])
    if not os.path.exists(e.root + argv[0]):
        r.skip("sweep ExecStart", "%s is not built in this tree" % argv[0])
        return
    argv[0] = e.root + argv[0]
    # The template the package installs, under the DESTDIR; state in the test dir.
    tmpl = find(e.root, "warning.txt") or os.path.join(mqtest.SRCDIR, "conf", "warning.txt")
    conf = mqtest.write_config(
        os.path.join(e.root, "sweep.conf"), fx, listen=("inet:127.0.0.1:%d" % port,),
        extra={"warn": {"template": tmpl, "state": os.path.join(e.root, "warn.state"),
                        "sendmail": "/bin/true"}})
    argv[argv.index("-c") + 1] = conf
    p = subprocess.run(argv + ["--dry-run"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    r.check("sweep ExecStart (--dry-run added): exit 0", p.returncode == 0,
            "" if p.returncode == 0 else p.stdout.decode("utf-8", "replace")[-800:])


def main():
    if shutil.which("systemd-analyze") is None:
        mqtest.skip("systemd-analyze is not installed (apt-get install systemd)")
    r = mqtest.Results()
    e = Env()
    e.root = mqtest.tempdir("mq-units-")
    if install(e, r):
        r.run("verify", check_verify, e, r)
        r.run("hardening", check_hardening, e, r)
        if getattr(e, "exec_start", None):
            r.run("ExecStart", check_exec, e, r)
    sys.exit(r.finish())


if __name__ == "__main__":
    main()
