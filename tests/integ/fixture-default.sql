-- SPDX-License-Identifier: MIT
-- Test data for the default (virtual_*) schema, MariaDB and PostgreSQL.
-- Loaded after conf/schema-default-{mysql,pgsql}.sql by tests/integ.
-- Booleans as TRUE/FALSE literals: both servers take them.

INSERT INTO virtual_domains (id, name, enabled) VALUES
	(1, 'example.org', TRUE),
	(2, 'disabled.example', FALSE),
	(3, 'other.example', TRUE);

-- quota: bytes, NULL or 0 = unlimited.
INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled) VALUES
	(1, 1, 'alice@example.org', 'x', 1048576, TRUE),
	(2, 1, 'bob@example.org', 'x', NULL, TRUE),
	(3, 1, 'carol@example.org', 'x', 0, FALSE),
	(4, 2, 'dave@disabled.example', 'x', 1000, TRUE),
	(5, 3, 'erin@other.example', 'x', 5000, TRUE),
	(6, 1, 'o''brien@example.org', 'x', 2048, TRUE),
	(7, 1, 'full@example.org', 'x', 10, TRUE);

INSERT INTO virtual_aliases (domain_id, source, destination, enabled) VALUES
	(1, 'postmaster@example.org', 'alice@example.org', TRUE),
	(1, 'team@example.org', 'alice@example.org, bob@example.org', TRUE),
	(1, 'team@example.org', 'erin@other.example', TRUE),
	(1, 'old@example.org', 'alice@example.org', FALSE),
	(2, 'info@disabled.example', 'dave@disabled.example', TRUE),
	(3, '@other.example', 'erin@other.example', TRUE),
	(1, 'list@example.org', 'm01@example.org, m02@example.org, m03@example.org, m04@example.org, m05@example.org, m06@example.org, m07@example.org, m08@example.org, m09@example.org, m10@example.org, m11@example.org, m12@example.org, m13@example.org, m14@example.org, m15@example.org, m16@example.org, m17@example.org, m18@example.org, m19@example.org, m20@example.org, m21@example.org, m22@example.org, m23@example.org, m24@example.org, m25@example.org, m26@example.org, m27@example.org, m28@example.org, m29@example.org, m30@example.org, m31@example.org, m32@example.org, m33@example.org, m34@example.org, m35@example.org, m36@example.org, m37@example.org, m38@example.org, m39@example.org, m40@example.org', TRUE);
