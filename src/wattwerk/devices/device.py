"""Devices: a catalogue entry plus a Modbus link becomes an object with capabilities.

``ModbusDevice`` drives an entry's register map; ``SunSpecDevice`` discovers a SunSpec model chain
and reads/controls it through the official model definitions. Both return ``Reading``s in our units
and signs, count bad input in an ``InputLedger`` and never raise on bad values: a poll of a device
that is failing returns no readings and the device is backed off (see ``RegisterReader``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from wattwerk.devices.profile import CAPABILITIES, Entry, WriteSpec
from wattwerk.errors import BadInput, InputLedger, PermanentError, RetryableError, WattwerkError
from wattwerk.model import Reading, utcnow
from wattwerk.protocols import sunspec
from wattwerk.protocols.modbus import Health, LinkConfig, ModbusLink, RegisterReader
from wattwerk.protocols.modbus_codec import Register, decode_raw
from wattwerk.vocabulary import Command

log = logging.getLogger("wattwerk.devices")


class _Commands:
    """The capability methods every device offers; each maps onto one command."""

    capabilities: frozenset[str]

    async def command(self, command: str, value: float) -> None:
        raise NotImplementedError

    async def set_power_limit(self, watts: float) -> None:
        await self.command(Command.POWER_LIMIT, watts)

    async def set_battery_setpoint(self, watts: float) -> None:
        await self.command(Command.BATTERY_SETPOINT, watts)

    async def enable(self, on: bool) -> None:
        await self.command(Command.ENABLE, 1.0 if on else 0.0)

    async def set_current_limit(self, amps: float) -> None:
        await self.command(Command.CURRENT_LIMIT, amps)

    async def set_phases(self, phases: int) -> None:
        await self.command(Command.PHASES, float(phases))

    async def set_sgready(self, state: int) -> None:
        await self.command(Command.SGREADY, float(state))

    async def set_relay(self, on: bool) -> None:
        await self.command(Command.RELAY, 1.0 if on else 0.0)

    async def set_power(self, watts: float) -> None:
        await self.command(Command.POWER, watts)


class ModbusDevice(_Commands):
    """A device driven by its catalogue entry's register map."""

    def __init__(
        self,
        entry: Entry,
        link: ModbusLink,
        *,
        device_id: str,
        unit: int | None = None,
        ledger: InputLedger | None = None,
        clock: Callable[[], datetime] = utcnow,
        rating: float | Callable[[], float] | None = None,
        connector: int = 1,
    ) -> None:
        self.entry = entry
        self.rating = rating  # W, for writes in % of "rated"
        self.connector = connector
        self.link = link
        self.device_id = device_id
        self.unit = entry.unit_for(connector) if unit is None else unit
        self.capabilities = frozenset(entry.capabilities)
        self.clock = clock
        self.ledger = ledger or InputLedger()
        self.channels = {r.name for r in entry.registers if r.channel}
        self.minus = {r.name: r.minus for r in entry.registers if r.channel and r.minus}
        needed = self.channels | set(self.minus.values())
        needed |= {r.sf for r in entry.registers if r.channel and r.sf}
        table = entry.register_table(connector)
        self.reader = RegisterReader(
            link,
            self.unit,
            [r for r in table if r.name in needed],
            name=device_id,
            ledger=self.ledger,
            gaps=entry.gaps,
            max_gap=entry.connection.max_gap,
            extra=[r for r in table if r.name not in needed],
        )
        self.writes: dict[str, WriteSpec] = {w.command: w for w in entry.writes}
        self._ratings: dict[str, float] = {}
        self._beat_at: datetime | None = None  # the heartbeat's last write

    async def values(self) -> dict[str, float | str]:
        """One poll: every register's decoded value (helpers included); a ``minus`` register's value
        is the difference (none when either half is missing: half a flow is no flow)."""
        values = await self.reader.read()
        for name, other in self.minus.items():
            a, b = values.get(name), values.get(other)
            if isinstance(a, int | float) and isinstance(b, int | float):
                values[name] = a - b
            else:
                values.pop(name, None)
        return values

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        values = await self.values()
        when = ts or self.clock()
        await self._heartbeat(when)
        return [
            Reading(f"{self.device_id}.{name}", when, float(v))
            for name, v in values.items()
            if name in self.channels and not isinstance(v, str)
        ]

    async def _heartbeat(self, now: datetime) -> None:
        """The entry's heartbeat, at most ``every_s`` apart: a device that misses it falls back to
        its safe state (a charger to its failsafe current). A failed write is logged; the next poll
        tries again, and the readings of this one stand."""
        beat = self.entry.heartbeat
        if beat is None:
            return
        if self._beat_at is not None and (now - self._beat_at).total_seconds() < beat.every_s:
            return
        try:
            await self.reader.write(beat.name, beat.value, single=beat.single)
            self._beat_at = now
        except WattwerkError as exc:  # a timeout, an exception answer
            log.warning("%s: heartbeat %s not written: %s", self.device_id, beat.name, exc)

    async def command(self, command: str, value: float) -> None:
        spec = self.writes.get(command)
        if spec is None:
            raise PermanentError(f"{self.device_id}: {self.entry.id} has no {command} command")
        if spec.min is not None and value < spec.min:
            log.info("%s: %s %s raised to the device minimum %s", self.device_id, command, value, spec.min)
            value = spec.min
        if spec.max is not None and value > spec.max:
            log.info("%s: %s %s lowered to the device maximum %s", self.device_id, command, value, spec.max)
            value = spec.max
        if spec.percent_of is not None:
            rating = await self._rating(spec.percent_of)
            value = max(0.0, min(100.0, 100.0 * value / rating))
        if spec.direction is not None:
            d = spec.direction
            code = d.positive if value > 0 else d.negative if value < 0 else d.zero
            if not d.last:
                await self.reader.write(d.via, code, single=spec.single)
            for name in spec.registers:  # e.g. Huawei: forcible charge and discharge power
                await self.reader.write(name, abs(value), single=spec.single)
            if d.last:
                for name, v in spec.then.items():
                    await self.reader.write(name, v, single=spec.single)
                await self.reader.write(d.via, code, single=spec.single)
                return
        elif spec.map is not None:
            raw = spec.map.get(round(value))
            if raw is None:
                raise PermanentError(f"{self.device_id}: {command} {value} not one of {sorted(spec.map)}")
            for name, v in zip(spec.registers, raw, strict=True):
                await self.reader.write(name, v, single=spec.single)
        else:
            for name in spec.registers:  # usually one; a few devices want the value twice
                await self.reader.write(name, value, single=spec.single)
        for name, v in spec.then.items():
            await self.reader.write(name, v, single=spec.single)

    async def _rating(self, source: float | str) -> float:
        """A rating in W: the number itself, or the value of the named register (read once)."""
        if not isinstance(source, str):
            return float(source)
        if source == "rated":
            if self.rating is None:
                raise PermanentError(f"{self.device_id}: {self.entry.id} needs its rated power configured")
            return float(self.rating() if callable(self.rating) else self.rating)
        if source not in self._ratings:
            reg = self.reader.by_name[source]
            raw = decode_raw(
                await self.link.read(self.unit, reg.table, reg.address, reg.size), reg.type, reg.word_order
            )
            if not isinstance(raw, int | float) or raw <= 0:
                raise PermanentError(f"{self.device_id}: rating register {source} gives {raw!r}")
            self._ratings[source] = raw * reg.scale
        return self._ratings[source]

    async def identify(self) -> bool:
        """Do the entry's identification registers match what this unit answers?"""
        if not self.entry.identify:
            return False
        for ident in self.entry.identify:
            reg = self.reader.by_name[ident.name]
            regs = await self.link.read(self.unit, reg.table, reg.address, reg.size)
            raw = decode_raw(regs, reg.type, reg.word_order)
            if raw is None:
                return False
            if ident.prefix is not None and not str(raw).startswith(ident.prefix):
                return False
            value = raw * reg.scale if isinstance(raw, int | float) else raw
            if ident.equals is not None and value != ident.equals:
                return False
            if ident.one_of is not None and value not in ident.one_of:
                return False
        return True


_METER_MODELS = frozenset({201, 202, 203, 204, 211, 212, 213, 214})
_INVERTER_MODELS = frozenset({101, 102, 103, 111, 112, 113, 701})
_REAL_POWER = frozenset({"W", "WphA", "WphB", "WphC"})  # a meter's signed real powers
_AC = {"power": "power_ac", "energy": "energy_ac"}  # a hybrid inverter's W, WH when PV is read elsewhere


class SunSpecDevice(_Commands):
    """A SunSpec device: discovers its model chain, reads the mapped points, writes controls.

    Channel devices: inverter models report as ``device_id``; in a chain that also has an inverter,
    meter models report as ``<device_id>_meter`` and battery model 802 as ``<device_id>_battery``.
    ``pv_power`` / ``battery_power`` (``SunSpecSpec``): where a hybrid's PV power, or read as a battery
    its battery's flow, comes from when not from the inverter's W (which then reports as ``power_ac``).
    """

    def __init__(
        self,
        link: ModbusLink,
        *,
        device_id: str,
        unit: int = 1,
        ledger: InputLedger | None = None,
        capabilities: frozenset[str] | None = None,
        rated_power: float | None = None,
        bases: tuple[int, ...] = sunspec.BASES,
        clock: Callable[[], datetime] = utcnow,
        vendor: Entry | None = None,
    ) -> None:
        self.link = link
        spec = vendor.sunspec if vendor is not None else None  # the entry's options (None: plain SunSpec)
        self.meter_export_positive = spec is not None and spec.meter_positive == "export"  # flip to + import
        self.pv_power, self.pv_modules = (spec.pv_power, spec.pv_modules) if spec else ("inverter", [])
        self.battery_power, self.battery_modules = (
            (spec.battery_power, spec.battery_modules) if spec else ("inverter", [])
        )
        self._sums: dict[str, list[tuple[str, float]]] = {}  # quantity -> the points (and signs) summed
        self.device_id = device_id
        self.unit = unit
        self.ledger = ledger or InputLedger()
        self.rated_power = rated_power
        self.bases = bases
        self.clock = clock
        self.models: list[sunspec.ModelInstance] = []
        self.points: dict[str, sunspec.Point] = {}
        self.channels: dict[str, str] = {}  # register name -> channel name
        self.reader: RegisterReader | None = None
        self._declared = capabilities
        self.capabilities: frozenset[str] = frozenset()
        self.info: dict[str, str] = {}
        self.last: dict[str, float | str] = {}
        self.health = Health()
        self._setting_up = asyncio.Lock()  # a command and a poll may both find the chain unknown
        # vendor registers beside the SunSpec chain (e.g. SolarEdge's power control), same unit
        self.vendor = (
            None
            if vendor is None or not vendor.registers
            else ModbusDevice(
                vendor,
                link,
                device_id=device_id,
                unit=unit,
                ledger=self.ledger,
                clock=clock,
                rating=self._wmax,
            )
        )

    async def setup(self) -> list[sunspec.ModelInstance]:
        """Discover the chain and plan the poll. PermanentError when there is no SunSpec here."""
        self.models = await sunspec.discover(self.link, self.unit, self.bases)
        ids = {m.mid for m in self.models}
        has_inverter = bool(ids & _INVERTER_MODELS)
        wanted: list[Register] = []
        for m in self.models:
            if not m.supported:
                continue
            pts = sunspec.layout(m.mid, m.address, m.length, m.raw, key=m.key)
            by_name = {p.register.name: p for p in pts}
            mapped = sunspec.POINT_MAP.get(m.mid, {})
            if (self.pv_power, self.battery_power) != ("inverter", "inverter") and m.mid in _INVERTER_MODELS:
                mapped = {path: _AC.get(q, q) for path, q in mapped.items()}
            parts = self._parts(m.mid, ids)
            keep = set(mapped) | set(sunspec.CONTROL_POINTS.get(m.mid, ())) | set(parts)
            device = self.device_id
            if has_inverter and m.mid in _METER_MODELS:
                device = f"{self.device_id}_meter"
            elif has_inverter and m.mid == 802:
                device = f"{self.device_id}_battery"
            for p in pts:
                if p.path in keep:
                    if p.units == "Pct" and mapped.get(p.path, "").startswith("power_factor"):
                        p = replace(p, register=replace(p.register, scale=0.01))  # SunSpec PF is in %
                    if self.meter_export_positive and m.mid in _METER_MODELS and p.path in _REAL_POWER:
                        p = replace(p, register=replace(p.register, scale=-p.register.scale))
                    self.points[p.register.name] = p
                    wanted.append(p.register)
                    if p.register.sf and p.register.sf in by_name and p.register.sf not in self.points:
                        self.points[p.register.sf] = by_name[p.register.sf]
                        wanted.append(by_name[p.register.sf].register)
                    if p.path in mapped:
                        self.channels[p.register.name] = f"{device}.{mapped[p.path]}"
                    if p.path in parts:
                        quantity, sign = parts[p.path]
                        self._sums.setdefault(quantity, []).append((p.register.name, sign))
        self.reader = RegisterReader(self.link, self.unit, wanted, name=self.device_id, ledger=self.ledger)
        caps = {"read_power"} if ids & (_INVERTER_MODELS | _METER_MODELS) else set()
        if ids & _METER_MODELS or ids & _INVERTER_MODELS:
            caps.add("read_energy")
        if ids & _INVERTER_MODELS:
            caps.add("read_temperature")
        if ids & {124, 802}:
            caps.add("read_soc")
        if ids & {123, 704}:
            caps |= {"pv_power_limit"}
        if 123 in ids:
            caps.add("enable")
        if 124 in ids:
            caps.add("battery_setpoint")
        if self.vendor is not None:
            caps |= {c for c in self.vendor.capabilities if CAPABILITIES[c] in self.vendor.writes}
        self.capabilities = frozenset(caps if self._declared is None else caps & self._declared)
        common = [p for p in self.points.values() if p.model == 1]
        self.info = sunspec.common_info(common, await self._read_common(common))
        return self.models

    def _parts(self, mid: int, ids: set[int]) -> dict[str, tuple[str, float]]:
        """The points of model ``mid`` that make up the PV power (and energy), or the battery's flow
        (and SoC, energies): path -> (quantity, sign)."""
        if self.pv_power == "mppt" and mid == 160:
            pairs = (("DCW", "power"), ("DCWH", "energy"))
            return {f"module[{n - 1}].{path}": (q, 1.0) for n in self.pv_modules for path, q in pairs}
        if self.pv_power == "dc" and mid in _INVERTER_MODELS:
            return {"DCW": ("power", 1.0)}
        if self.battery_power == "mppt" and mid == 160:
            charge, discharge = (f"module[{n - 1}]." for n in self.battery_modules)
            return {
                f"{discharge}DCW": ("power", 1.0),
                f"{charge}DCW": ("power", -1.0),
                f"{charge}DCWH": ("energy_charge", 1.0),
                f"{discharge}DCWH": ("energy_discharge", 1.0),
            }
        if self.battery_power == "802" and mid == 802 and ids & _INVERTER_MODELS:  # else 802 is the device
            return {"W": ("power", 1.0)} | ({} if 124 in ids else {"SoC": ("soc", 1.0)})  # W + discharging
        return {}

    def _sum_readings(
        self, values: dict[str, float | str], vendor: list[Reading], when: datetime
    ) -> list[Reading]:
        """The quantities summed from their points (``_parts``); with pv_power dc the vendor's battery
        flow (+ discharging) is taken off. A part missing means no value: half a sum is no sum."""
        out = []
        battery = {r.channel: r.value for r in vendor}.get(f"{self.device_id}.power_battery")
        for quantity, names in self._sums.items():
            parts = [sign * v for name, sign in names if isinstance(v := values.get(name), int | float)]
            if len(parts) < len(names):
                continue
            total = float(sum(parts))
            if self.pv_power == "dc":
                if battery is None:
                    continue
                total -= battery
            out.append(Reading(f"{self.device_id}.{quantity}", when, total))
        return out

    async def _set_up_once(self) -> None:
        """``setup()`` unless another task just did it: two discoveries at once (the first poll and
        the first setpoint of a starting edge) left a half-built poll plan that failed forever."""
        async with self._setting_up:
            if self.reader is None:
                await self.setup()

    async def discover(self) -> None:
        """Know the chain (and so ``capabilities``) before a first setpoint is checked against them."""
        if self.reader is None:
            await self._set_up_once()

    async def _read_common(self, common: list[sunspec.Point]) -> dict[str, float | str]:
        out: dict[str, float | str] = {}
        for p in common:
            regs = await self.link.read(self.unit, "holding", p.register.address, p.register.size)
            value = decode_raw(regs, p.register.type)
            if value is not None:
                out[p.register.name] = value
        return out

    def _name(self, mid: int, path: str) -> str | None:
        for m in self.models:
            if m.mid == mid:
                name = f"{m.key}.{path}"
                return name if name in self.points else None
        return None

    async def values(self) -> dict[str, float | str]:
        """One poll; discovers the chain first. A device that cannot be discovered yields nothing,
        is counted and backed off like a device that stops answering."""
        if self.reader is None:
            if not self.health.ready(self.link.clock()):
                return {}
            try:
                await self._set_up_once()
            except (RetryableError, PermanentError, BadInput) as exc:
                wait = self.health.failed(self.link.clock())
                kind = (
                    exc.kind
                    if isinstance(exc, BadInput)
                    else ("timeout" if isinstance(exc, RetryableError) else "sunspec")
                )
                message = f"SunSpec discovery failed: {exc}; retry in {wait:.0f} s"
                self.ledger.record(self.device_id, kind, message)
                return {}
            self.health.ok()
        assert self.reader is not None
        self.last = await self.reader.read()
        return self.last

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        values = await self.values()
        when = ts or self.clock()
        out = [
            Reading(self.channels[name], when, float(v))
            for name, v in values.items()
            if name in self.channels and not isinstance(v, str)
        ]
        vendor: list[Reading] = []
        if self.vendor is not None and self.vendor.channels and self.reader is not None:
            vendor = await self.vendor.read(when)
        return out + vendor + self._sum_readings(values, vendor, when)

    def _wmax(self) -> float:
        for mid, path in ((702, "WMax"), (121, "WMax"), (120, "WRtg")):
            name = self._name(mid, path)
            if name and isinstance(self.last.get(name), float | int) and self.last[name]:
                return float(self.last[name])
        if self.rated_power:
            return self.rated_power
        raise PermanentError(f"{self.device_id}: no WMax/WRtg in the chain; configure rated_power")

    async def _write(self, mid: int, path: str, value: float) -> None:
        name = self._name(mid, path)
        if name is None or self.reader is None:
            raise PermanentError(f"{self.device_id}: model {mid} point {path} not available")
        await self.reader.write(name, value)

    async def command(self, command: str, value: float) -> None:
        if self.reader is None:
            await self._set_up_once()
        if command not in {CAPABILITIES[c] for c in self.capabilities}:
            raise PermanentError(f"{self.device_id}: no {command} on this SunSpec device")
        if not self.last:
            await self.values()
        if self.vendor is not None and command in self.vendor.writes:
            await self.vendor.command(command, value)
        elif command == "power_limit":
            wmax = self._wmax()
            pct = max(0.0, min(100.0, 100.0 * value / wmax))
            if self._name(704, "WMaxLimPct"):
                await self._write(704, "WMaxLimPct", pct)
                await self._write(704, "WMaxLimPctEna", 1)
            else:
                await self._write(123, "WMaxLimPct", pct)
                await self._write(123, "WMaxLim_Ena", 1)
        elif command == "enable":
            await self._write(123, "Conn", 1 if value else 0)
        elif command == "battery_setpoint":
            # model 124: StorCtl_Mod bit 0 = charge limit active, bit 1 = discharge limit active;
            # rates in % of WChaMax (OutWRte discharging, InWRte charging)
            wmax = float(self.last.get(self._name(124, "WChaMax") or "", 0) or self._wmax())
            pct = max(-100.0, min(100.0, 100.0 * value / wmax))
            if pct >= 0:
                await self._write(124, "OutWRte", pct)
                await self._write(124, "InWRte", -pct)
            else:
                await self._write(124, "InWRte", -pct)
                await self._write(124, "OutWRte", pct)
            await self._write(124, "StorCtl_Mod", 3)
        else:
            raise PermanentError(f"{self.device_id}: {command} not supported over SunSpec")


def link_config(
    entry: Entry,
    *,
    host: str | None = None,
    port: int | None = None,
    serial: str | None = None,
    gateway: bool = False,
    timeout: float = 1.0,
    retries: int = 2,
) -> LinkConfig:
    """The link for ``entry`` with its connection defaults: Modbus TCP to ``host``, RTU on ``serial``,
    or RTU through a TCP ``gateway``."""
    c = entry.connection
    if serial:
        return LinkConfig(
            kind="rtu",
            serial=serial,
            baudrate=c.baudrate,
            parity=c.parity,
            timeout=timeout,
            retries=retries,
            pause=c.pause,
        )
    if not host:
        raise PermanentError(f"{entry.id}: give a host or a serial device")
    return LinkConfig(
        kind="rtu_tcp" if gateway else "tcp",
        host=host,
        port=port or c.port,
        timeout=timeout,
        retries=retries,
        pause=c.pause,
    )


def create(
    entry: Entry,
    link: ModbusLink,
    *,
    device_id: str,
    unit: int | None = None,
    ledger: InputLedger | None = None,
    rated_power: float | None = None,
    connector: int = 1,
) -> ModbusDevice | SunSpecDevice:
    """The device object for a catalogue entry on ``link`` (SunSpec entries discover their chain on
    first use; call ``await device.setup()`` to do it up front)."""
    if entry.untested is not None:
        raise PermanentError(f"{entry.id} is not supported yet: {entry.untested}")
    if entry.sunspec is not None:
        base = entry.sunspec.base
        return SunSpecDevice(
            link,
            device_id=device_id,
            unit=entry.connection.unit if unit is None else unit,
            ledger=ledger,
            capabilities=frozenset(entry.capabilities),
            rated_power=rated_power,
            bases=(base, *[b for b in sunspec.BASES if b != base]),
            vendor=entry,
        )
    return ModbusDevice(
        entry, link, device_id=device_id, unit=unit, ledger=ledger, rating=rated_power, connector=connector
    )
