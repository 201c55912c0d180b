#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh - measure mailquota-policyd against Dovecot's quota-status and
# against a reference server that does no work, on one fixture and one load.
#
# It generates the fixture (genfixture.py), starts on free loopback ports:
#   ref      mq-refserver: answers DUNNO to everything, the loopback limit
#   policyd  mailquota-policyd -f with a SQLite configuration (cache on), or
#            PostgreSQL / MariaDB (--driver) on a private server
#   nocache  the same daemon with policy.cache_ttl = 0
#   dovecot  a private Dovecot with the quota-status service (dovecot.sh)
# and then runs mq-loadgen against each in turn (ref policyd nocache dovecot,
# ref policyd ... : interleaved, so a disturbance on the machine hits all of
# them alike), several repetitions per connection count, and prints the
# medians and ratios as Markdown tables. Then one-connection latency, the
# daemon's resident memory with 1,000 mostly idle connections, and, with
# --callgrind, instructions per request (valgrind) for ref and policyd.
#
# Everything it starts is stopped by PID when it ends, also on failure.
# Exit status: 0 when every run completed, 1 when mq-loadgen reported an
# error or a server could not be started, 77 (--smoke only) when a component
# is missing and MQ_REQUIRE_ALL is not 1.
set -eu

usage() {
	cat <<'EOF'
usage: run.sh [options]
  --builddir DIR      build tree with the programs (default $MQ_BUILDDIR or the source tree)
  --no-build          do not run make first
  --users N           users in the fixture (default 10000)
  --load-users K      recipients drawn from K of the users (default: all up to
                      10000 users, else 10000, so that a bigger database gets
                      the same load; only the Maildirs it reaches are made)
  --fixture DIR       use this genfixture.py output instead of generating one
  --reps N            repetitions of each run (default 3)
  --duration S        seconds per measured run (default 5)
  --conns "A B .."    connection counts (default "10 50 200")
  --servers "..."     any of: ref policyd nocache dovecot (default all four)
  --driver D          the daemon's database: sqlite (default), pgsql or mysql;
                      pgsql and mysql start a private server on a UNIX socket
                      and load the fixture's dump.sql into it
  --size BYTES        the size attribute sent (default 1024)
  --idle N            connections for the memory measurement (default 1000)
  --callgrind N       also count instructions per request over N requests
  --smoke             a few seconds in all, for CI: tiny fixture, one short
                      run each; fails when mq-loadgen reports an error
  --keep              keep the work directory (fixture, logs, raw output)
  --out FILE          also write the result tables (Markdown) to FILE
EOF
	exit 64
}

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
builddir=${MQ_BUILDDIR:-$srcdir}
build=yes users=10000 load_users=0 fixture="" reps=3 duration=5 conns="10 50 200"
servers="ref policyd nocache dovecot" size=1024 idle=1000 callgrind=0
smoke=no keep=no out="" driver=sqlite

while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$2; shift ;;
	--no-build) build=no ;;
	--users) users=$2; shift ;;
	--load-users) load_users=$2; shift ;;
	--fixture) fixture=$2; shift ;;
	--reps) reps=$2; shift ;;
	--duration) duration=$2; shift ;;
	--conns) conns=$2; shift ;;
	--servers) servers=$2; shift ;;
	--driver) driver=$2; shift ;;
	--size) size=$2; shift ;;
	--idle) idle=$2; shift ;;
	--callgrind) callgrind=$2; shift ;;
	--smoke) smoke=yes ;;
	--keep) keep=yes ;;
	--out) out=$2; shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
if [ "$smoke" = yes ]; then
	users=200 reps=1 conns="1 8" idle=100 callgrind=0
fi
builddir=$(cd "$builddir" && pwd)
loadgen=$builddir/tests/bench/mq-loadgen
refserver=$builddir/tests/bench/mq-refserver
policyd=$builddir/policyd/mailquota-policyd

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# missing WHAT - a component is not there: skip it, or fail the smoke test
# when MQ_REQUIRE_ALL=1.
missing() {
	say "skipping $1: $2"
	if [ "$smoke" = yes ] && [ "${MQ_REQUIRE_ALL:-0}" = 1 ]; then
		die "MQ_REQUIRE_ALL=1 and $1 is missing: $2"
	fi
	skipped="$skipped $1"
}

if [ "$build" = yes ]; then
	make -C "$builddir" tests/bench/mq-loadgen tests/bench/mq-refserver \
	    policyd/mailquota-policyd >&2 || die "build failed"
fi
[ -x "$loadgen" ] && [ -x "$refserver" ] || die "$loadgen or $refserver not built"

work=$(mktemp -d /tmp/mqbench.XXXXXX)
chmod 755 "$work"
pids=""
dovecot_dir=""
db_pid="" db_sig=-TERM
cleanup() {
	set +e
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 60 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	[ -n "$dovecot_dir" ] && sh "$here/dovecot.sh" stop "$dovecot_dir"
	# The database server last, once its clients are gone: SIGINT is
	# PostgreSQL's fast shutdown, SIGTERM MariaDB's normal one.
	if [ -n "$db_pid" ]; then
		kill "$db_sig" "$db_pid" 2>/dev/null
		i=0
		while kill -0 "$db_pid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$db_pid" 2>/dev/null
	fi
	if [ "$keep" = yes ]; then
		say "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The daemons and the generator hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# free_ports N - N loopback TCP ports that are free right now.
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_port PORT PID - until 127.0.0.1:PORT accepts, while PID lives.
wait_port() {
	python3 - "$1" "$2" <<'EOF'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
end = time.time() + 15
while time.time() < end:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# cpu_us PID... - CPU time in microseconds used so far by each PID and every
# process below it (Dovecot's master, auth and quota-status processes; a
# database server's backends), reaped children included.
cpu_us() {
	python3 - "$@" <<'EOF'
import os, sys
roots, procs = [int(p) for p in sys.argv[1:]], {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            st = f.read()
    except OSError:
        continue
    f = st[st.rindex(")") + 2:].split()
    procs[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
tree, todo = set(), list(roots)
while todo:
    p = todo.pop()
    tree.add(p)
    todo.extend(c for c, (pp, _) in procs.items() if pp == p and c not in tree)
print(sum(procs[p][1] for p in tree if p in procs) * 1000000 // os.sysconf("SC_CLK_TCK"))
EOF
}

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# --- fixture --------------------------------------------------------------
if [ -z "$fixture" ]; then
	fixture=$work/fixture
	owner=""
	[ "$(id -u)" = 0 ] && owner="--owner 65534:65534"
	[ "$load_users" = 0 ] && [ "$users" -gt 10000 ] && load_users=10000
	sample=""
	[ "$load_users" != 0 ] && sample="--load-users $load_users --maildirs load"
	say "generating a fixture of $users users"
	python3 "$here/genfixture.py" --out "$fixture" --users "$users" $owner $sample >&2 ||
	    die "genfixture.py failed"
fi
fixture=$(cd "$fixture" && pwd)
rcpts=$fixture/recipients.txt
nrcpts=$(wc -l <"$rcpts")

# --- the daemon's database ------------------------------------------------
db_conf="    driver = \"sqlite\"
    path = \"$fixture/mail.db\""
case $driver in
sqlite) ;;
pgsql)
	pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -x "$pgbin/initdb" ] || die "--driver pgsql needs the postgresql package"
	[ "$(id -u)" = 0 ] || die "--driver pgsql runs PostgreSQL as the postgres user: run as root"
	mkdir -p "$work/pg"
	chown postgres "$work/pg"
	say "starting PostgreSQL and loading the fixture"
	su postgres -s /bin/sh -c "'$pgbin/initdb' -D '$work/pg/data' -A trust -U postgres \
	    >'$work/pg/initdb.log' 2>&1 && '$pgbin/pg_ctl' -D '$work/pg/data' -w \
	    -o \"-k '$work/pg' -c listen_addresses=''\" -l '$work/pg/log' start \
	    >/dev/null" || die "PostgreSQL did not start; see $work/pg"
	db_pid=$(head -n 1 "$work/pg/data/postmaster.pid") db_sig=-INT
	"$pgbin/createdb" -h "$work/pg" -U postgres mailserver &&
	    "$pgbin/psql" -q -h "$work/pg" -U postgres -d mailserver -v ON_ERROR_STOP=1 \
	    -f "$fixture/dump.sql" >/dev/null || die "loading dump.sql into PostgreSQL failed"
	db_conf="    driver = \"pgsql\"
    hosts = {\"unix:$work/pg\"}
    name = \"mailserver\"
    user = \"postgres\""
	;;
mysql)
	command -v mariadbd >/dev/null || die "--driver mysql needs mariadb-server"
	[ "$(id -u)" = 0 ] || die "--driver mysql: run as root"
	mkdir -p "$work/my"
	say "starting MariaDB and loading the fixture"
	mariadb-install-db --datadir="$work/my/data" --auth-root-authentication-method=normal \
	    --skip-test-db --user=root >"$work/my/install.log" 2>&1 ||
	    die "mariadb-install-db failed; see $work/my/install.log"
	mariadbd --no-defaults --datadir="$work/my/data" --socket="$work/my/sock" \
	    --skip-networking --user=root --pid-file="$work/my/pid" \
	    --log-error="$work/my/err" >/dev/null 2>&1 &
	db_pid=$!
	i=0
	while [ ! -S "$work/my/sock" ] && kill -0 "$db_pid" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$work/my/sock" ] || die "MariaDB did not start; see $work/my/err"
	mariadb -S "$work/my/sock" -uroot -e "CREATE DATABASE mailserver" &&
	    mariadb -S "$work/my/sock" -uroot mailserver <"$fixture/dump.sql" ||
	    die "loading dump.sql into MariaDB failed"
	db_conf="    driver = \"mysql\"
    hosts = {\"unix:$work/my/sock\"}
    name = \"mailserver\"
    user = \"root\""
	;;
*) die "--driver takes sqlite, pgsql or mysql" ;;
esac

# --- servers --------------------------------------------------------------
set -- $(free_ports 5)
port_ref=$1 port_policyd=$2 port_nocache=$3 port_dovecot=$4 port_cg=$5
skipped=""
started=""

start_ref() {
	"$refserver" "inet:127.0.0.1:$port_ref" 2>"$work/ref.log" &
	pid_ref=$!
	pids="$pids $pid_ref"
	wait_port "$port_ref" "$pid_ref" || die "mq-refserver did not start"
	started="$started ref"
}

# policyd_conf PORT CACHE_TTL [NEGATIVE_TTL USAGE_TTL] - a configuration
# for the fixture; the TTLs left out keep their defaults.
policyd_conf() {
	neg="" usage=""
	[ $# -ge 3 ] && neg="negative_cache_ttl = $3"
	[ $# -ge 4 ] && usage="usage_ttl = $4"
	cat <<EOF
# mailquota-policyd for the benchmark (tests/bench/run.sh)
database {
$db_conf
}
schema = "default"
maildir {
    base = "$fixture/base"
    path = "%d/%u"
}
quota {
    $usage
}
policy {
    listen = {"inet:127.0.0.1:$1"}
    cache_ttl = $2
    $neg
    max_connections = $((idle + 100))
    # every connection of the kit comes from 127.0.0.1
    max_connections_per_client = $((idle + 100))
    reply_nouser = "DUNNO"
    reply_overquota = "552 5.2.2 Mailbox is full"
}
log {
    level = "warning"
}
EOF
}

# start_policyd NAME PORT CACHE_TTL - sets pid_NAME, or reports it missing.
start_policyd() {
	if [ ! -x "$policyd" ]; then
		missing "$1" "$policyd is not built"
		return 0
	fi
	policyd_conf "$2" "$3" >"$work/$1.conf"
	"$policyd" -f -c "$work/$1.conf" 2>"$work/$1.log" &
	p=$!
	if ! wait_port "$2" "$p"; then
		kill "$p" 2>/dev/null || true
		tail -n 5 "$work/$1.log" >&2 || true
		missing "$1" "mailquota-policyd does not serve yet"
		return 0
	fi
	pids="$pids $p"
	eval "pid_$1=$p"
	started="$started $1"
}

start_dovecot() {
	if [ "$(id -u)" != 0 ] || [ ! -x /usr/sbin/dovecot ] ||
	    [ ! -x /usr/lib/dovecot/quota-status ]; then
		missing dovecot "Dovecot quota-status needs root and dovecot-core"
		return 0
	fi
	dovecot_dir=$work/dovecot
	pid_dovecot=$(sh "$here/dovecot.sh" start "$dovecot_dir" "$fixture" "$port_dovecot") ||
	    die "Dovecot did not start"
	started="$started dovecot"
}

for s in $servers; do
	case $s in
	ref) start_ref ;;
	policyd) start_policyd policyd "$port_policyd" 60 ;;
	nocache) start_policyd nocache "$port_nocache" 0 ;;
	dovecot) start_dovecot ;;
	*) die "unknown server $s" ;;
	esac
done
servers=$started
[ -n "$servers" ] || die "no server to measure"
say "measuring:$servers; the daemon on $driver; fixture $fixture ($nrcpts recipients)"

port_of() { eval "echo \$port_$1"; }

rss_start=""
[ -n "${pid_policyd:-}" ] && rss_start=$(rss_kb "$pid_policyd")

# --- the runs -------------------------------------------------------------
results=$work/results.tsv
: >"$results"

# load NAME TAG ARGS... - one mq-loadgen run; appends a result line.
load() {
	name=$1 tag=$2
	shift 2
	outf=$work/run-$name-$tag.txt
	eval "spid=\$pid_$name"
	case $name in policyd|nocache) spid="$spid $db_pid" ;; esac
	c0=$(cpu_us $spid)
	if ! "$loadgen" -r "$rcpts" -s "$size" "$@" "inet:127.0.0.1:$(port_of "$name")" \
	    >"$outf" 2>&1; then
		cat "$outf" >&2
		die "mq-loadgen failed against $name ($tag)"
	fi
	c1=$(cpu_us $spid)
	line=$(sed -n 's/^RESULT //p' "$outf")
	total=$(echo "$line" | tr ' ' '\n' | sed -n 's/^total=//p')
	line="$line server_cpu_us=$(awk "BEGIN { printf \"%.2f\", ($c1 - $c0) / $total }")"
	printf '%s\t%s\t%s\n' "$name" "$tag" "$line" >>"$results"
	get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	say "$(printf '%-8s %-8s %7s req/s  p50 %7s us  p99 %8s us  cpu/req: server %7s us, loadgen %5s us' \
	    "$name" "$tag" "$(get rps)" "$(get p50_us)" "$(get p99_us)" \
	    "$(get server_cpu_us)" "$(get loadgen_cpu_us)")"
}

if [ "$smoke" = yes ]; then
	# Every server, a few hundred requests each, no timing claims.
	for s in $servers; do
		load "$s" warm -c 4 -n "$nrcpts"
	done
	for c in $conns; do
		for s in $servers; do
			load "$s" "c$c-r1" -c "$c" -n 300 -w 20
		done
	done
	for s in $servers; do
		load "$s" "lat-r1" -c 1 -n 200 -R 50
	done
else
	# Warm every cache with one pass over the recipients (Dovecot has no
	# cache, a few hundred requests start its processes).
	for s in $servers; do
		case $s in
		dovecot) load "$s" warm -c 10 -n 500 ;;
		*) load "$s" warm -c 10 -n "$nrcpts" ;;
		esac
	done
	for c in $conns; do
		r=1
		while [ $r -le "$reps" ]; do
			for s in $servers; do
				load "$s" "c$c-r$r" -c "$c" -d "$duration" -w $((c * 5))
			done
			r=$((r + 1))
		done
	done
	r=1
	while [ $r -le "$reps" ]; do
		for s in $servers; do
			load "$s" "lat-r$r" -c 1 -d "$duration" -w 200
		done
		r=$((r + 1))
	done
fi

# --- memory with many mostly idle connections -----------------------------
mem_line=""
for s in policyd ref; do
	case " $servers " in *" $s "*) ;; *) continue ;; esac
	eval "p=\$pid_$s"
	outf=$work/idle-$s.txt
	rss0=$(rss_kb "$p")
	hold=3
	[ "$smoke" = yes ] && hold=0.5
	"$loadgen" -r "$rcpts" -s "$size" -c 10 -I $((idle - 10)) -n 2000 -H "$hold" \
	    "inet:127.0.0.1:$(port_of "$s")" >"$outf" 2>&1 &
	lg=$!
	i=0
	while ! grep -qs '^HOLD' "$outf" && kill -0 "$lg" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	rss=$(rss_kb "$p") hwm=$(hwm_kb "$p")
	if ! wait "$lg"; then
		cat "$outf" >&2
		die "mq-loadgen failed with $idle connections to $s"
	fi
	say "$s with $idle connections: VmRSS $rss kB (before: $rss0 kB), VmHWM $hwm kB"
	mem_line="$mem_line $s:$rss:$hwm:$rss0"
done

# --- instructions per request ---------------------------------------------
cg_line=""
if [ "$callgrind" -gt 0 ]; then
	command -v valgrind >/dev/null || die "--callgrind needs valgrind"
	for s in ref policyd; do
		case " $servers " in *" $s "*) ;; *) continue ;; esac
		cgdir=$work/callgrind-$s
		mkdir -p "$cgdir"
		if [ "$s" = ref ]; then
			set -- "$refserver" "inet:127.0.0.1:$port_cg"
		else
			# Valgrind runs it some 50 times slower: with the default
			# TTLs the measured requests would mostly be expiries.
			policyd_conf "$port_cg" 3600 3600 3600 >"$work/cg.conf"
			set -- "$policyd" -f -c "$work/cg.conf"
		fi
		(cd "$cgdir" && exec valgrind --tool=callgrind \
		    --callgrind-out-file="$cgdir/callgrind.out" "$@" 2>"$cgdir/log") &
		p=$!
		pids="$pids $p"
		wait_port "$port_cg" "$p" || die "$s under callgrind did not start"
		"$loadgen" -r "$rcpts" -s "$size" -c 4 -n "$nrcpts" -t 120 \
		    "inet:127.0.0.1:$port_cg" >"$cgdir/warm.txt" 2>&1 ||
		    die "warm-up under callgrind failed"
		(cd "$cgdir" && callgrind_control -z "$p" >/dev/null 2>&1)
		"$loadgen" -r "$rcpts" -s "$size" -c 10 -n "$callgrind" -t 120 \
		    "inet:127.0.0.1:$port_cg" >"$cgdir/run.txt" 2>&1 ||
		    die "run under callgrind failed"
		(cd "$cgdir" && callgrind_control -d "$p" >/dev/null 2>&1)
		sleep 1
		ir=$(cat "$cgdir"/callgrind.out.* 2>/dev/null |
		    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' | tail -n 1)
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		[ -n "$ir" ] || die "no callgrind totals for $s (see $cgdir)"
		say "$s: $ir instructions for $callgrind requests"
		cg_line="$cg_line $s:$ir"
	done
fi

# --- tables ---------------------------------------------------------------
python3 - "$results" "$smoke" "$mem_line" "$cg_line" "$callgrind" "$rss_start" \
    "$skipped" "$idle" "$driver" "$users" <<'EOF' | tee "$work/tables.md"
import os, statistics, sys

results, smoke, mem, cg, cg_n, rss_start, skipped, idle, driver, users = sys.argv[1:11]
print("%s users; mailquota-policyd on %s\n" % ("{:,}".format(int(users)), driver))
runs = {}
for line in open(results):
    name, tag, kv = line.rstrip("\n").split("\t")
    d = dict(x.split("=", 1) for x in kv.split())
    if tag.startswith("c") or tag.startswith("lat"):
        key = tag.rsplit("-r", 1)[0]
        runs.setdefault((name, key), []).append(d)

def med(name, key, field):
    v = [float(d[field]) for d in runs.get((name, key), [])]
    return statistics.median(v) if v else None

def fmt(v, nd=0):
    if v is None:
        return "-"
    return "{:,.{}f}".format(v, nd)

def ratio(a, b, suffix="x"):
    if a is None or b is None or b == 0:
        return "-"
    return "{:.2f}{}".format(a / b, suffix) if a / b < 10 else "{:.0f}{}".format(a / b, suffix)

names = ["ref", "policyd", "nocache", "dovecot"]
keys = sorted({k for (_, k) in runs if k.startswith("c")}, key=lambda k: int(k[1:]))
n = max((len(v) for v in runs.values()), default=0)
print("Throughput, requests/s (median of %d; p50/p99 latency in us)\n" % n)
print("| conns | reference | policyd | policyd cache off | Dovecot quota-status "
      "| policyd / ref | policyd / Dovecot | cache off / Dovecot |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in keys:
    cells = []
    for s in names:
        r = med(s, k, "rps")
        if r is None:
            cells.append("-")
        else:
            cells.append("%s (%s/%s)" % (fmt(r), fmt(med(s, k, "p50_us"), 0),
                                         fmt(med(s, k, "p99_us"), 0)))
    print("| %s | %s | %s | %s | %s |" % (
        k[1:], " | ".join(cells),
        ratio(med("policyd", k, "rps"), med("ref", k, "rps")),
        ratio(med("policyd", k, "rps"), med("dovecot", k, "rps")),
        ratio(med("nocache", k, "rps"), med("dovecot", k, "rps"))))

print("\nServer CPU time per request, us (median; user + system, all threads"
      " and processes; last column: the load generator's own, against the reference)\n")
print("| conns | reference | policyd | policyd cache off | Dovecot quota-status | loadgen |")
print("|---:|---:|---:|---:|---:|---:|")
for k in keys:
    lg = [float(d["loadgen_cpu_us"]) for d in runs.get(("ref", k), [])]
    print("| %s | %s | %s |" % (k[1:], " | ".join(fmt(med(s, k, "server_cpu_us"), 1)
                                                  for s in names),
                                fmt(statistics.median(lg), 1) if lg else "-"))

# What the CPU figures predict for an otherwise idle machine: every core
# busy with either the generator or the server, nothing else.
ncpu = os.cpu_count() or 1
print("\nCPU-bound estimate for an idle machine, requests/s = %d cores / (server +"
      " generator CPU per request); ratios of these\n" % ncpu)
print("| conns | reference | policyd | policyd cache off | Dovecot quota-status "
      "| policyd / ref | policyd / Dovecot | cache off / Dovecot |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in keys:
    est = {}
    for s in names:
        sc, lc = med(s, k, "server_cpu_us"), med(s, k, "loadgen_cpu_us")
        if sc and lc:	# a run too short for the clock's ticks measures 0
            est[s] = ncpu * 1e6 / (sc + lc)
    print("| %s | %s | %s | %s | %s |" % (
        k[1:], " | ".join(fmt(est.get(s)) for s in names),
        ratio(est.get("policyd"), est.get("ref")),
        ratio(est.get("policyd"), est.get("dovecot")),
        ratio(est.get("nocache"), est.get("dovecot"))))

print("\nOne connection, latency in us (median of runs)\n")
print("| server | req/s | p50 | p90 | p99 | max |")
print("|---|---:|---:|---:|---:|---:|")
for s in names:
    if (s, "lat") in runs:
        print("| %s | %s | %s | %s | %s | %s |" % (
            s, fmt(med(s, "lat", "rps")), fmt(med(s, "lat", "p50_us"), 1),
            fmt(med(s, "lat", "p90_us"), 1), fmt(med(s, "lat", "p99_us"), 1),
            fmt(med(s, "lat", "max_us"), 0)))
p_pol, p_ref = med("policyd", "lat", "p99_us"), med("ref", "lat", "p99_us")
if p_pol is not None and p_ref is not None:
    print("\npolicyd p99 / reference p99 at one connection: %s" % ratio(p_pol, p_ref))

if mem.strip():
    print("\nResident memory with %s connections, %d of them idle after one request\n"
          % (idle, int(idle) - 10))
    print("| server | VmRSS before | VmRSS with the connections | VmHWM | per connection |")
    print("|---|---:|---:|---:|---:|")
    for item in mem.split():
        s, rss, hwm, rss0 = item.split(":")
        print("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f KiB |" % (
            s, int(rss0) / 1024, int(rss) / 1024, int(hwm) / 1024,
            (int(rss) - int(rss0)) / float(idle)))
    if rss_start:
        print("\npolicyd right after start: %.1f MiB" % (int(rss_start) / 1024))

if cg.strip():
    print("\nInstructions per request (callgrind, %s requests, warm cache)\n" % cg_n)
    print("| server | instructions/request |")
    print("|---|---:|")
    for item in cg.split():
        s, ir = item.split(":")
        print("| %s | %s |" % (s, fmt(int(ir) / int(cg_n))))
if skipped.strip():
    print("\nNot measured:%s" % skipped)
EOF
[ -n "$out" ] && cp "$work/tables.md" "$out"
if [ "$smoke" = yes ] && [ -n "$skipped" ]; then
	exit 77
fi
exit 0
