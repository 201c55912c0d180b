#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.sh - build mailquota and run mailquota-policyd on a demo database.
#
# Installs the Debian build dependencies when some are missing, builds in
# build/, creates demo/ afresh (an SQLite database from conf/schema-default.sql
# and conf/demo.sql, Maildirs with maildirsize files to match, a
# mailquota.conf) and runs the daemon in the foreground on 127.0.0.1:10031.
# Stop it with Ctrl-C; run it again at any time.

set -eu

cd "$(dirname "$0")/.."
TOP=$(pwd)
PORT=10031

PKGS="build-essential autoconf automake pkg-config libevent-dev libconfuse-dev
libsqlite3-dev libmariadb-dev libpq-dev check sqlite3 netcat-openbsd"

# install_missing - apt-get install the packages of $PKGS not installed yet.
install_missing() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "demo.sh: not a Debian system; install the equivalents of: $(echo "$PKGS" | tr "\n" " ")" >&2
		return 0
	fi
	missing=""
	for p in $PKGS; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		sudo=""
	elif command -v sudo >/dev/null 2>&1; then
		echo "demo.sh: not root; using sudo to install:$missing"
		sudo="sudo"
	else
		echo "demo.sh: not root and no sudo; as root run: apt-get install$missing" >&2
		exit 1
	fi
	echo "demo.sh: installing:$missing"
	$sudo apt-get update
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
}

# maildir USER@DOMAIN DEFINITION BYTES COUNT - a Maildir with a maildirsize file.
maildir() {
	local_part=${1%@*}
	domain=${1#*@}
	dir="demo/vmail/$domain/$local_part"
	mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
	printf '%s\n%s %s\n' "$2" "$3" "$4" >"$dir/maildirsize"
}

install_missing

echo "demo.sh: building in build/"
autoreconf -fi
mkdir -p build
(cd build && ../configure --quiet && make -j"$(nproc 2>/dev/null || echo 2)")

echo "demo.sh: creating demo/"
rm -rf demo
mkdir -p demo/vmail
sqlite3 demo/mail.db <conf/schema-default.sql
sqlite3 demo/mail.db <conf/demo.sql

maildir under@example.org     10485760S 2097152 20
maildir near@example.org      10485760S 10484760 95
maildir over@example.org      10485760S 11000000 110
maildir unlimited@example.org 0S 50000000000 5000
maildir disabled@example.org  10485760S 1000 1
maildir user@example.net      10485760S 1000 1
maildir info@example.com      10485760S 5000 2

cat >demo/mailquota.conf <<EOF
# The demo configuration: see docs/mailquota.conf.5 for every key.
database {
    driver = "sqlite"
    path   = "$TOP/demo/mail.db"
}
schema = "default"
maildir {
    base = "$TOP/demo/vmail"
    path = "%d/%u"
}
policy {
    listen       = {"inet:127.0.0.1:$PORT"}
    reply_nouser = "550 5.1.1 User unknown"
}
log {
    level = "info"
}
EOF

cat <<EOF

mailquota demo: $TOP/demo
  users: under@ near@ over@ unlimited@ disabled@example.org (10 MiB quotas),
         user@example.net (domain disabled), info@example.com
  aliases: postmaster@ and team@example.org; catch-all *@example.com

In another terminal, try:

  ./build/cli/mailquota -c demo/mailquota.conf check over@example.org --size 1000
  ./build/cli/mailquota -c demo/mailquota.conf check near@example.org --size 2000
  printf 'request=smtpd_access_policy\\nprotocol_state=RCPT\\nrecipient=over@example.org\\nsize=1000\\n\\n' | nc -q 1 127.0.0.1 $PORT

To put it in front of Postfix, in main.cf, after relay control (which
Debian keeps in smtpd_relay_restrictions; see docs/postfix.md):

  smtpd_recipient_restrictions =
      check_policy_service { inet:127.0.0.1:$PORT, timeout=10s, default_action=DUNNO }

Starting mailquota-policyd in the foreground (Ctrl-C stops it):

EOF

exec ./build/policyd/mailquota-policyd -f -c demo/mailquota.conf
