"""What the planner is asked (PlanRequest with device parameters) and what it answers (Plan).

Units and signs as everywhere (DESIGN.md): power in W, energy in Wh, SoC in %, prices in €/kWh per
slot, CO₂ in g/kWh. In a Plan, grid power is + import, battery power + discharging, loads (EV,
heat pump, heating rod) + consuming, PV + producing. Per-slot arrays have one value per slot;
storage levels (``soc_pct``, ``energy_wh``) are at the *end* of each slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from wattwerk.forecast.futures import Future

WH_PER_LITRE_KELVIN = 1.163  # water: 4.186 kJ/(kg·K) / 3.6


@dataclass(frozen=True)
class Battery:
    """A stationary battery. ``wear_eur_per_kwh`` is charged on AC throughput (charge + discharge)."""

    capacity_wh: float
    soc_pct: float
    max_charge_w: float
    max_discharge_w: float
    soc_min_pct: float = 5.0
    soc_max_pct: float = 100.0
    eff_charge: float = 0.95
    eff_discharge: float = 0.95
    wear_eur_per_kwh: float = 0.0
    grid_charge: bool = True  # False: charge only from PV (at most the slot's PV forecast)
    terminal_value_eur_per_kwh: float | None = None  # value of stored energy at the end; None: auto
    name: str = "bat"


@dataclass(frozen=True)
class EV:
    """An EV on a charger. ``energy_wh`` must be in the car by slot ``deadline`` (exclusive; None:
    the end of the horizon); it may charge only in slots where ``plugged`` is true. A charger that
    cannot go below ``min_power_w`` (6 A) charges at 0 or between min and max."""

    plugged: Sequence[bool]
    energy_wh: float
    max_power_w: float = 11_000.0
    min_power_w: float = 0.0
    deadline: int | None = None
    efficiency: float = 0.9  # energy into the car per energy from the grid connection
    max_energy_wh: float | None = None  # room in the car for extra energy when it pays (default: none)
    name: str = "ev1"


@dataclass(frozen=True)
class Heater:
    """A heat source for a ThermalStore: heat pump (COP per slot) or heating rod (COP 1)."""

    name: str
    max_power_w: float
    cop: float | Sequence[float] = 1.0
    min_power_w: float = 0.0


@dataclass(frozen=True)
class ThermalStore:
    """A linear heat store (buffer tank, building mass): usable heat between its lower and upper
    temperature, ``energy_wh`` above the lower bound now, heat drawn per slot, standing loss."""

    capacity_wh: float
    energy_wh: float
    demand_w: Sequence[float]
    heaters: tuple[Heater, ...]
    loss_w: float = 0.0
    end_energy_wh: float | None = None  # at least this much heat at the end; None: as much as now
    name: str = "heat"

    @classmethod
    def from_tank(
        cls,
        volume_l: float,
        t_min: float,
        t_max: float,
        t_now: float,
        demand_w: Sequence[float],
        heaters: tuple[Heater, ...],
        loss_w: float = 0.0,
        name: str = "heat",
    ) -> ThermalStore:
        """A water tank of ``volume_l`` litres usable between ``t_min`` and ``t_max`` °C."""
        k = volume_l * WH_PER_LITRE_KELVIN
        now = min(max(t_now, t_min), t_max)
        return cls(k * (t_max - t_min), k * (now - t_min), demand_w, heaters, loss_w, None, name)


Objective = Literal["cost", "co2", "self_consumption"]


@dataclass
class PlanRequest:
    start: datetime
    slot_minutes: int
    buy_eur_per_kwh: Sequence[float]
    pv_w: Sequence[float]
    load_w: Sequence[float]
    sell_eur_per_kwh: Sequence[float] | float = 0.0
    batteries: tuple[Battery, ...] = ()
    evs: tuple[EV, ...] = ()
    thermal: tuple[ThermalStore, ...] = ()
    max_import_w: float = math.inf
    max_export_w: float = math.inf
    co2_g_per_kwh: Sequence[float] | None = None
    objective: Objective = "cost"
    co2_eur_per_kg: float = 0.0  # with "cost": a shadow price on imported CO₂ (grid-friendly shifting)
    curtail: bool = True  # the PV inverter may be curtailed (feed-in limit, negative feed-in prices)
    # other futures of PV and load (``forecast.futures``): the plan is the central one (``pv_w``,
    # ``load_w``, the weight left over), and the first slot's decisions must suit every future (a
    # two-stage plan: energy is not kept for, or bought against, a forecast that may well be wrong)
    futures: tuple[Future, ...] = ()

    @property
    def n(self) -> int:
        return len(self.buy_eur_per_kwh)

    @property
    def dt_h(self) -> float:
        return self.slot_minutes / 60.0


@dataclass
class PlanOptions:
    time_limit_s: float = 1.0
    mip_gap: float = 0.005
    mip_abs_gap: float = 0.01  # objective units (€ for cost): the objective can be near zero
    # Non-convex choices arise only where the LP could gain from a simultaneous flow (negative
    # import weight, feed-in above the buy price) and for devices with a minimum power.
    # "auto": LP, then re-solve with those choices fixed (fast, near-optimal); "mip": exact with
    # binaries and semi-continuous columns under the time limit and gap; "never": one LP.
    integer: Literal["auto", "mip", "never"] = "auto"
    max_passes: int = 12
    # A heater's slot power below its minimum means running at the minimum for part of the slot;
    # its own controller keeps minimum run and pause times. Strictly per slot, "auto" settles
    # them like chargers, which can fight the heat store's dynamics and lose heat; "mip" is exact.
    strict_heaters: bool = False
    penalty_factor: float = 20.0  # unmet EV/heat energy costs this × the dearest slot weight per kWh
    threads: int = 1


@dataclass
class Plan:
    """The optimiser's schedule: per slot what each device will do, with the expected cost."""

    start: datetime
    slot_minutes: int
    status: str  # optimal | time_limit | fallback
    message: str
    solve_ms: float
    objective: str
    buy_eur_per_kwh: np.ndarray
    sell_eur_per_kwh: np.ndarray
    pv_w: np.ndarray  # forecast
    load_w: np.ndarray  # forecast
    import_w: np.ndarray
    export_w: np.ndarray
    curtail_w: np.ndarray
    devices: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    cost_eur: float = 0.0  # energy bought minus energy sold over the horizon
    wear_eur: float = 0.0
    co2_kg: float | None = None
    shortfall_wh: dict[str, float] = field(default_factory=dict)  # EV energy or heat not delivered
    import_excess_w: float = 0.0  # largest import above the grid limit (0 unless infeasible)
    size: dict[str, int] = field(default_factory=dict)  # columns, rows, integer columns
    objective_value: float = 0.0  # what the solver minimised: cost + wear + penalties − stored value
    # per battery and slot: what one more kWh in the store at the slot's start is worth to the plan
    # (€/kWh, the LP's dual; absent when the solver gave no duals): real-time laws weigh a forecast
    # error against it (import now or use stored energy, store a surprise or export it)
    stored_value_eur_per_kwh: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.buy_eur_per_kwh)

    @property
    def grid_w(self) -> np.ndarray:
        return self.import_w - self.export_w

    def slot_start(self, i: int) -> datetime:
        return self.start + i * timedelta(minutes=self.slot_minutes)

    def slot(self, i: int) -> dict[str, Any]:
        """One slot as a flat dict (what a controller follows for the current slot)."""
        out: dict[str, Any] = {
            "start": self.slot_start(i).isoformat(),
            "buy_eur_per_kwh": float(self.buy_eur_per_kwh[i]),
            "sell_eur_per_kwh": float(self.sell_eur_per_kwh[i]),
            "pv_w": float(self.pv_w[i]),
            "load_w": float(self.load_w[i]),
            "grid_w": float(self.grid_w[i]),
            "curtail_w": float(self.curtail_w[i]),
        }
        for name, series in self.devices.items():
            for key, values in series.items():
                out[f"{name}.{key}"] = float(values[i])
        return out

    def to_json(self) -> dict[str, Any]:
        def arr(a: np.ndarray) -> list[float]:
            return [round(float(v), 3) for v in a]

        return {
            "start": self.start.isoformat(),
            "slot_minutes": self.slot_minutes,
            "status": self.status,
            "message": self.message,
            "solve_ms": round(self.solve_ms, 2),
            "objective": self.objective,
            "cost_eur": round(self.cost_eur, 4),
            "wear_eur": round(self.wear_eur, 4),
            "co2_kg": None if self.co2_kg is None else round(self.co2_kg, 3),
            "shortfall_wh": {k: round(v, 1) for k, v in self.shortfall_wh.items()},
            "import_excess_w": round(self.import_excess_w, 1),
            "size": self.size,
            "slots": {
                "buy_eur_per_kwh": [round(float(v), 5) for v in self.buy_eur_per_kwh],
                "sell_eur_per_kwh": [round(float(v), 5) for v in self.sell_eur_per_kwh],
                "pv_w": arr(self.pv_w),
                "load_w": arr(self.load_w),
                "grid_w": arr(self.grid_w),
                "import_w": arr(self.import_w),
                "export_w": arr(self.export_w),
                "curtail_w": arr(self.curtail_w),
            },
            "devices": {name: {k: arr(v) for k, v in s.items()} for name, s in self.devices.items()},
        }
