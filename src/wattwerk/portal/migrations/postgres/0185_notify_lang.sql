-- The language of a site's notification mail (de, en or fr): the page's language when the owner
-- saved the choice (portal/notify_api.py), or the one the API call named.
ALTER TABLE site_notifications ADD COLUMN lang text NOT NULL DEFAULT 'en';
