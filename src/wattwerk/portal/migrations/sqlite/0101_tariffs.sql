-- SQLite form of postgres/0101: the site's tariff for the cost widget.
CREATE TABLE portal_tariffs (
    site_id         integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    import_per_kwh  real NOT NULL,
    export_per_kwh  real NOT NULL,
    currency        text NOT NULL,
    updated_at      text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
