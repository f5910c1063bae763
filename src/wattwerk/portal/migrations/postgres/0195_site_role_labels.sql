-- The owner's name for a device (the site file's ``name``, e.g. "Wärmepumpe Keller"), sent by the
-- edge with its roles (portal/site_roles.py); the pages show it instead of the device id. NULL:
-- no name given, the pages show the device's role ("Heat pump").
ALTER TABLE site_roles ADD COLUMN label text;
