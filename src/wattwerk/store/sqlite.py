"""The embedded store: SQLite in WAL mode, raw readings plus 1m/15m/1h/1d rollups.

Durability (what a power cut can cost): WAL with ``synchronous=NORMAL``. A commit appends to
the WAL without an fsync; the WAL is synced at each checkpoint (every 1000 pages, ~4 MB). The
database is never corrupted by a power cut, but commits since the last checkpoint may be rolled
back. Measured: 20 channels at 1 s written every 30 s cost ~75 pages per commit, so a checkpoint
comes every ~13 commits: at worst the last ~7 minutes of readings are lost; in practice only
what the kernel had not yet written back (Linux: dirty pages older than ~30 s are flushed).
The edge's outbox is the durable path to the portal; this store is the local view, and its
writes are batched (``BufferedWriter``) to spare SD cards.

Every ``write`` is one transaction: raw rows are upserted, counter sequences around the new
readings are re-validated (``counters.classify``), and the rollup buckets the changed rows
fall into are recomputed set-based in SQL, each level from the next finer one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from wattwerk.errors import BadInput, InputLedger, PermanentError, RetryableError
from wattwerk.model import Channel, Kind, Reading, from_ms, ms
from wattwerk.store import buckets, rollup, schema, sqlite_energy
from wattwerk.store.base import RESOLUTIONS, ReadingLike, Row, WriteResult, check_tiers
from wattwerk.store.counters import (
    BASELINE,
    GLITCH,
    VALID,
    Change,
    CounterPolicy,
    RawRow,
    revalidate,
    split_context,
)
from wattwerk.store.validate import channel_of, unpack

log = logging.getLogger("wattwerk.store")
# SQLite's page cache per connection, in KiB (SQLite's own default). It fills as the store grows:
# at 16 MB it added 12 MB to the edge's RSS within a day of 40 channels every 10 s, at no gain in
# write speed; a larger cache is for bulk readers (``cache_kib``).
CACHE_KIB = 2000


def aware_ms(when: datetime) -> int:
    """Milliseconds of a timezone-aware datetime; a naive one is a programming error."""
    if when.tzinfo is None:
        raise ValueError(f"{when} has no timezone: the store takes UTC-aware datetimes")
    return ms(when)


def ms_of(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def stored_tz(path: str | Path) -> str | None:
    """The timezone a store file was created with, None when it has none (or no file)."""
    if not Path(path).is_file():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'tz'").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    return row[0] if row else None


class SqliteStore:
    """Time-series store in one SQLite file. ``tz`` fixes the local day of the 1d rollups
    and is recorded in the file; reopening with another timezone is refused."""

    def __init__(
        self,
        path: str | Path,
        tz: str = "UTC",
        tiers: dict[str, timedelta | None] | None = None,
        policy: CounterPolicy | None = None,
        ledger: InputLedger | None = None,
        busy_timeout_s: float = 10.0,
        cache_kib: int = CACHE_KIB,
    ) -> None:
        buckets.zone(tz)
        self.path = str(path)
        self.tz = tz
        self.tiers = check_tiers(tiers or {})
        self.policy = policy or CounterPolicy()
        self.ledger = ledger or InputLedger()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self.journal_mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA temp_store = MEMORY")
        self._db.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        self._db.executescript(schema.DDL + schema.ENERGY_DDL + schema.DIRTY_DDL)
        self._init_meta()
        self._channels: dict[str, tuple[int, Kind]] = {}
        self._load_channels()

    def _load_channels(self) -> None:
        """Refresh the channel cache (another connection may have added channels)."""
        for cid, name, kind in self._db.execute("SELECT id, name, kind FROM channels"):
            self._channels[name] = (cid, Kind(kind))

    def _known(self, name: str) -> tuple[int, Kind] | None:
        known = self._channels.get(name)
        if known is None:
            with self._lock:
                self._load_channels()
            known = self._channels.get(name)
        return known

    @classmethod
    def open_existing(cls, path: str | Path, **kwargs: object) -> SqliteStore:
        """Open a store file with the timezone it was created with."""
        tz = stored_tz(path)
        if tz is None:
            raise PermanentError(f"{path}: not a wattwerk store")
        return cls(path, tz=tz, **kwargs)  # type: ignore[arg-type]

    def _init_meta(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "tz" not in meta:
            self._db.execute(
                "INSERT INTO meta VALUES ('tz', ?), ('schema', ?)", (self.tz, schema.SCHEMA_VERSION)
            )
        self._db.execute("COMMIT")
        if meta.get("tz", self.tz) != self.tz:
            self._db.close()
            raise PermanentError(
                f"{self.path}: store was created with timezone {meta['tz']}, opened with {self.tz} "
                "(day rollups depend on it)"
            )

    # ------------------------------------------------------------------ writing

    def write(self, readings: Iterable[ReadingLike]) -> WriteResult:
        result = WriteResult()
        batch: dict[str, dict[int, float]] = {}
        refused: dict[str, BadInput] = {}
        for reading in readings:
            try:
                name, ts, value = unpack(reading)
                per = batch.get(name)
                if per is None:
                    if name in refused:
                        raise refused[name]
                    if name not in self._channels:
                        try:
                            channel_of(name)
                        except BadInput as exc:
                            refused[name] = exc
                            raise
                    per = batch[name] = {}
            except BadInput as exc:
                self._refuse(result, reading, exc)
                continue
            per[ts] = value  # within a batch the last write wins
        if not batch:
            return result
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                horizon = self._horizon()
                out: list[tuple[int, int, float, int, float | None]] = []
                spans: dict[int, tuple[int, int]] = {}
                for name, rows in batch.items():
                    if horizon is not None:
                        self._drop_too_late(name, rows, horizon, result)
                    if not rows:
                        continue
                    cid, kind = self._ensure_channel(name)
                    if kind is Kind.COUNTER:
                        self._counter_rows(cid, name, rows, result, out, horizon)
                    else:
                        new = self._plain_rows(cid, name, rows, result, out)
                        if new and kind is Kind.POWER:
                            spans[cid] = self._energy_span(cid, new)
                if out:
                    db.executemany(schema.UPSERT_RAW, out)
                    self._refresh({(row[0], row[1] - row[1] % 60_000) for row in out})
                    self._refresh_energy(spans)
                db.execute("COMMIT")
            except BaseException as exc:
                self._rollback(exc)
                raise
        return result

    def _rollback(self, exc: BaseException) -> None:
        """Undo the open transaction; a database error becomes a RetryableError (disk full, locked,
        I/O) that the caller may retry with the same readings."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._channels.clear()  # channels created in the failed transaction are gone
        self._load_channels()
        if isinstance(exc, sqlite3.OperationalError):
            raise RetryableError(f"{self.path}: {exc}") from exc

    def _refuse(self, result: WriteResult, reading: object, exc: BadInput) -> None:
        name = (
            reading.channel
            if isinstance(reading, Reading)
            else (reading[0] if isinstance(reading, tuple) and reading else "?")
        )
        device = str(name).split(".", 1)[0]
        self.ledger.record(device or "?", exc.kind, str(exc))
        result.rejected.append((str(name), exc.kind, str(exc)))

    def _drop_too_late(self, name: str, rows: dict[int, float], horizon: int, result: WriteResult) -> None:
        for ts in [ts for ts in rows if ts < horizon]:
            del rows[ts]
            exc = BadInput(
                "too_late",
                f"{name}: reading at {from_ms(ts).isoformat()} is older than the "
                f"raw retention horizon {from_ms(horizon).isoformat()}",
            )
            self._refuse(result, (name, ts, 0.0), exc)

    def _ensure_channel(self, name: str) -> tuple[int, Kind]:
        known = self._channels.get(name)
        if known is not None:
            return known
        ch = channel_of(name)
        self._db.execute(
            "INSERT OR IGNORE INTO channels (name, unit, kind, obis) VALUES (?, ?, ?, ?)",
            (name, ch.unit, ch.kind.value, ch.obis),
        )
        cid = self._db.execute("SELECT id FROM channels WHERE name = ?", (name,)).fetchone()[0]
        self._channels[name] = (cid, ch.kind)
        return cid, ch.kind

    def _max_ts(self, cid: int) -> int | None:
        return self._db.execute("SELECT max(ts) FROM raw WHERE cid = ?", (cid,)).fetchone()[0]

    def _existing(self, cid: int, stamps: list[int]) -> dict[int, RawRow]:
        cur = self._db.execute(
            "SELECT ts, value, status, inc FROM raw WHERE cid = ? AND ts IN (SELECT value FROM json_each(?))",
            (cid, json.dumps(stamps)),
        )
        return {row[0]: row for row in cur}

    def _new_values(
        self, cid: int, name: str, rows: dict[int, float], result: WriteResult
    ) -> tuple[dict[int, float], int | None]:
        """The readings that change something (same-value duplicates dropped, replacements
        counted) and the channel's latest stored timestamp."""
        max_ts = self._max_ts(cid)
        if max_ts is None or min(rows) > max_ts:
            return rows, max_ts
        existing = self._existing(cid, [ts for ts in rows if ts <= max_ts])
        new: dict[int, float] = {}
        replaced = []
        for ts, value in rows.items():
            old = existing.get(ts)
            if old is not None:
                if old[1] == value:
                    result.duplicates += 1
                    continue
                replaced.append((ts, old[1], value))
            new[ts] = value
        if replaced:
            result.replaced += len(replaced)
            ts, was, now = replaced[0]
            log.info(
                "%s: %d reading(s) replaced, last write wins (e.g. %s: %s -> %s)",
                name,
                len(replaced),
                from_ms(ts).isoformat(),
                was,
                now,
            )
        return new, max_ts

    def _plain_rows(
        self,
        cid: int,
        name: str,
        rows: dict[int, float],
        result: WriteResult,
        out: list[tuple[int, int, float, int, float | None]],
    ) -> dict[int, float]:
        new, _ = self._new_values(cid, name, rows, result)
        result.accepted += len(new)
        out.extend((cid, ts, value, VALID, None) for ts, value in new.items())
        return new

    def _energy_span(self, cid: int, new: dict[int, float]) -> tuple[int, int]:
        return sqlite_energy.span(self._db, cid, new)

    def _refresh_energy(self, spans: dict[int, tuple[int, int]]) -> None:
        sqlite_energy.refresh(self._db, self.tz, spans)

    def _counter_rows(
        self,
        cid: int,
        name: str,
        rows: dict[int, float],
        result: WriteResult,
        out: list[tuple[int, int, float, int, float | None]],
        horizon: int | None,
    ) -> None:
        """Re-validate the counter sequence around the new readings; emit every row whose value,
        status or increment changes."""
        new, max_ts = self._new_values(cid, name, rows, result)
        if not new:
            return
        result.accepted += len(new)
        tmin = min(new)
        settled = horizon if horizon is not None else -(2**63)
        limit = self.policy.context_before + 8
        while True:
            before = self._db.execute(
                "SELECT ts, value, status, inc FROM raw WHERE cid = ? AND ts < ? ORDER BY ts DESC LIMIT ?",
                (cid, tmin, limit),
            ).fetchall()
            context = split_context(before, self.policy, settled, complete=len(before) < limit)
            if context is not None:
                break
            limit *= 4
        back, anchor = context
        late = max_ts is not None and tmin <= max_ts
        limit = 4 * len(new) + 8 * self.policy.confirm + 64
        while True:
            fwd: list[RawRow] = []
            if late:
                fwd = self._db.execute(
                    "SELECT ts, value, status, inc FROM raw WHERE cid = ? AND ts >= ? ORDER BY ts LIMIT ?",
                    (cid, tmin, limit),
                ).fetchall()
            changes = revalidate(anchor, back, fwd, new, len(fwd) < limit, self.policy)
            if changes is not None:
                break
            limit *= 4
        first = None if anchor is not None else min(r[0] for r in (*back[:1], *fwd[:1], (tmin,)))
        self._account(name, changes, result, first)
        out.extend((cid, c.ts, c.value, c.status, c.inc) for c in changes)

    def _account(self, name: str, changes: list[Change], result: WriteResult, first: int | None) -> None:
        """Count and report glitches and resets that appeared or went away (``first``: the
        channel's first timestamp, whose baseline is no reset)."""
        device = name.split(".", 1)[0]
        for c in changes:
            if c.status == GLITCH and c.was != GLITCH:
                result.glitches += 1
                msg = f"{name}: implausible value {c.value} at {from_ms(c.ts).isoformat()} stored as a gap"
                self.ledger.record(device, "counter_glitch", msg)
            elif c.was == GLITCH:
                result.glitches -= 1
            if c.status == BASELINE and c.was != BASELINE:
                result.resets += 1
                if c.ts != first:
                    log.info(
                        "%s: counter continues from a new level %s at %s (reset or new meter); "
                        "no energy attributed across the jump",
                        name,
                        c.value,
                        from_ms(c.ts).isoformat(),
                    )
            elif c.was == BASELINE:
                result.resets -= 1

    def _refresh(self, dirty_1m: set[tuple[int, int]]) -> None:
        """Recompute the dirty buckets of every rollup level, finest first."""
        db = self._db
        for level, items in buckets.parents(dirty_1m, self.tz).items():
            groups: dict[str, list[tuple[int, int, int]]] = {}
            for item in items:
                groups.setdefault(buckets.child_of(item[1], item[2], level), []).append(item)
            for child, group in groups.items():
                db.execute("DELETE FROM temp.dirty")
                db.executemany("INSERT INTO temp.dirty (cid, b, e) VALUES (?, ?, ?)", group)
                db.execute(schema.delete_dirty(level))
                if child == "raw":
                    db.execute(schema.rebuild_from_raw(level))
                else:
                    db.execute(schema.rebuild_from_rollup(level, child))

    def _horizon(self) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'raw_horizon'").fetchone()
        return int(row[0]) if row else None

    # ------------------------------------------------------------------ reading

    def channels(self) -> list[Channel]:
        with self._lock:
            rows = self._db.execute("SELECT name, obis FROM channels ORDER BY name").fetchall()
        return [Channel.of(name, obis) for name, obis in rows]

    def query(
        self, channels: Sequence[str], start: datetime, end: datetime, resolution: str
    ) -> dict[str, list[Row]]:
        if resolution not in RESOLUTIONS:
            raise ValueError(f"unknown resolution {resolution!r}; expected one of {', '.join(RESOLUTIONS)}")
        t0, t1 = aware_ms(start), aware_ms(end)
        out: dict[str, list[Row]] = {}
        with self._lock:
            for name in channels:
                known = self._known(name)
                if known is None:
                    out[name] = []
                    continue
                if resolution == "raw":
                    cur = self._db.execute(
                        "SELECT ts, value, inc FROM raw WHERE cid = ? AND ts >= ? AND ts < ? AND status < 2 "
                        "ORDER BY ts",
                        (known[0], t0, t1),
                    )
                    out[name] = [Row(from_ms(ts), v, v, v, 1, inc, v) for ts, v, inc in cur]
                else:
                    cur = self._db.execute(
                        f"SELECT ts, n, sum, min, max, energy, last FROM r_{resolution} "
                        "WHERE cid = ? AND ts >= ? AND ts < ? ORDER BY ts",
                        (known[0], t0, t1),
                    )
                    out[name] = [
                        Row(from_ms(ts), s / n, lo, hi, n, e, last) for ts, n, s, lo, hi, e, last in cur
                    ]
        return out

    def energy(self, channel: str, start: datetime, end: datetime) -> float:
        known = self._known(channel)
        if known is None:
            channel_of(channel)
            return 0.0
        if known[1] is not Kind.COUNTER:
            raise ValueError(f"{channel} is not a counter")
        total = 0.0
        with self._lock:
            for level, a, b in buckets.cover(aware_ms(start), aware_ms(end), self.tz):
                table, column = ("raw", "inc") if level == "raw" else (f"r_{level}", "energy")
                row = self._db.execute(
                    f"SELECT total({column}) FROM {table} WHERE cid = ? AND ts >= ? AND ts < ?",
                    (known[0], a, b),
                ).fetchone()
                total += row[0]
        return total

    def power_energy(self, channel: str, start: datetime, end: datetime) -> rollup.Energy | None:
        """Covered-time integral of a power channel over [start, end) (store/rollup.py), from the
        coarsest whole buckets that tile it; None when the store has no such channel."""
        known = self._known(channel)
        if known is None:
            channel_of(channel)
            return None
        if known[1] is not Kind.POWER:
            raise ValueError(f"{channel} is not a power channel")
        total = rollup.Energy()
        with self._lock:
            for level, a, b in buckets.cover(aware_ms(start), aware_ms(end), self.tz):
                if level == "raw":
                    parts = sqlite_energy.integrate(self._db, known[0], a, b, lambda _ts, a=a, b=b: (a, b))
                    for part in parts.values():
                        total.add(part)
                    continue
                pos, neg, covered = self._db.execute(
                    f"SELECT total(pos), total(neg), total(covered) FROM e_{level} WHERE cid = ? "
                    "AND ts >= ? AND ts < ?",
                    (known[0], a, b),
                ).fetchone()
                total.add(rollup.Energy(pos, neg, int(covered)))
        return total

    def has_channel(self, channel: str) -> bool:
        return self._known(channel) is not None

    def latest(self, channels: Sequence[str] | None = None) -> dict[str, Reading]:
        if channels is None:
            with self._lock:
                self._load_channels()
        names = list(self._channels) if channels is None else list(channels)
        out: dict[str, Reading] = {}
        with self._lock:
            for name in names:
                known = self._known(name)
                if known is None:
                    continue
                row = self._db.execute(
                    "SELECT ts, value FROM raw WHERE cid = ? AND status < 2 ORDER BY ts DESC LIMIT 1",
                    (known[0],),
                ).fetchone()
                if row is not None:
                    out[name] = Reading(name, from_ms(row[0]), row[1])
        return out

    def raw_rows(
        self, channel: str, start: datetime, end: datetime
    ) -> list[tuple[int, float, int, float | None]]:
        """Stored raw rows (ts_ms, value, status, increment) in [start, end), glitches included:
        what counter validation decided (status per ``counters``: valid, baseline, glitch)."""
        known = self._known(channel)
        if known is None:
            return []
        with self._lock:
            return self._db.execute(
                "SELECT ts, value, status, inc FROM raw WHERE cid = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (known[0], aware_ms(start), aware_ms(end)),
            ).fetchall()

    def pragma(self, name: str) -> object:
        """The value of a read-only PRAGMA on the store's connection (journal_mode, synchronous)."""
        if not name.isidentifier():
            raise ValueError(f"bad pragma name {name!r}")
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def glitch_count(self, channel: str) -> int:
        """Counter readings currently stored as gaps."""
        known = self._known(channel)
        if known is None:
            return 0
        with self._lock:
            return self._db.execute(
                "SELECT count(*) FROM raw WHERE cid = ? AND status = ?", (known[0], GLITCH)
            ).fetchone()[0]

    # ------------------------------------------------------------------ retention

    def apply_retention(self, now: datetime) -> dict[str, int]:
        """Delete rows older than each tier's keep-for, cut at a local midnight so every bucket
        a later write can touch still has all its finer rows. The latest valid raw reading of each
        channel is kept (counters continue from it); readings older than the raw cut are refused
        from now on."""
        now_ms = aware_ms(now)
        deleted = dict.fromkeys(RESOLUTIONS, 0)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                self._load_channels()
                cids = [cid for cid, _ in self._channels.values()]
                for res in RESOLUTIONS:
                    keep = self.tiers[res]
                    if keep is None:
                        continue
                    cut = buckets.floor(now_ms - ms_of(keep), "1d", self.tz)
                    for cid in cids:
                        if res == "raw":
                            cur = db.execute(
                                "DELETE FROM raw WHERE cid = ? AND ts < ? AND ts < coalesce("
                                "(SELECT max(ts) FROM raw WHERE cid = ? AND status < 2), ?)",
                                (cid, cut, cid, cut),
                            )
                        else:
                            cur = db.execute(f"DELETE FROM r_{res} WHERE cid = ? AND ts < ?", (cid, cut))
                            db.execute(f"DELETE FROM e_{res} WHERE cid = ? AND ts < ?", (cid, cut))
                        deleted[res] += cur.rowcount
                    if res == "raw" and cut > (self._horizon() or 0):
                        db.execute("INSERT OR REPLACE INTO meta VALUES ('raw_horizon', ?)", (str(cut),))
                db.execute("COMMIT")
            except BaseException as exc:
                self._rollback(exc)
                raise
        gone = ", ".join(f"{k} {v}" for k, v in deleted.items() if v)
        if gone:
            log.info("retention: deleted %s", gone)
        else:
            log.debug("retention: nothing past its tier's keep")
        return deleted

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
