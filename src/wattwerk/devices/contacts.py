"""Digital inputs as readings: contacts (``<id>.state_1`` …, closed = 1) and S0 pulse meters.

Each source is an async iterable of reading lists, a push source for the edge runtime:

* ``MqttContacts``: a Shelly's inputs or a Tasmota's switches over MQTT. They publish on change
  only, so the stream asks for the current state when it subscribes, and passes the known state on
  every ``repeat_s`` while the broker connection is up and the device is not offline (its last
  will). When either goes, nothing is passed on: the contacts go stale and the control section's
  ``on_stale`` fail-safe applies.
* ``GpioContacts``: lines of a ``LineSource`` with debounce and active-low.
* ``S0Counter``: an S0 pulse meter on one line: energy counter and power.

Bad payloads are counted in the ledger with the source's name and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from wattwerk.errors import InputLedger
from wattwerk.model import Reading, utcnow
from wattwerk.protocols.contacts_mqtt import ContactUpdate
from wattwerk.protocols.gpio_lines import LineEvent, LineSource
from wattwerk.protocols.mqtt import MqttSettings, MqttSource, publish_once


def contact_readings(device_id: str, closed: Sequence[bool], ts: datetime) -> list[Reading]:
    """``<device>.state_1`` … for contacts in configured order."""
    return [Reading(f"{device_id}.state_{k}", ts, 1.0 if c else 0.0) for k, c in enumerate(closed, 1)]


class Dialect(Protocol):
    """What ``MqttContacts`` needs of a device family (``protocols.contacts_mqtt``)."""

    @property
    def subscription(self) -> str: ...

    def status_request(self) -> tuple[str, bytes]: ...

    def parse(self, topic: str, payload: bytes) -> ContactUpdate | None: ...


class MqttContacts:
    """Contacts ``numbers`` (the vendor's input numbers, in the order they become state_1 …)."""

    def __init__(
        self,
        device_id: str,
        dialect: Dialect,
        numbers: Sequence[int],
        settings: MqttSettings,
        *,
        repeat_s: float = 1.0,
        ledger: InputLedger | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.device_id = device_id
        self.dialect = dialect
        self.numbers = list(numbers)
        self.settings = settings
        self.repeat_s = repeat_s
        self.ledger = ledger if ledger is not None else InputLedger()
        self.clock = clock
        self.source = MqttSource(dialect.subscription, settings)
        self.states: dict[int, bool] = {}
        self.online = True
        self._changed = asyncio.Event()

    def close(self) -> None:
        self.source.close()

    def _take(self, topic: str, payload: bytes) -> None:
        try:
            update = self.dialect.parse(topic, payload)
        except ValueError as exc:
            self.ledger.record(self.device_id, "bad_payload", str(exc))
            return
        if update is None:
            return
        if update.online is not None:
            self.online = update.online
        wanted = {n: s for n, s in update.states.items() if n in self.numbers}
        if wanted or update.online is not None:
            self.states.update(wanted)
            self._changed.set()

    async def _listen(self) -> None:
        async for topic, payload in self.source.messages():
            self._take(topic, payload)

    async def _ask(self) -> None:
        """After each (re)subscription the state is unknown (a change may have been missed while
        disconnected) until the device answers our request; asked again every 5 s while unknown and
        every minute after that."""
        loop = asyncio.get_running_loop()
        while True:
            await self.source.subscribed.wait()
            self.states.clear()
            while self.source.subscribed.is_set():
                topic, body = self.dialect.status_request()
                try:
                    await publish_once(topic, body, self.settings, qos=0)
                except Exception as exc:  # the broker went away: the subscription's backoff handles it
                    self.ledger.record(self.device_id, "status_request", str(exc))
                deadline = loop.time() + (5.0 if self._unknown() else 60.0)
                while self.source.subscribed.is_set() and loop.time() < deadline:
                    await asyncio.sleep(0.2)

    def _unknown(self) -> bool:
        return any(n not in self.states for n in self.numbers)

    def current(self) -> list[Reading]:
        """The known state now, or nothing while unknown, offline or disconnected."""
        if self._unknown() or not self.online or not self.source.subscribed.is_set():
            return []
        return contact_readings(self.device_id, [self.states[n] for n in self.numbers], self.clock())

    def __aiter__(self) -> AsyncIterator[list[Reading]]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[list[Reading]]:
        tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._ask())]
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.repeat_s)
                self._changed.clear()
                readings = self.current()
                if readings:
                    yield readings
        finally:
            self.close()  # the subscription ends by itself (cancelling it mid-read leaves a dangling read)
            tasks[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(tasks, timeout=2.0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Debouncer:
    """A line's level counts once it has held for ``hold_s`` (event times, monotonic seconds)."""

    hold_s: float
    level: dict[int, bool] = field(default_factory=dict)  # settled
    _pending: dict[int, tuple[bool, float]] = field(default_factory=dict)

    def feed(self, event: LineEvent) -> None:
        if self.level.get(event.line) == event.high:
            self._pending.pop(event.line, None)  # a bounce back to the settled level
        else:
            self._pending[event.line] = (event.high, event.t)

    def settle(self, now: float) -> dict[int, bool]:
        """The lines whose new level has held until ``now``: line -> level."""
        out = {}
        for line, (high, since) in list(self._pending.items()):
            if now - since >= self.hold_s - 1e-9:
                self.level[line] = out[line] = high
                del self._pending[line]
        return out

    def next_due(self) -> float | None:
        """When the earliest pending level will have held long enough."""
        return min((since + self.hold_s for _, since in self._pending.values()), default=None)


class _LineStream:
    """Shared by contacts and S0: debounced level changes of a ``LineSource``, and a periodic tick."""

    def __init__(
        self,
        source: LineSource,
        lines: Sequence[int],
        *,
        active_low: bool,
        debounce_s: float,
        repeat_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.lines = list(lines)
        self.active_low = active_low
        self.repeat_s = repeat_s
        self.monotonic = monotonic
        self.debounce = Debouncer(debounce_s)

    def closed(self, line: int) -> bool:
        return self.debounce.level[line] != self.active_low

    async def changes(self) -> AsyncIterator[dict[int, bool]]:
        """Yields {line: closed} of lines that changed (all lines first), or {} as a periodic tick."""
        levels = self.source.levels()
        self.debounce.level.update({n: levels[n] for n in self.lines})
        yield {n: self.closed(n) for n in self.lines}
        events = self.source.events().__aiter__()
        nxt: asyncio.Task[LineEvent] | None = None
        last_tick = self.monotonic()
        try:
            while True:
                due = self.debounce.next_due()
                wait = last_tick + self.repeat_s - self.monotonic()
                if due is not None:
                    wait = min(wait, due - self.monotonic())
                nxt = nxt or asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({nxt}, timeout=max(wait, 0.0))
                if nxt in done:
                    event, nxt = nxt.result(), None
                    if event.line in self.lines:
                        self.debounce.feed(event)
                settled = self.debounce.settle(self.monotonic())
                if settled:
                    yield {n: self.closed(n) for n in settled}
                if self.monotonic() - last_tick >= self.repeat_s:
                    last_tick = self.monotonic()
                    yield {}
        finally:
            if nxt is not None:
                nxt.cancel()
            self.source.close()


class GpioContacts:
    """GPIO lines as contacts ``<id>.state_1`` … in the order of ``lines``."""

    def __init__(
        self,
        device_id: str,
        source: LineSource,
        lines: Sequence[int],
        *,
        active_low: bool = False,
        debounce_s: float = 0.02,
        repeat_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_id = device_id
        self.clock = clock
        self.stream = _LineStream(
            source,
            lines,
            active_low=active_low,
            debounce_s=debounce_s,
            repeat_s=repeat_s,
            monotonic=monotonic,
        )

    def __aiter__(self) -> AsyncIterator[list[Reading]]:
        return self._readings()

    async def _readings(self) -> AsyncIterator[list[Reading]]:
        s = self.stream
        async with contextlib.aclosing(s.changes()) as changes:
            async for _ in changes:
                yield contact_readings(self.device_id, [s.closed(n) for n in s.lines], self.clock())


class S0Counter:
    """An S0 pulse meter: ``<id>.energy_import`` (Wh since start) and ``<id>.power`` (W).

    Power is the energy of one pulse over the time between the last two pulses; while no pulse
    comes it can be at most one pulse over the time since the last, so it falls towards 0."""

    def __init__(
        self,
        device_id: str,
        source: LineSource,
        line: int,
        *,
        imp_per_kwh: float,
        active_low: bool = True,
        debounce_s: float = 0.005,
        repeat_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_id = device_id
        self.wh_per_pulse = 1000.0 / imp_per_kwh
        self.clock = clock
        self.monotonic = monotonic
        self.pulses = 0
        self._last: float | None = None
        self._interval: float | None = None
        self.stream = _LineStream(
            source,
            [line],
            active_low=active_low,
            debounce_s=debounce_s,
            repeat_s=repeat_s,
            monotonic=monotonic,
        )

    def pulse(self, t: float) -> None:
        if self._last is not None:
            self._interval = t - self._last
        self._last = t
        self.pulses += 1

    def power_w(self, now: float) -> float:
        if self._last is None or self._interval is None or self._interval <= 0:
            return 0.0
        return self.wh_per_pulse * 3600.0 / max(self._interval, now - self._last)

    def __aiter__(self) -> AsyncIterator[list[Reading]]:
        return self._readings()

    async def _readings(self) -> AsyncIterator[list[Reading]]:
        first = True
        async with contextlib.aclosing(self.stream.changes()) as changes:
            async for change in changes:
                if not first and any(change.values()):  # a pulse starts when the contact closes
                    self.pulse(self.monotonic())
                first = False
                ts = self.clock()
                yield [
                    Reading(f"{self.device_id}.energy_import", ts, self.pulses * self.wh_per_pulse),
                    Reading(f"{self.device_id}.power", ts, self.power_w(self.monotonic())),
                ]
