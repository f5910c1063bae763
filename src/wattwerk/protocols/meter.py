"""Meter readers: OBIS values in our units, and the ``MeterReader`` that turns bytes into Readings.

Two jobs that every meter format shares (DSMR, DLMS, SML, Speedwire, MQTT):

* ``obis_value(code, value, unit)`` maps a meter's OBIS code, number and unit onto our
  quantity and unit (kWh -> Wh, kW -> W, GJ -> Wh ...), or ``None`` when we do not map it;
  ``derive_totals`` adds ``energy_import``/``power`` when a meter sends only tariff or
  import/export registers.
* ``MeterReader`` combines a byte source (any async iterable of bytes), a ``Decoder``, the
  ``InputLedger`` (bad input counted per device and kind, logged once), a physical-range
  check and staleness, and hands out ``list[Reading]`` per accepted frame.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from wattwerk.errors import InputLedger
from wattwerk.model import OBIS, ObisName, Reading, obis_key, utcnow
from wattwerk.protocols.base import Decoder, Frame, Value
from wattwerk.protocols.plausibility import PowerBounds, PowerCheck

log = logging.getLogger("wattwerk.meter")

# ---------------------------------------------------------------- OBIS -> our quantities

# Codes meters send that the shared table does not name (data, not code).
EXTRA_OBIS: dict[str, ObisName] = {
    "1-0:1.4.0": ObisName("power_import_avg", "W"),  # Belgian current average demand (15 min)
    "1-0:1.6.0": ObisName("power_import_peak_month", "W"),  # Belgian monthly peak demand
    "1-0:3.8.1": ObisName("reactive_energy_import_t1", "varh"),
    "1-0:3.8.2": ObisName("reactive_energy_import_t2", "varh"),
    "1-0:4.8.1": ObisName("reactive_energy_export_t1", "varh"),
    "1-0:4.8.2": ObisName("reactive_energy_export_t2", "varh"),
    "1-0:5.8.0": ObisName("reactive_energy_q1", "varh"),
    "1-0:6.8.0": ObisName("reactive_energy_q2", "varh"),
    "1-0:7.8.0": ObisName("reactive_energy_q3", "varh"),
    "1-0:8.8.0": ObisName("reactive_energy_q4", "varh"),
    "1-0:5.7.0": ObisName("reactive_power_q1", "var"),
    "1-0:6.7.0": ObisName("reactive_power_q2", "var"),
    "1-0:7.7.0": ObisName("reactive_power_q3", "var"),
    "1-0:8.7.0": ObisName("reactive_power_q4", "var"),
    "1-0:9.7.0": ObisName("apparent_power_import", "VA"),
    "1-0:10.7.0": ObisName("apparent_power_export", "VA"),
    "1-0:15.8.0": ObisName("energy_absolute", "Wh"),
    "1-0:23.7.0": ObisName("reactive_power_import_l1", "var"),
    "1-0:24.7.0": ObisName("reactive_power_export_l1", "var"),
    "1-0:43.7.0": ObisName("reactive_power_import_l2", "var"),
    "1-0:44.7.0": ObisName("reactive_power_export_l2", "var"),
    "1-0:63.7.0": ObisName("reactive_power_import_l3", "var"),
    "1-0:64.7.0": ObisName("reactive_power_export_l3", "var"),
    "1-0:21.8.0": ObisName("energy_import_l1", "Wh"),
    "1-0:41.8.0": ObisName("energy_import_l2", "Wh"),
    "1-0:61.8.0": ObisName("energy_import_l3", "Wh"),
    "1-0:22.8.0": ObisName("energy_export_l1", "Wh"),
    "1-0:42.8.0": ObisName("energy_export_l2", "Wh"),
    "1-0:62.8.0": ObisName("energy_export_l3", "Wh"),
    "1-0:31.4.0": ObisName("current_limit_l1", "A"),
    "0-0:17.0.0": ObisName("limit_threshold", "W"),
    "0-0:96.14.0": ObisName("state_tariff", ""),
}
EXTRA_OBIS.update(
    {
        f"1-0:{c}.8.{t}": ObisName(f"reactive_energy_q{c - 4}_t{t}", "varh")
        for c in (5, 6, 7, 8)
        for t in (1, 2, 3, 4)
    }
)

# Meter unit (lower case) -> (our unit, factor).
UNITS: dict[str, tuple[str, float]] = {
    "wh": ("Wh", 1.0),
    "kwh": ("Wh", 1e3),
    "mwh": ("Wh", 1e6),
    "w": ("W", 1.0),
    "kw": ("W", 1e3),
    "mw": ("W", 1e6),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1e3),
    "var": ("var", 1.0),
    "kvar": ("var", 1e3),
    "va": ("VA", 1.0),
    "kva": ("VA", 1e3),
    "v": ("V", 1.0),
    "kv": ("V", 1e3),
    "a": ("A", 1.0),
    "ma": ("A", 1e-3),
    "ka": ("A", 1e3),
    "hz": ("Hz", 1.0),
    "khz": ("Hz", 1e3),
    "m3": ("m³", 1.0),
    "m³": ("m³", 1.0),
    "l": ("m³", 1e-3),
    "gj": ("Wh", 1e9 / 3600),
    "mj": ("Wh", 1e6 / 3600),
    "s": ("s", 1.0),
    "m3/h": ("m³/h", 1.0),
    "m³/h": ("m³/h", 1.0),
    "°c": ("°C", 1.0),
    "": ("", 1.0),
}


def lookup_obis(code: str) -> ObisName | None:
    """Our name for an OBIS code; electricity channel B (``1-1:``) falls back to ``1-0:``."""
    key = obis_key(code)
    name = OBIS.get(key) or EXTRA_OBIS.get(key)
    if name is None and key[:2] in ("1-", "6-", "7-", "8-", "9-") and ":" in key:
        channel, rest = key.split(":", 1)
        key0 = f"{key[0]}-0:{rest}"
        name = OBIS.get(key0) or EXTRA_OBIS.get(key0)
        b = channel.split("-", 1)[1]
        if name is not None and key[0] != "1" and b.isdigit() and int(b) > 1:
            # the second gas/heat/water meter on an M-Bus: its own channel (gas_volume_ch2)
            name = ObisName(f"{name.quantity}_ch{b}", name.unit, name.scale)
    return name


def convert_unit(value: float, unit: str | None) -> tuple[float, str] | None:
    """A meter's number and unit in our unit, or None for a unit we do not know."""
    known = UNITS.get((unit or "").strip().lower())
    if known is None:
        return None
    ours, factor = known
    # round away binary noise of the scaling (1.001 kWh is 1001 Wh, not 1000.9999999999999)
    return (value if factor == 1.0 else round(value * factor, 6)), ours


def obis_value(code: str, value: float, unit: str | None) -> Value | None:
    """The ``Value`` for an OBIS code, or None when we don't map the code or the unit disagrees.

    A value without a unit takes the unit our table names (meters that omit units send
    them in the base unit).
    """
    name = lookup_obis(code)
    if name is None:
        return None
    if unit is None or unit == "":
        return Value(code, name.quantity, float(value) * name.scale, name.unit)
    converted = convert_unit(float(value), unit)
    if converted is None or converted[1] != name.unit:
        return None
    return Value(code, name.quantity, converted[0], name.unit)


def derive_totals(values: list[Value]) -> list[Value]:
    """Add what a meter implies but does not send: totals from tariff registers, net power.

    ``energy_import`` = sum of ``energy_import_t*`` (likewise export) when no total is sent;
    ``power`` = ``power_import`` - ``power_export`` (per phase too) when no net power is sent.
    Derived values carry no OBIS code.
    """
    have = {v.quantity: v.value for v in values}
    out = list(values)
    for direction in ("import", "export"):
        total = f"energy_{direction}"
        tariffs = [v for q, v in have.items() if q.startswith(total + "_t")]
        if total not in have and tariffs:
            out.append(Value(None, total, sum(tariffs), "Wh"))
    for suffix in ("", "_l1", "_l2", "_l3"):
        net = "power" + suffix
        imp, exp = have.get("power_import" + suffix), have.get("power_export" + suffix)
        if net not in have and imp is not None:
            out.append(Value(None, net, imp - (exp or 0.0), "W"))
    return out


# ---------------------------------------------------------------- physical range

# unit -> (min, max) a real meter can show; values outside are dropped (kind ``range``).
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "W": (-1e6, 1e6),
    "var": (-1e6, 1e6),
    "VA": (-1e6, 1e6),
    "V": (0.0, 500.0),
    "A": (-2000.0, 2000.0),
    "Hz": (0.0, 70.0),
    "Wh": (0.0, 1e13),
    "varh": (0.0, 1e13),
    "m³": (0.0, 1e9),
    "m³/h": (0.0, 1e5),
    "°C": (-60.0, 250.0),
    "": (-1e6, 1e6),
}


def in_range(value: Value) -> bool:
    low, high = PHYSICAL_RANGE.get(value.unit, (-1e15, 1e15))
    if value.quantity.startswith("power_factor"):
        low, high = -1.0, 1.0
    return low <= value.value <= high


# ---------------------------------------------------------------- the reader

ReadingsCallback = Callable[[list[Reading]], Awaitable[None] | None]
StaleCallback = Callable[[list[str]], Awaitable[None] | None]


@dataclass
class ReaderStats:
    frames: int = 0  # frames accepted
    rejected: int = 0  # frames rejected (crc, key, truncated, garbage ...)
    dropped_values: int = 0  # single values out of range


class MeterReader:
    """Bytes from a source -> decoder -> checked ``list[Reading]`` per frame.

    ``device`` names the channels (``grid`` -> ``grid.power``). With ``use_receive_time``
    the readings carry the time the bytes arrived instead of the meter's own clock (meters
    without a clock always use receive time); a meter clock that jumps back, or is more than
    ``max_clock_skew`` seconds off, is counted (kind ``clock``) and receive time used.
    A power beyond ``bounds`` (the connection) or against the meter's own counters is dropped as
    kind ``range`` (``wattwerk.protocols.plausibility``).
    After ``stale_after`` seconds without a valid frame the reader is ``stale``: ``on_stale``
    gets the channel names once, and control must treat those channels as unknown until
    the next good frame.
    """

    def __init__(
        self,
        device: str,
        decoder: Decoder,
        source: AsyncIterable[bytes] | None = None,
        *,
        ledger: InputLedger | None = None,
        stale_after: float = 30.0,
        use_receive_time: bool = False,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        on_readings: ReadingsCallback | None = None,
        on_stale: StaleCallback | None = None,
        max_clock_skew: float | None = None,
        bounds: PowerBounds | None = None,
    ) -> None:
        self.device = device
        self.decoder = decoder
        self.source = source
        self.ledger = ledger if ledger is not None else InputLedger()
        self.stale_after = stale_after
        self.use_receive_time = use_receive_time
        self.clock = clock
        self.monotonic = monotonic
        self.on_readings = on_readings
        self.on_stale = on_stale
        self.max_clock_skew = max_clock_skew
        self.power_check = PowerCheck(bounds)  # beyond the connection or against the counters: range
        self._last_meter_ts: datetime | None = None
        self.stats = ReaderStats()
        self.channels: set[str] = set()
        self.meter_id: str | None = None
        self._last_good = monotonic()
        self._stale_reported = False
        self._queue: asyncio.Queue[list[Reading]] | None = None

    # -- synchronous core: usable from tests, benches and push transports (MQTT)

    def process(self, data: bytes, received: datetime | None = None) -> list[list[Reading]]:
        """Feed bytes; return the readings of every frame completed by them (one list each)."""
        received = received or self.clock()
        out: list[list[Reading]] = []
        try:
            frames = self.decoder.feed(data)
        except Exception as exc:  # a decoder's bug on hostile bytes must not end the stream
            self.stats.rejected += 1
            self.ledger.record(self.device, "decoder", f"{type(exc).__name__}: {str(exc)[:200]}")
            return out
        for frame in frames:
            readings = self._accept(frame, received)
            if readings is not None:
                out.append(readings)
        return out

    def _accept(self, frame: Frame, received: datetime) -> list[Reading] | None:
        for kind, message in getattr(frame, "notes", ()) or ():
            self.ledger.record(self.device, kind, message)
        if not frame.ok:
            self.stats.rejected += 1
            self.ledger.record(self.device, frame.error_kind or "invalid", "; ".join(frame.errors))
            return None
        ts = received if self.use_receive_time or frame.ts is None else self._meter_time(frame.ts, received)
        readings: list[Reading] = []
        implausible = self.power_check.problems(frame.values, ts)
        for i, value in enumerate(frame.values):
            problem = implausible.get(i)
            if problem is None and not in_range(value):
                what = value.obis or value.quantity
                problem = f"{what} = {value.value} {value.unit} is out of physical range"
            if problem is not None:
                self.stats.dropped_values += 1
                self.ledger.record(self.device, "range", problem)
                continue
            readings.append(Reading(f"{self.device}.{value.quantity}", ts, value.value))
        if not readings:
            return None
        self.stats.frames += 1
        self.meter_id = frame.meter_id or self.meter_id
        self.channels.update(r.channel for r in readings)
        self._last_good = self.monotonic()
        self._stale_reported = False
        return readings

    def _meter_time(self, meter: datetime, received: datetime) -> datetime:
        """The meter's time, unless it jumped back or is further than ``max_clock_skew`` s
        from the receive time: then receive time, counted as kind ``clock``."""
        wrong = None
        if self._last_meter_ts is not None and meter < self._last_meter_ts:
            wrong = f"meter clock went back from {self._last_meter_ts.isoformat()} to {meter.isoformat()}"
        elif (
            self.max_clock_skew is not None and abs((meter - received).total_seconds()) > self.max_clock_skew
        ):
            wrong = f"meter clock {meter.isoformat()} is off by more than {self.max_clock_skew:g} s"
        if wrong is not None:
            self.ledger.record(self.device, "clock", f"{wrong}; using receive time")
            return received
        self._last_meter_ts = meter
        return meter

    # -- staleness

    @property
    def stale(self) -> bool:
        """True when no valid frame arrived for ``stale_after`` seconds."""
        return self.monotonic() - self._last_good > self.stale_after

    async def check_stale(self) -> bool:
        """Report staleness once per silent period; returns ``stale``."""
        if self.stale and not self._stale_reported:
            self._stale_reported = True
            self.ledger.record(self.device, "stale", f"no valid frame for {self.stale_after:g} s")
            if self.on_stale is not None:
                await _maybe_await(self.on_stale(sorted(self.channels)))
        return self.stale

    # -- async running

    async def run(self) -> None:
        """Read the source until it ends, handing readings to ``on_readings`` / the iterator."""
        if self.source is None:
            raise ValueError(f"{self.device}: MeterReader has no source")
        watchdog = asyncio.create_task(self._watch())
        try:
            async for chunk in self.source:
                for readings in self.process(chunk):
                    if self.on_readings is not None:
                        await _maybe_await(self.on_readings(readings))
                    if self._queue is not None:
                        self._queue.put_nowait(readings)
        finally:
            watchdog.cancel()
            if self._queue is not None:
                self._queue.put_nowait([])  # end marker

    async def _watch(self) -> None:
        interval = max(0.05, min(1.0, self.stale_after / 4))
        while True:
            await asyncio.sleep(interval)
            await self.check_stale()

    async def __aiter__(self) -> AsyncIterator[list[Reading]]:
        """``async for readings in reader``: runs the reader and yields per-frame readings."""
        self._queue = asyncio.Queue()
        task = asyncio.create_task(self.run())
        try:
            while True:
                readings = await self._queue.get()
                if not readings:
                    break
                yield readings
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result
