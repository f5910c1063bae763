-- Sent with the edge's plan (edge/plan_upload.py, issue 18): the site's tariff as the edge prices it
-- (name, provider, currency, mean import and export price over the plan; the cost widget uses it
-- before the owner's manual tariff) and the plan's CO₂ side (expected kg CO₂, the signal, its
-- weight and what it changed against planning on price alone). NULL when the edge sent none.
ALTER TABLE site_plans ADD COLUMN tariff jsonb;
ALTER TABLE site_plans ADD COLUMN co2 jsonb;
