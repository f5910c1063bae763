"""The owner's overrides inside the control cycle, and each device's decision with its reason.

* ``Override``: "boost now for N minutes" or "off for N hours" for a heat pump (SG-Ready 4 / 1) or a
  heating rod (full power / 0 W), as data with its end. ``Overridden`` wraps the device's law: the
  law keeps running (its timers and state stay true), its setpoint is replaced while the override
  lasts, and the limiter still has the last word (a boost under a ripple-control block does not run).
  An override ends by itself when the clock passes ``until``.
* ``reasons(...)``: one ``Reason`` per controlled device from the cycle's output (what the laws
  asked, what the limiter let through, the limits in force, the surplus): an English sentence for
  MQTT and logs with its key and parameters, which the pages translate (``control/reasons.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from wattwerk.control.base import Law, Result, Signals
from wattwerk.control.ev import EvCharging
from wattwerk.control.heating_rod import HeatingRodControl
from wattwerk.control.reasons import TEMPLATES, Reason, hhmm_at
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

NEAR = 0.9  # a standing limit (the connection's import) is named only when the import comes this close
LIMIT_KEYS = ("ripple", "para14a", "grid")


def _limits(active: Mapping[str, float], grid_w: float | None) -> list[Reason]:
    """The import-side limits in force: [Reason("limit.ripple", max_kw=4.2)]; empty when none binds
    (then a device's own minimum on/off time held it)."""
    out: dict[str, Reason] = {}
    for key, watts in active.items():
        if key.startswith("export:"):
            continue
        name = key.split(":", 1)[-1]
        if name == "grid" and (grid_w is None or grid_w < NEAR * watts):
            continue
        if name in LIMIT_KEYS:
            r = Reason(f"limit.{name}", max_kw=round(watts / 1000, 3))
        else:
            r = Reason("limit.other", name=name.replace("_", " "), max_kw=round(watts / 1000, 3))
        out.setdefault(str(r), r)
    return list(out.values())


def _values(setpoints: Iterable[Setpoint]) -> dict[str, float]:
    return {s.channel: s.value for s in setpoints}


CHARGING_KEYS = {
    EvMode.NOW: "ev.charging_now",
    EvMode.MINPV: "ev.charging_minpv",
    EvMode.PV: "ev.charging_pv",
}


def _ev_reason(
    cp: Any,
    snap: Snapshot,
    asked: Mapping[str, float],
    got: Mapping[str, float],
    surplus_w: float | None,
    limits: list[Reason],
    planned: Signals,
) -> Reason:
    """Why charge point ``cp`` charges or waits."""
    state = snap.get(f"{cp.id}.state")
    on_asked = asked.get(f"{cp.id}.{Command.ENABLE}", 0.0) >= 0.5
    on_got = got.get(f"{cp.id}.{Command.ENABLE}", 0.0) >= 0.5
    amps = round(got.get(f"{cp.id}.{Command.CURRENT_LIMIT}", 0.0), 2)
    if state is None:
        return Reason("ev.no_reading")
    if state < 1:
        return Reason("ev.no_car")
    if cp.mode == EvMode.OFF:
        return Reason("ev.off")
    if on_asked and not on_got:
        return Reason("ev.blocked", limits=limits) if limits else Reason("ev.restart_delay")
    if on_got and amps + 0.05 < asked.get(f"{cp.id}.{Command.CURRENT_LIMIT}", 0.0):
        if limits:
            return Reason("ev.capped", current_a=amps, limits=limits)
        return Reason("ev.ramping", current_a=amps)
    if on_got:
        planned_w = planned.planned_w(cp.id)
        if planned_w:
            return Reason("ev.planned", planned_kw=round(planned_w / 1000, 3), current_a=amps)
        return Reason(CHARGING_KEYS.get(EvMode(cp.mode), "ev.charging"), current_a=amps)
    need = cp.power(cp.min_current_a, cp.lowest_phases) + cp.start_margin_w
    have = max(surplus_w or 0.0, 0.0)
    return Reason("ev.waiting", need_kw=round(need / 1000, 3), have_kw=round(have / 1000, 3))


def heater_reason(
    w: Overridden,
    asked: Mapping[str, float],
    got: Mapping[str, float],
    limits: list[Reason],
    now: datetime,
    tz: Any,
) -> Reason:
    """Why a heat pump or heating rod runs as it does."""
    cfg = w.inner.config
    if isinstance(w.inner, SgReadyControl):
        key = f"{cfg.id}.{Command.SGREADY}"
        a, g = asked.get(key), got.get(key)
        level = int(g or 2)
        text = Reason(f"heat.sg{level}" if level in (1, 2, 3, 4) else "heat.sg2")
        lowered = a is not None and g is not None and g < a
    else:
        key = f"{cfg.id}.{Command.POWER}"
        a, g = asked.get(key), got.get(key)
        text = Reason("heat.rod_on", power_kw=round(g / 1000, 3)) if g else Reason("heat.rod_off")
        lowered = a is not None and g is not None and g + 1 < a
    o = w.override
    active = o is not None and o.active(now)
    if o is not None and active:
        text = Reason(f"heat.{o.kind}", until_at=hhmm_at(o.until, tz))
    if lowered:
        held = Reason("heat.blocked", limits=limits) if limits else Reason("heat.min_time")
        text = Reason("heat.held_then", held=held, then=text) if active else held
    return text


def battery_reason(
    cfg: Any, requested: Iterable[Setpoint], final: Iterable[Setpoint], snap: Snapshot
) -> Reason:
    """The battery's mode and what it does now, and why when the limiter changed it or the reserve holds."""
    key = f"{cfg.id}.{Command.BATTERY_SETPOINT}"
    asked, got = _values(requested).get(key), _values(final).get(key)
    mode_key = f"battery.mode.{cfg.mode}"
    mode = Reason(mode_key) if mode_key in TEMPLATES else Reason("battery.mode.other", mode=cfg.mode)
    soc = snap.get(f"{cfg.id}.soc")
    if got is None:
        return mode
    if abs(got) < 1:
        doing = Reason("battery.idle")
    elif got > 0:
        doing = Reason("battery.discharging", power_kw=round(got / 1000, 3))
    else:
        doing = Reason("battery.charging", power_kw=round(-got / 1000, 3))
    if asked is not None and abs(asked - got) >= 1:
        doing = Reason("battery.limited", doing=doing)
    elif abs(got) < 1 and soc is not None and soc <= cfg.reserve_soc:
        doing = Reason("battery.reserve", doing=doing, soc_pct=round(soc, 1), reserve_pct=cfg.reserve_soc)
    return Reason("battery.state", mode=mode, doing=doing)


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
) -> dict[str, Reason]:
    """Device id -> the control's decision (a ``Reason``: an English sentence with key and vars)."""
    asked, got = _values(requested), _values(final)
    limits = _limits(active, snap.get(f"{grid_meter}.power"))
    out: dict[str, Reason] = {}
    for law in laws:
        if isinstance(law, EvCharging):
            for cp in law.config.points:
                out[cp.id] = _ev_reason(cp, snap, asked, got, surplus_w, limits, signals)
        elif isinstance(law, Overridden):
            out[law.inner.config.id] = heater_reason(law, asked, got, limits, snap.now, tz)
    return out
