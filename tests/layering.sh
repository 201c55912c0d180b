#!/bin/sh
# SPDX-License-Identifier: MIT
# layering.sh - the include lines follow the layers of docs/HACKING.md:
#
#   lib/  <-  conf/  <-  quota/  <-  cli/, policyd/, warn/
#
# A file may include headers of its own folder and of the folders to its
# left, never to its right, and the programs not each other. Besides:
#   - a pure module (decide, reply, proto, address, sqltmpl, maildirsize)
#     includes its own header and lib/ headers only: no configuration,
#     engine or driver header;
#   - backend_net.h, the network drivers' private header, is included by
#     backend_net.c, backend_mysql.c, backend_pgsql.c (and its unit test);
#   - maildir_recount.h and maildirsize_file.h, private to the Maildir
#     usage code, are included by quota/maildir*.c only;
#   - every project include names a header that exists.
#
# Includes are by bare name ("util.h") and are resolved as the compiler
# does with AM_CPPFLAGS: the file's own folder, then lib/, conf/, quota/.
# Before the tree, the checker runs on copies with one violation of each
# kind put in, and must find each (so this test can fail).
# One line per check, then "N passed, N failed". The checker is Python
# (a shell loop over every include line takes a minute on a busy machine).
srcdir=${MQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$srcdir" <<'EOF'
import glob
import os
import re
import shutil
import sys
import tempfile

SRC = sys.argv[1]
FOLDERS = ["lib", "conf", "quota", "cli", "policyd", "warn"]
RANK = {"lib": 0, "conf": 1, "quota": 2}	# the programs: 3
PURE = ["quota/decide", "quota/address", "quota/maildirsize", "lib/reply",
        "lib/sqltmpl", "policyd/proto"]
NET_USERS = ["quota/backend_net.c", "quota/backend_mysql.c",
             "quota/backend_pgsql.c", "quota/backend_net.h"]
MAILDIR_USERS = ["quota/maildir.c", "quota/maildir_path.c",
                 "quota/maildir_recount.c", "quota/maildirsize_file.c"]
PRIVATE = {"quota/backend_net.h": ("the drivers'", NET_USERS),
           "quota/maildir_recount.h": ("the Maildir code's", MAILDIR_USERS),
           "quota/maildirsize_file.h": ("the Maildir code's", MAILDIR_USERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s: %s" % ("PASS" if ok else "FAIL", what))


def resolve(root, rel, name):
    """The header name included from rel, as the compiler finds it."""
    if "/" in name:
        return name if os.path.isfile(os.path.join(root, name)) else None
    for d in [os.path.dirname(rel), "lib", "conf", "quota"]:
        if os.path.isfile(os.path.join(root, d, name)):
            return d + "/" + name
    return None


def violations(root):
    out = []
    for d in FOLDERS:
        files = sorted(glob.glob(os.path.join(root, d, "*.[ch]")))
        for path in files:
            rel = d + "/" + os.path.basename(path)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for name in INCLUDE.findall(text):
                if name == "autoconf.h":
                    continue
                to = resolve(root, rel, name)
                if to is None:
                    out.append("%s: includes %s, which is no header of the tree"
                               % (rel, name))
                    continue
                tdir = to.split("/")[0]
                if tdir != d and RANK.get(tdir, 3) >= RANK.get(d, 3):
                    out.append("%s: includes %s (layer %s is not below %s)"
                               % (rel, to, tdir, d))
                if rel[:-2] in PURE and to != rel[:-2] + ".h" and tdir != "lib":
                    out.append("%s: a pure module includes %s (only lib/ "
                               "headers allowed)" % (rel, to))
                if to in PRIVATE and rel not in PRIVATE[to][1] and rel != to:
                    out.append("%s: includes %s private %s"
                               % (rel, PRIVATE[to][0], to))
    return out


# The checker itself: each kind of violation, put into a copy, is found.
SELF = [
    ("a pure module including config.h", "quota/decide.h", "config.h",
     "quota/decide.h: a pure module includes conf/config.h"),
    ("a pure module including engine.h", "policyd/proto.c", "engine.h",
     "policyd/proto.c: a pure module includes quota/engine.h"),
    ("a pure module including backend.h", "lib/reply.c", "backend.h",
     "lib/reply.c: a pure module includes quota/backend.h"),
    ("a lib/ file including conf/", "lib/util.c", "config.h",
     "lib/util.c: includes conf/config.h"),
    ("conf/ including quota/", "conf/config.c", "lookup.h",
     "conf/config.c: includes quota/lookup.h"),
    ("quota/ including a program", "quota/engine.c", "policyd/server.h",
     "quota/engine.c: includes policyd/server.h"),
    ("one program including another", "warn/main.c", "policyd/metrics.h",
     "warn/main.c: includes policyd/metrics.h"),
    ("backend_net.h outside its drivers", "policyd/metrics.c", "backend_net.h",
     "policyd/metrics.c: includes the drivers' private quota/backend_net.h"),
    ("maildir_recount.h outside the Maildir code", "quota/engine.c",
     "maildir_recount.h",
     "quota/engine.c: includes the Maildir code's private quota/maildir_recount.h"),
    ("an include of no header", "quota/cache.c", "nosuch.h",
     "quota/cache.c: includes nosuch.h"),
]
tmp = tempfile.mkdtemp(prefix="mq-layering.")
try:
    for what, target, name, expect in SELF:
        copy = os.path.join(tmp, "t")
        shutil.rmtree(copy, ignore_errors=True)
        for d in FOLDERS:
            os.makedirs(os.path.join(copy, d))
            for p in glob.glob(os.path.join(SRC, d, "*.[ch]")):
                shutil.copy(p, os.path.join(copy, d))
        with open(os.path.join(copy, target), "a") as f:
            f.write('#include "%s"\n' % name)
        check(any(expect in v for v in violations(copy)),
              "the checker finds %s (%s in %s)" % (what, name, target))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# The tree.
for d in FOLDERS:
    check(os.path.isdir(os.path.join(SRC, d)), "%s/ exists" % d)
for p in PURE:
    check(os.path.isfile(os.path.join(SRC, p + ".c"))
          and os.path.isfile(os.path.join(SRC, p + ".h")),
          "pure module %s.c and %s.h exist" % (p, p))
cli = glob.glob(os.path.join(SRC, "quota", "cmd_*.c")) + \
    glob.glob(os.path.join(SRC, "quota", "mailquota.c"))
check(not cli, "quota/ holds no file of the mailquota command")
found = violations(SRC)
for v in found:
    print("  " + v)
check(not found, "the tree's includes follow the layers (%d violations)"
      % len(found))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
