"""Home battery behind a hybrid inverter: self-consumption by itself, or a setpoint from outside.

``power`` is AC power, + discharging. Efficiencies apply between AC and the cells, so a full
cycle loses ``1 - charge_eff * discharge_eff`` of the energy put in; the counters are AC side.
"""

from __future__ import annotations

from collections.abc import Callable

from wattwerk.sim.device import BadCommand, SimComponent
from wattwerk.sim.params import BatteryParams

SELF_CONSUMPTION = 0
SETPOINT = 1


class Battery(SimComponent):
    commands = ("battery_setpoint", "battery_mode", "mode")  # battery_mode: the catalogue's name for mode

    def __init__(self, name: str, params: BatteryParams) -> None:
        super().__init__(name)
        if not 0 <= params.soc_min <= params.soc_initial <= params.soc_max <= 100:
            raise ValueError("battery: need 0 <= soc_min <= soc_initial <= soc_max <= 100")
        if params.capacity_wh <= 0 or not (0 < params.charge_eff <= 1 and 0 < params.discharge_eff <= 1):
            raise ValueError("battery: need capacity_wh > 0 and efficiencies in (0, 1]")
        self.params = params
        self.stored_wh = params.capacity_wh * params.soc_initial / 100.0
        self._min_wh = params.capacity_wh * params.soc_min / 100.0
        self._max_wh = params.capacity_wh * params.soc_max / 100.0
        self.mode = SELF_CONSUMPTION
        self.setpoint_w = 0.0
        # a fast control loop outside (an energy manager reading the meter every second): the setpoint
        # as a function of the step's residual; cleared by any command
        self.rule: Callable[[float], float] | None = None
        self.energy_charge = 0.0
        self.energy_discharge = 0.0

    @property
    def soc(self) -> float:
        return 100.0 * self.stored_wh / self.params.capacity_wh

    def apply(self, command: str, value: float) -> None:
        value = self.check(command, value)
        self.rule = None
        if command in ("mode", "battery_mode"):
            if value not in (SELF_CONSUMPTION, SETPOINT):
                raise BadCommand(self.name, f"mode must be 0 (self-consumption) or 1 (setpoint), got {value}")
            self.mode = int(value)
        else:  # a setpoint switches to setpoint mode; the limits apply when stepping
            self.setpoint_w = value
            self.mode = SETPOINT

    def response(self, residual_w: float, dt_s: float) -> float:
        """The AC power (+ discharge) the battery would hold over a step with ``residual_w`` (the grid
        power without the battery), within its power and SoC limits; changes nothing."""
        p = self.params
        if self.rule is not None:
            want = self.rule(residual_w)
        else:
            want = residual_w if self.mode == SELF_CONSUMPTION else self.setpoint_w
        h = dt_s / 3600.0
        if want > 0.0:
            most = min(p.max_discharge_w, max(self.stored_wh - self._min_wh, 0.0) * p.discharge_eff / h)
            return want if want < most else most
        if want < 0.0:
            most = min(p.max_charge_w, max(self._max_wh - self.stored_wh, 0.0) / p.charge_eff / h)
            return want if -want < most else -most
        return 0.0

    def update(self, residual_w: float, dt_s: float) -> float:
        """Run one step; ``residual_w`` is the grid power the site would have without the battery.
        Returns the AC power (+ discharge) held over the step."""
        p = self.params
        h = dt_s / 3600.0
        power = self.response(residual_w, dt_s)
        if power > 0.0:
            self.stored_wh -= power / p.discharge_eff * h
            self.energy_discharge += power * h
        elif power < 0.0:
            self.stored_wh -= power * p.charge_eff * h
            self.energy_charge -= power * h
        self.power = power
        return power

    def values(self) -> dict[str, float]:
        return {
            "power": self.power,
            "soc": self.soc,
            "energy_charge": self.energy_charge,
            "energy_discharge": self.energy_discharge,
            "state": float(self.mode),
            "power_setpoint": self.setpoint_w,
        }
