"""A SunSpec device emulator: the model chain built from the official definitions (pysunspec2),
values from a ``SimDevice``, controls forwarded to it.

The register table comes from ``wattwerk.protocols.sunspec.layout`` — the same code the driver
uses — so the emulator and the driver agree by construction and the tests check the meaning
(signs, scale factors, controls) rather than two copies of an address table. Scale factors are
chosen per read so that every value fits its integer type, as real devices do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from wattwerk.devices.profile import Entry
from wattwerk.protocols import sunspec
from wattwerk.protocols.modbus_codec import RANGES, Register
from wattwerk.sim.emulators import SimDevice
from wattwerk.sim.emulators.modbus import CatalogEmulator, RegisterBank

COMMON = {"Mn": "wattwerk", "Md": "sim", "SN": "0001", "Vr": "1.0", "Opt": "", "DA": 1}


# control points a real inverter shows before anyone writes them (else they read as "not available")
FACTORY: dict[int, dict[str, float]] = {123: {"Conn": 1, "WMaxLimPct": 100, "WMaxLim_Ena": 0}}


class SunSpecEmulator:
    """One SunSpec unit: ``models`` in chain order (model 1 is prepended when missing)."""

    def __init__(
        self,
        models: Sequence[int],
        sim: SimDevice,
        *,
        unit: int = 1,
        base: int = 40000,
        rated_power: float = 5000.0,
        common: dict[str, str | int] | None = None,
        vendor: Entry | None = None,
    ) -> None:
        self.sim = sim
        self.rated_power = rated_power
        self.common = {**COMMON, **(common or {})}
        chain = list(models) if models and models[0] == 1 else [1, *models]
        spec = vendor.sunspec if vendor is not None else None
        # a hybrid's PV power where the entry reads it (SunSpecSpec.pv_power): model 160's PV modules
        # (laid out up to the highest one) or the inverter's DCW; the inverter's W shows the same power
        self.pv_power = spec.pv_power if spec is not None else "inverter"
        self.pv_modules = list(spec.pv_modules) if spec is not None else []
        # a hybrid read as a battery: its flow on model 160's charge and discharge modules (802 shows it)
        self.battery_modules = list(spec.battery_modules) if spec is not None else []
        modules = max(self.pv_modules + self.battery_modules, default=1)
        self.registers: list[Register] = [Register("marker", base, "u32", sentinel=False)]
        self.points: dict[str, sunspec.Point] = {}
        self.fixed: dict[str, float | str] = {"marker": 0x53756E53}
        self.keys: dict[int, str] = {}
        address = base + 2
        for mid in chain:
            length = sunspec.model_length(mid, repeats=modules if mid == 160 else 1)
            key = str(mid)
            self.keys[mid] = key
            counted = mid == 160 and (self.pv_modules or self.battery_modules)
            raw = _with_count(mid, address, length, modules) if counted else None
            for p in sunspec.layout(mid, address, length, raw, key=key):
                self.points[p.register.name] = p
                self.registers.append(p.register)
            self.fixed[f"{key}.ID"] = mid
            self.fixed[f"{key}.L"] = length
            if raw is not None:
                self.fixed[f"{key}.N"] = modules
            address += 2 + length
        self.registers.append(Register("end.ID", address, "u16", sentinel=False))
        self.registers.append(Register("end.L", address + 1, "u16", sentinel=False))
        self.fixed["end.ID"] = 0xFFFF
        self.fixed["end.L"] = 0
        for name, value in self.common.items():
            self.fixed[f"1.{name}"] = value
        # vendor registers served by the same unit beside the chain (e.g. SolarEdge power control)
        self.vendor = (
            None
            if vendor is None or not vendor.registers
            else CatalogEmulator(vendor, sim, unit=unit, rated_power=rated_power)
        )
        registers = self.registers + (vendor.register_table() if self.vendor is not None and vendor else [])
        self.bank = RegisterBank(unit, registers, values=self.values, on_write=self.on_write)
        for mid, points in FACTORY.items():  # controls as the device leaves the factory; writable
            for path, value in points.items():
                if (name := self._name(mid, path)) is not None:
                    self.bank.stored[name] = value

    def _name(self, mid: int, path: str) -> str | None:
        key = self.keys.get(mid)
        name = f"{key}.{path}"
        return name if key is not None and name in self.points else None

    def values(self) -> dict[str, float | str | None]:
        sim = self.sim.values()
        out: dict[str, float | str | None] = dict(self.fixed)
        for mid, key in self.keys.items():
            for path, quantity in sunspec.POINT_MAP.get(mid, {}).items():
                name = f"{key}.{path}"
                if name in self.points and quantity in sim:
                    out[name] = sim[quantity]
        for mid, path in ((120, "WRtg"), (121, "WMax"), (702, "WMax"), (702, "WMaxRtg"), (124, "WChaMax")):
            name = self._name(mid, path)
            if name:
                out[name] = self.rated_power
        self._pv(out, sim)
        self._scale_factors(out)
        if self.vendor is not None:
            out.update(self.vendor.values())
        return out

    def _pv(self, out: dict[str, float | str | None], sim: dict[str, float]) -> None:
        """The PV power (and energy) where the entry reads a hybrid's: shared by model 160's PV modules,
        or the inverter's DCW (with no battery flowing); a battery's flow on its charge and discharge
        modules."""
        if self.pv_power == "mppt":
            for n in self.pv_modules:
                for path, quantity in (("DCW", "power"), ("DCWH", "energy")):
                    name = self._name(160, f"module[{n - 1}].{path}")
                    if name and quantity in sim:
                        out[name] = sim[quantity] / len(self.pv_modules)
        elif self.pv_power == "dc" and "power" in sim:
            for mid in self.keys:
                if (name := self._name(mid, "DCW")) is not None:
                    out[name] = sim["power"]
        if self.battery_modules and "power" in sim:  # [charge, discharge]: each carries one direction
            flow = sim["power"]
            sides = ((max(-flow, 0.0), "energy_charge"), (max(flow, 0.0), "energy_discharge"))
            for n, (value, energy) in zip(self.battery_modules, sides, strict=True):
                if (name := self._name(160, f"module[{n - 1}].DCW")) is not None:
                    out[name] = value
                if (name := self._name(160, f"module[{n - 1}].DCWH")) is not None and energy in sim:
                    out[name] = sim[energy]

    def _scale_factors(self, out: dict[str, float | str | None]) -> None:
        """Pick each ``_SF`` so its points (sim values and written controls) fit their types,
        the smallest exponent from -2 up."""
        seen = {**self.bank.stored, **out}
        users: dict[str, list[Register]] = {}
        for p in self.points.values():
            if p.register.sf:
                users.setdefault(p.register.sf, []).append(p.register)
        for sf_name, regs in users.items():
            chosen = 0
            for exp in range(-2, 7):
                if all(self._fits(seen.get(r.name), r, exp) for r in regs):
                    chosen = exp
                    break
            out[sf_name] = chosen

    @staticmethod
    def _fits(value: float | str | None, reg: Register, exp: int) -> bool:
        if not isinstance(value, int | float) or not math.isfinite(value):
            return True
        lo, hi = RANGES.get(reg.type, (-(2**31), 2**31 - 1))
        raw = round(value / 10.0**exp)
        return lo < raw < hi  # the extremes are sentinels

    def on_write(self, written: dict[str, float | str]) -> None:
        stored = self.bank.stored
        if self.vendor is not None:
            self.vendor.on_write(written, stored)
        for mid in (123, 704):
            pct = self._name(mid, "WMaxLimPct")
            ena = self._name(mid, "WMaxLim_Ena" if mid == 123 else "WMaxLimPctEna")
            if pct and ena and (pct in written or ena in written):
                enabled = stored.get(ena) == 1
                value = stored.get(pct)
                limit = (
                    self.rated_power * float(value) / 100.0
                    if enabled and value is not None
                    else (self.rated_power)
                )
                self.sim.apply("power_limit", limit)
        conn = self._name(123, "Conn")
        if conn and conn in written:
            self.sim.apply("enable", float(written[conn]))
        mode = self._name(124, "StorCtl_Mod")
        if mode and any(self._name(124, p) in written for p in ("StorCtl_Mod", "InWRte", "OutWRte")):
            out_rte = stored.get(self._name(124, "OutWRte") or "")
            in_rte = stored.get(self._name(124, "InWRte") or "")
            if (
                stored.get(mode) == 3
                and out_rte is not None
                and in_rte is not None
                and (abs(float(out_rte) + float(in_rte)) < 1e-6)
            ):
                self.sim.apply("battery_setpoint", float(out_rte) * self.rated_power / 100.0)


def _with_count(mid: int, address: int, length: int, count: int) -> list[int]:
    """A model's registers from its ID on with only its count point N set: what sizes its repeating
    groups when the layout is drawn."""
    raw = [0] * (length + 2)
    n = next(p.register.address for p in sunspec.layout(mid, address, length) if p.path == "N")
    raw[n - address] = count
    return raw
