-- SQLite form of postgres/0111: the PV under-performance verdict sent with the plan (JSON text).
ALTER TABLE site_plans ADD COLUMN pv_alert text;
