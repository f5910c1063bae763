-- Notifications by e-mail (portal/notify.py, issue 14): the owner's choices per site, the device
-- health the edge uploads with its batches, and the state of every condition mailed about, so a
-- restarted portal (or a second process) sends nothing twice.
CREATE TABLE site_notifications (
    site_id      integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    email        text,                    -- sealed (portal/secretbox.py); NULL: the owner account's own
    pv           boolean NOT NULL DEFAULT false,  -- PV under-performance (the edge's pv_alert)
    offline      boolean NOT NULL DEFAULT false,  -- no upload for offline_min minutes
    offline_min  integer NOT NULL DEFAULT 30 CHECK (offline_min BETWEEN 5 AND 10080),
    device       boolean NOT NULL DEFAULT false,  -- a device stale or in error (device_health)
    maintenance  boolean NOT NULL DEFAULT false,  -- a maintenance window opened / ended
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Per device the status the edge last reported (ok, stale, error) and since when.
CREATE TABLE device_health (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device      text NOT NULL,
    state       text NOT NULL,
    since       timestamptz NOT NULL,
    PRIMARY KEY (site_id, device)
);

-- Conditions mailed about: 'pv', 'offline', 'device:<id>', 'maintenance:<grant>'. A row is
-- written (claimed) before its mail goes and put back when the mail fails.
CREATE TABLE notify_state (
    site_id     integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    active      boolean NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (site_id, subject)
);
