#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Each schema preset against its schema, on real servers, through the daemon.

  flags         schema = "default" on the tutorial schema with its enabled
                flags declared BOOLEAN, TINYINT, SMALLINT or INTEGER (0/1),
                on MariaDB, PostgreSQL and SQLite: the same preset reads
                them all (disabled user, disabled domain, disabled alias).
  postfixadmin  the current PostfixAdmin tables (conf/schema-postfixadmin*)
                filled as PostfixAdmin fills them: quota in bytes (MB times
                quota_multiplier), 0 unlimited, -1 "disabled" (which Dovecot
                refuses: a tempfail), a self alias per mailbox,
                alias domains, backup MX, quota2; on all three engines, and
                on PostgreSQL once more with SMALLINT flags.
  postfixadmin-real
                the same rows and answers on the tables PostfixAdmin's own
                upgrade.php creates (Debian 12's postfixadmin package,
                unpacked by tests/run.sh into $MQ_POSTFIXADMIN_ROOT, run
                with php-cli) on MariaDB and PostgreSQL; and every column
                of conf/schema-postfixadmin-* has the same name, type and
                nullability there, so the restated schema cannot drift.
  iredmail      iRedMail's vmail tables (conf/schema-iredmail-*) filled as
                its tools do: quota in MB, the Maildir under Dovecot's
                lower-cased home, forwardings with a self row per mailbox,
                a bare-domain catch-all, alias domains only in alias_domain,
                enabledeliver, used_quota; on MariaDB and PostgreSQL.
  quota_clone   Dovecot 2.4's quota_clone table (docs/dovecot.md: its
                CREATE TABLE and the usage query are read from there) with
                rows written by the statements dict-sql sends, on MariaDB
                and PostgreSQL: values bound as strings, one upsert per key
                or both keys in one, a later figure replacing the earlier,
                more than 4 GiB, no row yet; usage = "sql", "both", and the
                Maildir without maildirsize (the count driver) recounted.
  -t            every preset passes -t against its own schema without a
                warning; a query missing a column it needs fails, naming the
                query and the column; a column never read is warned about.

Every answer comes from a running mailquota-policyd, asked over the policy
protocol. The limits and usages are set so that one byte decides: a quota
read in the wrong unit, a flag read the wrong way or a Maildir path built
wrong changes an answer.

Exit 77 (skip) when MariaDB or PostgreSQL is not installed, unless
MQ_REQUIRE_ALL=1.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbservers  # noqa: E402
import mqtest  # noqa: E402

R = mqtest.Results()
REPLY = dict(mqtest.REPLIES)
DUNNO = "DUNNO"
NOUSER = REPLY["reply_nouser"]
DISABLED = REPLY["reply_disabled"]
FULL = REPLY["reply_overquota"]
MB = 1048576            # iRedMail: Dovecot gets quota * 1048576 bytes
PFA_MB = 1024000        # PostfixAdmin's default quota_multiplier
# Debian's postfixadmin package unpacked (dpkg-deb -x): usr/share/postfixadmin
# and etc/postfixadmin. tests/run.sh puts it here.
PFA_ROOT = os.environ.get("MQ_POSTFIXADMIN_ROOT",
                          "/var/cache/mailquota-tests/postfixadmin")

# Flag column types per engine (MariaDB's BOOLEAN is TINYINT(1) already).
FLAG_TYPES = {
    "mysql": ["BOOLEAN", "SMALLINT", "INTEGER"],
    "pgsql": ["BOOLEAN", "SMALLINT", "INTEGER"],
    "sqlite": ["BOOLEAN", "TINYINT", "SMALLINT", "INTEGER"],
}


# --- engines: one interface over the servers and a SQLite file ------------

class SqliteDb:
    """A SQLite file with the dbservers interface the test needs."""
    driver = "sqlite"

    def __init__(self, root):
        self.root = root

    def create_database(self, name):
        path = os.path.join(self.root, name + ".db")
        if os.path.exists(path):
            os.unlink(path)

    def sql(self, text, database):
        with sqlite3.connect(os.path.join(self.root, database + ".db")) as c:
            c.executescript(text)

    def insert(self, table, columns, rows, database):
        with sqlite3.connect(os.path.join(self.root, database + ".db")) as c:
            c.executemany("INSERT INTO %s (%s) VALUES (%s)" % (
                table, ", ".join(columns), ", ".join("?" * len(columns))),
                [[int(v) if isinstance(v, bool) else v for v in r]
                 for r in rows])
        os.chmod(os.path.join(self.root, database + ".db"), 0o644)

    def database_keys(self, database):
        return {"driver": "sqlite",
                "path": os.path.join(self.root, database + ".db")}


def server_keys(srv, database):
    return dict(srv.database_keys("tcp", database), connections=2)


def db_keys(db, database):
    if isinstance(db, SqliteDb):
        return db.database_keys(database)
    return server_keys(db, database)


def schema_text(preset, driver):
    suffix = "" if driver == "sqlite" else "-" + driver
    with open(os.path.join(mqtest.SRCDIR, "conf", "schema-%s%s.sql" % (
            preset, suffix))) as f:
        return f.read()


def retype_flags(text, names, new_type, driver):
    """The shipped schema with the flag columns `names` declared new_type
    (1/0 defaults unless BOOLEAN on PostgreSQL). Fails when the schema
    file no longer has them, so this test cannot go stale quietly."""
    rx = re.compile(r"(\b(?:%s)\s+)(BOOLEAN|boolean|INTEGER|tinyint\(1\))"
                    r"( NOT NULL DEFAULT )(TRUE|true|FALSE|false|1|0)\b"
                    % "|".join(names))
    int_flags = not (new_type == "BOOLEAN" and driver == "pgsql")

    def sub(m):
        on = m.group(4).lower() in ("true", "1")
        default = ("1" if on else "0") if int_flags else \
            ("true" if on else "false")
        return m.group(1) + new_type + m.group(3) + default
    out, n = rx.subn(sub, text)
    if n == 0:
        raise AssertionError("no flag column %s in the %s schema" % (
            "/".join(names), driver))
    return out


def flag(value, flag_type, driver):
    """A flag as the application would write it into that column type."""
    if flag_type == "BOOLEAN" and driver == "pgsql":
        return bool(value)
    return 1 if value else 0


# --- Maildirs ---------------------------------------------------------------

def make_maildir(path, limit, used):
    """A Maildir with the maildirsize Dovecot keeps: limit, then usage."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), mode=0o755, exist_ok=True)
    with open(os.path.join(path, "maildirsize"), "w") as f:
        f.write("%dS\n%d 1\n" % (limit, used))


# --- the daemon and the questions ------------------------------------------

def ask_all(label, conf_extra, db, database, base, cases):
    """Start the daemon on database, ask each (recipient, size, want)."""
    root = mqtest.tempdir("mq-schemas-conf-")
    conf = os.path.join(root, "mailquota.conf")
    port = mqtest.free_port()
    policy = dict(REPLY)
    policy["cache_ttl"] = 0
    extra = {"schema": conf_extra.pop("schema")}
    extra.update(conf_extra)
    mqtest.write_config(conf, listen=("inet:127.0.0.1:%d" % port,),
                        database=db_keys(db, database),
                        maildir={"base": base}, policy=policy, extra=extra)
    t = subprocess.run([mqtest.POLICYD, "-t", "-c", conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = t.stdout.decode("utf-8", "replace")
    if t.returncode == 0 and "configuration OK" in out and \
            "does not read" not in out:
        R.ok("%s: -t" % label)
    else:
        R.fail("%s: -t" % label, "exit %d: %s" % (t.returncode, out.strip()))
    failed = R.failed
    d = mqtest.Daemon(conf, addr=("127.0.0.1", port)).start()
    try:
        c = mqtest.PolicyClient(("127.0.0.1", port))
        for rcpt, size, want in cases:
            got = c.ask(recipient=rcpt, size=size)
            if got == want:
                R.ok("%s: %s size %d: %s" % (label, rcpt, size, got))
            else:
                R.fail("%s: %s size %d" % (label, rcpt, size),
                       "got %r, want %r" % (got, want))
        c.close()
    finally:
        d.stop()
        if R.failed > failed:
            mqtest.log(d.stderr()[-3000:])


# --- the tutorial schema with each flag type --------------------------------

def flags(db, base):
    for ftype in FLAG_TYPES[db.driver]:
        name = "flags_" + re.sub(r"\W", "", ftype).lower()
        label = "%s/default/%s" % (db.driver, ftype)
        db.create_database(name)
        db.sql(retype_flags(schema_text("default", db.driver), ["enabled"],
                            ftype, db.driver), name)
        f = lambda v: flag(v, ftype, db.driver)  # noqa: E731
        db.insert("virtual_domains", ["id", "name", "enabled"], [
            (1, "example.org", f(1)), (2, "off.example", f(0))], name)
        db.insert("virtual_users", ["domain_id", "email", "password", "quota",
                                    "enabled"], [
            (1, "alice@example.org", "x", 1000, f(1)),
            (1, "carol@example.org", "x", 1000, f(0)),
            (2, "dave@off.example", "x", 1000, f(1))], name)
        db.insert("virtual_aliases", ["domain_id", "source", "destination",
                                      "enabled"], [
            (1, "team@example.org", "alice@example.org", f(1)),
            (1, "old@example.org", "alice@example.org", f(0)),
            (2, "info@off.example", "dave@off.example", f(1))], name)
        mdbase = os.path.join(base, name)
        make_maildir(os.path.join(mdbase, "example.org", "alice"), 1000, 900)
        ask_all(label, {"schema": "default"}, db, name, mdbase, [
            ("alice@example.org", 100, DUNNO),
            ("alice@example.org", 101, FULL),
            ("team@example.org", 101, FULL),
            ("carol@example.org", 1, DISABLED),
            ("dave@off.example", 1, DISABLED),
            ("old@example.org", 1, NOUSER),
            ("nobody@example.org", 1, NOUSER),
        ])


# --- PostfixAdmin -------------------------------------------------------------

def pfa_upgrade(db, name):
    """pfa_upgrade - database name with the tables PostfixAdmin's own
    upgrade.php creates in it (the daemon's account may only read them)."""
    tree = os.path.join(PFA_ROOT, "usr", "share", "postfixadmin")
    db.create_database(name)
    if db.driver == "mysql":
        dbtype, user, password = "mysqli", "pfaadmin", "pfa-admin-pass"
        db.sql("CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY '%s';\n"
               "GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1';\n"
               % (user, password, name, user), database="")
    else:
        # the superuser, so the default privileges give the reader SELECT
        dbtype, user, password = "pgsql", "postgres", db.superpass
    app = os.path.join(mqtest.tempdir("mq-schemas-pfa-"), "postfixadmin")
    shutil.copytree(tree, app, symlinks=True)
    for link in ("config.inc.php", "config.local.php", "templates_c"):
        os.unlink(os.path.join(app, link))     # symlinks into /etc and /var
    os.mkdir(os.path.join(app, "templates_c"))
    shutil.copy(os.path.join(PFA_ROOT, "etc", "postfixadmin", "config.inc.php"),
                os.path.join(app, "config.inc.php"))
    # config.inc.php reads dbconfig.inc.php for these, as on Debian
    with open(os.path.join(app, "dbconfig.inc.php"), "w") as f:
        f.write("<?php\n$dbtype = '%s';\n$dbserver = '127.0.0.1';\n"
                "$dbuser = '%s';\n$dbpass = '%s';\n$dbname = '%s';\n"
                % (dbtype, user, password, name))
    with open(os.path.join(app, "config.local.php"), "w") as f:
        f.write("<?php\n$CONF['database_port'] = '%d';\n" % db.port)
    r = subprocess.run(["php", os.path.join("public", "upgrade.php")], cwd=app,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    if not R.check("%s/postfixadmin: PostfixAdmin's upgrade.php builds its schema"
                   % db.driver, r.returncode == 0 and "updating to version" in r.stdout,
                   "exit %d: %s" % (r.returncode, r.stdout[-2000:])):
        raise AssertionError("no PostfixAdmin schema")


def columns(db, database, tables):
    """columns - {(table, column): (type, nullable)} of the named tables."""
    if db.driver == "mysql":
        q = ("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE "
             "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s'" % database)
    else:
        q = ("SELECT table_name, column_name, data_type, is_nullable "
             "FROM information_schema.columns WHERE table_schema = 'public'")
    sep = "\t" if db.driver == "mysql" else "|"
    out = {}
    for line in db.sql(q + ";\n", database).splitlines():
        t, c, typ, null = line.split(sep)
        if t in tables:
            out[(t, c)] = (typ.lower(), null)
    return out


def postfixadmin_real(db, base):
    """The PostfixAdmin rows and answers on PostfixAdmin's own tables, and
    the restated schema file held to them column by column."""
    if not os.path.isdir(os.path.join(PFA_ROOT, "usr", "share", "postfixadmin")) or \
            shutil.which("php") is None:
        R.skip("%s/postfixadmin-real" % db.driver,
               "php-cli or PostfixAdmin not at %s (tests/run.sh unpacks it)" % PFA_ROOT)
        return
    postfixadmin(db, base, real=True)
    restated = columns(db, "pfa", PFA_TABLES)
    real = columns(db, "pfa_real", PFA_TABLES)
    R.check("%s/postfixadmin: the restated schema has columns" % db.driver,
            len(restated) >= 20, "%d columns" % len(restated))
    for key in sorted(restated):
        want = restated[key]
        if key in PFA_33_DIFFERS:
            want = PFA_33_DIFFERS[key] if db.driver in PFA_33_DIFFERS_ON[key] else want
        R.check("%s/postfixadmin: column %s.%s as PostfixAdmin creates it" % (
            (db.driver,) + key), real.get(key) == want,
            "restated %r, want %r from PostfixAdmin, got %r" % (
                restated[key], want, real.get(key)))


PFA_TABLES = ("domain", "mailbox", "alias", "alias_domain", "quota2")
# The restated schema is PostfixAdmin 4.0's (database version 1856);
# Debian 12 ships 3.3.13 (version 1847), whose tables differ in these:
# None where 3.3 has no such column.
PFA_33_DIFFERS = {
    ("mailbox", "totp_secret"): None,           # 4.0's upgrade_1849
    ("mailbox", "smtp_active"): None,           # upgrade_1850
    ("alias", "description"): None,             # upgrade_1854
    ("alias_domain", "description"): None,      # upgrade_1854
    # 3.3's upgrade_1847_mysql widens it; 4.0 keeps varchar(100)
    ("quota2", "username"): ("varchar(255)", "NO"),
}
PFA_33_DIFFERS_ON = {k: ("mysql", "pgsql") for k in PFA_33_DIFFERS}
PFA_33_DIFFERS_ON[("quota2", "username")] = ("mysql",)


def postfixadmin(db, base, ftype=None, real=False):
    name = "pfa" + ("_" + ftype.lower() if ftype else "") + ("_real" if real else "")
    label = "%s/postfixadmin%s%s" % (db.driver, "/" + ftype if ftype else "",
                                     "/upgrade.php" if real else "")
    if real:
        pfa_upgrade(db, name)
    else:
        text = schema_text("postfixadmin", db.driver)
        if ftype:
            text = retype_flags(text, ["active", "backupmx", "smtp_active"],
                                ftype, db.driver)
        db.create_database(name)
        db.sql(text, name)
    bool_flags = db.driver == "pgsql" and ftype is None
    f = (lambda v: bool(v)) if bool_flags else (lambda v: 1 if v else 0)
    # As PostfixAdmin writes them: every domain (alias domains too) in
    # domain; transport "virtual"; flags true/false or 1/0.
    db.insert("domain", ["domain", "description", "transport", "backupmx",
                         "active"], [
        ("example.org", "", "virtual", f(0), f(1)),
        ("off.example", "", "virtual", f(0), f(0)),
        ("backup.example", "", "relay:[mx.backup.example]", f(1), f(1)),
        ("alias.example", "", "virtual", f(0), f(1))], name)
    boxes = [  # local, quota in MB (PostfixAdmin's form), active, usage
        ("alice", 10, True, 10 * PFA_MB - 100),
        ("carol", 10, False, 0),
        ("zero", 0, True, 5000),
        ("neg", -1, True, 0),
    ]
    rows, aliases = [], []
    for local, mb, active, used in boxes:
        addr = local + "@example.org"
        quota = mb * PFA_MB if mb > 0 else mb
        rows.append((addr, "{CRYPT}x", local, "example.org/%s/" % local,
                     quota, local, "example.org", f(active)))
        aliases.append((addr, addr, "example.org", f(active)))
        make_maildir(os.path.join(base, name, "example.org", local),
                     max(quota, 0), used)
    rows.append(("dave@off.example", "{CRYPT}x", "dave", "off.example/dave/",
                 PFA_MB, "dave", "off.example", f(1)))
    aliases.append(("dave@off.example", "dave@off.example", "off.example",
                    f(1)))
    aliases += [("team@example.org", "alice@example.org,zero@example.org",
                 "example.org", f(1)),
                ("old@example.org", "alice@example.org", "example.org", f(0))]
    db.insert("mailbox", ["username", "password", "name", "maildir", "quota",
                          "local_part", "domain", "active"], rows, name)
    db.insert("alias", ["address", "goto", "domain", "active"], aliases, name)
    db.insert("alias_domain", ["alias_domain", "target_domain", "active"], [
        ("alias.example", "example.org", f(1))], name)
    db.insert("quota2", ["username", "bytes", "messages"], [
        ("alice@example.org", 10 * PFA_MB, 3)], name)
    cases = [
        ("alice@example.org", 100, DUNNO),
        ("alice@example.org", 101, FULL),     # bytes, not MB
        ("alice@alias.example", 101, FULL),   # alias domain
        ("nobody@alias.example", 1, NOUSER),
        ("team@example.org", 10 ** 9, DUNNO),  # zero: 0 is no limit
        ("zero@example.org", 10 ** 9, DUNNO),
        # Dovecot: "Bytes limit can't be negative": not deliverable now.
        ("neg@example.org", 1, REPLY["reply_tempfail"]),
        ("carol@example.org", 1, DISABLED),
        ("dave@off.example", 1, DISABLED),
        ("old@example.org", 1, NOUSER),
        ("nobody@example.org", 1, NOUSER),
        ("anyone@backup.example", 1, DUNNO),  # backup MX: relayed
    ]
    ask_all(label, {"schema": "postfixadmin"}, db, name,
            os.path.join(base, name), cases)
    # quota2 says full where the Maildir says 100 bytes free.
    ask_all(label + "/usage=sql", {"schema": "postfixadmin",
                                   "quota": {"usage": "sql"}},
            db, name, os.path.join(base, name),
            [("alice@example.org", 1, FULL), ("zero@example.org", 1, DUNNO)])


# --- iRedMail -----------------------------------------------------------------

def iredmail(db, base):
    name = "vmail"
    label = "%s/iredmail" % db.driver
    store = os.path.join(base, "iredmail")
    db.create_database(name)
    db.sql(schema_text("iredmail", db.driver), name)
    db.insert("domain", ["domain", "transport", "backupmx", "active"], [
        ("example.com", "dovecot", 0, 1),
        ("other.example", "dovecot", 0, 1),
        ("off.example", "dovecot", 0, 0),
        ("backup.example", "relay:[mx.backup.example]", 1, 1)], name)
    # Only in alias_domain, as iRedMail keeps alias domains.
    db.insert("alias_domain", ["alias_domain", "target_domain", "active"], [
        ("alias.example", "example.com", 1)], name)
    boxes = [  # address, quota MB, maildir as stored, active, enabledeliver, used
        ("alice@example.com", 1, "Example.com/a/l/i/Alice-2026.12.04.10.00.00/",
         1, 1, MB - 100),
        ("full@example.com", 1, "example.com/f/u/l/full-2026.12.04.10.00.00/",
         1, 1, MB),
        ("bob@example.com", 1, "example.com/b/o/b/bob-2026.12.04.10.00.00/",
         1, 0, 0),
        ("carol@example.com", 1, "example.com/c/a/r/carol-2026.12.04.10.00.00/",
         0, 1, 0),
        ("dave@off.example", 1, "off.example/d/a/v/dave-2026.12.04.10.00.00/",
         1, 1, 0),
    ]
    rows, fwd = [], []
    for addr, mb, maildir, active, deliver, used in boxes:
        dom = addr.split("@")[1]
        rows.append((addr, "{SSHA512}x", addr.split("@")[0], store, "vmail1",
                     maildir, mb, dom, active, deliver))
        fwd.append((addr, addr, dom, dom, 0, 1, 0, active))
        # Dovecot's home is lower-cased; the Maildir folder is not.
        home = os.path.join(store, "vmail1", maildir.lower())
        make_maildir(os.path.join(home, "Maildir"), mb * MB, used)
    fwd += [
        ("team@example.com", "alice@example.com", "example.com",
         "example.com", 1, 0, 0, 1),
        ("team@example.com", "someone@remote.example", "example.com",
         "remote.example", 1, 0, 0, 1),
        ("example.com", "full@example.com", "example.com", "example.com",
         0, 0, 0, 1),                                 # the catch-all
        ("old@other.example", "alice@example.com", "other.example",
         "example.com", 1, 0, 0, 0),
    ]
    db.insert("mailbox", ["username", "password", "name",
                          "storagebasedirectory", "storagenode", "maildir",
                          "quota", "domain", "active", "enabledeliver"],
              rows, name)
    db.insert("forwardings", ["address", "forwarding", "domain",
                              "dest_domain", "is_list", "is_forwarding",
                              "is_alias", "active"], fwd, name)
    db.insert("used_quota", ["username", "bytes", "messages"], [
        ("alice@example.com", MB, 9)], name)
    ask_all(label, {"schema": "iredmail"}, db, name, store, [
        ("alice@example.com", 100, DUNNO),
        ("alice@example.com", 101, FULL),     # MB, and the lower-cased home
        ("alice+tag@example.com", 101, FULL),
        ("team@example.com", 101, FULL),
        ("alice@alias.example", 101, FULL),   # alias domain
        ("nobody@example.com", 1, FULL),      # catch-all -> full
        ("nobody@alias.example", 1, FULL),    # alias domain's catch-all
        # enabledeliver = 0 behind an active self-forwarding: Postfix
        # accepts it (virtual_alias_maps knows it) and the delivery fails
        # later; the daemon does not judge what Postfix does not refuse.
        ("bob@example.com", 1, DUNNO),
        # inactive, self-forwarding inactive too: Postfix gives the mail to
        # the domain's catch-all, full@ (virtual(5) lookup order)
        ("carol@example.com", 1, FULL),
        ("dave@off.example", 1, DISABLED),
        ("old@other.example", 1, NOUSER),     # inactive forwarding
        ("nobody@other.example", 1, NOUSER),
        ("anyone@backup.example", 1, DUNNO),  # backup MX: relayed
    ])
    ask_all(label + "/usage=sql", {"schema": "iredmail",
                                   "quota": {"usage": "sql"}},
            db, name, store, [("alice@example.com", 1, FULL)])


# --- Dovecot 2.4's quota_clone table ------------------------------------------

GIB = 2 ** 30


def dovecot_doc_sql(driver):
    """The quota_clone CREATE TABLE for driver and the usage query, as
    docs/dovecot.md gives them, so that a change there is tested here."""
    with open(os.path.join(mqtest.SRCDIR, "docs", "dovecot.md")) as f:
        text = f.read()
    tag = {"mysql": "MariaDB", "pgsql": "PostgreSQL"}[driver]
    m = re.search(r"```sql\n-- %s\n(CREATE TABLE quota_clone .*?;)\n```"
                  % tag, text, re.S)
    q = re.search(r'usage *= *"(SELECT [^"]*FROM quota_clone[^"]*)"', text)
    if not m or not q:
        raise AssertionError("docs/dovecot.md has no %s quota_clone table "
                             "or usage query" % tag)
    return m.group(1), q.group(1)


def clone_upsert(driver, user, values):
    """The statement dict-sql sends for a quota_clone update: the map's
    value fields (default type string, so quoted), an upsert on the
    username, the old value replaced."""
    cols = ", ".join(["username"] + [k for k, _ in values])
    vals = ", ".join(["'%s'" % user] + ["'%d'" % v for _, v in values])
    if driver == "mysql":
        upd = ", ".join("%s = '%d'" % (k, v) for k, v in values)
        return "INSERT INTO quota_clone (%s) VALUES (%s) ON DUPLICATE KEY " \
               "UPDATE %s;" % (cols, vals, upd)
    upd = ", ".join("%s = '%d'" % (k, v) for k, v in values)
    return "INSERT INTO quota_clone (%s) VALUES (%s) ON CONFLICT (username) " \
           "DO UPDATE SET %s;" % (cols, vals, upd)


def count_maildir(path, sizes):
    """A Maildir as the count driver leaves it: messages, no maildirsize."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), mode=0o755, exist_ok=True)
    for i, size in enumerate(sizes):
        with open(os.path.join(path, "cur", mqtest.maildir_filename(
                i, size)), "wb") as f:
            f.write(b"x")


def quota_clone(db, base):
    name = "clone"
    label = "%s/quota_clone" % db.driver
    table, usage = dovecot_doc_sql(db.driver)
    db.create_database(name)
    db.sql(schema_text("default", db.driver), name)
    db.sql(table, name)
    db.insert("virtual_domains", ["id", "name", "enabled"], [
        (1, "example.org", True)], name)
    db.insert("virtual_users", ["domain_id", "email", "password", "quota",
                                "enabled"], [
        (1, "alice@example.org", "x", 1000, True),
        (1, "bob@example.org", "x", 1000, True),
        (1, "carol@example.org", "x", 1000, True),
        (1, "dave@example.org", "x", 6 * GIB, True)], name)
    store = os.path.join(base, name)
    count_maildir(os.path.join(store, "example.org", "alice"), [60, 40])
    count_maildir(os.path.join(store, "example.org", "bob"), [10])
    count_maildir(os.path.join(store, "example.org", "carol"), [950])
    count_maildir(os.path.join(store, "example.org", "dave"), [])
    db.sql("\n".join([
        # one upsert per key, as two dict_map entries can give
        clone_upsert(db.driver, "alice@example.org", [("messages", 3)]),
        clone_upsert(db.driver, "alice@example.org", [("bytes", 900)]),
        # both keys at once, then a later figure (an expunge) replacing it
        clone_upsert(db.driver, "bob@example.org",
                     [("messages", 9), ("bytes", 1000)]),
        clone_upsert(db.driver, "bob@example.org",
                     [("messages", 4), ("bytes", 400)]),
        clone_upsert(db.driver, "dave@example.org",
                     [("messages", 2), ("bytes", 5 * GIB)]),
        # carol: no row, nothing changed since quota_clone was enabled
    ]), name)
    queries = {"usage": usage}
    ask_all(label + "/usage=sql", {"schema": "default", "queries": queries,
                                   "quota": {"usage": "sql"}},
            db, name, store, [
                ("alice@example.org", 100, DUNNO),
                ("alice@example.org", 101, FULL),
                ("bob@example.org", 600, DUNNO),     # replaced, not added
                ("bob@example.org", 601, FULL),
                ("carol@example.org", 1000, DUNNO),  # no row: nothing used
                ("dave@example.org", GIB, DUNNO),    # past 32 bits
                ("dave@example.org", GIB + 1, FULL),
            ])
    ask_all(label + "/usage=both", {"schema": "default",
                                    "queries": dict(queries),
                                    "quota": {"usage": "both"}},
            db, name, store, [
                ("alice@example.org", 101, FULL),    # SQL's 900 > 100
                ("carol@example.org", 50, DUNNO),    # the recount's 950
                ("carol@example.org", 51, FULL),
            ])
    # Without SQL usage the Maildir (no maildirsize) is recounted.
    ask_all(label + "/recount", {"schema": "default"}, db, name, store, [
        ("alice@example.org", 900, DUNNO),
        ("alice@example.org", 901, FULL),
        ("carol@example.org", 51, FULL),
    ])


# --- -t: the columns a query returns ---------------------------------------

def test_columns(db, base):
    """-t against the tutorial schema with broken queries."""
    name = "flags_" + re.sub(r"\W", "", FLAG_TYPES[db.driver][-1]).lower()
    root = mqtest.tempdir("mq-schemas-t-")
    cases = [
        # label, queries, quota section, exit code, words in the output
        ("unread column", {"user": "SELECT u.quota, u.enabled AS active "
                                   "FROM virtual_users u WHERE email = '%s'"},
         None, 0, ["queries.user", "does not read: active"]),
        ("user without its columns", {
            "user": "SELECT email FROM virtual_users WHERE email = '%s'"},
         None, 1, ["queries.user", "quota, messages, enabled, maildir",
                   "it returns: email"]),
        ("usage without bytes", {
            "usage": "SELECT quota AS used FROM virtual_users "
                     "WHERE email = '%s'"},
         {"usage": "sql"}, 1, ["queries.usage", "no column bytes",
                               "it returns: used"]),
        ("two broken queries", {
            "user": "SELECT 1 AS one FROM virtual_users WHERE email = '%s'",
            "domain": "SELECT enabled FROM no_such_table WHERE name = '%d'"},
         None, 1, ["queries.user", "it returns: one", "queries.domain",
                   "no_such_table"]),
    ]
    if db.driver == "sqlite":
        # SQLite prepares every query when it opens the file: one that
        # does not prepare fails them all, so the user query is not run.
        cases[-1][-1].remove("it returns: one")
    for label, queries, quota, code, words in cases:
        conf = os.path.join(root, "t.conf")
        extra = {"schema": "default", "queries": queries}
        if quota:
            extra["quota"] = quota
        mqtest.write_config(conf, database=db_keys(db, name),
                            maildir={"base": base}, extra=extra)
        r = subprocess.run([mqtest.POLICYD, "-t", "-c", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode("utf-8", "replace")
        missing = [w for w in words if w not in out]
        if r.returncode == code and not missing:
            R.ok("%s: -t %s" % (db.driver, label), "exit %d" % code)
        else:
            R.fail("%s: -t %s" % (db.driver, label),
                   "exit %d (want %d), missing %r in: %s" % (
                       r.returncode, code, missing, out.strip()))


# --- main -------------------------------------------------------------------

def main():
    mqtest.require_binary(mqtest.POLICYD)
    root = mqtest.tempdir("mq-schemas-")
    base = os.path.join(root, "mail")
    os.makedirs(base)
    engines = [SqliteDb(os.path.join(root, "sqlite"))]
    os.makedirs(engines[0].root)
    os.chmod(engines[0].root, 0o755)
    os.makedirs(os.path.join(root, "servers"))
    servers = dbservers.start_all(os.path.join(root, "servers"))
    for key in ("mysql", "pgsql"):
        srv = servers.get(key)
        if isinstance(srv, dbservers.Unavailable):
            R.skip("%s server" % key, str(srv))
        elif isinstance(srv, Exception):
            R.fail("%s server" % key, "%s: %s" % (type(srv).__name__, srv))
        else:
            mqtest.at_cleanup(srv.close)
            engines.append(srv)
    for db in engines:
        R.run("%s flags" % db.driver, flags, db, base)
        R.run("%s postfixadmin" % db.driver, postfixadmin, db, base)
        if db.driver == "pgsql":
            # A PostfixAdmin database migrated from MySQL keeps 0/1 flags.
            R.run("pgsql postfixadmin smallint", postfixadmin, db, base,
                  "SMALLINT")
        if db.driver != "sqlite":
            R.run("%s postfixadmin-real" % db.driver, postfixadmin_real, db, base)
            R.run("%s iredmail" % db.driver, iredmail, db, base)
            R.run("%s quota_clone" % db.driver, quota_clone, db, base)
        R.run("%s -t" % db.driver, test_columns, db, base)
    R.finish()


if __name__ == "__main__":
    main()
