-- The operator view (issue 14): per-site caps the portal's operator may set (NULL: the portal's
-- defaults, --max-channels and --rate), what a site's edge last reported about itself with its
-- uploads (version, outbox backlog, read errors), and settings the operator changes at run
-- time (registration: open, invite or closed; overrides --registration once set).
ALTER TABLE sites ADD COLUMN max_channels integer;
ALTER TABLE sites ADD COLUMN rate_per_s double precision;

CREATE TABLE edge_reports (
    site_id      integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    edge         text NOT NULL,
    version      text,
    backlog      bigint,
    read_errors  bigint,
    at           timestamptz NOT NULL
);

CREATE TABLE portal_settings (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- the operator list's "last upload" per site: max(last_seen) of its edges, from the index alone
CREATE INDEX edges_site_seen ON edges (site_id, last_seen);
