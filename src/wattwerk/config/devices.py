"""Devices: fields every device has, plus a small model per role with that role's parameters.

``role`` picks the model, so a field that belongs to another role (``kwp`` on a battery) is
reported as unknown, like any typo.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from wattwerk.config.base import Model
from wattwerk.config.connections import Connection
from wattwerk.config.types import DeviceId, Seconds, num
from wattwerk.vocabulary import EV_DEFAULTS

Watts = Annotated[float, Field(ge=0)]
Amps = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Phases = Literal[1, 3]


def problem(message: str, at: tuple[str | int, ...] = (), **values: object) -> PydanticCustomError:
    """A cross-field error; ``at`` is where (relative to the model) the message should point."""
    return PydanticCustomError("config", message, {**values, "at": at})


class Limits(Model):
    """The device's safety envelope; the limiter enforces it after every controller."""

    max_power_w: Watts | None = None
    min_power_w: Watts | None = None
    max_current_a: Amps | None = None
    min_current_a: Amps | None = None
    phases: Phases | None = None
    min_on_s: Annotated[Seconds, Field(ge=0)] | None = None
    min_off_s: Annotated[Seconds, Field(ge=0)] | None = None
    max_switches_per_hour: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        for low, high, unit in (("min_power_w", "max_power_w", "W"), ("min_current_a", "max_current_a", "A")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise problem(
                    "{low} ({lo} {unit}) is above {high} ({hi} {unit})",
                    (low,),
                    low=low,
                    high=high,
                    lo=num(lo),
                    hi=num(hi),
                    unit=unit,
                )
        return self


class EvLimits(Limits):
    """An EV charger's limits default to the IEC 61851 range 6–16 A on three phases."""

    min_current_a: Amps | None = EV_DEFAULTS.min_a
    max_current_a: Amps | None = EV_DEFAULTS.max_a
    phases: Phases | None = EV_DEFAULTS.phases  # type: ignore[assignment]


class HeatPumpLimits(Limits):
    """Compressors must not cycle: at least 10 minutes on and off, at most 3 starts an hour."""

    min_on_s: Annotated[Seconds, Field(ge=0)] | None = 600.0
    min_off_s: Annotated[Seconds, Field(ge=0)] | None = 600.0
    max_switches_per_hour: Annotated[int, Field(ge=1)] | None = 3


class DeviceBase(Model):
    id: DeviceId
    role: str  # each role's model narrows this to its name
    name: Annotated[str, Field(max_length=100)] | None = None  # shown in the UI; defaults to the id
    catalog: Annotated[str, Field(min_length=1)] | None = None  # e.g. "sma-tripower" (`wattwerk devices`)
    connection: Connection
    interval_s: Annotated[Seconds, Field(gt=0)] = 5.0
    limits: Limits = Limits()

    @property
    def label(self) -> str:
        return self.name or self.id


class GridMeter(DeviceBase):
    """The meter at the grid connection point (+ import, - export)."""

    role: Literal["grid_meter"]
    interval_s: Annotated[Seconds, Field(gt=0)] = 1.0


class Pv(DeviceBase):
    role: Literal["pv"]
    kwp: Annotated[float, Field(gt=0)]
    tilt: Annotated[float, Field(ge=0, le=90)] = 30.0  # degrees from horizontal
    azimuth: Annotated[float, Field(ge=0, le=360)] = 180.0  # degrees clockwise from north; 180 = south


class Battery(DeviceBase):
    role: Literal["battery"]
    interval_s: Annotated[Seconds, Field(gt=0)] = 1.0
    capacity_wh: Annotated[float, Field(gt=0)]
    max_charge_w: Annotated[float, Field(gt=0)]
    max_discharge_w: Annotated[float, Field(gt=0)]
    reserve_soc: Percent = 10.0  # never discharged below this SoC


class EvCharger(DeviceBase):
    role: Literal["ev_charger"]
    limits: EvLimits = EvLimits()
    phase_switching: bool = False  # the charger can switch between 1 and 3 phases

    @model_validator(mode="after")
    def _switching_needs_three(self) -> EvCharger:
        if self.phase_switching and self.limits.phases == 1:
            raise problem(
                "phase switching needs a three-phase charger (limits.phases: 3)", ("phase_switching",)
            )
        return self


class HeatPump(DeviceBase):
    role: Literal["heat_pump"]
    limits: HeatPumpLimits = HeatPumpLimits()
    sg_ready: bool = False  # controllable through the two SG-Ready inputs


class HeatingRod(DeviceBase):
    """A resistive heater: switched ``stages`` (W per level) or continuous up to ``limits.max_power_w``."""

    role: Literal["heating_rod"]
    stages: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _power_known(self) -> HeatingRod:
        if self.stages is None and self.limits.max_power_w is None:
            raise problem(
                'a heating rod needs "stages" (its power levels in W) or "limits.max_power_w" (continuous)'
            )
        if self.stages is not None:
            if list(self.stages) != sorted(set(self.stages)):
                raise problem("stages must be distinct power levels in ascending order, in W", ("stages",))
            top = self.limits.max_power_w
            if top is not None and self.stages[-1] > top:
                raise problem(
                    "the highest stage ({stage} W) is above limits.max_power_w ({top} W)",
                    ("stages",),
                    stage=num(self.stages[-1]),
                    top=num(top),
                )
        return self

    @property
    def max_power_w(self) -> float:
        return self.stages[-1] if self.stages else float(self.limits.max_power_w or 0.0)


class Switch(DeviceBase):
    """A relay-switched load; ``limits.max_power_w`` is its nominal power."""

    role: Literal["switch"]


class Chp(DeviceBase):
    role: Literal["chp"]


class FuelCell(DeviceBase):
    role: Literal["fuel_cell"]


class Electrolyser(DeviceBase):
    role: Literal["electrolyser"]


class Submeter(DeviceBase):
    """A meter inside the site (a flat, a circuit, a heat pump's own meter). ``measures: hp``: it
    meters the feed of device ``hp`` (an SG-Ready relay board or a heating rod controller that
    reports no power of its own), so its readings are that device's (``hp.power``, ``hp.energy``)."""

    role: Literal["submeter"]
    measures: DeviceId | None = None


DEVICE_MODELS: tuple[type[DeviceBase], ...] = (
    GridMeter,
    Pv,
    Battery,
    EvCharger,
    HeatPump,
    HeatingRod,
    Switch,
    Chp,
    FuelCell,
    Electrolyser,
    Submeter,
)
ROLES: tuple[str, ...] = tuple(m.model_fields["role"].annotation.__args__[0] for m in DEVICE_MODELS)  # type: ignore[union-attr]

Device = Annotated[
    GridMeter
    | Pv
    | Battery
    | EvCharger
    | HeatPump
    | HeatingRod
    | Switch
    | Chp
    | FuelCell
    | Electrolyser
    | Submeter,
    Field(discriminator="role"),
]
