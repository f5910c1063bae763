-- SQLite form of postgres/0185: the language of a site's notification mail.
ALTER TABLE site_notifications ADD COLUMN lang text NOT NULL DEFAULT 'en';
