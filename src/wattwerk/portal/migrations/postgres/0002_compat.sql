-- Loggers already in the field: mySmartGrid/Flukso devices and sensors, volkszaehler channels.
CREATE TABLE compat_devices (
    id          text PRIMARY KEY,          -- device id as the logger sends it (hex, no dashes)
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    hmac_key    text NOT NULL,             -- shared secret for X-Digest (HMAC needs it in clear)
    registered  boolean NOT NULL DEFAULT false,
    last_seen   timestamptz,
    heartbeat   jsonb
);

CREATE TABLE compat_sensors (
    id          text PRIMARY KEY,          -- sensor id (hex, no dashes)
    device_id   text REFERENCES compat_devices (id) ON DELETE CASCADE,
    hmac_key    text,                      -- the sensor's own key; else its device's
    channel_id  integer NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE,
    config      jsonb
);

CREATE TABLE vz_channels (
    uuid        text PRIMARY KEY,
    channel_id  integer NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE
);
