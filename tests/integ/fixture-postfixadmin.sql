-- SPDX-License-Identifier: MIT
-- Test data for the PostfixAdmin schema, MariaDB and PostgreSQL.
-- Loaded after conf/schema-postfixadmin-{mysql,pgsql}.sql by tests/integ.
-- Booleans as TRUE/FALSE literals: both servers take them.

INSERT INTO domain (domain, description, transport, backupmx, active) VALUES
	('example.org', 'Example', 'virtual', FALSE, TRUE),
	('disabled.example', 'Switched off', 'virtual', FALSE, FALSE),
	('backup.example', 'Backup MX only', 'relay:[mx.backup.example]', TRUE, TRUE),
	('alias.example', 'Alias of example.org', 'virtual', FALSE, TRUE);

-- quota: bytes, 0 = unlimited.
INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, active) VALUES
	('alice@example.org', 'x', 'Alice', 'example.org/alice/', 1048576, 'alice', 'example.org', TRUE),
	('bob@example.org', 'x', 'Bob', 'example.org/bob/', 0, 'bob', 'example.org', TRUE),
	('carol@example.org', 'x', 'Carol', 'example.org/carol/', 1000, 'carol', 'example.org', FALSE),
	('dave@disabled.example', 'x', 'Dave', 'disabled.example/dave/', 1000, 'dave', 'disabled.example', TRUE),
	('o''brien@example.org', 'x', 'O''Brien', 'example.org/obrien/', 2048, 'o''brien', 'example.org', TRUE),
	('full@example.org', 'x', 'Full', 'example.org/full/', 10, 'full', 'example.org', TRUE);

-- PostfixAdmin keeps a self alias for every mailbox, here active as the
-- mailbox is: an active self alias of an inactive mailbox makes Postfix
-- accept the address (and bounce it later), and the daemon with it.
INSERT INTO alias (address, goto, domain, active) VALUES
	('alice@example.org', 'alice@example.org', 'example.org', TRUE),
	('bob@example.org', 'bob@example.org', 'example.org', TRUE),
	('carol@example.org', 'carol@example.org', 'example.org', FALSE),
	('dave@disabled.example', 'dave@disabled.example', 'disabled.example', TRUE),
	('o''brien@example.org', 'o''brien@example.org', 'example.org', TRUE),
	('full@example.org', 'full@example.org', 'example.org', TRUE),
	('postmaster@example.org', 'alice@example.org', 'example.org', TRUE),
	('team@example.org', 'alice@example.org,bob@example.org', 'example.org', TRUE),
	('old@example.org', 'alice@example.org', 'example.org', FALSE),
	('list@example.org', 'm01@example.org,m02@example.org,m03@example.org,m04@example.org,m05@example.org,m06@example.org,m07@example.org,m08@example.org,m09@example.org,m10@example.org,m11@example.org,m12@example.org,m13@example.org,m14@example.org,m15@example.org,m16@example.org,m17@example.org,m18@example.org,m19@example.org,m20@example.org,m21@example.org,m22@example.org,m23@example.org,m24@example.org,m25@example.org,m26@example.org,m27@example.org,m28@example.org,m29@example.org,m30@example.org,m31@example.org,m32@example.org,m33@example.org,m34@example.org,m35@example.org,m36@example.org,m37@example.org,m38@example.org,m39@example.org,m40@example.org', 'example.org', TRUE);

INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES
	('alias.example', 'example.org', TRUE);

INSERT INTO quota2 (username, bytes, messages) VALUES
	('alice@example.org', 524288, 12),
	('full@example.org', 10, 1);
