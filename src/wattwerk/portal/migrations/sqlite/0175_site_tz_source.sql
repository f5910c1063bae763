-- Where a site's time zone came from: 'default' (UTC, nobody said), 'edge' (the site file's
-- zone, sent by the edge with its uploads) or 'owner' (chosen on the portal). The edge's zone
-- is taken only while the owner has not chosen one. Zones other than UTC before this migration
-- could only have been the owner's choice.
ALTER TABLE sites ADD COLUMN tz_source text NOT NULL DEFAULT 'default';
UPDATE sites SET tz_source = 'owner' WHERE tz <> 'UTC';
