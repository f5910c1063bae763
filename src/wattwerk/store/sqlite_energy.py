"""The edge store's power integrals (store/rollup.py) in SQLite: which time new readings change,
and the per-bucket energy tables ``e_1m`` .. ``e_1d`` recomputed from raw and from each other."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from wattwerk.store import buckets, rollup, schema


def span(db: sqlite3.Connection, cid: int, new: dict[int, float]) -> tuple[int, int]:
    """The time whose power integral the new readings change (rollup.dirty_span)."""
    lo, hi = min(new), max(new)
    prev = db.execute(
        "SELECT max(ts) FROM raw WHERE cid = ? AND ts < ? AND status < 2", (cid, lo)
    ).fetchone()[0]
    nxt = db.execute("SELECT min(ts) FROM raw WHERE cid = ? AND ts > ? AND status < 2", (cid, hi)).fetchone()[
        0
    ]
    return rollup.dirty_span(lo, hi, prev, nxt)


def integrate(
    db: sqlite3.Connection, cid: int, a: int, b: int, bucket_of: Callable[[int], tuple[int, int]]
) -> dict[int, rollup.Energy]:
    """Covered-time integrals of a power channel over [a, b) per bucket, from raw."""
    points = db.execute(
        "SELECT ts, value FROM raw WHERE cid = ? AND ts >= ? AND ts <= ? AND status < 2 ORDER BY ts",
        (cid, a - rollup.MAX_GAP_MS, b + rollup.MAX_GAP_MS),
    ).fetchall()
    return rollup.integrate(points, bucket_of, a, b)


def refresh(db: sqlite3.Connection, tz: str, spans: dict[int, tuple[int, int]]) -> None:
    """Recompute the power integrals of the 1m buckets the spans touch, then their parents."""
    if not spans:
        return
    dirty: set[tuple[int, int]] = set()
    for cid, (a, b) in spans.items():
        lo, hi = a - a % 60_000, b - b % 60_000 + 60_000
        parts = integrate(db, cid, lo, hi, rollup.fixed(60_000))
        db.execute("DELETE FROM e_1m WHERE cid = ? AND ts >= ? AND ts < ?", (cid, lo, hi))
        db.executemany(
            "INSERT INTO e_1m (cid, ts, pos, neg, covered) VALUES (?, ?, ?, ?, ?)",
            [(cid, t, e.pos_wh, e.neg_wh, e.covered_ms) for t, e in parts.items()],
        )
        dirty.update((cid, t) for t in range(lo, hi, 60_000))
    for level, items in buckets.parents(dirty, tz).items():
        if level == "1m":
            continue
        groups: dict[str, list[tuple[int, int, int]]] = {}
        for item in items:
            child = buckets.child_of(item[1], item[2], level)
            groups.setdefault("1m" if child == "raw" else child, []).append(item)
        for child, group in groups.items():
            db.execute("DELETE FROM temp.dirty")
            db.executemany("INSERT INTO temp.dirty (cid, b, e) VALUES (?, ?, ?)", group)
            db.execute(f"DELETE FROM e_{level} WHERE (cid, ts) IN (SELECT cid, b FROM temp.dirty)")
            db.execute(schema.rebuild_energy(level, child))
