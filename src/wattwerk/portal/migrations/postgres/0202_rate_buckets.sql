-- Per-site ingest budgets (readings/s token buckets) in the database, not in a process: every
-- portal worker and host takes from the same bucket (portal/rate_limits.py, issue 19).
CREATE TABLE rate_buckets (
    site_id   integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    level     double precision NOT NULL,   -- readings that may still go now
    stamp_ms  bigint NOT NULL              -- when level was last brought up to date
);
