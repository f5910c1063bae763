"""The site runtime: one asyncio loop that reads every device, keeps the site state, runs the
control step and writes setpoints, and records history.

* Each polled device has its own task, interval and timeout; a device that fails is backed
  off (doubling up to ``max_backoff_s``) without delaying the others. Push sources (a P1
  stream, MQTT) deliver readings whenever they arrive.
* The control loop freezes a ``Snapshot`` every ``cycle_s``, asks the control step for
  setpoints (controllers and the limiter live in ``wattwerk.control``; the runtime only calls
  them) and writes each setpoint to its device with a timeout. The measured cycle time is
  itself a channel, ``edge.cycle_time``.
* Every reading goes to the state at once and to the recorder at the storage rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from wattwerk.control.resend import Resender
from wattwerk.devices.capabilities import send
from wattwerk.edge.recorder import Recorder
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import Reading, Setpoint, utcnow
from wattwerk.snapshot import SiteState, Snapshot

log = logging.getLogger("wattwerk.edge")


class Driver(Protocol):
    """A polled device: read its channels, accept commands (``current_limit``, ``sgready`` …)."""

    async def read(self, ts: datetime | None = None) -> list[Reading]: ...

    async def command(self, command: str, value: float) -> None: ...


ControlStep = Callable[[Snapshot], Sequence[Setpoint]]


@dataclass
class Polled:
    device_id: str
    driver: Driver
    interval_s: float
    timeout_s: float = 5.0
    failures: int = 0
    reads: int = 0


@dataclass
class RuntimeStats:
    cycles: int = 0
    cycle_time_s: float = 0.0
    setpoints_written: int = 0
    write_errors: int = 0
    readings: int = 0
    last_setpoints: dict[str, Setpoint] = field(default_factory=dict)


class EdgeRuntime:
    def __init__(
        self,
        polled: Sequence[Polled],
        *,
        push: Sequence[AsyncIterable[list[Reading]]] = (),
        recorder: Recorder | None = None,
        control: ControlStep | None = None,
        cycle_s: float = 1.0,
        stale_after_s: float = 10.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        ledger: InputLedger | None = None,
        resend_s: float | None = None,
    ) -> None:
        """``resend_s``: write a setpoint only when it changes or this long after it was last
        written (``control.resend_s``); None writes every setpoint every cycle."""
        self.polled = list(polled)
        self.push = list(push)
        self.recorder = recorder
        self.control = control
        self.cycle_s = cycle_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.ledger = ledger if ledger is not None else InputLedger()
        self.state = SiteState(stale_after_s)
        self.stats = RuntimeStats()
        self._drivers = {p.device_id: p.driver for p in self.polled}
        self._resender = Resender(self._write, resend_s) if resend_s is not None else None
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ readings

    def accept(self, readings: Sequence[Reading]) -> None:
        """Readings from any source: into the state now, into history at the storage rate."""
        if not readings:
            return
        self.stats.readings += len(readings)
        self.state.update(readings)
        if self.recorder is not None:
            self.recorder.record(readings)

    async def _poll(self, dev: Polled, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
            started = time.monotonic()
            if not await self.read_once(dev):
                return
            if dev.failures:
                delay = min(self.max_backoff_s, dev.interval_s * 2 ** min(dev.failures, 16))
            else:
                delay = max(0.0, dev.interval_s - (time.monotonic() - started))

    async def read_once(self, dev: Polled) -> bool:
        """One read of one device into the state; a failure is counted in the ledger.
        False when the device gave up for good (a ``PermanentError``)."""
        try:
            readings = await asyncio.wait_for(dev.driver.read(self.clock()), dev.timeout_s)
        except PermanentError as exc:
            self.ledger.record(dev.device_id, "permanent", f"gave up: {exc}")
            return False
        except TimeoutError:
            dev.failures += 1
            self.ledger.record(dev.device_id, "timeout", f"no answer within {dev.timeout_s:g} s")
        except Exception as exc:  # a driver bug or an unexpected transport error must not stop the site
            dev.failures += 1
            self.ledger.record(dev.device_id, type(exc).__name__, f"read failed: {exc}")
        else:
            dev.failures = 0
            dev.reads += 1
            self.accept(readings)
        return True

    async def _consume(self, source: AsyncIterable[list[Reading]], stop: asyncio.Event) -> None:
        async for readings in source:
            self.accept(readings)
            if stop.is_set():
                return

    # ------------------------------------------------------------ control

    async def control_cycle(self) -> list[Setpoint]:
        """One cycle: snapshot, control step, write. Returns the setpoints written."""
        started = time.perf_counter()
        now = self.clock()
        setpoints = list(self.control(self.state.snapshot(now))) if self.control else []
        if setpoints and self._resender is not None:
            await self._resender.send(setpoints, now.timestamp())
        elif setpoints:
            await asyncio.gather(*(self._write(sp) for sp in setpoints))
        elapsed = time.perf_counter() - started
        self.stats.cycles += 1
        self.stats.cycle_time_s = elapsed
        self.accept([Reading("edge.cycle_time", now, elapsed)])
        return setpoints

    async def _write(self, sp: Setpoint) -> bool:
        """Write one setpoint; a failure is counted and noted for the page, never raised."""
        device, command = sp.channel.split(".", 1)
        driver = self._drivers.get(device)
        if driver is None:
            self.ledger.record(device, "no_driver", f"setpoint {sp.channel} has no writable device")
            return False
        try:
            await asyncio.wait_for(send(driver, command, sp.value), 5.0)  # through its capabilities
        except Exception as exc:
            self.stats.write_errors += 1
            self.ledger.record(device, "write", f"writing {command}={sp.value:g} failed: {exc}")
            return False
        self.stats.setpoints_written += 1
        self.stats.last_setpoints[sp.channel] = sp
        return True

    async def _control_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            await self.control_cycle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, self.cycle_s - (time.monotonic() - started)))

    # ------------------------------------------------------------ running

    def add_device(self, dev: Polled) -> None:
        """Poll a device added while running (setup in the web UI); before ``run`` it just joins the list."""
        self.polled.append(dev)
        self._drivers[dev.device_id] = dev.driver
        if self._stop is not None and not self._stop.is_set():
            self._tasks.append(asyncio.create_task(self._poll(dev, self._stop), name=f"poll {dev.device_id}"))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; every task ends cleanly."""
        tasks = [asyncio.create_task(self._poll(p, stop), name=f"poll {p.device_id}") for p in self.polled]
        tasks += [asyncio.create_task(self._consume(s, stop)) for s in self.push]
        tasks.append(asyncio.create_task(self._control_loop(stop), name="control"))
        self._stop, self._tasks = stop, tasks
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_for(runtime: EdgeRuntime, seconds: float) -> None:
    """Run ``runtime`` for ``seconds`` of wall time (tests, benchmarks)."""
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
