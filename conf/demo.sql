-- SPDX-License-Identifier: MIT
-- demo.sql - demo rows for the tutorial schema (load conf/schema-default.sql first).
-- conf/demo.sh loads both into demo/mail.db and writes Maildirs to match:
--
--   under@example.org      10 MiB quota, 2 MiB used
--   near@example.org       10 MiB quota, 1000 bytes left
--   over@example.org       10 MiB quota, 11 MB used
--   unlimited@example.org  quota 0 (unlimited), 50 GB used
--   disabled@example.org   disabled
--   user@example.net       in the disabled domain example.net
--   postmaster@example.org alias to under@example.org
--   team@example.org       alias to under@ and over@example.org
--   *@example.com          catch-all to near@example.org; info@example.com is a mailbox

INSERT INTO virtual_domains (id, name, enabled) VALUES
    (1, 'example.org', 1),
    (2, 'example.net', 0),
    (3, 'example.com', 1);

INSERT INTO virtual_users (id, domain_id, email, password, quota, enabled) VALUES
    (1, 1, 'under@example.org',     '{PLAIN}demo', 10485760, 1),
    (2, 1, 'near@example.org',      '{PLAIN}demo', 10485760, 1),
    (3, 1, 'over@example.org',      '{PLAIN}demo', 10485760, 1),
    (4, 1, 'unlimited@example.org', '{PLAIN}demo', 0,        1),
    (5, 1, 'disabled@example.org',  '{PLAIN}demo', 10485760, 0),
    (6, 2, 'user@example.net',      '{PLAIN}demo', 10485760, 1),
    (7, 3, 'info@example.com',      '{PLAIN}demo', 10485760, 1);

INSERT INTO virtual_aliases (id, domain_id, source, destination, enabled) VALUES
    (1, 1, 'postmaster@example.org', 'under@example.org', 1),
    (2, 1, 'team@example.org',       'under@example.org,over@example.org', 1),
    (3, 3, '@example.com',           'near@example.org', 1);
