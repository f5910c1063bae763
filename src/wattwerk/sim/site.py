"""The simulated site: all devices, stepped together in simulated time, balanced at the grid point.

Each ``step(dt_s)`` holds every power constant over ``[now, now + dt_s)`` (sampled from the
profiles at the step's middle), integrates the counters and advances ``now``. After a step,
powers are the means of that step and counters are the totals at its end, as a meter shows them.

Balance at every step: grid = house + EVs + heat pump + rod - battery - PV  (battery + discharge).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from wattwerk.errors import InputLedger
from wattwerk.model import Channel, Reading, utcnow
from wattwerk.sim.battery import Battery
from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.emulators import MeterState
from wattwerk.sim.ev import EVCharger
from wattwerk.sim.heatpump import HeatPump
from wattwerk.sim.house import GridPoint, House
from wattwerk.sim.params import SiteParams
from wattwerk.sim.pv import PVArray
from wattwerk.sim.rod import HeatingRod, draw_builder
from wattwerk.sim.series import Builder, YearlySeries
from wattwerk.sim.weather import weather_at


def _outdoor_builder(region: int) -> Builder:
    def build(index: pd.DatetimeIndex) -> np.ndarray:
        return weather_at(region, index)["temp_air"].to_numpy()

    return build


class SiteSim:
    """One site. ``start`` must be timezone-aware; ``params`` defaults to a German house."""

    def __init__(self, params: SiteParams | None = None, start: datetime | None = None) -> None:
        params = params or SiteParams()
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError(f"start {start} has no timezone: pass a UTC-aware datetime")
        self.params = params
        self.t = start.timestamp()
        loc = params.location
        self.ledger = InputLedger()
        self.house = House("house", params.house, loc, params.seed)
        self.pv = [PVArray(f"pv{i + 1}", p, loc) for i, p in enumerate(params.pv)]
        self.battery = Battery("bat", params.battery) if params.battery else None
        self.evs = [
            EVCharger(f"ev{i + 1}", p, loc.timezone, params.seed + 101 * (i + 1))
            for i, p in enumerate(params.evs)
        ]
        outdoor = YearlySeries(_outdoor_builder(loc.try_region), 3600, 1800.0)
        self.heat_pump = HeatPump("hp", params.heat_pump, outdoor) if params.heat_pump else None
        self.rod = None
        if params.rod:
            draw = YearlySeries(draw_builder(params.rod.draw_kwh_per_day, loc.timezone), 3600, 0.0)
            self.rod = HeatingRod("rod", params.rod, draw)
        self.grid = GridPoint("grid", params.grid_voltage_v)
        self.grid.ts = self.t
        self.steps = 0
        # called in each step with (site, load W, step middle, dt) before the PV produces: may write the
        # inverters' power limits (the benchmark's limiter, as the edge's 1-s loop does within a step)
        self.pv_limiter: Callable[[SiteSim, float, float, float], None] | None = None

    # ------------------------------------------------------------ time

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` seconds with every power held constant over the step."""
        if not dt_s > 0:
            raise ValueError(f"step must be > 0 s, got {dt_s}")
        t = self.t
        mid = t + dt_s * 0.5
        h = dt_s / 3600.0
        house = self.house
        load = house.update(mid)
        house.energy += load * h
        l1_extra = 0.0
        for ev in self.evs:
            p = ev.update(t, dt_s)
            ev.energy += p * h
            load += p
            if ev.phases == 1:
                l1_extra += p
        hp = self.heat_pump
        if hp is not None:
            p = hp.update(t, dt_s)
            hp.energy += p * h
            load += p
        rod = self.rod
        if rod is not None:
            p = rod.update(t, dt_s)
            rod.energy += p * h
            load += p
        if self.pv_limiter is not None:  # an export limiter acting within the step (it reads every second)
            self.pv_limiter(self, load, mid, dt_s)
        pv_total = 0.0
        for pv in self.pv:
            p = pv.update(mid)
            pv.energy += p * h
            pv.energy_available += pv.available_w * h
            pv_total += p
        residual = load - pv_total
        bat = self.battery
        if bat is not None:
            residual -= bat.update(residual, dt_s)
        self.t = t + dt_s
        self.grid.update(self.t, residual, l1_extra, dt_s)
        self.steps += 1

    def run(self, seconds: float, dt_s: float = 60.0) -> None:
        """Step ``seconds`` ahead in steps of ``dt_s`` (the last one shorter if need be)."""
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.step(min(dt_s, end - self.t))

    # ------------------------------------------------------------ devices and commands

    def devices(self) -> dict[str, SimComponent]:
        """Every device by id, as the emulators see them (each a ``SimDevice``)."""
        found: list[SimComponent | None] = [
            self.grid,
            self.house,
            *self.pv,
            self.battery,
            *self.evs,
            self.heat_pump,
            self.rod,
        ]
        return {d.name: d for d in found if d is not None}

    def command(self, device: str, command: str, value: float) -> bool:
        """Apply a command; a bad one is counted in ``ledger`` and logged once, never raised."""
        target = self.devices().get(device)
        try:
            if target is None:
                raise BadCommand(device, "no such device in the simulated site", "unknown_device")
            target.apply(command, value)
        except BadCommand as exc:
            self.ledger.record(device, exc.kind, str(exc))
            return False
        return True

    # ------------------------------------------------------------ what it shows

    def channels(self) -> dict[str, float]:
        """Channel name -> value in our units and signs (names valid for ``Channel.of``)."""
        g = self.grid
        out = {
            "grid.power": g.power,
            "grid.energy_import": g.energy_import,
            "grid.energy_export": g.energy_export,
        }
        for i, p in enumerate(g.phase_power, 1):
            out[f"grid.power_l{i}"] = p
        out["house.power"] = self.house.power
        out["house.energy"] = self.house.energy
        for pv in self.pv:
            out[f"{pv.name}.power"] = pv.power
            out[f"{pv.name}.energy"] = pv.energy
        bat = self.battery
        if bat is not None:
            out.update(
                {
                    "bat.power": bat.power,
                    "bat.soc": bat.soc,
                    "bat.energy_charge": bat.energy_charge,
                    "bat.energy_discharge": bat.energy_discharge,
                }
            )
        for ev in self.evs:
            out.update(
                {
                    f"{ev.name}.power": ev.power,
                    f"{ev.name}.energy": ev.energy,
                    f"{ev.name}.soc": ev.soc,
                    f"{ev.name}.state": float(ev.state),
                    f"{ev.name}.current": ev.current,
                    f"{ev.name}.phases": float(ev.phases),
                }
            )
        hp = self.heat_pump
        if hp is not None:
            out.update(
                {
                    "hp.power": hp.power,
                    "hp.energy": hp.energy,
                    "hp.temperature": hp.temperature,
                    "hp.heat_energy": hp.heat_energy,
                    "hp.sgready": float(hp.sgready),
                    "hp.temperature_outdoor": hp.outdoor_c,
                }
            )
        rod = self.rod
        if rod is not None:
            out.update({"rod.power": rod.power, "rod.energy": rod.energy, "rod.temperature": rod.temperature})
        return out

    def readings(self) -> list[Reading]:
        """Every channel as a :class:`~wattwerk.model.Reading` stamped with ``now``."""
        now = self.now
        return [Reading(name, now, value) for name, value in self.channels().items()]

    def channel_info(self) -> dict[str, Channel]:
        """The :class:`~wattwerk.model.Channel` (unit, kind) of every channel ``channels()`` gives."""
        return {name: Channel.of(name) for name in self.channels()}

    def meter_state(self) -> MeterState:
        """The grid meter as a meter emulator shows it."""
        return self.grid.meter_state(datetime.fromtimestamp(self.grid.ts, UTC))

    def meter_state_now(self) -> MeterState:
        """The grid meter stamped with the wall clock, for a meter emulator that feeds an edge
        running in real time (its stale checks judge the stamp, not the simulated time)."""
        return replace(self.meter_state(), ts=utcnow().replace(microsecond=0))

    def balance_error_wh(self) -> float:
        """Net grid energy minus the sum of every device's counters (0 up to float rounding)."""
        c = self.channels()
        flows = c["house.energy"] - sum(pv.energy for pv in self.pv) + sum(ev.energy for ev in self.evs)
        if self.heat_pump is not None:
            flows += self.heat_pump.energy
        if self.rod is not None:
            flows += self.rod.energy
        if self.battery is not None:
            flows += self.battery.energy_charge - self.battery.energy_discharge
        return (self.grid.energy_import - self.grid.energy_export) - flows
