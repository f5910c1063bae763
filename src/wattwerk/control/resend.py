"""Re-send setpoints periodically: devices that fall back on their own when nobody writes to
them (Modbus watchdogs, SG-Ready timeouts) keep the value. A small wrapper around any writer;
the drivers know nothing about it. Also skips writes that would not change anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wattwerk.model import Setpoint

log = logging.getLogger("wattwerk.control.resend")


@dataclass(frozen=True, slots=True)
class SentState:
    last: Mapping[str, tuple[float, float]] = field(default_factory=lambda: MappingProxyType({}))


def due(
    setpoints: Iterable[Setpoint], state: SentState, now: float, every_s: float
) -> tuple[list[Setpoint], SentState]:
    """The setpoints to write now: changed ones, and unchanged ones last written ``every_s`` ago."""
    out: list[Setpoint] = []
    last = dict(state.last)
    for s in setpoints:
        prev = last.get(s.channel)
        if prev is None or prev[0] != s.value or now - prev[1] >= every_s:
            out.append(s)
            last[s.channel] = (s.value, now)
    return out, SentState(MappingProxyType(last))


class Resender:
    """Wraps ``write(setpoint) -> ok``; call ``send`` every cycle with all final setpoints.

    Writes go out together; a failed write (``write`` returned False or raised) is tried
    again next cycle, a written one only when it changes or ``every_s`` after it was written."""

    def __init__(self, write: Callable[[Setpoint], Awaitable[bool]], every_s: float = 30.0) -> None:
        self.write = write
        self.every_s = every_s
        self.state = SentState()

    async def _ok(self, s: Setpoint) -> bool:
        try:
            return await self.write(s)
        except Exception as exc:  # a failed write is retried next cycle, never fatal to the loop
            log.debug("%s: write failed (%s); retried next cycle", s.channel, exc)
            return False

    async def send(self, setpoints: Iterable[Setpoint], now: float) -> int:
        """Write what is due; returns how many writes were tried."""
        todo, state = due(setpoints, self.state, now, self.every_s)
        results = await asyncio.gather(*(self._ok(s) for s in todo))
        written: dict[str, tuple[float, float]] = dict(self.state.last)
        for s, ok in zip(todo, results, strict=True):
            if ok:
                written[s.channel] = state.last[s.channel]
            else:
                written.pop(s.channel, None)
        self.state = SentState(MappingProxyType(written))
        return len(todo)
