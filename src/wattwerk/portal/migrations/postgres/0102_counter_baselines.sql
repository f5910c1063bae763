-- Counter validation in the portal's rollups (the edge store's rules, store/counters.py): a
-- glitch is left out (a gap), a reset starts a new baseline. Rollups of a counter hold a
-- continuous register: the meter's value plus the channel's shift, which grows at each reset
-- by the level lost, so the delta across a reset is 0 and energy adds up across it.

-- Each reset: from from_ms on, rollup value = meter value + shift.
CREATE TABLE counter_baselines (
    channel_id  integer NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    from_ms     bigint NOT NULL,
    shift       double precision NOT NULL,
    PRIMARY KEY (channel_id, from_ms)
);

-- The last valid reading the rollups hold (the anchor the next readings are checked against).
CREATE TABLE counter_anchors (
    channel_id  integer PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    ts_ms       bigint NOT NULL,
    value       double precision NOT NULL,
    shift       double precision NOT NULL DEFAULT 0
);
