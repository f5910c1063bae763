-- SQLite form of postgres/0192: the edge's tariff and the plan's CO₂ side (JSON text).
ALTER TABLE site_plans ADD COLUMN tariff text;
ALTER TABLE site_plans ADD COLUMN co2 text;
