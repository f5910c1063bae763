-- SQLite form of postgres/0190: per-site caps set by the operator (NULL: the portal's
-- defaults), the edge's own report (version, backlog, read errors), run-time settings.
ALTER TABLE sites ADD COLUMN max_channels integer;
ALTER TABLE sites ADD COLUMN rate_per_s double precision;

CREATE TABLE edge_reports (
    site_id      integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    edge         text NOT NULL,
    version      text,
    backlog      integer,
    read_errors  integer,
    at           text NOT NULL
);

CREATE TABLE portal_settings (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX edges_site_seen ON edges (site_id, last_seen);
