#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - every test mailquota has, as CI runs it.
#
#   1. installs the Debian packages it needs when some are missing, and
#      unpacks (does not install) Debian's postfixadmin for schemas.py
#   2. build/       out-of-tree build, --with-check=yes, make check (unit tests,
#                   then the programs against real Postfix, Dovecot, MariaDB
#                   and PostgreSQL instances of their own)
#   3. build-asan/  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#                   (the Postfix and Dovecot oracles with 3 seeds each)
#   4. build-fuzz/  clang --enable-fuzzing, each libFuzzer target for
#                   $FUZZ_SECONDS (30) seconds on its seed corpus (ten
#                   targets: about 5 minutes in all)
#   5. make distcheck in build/: the tarball builds, installs and passes
#      the unit tests and the corpus replay (the servers' tests ran above)
#   6. tests/deb.sh: the Debian package built from a clean export,
#      installed, the demo run against the installed programs, purged
#      (on Debian only; MQ_SKIP_DEB=1 leaves it out on a machine that must
#      not have packages installed and removed)
#
# LeakSanitizer is on (ASAN_OPTIONS=detect_leaks=1) unless a probe shows it
# cannot run on this machine (under ptrace, in some containers); then leak
# checking alone is turned off and the output says so.
#
# MQ_REQUIRE_ALL=1 is set: a test that cannot find a component (Postfix, a
# database server, ...) fails instead of skipping. Exits non-zero when any step failed; a summary ends the output.

# shellcheck disable=SC2317 # functions are called through step()

set -u

cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
MQ_REQUIRE_ALL=1
export MQ_REQUIRE_ALL

# postfix, dovecot-core, mariadb-server and postgresql only provide the
# programs the tests start as private instances in temporary directories;
# chromium loads the HTML report headless. systemd provides systemd-analyze
# for tests/integ/units.py (no systemd needs to run); dpkg-dev and debhelper
# build the package for tests/deb.sh, lintian checks it. postfix-sqlite,
# -mysql and -pgsql give the private Postfix the tables it is the oracle
# with; galera-4 and rsync make a Galera cluster; dovecot-lmtpd and
# dovecot-pgsql let a private Dovecot write usage to SQL. php-cli with
# php-mysql, php-pgsql and php-mbstring run PostfixAdmin's own upgrade.php,
# which builds the real PostfixAdmin schema for tests/integ/schemas.py (the
# postfixadmin package itself is only unpacked: see unpack_postfixadmin).
PKGS="build-essential autoconf automake pkg-config libevent-dev libconfuse-dev
libsqlite3-dev libmariadb-dev libpq-dev libidn2-dev check sqlite3 netcat-openbsd
postfix postfix-sqlite postfix-mysql postfix-pgsql dovecot-core dovecot-lmtpd
dovecot-pgsql mariadb-server galera-4 rsync postgresql chromium python3 clang
libclang-rt-14-dev systemd dpkg-dev debhelper lintian php-cli php-mysql
php-pgsql php-mbstring"
# where Debian's postfixadmin package is unpacked (schemas.py reads it there)
PFA_ROOT=${MQ_POSTFIXADMIN_ROOT:-/var/cache/mailquota-tests/postfixadmin}
MQ_POSTFIXADMIN_ROOT=$PFA_ROOT
export MQ_POSTFIXADMIN_ROOT

SUMMARY=""
FAILED=0

# note STEP RESULT SECONDS - remember a line for the summary.
note() {
	SUMMARY="$SUMMARY$(printf '  %-34s %-6s %4ss' "$1" "$2" "$3")
"
	[ "$2" = "FAIL" ] && FAILED=1
	return 0
}

# step NAME COMMAND... - run a step, time it, record the result.
step() {
	name=$1
	shift
	echo
	echo "=== $name"
	t0=$(date +%s)
	if "$@"; then
		note "$name" ok $(($(date +%s) - t0))
		return 0
	fi
	note "$name" FAIL $(($(date +%s) - t0))
	return 1
}

# install_missing - apt-get install what $PKGS lacks; Postfix unconfigured.
install_missing() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "not a Debian system: make sure these are installed: $(echo "$PKGS" | tr "\n" " ")"
		return 0
	fi
	missing=""
	for p in $PKGS; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
	if [ -z "$missing" ]; then
		echo "all packages present"
		return 0
	fi
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1; then
		echo "not root; using sudo to install:$missing"
		sudo="sudo"
	else
		echo "not root and no sudo; as root run: apt-get install$missing" >&2
		return 1
	fi
	echo "installing:$missing"
	# no system Postfix is configured: the tests run their own instances
	echo "postfix postfix/main_mailer_type select No configuration" |
		$sudo debconf-set-selections || return 1
	$sudo apt-get update || return 1
	# and no system service is started by the installation (policy-rc.d
	# answers "not allowed"), unless this machine already has such a policy
	ours=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null &&
			$sudo chmod 755 /usr/sbin/policy-rc.d && ours=yes
	fi
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends $missing
	rc=$?
	[ -n "$ours" ] && $sudo rm -f /usr/sbin/policy-rc.d
	return "$rc"
}

# unpack_postfixadmin - Debian's postfixadmin package, unpacked into
# $PFA_ROOT and not installed: installing it would pull in a web server and
# configure a database through dbconfig-common. The tests need its PHP only.
unpack_postfixadmin() {
	if [ -f "$PFA_ROOT/usr/share/postfixadmin/public/upgrade.php" ]; then
		echo "PostfixAdmin already unpacked in $PFA_ROOT"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "not root: schemas.py will skip the PostfixAdmin schema check" >&2
		return 0
	fi
	dl=$(mktemp -d) || return 1
	chmod 755 "$dl"		# apt's download user writes here
	if ! (cd "$dl" && apt-get download postfixadmin); then
		apt-get update && (cd "$dl" && apt-get download postfixadmin) ||
			{ rm -rf "$dl"; return 1; }
	fi
	deb=$(ls "$dl"/postfixadmin_*.deb)
	mkdir -p "$PFA_ROOT.new" &&
		dpkg-deb -x "$deb" "$PFA_ROOT.new" &&
		rm -rf "$PFA_ROOT" && mv "$PFA_ROOT.new" "$PFA_ROOT"
	rc=$?
	[ $rc -eq 0 ] && echo "$(basename "$deb") unpacked in $PFA_ROOT"
	rm -rf "$dl" "$PFA_ROOT.new"
	return $rc
}

# show_test_logs DIR - the failing tests' logs and the integration summaries.
show_test_logs() {
	if [ -f "$1/test-suite.log" ]; then
		cat "$1/test-suite.log"
	fi
	for l in "$1"/tests/integ/*.log; do
		[ -f "$l" ] || continue
		last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$l" | tail -n 1)
		[ -n "$last" ] || last=$(tail -n 1 "$l")
		echo "--- $l: $last"
	done
}

# configure_in DIR ARGS... - a fresh out-of-tree configure.
configure_in() {
	dir=$1
	shift
	mkdir -p "$dir" && (cd "$dir" && "$TOP/configure" "$@")
}

# check_in DIR - make check, with the logs shown on failure.
check_in() {
	if (cd "$1" && make -j"$JOBS" check); then
		show_test_logs "$1"
		return 0
	fi
	show_test_logs "$1"
	return 1
}

build_plain() {
	configure_in build --with-check=yes --with-sqlite=yes &&
		(cd build && make -j"$JOBS") && check_in build
}

# lsan_works - whether LeakSanitizer can run here (it cannot under ptrace,
# e.g. some containers); it is turned off only in that case.
lsan_works() {
	probe=$(mktemp -d)
	printf '#include <stdlib.h>\nint main(void) { void *p = malloc(7); p = 0; return p != 0; }\n' \
		>"$probe/leak.c"
	${CC:-cc} -fsanitize=address -g -o "$probe/leak" "$probe/leak.c" 2>/dev/null || {
		rm -rf "$probe"
		return 1
	}
	out=$(ASAN_OPTIONS=detect_leaks=1 "$probe/leak" 2>&1)
	rm -rf "$probe"
	case $out in
	*"detected memory leaks"*) return 0 ;;
	*) return 1 ;;
	esac
}

build_asan() {
	ASAN_OPTIONS="detect_leaks=$LEAKS:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	# The oracles' full seed counts run in build/ (20 for Postfix, 10 of
	# 150 mailboxes for Dovecot); under the sanitizers a few seeds show
	# the same code paths at a third of the cost.
	ORACLE_SEEDS=3
	export ASAN_OPTIONS UBSAN_OPTIONS ORACLE_SEEDS
	configure_in build-asan --with-check=yes --with-sqlite=yes \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" &&
		(cd build-asan && make -j"$JOBS") && check_in build-asan
	rc=$?
	unset ASAN_OPTIONS UBSAN_OPTIONS ORACLE_SEEDS
	return "$rc"
}

# fuzz_targets - the libFuzzer targets whose source is in the tree.
fuzz_targets() {
	for t in proto maildirsize alias template rfc2047 state config metrics recount address; do
		if [ -f "tests/fuzz/fuzz_$t.c" ]; then
			echo "$t"
		else
			echo "tests/fuzz/fuzz_$t.c is not there yet: target skipped" >&2
		fi
	done
}

build_fuzz() {
	targets=$(fuzz_targets)
	[ -n "$targets" ] || return 0
	# the library is instrumented too, or the fuzzer sees no coverage in it
	configure_in build-fuzz --enable-fuzzing --with-check=no --with-sqlite=yes CC=clang \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" ||
		return 1
	progs=""
	for t in $targets; do
		progs="$progs tests/fuzz/fuzz_$t"
	done
	# shellcheck disable=SC2086
	(cd build-fuzz && make -j"$JOBS" $progs)
}

# run_fuzz TARGET - one target for FUZZ_SECONDS on a scratch copy of its corpus.
run_fuzz() {
	t=$1
	seeds="$TOP/tests/fuzz/corpus/$t"
	work="$TOP/build-fuzz/run-$t"
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts"
	[ -d "$seeds" ] || echo "no seed corpus at $seeds: starting empty"
	[ -d "$seeds" ] || seeds=""
	# new inputs go to the scratch corpus, the seeds stay untouched; the
	# full output is in $work/fuzz.log
	# shellcheck disable=SC2086
	ASAN_OPTIONS="detect_leaks=$LEAKS" "$TOP/build-fuzz/tests/fuzz/fuzz_$t" \
		-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" $seeds >"$work/fuzz.log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 80 "$work/fuzz.log"
		ls -l "$work/artifacts"
	else
		grep -E '^(INFO: seed corpus|Done |stat::(number_of_executed_units|new_units_added|peak_rss_mb))' \
			"$work/fuzz.log"
	fi
	return "$rc"
}

START=$(date +%s)
LEAKS=1

step "install missing packages" install_missing || true
step "unpack PostfixAdmin" unpack_postfixadmin || true
if step "autoreconf" autoreconf -fi; then
	if ! lsan_works; then
		echo "LeakSanitizer cannot run on this machine (ptrace?): leak checking is off"
		LEAKS=0
	fi
	step "build/ + make check" build_plain
	BUILD_OK=$?
	step "build-asan/ + make check (ASan+UBSan)" build_asan || true
	if step "build-fuzz/ (clang, --enable-fuzzing)" build_fuzz; then
		for t in $(fuzz_targets 2>/dev/null); do
			step "fuzz_$t for ${FUZZ_SECONDS}s" run_fuzz "$t" || true
		done
	fi
	if [ "$BUILD_OK" -eq 0 ]; then
		step "make distcheck" sh -c 'cd build && make distcheck "TESTS=\$(UNIT_TESTS) tests/fuzz/replay.sh"' || true
	else
		note "make distcheck" skip 0
	fi
fi
# Last: it installs a package on this machine (and removes it again).
if [ "${MQ_SKIP_DEB:-0}" = 1 ] || ! command -v dpkg >/dev/null 2>&1; then
	note "Debian package (tests/deb.sh)" skip 0
else
	step "Debian package (tests/deb.sh)" sh tests/deb.sh || true
fi

# count KEY - add up automake's "# KEY: N" over the builds that ran make check.
count() {
	cat build/test-suite.log build-asan/test-suite.log 2>/dev/null |
	    awk -v k="# $1:" '$1 " " $2 == k { n += $3 } END { print n + 0 }'
}

echo
echo "=== summary ($(($(date +%s) - START))s)"
printf '%s' "$SUMMARY"
# The test programs of both make check runs, as one plain closing line.
echo "tests: $(count PASS) passed, $(($(count FAIL) + $(count ERROR))) failed"
if [ "$FAILED" -ne 0 ]; then
	echo "FAILED"
	exit 1
fi
echo "all passed"
exit 0
