-- SQLite form of postgres/0120: each device's role at a site, sent by the edge.
CREATE TABLE site_roles (
    site_id    integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device     text NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (site_id, device)
);
