"""The control's decisions as data: a reason key, its parameters, and the English text from them.

A ``Reason`` is a ``str`` (the English sentence, for MQTT, logs and old callers) that also carries
``key`` and ``vars``; ``json()`` is what the pages translate: ``reason.<key>`` in the edge's
(``static/i18n``) and the portal's (``static/portal/i18n``) catalogues, whose English entries equal
``TEMPLATES`` (a test holds them equal). A parameter's name says how it is shown, in Python here and
in the browser (``WW.reason`` in static/common.js, numbers in the browser's locale):

* ``*_kw`` a power in kW (1 decimal), ``*_a`` a current in A (1 decimal), ``*_pct`` a percentage
  (0 decimals), ``*_at`` an ISO time shown as the local ``HH:MM`` (here: of its own offset, the
  site's);
* a nested ``Reason`` (its own key) or a list of them (joined with ", "); anything else as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

TEMPLATES: dict[str, str] = {
    # charge points
    "ev.no_reading": "no reading from the charger: the control keeps it off",
    "ev.no_car": "no car plugged in",
    "ev.off": "off (your choice)",
    "ev.blocked": "blocked by {limits}",
    "ev.restart_delay": "waiting: the charger's restart delay",
    "ev.capped": "charging at {current_a}, capped by {limits}",
    "ev.ramping": "charging at {current_a}, capped by the charger ramping up",
    "ev.charging_now": "charging now at full power, {current_a}",
    "ev.charging_minpv": "charging: minimum + PV surplus, {current_a}",
    "ev.charging_pv": "charging from PV surplus, {current_a}",
    "ev.charging": "charging, {current_a}",
    "ev.planned": "charging in a planned slot ({planned_kw}), {current_a}",
    "ev.waiting": "waiting for {need_kw} surplus (now {have_kw})",
    "ev.cheapest": "waiting for the cheapest hours {from_at}–{to_at}",
    # the limits that bind (a list of them fills {limits})
    "limit.ripple": "ripple control ({max_kw} max)",
    "limit.para14a": "§14a grid operator limit ({max_kw} max)",
    "limit.grid": "the grid connection ({max_kw} max)",
    "limit.other": "{name} ({max_kw} max)",
    # heat pumps (SG-Ready) and heating rods
    "heat.sg1": "blocked",
    "heat.sg2": "normal operation",
    "heat.sg3": "running on PV surplus / cheap energy",
    "heat.sg4": "forced on",
    "heat.rod_on": "heating at {power_kw}",
    "heat.rod_off": "off: no surplus to heat with",
    "heat.boost": "boost until {until_at} (your choice)",
    "heat.off": "off until {until_at} (your choice)",
    "heat.blocked": "blocked by {limits}",
    "heat.min_time": "held by its minimum on/off time",
    "heat.held_then": "{held} — {then}",
    # the battery
    "battery.state": "{mode}: {doing}",
    "battery.mode.self_consumption": "self-consumption",
    "battery.mode.hold": "hold (no discharge)",
    "battery.mode.charge": "charging from the grid",
    "battery.mode.planner": "the planner decides",
    "battery.mode.off": "off",
    "battery.mode.other": "{mode}",
    "battery.idle": "idle",
    "battery.discharging": "discharging {power_kw}",
    "battery.charging": "charging {power_kw}",
    "battery.limited": "{doing} (limited by the grid limits)",
    "battery.reserve": "{doing}: at its reserve ({soc_pct} of {reserve_pct})",
}


def show(name: str, value: Any) -> str:
    """One parameter in English, by its name's suffix (the module text)."""
    if isinstance(value, Reason):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(show(name, v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if name.endswith("_kw"):
            return f"{value:.1f} kW"
        if name.endswith("_a"):
            return f"{value:.1f} A"
        if name.endswith("_pct"):
            return f"{value:.0f} %"
    if name.endswith("_at") and isinstance(value, str):
        return datetime.fromisoformat(value).strftime("%H:%M")
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Reason):
        return value.json()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


class Reason(str):
    """``Reason("ev.waiting", need_kw=1.4, have_kw=0.0)`` == "waiting for 1.4 kW surplus (now 0.0 kW)"."""

    key: str
    vars: Mapping[str, Any]

    def __new__(cls, key: str, **params: Any) -> Reason:
        template = TEMPLATES[key]  # a KeyError here is a bug: every key has its English text
        text = template.format_map({k: show(k, v) for k, v in params.items()})
        obj = super().__new__(cls, text)
        obj.key, obj.vars = key, params
        return obj

    def json(self) -> dict[str, Any]:
        """``{"key", "vars", "text"}``: nested reasons as their own ``{"key", "vars", "text"}``."""
        return {"key": self.key, "vars": {k: _json(v) for k, v in self.vars.items()}, "text": str(self)}


def hhmm_at(ts: datetime, tz: Any) -> str:
    """A ``*_at`` parameter: the time as ISO in the site's zone (shown as its local HH:MM)."""
    return ts.astimezone(tz).isoformat(timespec="minutes")
