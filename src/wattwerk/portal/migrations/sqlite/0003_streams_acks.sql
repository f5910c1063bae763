-- SQLite form of postgres/0003: an edge's outbox instance ("stream") and acknowledged ranges.
ALTER TABLE edges ADD COLUMN stream text NOT NULL DEFAULT '';
DROP INDEX edges_site_id_name_key;
CREATE UNIQUE INDEX edges_site_name_stream_key ON edges (site_id, name, stream);

CREATE TABLE acked_ranges (
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE,
    first_seq   integer NOT NULL,
    last_seq    integer NOT NULL,
    PRIMARY KEY (edge_id, first_seq)
);
