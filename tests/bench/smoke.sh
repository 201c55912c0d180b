#!/bin/sh
# SPDX-License-Identifier: MIT
# smoke.sh - run by `make check`: a few seconds of the benchmark kit
# (run.sh --smoke: tiny fixture, every server, a few hundred requests each)
# so the kit keeps working. It asserts no timing; it fails when mq-loadgen
# reports a connection error or a malformed reply, and skips (77) when a
# server cannot be started unless MQ_REQUIRE_ALL=1.
srcdir=${MQ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
exec sh "$srcdir/tests/bench/run.sh" --no-build --smoke \
    --builddir "${MQ_BUILDDIR:-$srcdir}"
