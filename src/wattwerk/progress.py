"""One progress line on stderr for long work (scenarios, headless demos, benchmarks).

Shown only when stderr is a terminal, rewritten in place with a carriage return: percent done,
where the work is (e.g. the simulated time), elapsed time, an ETA and, when a counter is given,
how many input warnings were counted so far (each kind is logged once; the line keeps the count).
Nothing is written to stdout, which holds only a command's result, and nothing at all when
stderr is a file or a pipe (a log, CI).

    with Progress("scenario peak-shaving", total=24 * 3600, where=sim_clock) as progress:
        while ...:
            progress.update(done_s)

or, for asyncio work that yields between steps, ``async with progress.following(getter):``, which
polls ``getter()`` for the amount done twice a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO


def clock_text(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    s = max(int(seconds), 0)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """A carriage-return progress line for ``total`` units of work (see the module docstring)."""

    def __init__(
        self,
        label: str,
        total: float,
        *,
        where: Callable[[float], str] | None = None,
        warnings: Callable[[], int] | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        every_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.where = where
        self.warnings = warnings
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self.every_s = every_s
        self.clock = clock
        self.t0 = clock()
        self._last = -float("inf")
        self._width = 0
        self.done = 0.0

    def line(self, done: float) -> str:
        """The text shown for ``done`` units (without the carriage return)."""
        frac = min(max(done / self.total, 0.0), 1.0) if self.total > 0 else 1.0
        elapsed = self.clock() - self.t0
        parts = [f"{self.label}: {100 * frac:5.1f} %"]
        if self.where is not None:
            parts.append(self.where(done))
        parts.append(f"elapsed {clock_text(elapsed)}")
        if 0 < frac < 1:
            parts.append(f"ETA {clock_text(elapsed * (1 - frac) / frac)}")
        if self.warnings is not None and (n := self.warnings()):
            parts.append(f"{n} input warning{'s' if n != 1 else ''} counted")
        return "  ".join(parts)

    def update(self, done: float, *, force: bool = False) -> None:
        self.done = done
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        text = self.line(done)
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """The final state, then a newline, so what follows starts on a line of its own."""
        if self.enabled and self._width:
            self.update(self.done, force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.asynccontextmanager
    async def following(self, done: Callable[[], float]) -> AsyncIterator[Progress]:
        """Update from ``done()`` every ``every_s`` while the body runs (it must yield to the loop)."""

        async def follow() -> None:
            while True:
                self.update(done(), force=True)
                await asyncio.sleep(self.every_s)

        task = asyncio.create_task(follow()) if self.enabled else None
        try:
            yield self
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.done = done()
            self.close()
