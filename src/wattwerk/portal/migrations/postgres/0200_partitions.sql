-- Partitioned storage (issue 19, docs/scaling.md). Raw readings and 5-minute rollups are
-- partitioned by month (native declarative RANGE partitioning on ts_ms / bucket_ms, UTC
-- months), kept by the portal's own maintenance job (portal/partitions.py): the next months
-- are created ahead, whole expired months are DROPped. Every reading and rollup row carries
-- its site_id, leading in the primary key, so the schema is ready for distribution by site
-- (0201_citus.sql). A DEFAULT partition takes any row no month exists for yet (a clock far
-- off, a late upload into a month already dropped); the job moves such rows out when it
-- creates their month. Existing rows are moved into the new tables here.

-- site_id from the row's channel when a writer leaves it out (bench, tools, old code paths);
-- the ingest fast path (portal/postgres.py) sends it, so the trigger's WHEN skips the call.
CREATE FUNCTION ww_site_of_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT site_id INTO NEW.site_id FROM channels WHERE id = NEW.channel_id;
    RETURN NEW;
END $$;

-- One month's partition of a partitioned table: created empty, filled with the rows the
-- DEFAULT partition holds for it, then attached. Writers wait (SHARE lock) for these few
-- milliseconds, queries go on: a COPY that started before the ATTACH would otherwise route a
-- row of the new month to DEFAULT by the old partition map and fail on its new constraint.
-- Returns false when it exists already.
CREATE FUNCTION ww_ensure_partition(parent text, part text, lo bigint, hi bigint, col text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %I IN SHARE MODE', parent);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I >= %s AND %I < %s)',
                   part, part || '_range', col, lo, col, hi);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %s AND %I < %s RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', parent || '_default', col, lo, col, hi, part);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', parent, part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    RETURN true;
END $$;

-- The UTC month holding ms and the name of its partition.
CREATE FUNCTION ww_month_lo(ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint
$$;
CREATE FUNCTION ww_month_hi(ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')
            + interval '1 month') * 1000)::bigint
$$;

-- Raw readings.
ALTER TABLE readings RENAME TO readings_old;
ALTER INDEX readings_channel_ts RENAME TO readings_old_channel_ts;
ALTER TABLE readings_old RENAME CONSTRAINT readings_pkey TO readings_old_pkey;
CREATE TABLE readings (
    site_id     integer NOT NULL,
    edge_id     integer NOT NULL,
    seq         bigint NOT NULL,
    channel_id  integer NOT NULL,
    ts_ms       bigint NOT NULL,
    value       double precision NOT NULL,
    -- (edge_id, seq) is what makes uploads idempotent; a partitioned table's keys must hold
    -- the partition column, and a retry resends the same reading, time included.
    PRIMARY KEY (site_id, edge_id, seq, ts_ms)
) PARTITION BY RANGE (ts_ms);
CREATE INDEX readings_channel_ts ON readings (channel_id, ts_ms);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
CREATE TRIGGER readings_site BEFORE INSERT ON readings FOR EACH ROW
    WHEN (NEW.site_id IS NULL) EXECUTE FUNCTION ww_site_of_channel();

-- 5-minute rollups; hourly and daily ones keyed by site too (small: not partitioned).
ALTER TABLE rollup_5m RENAME TO rollup_5m_old;
ALTER TABLE rollup_5m_old RENAME CONSTRAINT rollup_5m_pkey TO rollup_5m_old_pkey;
CREATE TABLE rollup_5m (
    site_id     integer NOT NULL,
    channel_id  integer NOT NULL,
    bucket_ms   bigint NOT NULL,
    n           integer NOT NULL,
    mean        double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    last        double precision NOT NULL,
    last_ts     bigint NOT NULL,
    pos_wh      double precision,
    neg_wh      double precision,
    covered_ms  bigint,
    PRIMARY KEY (site_id, channel_id, bucket_ms)
) PARTITION BY RANGE (bucket_ms);
CREATE INDEX rollup_5m_channel ON rollup_5m (channel_id, bucket_ms);
CREATE TABLE rollup_5m_default PARTITION OF rollup_5m DEFAULT;
CREATE TRIGGER rollup_5m_site BEFORE INSERT ON rollup_5m FOR EACH ROW
    WHEN (NEW.site_id IS NULL) EXECUTE FUNCTION ww_site_of_channel();

-- Partitions for every month the old tables hold, and for this month and the next two.
DO $$
DECLARE
    m bigint;
    last_ms bigint;
BEGIN
    SELECT least(min(ts_ms), (extract(epoch FROM now()) * 1000)::bigint),
           greatest(max(ts_ms), (extract(epoch FROM now() + interval '2 months') * 1000)::bigint)
      INTO m, last_ms FROM readings_old;
    m := ww_month_lo(m);
    WHILE m <= last_ms LOOP
        PERFORM ww_ensure_partition('readings', 'readings_p' || to_char(to_timestamp(m / 1000) AT TIME ZONE 'UTC', 'YYYYMM'),
                                    m, ww_month_hi(m), 'ts_ms');
        m := ww_month_hi(m);
    END LOOP;
    SELECT least(min(bucket_ms), (extract(epoch FROM now()) * 1000)::bigint),
           greatest(max(bucket_ms), (extract(epoch FROM now() + interval '2 months') * 1000)::bigint)
      INTO m, last_ms FROM rollup_5m_old;
    m := ww_month_lo(m);
    WHILE m <= last_ms LOOP
        PERFORM ww_ensure_partition('rollup_5m', 'rollup_5m_p' || to_char(to_timestamp(m / 1000) AT TIME ZONE 'UTC', 'YYYYMM'),
                                    m, ww_month_hi(m), 'bucket_ms');
        m := ww_month_hi(m);
    END LOOP;
END $$;

-- Existing rows move over (a row whose channel is gone belonged to a deleted site: dropped).
INSERT INTO readings (site_id, edge_id, seq, channel_id, ts_ms, value)
SELECT c.site_id, r.edge_id, r.seq, r.channel_id, r.ts_ms, r.value
FROM readings_old r JOIN channels c ON c.id = r.channel_id;
DROP TABLE readings_old;
INSERT INTO rollup_5m (site_id, channel_id, bucket_ms, n, mean, min, max, last, last_ts, pos_wh, neg_wh, covered_ms)
SELECT c.site_id, r.channel_id, r.bucket_ms, r.n, r.mean, r.min, r.max, r.last, r.last_ts, r.pos_wh, r.neg_wh, r.covered_ms
FROM rollup_5m_old r JOIN channels c ON c.id = r.channel_id;
DROP TABLE rollup_5m_old;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rollup_1h', 'rollup_1d'] LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN site_id integer', t);
        EXECUTE format('DELETE FROM %I x WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.id = x.channel_id)', t);
        EXECUTE format('UPDATE %I x SET site_id = c.site_id FROM channels c WHERE c.id = x.channel_id', t);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN site_id SET NOT NULL', t);
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_pkey');
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (site_id, channel_id, bucket_ms)', t);
        EXECUTE format('CREATE INDEX %I ON %I (channel_id, bucket_ms)', t || '_channel', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %I FOR EACH ROW '
                       'WHEN (NEW.site_id IS NULL) EXECUTE FUNCTION ww_site_of_channel()', t || '_site', t);
    END LOOP;
END $$;
