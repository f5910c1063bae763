-- Sites, their edges and channels, and raw readings keyed for idempotent ingest.
CREATE TABLE sites (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-site edge tokens: only a SHA-256 of the (256-bit random) token is kept.
CREATE TABLE site_tokens (
    id          serial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- A source of sequence numbers: an edge, or a legacy logger's sensor/channel (seq = ts_ms).
CREATE TABLE edges (
    id          serial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL,
    last_seen   timestamptz,
    UNIQUE (site_id, name)
);

CREATE TABLE channels (
    id          serial PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL,
    unit        text NOT NULL,
    kind        text NOT NULL,
    UNIQUE (site_id, name)
);

-- Raw readings. (edge_id, seq) makes every upload idempotent; (channel_id, ts_ms) serves queries.
CREATE TABLE readings (
    edge_id     integer NOT NULL,
    seq         bigint NOT NULL,
    channel_id  integer NOT NULL,
    ts_ms       bigint NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (edge_id, seq)
);
CREATE INDEX readings_channel_ts ON readings (channel_id, ts_ms);
