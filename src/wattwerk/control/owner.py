"""The owner's overrides inside the control cycle, and each device's decision with its reason.

* ``Override``: "boost now for N minutes" or "off for N hours" for a heat pump (SG-Ready 4 / 1) or a
  heating rod (full power / 0 W), as data with its end. ``Overridden`` wraps the device's law: the
  law keeps running (its timers and state stay true), its setpoint is replaced while the override
  lasts, and the limiter still has the last word (a boost under a ripple-control block does not run).
  An override ends by itself when the clock passes ``until``.
* ``reasons(...)``: one short text per controlled device from the cycle's output (what the laws
  asked, what the limiter let through, the limits in force, the surplus), for the page and MQTT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from wattwerk.control.base import Law, Result, Signals
from wattwerk.control.ev import EvCharging
from wattwerk.control.heating_rod import HeatingRodControl
from wattwerk.control.sgready import BLOCK, FORCE, SgReadyControl
from wattwerk.model import Setpoint
from wattwerk.snapshot import Snapshot
from wattwerk.vocabulary import Command, EvMode

OverrideKind = Literal["boost", "off"]


@dataclass(frozen=True, slots=True)
class Override:
    """The owner's "boost" or "off" for one device until ``until`` (UTC)."""

    kind: OverrideKind
    until: datetime

    def active(self, now: datetime) -> bool:
        return now < self.until


class Overridden:
    """A heat pump's or heating rod's law with the owner's override on top (same name and state)."""

    def __init__(self, law: SgReadyControl | HeatingRodControl) -> None:
        self.inner = law
        self.name = law.name
        self.override: Override | None = None

    def __getattr__(self, name: str) -> Any:  # flexible_w and the config of the law it wraps
        return getattr(self.inner, name)

    def devices(self) -> tuple[str, ...]:
        return self.inner.devices()

    def initial(self) -> Any:
        return self.inner.initial()

    def value(self, kind: OverrideKind) -> tuple[str, float]:
        """The command and value an override asks for."""
        if isinstance(self.inner, SgReadyControl):
            return Command.SGREADY, float(FORCE if kind == "boost" else BLOCK)
        return Command.POWER, (self.inner.config.max_w if kind == "boost" else 0.0)

    def step(self, snap: Snapshot, state: Any, available_w: float | None, signals: Signals) -> Result[Any]:
        result = self.inner.step(snap, state, available_w, signals)
        o = self.override
        if o is None:
            return result
        if not o.active(snap.now):
            self.override = None  # ends by itself
            return result
        command, value = self.value(o.kind)
        dev = self.inner.config.id
        points = tuple(
            replace(s, value=value, source=f"owner:{o.kind}") if s.channel == f"{dev}.{command}" else s
            for s in result.setpoints
        )
        if isinstance(self.inner, SgReadyControl):
            drawn = snap.get(f"{dev}.power") or 0.0
            used = 0.0 if o.kind == "off" else max(drawn, self.inner.config.nominal_w)
        else:
            used = value
        return Result(points, result.state, used, result.notes)


def wrap_heaters(laws: list[Law]) -> dict[str, Overridden]:
    """Wrap every heat pump and heating rod law in place; device id -> its wrapper."""
    out: dict[str, Overridden] = {}
    for i, law in enumerate(laws):
        if isinstance(law, SgReadyControl | HeatingRodControl):
            wrapped = Overridden(law)
            laws[i] = wrapped  # type: ignore[call-overload]
            out[law.config.id] = wrapped
    return out


# ---------------------------------------------------------------- reasons

LIMIT_WORDS = {
    "ripple": "ripple control",
    "para14a": "§14a grid operator limit",
    "grid": "the grid connection",
}
NEAR = 0.9  # a standing limit (the connection's import) is named only when the import comes this close


def _limit_text(active: Mapping[str, float], grid_w: float | None) -> str:
    """The import-side limits in force, in words: "ripple control (4.2 kW max)"; empty when none
    binds (then a device's own minimum on/off time held it)."""
    names = []
    for key, watts in active.items():
        if key.startswith("export:"):
            continue
        name = key.split(":", 1)[-1]
        if name == "grid" and (grid_w is None or grid_w < NEAR * watts):
            continue
        names.append(f"{LIMIT_WORDS.get(name, name.replace('_', ' '))} ({_kw(watts)} max)")
    return ", ".join(dict.fromkeys(names))


def _values(setpoints: Iterable[Setpoint]) -> dict[str, float]:
    return {s.channel: s.value for s in setpoints}


def _kw(watts: float) -> str:
    return f"{watts / 1000:.1f} kW"


def ev_reasons(
    law: EvCharging,
    snap: Snapshot,
    asked: Mapping[str, float],
    got: Mapping[str, float],
    surplus_w: float | None,
    limits: str,
    planned: Signals,
) -> dict[str, str]:
    """Why each charge point charges or waits."""
    out: dict[str, str] = {}
    for cp in law.config.points:
        state = snap.get(f"{cp.id}.state")
        on_asked = asked.get(f"{cp.id}.{Command.ENABLE}", 0.0) >= 0.5
        on_got = got.get(f"{cp.id}.{Command.ENABLE}", 0.0) >= 0.5
        amps = got.get(f"{cp.id}.{Command.CURRENT_LIMIT}", 0.0)
        if state is None:
            out[cp.id] = "no reading from the charger: the control keeps it off"
        elif state < 1:
            out[cp.id] = "no car plugged in"
        elif cp.mode == EvMode.OFF:
            out[cp.id] = "off (your choice)"
        elif on_asked and not on_got:
            out[cp.id] = f"blocked by {limits}" if limits else "waiting: the charger's restart delay"
        elif on_got and amps + 0.05 < asked.get(f"{cp.id}.{Command.CURRENT_LIMIT}", 0.0):
            out[cp.id] = f"charging at {amps:.1f} A, capped by {limits or 'the charger ramping up'}"
        elif on_got:
            planned_w = planned.planned_w(cp.id)
            why = {
                EvMode.NOW: "charging now at full power",
                EvMode.MINPV: "charging: minimum + PV surplus",
                EvMode.PV: "charging from PV surplus",
            }.get(EvMode(cp.mode), "charging")
            if planned_w:
                why = f"charging in a planned slot ({_kw(planned_w)})"
            out[cp.id] = f"{why}, {amps:.1f} A"
        else:
            need = cp.power(cp.min_current_a, cp.lowest_phases) + cp.start_margin_w
            have = max(surplus_w or 0.0, 0.0)
            out[cp.id] = f"waiting for {_kw(need)} surplus (now {_kw(have)})"
    return out


def heater_reason(
    w: Overridden, asked: Mapping[str, float], got: Mapping[str, float], limits: str, now: datetime, tz: Any
) -> str:
    """Why a heat pump or heating rod runs as it does."""
    cfg = w.inner.config
    if isinstance(w.inner, SgReadyControl):
        key = f"{cfg.id}.{Command.SGREADY}"
        words = {
            1: "blocked",
            2: "normal operation",
            3: "running on PV surplus / cheap energy",
            4: "forced on",
        }
        a, g = asked.get(key), got.get(key)
        text = words.get(int(g or 2), "normal operation")
        lowered = a is not None and g is not None and g < a
    else:
        key = f"{cfg.id}.{Command.POWER}"
        a, g = asked.get(key), got.get(key)
        text = f"heating at {_kw(g)}" if g else "off: no surplus to heat with"
        lowered = a is not None and g is not None and g + 1 < a
    o = w.override
    if o is not None and o.active(now):
        until = o.until.astimezone(tz).strftime("%H:%M")
        text = f"{'boost' if o.kind == 'boost' else 'off'} until {until} (your choice)"
    if lowered:
        why = f"blocked by {limits}" if limits else "held by its minimum on/off time"
        text = why + (f" — {text}" if o is not None and o.active(now) else "")
    return text


BATTERY_WORDS = {
    "self_consumption": "self-consumption",
    "hold": "hold (no discharge)",
    "charge": "charging from the grid",
    "planner": "the planner decides",
    "off": "off",
}


def battery_reason(cfg: Any, requested: Iterable[Setpoint], final: Iterable[Setpoint], snap: Snapshot) -> str:
    """The battery's mode and what it does now, and why when the limiter changed it or the reserve holds."""
    key = f"{cfg.id}.{Command.BATTERY_SETPOINT}"
    asked, got = _values(requested).get(key), _values(final).get(key)
    mode = BATTERY_WORDS.get(cfg.mode, cfg.mode)
    soc = snap.get(f"{cfg.id}.soc")
    if got is None:
        return mode
    doing = "idle" if abs(got) < 1 else f"discharging {_kw(got)}" if got > 0 else f"charging {_kw(-got)}"
    if asked is not None and abs(asked - got) >= 1:
        doing += " (limited by the grid limits)"
    elif abs(got) < 1 and soc is not None and soc <= cfg.reserve_soc:
        doing += f": at its reserve ({soc:.0f} % of {cfg.reserve_soc:.0f} %)"
    return f"{mode}: {doing}"


def reasons(
    laws: Iterable[Any],
    snap: Snapshot,
    requested: Iterable[Setpoint],
    final: Iterable[Setpoint],
    active: Mapping[str, float],
    surplus_w: float | None,
    signals: Signals,
    tz: Any,
    grid_meter: str = "grid",
) -> dict[str, str]:
    """Device id -> the control's decision in a short sentence."""
    asked, got = _values(requested), _values(final)
    limits = _limit_text(active, snap.get(f"{grid_meter}.power"))
    out: dict[str, str] = {}
    for law in laws:
        if isinstance(law, EvCharging):
            out.update(ev_reasons(law, snap, asked, got, surplus_w, limits, signals))
        elif isinstance(law, Overridden):
            out[law.inner.config.id] = heater_reason(law, asked, got, limits, snap.now, tz)
    return out
