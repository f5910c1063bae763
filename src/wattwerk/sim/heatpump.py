"""Heat pump heating a buffer store that feeds the space heating.

* Demand: degree-hour model, ``heat_loss_w_per_k * (heating_limit_c - outdoor)`` when positive.
* COP: a fraction of the Carnot COP between outdoor air and the store (+5 K at the condenser).
* Thermostat with hysteresis on the store temperature; SG-Ready: 1 block, 2 normal,
  3 recommend on (setpoint raised by ``boost_k``), 4 force on (up to ``max_store_c``).
* The compressor's minimum run and pause times win over every request, SG-Ready included,
  as a real heat pump protects its compressor.
"""

from __future__ import annotations

from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.params import HeatPumpParams
from wattwerk.sim.series import Lookup

WATER_WH_PER_LITRE_K = 4186.0 / 3600.0  # 1.163 Wh per litre and kelvin


def carnot_cop(outdoor_c: float, sink_c: float, fraction: float, lo: float, hi: float) -> float:
    """COP = fraction * T_sink / (T_sink - T_source), temperatures in K, clipped to [lo, hi]."""
    lift = sink_c - outdoor_c
    cop = fraction * (sink_c + 273.15) / lift if lift > 1.0 else hi
    return lo if cop < lo else hi if cop > hi else cop


class HeatPump(SimComponent):
    """``power`` is electric input (+ consuming); ``heat_energy`` counts heat delivered (Wh)."""

    commands = ("sgready",)

    def __init__(self, name: str, params: HeatPumpParams, outdoor: Lookup) -> None:
        super().__init__(name)
        self.params = params
        self.outdoor = outdoor
        self.capacity_wh_per_k = params.store_litres * WATER_WH_PER_LITRE_K
        self.temperature = params.store_initial_c
        self.sgready = 2
        self.on = False
        self._since = float("-inf")  # when the compressor last switched
        self.cop = 0.0
        self.heat_w = 0.0
        self.demand_w = 0.0
        self.outdoor_c = 0.0
        self.heat_energy = 0.0
        self.demand_energy = 0.0

    def apply(self, command: str, value: float) -> None:
        value = self.check(command, value)
        if value not in (1, 2, 3, 4):
            raise BadCommand(self.name, f"sgready must be 1, 2, 3 or 4, got {value}")
        self.sgready = int(value)

    def _wants_on(self) -> bool:
        p = self.params
        t = self.temperature
        if self.sgready == 1:
            return False
        if self.sgready == 4:
            return t < p.max_store_c if self.on else t < p.max_store_c - p.hysteresis_k
        target = p.setpoint_c + (p.boost_k if self.sgready == 3 else 0.0)
        if target > p.max_store_c:
            target = p.max_store_c
        if self.on:
            return t < target
        return t < target - p.hysteresis_k

    def update(self, t: float, dt_s: float) -> float:
        p = self.params
        want = self._wants_on()
        if want != self.on:
            hold = p.min_run_s if self.on else p.min_pause_s
            if t - self._since >= hold:
                self.on = want
                self._since = t
        outdoor = self.outdoor.at(t + dt_s / 2)
        self.outdoor_c = outdoor
        demand = p.heat_loss_w_per_k * (p.heating_limit_c - outdoor)
        self.demand_w = demand if demand > 0.0 else 0.0
        h = dt_s / 3600.0
        loss = p.store_loss_w_per_k * (self.temperature - p.room_c)
        if self.on:
            self.cop = carnot_cop(outdoor, self.temperature + 5.0, p.carnot_fraction, p.cop_min, p.cop_max)
            # its high-limit switch never lets the store pass max_store_c, even within a long step
            room = (p.max_store_c - self.temperature) * self.capacity_wh_per_k / h + self.demand_w + loss
            self.heat_w = p.thermal_w if p.thermal_w < room else max(room, 0.0)
            self.power = self.heat_w / self.cop
        else:
            self.cop = self.heat_w = self.power = 0.0
        temperature = self.temperature + (self.heat_w - self.demand_w - loss) * h / self.capacity_wh_per_k
        if temperature < p.room_c:  # the store is cold: the rooms get less than they ask for
            self.demand_w -= (p.room_c - temperature) * self.capacity_wh_per_k / h
            temperature = p.room_c
            self.demand_w = max(self.demand_w, 0.0)
        self.temperature = temperature
        self.heat_energy += self.heat_w * h
        self.demand_energy += self.demand_w * h
        return self.power

    def values(self) -> dict[str, float]:
        return {
            "power": self.power,
            "energy": self.energy,
            "temperature": self.temperature,
            "temperature_outdoor": self.outdoor_c,
            "heat_energy": self.heat_energy,
            "sgready": float(self.sgready),
            "state": float(self.on),
        }
