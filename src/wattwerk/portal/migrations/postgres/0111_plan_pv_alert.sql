-- The PV under-performance verdict the edge sends with its plan (forecast/monitor.py): measured
-- yield of the last days against the yield modelled from the weather service's analysed
-- irradiance of those days. NULL when the edge has no verdict (no PV, no weather, too few days).
ALTER TABLE site_plans ADD COLUMN pv_alert jsonb;
