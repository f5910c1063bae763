-- Restriction episodes the site's edge uploads with its batches (issue 18, portal/episodes.py):
-- ripple control, §14a, the direct marketer, limits sent over IEC 104 / Modbus / OpenADR, and
-- fallbacks; one row per (edge, source, start), updated when the episode ends (end, energy).
CREATE TABLE restriction_episodes (
    site_id       integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    edge          text NOT NULL,
    source        text NOT NULL,
    start_ms      bigint NOT NULL,
    end_ms        bigint,
    kind          text NOT NULL,
    limit_text    text NOT NULL,
    curtailed_wh  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, edge, source, start_ms)
);

CREATE INDEX restriction_episodes_range ON restriction_episodes (site_id, start_ms);
