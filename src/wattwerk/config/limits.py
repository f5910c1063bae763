"""The site file's ``control`` section: what the one limiter enforces besides the grid connection's
own limits — the ripple-control receiver's contacts and levels, the §14a signal, a direct
marketer's signal, a fixed feed-in limit, peak shaving, circuits of chargers — and the fail-safe
behaviour when data goes stale."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from wattwerk.config.base import Model

Pct = Annotated[float, Field(ge=0, le=100)]


class RippleLevel(Model):
    """One contact combination: ``pattern`` has one '0'/'1' per contact, in contact order."""

    pattern: Annotated[str, Field(pattern=r"^[01]{1,4}$")]
    feed_in_pct: Pct = 100.0  # of the installed PV power (kWp)
    consumption_pct: Pct = 100.0  # of the grid import limit


class Ripple(Model):
    """A ripple-control receiver: up to 4 contacts read as channels (non-zero = closed)."""

    contacts: Annotated[list[str], Field(min_length=1, max_length=4)]
    levels: list[RippleLevel]

    @model_validator(mode="after")
    def _patterns_fit(self) -> Ripple:
        for level in self.levels:
            if len(level.pattern) != len(self.contacts):
                raise ValueError(
                    f"pattern {level.pattern!r} needs {len(self.contacts)} digits, one per contact"
                )
        return self


class Para14a(Model):
    """§14a EnWG dimming: while ``signal`` is non-zero, controllable consumers stay within the
    allowed power: per device, or for all of them together behind this energy manager."""

    signal: str
    mode: Literal["aggregate", "per_device"] = "aggregate"
    devices: list[str] | None = None  # default: chargers, heat pumps and batteries
    rated_w: dict[str, float] = Field(default_factory=dict)  # a device's rated power, for the 0.4 rule


class DirectMarketer(Model):
    """A direct marketer's feed-in signal (a channel written by a Modbus TCP or HTTP reader)."""

    signal: str
    unit: Literal["pct", "w"] = "pct"


class Circuit(Model):
    """Chargers on one circuit: their currents per phase together stay within ``max_current_a``."""

    name: str
    devices: Annotated[list[str], Field(min_length=1)]
    max_current_a: Annotated[float, Field(gt=0)]


class ControlLimits(Model):
    ripple: Ripple | None = None
    para14a: Para14a | None = None
    direct_marketer: DirectMarketer | None = None
    feed_in_limit_pct: Pct | None = None  # fixed feed-in limit, e.g. 60 or 70 % of kWp
    peak_shaving_w: Annotated[float, Field(ge=0)] | None = None
    circuits: list[Circuit] = Field(default_factory=list)
    margin_w: Annotated[float, Field(ge=0)] = 100.0  # aim this far inside every limit
    fallback_after_s: Annotated[float, Field(gt=0)] = 10.0  # data older than this: fail-safe
    ev_fallback: Literal["min", "off"] = "min"
    battery_fallback: Literal["idle", "internal"] = "idle"  # idle: 0 W; internal: its own control
    resend_s: Annotated[float, Field(gt=0)] = 30.0
    pv_deadband_w: Annotated[float, Field(ge=0)] = 100.0  # a PV limit is raised only by more than this
