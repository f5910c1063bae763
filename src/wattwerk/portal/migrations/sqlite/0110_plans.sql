-- SQLite form of postgres/0110: the edge's plan and PV forecast, uploaded ahead of time (POST /api/v1/plans; portal/plans.py).
-- Times are epoch milliseconds like readings.ts_ms. A newer plan replaces the stored slots from
-- its first slot on; past slots stay, so the portal can show forecast against actual.

-- The newest plan's header per site (a stale upload never overwrites a newer one).
CREATE TABLE site_plans (
    site_id       integer PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    edge          text NOT NULL,
    made_at_ms    bigint NOT NULL,
    received_ms   bigint NOT NULL,
    status        text NOT NULL,
    message       text NOT NULL,
    source        text,
    pv_source     text NOT NULL,
    currency      text NOT NULL,
    slot_minutes  integer NOT NULL,
    cost_eur      real NOT NULL,
    first_ms      bigint NOT NULL,
    end_ms        bigint NOT NULL
);

-- Per slot: price (€/kWh), forecasts and grid (W), expected cost (€), what each device will do.
CREATE TABLE plan_slots (
    site_id       integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    ts_ms         bigint NOT NULL,
    slot_minutes  integer NOT NULL,
    price         real NOT NULL,
    sell          real NOT NULL,
    pv_w          real NOT NULL,
    load_w        real NOT NULL,
    grid_w        real NOT NULL,
    cost_eur      real NOT NULL,
    devices       text NOT NULL,
    made_at_ms    bigint NOT NULL,
    PRIMARY KEY (site_id, ts_ms)
);

-- Expected PV energy per local day of the site (YYYY-MM-DD), the newest forecast for each day.
CREATE TABLE pv_day_forecasts (
    site_id       integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day           text NOT NULL,
    wh            real NOT NULL,
    made_at_ms    bigint NOT NULL,
    PRIMARY KEY (site_id, day)
);
