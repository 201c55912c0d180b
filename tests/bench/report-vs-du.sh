#!/bin/sh
# SPDX-License-Identifier: MIT
# report-vs-du.sh - `mailquota report` against the classic usage script
# that runs `du -sh` per mailbox, on one generated estate, in one run.
#
#   tests/bench/report-vs-du.sh [MAILBOXES] [DOMAINS]
#
# Builds (or reuses) an estate under ${MQ_BENCH_DIR:-/tmp/mq-bench}: a
# SQLite database with the tutorial schema and one Maildir per mailbox
# (cur/ new/ tmp/, 1 to 3 small messages with ,S= sizes, a maildirsize
# whose figure is right). Warms the page cache with one pass of each, then
# times one `mailquota report` and one du loop. Needs python3 (stdlib) to
# generate the estate. MQ_BENCH_DU=0 skips the du loop (quick runs). Finds the binary through $MQ_BUILDDIR (default: the
# repository root).
set -eu

N=${1:-100000}
D=${2:-200}
DIR=${MQ_BENCH_DIR:-/tmp/mq-bench}
here=$(cd "$(dirname "$0")/../.." && pwd)
MQ=${MQ_BUILDDIR:-$here}/cli/mailquota

[ -x "$MQ" ] || { echo "no $MQ: build first" >&2; exit 1; }
mkdir -p "$DIR"

if [ ! -f "$DIR/done-$N-$D" ]; then
	rm -rf "$DIR/mail" "$DIR/mail.db" "$DIR"/done-*
	echo "generating $N mailboxes in $D domains under $DIR ..." >&2
	python3 - "$DIR" "$N" "$D" "$here/conf/schema-default.sql" <<'PY'
import os, random, sqlite3, sys
top, n, nd, schema = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(42)
db = sqlite3.connect(os.path.join(top, "mail.db"))
db.executescript(open(schema).read())
db.executemany("INSERT INTO virtual_domains(id,name,enabled) VALUES (?,?,1)",
               [(d + 1, "dom%03d.example" % d) for d in range(nd)])
base = os.path.join(top, "mail")
rows = []
for i in range(n):
    d = i % nd
    dom, user = "dom%03d.example" % d, "user%06d" % i
    quota = rnd.choice([0, 50 << 20, 100 << 20, 1 << 30])
    rows.append((d + 1, "%s@%s" % (user, dom), "x", quota))
    md = os.path.join(base, dom, user)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    total = count = 0
    for m in range(rnd.randint(1, 3)):
        size = rnd.randint(500, 3000)
        name = "1700000000.M%dP%d.bench,S=%d:2,S" % (m, i, size)
        with open(os.path.join(md, "cur", name), "wb") as f:
            f.write(b"x" * size)
        total += size
        count += 1
    with open(os.path.join(md, "maildirsize"), "w") as f:
        f.write("%dS\n%d %d\n" % (quota, total, count) if quota else
                "0S\n%d %d\n" % (total, count))
db.executemany("INSERT INTO virtual_users(domain_id,email,password,quota) "
               "VALUES (?,?,?,?)", rows)
db.commit()
with open(os.path.join(top, "mailboxes"), "w") as f:
    for r in rows:
        user, dom = r[1].split("@")
        f.write("%s/%s\n" % (dom, user))
PY
	touch "$DIR/done-$N-$D"
fi

cat > "$DIR/mailquota.conf" <<CONF
database {
    driver = "sqlite"
    path = "$DIR/mail.db"
    connections = 2
}
maildir {
    base = "$DIR/mail"
}
CONF

# The classic script: du -sh per mailbox.
du_loop() {
	while read -r m; do
		du -sh "$DIR/mail/$m"
	done < "$DIR/mailboxes"
}

now() { date +%s.%N; }

echo "warming the page cache ..." >&2
du -s "$DIR/mail" > /dev/null
"$MQ" -c "$DIR/mailquota.conf" report --format csv > /dev/null || true

t0=$(now)
"$MQ" -c "$DIR/mailquota.conf" report > "$DIR/report.txt" || true
t1=$(now)
if [ "${MQ_BENCH_DU:-1}" = 1 ]; then
	du_loop > "$DIR/du.txt"
fi
t2=$(now)

awk -v n="$N" -v d="$D" -v cpus="$(nproc)" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "mailboxes:        %d in %d domains\n", n, d
	printf "cpus:             %s\n", cpus
	printf "mailquota report: %.2f s\n", b - a
	printf "du -sh loop:      %.2f s\n", c - b
	printf "speed-up:         %.0fx\n", (c - b) / (b - a)
}'
