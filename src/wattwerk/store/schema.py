"""SQLite schema of the embedded store, and the set-based rollup statements (as data)."""

from __future__ import annotations

SCHEMA_VERSION = 1

ROLLUP_COLUMNS = (
    "n INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, "
    "last_ts INTEGER NOT NULL, last REAL NOT NULL, energy REAL"
)

DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    unit TEXT NOT NULL,
    kind TEXT NOT NULL,
    obis TEXT
);
-- status: 0 valid, 1 baseline (first counter reading or reset), 2 glitch (kept, not used)
-- inc: counter increment from the previous valid reading (NULL for other kinds and glitches)
CREATE TABLE IF NOT EXISTS raw (
    cid INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    inc REAL,
    PRIMARY KEY (cid, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS r_1m (cid INTEGER NOT NULL, ts INTEGER NOT NULL, {ROLLUP_COLUMNS},
    PRIMARY KEY (cid, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS r_15m (cid INTEGER NOT NULL, ts INTEGER NOT NULL, {ROLLUP_COLUMNS},
    PRIMARY KEY (cid, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS r_1h (cid INTEGER NOT NULL, ts INTEGER NOT NULL, {ROLLUP_COLUMNS},
    PRIMARY KEY (cid, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS r_1d (cid INTEGER NOT NULL, ts INTEGER NOT NULL, {ROLLUP_COLUMNS},
    PRIMARY KEY (cid, ts)) WITHOUT ROWID;
"""

# Covered-time integrals of power channels (store/rollup.py): positive and negative Wh and the
# covered milliseconds per bucket; 1m from raw readings, coarser levels sums of the finer.
ENERGY_LEVELS = ("1m", "15m", "1h", "1d")
ENERGY_DDL = "".join(
    f"CREATE TABLE IF NOT EXISTS e_{level} (cid INTEGER NOT NULL, ts INTEGER NOT NULL, pos REAL NOT NULL, "
    f"neg REAL NOT NULL, covered INTEGER NOT NULL, PRIMARY KEY (cid, ts)) WITHOUT ROWID;\n"
    for level in ENERGY_LEVELS
)

DIRTY_DDL = """
CREATE TEMP TABLE IF NOT EXISTS dirty (
    cid INTEGER NOT NULL, b INTEGER NOT NULL, e INTEGER NOT NULL, PRIMARY KEY (cid, b)
) WITHOUT ROWID;
"""

UPSERT_RAW = (
    "INSERT INTO raw (cid, ts, value, status, inc) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (cid, ts) DO UPDATE SET value = excluded.value, status = excluded.status, inc = excluded.inc"
)


def delete_dirty(level: str) -> str:
    return f"DELETE FROM r_{level} WHERE (cid, ts) IN (SELECT cid, b FROM temp.dirty)"


def rebuild_from_raw(level: str) -> str:
    """Recompute the dirty buckets of ``level`` from raw readings (valid and baselines)."""
    return f"""
INSERT INTO r_{level} (cid, ts, n, sum, min, max, last_ts, last, energy)
SELECT d.cid, d.b, count(*), sum(r.value), min(r.value), max(r.value), max(r.ts),
    (SELECT r2.value FROM raw r2 WHERE r2.cid = d.cid AND r2.ts >= d.b AND r2.ts < d.e
        AND r2.status < 2 ORDER BY r2.ts DESC LIMIT 1),
    sum(r.inc)
FROM temp.dirty d JOIN raw r ON r.cid = d.cid AND r.ts >= d.b AND r.ts < d.e
WHERE r.status < 2
GROUP BY d.cid, d.b
"""


def rebuild_from_rollup(level: str, child: str) -> str:
    """Recompute the dirty buckets of ``level`` from the finer rollup ``child``."""
    return f"""
INSERT INTO r_{level} (cid, ts, n, sum, min, max, last_ts, last, energy)
SELECT d.cid, d.b, sum(c.n), sum(c.sum), min(c.min), max(c.max), max(c.last_ts),
    (SELECT c2.last FROM r_{child} c2 WHERE c2.cid = d.cid AND c2.ts >= d.b AND c2.ts < d.e
        ORDER BY c2.ts DESC LIMIT 1),
    sum(c.energy)
FROM temp.dirty d JOIN r_{child} c ON c.cid = d.cid AND c.ts >= d.b AND c.ts < d.e
GROUP BY d.cid, d.b
"""


def rebuild_energy(level: str, child: str) -> str:
    """Recompute the dirty buckets of the power integrals at ``level`` from the finer ``child``."""
    return f"""
INSERT INTO e_{level} (cid, ts, pos, neg, covered)
SELECT d.cid, d.b, sum(c.pos), sum(c.neg), sum(c.covered)
FROM temp.dirty d JOIN e_{child} c ON c.cid = d.cid AND c.ts >= d.b AND c.ts < d.e
GROUP BY d.cid, d.b
"""
