-- SPDX-License-Identifier: MIT
-- schema-default.sql - the classic virtual-mail tutorial schema, SQLite
-- dialect: what mailquota's schema = "default" preset queries read.
-- The MariaDB/MySQL and PostgreSQL variants live beside this file.
--
--   sqlite3 /var/lib/mailquota/mail.db < schema-default.sql
--
-- quota is in bytes, 0 = unlimited. enabled is 1 or 0; a user counts as
-- enabled only when its domain is enabled too. virtual_aliases.destination
-- may hold several addresses separated by commas or blanks, and several
-- rows may share a source. A source of "@example.org" is that domain's
-- catch-all. The Maildir is found through maildir.path (default "%d/%u")
-- below maildir.base.

PRAGMA foreign_keys = ON;

CREATE TABLE virtual_domains (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    enabled     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE virtual_users (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL
                REFERENCES virtual_domains (id) ON DELETE CASCADE,
    email       TEXT    NOT NULL UNIQUE,
    password    TEXT    NOT NULL,
    quota       INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE virtual_aliases (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL
                REFERENCES virtual_domains (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX virtual_users_domain ON virtual_users (domain_id);
CREATE INDEX virtual_aliases_source ON virtual_aliases (source);
CREATE INDEX virtual_aliases_domain ON virtual_aliases (domain_id);
