"""Heating rod in a hot-water tank: continuous power setpoint (or relay stages), thermostat cut-off."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.heatpump import WATER_WH_PER_LITRE_K
from wattwerk.sim.params import RodParams
from wattwerk.sim.series import Builder, Lookup

# Share of a day's hot-water draw per local hour (0..23): morning and evening peaks. Sums to 1.
DRAW_SHARE = (
    0.005,
    0.005,
    0.005,
    0.005,
    0.01,
    0.03,
    0.10,
    0.12,
    0.07,
    0.04,
    0.03,
    0.03,
    0.05,
    0.04,
    0.03,
    0.03,
    0.03,
    0.04,
    0.07,
    0.09,
    0.09,
    0.06,
    0.03,
    0.01,
)


def draw_builder(kwh_per_day: float, timezone: str) -> Builder:
    """Hot-water draw in W (heat) at UTC instants, from the local hour's share of the day."""
    share = np.asarray(DRAW_SHARE) / sum(DRAW_SHARE)

    def build(index: pd.DatetimeIndex) -> np.ndarray:
        hours = index.tz_convert(timezone).hour.to_numpy()
        return share[hours] * kwh_per_day * 1000.0

    return build


class HeatingRod(SimComponent):
    """``power`` is electric input (+ consuming); the tank's ``temperature`` is in °C."""

    commands = ("power",)

    def __init__(self, name: str, params: RodParams, draw: Lookup) -> None:  # draw: hot water taken, W
        super().__init__(name)
        self.params = params
        self.draw = draw
        self.capacity_wh_per_k = params.tank_litres * WATER_WH_PER_LITRE_K
        self.temperature = params.tank_initial_c
        self.setpoint_w = 0.0
        self.cut_off = False
        self.keeping = False
        self.draw_w = 0.0

    def apply(self, command: str, value: float) -> None:
        value = self.check(command, value)
        if value < 0:
            raise BadCommand(self.name, f"power must be >= 0 W, got {value}")
        self.setpoint_w = min(value, self.params.max_w)

    def _quantised(self, want: float) -> float:
        """The largest relay stage not above ``want`` (continuous rods take it as it is)."""
        stages = self.params.stages_w
        if not stages:
            return want
        best = 0.0
        for stage in stages:
            if best < stage <= want:
                best = stage
        return best

    def update(self, t: float, dt_s: float) -> float:
        p = self.params
        temp = self.temperature
        if self.cut_off and temp <= p.max_tank_c - p.hysteresis_k:
            self.cut_off = False
        elif temp >= p.max_tank_c:
            self.cut_off = True
        want = self.setpoint_w
        if p.keep_min_c is not None:  # its own thermostat keeps the water usable
            if temp < p.keep_min_c - p.hysteresis_k:
                self.keeping = True
            elif temp >= p.keep_min_c:
                self.keeping = False
            if self.keeping:
                want = p.max_w
        power = 0.0 if self.cut_off else self._quantised(want)
        h = dt_s / 3600.0
        available = (temp - p.cold_water_c) * self.capacity_wh_per_k / h + power  # cannot draw below cold
        draw = self.draw.at(t + dt_s / 2)
        self.draw_w = draw if draw < available else max(available, 0.0)
        loss = p.tank_loss_w_per_k * (temp - p.room_c)
        room = (p.max_tank_c - temp) * self.capacity_wh_per_k / h + self.draw_w + loss
        if power > room:  # the thermostat opens during this step: the step's mean power
            power = room if room > 0.0 else 0.0
            self.cut_off = True
        self.temperature = temp + (power - self.draw_w - loss) * h / self.capacity_wh_per_k
        self.power = power
        return power

    def values(self) -> dict[str, float]:
        return {
            "power": self.power,
            "energy": self.energy,
            "temperature": self.temperature,
            "power_setpoint": self.setpoint_w,
            "state": float(self.cut_off),
        }
