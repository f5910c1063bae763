-- SQLite form of postgres/0001: sites, their edges and channels, and raw readings.
-- Times are UTC ISO text with milliseconds (they sort and compare as text).
CREATE TABLE sites (
    id          integer PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE site_tokens (
    id          integer PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    token_hash  blob NOT NULL UNIQUE,
    created_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  text
);

CREATE TABLE edges (
    id          integer PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL,
    last_seen   text
);
CREATE UNIQUE INDEX edges_site_id_name_key ON edges (site_id, name);

CREATE TABLE channels (
    id          integer PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL,
    unit        text NOT NULL,
    kind        text NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE readings (
    edge_id     integer NOT NULL,
    seq         integer NOT NULL,
    channel_id  integer NOT NULL,
    ts_ms       integer NOT NULL,
    value       real NOT NULL,
    PRIMARY KEY (edge_id, seq)
) WITHOUT ROWID;
CREATE INDEX readings_channel_ts ON readings (channel_id, ts_ms);
