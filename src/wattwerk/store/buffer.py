"""A small buffer in front of a store, so the edge writes in batches and not per reading
(SD cards wear out with one write per reading).

Readings are flushed in one ``write`` when the buffer holds ``max_readings`` or its oldest
reading has waited ``max_age_s``. Call ``poll()`` from the edge's loop so a quiet buffer
still flushes on age; ``close()`` flushes the rest. What sits in the buffer is lost in a
crash (at most ``max_age_s`` of readings): the durable path to the portal is the outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from wattwerk.store.base import ReadingLike, Store, WriteResult


class BufferedWriter:
    def __init__(
        self,
        store: Store,
        max_readings: int = 1000,
        max_age_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_readings < 1 or max_age_s < 0:
            raise ValueError("max_readings must be >= 1 and max_age_s >= 0")
        self.store = store
        self.max_readings = max_readings
        self.max_age_s = max_age_s
        self.clock = clock
        self.totals = WriteResult()
        self.flushes = 0
        self._pending: list[ReadingLike] = []
        self._since: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, reading: ReadingLike) -> WriteResult | None:
        """Buffer one reading; returns the write's result when this add flushed."""
        if self._since is None:
            self._since = self.clock()
        self._pending.append(reading)
        return self.poll()

    def extend(self, readings: Iterable[ReadingLike]) -> WriteResult | None:
        result = None
        for reading in readings:
            flushed = self.add(reading)
            result = flushed or result
        return result

    def due(self) -> bool:
        if not self._pending:
            return False
        if len(self._pending) >= self.max_readings:
            return True
        return self._since is not None and self.clock() - self._since >= self.max_age_s

    def poll(self) -> WriteResult | None:
        """Flush if the buffer is full or old enough."""
        return self.flush() if self.due() else None

    def flush(self) -> WriteResult:
        """Write what is buffered. If the store raises (disk full, locked), the readings stay
        buffered for the next flush and the error propagates."""
        if not self._pending:
            return WriteResult()
        result = self.store.write(self._pending)
        self._pending, self._since = [], None
        self.flushes += 1
        self.totals.merge(result)
        return result

    def close(self) -> WriteResult:
        return self.flush()

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
