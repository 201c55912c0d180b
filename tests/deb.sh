#!/bin/sh
# SPDX-License-Identifier: MIT
# deb.sh - build the Debian package from a clean export of the tree,
# install it, run the demo against the installed programs, remove it.
#
#   1. export: `git archive` of the working tree's tracked files (uncommitted
#      changes included, untracked files and build directories not), or
#      the unpacked tree when this is not a git checkout
#   2. dpkg-buildpackage -us -uc -b (the build tools and Build-Depends are
#      installed when missing)
#   3. the .deb: programs, conffile, units, shlibs dependencies
#   4. apt-get install ./mailquota_*.deb; the system user and /var/lib/mailquota
#   5. demo: /usr/sbin/mailquota-policyd -f -c DEMO on a free loopback port
#      answers a policy request; /usr/bin/mailquota check agrees; the
#      sweep with the unit's UMask= and a hook as another user in group
#      mailquota share the state in /var/lib/mailquota/warn
#   6. apt-get purge mailquota; nothing of it is left
#
# Needs root (or sudo) on Debian. Exits 77 (skipped) when that is not
# possible, unless MQ_REQUIRE_ALL=1. Never touches a mailquota package that
# was installed before it ran. MQ_KEEP=1 keeps the work directory.

# shellcheck disable=SC2016 # sh -c scripts take their arguments as $1, $2
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap

set -u

cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
FAILED=0
WORK=""
PID=""
INSTALLED=0
CREATED_USER=0
SUDO=""

say() { printf '%s\n' "deb.sh: $*"; }

skip() {
	if [ "${MQ_REQUIRE_ALL:-0}" = 1 ]; then
		say "FAIL: required but not possible: $*"
		exit 1
	fi
	say "SKIP: $*"
	exit 77
}

ok() { printf 'ok   %s\n' "$*"; }
fail() {
	printf 'FAIL %s\n' "$*"
	FAILED=1
}
# check NAME COMMAND... - ok or FAIL by the command's status.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID" 2>/dev/null
		sleep 1
		kill -9 "$PID" 2>/dev/null
	fi
	if [ "$INSTALLED" = 1 ]; then
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailquota >/dev/null 2>&1
	fi
	if [ "$CREATED_USER" = 1 ] && getent passwd mailquota >/dev/null; then
		$SUDO deluser --system --quiet mailquota >/dev/null 2>&1
		getent group mailquota >/dev/null && $SUDO delgroup --system --quiet mailquota >/dev/null 2>&1
	fi
	if [ -n "$WORK" ]; then
		if [ "${MQ_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- can we? ----------------------------------------------------------------

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	skip "not a Debian system (no dpkg/apt-get)"
fi
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || skip "not root and no sudo"
	SUDO=sudo
fi
if dpkg-query -W -f='${Status}' mailquota 2>/dev/null | grep -q 'installed'; then
	skip "a mailquota package is already installed here; not replacing it"
fi
command -v python3 >/dev/null 2>&1 || skip "python3 is needed for the demo client"

# --- build ------------------------------------------------------------------

tools=""
for p in dpkg-dev debhelper build-essential; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || tools="$tools $p"
done
if [ -n "$tools" ]; then
	say "installing:$tools"
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $tools ||
		skip "cannot install$tools"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mq-deb-XXXXXX") || exit 1
chmod 0755 "$WORK"
SRC="$WORK/mailquota"
mkdir "$SRC"
if command -v git >/dev/null 2>&1 && git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# a commit of the working tree as it is, tracked files only
	rev=$(git -C "$TOP" stash create 2>/dev/null)
	[ -n "$rev" ] || rev=HEAD
	git -C "$TOP" archive --format=tar "$rev" | tar -x -C "$SRC" || exit 1
	if [ "$rev" = HEAD ]; then
		say "exported $(git -C "$TOP" rev-parse --short HEAD)"
	else
		say "exported $(git -C "$TOP" rev-parse --short HEAD) with uncommitted changes"
	fi
else
	# a release tarball unpacked: copy it, without build output
	tar -C "$TOP" --exclude='./build*' --exclude='./demo' -cf - . | tar -x -C "$SRC" || exit 1
	say "copied $TOP"
fi
[ -f "$SRC/debian/control" ] || skip "no debian/ in the exported tree"

# Build-Depends (apt reads them from debian/control)
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q "$SRC" >"$WORK/build-dep.log" 2>&1 ||
	{ cat "$WORK/build-dep.log"; fail "apt-get build-dep"; exit 1; }

say "dpkg-buildpackage -us -uc -b (log: $WORK/build.log)"
t0=$(date +%s)
if (cd "$SRC" && DEB_BUILD_OPTIONS="parallel=${JOBS:-2}" dpkg-buildpackage -us -uc -b) \
	>"$WORK/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - t0))s)"
else
	tail -n 60 "$WORK/build.log"
	fail "dpkg-buildpackage -us -uc -b"
	exit 1
fi
DEB=$(find "$WORK" -maxdepth 1 -name 'mailquota_*.deb' | head -n 1)
[ -n "$DEB" ] || { fail "no mailquota_*.deb built"; exit 1; }
ok "built $(basename "$DEB") ($(du -k "$DEB" | cut -f1) KiB)"
# lintian: no error, warning or info tag on the package (overrides are
# read from the package itself)
if command -v lintian >/dev/null 2>&1; then
	tags=$(lintian --fail-on none --display-info "$DEB" 2>/dev/null)
	check "lintian reports nothing" [ -z "$tags" ]
	[ -z "$tags" ] || printf '%s\n' "$tags"
else
	fail "lintian is not installed"
fi

# --- the .deb ---------------------------------------------------------------

contents=$(dpkg-deb -c "$DEB" | awk '{ print $NF }' | sed 's|^\./|/|')
for f in /usr/sbin/mailquota-policyd /usr/bin/mailquota /etc/mailquota/mailquota.conf \
	/lib/systemd/system/mailquota-policyd.service \
	/lib/systemd/system/mailquota-warn-sweep.service \
	/lib/systemd/system/mailquota-warn-sweep.timer \
	/usr/share/mailquota/schema-default.sql /usr/share/man/man8/mailquota-policyd.8.gz \
	/usr/share/man/man5/mailquota.conf.5.gz /usr/share/doc/mailquota/copyright \
	/var/lib/mailquota/; do
	check "package contains $f" sh -c 'printf "%s\n" "$1" | grep -qx "$2"' _ "$contents" "$f"
done
check "mailquota-warn in the package, if built" sh -c \
	'! [ -f "$1/warn/main.c" ] || printf "%s\n" "$2" | grep -qx /usr/sbin/mailquota-warn' _ "$SRC" "$contents"
ctl=$WORK/control
mkdir "$ctl" && dpkg-deb -e "$DEB" "$ctl"
check "conffile: /etc/mailquota/mailquota.conf" grep -qx /etc/mailquota/mailquota.conf "$ctl/conffiles"
check "conffile: /etc/mailquota/warning.txt, if mailquota-warn is built" sh -c \
	'! [ -f "$1/conf/warning.txt" ] || grep -qx /etc/mailquota/warning.txt "$2/conffiles"' _ "$SRC" "$ctl"
check "conffile: /etc/mailquota/digest.txt, if mailquota-warn is built" sh -c \
	'! [ -f "$1/conf/digest.txt" ] || grep -qx /etc/mailquota/digest.txt "$2/conffiles"' _ "$SRC" "$ctl"
depends=$(dpkg-deb -f "$DEB" Depends)
say "Depends: $depends"
for lib in libevent-core libevent-extra libconfuse libsqlite3 libmariadb3 libpq5 adduser; do
	check "Depends names $lib" sh -c 'printf "%s" "$1" | grep -q "$2"' _ "$depends" "$lib"
done
check "postinst: adduser --system, no recursive chown" sh -c \
	'grep -q "adduser --system" "$1/postinst" && ! grep -Eq "chown +-R|chown +--recursive" "$1/postinst"' _ "$ctl"

# --- install ------------------------------------------------------------------

getent passwd mailquota >/dev/null || CREATED_USER=1
say "apt-get install $DEB"
INSTALLED=1
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >"$WORK/install.log" 2>&1; then
	ok "apt-get install ./$(basename "$DEB")"
else
	cat "$WORK/install.log"
	fail "apt-get install ./$(basename "$DEB")"
	exit 1
fi
check "system user mailquota" sh -c 'getent passwd mailquota | grep -q ":/var/lib/mailquota:"'
check "/var/lib/mailquota belongs to mailquota" sh -c \
	'[ "$(stat -c %U:%G /var/lib/mailquota)" = mailquota:mailquota ]'
check "/etc/mailquota/mailquota.conf installed" test -f /etc/mailquota/mailquota.conf
check "units installed but not enabled" sh -c \
	'[ -f /lib/systemd/system/mailquota-policyd.service ] &&
	 ! ls /etc/systemd/system/*.wants/mailquota* >/dev/null 2>&1'
check "nothing started: no /usr/sbin/mailquota-policyd process" sh -c '! pgrep -f "^/usr/sbin/mailquota-policyd" >/dev/null'
check "mailquota-policyd -V" sh -c '/usr/sbin/mailquota-policyd -V | grep -q "^mailquota-policyd "'
check "installed binaries resolve every library" sh -c \
	'! ldd /usr/sbin/mailquota-policyd /usr/bin/mailquota | grep -q "not found"'

# --- demo against the installed programs -------------------------------------

DEMO=$WORK/demo
mkdir -p "$DEMO/vmail"
chmod 0755 "$DEMO" "$DEMO/vmail"
python3 - "$DEMO" /usr/share/mailquota/schema-default.sql <<'EOF' || fail "demo fixture"
import os, sqlite3, sys
demo, schema = sys.argv[1], sys.argv[2]
db = sqlite3.connect(os.path.join(demo, "mail.db"))
db.executescript(open(schema).read())
db.execute("INSERT INTO virtual_domains (id, name, enabled) VALUES (1, 'example.org', 1)")
for i, (user, quota, used) in enumerate([("under", 10485760, 2097152),
                                         ("over", 10485760, 11000000)], 1):
    db.execute("INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled) "
               "VALUES (?, 1, ?, '{PLAIN}demo', ?, 1)", (i, user + "@example.org", quota))
    md = os.path.join(demo, "vmail", "example.org", user)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    with open(os.path.join(md, "maildirsize"), "w") as f:
        f.write("%dS\n%d 10\n" % (quota, used))
db.commit()
EOF
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$DEMO/mailquota.conf" <<EOF
database {
    driver = "sqlite"
    path   = "$DEMO/mail.db"
}
maildir {
    base = "$DEMO/vmail"
}
policy {
    listen = {"inet:127.0.0.1:$PORT"}
}
EOF
check "mailquota-policyd -t on the demo configuration" \
	sh -c '/usr/sbin/mailquota-policyd -t -c "$1" >/dev/null 2>&1' _ "$DEMO/mailquota.conf"
/usr/sbin/mailquota-policyd -f -c "$DEMO/mailquota.conf" 2>"$DEMO/policyd.log" &
PID=$!
# one policy request, as smtpd sends it, once the port is up
reply=$(python3 - "$PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
end = time.time() + 15
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        if time.time() > end:
            print("no listener")
            sys.exit(1)
        time.sleep(0.1)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
          b"recipient=over@example.org\nsize=1000\n\n")
buf = b""
while not buf.endswith(b"\n\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())
EOF
)
check "installed daemon answers: $reply" [ "$reply" = "action=552 5.2.2 Mailbox is full" ]
check "decision logged" grep -q "recipient=over@example.org .*outcome=overquota" "$DEMO/policyd.log"
out=$(/usr/bin/mailquota -c "$DEMO/mailquota.conf" check over@example.org --size 1000 2>&1)
rc=$?
check "mailquota check over@example.org: exit 1 (reject)" [ "$rc" -eq 1 ]
printf '%s\n' "$out" | sed 's/^/    /'
/usr/bin/mailquota -c "$DEMO/mailquota.conf" check under@example.org --size 1000 >/dev/null 2>&1
check "mailquota check under@example.org: exit 0 (accept)" [ $? -eq 0 ]
kill "$PID"
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$PID"
check "installed daemon stops on SIGTERM with status 0" [ $? -eq 0 ]
PID=""

# --- the warning state, as the package and the sweep unit set it up ---------
# The sweep as the unit runs it (root, its UMask=), then a hook as Dovecot's
# script service runs it (another user, in group mailquota through
# extra_groups): both must be able to use the state in /var/lib/mailquota/warn.

if [ -x /usr/sbin/mailquota-warn ]; then
	check "/var/lib/mailquota/warn: mailquota:mailquota, mode 2770" sh -c \
		'[ "$(stat -c %U:%G:%a /var/lib/mailquota/warn)" = mailquota:mailquota:2770 ]'
	printf '#!/bin/sh\ncat >/dev/null\n' >"$DEMO/sendmail"
	chmod 0755 "$DEMO/sendmail"
	cat >>"$DEMO/mailquota.conf" <<EOF
warn {
    from     = "postmaster@example.org"
    sendmail = "$DEMO/sendmail"
}
EOF
	um=$(sed -n 's/^UMask=//p' /lib/systemd/system/mailquota-warn-sweep.service)
	(umask "${um:-0022}" && /usr/sbin/mailquota-warn -c "$DEMO/mailquota.conf" --sweep) \
		>"$DEMO/sweep.log" 2>&1
	check "sweep with the unit's UMask=${um:-none} as root: exit 0" [ $? -eq 0 ]
	check "state files: mailquota:mailquota, mode 0660" sh -c \
		'[ "$(stat -c %U:%G:%a /var/lib/mailquota/warn/warn.state /var/lib/mailquota/warn/warn.state.lock | sort -u)" = mailquota:mailquota:660 ]'
	gid=$(getent group mailquota | cut -d: -f3)
	if command -v setpriv >/dev/null 2>&1; then
		setpriv --reuid=65534 --regid=65534 --groups="$gid" \
			/usr/sbin/mailquota-warn -c "$DEMO/mailquota.conf" 95 over@example.org \
			>"$DEMO/hook.log" 2>&1
		check "hook as nobody with group mailquota: exit 0, recorded" sh -c \
			'[ "$1" -eq 0 ] && ! grep -q "not recorded" "$2" &&
			 grep -q "^over@example.org 95 sent " /var/lib/mailquota/warn/warn.state' _ $? "$DEMO/hook.log"
	fi
fi

# --- remove -------------------------------------------------------------------

if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q mailquota >"$WORK/remove.log" 2>&1; then
	ok "apt-get remove mailquota"
else
	cat "$WORK/remove.log"
	fail "apt-get remove mailquota"
fi
check "after remove: programs gone" sh -c '! [ -e /usr/sbin/mailquota-policyd ] && ! [ -e /usr/bin/mailquota ]'
check "after remove: conffile kept (as dpkg does)" test -f /etc/mailquota/mailquota.conf
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailquota >>"$WORK/remove.log" 2>&1; then
	ok "apt-get purge mailquota"
	INSTALLED=0
else
	cat "$WORK/remove.log"
	fail "apt-get purge mailquota"
fi
check "after purge: /etc/mailquota gone" sh -c '! [ -e /etc/mailquota ]'
check "after purge: the warning state gone" sh -c '! [ -e /var/lib/mailquota/warn ]'
check "after purge: dpkg knows no mailquota" sh -c \
	'! dpkg-query -W -f="\${Status}" mailquota 2>/dev/null | grep -q "installed\|config-files"'

if [ "$FAILED" -ne 0 ]; then
	say "FAILED"
	exit 1
fi
say "all passed"
exit 0
