-- SQLite form of postgres/0195: the owner's name for a device, sent by the edge with its roles.
ALTER TABLE site_roles ADD COLUMN label text;
