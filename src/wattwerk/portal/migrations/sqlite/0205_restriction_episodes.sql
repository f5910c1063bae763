-- SQLite form of postgres/0205: restriction episodes the site's edge uploads (portal/episodes.py).
CREATE TABLE restriction_episodes (
    site_id       integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    edge          text NOT NULL,
    source        text NOT NULL,
    start_ms      integer NOT NULL,
    end_ms        integer,
    kind          text NOT NULL,
    limit_text    text NOT NULL,
    curtailed_wh  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, edge, source, start_ms)
);

CREATE INDEX restriction_episodes_range ON restriction_episodes (site_id, start_ms);
