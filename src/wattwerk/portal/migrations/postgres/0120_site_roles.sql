-- Each device's role at a site, as the edge's site file names it (grid_meter, pv, battery, ...),
-- sent with the uplink's batches (portal/site_roles.py). The pages place a channel in the power
-- flows by its device's role; legacy loggers send none and the pages guess from the device id.
CREATE TABLE site_roles (
    site_id    integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device     text NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (site_id, device)
);
