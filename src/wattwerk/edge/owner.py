"""The owner's controls: one store, one function that applies a setting, every channel calls it.

``OwnerControls.apply(device, changes, source)`` validates a change for the device's role, puts it
into the control cycle (``CycleStep``) and the planner, writes ``owner.json`` in the edge's data dir
(atomically: a temporary file, fsync, rename) and answers the device's settings. The page
(``PUT /api/owner/<device>``), the MQTT bridge (``<root>/<device>/<command>/set``) and the
maintenance/command channel (kind ``owner``) all call it; nothing bypasses the limiter.

Settings per role (JSON, the wire names):

* ``ev_charger``: ``mode`` (off / pv / minpv / now), ``min_current_a``, ``max_current_a``, ``phases``
  (1, 3, 0 = automatic, where the charger can switch), ``plan`` ``{energy_kwh | target_soc +
  battery_kwh, departure: "HH:MM", day: today|tomorrow | days: [mon, ...], car}`` (``null`` ends it);
* ``battery``: ``mode`` (self_consumption / hold / charge = from the grid now / planner), ``reserve_soc``;
* ``heat_pump``, ``heating_rod``: ``boost_minutes`` (boost now), ``off_hours`` (off now), ``cancel``.

At start ``restore()`` applies what was stored; a boost that has ended or a one-off plan whose
departure has passed is dropped. The planner's departures follow the plans; a weekly plan's next
departure is found again after each one passes (``tick``, every control cycle).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wattwerk.config.schema import WEEKDAYS, EvDeparture, Weekday
from wattwerk.control.reasons import Reason, hhmm_at
from wattwerk.edge.owner_session import Sessions
from wattwerk.model import Reading
from wattwerk.vocabulary import OWNER_EV_MODES

log = logging.getLogger("wattwerk.owner")

FILE = "owner.json"
PRICE_CHANNEL = "edge.price_import"  # the import price in force (planner's slot, gross), for session costs
BATTERY_MODES = ("self_consumption", "hold", "charge", "planner")
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanSetting(_Strict):
    """A car's target by a departure: once (today / tomorrow) or on weekdays."""

    energy_kwh: Annotated[float, Field(gt=0, le=250)] | None = None
    target_soc: Annotated[float, Field(gt=0, le=100)] | None = None
    battery_kwh: Annotated[float, Field(gt=0, le=250)] | None = None
    car: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # its name, in the sessions
    departure: Clock
    day: Literal["today", "tomorrow"] | None = None
    on: dt.date | None = None  # a one-off plan's local date (what "today"/"tomorrow" became)
    days: list[Weekday] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PlanSetting:
        if (self.energy_kwh is None) == (self.target_soc is None):
            raise ValueError("give either energy_kwh or target_soc (with battery_kwh)")
        if self.target_soc is not None and self.battery_kwh is None:
            raise ValueError("target_soc needs battery_kwh (the car's usable capacity)")
        if self.day is not None and self.days:
            raise ValueError("give either day (today, tomorrow) or days (weekdays), not both")
        return self


class ChargerSetting(_Strict):
    mode: Literal["off", "now", "minpv", "pv"] | None = None
    min_current_a: Annotated[float, Field(ge=6, le=80)] | None = None
    max_current_a: Annotated[float, Field(ge=0, le=80)] | None = None
    phases: Literal[0, 1, 3] | None = None
    plan: PlanSetting | None = None


class BatterySetting(_Strict):
    mode: Literal["self_consumption", "hold", "charge", "planner"] | None = None
    reserve_soc: Annotated[float, Field(ge=0, le=100)] | None = None


class HeaterSetting(_Strict):
    boost_minutes: Annotated[float, Field(gt=0, le=24 * 60)] | None = None
    off_hours: Annotated[float, Field(gt=0, le=48)] | None = None
    cancel: bool = False
    override: dict[str, str] | None = None  # stored form: {kind, until}


SETTINGS: dict[str, type[_Strict]] = {
    "ev_charger": ChargerSetting,
    "battery": BatterySetting,
    "heat_pump": HeaterSetting,
    "heating_rod": HeaterSetting,
}


# a command by its MQTT name -> the setting it changes (the page and the portal send settings directly)
COMMANDS: dict[str, str] = {
    "mode": "mode",
    "current_limit": "max_current_a",
    "min_current": "min_current_a",
    "phases": "phases",
    "battery_mode": "mode",
    "reserve_soc": "reserve_soc",
    "boost_minutes": "boost_minutes",
    "off_hours": "off_hours",
    "boost": "boost_minutes",  # a button: BOOST_MINUTES
    "plan_energy_kwh": "plan",  # the plan's energy (0 ends the plan)
    "plan_departure": "plan",  # the plan's departure "HH:MM"
}
BOOST_MINUTES = 30


def cheapest(reason: Any, plan: dict[str, Any] | None, tz: Any) -> Any:
    """A car that waits for surplus while the planner has slots for it waits for those: "waiting for
    the cheapest hours 02:00–04:00" (the first run of planned slots); else the reason as it was."""
    if not isinstance(reason, Reason) or reason.key != "ev.waiting" or not plan or not plan.get("slots"):
        return reason
    starts = [datetime.fromisoformat(s["start"]) for s in plan["slots"]]
    step = timedelta(minutes=15)
    end = starts[0] + step
    for t in starts[1:]:
        if t != end:
            break
        end = t + step
    return Reason("ev.cheapest", from_at=hhmm_at(starts[0], tz), to_at=hhmm_at(end, tz))


class OwnerError(ValueError):
    """A setting the edge refuses, with the reason in plain words."""


def _problem(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e["loc"])
        parts.append(f"{where}: {e['msg']}" if where else e["msg"].removeprefix("Value error, "))
    return "; ".join(parts)


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """The whole file or the old one, never half: write a sibling, fsync, rename."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class OwnerControls:
    """The owner's settings of one edge. ``control`` is the ``CycleStep``, ``planner`` the
    ``PlanService`` or None; ``roles`` device id -> role of the controlled devices."""

    def __init__(
        self,
        data_dir: Path,
        control: Any,
        planner: Any,
        roles: dict[str, str],
        tz: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.path = Path(data_dir) / FILE
        self.control, self.planner, self.roles = control, planner, roles
        self.tz, self.clock = ZoneInfo(tz), clock
        self.settings: dict[str, dict[str, Any]] = {}
        self.departures: dict[str, datetime] = {}  # charger -> the plan's departure now in force
        self.sessions = Sessions(getattr(getattr(control, "cycle", None), "grid_meter", "grid"))
        self._switchable: dict[str, bool] = {}  # set by restore(): what the site file allows
        self._pending: asyncio.Task[Any] | None = None
        self.car_soc: dict[str, float | None] = {}  # charger -> the car's SoC (%), when it reports one
        self.record: Callable[[list[Reading]], None] | None = None  # the runtime's accept (price history)

    # ------------------------------------------------------------ the one function

    def apply(self, device: str, changes: dict[str, Any], source: str = "page") -> dict[str, Any]:
        """Validate, apply, store. OwnerError names what is wrong; nothing changes then."""
        if self.control is None:
            raise OwnerError("this edge runs --read-only: it takes no commands")
        role = self.roles.get(device)
        if role not in SETTINGS:
            have = ", ".join(sorted(d for d, r in self.roles.items() if r in SETTINGS)) or "none"
            raise OwnerError(f"{device!r} has no owner settings (devices with settings: {have})")
        if not isinstance(changes, dict) or not changes:
            raise OwnerError('send the settings to change as an object, e.g. {"mode": "pv"}')
        try:
            setting = SETTINGS[role].model_validate(changes)
        except ValidationError as exc:
            raise OwnerError(_problem(exc)) from None
        stored = dict(self.settings.get(device, {}))
        given = setting.model_dump(exclude_unset=True, mode="json")
        if role == "ev_charger":
            self._charger(device, setting, given, stored)  # type: ignore[arg-type]
        elif role == "battery":
            self._battery(setting, stored, given)  # type: ignore[arg-type]
        else:
            self._heater(device, setting, stored)  # type: ignore[arg-type]
        self.settings[device] = stored
        self._save()
        log.info("owner setting %s %s (from %s)", device, json.dumps(given, sort_keys=True), source)
        return self.device_state(device)

    def command(self, device: str, command: str, value: Any, source: str = "mqtt") -> dict[str, Any]:
        """One named command (MQTT) as a setting; ``battery_mode`` only for a battery, ``mode`` not."""
        key = COMMANDS.get(command)
        role = self.roles.get(device)
        battery = role == "battery"
        wrong_mode = (command == "mode" and battery) or (command == "battery_mode" and not battery)
        if key is None:
            raise OwnerError(f"{command} is decided by wattwerk's controllers, not settable")
        if wrong_mode:
            raise OwnerError(f"{device} does not take {command}")
        if key == "phases":
            try:
                value = int(float(value))
            except ValueError:
                raise OwnerError(f"phases must be 1, 3 or 0 (automatic), not {value!r}") from None
        if command == "boost":
            return self.apply(device, {"boost_minutes": BOOST_MINUTES}, source)
        if key == "plan":
            return self.apply(device, {"plan": self._plan_from(device, command, value)}, source)
        if key in ("boost_minutes", "off_hours") and float(value) <= 0:
            return self.apply(device, {"cancel": True}, source)
        return self.apply(device, {key: value}, source)

    def _plan_from(self, device: str, command: str, value: Any) -> dict[str, Any] | None:
        """The plan with one part changed by MQTT: ``plan_energy_kwh`` (0 ends it; a new plan departs
        at 07:00 every day until a departure is set) or ``plan_departure`` (needs a plan)."""
        plan = dict((self.settings.get(device) or {}).get("plan") or {})
        if command == "plan_energy_kwh":
            if float(value) <= 0:
                return None
            plan.pop("target_soc", None)
            plan.pop("battery_kwh", None)
            return plan | {"energy_kwh": float(value), "departure": plan.get("departure", "07:00")}
        if not plan:
            raise OwnerError("set plan_energy_kwh first: a departure needs a target")
        return plan | {"departure": str(value)}

    def _charger(self, device: str, s: ChargerSetting, given: dict[str, Any], stored: dict[str, Any]) -> None:
        """Everything is checked before anything changes."""
        c = self.control
        if s.phases is not None and not self.can_switch(device) and s.phases != c.point(device).phases:
            raise OwnerError(f"{device} cannot switch phases (phase_switching is off in the site file)")
        plan = s.plan
        if plan is not None and plan.day is not None:  # "tomorrow" becomes a date now, once
            today = self.clock().astimezone(self.tz).date()
            plan = plan.model_copy(update={"day": None, "on": today + timedelta(days=plan.day == "tomorrow")})
        if plan is not None and plan.on is not None and self._at(plan) <= self.clock():
            raise OwnerError(f"the departure {plan.on} {plan.departure} has passed already")
        if s.mode is not None:
            c.set_ev_mode(device, s.mode)
        if s.max_current_a is not None:
            c.set_ev_current(device, s.max_current_a)
        if s.min_current_a is not None:
            c.set_ev_min_current(device, s.min_current_a)
        if s.phases is not None:
            c.set_ev_phases(device, s.phases)
        for key in ("mode", "max_current_a", "min_current_a", "phases"):
            if key in given and given[key] is not None:
                stored[key] = given[key]
        if "plan" in given:
            stored["plan"] = None if plan is None else plan.model_dump(mode="json", exclude_none=True)
            self._set_plan(device, plan)

    def _battery(self, s: BatterySetting, stored: dict[str, Any], given: dict[str, Any]) -> None:
        if s.mode == "planner" and self.planner is None:
            raise OwnerError("this site runs without the planner (strategy.mode: planner) to decide")
        if not self.control.set_battery_mode(s.mode, s.reserve_soc):
            raise OwnerError("this site has no controlled battery")
        stored.update({k: v for k, v in given.items() if v is not None})

    def _heater(self, device: str, s: HeaterSetting, stored: dict[str, Any]) -> None:
        now = self.clock()
        if s.override is not None:  # restoring the stored form
            kind, until = s.override["kind"], datetime.fromisoformat(s.override["until"])
        elif s.cancel:
            kind, until = None, None
        elif (s.boost_minutes is None) == (s.off_hours is None):
            raise OwnerError("give boost_minutes, off_hours or cancel: true")
        elif s.boost_minutes is not None:
            kind, until = "boost", now + timedelta(minutes=s.boost_minutes)
        else:
            kind, until = "off", now + timedelta(hours=float(s.off_hours or 0))
        if not self.control.set_override(device, kind, until):  # type: ignore[arg-type]
            raise OwnerError(f"{device} is not controlled by wattwerk (no control law for it)")
        stored.clear()
        if kind is not None and until is not None:
            stored["override"] = {"kind": kind, "until": until.isoformat()}

    # ------------------------------------------------------------ plans

    def can_switch(self, device: str) -> bool:
        point = self.control.point(device) if self.control is not None else None
        return bool(point is not None and (point.phase_switching or self._switchable.get(device)))

    def _at(self, plan: PlanSetting) -> datetime:
        hh, mm = (int(x) for x in plan.departure.split(":"))
        assert plan.on is not None
        return datetime(plan.on.year, plan.on.month, plan.on.day, hh, mm, tzinfo=self.tz)

    def _next(self, plan: PlanSetting) -> datetime | None:
        """The plan's next departure (aware), or None when a one-off one has passed."""
        now = self.clock()
        if plan.on is not None:
            at = self._at(plan)
            return at if at > now else None
        days = plan.days or list(WEEKDAYS)
        local = now.astimezone(self.tz)
        hh, mm = (int(x) for x in plan.departure.split(":"))
        for ahead in range(8):
            d = (local + timedelta(days=ahead)).date()
            at = datetime(d.year, d.month, d.day, hh, mm, tzinfo=self.tz)
            if WEEKDAYS[d.weekday()] in days and at > now:
                return at
        return None

    def _set_plan(self, device: str, plan: PlanSetting | None) -> None:
        at = None if plan is None else self._next(plan)
        if plan is None or at is None:
            self.departures.pop(device, None)
            self.control.set_ev_plan(device)
            if self.planner is not None:
                self.planner.owner_departures.pop(device, None)
        else:
            self.departures[device] = at
            energy = plan.energy_kwh * 1000.0 if plan.energy_kwh is not None else None
            capacity = plan.battery_kwh * 1000.0 if plan.battery_kwh is not None else None
            self.control.set_ev_plan(
                device, energy_wh=energy, soc=plan.target_soc, capacity_wh=capacity, departure=at
            )
            if self.planner is not None:
                local = at.astimezone(self.tz)
                self.planner.owner_departures[device] = EvDeparture(
                    charger=device,
                    departure=plan.departure,
                    days=[WEEKDAYS[local.weekday()]],
                    energy_kwh=plan.energy_kwh,
                    target_soc=plan.target_soc,
                    battery_kwh=plan.battery_kwh,
                    car=plan.car,
                )
        self._replan()

    def _replan(self) -> None:
        """A new plan at once, not at the next slot (when an event loop runs)."""
        if self.planner is None:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            task = loop.create_task(self.planner.refresh())
            self._pending = task  # keep a reference until it is done

    def tick(self, snap: Any, signals: Any) -> None:
        """Every control cycle: sessions; a passed departure moves to the next (or the plan ends)."""
        self.sessions.update(snap, signals, self.departures.keys() | self._chargers())
        self.car_soc = {c: snap.get(f"{c}.soc") for c in self._chargers()}  # where the charger reports it
        price = getattr(signals, "price", None)
        if self.record is not None and price is not None:  # kept, so a session's cost uses its slots' prices
            self.record([Reading(PRICE_CHANNEL, snap.now, float(price))])
        now = snap.now
        for device, at in list(self.departures.items()):
            if at <= now:
                raw = (self.settings.get(device) or {}).get("plan")
                plan = PlanSetting.model_validate(raw) if raw else None
                if plan is not None and plan.on is not None:
                    self.settings[device]["plan"] = None
                    self._save()
                    plan = None
                self._set_plan(device, plan)

    def cars(self) -> dict[str, str]:
        """Charger -> the car named on its plan (the sessions show it)."""
        return {d: s["plan"]["car"] for d, s in self.settings.items() if (s.get("plan") or {}).get("car")}

    def _chargers(self) -> set[str]:
        return {d for d, r in self.roles.items() if r == "ev_charger"}

    # ------------------------------------------------------------ store

    def _save(self) -> None:
        write_atomically(self.path, {"version": 1, "devices": self.settings})

    def restore(self, switchable: dict[str, bool] | None = None) -> None:
        """Apply ``owner.json`` at start; what no longer fits (a device gone, a boost ended, a
        one-off departure passed) is dropped with a log line."""
        self._switchable = dict(switchable or {})
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            devices = data["devices"]
            assert isinstance(devices, dict)
        except (OSError, ValueError, KeyError, AssertionError, TypeError) as exc:
            log.warning("owner settings %s unreadable (%s); starting from the site file", self.path, exc)
            return
        for device, stored in devices.items():
            try:
                changes = self._still_valid(stored)
                if changes:
                    self.apply(device, changes, source="restore")
            except (ValueError, TypeError, KeyError, AttributeError) as exc:  # OwnerError too
                log.warning("owner setting for %s not restored: %s", device, exc)

    def _still_valid(self, stored: dict[str, Any]) -> dict[str, Any]:
        """A stored device's settings without what has ended: a boost, a one-off departure."""
        changes = {k: v for k, v in stored.items() if v is not None}
        over = changes.get("override")
        if over and datetime.fromisoformat(over["until"]) <= self.clock():
            changes.pop("override")
        plan = changes.get("plan")
        if plan and plan.get("on"):
            at = self._at(PlanSetting.model_validate(plan))
            if at <= self.clock():
                log.info("owner plan for %s ended at %s", plan.get("departure"), at.isoformat())
                changes.pop("plan")
        return changes

    # ------------------------------------------------------------ what the page shows

    def device_state(self, device: str) -> dict[str, Any]:
        """One device's settings as they run now, its decision and why, plan and session."""
        role = self.roles.get(device, "")
        c = self.control
        reason = c.reasons.get(device) if c is not None else None
        out: dict[str, Any] = {
            "id": device,
            "role": role,
            "settings": self.settings.get(device, {}),
            "reason": reason,  # the English sentence; "why": its key and vars for the pages
        }
        if role == "ev_charger" and c is not None:
            p = c.point(device)
            if p is not None:
                out.update(
                    mode=p.mode,
                    min_current_a=p.min_current_a,
                    max_current_a=p.max_current_a,
                    phases=0 if p.phase_switching else p.phases,
                    can_switch_phases=self.can_switch(device),
                    top_current_a=c._max_current.get(device),
                )
            at = self.departures.get(device)
            out["departure"] = at.isoformat() if at else None
            out["plan"] = self.planner.ev_plan(device) if self.planner is not None and at else None
            out["session"] = self.sessions.json(device, self.clock())
            out["car_soc"] = self.car_soc.get(device)
            reason = cheapest(reason, out["plan"], self.tz)
            out["reason"] = reason
        elif role == "battery" and c is not None and c.cycle.battery is not None:
            cfg = c.cycle.battery.config
            out.update(mode=cfg.mode, reserve_soc=cfg.reserve_soc, planner=self.planner is not None)
        elif role in ("heat_pump", "heating_rod") and c is not None:
            w = c.heaters.get(device)
            o = w.override if w is not None else None
            active = o is not None and o.active(self.clock())
            out["override"] = {"kind": o.kind, "until": o.until.isoformat()} if active and o else None
        out["why"] = reason.json() if isinstance(reason, Reason) else None
        return out

    def _controlled(self, device: str, role: str) -> bool:
        """Whether the control cycle runs a law for the device (an SG-Ready-less heat pump has none)."""
        c = self.control
        if c is None or role not in SETTINGS:
            return False
        if role == "ev_charger":
            return c.point(device) is not None
        if role == "battery":
            bat = getattr(c.cycle, "battery", None)
            return bat is not None and bat.config.id == device
        return device in c.heaters

    def state(self) -> dict[str, Any]:
        """Every device with owner settings (none on a --read-only edge: nothing is controlled)."""
        ids = [d for d, r in self.roles.items() if self._controlled(d, r)]
        return {
            "devices": [self.device_state(d) for d in ids],
            "battery_modes": list(BATTERY_MODES),
            "ev_modes": list(OWNER_EV_MODES),
        }
