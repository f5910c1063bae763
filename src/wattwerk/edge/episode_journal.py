"""The edge's restriction episodes, on disk until the portal has them.

Every restriction the limiter holds (ripple control, §14a, the direct marketer, a limit sent over
IEC 60870-5-104, the Modbus server or OpenADR) is an episode with a start, an end, the limit (the
source's level as the limiter logs it, e.g. ``feed-in 30%``) and the energy it curtailed
(control/episodes.py); a fallback (a device or a signal gone silent, fail-safe setpoints) is one
too, without curtailed energy. The control cycle hands its events to ``record`` (only cycles with
events write: nothing per cycle on flash), and the uplink takes ``pending`` episodes along with
its batches (``episodes`` in the batch, portal/episodes.py) until the portal has acknowledged
each one's latest state: a started episode goes up at once (no end yet), and again when it ends.

Storage: ``episodes.sqlite`` in the edge's data dir (WAL, ``synchronous=FULL``). Episodes the
portal has were kept ``KEEP_DAYS`` for the record, then deleted; pending ones are never deleted.
An episode still open when the edge stops ends when the journal is opened again (the limiter starts
afresh, and a restriction that still holds becomes a new episode).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wattwerk.control.limit_types import Event

log = logging.getLogger(__name__)

KEEP_DAYS = 400
BATCH = 100  # episodes that ride along with one upload at most
# a limiter source -> the kind of restriction it is (anything else is a limit sent from outside)
KINDS = {"ripple": "ripple_control", "para14a": "para14a", "direct_marketer": "direct_marketer"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, start_ms INTEGER NOT NULL,
    end_ms INTEGER, limit_text TEXT NOT NULL, curtailed_wh REAL NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1, sent INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, start_ms));
"""


def kind_of(event: Event) -> str:
    if event.kind.startswith("fallback"):
        return "fallback"
    return KINDS.get(event.subject, "inbound")


class EpisodeJournal:
    """Episodes from the limiter's events (``record``) for the uplink (``pending``, ``acked``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # the control loop writes, the uplink reads
        self._failed = False
        self._close_open(int(time.time() * 1000))

    def _close_open(self, now_ms: int) -> None:
        """Episodes still open from before a restart: the limiter's state is gone, so they end
        now (at the latest; a new episode starts if the restriction still holds)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE episodes SET end_ms = MAX(start_ms, ?), version = version + 1 WHERE end_ms IS NULL",
                (now_ms,),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ from the control cycle

    def record(self, events: Iterable[Event]) -> None:
        """Keep the episodes the events start and end; never raises into the control loop."""
        todo = [e for e in events if e.kind.startswith(("restriction_", "fallback_"))]
        if not todo:
            return
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                for e in todo:
                    self._apply(e)
                newest = max(e.ts.timestamp() for e in todo)  # the edge's clock (the demo's may be simulated)
                cutoff = int((newest - KEEP_DAYS * 86400) * 1000)
                self._db.execute("DELETE FROM episodes WHERE sent = version AND start_ms < ?", (cutoff,))
        except sqlite3.Error:
            if not self._failed:
                log.exception("restriction episodes not kept in %s", self.path)
            self._failed = True

    def _apply(self, e: Event) -> None:
        source, kind = e.subject, kind_of(e)
        start_ms = int(e.data.get("start", e.ts.timestamp()) * 1000)
        if e.kind in ("restriction_start", "fallback_start"):
            if e.kind == "restriction_start":
                level = e.message.removeprefix(f"{source} ")
            else:  # "pv1: no data for 60 s or more, fail-safe setpoints"
                level = e.message.split(": ", 1)[-1]
            self._db.execute(
                "INSERT OR IGNORE INTO episodes (kind, source, start_ms, limit_text) VALUES (?, ?, ?, ?)",
                (kind, source, start_ms, level[:80]),
            )
            return
        end_ms = int(e.data.get("end", e.ts.timestamp()) * 1000)
        if e.kind == "restriction_end":
            where, args = "source = ? AND start_ms = ?", (source, start_ms)
        else:  # a fallback's end names no start: the newest open one of this source
            where, args = "source = ? AND kind = 'fallback' AND end_ms IS NULL", (source,)
        self._db.execute(
            f"UPDATE episodes SET end_ms = ?, curtailed_wh = ?, version = version + 1 WHERE {where}",
            (end_ms, round(float(e.data.get("curtailed_wh", 0.0)), 3), *args),
        )

    # ------------------------------------------------------------ for the uplink

    def pending(self, limit: int = BATCH) -> list[dict[str, Any]]:
        """Episodes whose latest state the portal does not have yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, version, kind, source, start_ms, end_ms, limit_text, curtailed_wh FROM episodes "
                "WHERE sent < version ORDER BY start_ms LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {
                "id": r[0],
                "version": r[1],
                "kind": r[2],
                "source": r[3],
                "start_ms": r[4],
                "end_ms": r[5],
                "limit": r[6],
                "curtailed_wh": r[7],
            }
            for r in rows
        ]

    def acked(self, sent: Iterable[dict[str, Any]]) -> None:
        """The portal has these (as sent); a later change of one is pending again."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE episodes SET sent = ? WHERE id = ? AND sent < ?",
                [(ep["version"], ep["id"], ep["version"]) for ep in sent],
            )

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest episodes, newest first (for the page and tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, source, start_ms, end_ms, limit_text, curtailed_wh FROM episodes "
                "ORDER BY start_ms DESC LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("kind", "source", "start_ms", "end_ms", "limit", "curtailed_wh")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def wire(episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The episodes as the batch carries them (without the journal's own id and version)."""
    keys = ("kind", "source", "start_ms", "end_ms", "limit", "curtailed_wh")
    return [{k: ep[k] for k in keys} for ep in episodes]
