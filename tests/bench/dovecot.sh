#!/bin/sh
# SPDX-License-Identifier: MIT
# dovecot.sh - a private Dovecot instance whose only job is quota-status, the
# Postfix policy service mailquota-policyd is compared with.
#
#   dovecot.sh start DIR FIXTURE PORT   write DIR/dovecot.conf, start, wait for PORT
#   dovecot.sh stop DIR                 stop it by the master's PID
#
# FIXTURE is a directory made by genfixture.py (users.passwd, base/). The
# instance has its own base_dir and state_dir under DIR, listens on nothing
# but 127.0.0.1:PORT (protocols is empty: no IMAP, POP3 or LMTP), reads the
# users and their quotas from the passwd-file and the usage from each
# Maildir's maildirsize (quota = maildir). Replies are set to what the
# benchmark's mailquota configuration answers. It must be started as root
# (the master runs as root; quota-status switches to each user's UID).
#
# Environment: DOVECOT (default /usr/sbin/dovecot), QUOTA_STATUS_PROCESSES
# (the service's process_limit, default 1100: client_limit is 1, so one
# process per connection).
set -eu

DOVECOT=${DOVECOT:-/usr/sbin/dovecot}

die() {
	echo "dovecot.sh: $*" >&2
	exit 1
}

# wait_port PORT SECONDS - until something accepts connections on 127.0.0.1:PORT
wait_port() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

start() {
	dir=$1 fixture=$2 port=$3
	[ -x "$DOVECOT" ] || die "$DOVECOT not found (Debian package dovecot-core)"
	[ -f "$fixture/users.passwd" ] || die "$fixture/users.passwd: no fixture"
	[ "$(id -u)" = 0 ] || die "must run as root"
	mkdir -p "$dir/run" "$dir/state"
	dir=$(cd "$dir" && pwd) fixture=$(cd "$fixture" && pwd)
	cat >"$dir/dovecot.conf" <<EOF
# Private Dovecot for the mailquota benchmarks (tests/bench/dovecot.sh).
base_dir = $dir/run
state_dir = $dir/state
instance_name = mqbench-$port
protocols =
listen = 127.0.0.1
ssl = no
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:$fixture/base/%d/%n
mail_plugins = quota
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = $fixture/users.passwd
}
userdb {
  driver = passwd-file
  args = $fixture/users.passwd
}
plugin {
  quota = maildir:User quota
  quota_grace = 0%%
  quota_status_success = DUNNO
  quota_status_nouser = DUNNO
  quota_status_overquota = "552 5.2.2 Mailbox is full"
}
service quota-status {
  executable = quota-status -p postfix
  inet_listener {
    address = 127.0.0.1
    port = $port
  }
  client_limit = 1
  process_limit = ${QUOTA_STATUS_PROCESSES:-1100}
}
service auth {
  client_limit = 4096
}
EOF
	"$DOVECOT" -c "$dir/dovecot.conf" ||
	    die "dovecot did not start; see $dir/dovecot.log"
	if ! wait_port "$port" 10; then
		stop "$dir"
		die "quota-status does not answer on 127.0.0.1:$port; see $dir/dovecot.log"
	fi
	cat "$dir/run/master.pid"
}

stop() {
	dir=$1
	pidfile="$dir/run/master.pid"
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	kill "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
	# The master takes its children down with it; wait up to 10 s.
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$pidfile"
}

case "${1:-}" in
start)
	[ $# -eq 4 ] || die "usage: dovecot.sh start DIR FIXTURE PORT"
	start "$2" "$3" "$4"
	;;
stop)
	[ $# -eq 2 ] || die "usage: dovecot.sh stop DIR"
	stop "$2"
	;;
*)
	die "usage: dovecot.sh start DIR FIXTURE PORT | stop DIR"
	;;
esac
