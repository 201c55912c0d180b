-- SPDX-License-Identifier: MIT
-- mailquota: the classic virtual mail schema (virtual_domains,
-- virtual_users, virtual_aliases) for PostgreSQL, with the columns the
-- default queries (schema = "default") read.
--
--   psql -d mailserver -f schema-default-pgsql.sql
--
-- mailquota only reads: give it a SELECT-only role, e.g.
--   CREATE ROLE mailquota LOGIN PASSWORD 'secret';
--   GRANT SELECT ON virtual_domains, virtual_users, virtual_aliases TO mailquota;
--
-- Booleans are boolean: the default queries use them directly
-- ("a.enabled AND d.enabled"), which needs a boolean column here.

CREATE TABLE IF NOT EXISTS virtual_domains (
	id	serial PRIMARY KEY,
	name	varchar(255) NOT NULL UNIQUE,
	enabled	boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS virtual_users (
	id		serial PRIMARY KEY,
	domain_id	integer NOT NULL REFERENCES virtual_domains (id) ON DELETE CASCADE,
	email		varchar(255) NOT NULL UNIQUE,
	password	varchar(255) NOT NULL DEFAULT '',
	quota		bigint DEFAULT 0 CHECK (quota >= 0),	-- bytes; 0 or NULL = unlimited
	enabled		boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS virtual_users_domain_id ON virtual_users (domain_id);

-- One source may have several rows; destination is a comma or blank
-- separated list of addresses. A source "@example.org" is a catch-all.
CREATE TABLE IF NOT EXISTS virtual_aliases (
	id		serial PRIMARY KEY,
	domain_id	integer NOT NULL REFERENCES virtual_domains (id) ON DELETE CASCADE,
	source		varchar(255) NOT NULL,
	destination	text NOT NULL,
	enabled		boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS virtual_aliases_source ON virtual_aliases (source);
CREATE INDEX IF NOT EXISTS virtual_aliases_domain_id ON virtual_aliases (domain_id);
