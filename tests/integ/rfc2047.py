#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The warning's header encoder (RFC 2047 encoded-words and folding)
against Python's email package as the decoder: seeded random values with
non-ASCII text, control characters, "=?" look-alikes and long words go
through tests/unit/mq-encode-header; each header is unfolded and decoded
with email.header and must give the value's words back, in lines of at
most 998 octets. Words, not the exact text: control characters become
spaces (as documented), the encoder folds at blanks (a run of blanks
becomes one, blanks at either end go) and email.header puts blanks of its
own between encoded and plain parts. The seed is
printed; MQ_SEED picks another.

One line per check, then "N passed, N failed".
"""

import email.header
import os
import random
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtest  # noqa: E402

HELPER = os.path.join(mqtest.BUILDDIR, "tests", "unit", "mq-encode-header")
N = 3000

PIECES = ["Mailbox", "full", "95 %", "J\u00fcrgen", "\u00e9t\u00e9", "\u30e1\u30fc\u30eb",
          "\U0001F4EC", "=?UTF-8?B?", "?=", "=?", "x" * 90, "a\tb", "\r\n", "\x01", "\x7f",
          "  ", "quota", "\u00a0", "=", "?", "_", "\"q\"", "Bcc: x@example.net"]


def value(rnd):
    out = []
    for _ in range(rnd.randint(0, 14)):
        r = rnd.random()
        if r < 0.6:
            out.append(rnd.choice(PIECES))
        elif r < 0.8:
            out.append(chr(rnd.randint(0x20, 0x7e)))
        else:
            out.append(chr(rnd.choice([rnd.randint(0xa0, 0x2fff), rnd.randint(0x1f300, 0x1f5ff)])))
        if rnd.random() < 0.5:
            out.append(" ")
    return "".join(out)


def expected(v):
    """What the reader should see: control characters as spaces."""
    return "".join(" " if (ord(c) < 0x20 or ord(c) == 0x7f) else c for c in v)


def decoded(header):
    name, _, rest = header.partition(":")
    unfolded = rest.replace("\n ", " ").replace("\n\t", "\t").rstrip("\n")
    if unfolded.startswith(" "):
        unfolded = unfolded[1:]
    return name, str(email.header.make_header(email.header.decode_header(unfolded)))


def squash(s):
    return " ".join(s.split())


def main():
    res = mqtest.Results()
    mqtest.require_binary(HELPER)
    seed = int(os.environ.get("MQ_SEED", random.SystemRandom().randint(1, 10 ** 6)))
    print("seed %d (MQ_SEED=%d repeats this run)" % (seed, seed), flush=True)
    rnd = random.Random(seed)
    values = [value(rnd) for _ in range(N)]
    data = b"".join(v.encode("utf-8") + b"\0" for v in values)
    r = subprocess.run([HELPER], input=data, stdout=subprocess.PIPE, timeout=60)
    outs = r.stdout.split(b"\0")[:-1]
    res.check("the encoder answered every value", r.returncode == 0 and len(outs) == N,
              "exit %d, %d of %d" % (r.returncode, len(outs), N))
    exact = close = 0
    bad_lines, wrong = [], []
    for v, raw in zip(values, outs):
        h = raw.decode("ascii", "replace") if all(b < 128 for b in raw) else raw.decode("utf-8")
        if any(len(line) > 998 for line in raw.split(b"\n")):
            bad_lines.append(v)
        name, got = decoded(h)
        want = expected(v)
        if got == want:
            exact += 1
        elif squash(got) == squash(want):
            close += 1      # blanks folded or encoded-word boundaries: same words
        else:
            wrong.append((v, h, got))
    res.check("decoded by email.header: every value's words back (seed %d)" % seed,
              not wrong, "%d exact, %d same words, %d wrong; first: %r" %
              (exact, close, len(wrong), wrong[:1]))
    res.check("no header line over 998 octets (seed %d)" % seed, not bad_lines,
              repr(bad_lines[:1]))
    res.finish()


if __name__ == "__main__":
    main()
