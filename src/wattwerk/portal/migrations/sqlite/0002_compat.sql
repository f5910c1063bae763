-- SQLite form of postgres/0002: loggers already in the field (JSON columns as text).
CREATE TABLE compat_devices (
    id          text PRIMARY KEY,
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hmac_key    text NOT NULL,
    registered  boolean NOT NULL DEFAULT false,
    last_seen   text,
    heartbeat   text
);

CREATE TABLE compat_sensors (
    id          text PRIMARY KEY,
    device_id   text REFERENCES compat_devices (id) ON DELETE CASCADE,
    hmac_key    text,
    channel_id  integer NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE,
    config      text
);

CREATE TABLE vz_channels (
    uuid        text PRIMARY KEY,
    channel_id  integer NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE
);
