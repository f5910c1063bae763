"""The edge's durable outbox: every accepted reading waits here until the portal acknowledged it.

Storage: its own SQLite file in WAL mode with ``synchronous=FULL``. One ``append()`` call is
one transaction, so one fsync of the WAL covers a whole batch (a poll cycle's readings); when
``append()`` returns, the batch survives a power cut or kill -9. A power cut can only cost the
batch whose ``append()`` had not returned yet — those readings were never "accepted".

Rows are compact: ``(seq INTEGER PRIMARY KEY, ch, ts, v)`` with the channel as a small integer
(names live once in ``channels``); ``seq`` is the rowid. Sequence numbers are per edge and
monotonic forever: the next one is kept in ``meta`` and never reused, even after every row
has been acknowledged and deleted.

Full-disk policy (``max_bytes``): when the rows in use exceed the budget, the backlog is cut
into four time regions (hour-aligned) and the oldest region not yet hourly is thinned one
level coarser (1 min, then 15 min, then 1 h buckets per channel: counters and states keep the
bucket's last reading, power and gauges keep one reading stamped at the bucket's last
timestamp carrying the bucket's mean, so energy from power stays right). Only when everything
is hourly is the oldest region dropped. The same
runs when SQLite reports the disk full; ``append()`` never raises for a full disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wattwerk.model import Kind, Reading, quantity_info, split_channel

log = logging.getLogger(__name__)

Row = tuple[int, str, int, float]  # seq, channel name, ts_ms, value

THIN_LEVELS_MS: tuple[int, ...] = (60_000, 900_000, 3_600_000)
_MEAN_KINDS = {Kind.POWER.value, Kind.GAUGE.value}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                     kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, ch INTEGER NOT NULL,
                                   ts INTEGER NOT NULL, v REAL NOT NULL,
                                   res INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1);
INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', abs(random()));
"""


def _kind_of(name: str) -> str:
    try:
        return quantity_info(split_channel(name)[1])[1].value
    except ValueError:
        return Kind.STATE.value  # unknown quantity: never average it


@dataclass
class OutboxStats:
    appended: int = 0
    acked: int = 0
    thinned: int = 0  # rows removed by thinning
    dropped: int = 0  # rows dropped after thinning could not free enough
    disk_full: int = 0  # times SQLite reported the disk full
    thin_runs: list[int] = field(default_factory=list)  # bucket sizes used, for the log


class Outbox:
    """Durable FIFO of readings with per-edge sequence numbers (see module docstring)."""

    def __init__(self, path: str | Path, *, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.stats = OutboxStats()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._channels: dict[str, int] = dict(self._db.execute("SELECT name, id FROM channels"))
        self._names: dict[int, str] = {v: k for k, v in self._channels.items()}
        self._page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        # identifies this outbox file: a re-created outbox restarts at seq 1 under a new stream
        instance = self._db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
        self.instance = f"{instance:016x}"
        # one connection shared by the edge's threads: every public call holds this lock, so a
        # transaction of one thread never swallows another thread's statements
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def append(self, readings: Iterable[Reading]) -> tuple[int, int] | None:
        """Store readings durably in one transaction; return their (first, last) seq."""
        return self.append_raw((r.channel, r.ts_ms, r.value) for r in readings)

    def append_raw(self, rows: Iterable[tuple[str, int, float]]) -> tuple[int, int] | None:
        """Like ``append`` for ``(channel, ts_ms, value)`` tuples (the fast path)."""
        rows = list(rows)
        if not rows:
            return None
        with self._lock:
            return self._append_locked(rows)

    def _append_locked(self, rows: list[tuple[str, int, float]]) -> tuple[int, int] | None:
        for attempt in range(4):
            try:
                result = self._append_once(rows)
                break
            except sqlite3.OperationalError as exc:  # SQLITE_FULL: "database or disk is full"
                if "full" not in str(exc):
                    raise
                self._rollback()
                self.stats.disk_full += 1
                log.warning("outbox %s: disk full while appending (attempt %d); thinning", self.path, attempt)
                self.make_room(force=True)
        else:
            log.error("outbox %s: disk still full after thinning; %d readings dropped", self.path, len(rows))
            self.stats.dropped += len(rows)
            return None
        self.stats.appended += len(rows)
        if self.max_bytes is not None and self.used_bytes() > self.max_bytes:
            self.make_room()
        return result

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _append_once(self, rows: list[tuple[str, int, float]]) -> tuple[int, int]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            first = db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]
            ids = self._channels
            new = {name for name, _, _ in rows if name not in ids}
            for name in sorted(new):
                cur = db.execute("INSERT INTO channels (name, kind) VALUES (?, ?)", (name, _kind_of(name)))
                ids[name] = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO outbox (seq, ch, ts, v) VALUES (?, ?, ?, ?)",
                [(first + i, ids[name], int(ts), float(v)) for i, (name, ts, v) in enumerate(rows)],
            )
            last = first + len(rows) - 1
            db.execute("UPDATE meta SET value=? WHERE key='next_seq'", (last + 1,))
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            # the channel ids we cached may have been rolled back
            self._channels = dict(db.execute("SELECT name, id FROM channels"))
            raise
        self._names = {v: k for k, v in self._channels.items()}
        return first, last

    # ------------------------------------------------------------ reading

    def peek(self, batch_size: int, *, newest: bool = False, after_seq: int = 0) -> list[Row]:
        """Up to ``batch_size`` pending rows in seq order: the oldest (after ``after_seq``),
        or with ``newest=True`` the newest ones (still returned in ascending order)."""
        if newest:
            sql = "SELECT seq, ch, ts, v FROM outbox WHERE seq > ? ORDER BY seq DESC LIMIT ?"
        else:
            sql = "SELECT seq, ch, ts, v FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (after_seq, batch_size)).fetchall()
            if any(ch not in self._names for _, ch, _, _ in rows):  # appended by another process
                self._channels = dict(self._db.execute("SELECT name, id FROM channels"))
                self._names = {v: k for k, v in self._channels.items()}
        if newest:
            rows.reverse()
        names = self._names
        return [(seq, names[ch], ts, v) for seq, ch, ts, v in rows]

    def ack(self, upto_seq: int) -> int:
        """Delete every row with ``seq <= upto_seq``; return how many went."""
        return self.ack_range(0, upto_seq)

    def ack_range(self, first_seq: int, last_seq: int) -> int:
        """Delete the rows ``first_seq <= seq <= last_seq`` (a batch the portal acknowledged)."""
        with self._lock:
            # Acks are not fsynced on their own (the next append's fsync covers them): a power cut
            # can only bring acknowledged rows back, and the portal ignores them as duplicates.
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                cur = self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first_seq, last_seq))
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
        self.stats.acked += cur.rowcount
        return cur.rowcount

    def pending(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def next_seq(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0])

    def used_bytes(self) -> int:
        """Bytes of pages in use (freed pages are reused, so this is what the rows cost)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * self._page_size)

    # ------------------------------------------------------------ full-disk policy

    def make_room(self, *, force: bool = False) -> None:
        """Thin (then drop) the oldest rows until under ``max_bytes`` (or one step if ``force``)."""
        with self._lock:
            self._make_room(force)

    def _make_room(self, force: bool) -> None:
        for _ in range(32):
            if not force and (self.max_bytes is None or self.used_bytes() <= self.max_bytes):
                return
            if not self._thin_step():
                return
            force = False
            if self.max_bytes is None:
                return

    def _thin_step(self) -> bool:
        """Thin the oldest time region that is not hourly yet one level coarser; when every
        region is hourly, drop the oldest region. True if anything changed."""
        db = self._db
        lo, hi = db.execute("SELECT min(ts), max(ts) FROM outbox").fetchone()
        if lo is None:
            return False
        hour = THIN_LEVELS_MS[-1]
        base = lo // hour * hour
        step = max(hour, -(-(hi + 1 - base) // 4) // hour * hour + hour)
        regions = [(a, a + step) for a in range(base, hi + 1, step)]
        try:
            db.execute("BEGIN IMMEDIATE")
            for a, b in regions:
                level = self._useful_level(a, b)
                if level is not None:
                    removed = self._thin(a, b, level)
                    self.stats.thinned += removed
                    self.stats.thin_runs.append(level)
                    log.warning(
                        "outbox %s over budget: thinned %d rows to %d s", self.path, removed, level // 1000
                    )
                    break
            else:
                a, b = regions[0]
                removed = db.execute("DELETE FROM outbox WHERE ts < ?", (b,)).rowcount
                self.stats.dropped += removed
                log.error(
                    "outbox %s over budget with everything hourly: dropped %d oldest rows", self.path, removed
                )
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # thinning itself needs a few free pages: make them by dropping the oldest 1 %
            self._rollback()
            n = max(1, self.pending() // 100)
            upto = db.execute("SELECT seq FROM outbox ORDER BY seq LIMIT 1 OFFSET ?", (n - 1,)).fetchone()
            removed = db.execute("DELETE FROM outbox WHERE seq <= ?", (upto[0],)).rowcount if upto else 0
            self.stats.dropped += removed
            log.error("outbox %s: no room to thin (%s); dropped the %d oldest rows", self.path, exc, removed)
        return True

    def _useful_level(self, a: int, b: int) -> int | None:
        """The finest level coarser than the region's rows that would actually remove rows."""
        db = self._db
        level, rows = db.execute(
            "SELECT min(res), count(*) FROM outbox WHERE ts >= ? AND ts < ?", (a, b)
        ).fetchone()
        if not rows:
            return None
        for bucket in THIN_LEVELS_MS:
            if bucket <= level:
                continue
            groups = db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE ts >= ? AND ts < ? GROUP BY ch, ts / ?)",
                (a, b, bucket),
            ).fetchone()[0]
            if groups < rows:
                return bucket
        return None

    def _thin(self, a: int, b: int, bucket_ms: int) -> int:
        """Keep one row per channel and bucket for ``a <= ts < b`` (bounds on the bucket grid)."""
        db = self._db
        db.execute("DROP TABLE IF EXISTS temp.thin")
        db.execute(
            """CREATE TEMP TABLE thin AS
               SELECT o.ch AS ch, o.ts / ? AS b, max(o.seq) AS keep, avg(o.v) AS mean,
                      max(o.ts) AS last_ts, c.kind AS kind
               FROM outbox o JOIN channels c ON c.id = o.ch
               WHERE o.ts >= ? AND o.ts < ? GROUP BY o.ch, o.ts / ?""",
            (bucket_ms, a, b, bucket_ms),
        )
        db.execute("CREATE INDEX temp.thin_keep ON thin (keep)")
        before = db.execute("SELECT count(*) FROM outbox WHERE ts >= ? AND ts < ?", (a, b)).fetchone()[0]
        # Copy the kept rows out, delete the whole region, put them back: deleting in place would
        # leave a few rows on every page and free no pages at all.
        mean_kinds = tuple(_MEAN_KINDS)
        marks = ",".join("?" * len(mean_kinds))
        db.execute(
            f"""CREATE TEMP TABLE kept AS
                SELECT o.seq AS seq, o.ch AS ch,
                       CASE WHEN t.kind IN ({marks}) THEN t.last_ts ELSE o.ts END AS ts,
                       CASE WHEN t.kind IN ({marks}) THEN t.mean ELSE o.v END AS v
                FROM thin t JOIN outbox o ON o.seq = t.keep""",
            mean_kinds + mean_kinds,
        )
        db.execute("DELETE FROM outbox WHERE ts >= ? AND ts < ?", (a, b))
        db.execute(
            "INSERT INTO outbox (seq, ch, ts, v, res) SELECT seq, ch, ts, v, ? FROM kept ORDER BY seq",
            (bucket_ms,),
        )
        db.execute("DROP TABLE temp.kept")
        db.execute("DROP TABLE temp.thin")
        after = db.execute("SELECT count(*) FROM outbox WHERE ts >= ? AND ts < ?", (a, b)).fetchone()[0]
        return int(before - after)
