-- SQLite form of postgres/0180: notification choices per site, device health, what was mailed.
CREATE TABLE site_notifications (
    site_id      integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    email        text,
    pv           boolean NOT NULL DEFAULT false,
    offline      boolean NOT NULL DEFAULT false,
    offline_min  integer NOT NULL DEFAULT 30 CHECK (offline_min BETWEEN 5 AND 10080),
    device       boolean NOT NULL DEFAULT false,
    maintenance  boolean NOT NULL DEFAULT false,
    updated_at   text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE device_health (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device      text NOT NULL,
    state       text NOT NULL,
    since       text NOT NULL,
    PRIMARY KEY (site_id, device)
);

CREATE TABLE notify_state (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    active      boolean NOT NULL,
    changed_at  text NOT NULL,
    PRIMARY KEY (site_id, subject)
);
