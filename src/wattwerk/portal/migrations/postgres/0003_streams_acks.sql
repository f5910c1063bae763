-- An edge's outbox instance ("stream"): a re-created outbox starts its sequence numbers at 1
-- again, so the sequence source is (site, edge name, stream); its new readings are never
-- mistaken for duplicates of old ones.
ALTER TABLE edges ADD COLUMN stream text NOT NULL DEFAULT '';
ALTER TABLE edges DROP CONSTRAINT edges_site_id_name_key;
ALTER TABLE edges ADD CONSTRAINT edges_site_name_stream_key UNIQUE (site_id, name, stream);

-- Acknowledged seq ranges per sequence source. The edge never sends a seq inside an acked
-- range again except as a retry, so these keep uploads idempotent after retention has
-- deleted the raw readings themselves. Adjacent ranges are merged on insert.
CREATE TABLE acked_ranges (
    edge_id     integer NOT NULL REFERENCES edges (id) ON DELETE CASCADE,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    PRIMARY KEY (edge_id, first_seq)
);
