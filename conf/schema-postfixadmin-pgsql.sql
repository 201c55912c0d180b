-- SPDX-License-Identifier: MIT
-- mailquota: the PostfixAdmin tables mailquota reads (domain, mailbox,
-- alias, alias_domain, quota2) as PostfixAdmin 4.0 leaves them on
-- PostgreSQL after its setup (upgrade.php, database version 1856).
-- PostfixAdmin creates these and its other tables (admin, log, vacation,
-- fetchmail, ...) itself, and on PostgreSQL also a trigger on quota2 that
-- merges Dovecot's dict updates: load this file only where PostfixAdmin is
-- not used, e.g. for tests, or as a reference of the column types the
-- postfixadmin preset expects.
--
--   psql -d postfix -f schema-postfixadmin-pgsql.sql
--
-- mailquota only reads: give it a SELECT-only role, e.g.
--   CREATE ROLE mailquota LOGIN PASSWORD 'secret';
--   GRANT SELECT ON domain, mailbox, alias, alias_domain, quota2 TO mailquota;
--
-- Flags (active, backupmx) are boolean, as PostfixAdmin makes them here.

CREATE TABLE IF NOT EXISTS domain (
	domain		varchar(255) NOT NULL,
	description	varchar(255) NOT NULL DEFAULT '',
	aliases		integer NOT NULL DEFAULT 0,
	mailboxes	integer NOT NULL DEFAULT 0,
	maxquota	bigint NOT NULL DEFAULT 0,
	quota		bigint NOT NULL DEFAULT 0,
	transport	varchar(255) DEFAULT NULL,
	backupmx	boolean NOT NULL DEFAULT false,
	created		timestamp with time zone DEFAULT now(),
	modified	timestamp with time zone DEFAULT now(),
	active		boolean NOT NULL DEFAULT true,
	password_expiry	integer DEFAULT 0,
	CONSTRAINT domain_key PRIMARY KEY (domain)
);
CREATE INDEX IF NOT EXISTS domain_domain_active ON domain (domain, active);
COMMENT ON TABLE domain IS 'Postfix Admin - Virtual Domains';

-- quota is in bytes (the MB typed in PostfixAdmin times its
-- quota_multiplier), 0 = unlimited; -1 ("disabled") is refused by Dovecot.
-- domain.maxquota and domain.quota are in MB. maildir is relative to the
-- mail root, "example.org/alice/" by default.
CREATE TABLE IF NOT EXISTS mailbox (
	username	varchar(255) NOT NULL,
	password	varchar(255) NOT NULL DEFAULT '',
	name		varchar(255) NOT NULL DEFAULT '',
	maildir		varchar(255) NOT NULL DEFAULT '',
	quota		bigint NOT NULL DEFAULT 0,
	created		timestamp with time zone DEFAULT now(),
	modified	timestamp with time zone DEFAULT now(),
	active		boolean NOT NULL DEFAULT true,
	domain		varchar(255) REFERENCES domain (domain),
	local_part	varchar(255) NOT NULL,
	phone		varchar(30) NOT NULL DEFAULT '',
	email_other	varchar(255) NOT NULL DEFAULT '',
	token		varchar(255) NOT NULL DEFAULT '',
	token_validity	timestamp with time zone DEFAULT '2000-01-01',
	password_expiry	timestamp with time zone DEFAULT '2000-01-01',
	totp_secret	varchar(255) DEFAULT NULL,
	smtp_active	boolean NOT NULL DEFAULT true,	-- may send (SASL); not read here
	CONSTRAINT mailbox_key PRIMARY KEY (username)
);
CREATE INDEX IF NOT EXISTS mailbox_username_active ON mailbox (username, active);
CREATE INDEX IF NOT EXISTS mailbox_domain_idx ON mailbox (domain);
COMMENT ON TABLE mailbox IS 'Postfix Admin - Virtual Mailboxes';

-- goto is a comma separated list. PostfixAdmin also writes an alias row
-- "user@domain -> user@domain" for every mailbox.
CREATE TABLE IF NOT EXISTS alias (
	address		varchar(255) NOT NULL,
	goto		text NOT NULL,
	domain		varchar(255) NOT NULL REFERENCES domain (domain),
	description	varchar(255) NOT NULL DEFAULT '',
	created		timestamp with time zone DEFAULT now(),
	modified	timestamp with time zone DEFAULT now(),
	active		boolean NOT NULL DEFAULT true,
	CONSTRAINT alias_key PRIMARY KEY (address)
);
CREATE INDEX IF NOT EXISTS alias_address_active ON alias (address, active);
CREATE INDEX IF NOT EXISTS alias_domain_idx ON alias (domain);
COMMENT ON TABLE alias IS 'Postfix Admin - Virtual Aliases';

CREATE TABLE IF NOT EXISTS alias_domain (
	alias_domain	varchar(255) NOT NULL REFERENCES domain (domain) ON DELETE CASCADE,
	target_domain	varchar(255) NOT NULL REFERENCES domain (domain) ON DELETE CASCADE,
	description	varchar(255) NOT NULL DEFAULT '',
	created		timestamp with time zone DEFAULT now(),
	modified	timestamp with time zone DEFAULT now(),
	active		boolean NOT NULL DEFAULT true,
	PRIMARY KEY (alias_domain)
);
CREATE INDEX IF NOT EXISTS alias_domain_active ON alias_domain (alias_domain, active);
COMMENT ON TABLE alias_domain IS 'Postfix Admin - Domain Aliases';

-- Written by Dovecot's dict quota (quota = dict:...): usage per mailbox.
CREATE TABLE IF NOT EXISTS quota2 (
	username	varchar(100) NOT NULL,
	bytes		bigint NOT NULL DEFAULT 0,
	messages	integer NOT NULL DEFAULT 0,
	PRIMARY KEY (username)
);
