-- SPDX-License-Identifier: MIT
-- mailquota: the tables of iRedMail's "vmail" database that the iredmail
-- preset reads (domain, alias_domain, mailbox, forwardings, used_quota), on
-- MariaDB and MySQL, with the names, types and defaults of iRedMail 1.8.1
-- (its samples/iredmail/iredmail.mysql). Only the columns that matter to
-- mail delivery are restated; iRedMail's installer creates the full tables
-- itself. Load this file only where iRedMail is not installed, e.g. for
-- tests, or read it as a reference of what the preset expects.
--
--   mariadb vmail < schema-iredmail-mysql.sql
--
-- mailquota only reads: give it a SELECT-only account, e.g.
--   CREATE USER 'mailquota'@'localhost' IDENTIFIED BY 'secret';
--   GRANT SELECT ON vmail.* TO 'mailquota'@'localhost';
--
-- Flags are TINYINT(1), 1 or 0. mailbox.quota is in MB (Dovecot is given
-- quota * 1048576 bytes), 0 = unlimited.

CREATE TABLE IF NOT EXISTS domain (
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	description	TEXT,
	aliases		INT(10) NOT NULL DEFAULT 0,
	mailboxes	INT(10) NOT NULL DEFAULT 0,
	maillists	INT(10) NOT NULL DEFAULT 0,
	maxquota	BIGINT(20) NOT NULL DEFAULT 0,
	quota		BIGINT(20) NOT NULL DEFAULT 0,
	transport	VARCHAR(255) NOT NULL DEFAULT 'dovecot',
	backupmx	TINYINT(1) NOT NULL DEFAULT 0,	-- 1: relayed, not hosted
	settings	TEXT,
	created		DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	modified	DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	expired		DATETIME NOT NULL DEFAULT '9999-12-31 00:00:00',
	active		TINYINT(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (domain),
	INDEX (backupmx),
	INDEX (active)
) ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

-- An alias domain has a row here and none in domain.
CREATE TABLE IF NOT EXISTS alias_domain (
	alias_domain	VARCHAR(255) NOT NULL,
	target_domain	VARCHAR(255) NOT NULL,
	created		DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	modified	DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	active		TINYINT(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (alias_domain),
	INDEX (target_domain),
	INDEX (active)
) ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

-- Dovecot's home is LOWER(storagebasedirectory/storagenode/maildir), the
-- Maildir is mailboxfolder inside it; maildir ends with "/", e.g.
-- "example.com/a/l/i/alice-2026.01.01.00.00.00/".
CREATE TABLE IF NOT EXISTS mailbox (
	username		VARCHAR(255) NOT NULL DEFAULT '',
	password		VARCHAR(255) NOT NULL DEFAULT '',
	name			VARCHAR(255) NOT NULL DEFAULT '',
	language		VARCHAR(5) NOT NULL DEFAULT '',
	mailboxformat		VARCHAR(50) NOT NULL DEFAULT 'maildir',
	mailboxfolder		VARCHAR(50) NOT NULL DEFAULT 'Maildir',
	storagebasedirectory	VARCHAR(255) NOT NULL DEFAULT '',
	storagenode		VARCHAR(255) NOT NULL DEFAULT '',
	maildir			VARCHAR(255) NOT NULL DEFAULT '',
	quota			BIGINT(20) NOT NULL DEFAULT 0,	-- MB
	domain			VARCHAR(255) NOT NULL DEFAULT '',
	transport		VARCHAR(255) NOT NULL DEFAULT '',
	isadmin			TINYINT(1) NOT NULL DEFAULT 0,
	isglobaladmin		TINYINT(1) NOT NULL DEFAULT 0,
	enablesmtp		TINYINT(1) NOT NULL DEFAULT 1,
	enabledeliver		TINYINT(1) NOT NULL DEFAULT 1,	-- 0: Postfix refuses mail for it
	enablelda		TINYINT(1) NOT NULL DEFAULT 1,
	enablelmtp		TINYINT(1) NOT NULL DEFAULT 1,
	enableimap		TINYINT(1) NOT NULL DEFAULT 1,
	enablepop3		TINYINT(1) NOT NULL DEFAULT 1,
	allow_nets		TEXT DEFAULT NULL,
	settings		TEXT,
	passwordlastchange	DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	created			DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	modified		DATETIME NOT NULL DEFAULT '1970-01-01 01:01:01',
	expired			DATETIME NOT NULL DEFAULT '9999-12-31 00:00:00',
	active			TINYINT(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (username),
	INDEX (domain),
	INDEX (enabledeliver),
	INDEX (active)
) ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

-- One row per (address, destination): a mailbox's own address
-- (is_forwarding = 1, forwarding = address), its forwardings, the members
-- of an alias (is_list = 1), per-account alias addresses (is_alias = 1).
-- A catch-all has the bare domain as its address ("example.com").
CREATE TABLE IF NOT EXISTS forwardings (
	id		BIGINT(20) UNSIGNED AUTO_INCREMENT,
	address		VARCHAR(255) NOT NULL DEFAULT '',
	forwarding	VARCHAR(255) NOT NULL DEFAULT '',
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	dest_domain	VARCHAR(255) NOT NULL DEFAULT '',
	is_maillist	TINYINT(1) NOT NULL DEFAULT 0,
	is_list		TINYINT(1) NOT NULL DEFAULT 0,
	is_forwarding	TINYINT(1) NOT NULL DEFAULT 0,
	is_alias	TINYINT(1) NOT NULL DEFAULT 0,
	active		TINYINT(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (id),
	UNIQUE INDEX (address, forwarding),
	INDEX (forwarding),
	INDEX (domain)
) ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

-- Written by Dovecot's dict quota: usage per mailbox (quota.usage = "sql").
CREATE TABLE IF NOT EXISTS used_quota (
	username	VARCHAR(255) NOT NULL,
	bytes		BIGINT NOT NULL DEFAULT 0,
	messages	BIGINT NOT NULL DEFAULT 0,
	domain		VARCHAR(255) NOT NULL DEFAULT '',
	PRIMARY KEY (username),
	INDEX (domain)
) ENGINE=InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
