#!/bin/sh
# SPDX-License-Identifier: MIT
# structure.sh - the shape docs/HACKING.md promises, checked:
#   - no function of the programs and libraries is longer than 80 lines
#     (from its opening brace to its closing one, both in column 0, the
#     style of the tree); a long table is a static array outside any
#     function, not a function;
#   - the test harness is one: each of its classes (Fixture, Results,
#     Postfix, Dovecot) is defined once under tests/.
# Before the tree, the checker runs on made-up files with one violation of
# each kind, and must find each (so this test can fail).
# One line per check, then "N passed, N failed".
srcdir=${MQ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
exec python3 - "$srcdir" <<'EOF'
import glob
import os
import re
import sys
import tempfile

SRC = sys.argv[1]
FOLDERS = ["lib", "conf", "quota", "cli", "policyd", "warn"]
MAX_LINES = 80
HARNESS = ["Fixture", "Results", "Postfix", "Dovecot"]
NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + ("  (" + detail + ")" if detail else ""))


def long_functions(paths):
    """(file, function, lines) of each function over MAX_LINES."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        start = None
        for i, line in enumerate(lines):
            if line.startswith("{") and start is None:
                start = i
            elif line.startswith("}") and start is not None:
                n = i - start + 1
                if n > MAX_LINES:
                    j = start - 1
                    while j > 0 and "(" not in lines[j]:
                        j -= 1
                    m = NAME.search(lines[j]) if j >= 0 else None
                    out.append((path, m.group(1) if m else "?", n))
                start = None
    return out


def harness_classes(paths):
    """{class name: [files defining it]} for the harness's classes."""
    found = {c: [] for c in HARNESS}
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"class\s+(\w+)\b", line)
                if m and m.group(1) in found:
                    found[m.group(1)].append(path)
    return found


# The checker itself.
with tempfile.TemporaryDirectory(prefix="mq-structure.") as tmp:
    body = "\t;\n" * MAX_LINES
    ok_c = os.path.join(tmp, "ok.c")
    with open(ok_c, "w") as f:       # the braces count: 80 lines in all
        f.write("static int\nshort_one(void)\n{\n%s}\n" % body[:-6])
    bad_c = os.path.join(tmp, "bad.c")
    with open(bad_c, "w") as f:
        f.write("int\nlong_one(int a,\n    int b)\n{\n%s}\n" % body)
    check([(p, n) for p, n, _ in long_functions([ok_c, bad_c])] ==
          [(bad_c, "long_one")],
          "the checker finds a function of %d lines and passes one of %d"
          % (MAX_LINES + 2, MAX_LINES))
    a = os.path.join(tmp, "a.py")
    b = os.path.join(tmp, "b.py")
    with open(a, "w") as f:
        f.write("class Fixture:\n    pass\n\n\nclass Results(object):\n    pass\n")
    with open(b, "w") as f:
        f.write("class Fixture(Base):\n    pass\n")
    found = harness_classes([a, b])
    check(len(found["Fixture"]) == 2 and len(found["Results"]) == 1,
          "the checker finds a harness class defined twice")

# The tree.
sources = sorted(p for d in FOLDERS for p in glob.glob(os.path.join(SRC, d, "*.c")))
check(len(sources) > 30, "the tree's C files are found (%d)" % len(sources))
for path, name, n in long_functions(sources):
    check(False, "%s: %s() is %d lines (at most %d)"
          % (os.path.relpath(path, SRC), name, n, MAX_LINES))
check(not long_functions(sources),
      "no function is longer than %d lines" % MAX_LINES)
tests = sorted(glob.glob(os.path.join(SRC, "tests", "**", "*.py"), recursive=True))
for cls, where in harness_classes(tests).items():
    check(len(where) == 1, "class %s is defined once under tests/" % cls,
          ", ".join(os.path.relpath(p, SRC) for p in where) or "not at all")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
