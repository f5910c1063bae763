-- SQLite form of postgres/0202. The embedded portal is one process and keeps its buckets in
-- memory; the table is here so both backends have the same schema.
CREATE TABLE rate_buckets (
    site_id   integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    level     double precision NOT NULL,
    stamp_ms  bigint NOT NULL
);
