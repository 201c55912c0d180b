-- SPDX-License-Identifier: MIT
-- mailquota: the PostfixAdmin tables mailquota reads (domain, mailbox,
-- alias, alias_domain, quota2) as PostfixAdmin 4.0 leaves them on MariaDB
-- and MySQL after its setup (upgrade.php, database version 1856).
-- PostfixAdmin creates these and its other tables (admin, log, vacation,
-- fetchmail, ...) itself: load this file only where PostfixAdmin is not
-- used, e.g. for tests, or as a reference of the column types the
-- postfixadmin preset expects.
--
--   mariadb postfix < schema-postfixadmin-mysql.sql
--
-- mailquota only reads: give it a SELECT-only account, e.g.
--   CREATE USER 'mailquota'@'localhost' IDENTIFIED BY 'secret';
--   GRANT SELECT ON postfix.domain TO 'mailquota'@'localhost';
--   GRANT SELECT ON postfix.mailbox TO 'mailquota'@'localhost';
--   GRANT SELECT ON postfix.alias TO 'mailquota'@'localhost';
--   GRANT SELECT ON postfix.alias_domain TO 'mailquota'@'localhost';
--   GRANT SELECT ON postfix.quota2 TO 'mailquota'@'localhost';
--
-- Flags (active, backupmx) are tinyint(1), 1/0, as PostfixAdmin writes them.
-- Addresses are latin1 with a case-insensitive collation; names and
-- descriptions utf8mb4.

CREATE TABLE IF NOT EXISTS domain (
	domain		varchar(255) NOT NULL,
	description	varchar(255) CHARACTER SET utf8mb4 NOT NULL,
	aliases		int(10) NOT NULL DEFAULT 0,
	mailboxes	int(10) NOT NULL DEFAULT 0,
	maxquota	bigint(20) NOT NULL DEFAULT 0,
	quota		bigint(20) NOT NULL DEFAULT 0,
	transport	varchar(255) NOT NULL,
	backupmx	tinyint(1) NOT NULL DEFAULT 0,
	created		datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	modified	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	active		tinyint(1) NOT NULL DEFAULT 1,
	password_expiry	int DEFAULT 0,
	PRIMARY KEY (domain)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci
  COMMENT='Postfix Admin - Virtual Domains';

-- quota is in bytes (the MB typed in PostfixAdmin times its
-- quota_multiplier), 0 = unlimited; -1 ("disabled") is refused by Dovecot.
-- domain.maxquota and domain.quota are in MB. maildir is relative to the
-- mail root, "example.org/alice/" by default.
CREATE TABLE IF NOT EXISTS mailbox (
	username	varchar(255) NOT NULL,
	password	varchar(255) NOT NULL,
	name		varchar(255) CHARACTER SET utf8mb4 NOT NULL,
	maildir		varchar(255) NOT NULL,
	quota		bigint(20) NOT NULL DEFAULT 0,
	local_part	varchar(255) NOT NULL,
	domain		varchar(255) NOT NULL,
	created		datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	modified	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	active		tinyint(1) NOT NULL DEFAULT 1,
	phone		varchar(30) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
	email_other	varchar(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
	token		varchar(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
	token_validity	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	password_expiry	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	totp_secret	varchar(255) CHARACTER SET utf8mb4 DEFAULT NULL,
	smtp_active	tinyint(1) NOT NULL DEFAULT 1,	-- may send (SASL); not read here
	PRIMARY KEY (username),
	KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci
  COMMENT='Postfix Admin - Virtual Mailboxes';

-- goto is a comma separated list. PostfixAdmin also writes an alias row
-- "user@domain -> user@domain" for every mailbox.
CREATE TABLE IF NOT EXISTS alias (
	address		varchar(255) NOT NULL,
	goto		text NOT NULL,
	domain		varchar(255) NOT NULL,
	description	varchar(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
	created		datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	modified	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	active		tinyint(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (address),
	KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci
  COMMENT='Postfix Admin - Virtual Aliases';

CREATE TABLE IF NOT EXISTS alias_domain (
	alias_domain	varchar(255) NOT NULL DEFAULT '',
	target_domain	varchar(255) NOT NULL DEFAULT '',
	description	varchar(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
	created		datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	modified	datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
	active		tinyint(1) NOT NULL DEFAULT 1,
	PRIMARY KEY (alias_domain),
	KEY active (active),
	KEY target_domain (target_domain)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci
  COMMENT='Postfix Admin - Domain Aliases';

-- Written by Dovecot's dict quota (quota = dict:...): usage per mailbox.
CREATE TABLE IF NOT EXISTS quota2 (
	username	varchar(100) NOT NULL,
	bytes		bigint NOT NULL DEFAULT 0,
	messages	integer NOT NULL DEFAULT 0,
	PRIMARY KEY (username)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci;
