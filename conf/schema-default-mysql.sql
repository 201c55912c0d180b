-- SPDX-License-Identifier: MIT
-- mailquota: the classic virtual mail schema (virtual_domains,
-- virtual_users, virtual_aliases) for MariaDB and MySQL, with the columns
-- the default queries (schema = "default") read.
--
--   mariadb mailserver < schema-default-mysql.sql
--
-- mailquota only reads: give it a SELECT-only account, e.g.
--   CREATE USER 'mailquota'@'localhost' IDENTIFIED BY 'secret';
--   GRANT SELECT ON mailserver.* TO 'mailquota'@'localhost';
--
-- Booleans are BOOLEAN (tinyint(1): 1/0); (u.enabled AND d.enabled) is 1/0.

CREATE TABLE IF NOT EXISTS virtual_domains (
	id	INT UNSIGNED NOT NULL AUTO_INCREMENT,
	name	VARCHAR(255) NOT NULL,
	enabled	BOOLEAN NOT NULL DEFAULT TRUE,
	PRIMARY KEY (id),
	UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS virtual_users (
	id		INT UNSIGNED NOT NULL AUTO_INCREMENT,
	domain_id	INT UNSIGNED NOT NULL,
	email		VARCHAR(255) NOT NULL,
	password	VARCHAR(255) NOT NULL DEFAULT '',
	quota		BIGINT UNSIGNED NULL DEFAULT 0,	-- bytes; 0 or NULL = unlimited
	enabled		BOOLEAN NOT NULL DEFAULT TRUE,
	PRIMARY KEY (id),
	UNIQUE KEY email (email),
	KEY domain_id (domain_id),
	FOREIGN KEY (domain_id) REFERENCES virtual_domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One source may have several rows; destination is a comma or blank
-- separated list of addresses. A source "@example.org" is a catch-all.
CREATE TABLE IF NOT EXISTS virtual_aliases (
	id		INT UNSIGNED NOT NULL AUTO_INCREMENT,
	domain_id	INT UNSIGNED NOT NULL,
	source		VARCHAR(255) NOT NULL,
	destination	TEXT NOT NULL,
	enabled		BOOLEAN NOT NULL DEFAULT TRUE,
	PRIMARY KEY (id),
	KEY source (source),
	KEY domain_id (domain_id),
	FOREIGN KEY (domain_id) REFERENCES virtual_domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
