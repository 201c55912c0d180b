-- SPDX-License-Identifier: MIT
-- schema-postfixadmin.sql - the PostfixAdmin tables mailquota's
-- schema = "postfixadmin" preset queries read, SQLite dialect, with
-- PostfixAdmin's column names; MySQL's varchar/tinyint/bigint/datetime
-- become TEXT/INTEGER. Columns as of PostfixAdmin 4.0 (upgrade.php,
-- database version 1856). The MariaDB/MySQL and PostgreSQL variants live
-- beside this file. On an existing PostfixAdmin database there is nothing
-- to create: point database.* at it.
--
--   sqlite3 /var/lib/mailquota/mail.db < schema-postfixadmin.sql
--
-- mailbox.quota is in bytes (PostfixAdmin stores the MB typed in its form
-- times $CONF['quota_multiplier']), 0 = unlimited; -1 ("disabled") is
-- refused by Dovecot. domain.maxquota and domain.quota are in MB and not
-- read here. active and backupmx are 1 or 0; a backup-MX domain is
-- relayed, not hosted, so the domain query skips it. alias.goto holds one
-- or more addresses separated by commas. quota2 is where Dovecot's dict
-- quota (and PostfixAdmin's display) keeps current usage, used with
-- quota.usage = "sql" or "both". mailbox.maildir is relative to
-- maildir.base, e.g. "example.org/anna/".

PRAGMA foreign_keys = ON;

CREATE TABLE domain (
    domain          TEXT    NOT NULL PRIMARY KEY,
    description     TEXT    NOT NULL DEFAULT '',
    aliases         INTEGER NOT NULL DEFAULT 0,
    mailboxes       INTEGER NOT NULL DEFAULT 0,
    maxquota        INTEGER NOT NULL DEFAULT 0,
    quota           INTEGER NOT NULL DEFAULT 0,
    transport       TEXT    DEFAULT NULL,
    backupmx        INTEGER NOT NULL DEFAULT 0,
    created         TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified        TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    active          INTEGER NOT NULL DEFAULT 1,
    password_expiry INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE mailbox (
    username        TEXT    NOT NULL PRIMARY KEY,
    password        TEXT    NOT NULL,
    name            TEXT    NOT NULL DEFAULT '',
    maildir         TEXT    NOT NULL,
    quota           INTEGER NOT NULL DEFAULT 0,
    local_part      TEXT    NOT NULL,
    domain          TEXT    NOT NULL
                    REFERENCES domain (domain) ON DELETE CASCADE,
    created         TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified        TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    active          INTEGER NOT NULL DEFAULT 1,
    phone           TEXT    NOT NULL DEFAULT '',
    email_other     TEXT    NOT NULL DEFAULT '',
    token           TEXT    NOT NULL DEFAULT '',
    token_validity  TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    password_expiry TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    totp_secret     TEXT    DEFAULT NULL,
    smtp_active     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE alias (
    address         TEXT    NOT NULL PRIMARY KEY,
    goto            TEXT    NOT NULL,
    domain          TEXT    NOT NULL
                    REFERENCES domain (domain) ON DELETE CASCADE,
    description     TEXT    NOT NULL DEFAULT '',
    created         TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified        TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    active          INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE alias_domain (
    alias_domain    TEXT    NOT NULL PRIMARY KEY,
    target_domain   TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    created         TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    modified        TEXT    NOT NULL DEFAULT '2000-01-01 00:00:00',
    active          INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE quota2 (
    username        TEXT    NOT NULL PRIMARY KEY,
    bytes           INTEGER NOT NULL DEFAULT 0,
    messages        INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX mailbox_domain ON mailbox (domain);
CREATE INDEX alias_domain_idx ON alias (domain);
CREATE INDEX alias_domain_target ON alias_domain (target_domain);
