"""Where readings go after the control loop has seen them: decimated to the storage rate,
then into the local store (batched) and the outbox (durable, for the portal).

Control may use every 1-s telegram; history keeps one reading per channel per
``every_s`` (counters are exact at any rate, so nothing is lost by decimation).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from wattwerk.model import Reading


class ReadingSink(Protocol):
    def extend(self, readings: Iterable[Reading]) -> object: ...


class OutboxLike(Protocol):
    def append(self, readings: Iterable[Reading]) -> object: ...


class Recorder:
    """Keep at most one reading per channel per ``every_s`` for history and upload."""

    def __init__(
        self, every_s: float, store: ReadingSink | None = None, outbox: OutboxLike | None = None
    ) -> None:
        if every_s < 0:
            raise ValueError(f"storage interval must be >= 0 s, got {every_s}")
        self.every_ms = round(every_s * 1000)
        self.store = store
        self.outbox = outbox
        self._last: dict[str, int] = {}
        self.kept = 0
        self.skipped = 0

    def keep_next(self) -> None:
        """Keep the next reading of every channel (the first and last reading of a run)."""
        self._last.clear()

    def record(self, readings: Iterable[Reading], force: bool = False) -> list[Reading]:
        """Pass on the readings due for storage (all of them with ``force``); returns them."""
        kept: list[Reading] = []
        for r in readings:
            t = r.ts_ms
            last = self._last.get(r.channel)
            if force or last is None or t - last >= self.every_ms:
                self._last[r.channel] = t
                kept.append(r)
        self.kept += len(kept)
        if not kept:
            return kept
        if self.outbox is not None:
            self.outbox.append(kept)  # durable first: the outbox is what the portal relies on
        if self.store is not None:
            self.store.extend(kept)
        return kept
