-- The site's tariff for the cost widget (one import and one feed-in price per kWh). Earlier
-- portals created this table on first use; IF NOT EXISTS keeps those databases as they are.
CREATE TABLE IF NOT EXISTS portal_tariffs (
    site_id         integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    import_per_kwh  double precision NOT NULL,
    export_per_kwh  double precision NOT NULL,
    currency        text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
