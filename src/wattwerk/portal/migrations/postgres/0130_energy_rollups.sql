-- Energy in the rollups (store/rollup.py): for power channels the covered-time integral per
-- bucket, positive and negative Wh and the covered milliseconds (NULL: rolled up before this
-- migration). Days follow the site's time zone: rollup_1d is keyed by local midnight, built
-- from hourly rows by the retention job; days_tz is the zone the site's days were built in
-- (a site whose zone changes, or whose days are the old UTC days, gets them rebuilt).
ALTER TABLE sites ADD COLUMN tz text NOT NULL DEFAULT 'UTC';
ALTER TABLE site_retention ADD COLUMN days_tz text;
ALTER TABLE rollup_5m ADD COLUMN pos_wh double precision, ADD COLUMN neg_wh double precision,
    ADD COLUMN covered_ms bigint;
ALTER TABLE rollup_1h ADD COLUMN pos_wh double precision, ADD COLUMN neg_wh double precision,
    ADD COLUMN covered_ms bigint;
ALTER TABLE rollup_1d ADD COLUMN pos_wh double precision, ADD COLUMN neg_wh double precision,
    ADD COLUMN covered_ms bigint;
DELETE FROM rollup_1d;
