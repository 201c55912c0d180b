-- SPDX-License-Identifier: MIT
-- mailquota: the tables of iRedMail's "vmail" database that the iredmail
-- preset reads (domain, alias_domain, mailbox, forwardings, used_quota), on
-- PostgreSQL, with the names, types and defaults of iRedMail 1.8.1 (its
-- samples/iredmail/iredmail.pgsql). Only the columns that matter to mail
-- delivery are restated; iRedMail's installer creates the full tables
-- itself. Load this file only where iRedMail is not installed, e.g. for
-- tests, or read it as a reference of what the preset expects.
--
--   psql -d vmail -f schema-iredmail-pgsql.sql
--
-- mailquota only reads: give it a SELECT-only role, e.g.
--   CREATE ROLE mailquota LOGIN PASSWORD 'secret';
--   GRANT SELECT ON domain, alias_domain, mailbox, forwardings, used_quota
--       TO mailquota;
--
-- Flags are INT2 (smallint), 1 or 0, not boolean. mailbox.quota is in MB
-- (Dovecot is given quota * 1048576 bytes), 0 = unlimited.

CREATE TABLE IF NOT EXISTS domain (
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	description	TEXT NOT NULL DEFAULT '',
	aliases		INT8 NOT NULL DEFAULT 0,
	mailboxes	INT8 NOT NULL DEFAULT 0,
	maillists	INT8 NOT NULL DEFAULT 0,
	maxquota	INT8 NOT NULL DEFAULT 0,
	quota		INT8 NOT NULL DEFAULT 0,
	transport	VARCHAR(255) NOT NULL DEFAULT 'dovecot',
	settings	TEXT NOT NULL DEFAULT '',
	backupmx	INT2 NOT NULL DEFAULT 0,	-- 1: relayed, not hosted
	created		TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	modified	TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	expired		TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT '9999-12-31 01:01:01',
	active		INT2 NOT NULL DEFAULT 1,
	PRIMARY KEY (domain)
);

-- An alias domain has a row here and none in domain.
CREATE TABLE IF NOT EXISTS alias_domain (
	alias_domain	VARCHAR(255) NOT NULL,
	target_domain	VARCHAR(255) NOT NULL,
	created		TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	modified	TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	active		INT2 NOT NULL DEFAULT 1,
	PRIMARY KEY (alias_domain)
);
CREATE INDEX IF NOT EXISTS idx_alias_domain_target_domain ON alias_domain (target_domain);

-- Dovecot's home is LOWER(storagebasedirectory/storagenode/maildir), the
-- Maildir is mailboxfolder inside it; maildir ends with "/", e.g.
-- "example.com/a/l/i/alice-2026.01.01.00.00.00/".
CREATE TABLE IF NOT EXISTS mailbox (
	username		VARCHAR(255) NOT NULL,
	password		VARCHAR(255) NOT NULL DEFAULT '',
	name			VARCHAR(255) NOT NULL DEFAULT '',
	language		VARCHAR(5) NOT NULL DEFAULT '',
	mailboxformat		VARCHAR(50) NOT NULL DEFAULT 'maildir',
	mailboxfolder		VARCHAR(50) NOT NULL DEFAULT 'Maildir',
	storagebasedirectory	VARCHAR(255) NOT NULL DEFAULT '',
	storagenode		VARCHAR(255) NOT NULL DEFAULT '',
	maildir			VARCHAR(255) NOT NULL DEFAULT '',
	quota			INT8 NOT NULL DEFAULT 0,	-- MB
	domain			VARCHAR(255) NOT NULL DEFAULT '',
	transport		VARCHAR(255) NOT NULL DEFAULT '',
	isadmin			INT2 NOT NULL DEFAULT 0,
	isglobaladmin		INT2 NOT NULL DEFAULT 0,
	enablesmtp		INT2 NOT NULL DEFAULT 1,
	enabledeliver		INT2 NOT NULL DEFAULT 1,	-- 0: Postfix refuses mail for it
	enablelda		INT2 NOT NULL DEFAULT 1,
	enablelmtp		INT2 NOT NULL DEFAULT 1,
	enableimap		INT2 NOT NULL DEFAULT 1,
	enablepop3		INT2 NOT NULL DEFAULT 1,
	allow_nets		TEXT DEFAULT NULL,
	settings		TEXT NOT NULL DEFAULT '',
	passwordlastchange	TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT '1970-01-01 01:01:01',
	created			TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	modified		TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT NOW(),
	expired			TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT '9999-12-31 01:01:01',
	active			INT2 NOT NULL DEFAULT 1,
	PRIMARY KEY (username)
);
CREATE INDEX IF NOT EXISTS idx_mailbox_domain ON mailbox (domain);

-- One row per (address, destination): a mailbox's own address
-- (is_forwarding = 1, forwarding = address), its forwardings, the members
-- of an alias (is_list = 1), per-account alias addresses (is_alias = 1).
-- A catch-all has the bare domain as its address ("example.com").
CREATE TABLE IF NOT EXISTS forwardings (
	id		SERIAL PRIMARY KEY,
	address		VARCHAR(255) NOT NULL DEFAULT '',
	forwarding	VARCHAR(255) NOT NULL DEFAULT '',
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	dest_domain	VARCHAR(255) NOT NULL DEFAULT '',
	is_maillist	INT2 NOT NULL DEFAULT 0,
	is_list		INT2 NOT NULL DEFAULT 0,
	is_forwarding	INT2 NOT NULL DEFAULT 0,
	is_alias	INT2 NOT NULL DEFAULT 0,
	active		INT2 NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_forwardings_address_forwarding ON forwardings (address, forwarding);
CREATE INDEX IF NOT EXISTS idx_forwardings_domain ON forwardings (domain);

-- Written by Dovecot's dict quota: usage per mailbox (quota.usage = "sql").
CREATE TABLE IF NOT EXISTS used_quota (
	username	VARCHAR(255) NOT NULL,
	bytes		INT8 NOT NULL DEFAULT 0,
	messages	INT8 NOT NULL DEFAULT 0,
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	PRIMARY KEY (username)
);
