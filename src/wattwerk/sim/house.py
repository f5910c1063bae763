"""Household base load (everything not modelled as its own device) and the grid connection point."""

from __future__ import annotations

import random
from datetime import datetime

from wattwerk.sim.device import SimComponent
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.params import HouseParams, Location
from wattwerk.sim.profiles import CSV_STEP_S, bdew_household, csv_column, usable_csv
from wattwerk.sim.series import YearlySeries


class House(SimComponent):
    """Household load from a measured series or the BDEW H25 profile, with optional seeded noise."""

    def __init__(self, name: str, params: HouseParams, location: Location, seed: int) -> None:
        super().__init__(name)
        self.params = params
        csv = usable_csv(params.csv_path, "house load")
        if csv is not None:
            self.profile = YearlySeries(csv_column(csv, "load_w"), CSV_STEP_S, 0.0, hold=True)
        else:
            self.profile = YearlySeries(bdew_household(params.annual_kwh, location.timezone), 900, 450.0)
        self._rng = random.Random(seed)
        self._noise = params.noise

    def update(self, t_mid: float) -> float:
        power = self.profile.at(t_mid)
        if self._noise:
            power *= 1.0 + self._rng.gauss(0.0, self._noise)
            if power < 0.0:
                power = 0.0
        self.power = power
        return power


class GridPoint(SimComponent):
    """The grid connection point: ``power`` + import; counters for import and export (Wh).

    Per-phase values split the flows simply: three-phase devices evenly, single-phase ones
    (a one-phase EV charge) on L1.
    """

    def __init__(self, name: str, voltage_v: float) -> None:
        super().__init__(name)
        self.voltage = voltage_v
        self.energy_import = 0.0
        self.energy_export = 0.0
        self.phase_power = (0.0, 0.0, 0.0)
        self.ts = 0.0  # epoch seconds of the last update (end of the step)

    def update(self, t_end: float, power: float, l1_extra: float, dt_s: float) -> None:
        """``l1_extra`` is the part of ``power`` that flows on L1 only; the rest splits evenly."""
        h = dt_s / 3600.0
        self.power = power
        if power > 0.0:
            self.energy_import += power * h
        else:
            self.energy_export -= power * h
        even = (power - l1_extra) / 3.0
        self.phase_power = (even + l1_extra, even, even)
        self.ts = t_end

    def values(self) -> dict[str, float]:
        v = self.voltage
        l1, l2, l3 = self.phase_power
        return {
            "power": self.power,
            "energy_import": self.energy_import,
            "energy_export": self.energy_export,
            "power_l1": l1,
            "power_l2": l2,
            "power_l3": l3,
            "voltage_l1": v,
            "voltage_l2": v,
            "voltage_l3": v,
            "current_l1": abs(l1) / v,
            "current_l2": abs(l2) / v,
            "current_l3": abs(l3) / v,
            "frequency": 50.0,
        }

    def meter_state(self, ts: datetime) -> MeterState:
        v = self.voltage
        phases = tuple(PhaseState(v, abs(p) / v, p) for p in self.phase_power)
        return MeterState(ts, self.power, self.energy_import, self.energy_export, phases)
