"""GPIO lines as a source of level changes: the ``LineSource`` interface, and its one kernel-facing
implementation over libgpiod v2 (PyPI ``gpiod``, optional: ``pip install gpiod``).

Everything above this (debounce, active-low, channels, S0 pulse counting) lives in
``wattwerk.devices.contacts`` and is tested with a fake ``LineSource``. ``GpiodLines`` is kept
tiny on purpose: it has not run against a real chip in this project's tests (no /dev/gpiochip, no
gpio-sim on the build machine); see docs/configuration.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wattwerk.errors import PermanentError


@dataclass(frozen=True, slots=True)
class LineEvent:
    """A line's raw level after an edge (``high``: electrically high) at ``t`` (monotonic seconds)."""

    line: int
    high: bool
    t: float


class LineSource(Protocol):
    """Raw levels of some lines and their edges, as the hardware reports them (no debounce)."""

    def levels(self) -> dict[int, bool]: ...

    def events(self) -> AsyncIterator[LineEvent]: ...

    def close(self) -> None: ...


class GpiodLines:
    """``lines`` of ``chip`` as inputs with edge events on both edges (libgpiod v2)."""

    def __init__(self, chip: str, lines: Sequence[int], *, pull_up: bool = False) -> None:
        try:
            import gpiod
            from gpiod.line import Bias, Direction, Edge
        except ImportError:
            raise PermanentError(
                "GPIO inputs need libgpiod's binding: pip install 'wattwerk[gpio]'"
            ) from None
        settings = gpiod.LineSettings(
            direction=Direction.INPUT, edge_detection=Edge.BOTH, bias=Bias.PULL_UP if pull_up else Bias.AS_IS
        )
        try:
            self._req: Any = gpiod.request_lines(chip, {tuple(lines): settings}, consumer="wattwerk")
        except OSError as exc:
            raise PermanentError(f"cannot open GPIO lines {list(lines)} of {chip}: {exc}") from exc
        self._lines = list(lines)
        self._rising = gpiod.EdgeEvent.Type.RISING_EDGE

    def levels(self) -> dict[int, bool]:
        values = self._req.get_values(self._lines)
        return {line: bool(int(v)) for line, v in zip(self._lines, values, strict=True)}

    async def events(self) -> AsyncIterator[LineEvent]:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self._req.fd, ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                for ev in self._req.read_edge_events():
                    yield LineEvent(ev.line_offset, ev.event_type == self._rising, ev.timestamp_ns / 1e9)
        finally:
            loop.remove_reader(self._req.fd)

    def close(self) -> None:
        self._req.release()
