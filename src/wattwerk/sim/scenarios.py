"""Named closed-loop scenarios for ``wattwerk demo --scenario NAME``, as data.

Each scenario names a day and start (UTC), the site's tweaks (simulator parameters), the grid
connection (the site file's ``site.grid`` limits), its control section (``limits``: feed-in limit,
ripple control, §14a, peak shaving, circuits), the limits the independent checker judges against
(which may change over the run), signals (ripple-control contacts and the §14a box, read over
Modbus from an emulated I/O module) and events (a device stops or starts answering).
``run_scenario`` runs the product's edge, assembled from the site file of the emulated site
(``sim.site_file``), in lock-step with the simulator (``scenario_loop.ClosedLoop``) and returns the
summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wattwerk.control.checker import LimitChecker, Limits
from wattwerk.control.cycle import ControlCycle
from wattwerk.flows import balance_figures
from wattwerk.progress import Progress
from wattwerk.sim import BatteryParams, EVParams, HouseParams, PVParams, SiteParams, SiteSim
from wattwerk.sim.scenario_loop import ClosedLoop

FUSE_35 = 3 * 230 * 35.0
PHASE_35 = 230 * 35.0


@dataclass(frozen=True)
class Scenario:
    """``checks``/``signals``/``events`` are keyed by hours after ``start``; a check entry replaces the
    named checker limits from then on (``para14a_w: "rule"`` = the limiter's §14a aggregate value)."""

    description: str
    start: str  # ISO, UTC
    hours: float  # default length of the run
    site: Mapping[str, Any]
    grid: Mapping[str, float]
    limits: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[float, Mapping[str, Any]] = field(default_factory=dict)
    signals: Mapping[float, Mapping[str, float]] = field(default_factory=dict)
    events: tuple[tuple[float, str, str], ...] = ()  # (hour, "stop" | "start", device id)
    ev_mode: str = "pv"
    focus: tuple[float, float] = (0.0, 0.0)  # the interesting window (hours), for short runs


def _evs(*socs: float, switching: bool = False) -> tuple[EVParams, ...]:
    return tuple(EVParams(soc_initial=s, phase_switching=switching) for s in socs)


SCENARIOS: dict[str, Scenario] = {
    "pv-surplus-sunny": Scenario(
        "A clear Sunday in June: the car charges from PV surplus, rod and heat pump take the rest, "
        "feed-in limited to 60 % of kWp.",
        "2025-06-15T04:00:00+00:00",
        14.0,
        site={"evs": _evs(40.0), "battery": BatteryParams(soc_initial=30.0)},
        grid={"max_import_w": FUSE_35, "max_phase_import_w": PHASE_35},
        limits={"feed_in_limit_pct": 60.0},
        checks={0: {"export_w": 0.6 * 8000, "import_w": FUSE_35, "phase_w": PHASE_35}},
        focus=(5.0, 5.5),
    ),
    "pv-surplus-cloudy": Scenario(
        "A Saturday of passing clouds: surplus comes and goes, the charger must not chatter.",
        "2025-07-19T04:00:00+00:00",
        14.0,
        site={"evs": _evs(40.0), "battery": BatteryParams(soc_initial=30.0)},
        grid={"max_import_w": FUSE_35, "max_phase_import_w": PHASE_35},
        limits={"feed_in_limit_pct": 60.0},
        checks={0: {"export_w": 0.6 * 8000, "import_w": FUSE_35, "phase_w": PHASE_35}},
        focus=(6.5, 7.0),
    ),
    "ripple-control": Scenario(
        "The grid operator's receiver: feed-in 0 % for 15 min, then 60 %, then free again; at 10:06 its "
        "I/O module stops answering and the fail-safe (0 % feed-in) holds.",
        "2025-06-15T09:00:00+00:00",
        1.5,
        site={"evs": _evs(100.0), "battery": BatteryParams(soc_initial=96.0)},
        grid={"max_import_w": FUSE_35},
        limits={
            "ripple": {
                "contacts": ["rcr.state_1", "rcr.state_2"],
                "on_stale": "10",
                "levels": [{"pattern": "10", "feed_in_pct": 0.0}, {"pattern": "01", "feed_in_pct": 60.0}],
            }
        },
        # the fail-safe is judged from one fallback_after_s (10 s) plus a cycle after the module goes
        checks={
            0: {"import_w": FUSE_35, "export_w": None},
            0.5: {"export_w": 0.0},
            0.75: {"export_w": 0.6 * 8000},
            1: {"export_w": None},
            1.1 + 20 / 3600: {"export_w": 0.0},
        },
        signals={
            0: {"rcr.state_1": 0, "rcr.state_2": 0},
            0.5: {"rcr.state_1": 1, "rcr.state_2": 0},
            0.75: {"rcr.state_1": 0, "rcr.state_2": 1},
            1: {"rcr.state_1": 0, "rcr.state_2": 0},
        },
        events=((1.1, "stop", "rcr"),),
        focus=(0.0, 1.25),
    ),
    "para14a": Scenario(
        "§14a EnWG on a winter evening: the car charges at full power until the box dims the consumers.",
        "2025-01-18T16:00:00+00:00",
        2.5,
        site={"evs": _evs(10.0), "battery": BatteryParams(soc_initial=60.0)},
        grid={"max_import_w": 3 * 230 * 50.0},
        limits={"para14a": {"signal": "steuerbox.state_1"}},
        checks={0: {"para14a_w": None}, 0.5: {"para14a_w": "rule"}, 2: {"para14a_w": None}},
        signals={0: {"steuerbox.state_1": 0}, 0.5: {"steuerbox.state_1": 1}, 2: {"steuerbox.state_1": 0}},
        ev_mode="now",
        focus=(0.4, 0.8),
    ),
    "four-chargers-fuse": Scenario(
        "Four cars at home on a Saturday evening, charging now, on one 32 A circuit.",
        "2025-06-14T17:00:00+00:00",
        1.0,
        site={
            "evs": _evs(20.0, 30.0, 40.0, 50.0),
            "heat_pump": None,
            "battery": BatteryParams(soc_initial=50.0),
        },
        grid={"max_import_w": 3 * 230 * 50.0, "max_phase_import_w": 230 * 50.0},
        limits={
            "circuits": [{"name": "garage", "devices": ["ev1", "ev2", "ev3", "ev4"], "max_current_a": 32.0}]
        },
        checks={0: {"phase_w": 230 * 50.0, "circuits": ((("ev1", "ev2", "ev3", "ev4"), 32.0),)}},
        ev_mode="now",
        focus=(0.0, 0.3),
    ),
    "device-failure": Scenario(
        "Mid-day the grid meter stops answering for 6 min, later the charger does: fail-safe, then recovery.",
        "2025-06-15T09:00:00+00:00",
        3.0,
        site={"evs": _evs(30.0), "battery": BatteryParams(soc_initial=40.0)},
        grid={"max_import_w": FUSE_35},
        limits={"feed_in_limit_pct": 60.0, "fallback_after_s": 15.0},
        checks={0: {"export_w": 0.6 * 8000, "import_w": FUSE_35}},
        events=((0.5, "stop", "grid"), (0.6, "start", "grid"), (0.7, "stop", "ev1"), (0.8, "start", "ev1")),
        focus=(0.45, 0.85),
    ),
    "peak-shaving": Scenario(
        "A business with 25 MWh a year on a winter evening: grid import held under 8 kW by the battery.",
        "2025-01-18T16:00:00+00:00",
        2.0,
        site={
            "house": HouseParams(annual_kwh=25_000),
            "evs": _evs(10.0),
            "battery": BatteryParams(
                capacity_wh=30_000, soc_initial=90.0, max_discharge_w=8000, max_charge_w=8000
            ),
        },
        grid={"max_import_w": 3 * 230 * 63.0},
        limits={"peak_shaving_w": 8000.0},
        checks={0: {"import_w": 8000.0}},
        ev_mode="now",
        focus=(0.0, 0.4),
    ),
    "pv-oversized-60pct": Scenario(
        "16 kWp behind a feed-in limit of 60 % of kWp (9.6 kW, the 2025 rule without a smart-meter "
        "gateway): battery, car and heat pump take what they can, the limiter curtails the rest.",
        "2025-06-15T00:00:00+00:00",
        24.0,
        site={"pv": (PVParams(kwp=16.0),), "evs": _evs(40.0), "battery": BatteryParams(soc_initial=30.0)},
        grid={"max_import_w": FUSE_35, "max_phase_import_w": PHASE_35},
        limits={"feed_in_limit_pct": 60.0},
        checks={0: {"export_w": 0.6 * 16000, "import_w": FUSE_35, "phase_w": PHASE_35}},
        focus=(9.0, 9.5),
    ),
    "zero-export": Scenario(
        "A zero-export connection (max_export_w 0): nothing is fed in; the battery, the car and the "
        "heat pump take the PV first, the limiter curtails the rest.",
        "2025-06-15T00:00:00+00:00",
        24.0,
        site={"evs": _evs(40.0), "battery": BatteryParams(soc_initial=30.0)},
        grid={"max_import_w": FUSE_35, "max_phase_import_w": PHASE_35, "max_export_w": 0.0},
        checks={0: {"export_w": 0.0, "import_w": FUSE_35, "phase_w": PHASE_35}},
        focus=(9.0, 9.5),
    ),
}


def _schedule(table: Mapping[float, Mapping[str, Any]], t0: float, t: float) -> dict[str, Any]:
    """Everything set in ``table`` up to ``t`` (later entries win)."""
    out: dict[str, Any] = {}
    for hour in sorted(table):
        if t >= t0 + hour * 3600 - 1e-6:
            out.update(table[hour])
    return out


def checker_for(sc: Scenario, sim: SiteSim, cycle: ControlCycle, t0: float) -> LimitChecker:
    rule = getattr(cycle.limiter, "p14_total", None)

    def limits_at(t: float) -> Limits:
        kw = _schedule(sc.checks, t0, t)
        if kw.get("para14a_w") == "rule":
            kw["para14a_w"] = rule
        return Limits(**kw)

    consumers = {ev.name: 1.0 for ev in sim.evs}
    if sim.heat_pump:
        consumers[sim.heat_pump.name] = 1.0
    if sim.battery:
        consumers["bat"] = -1.0
    return LimitChecker(limits_at, consumers=consumers, flexible=flexible_w(sim))


def flexible_w(sim: SiteSim) -> Callable[[Mapping[str, float]], float]:
    """W of import the controllable devices could give up at a moment, from the site's own values:
    the chargers' draw, a rod's draw up to its setpoint (above it, its own thermostat rules), and
    the battery's unused discharge while above its minimum SoC. The house and the heat pump (its
    own thermostat; SG-Ready is never used to block it) are not flexible."""
    evs = [ev.name for ev in sim.evs]
    rod = sim.rod.name if sim.rod else None
    bat = sim.battery.params if sim.battery else None

    def flexible(v: Mapping[str, float]) -> float:
        w = sum(max(v.get(f"{d}.power", 0.0), 0.0) for d in evs)
        if rod is not None:
            w += min(max(v.get(f"{rod}.power", 0.0), 0.0), v.get(f"{rod}.power_setpoint", 0.0))
        if bat is not None and v.get("bat.soc", 0.0) > bat.soc_min + 0.5:
            w += max(bat.max_discharge_w - v.get("bat.power", 0.0), 0.0)
        return w

    return flexible


def energy_kwh(sim: SiteSim) -> dict[str, float]:
    """The simulator's own counters, in the keys of the demo's energy summary."""
    v = sim.channels()

    def total(suffix: str, prefix: str = "") -> float:
        return sum(x for k, x in v.items() if k.startswith(prefix) and k.endswith(suffix)) / 1000

    return {
        "grid_import": v["grid.energy_import"] / 1000,
        "grid_export": v["grid.energy_export"] / 1000,
        "pv": sum(pv.energy for pv in sim.pv) / 1000,
        "pv_curtailed": sum(pv.energy_available - pv.energy for pv in sim.pv) / 1000,
        "battery_charge": v.get("bat.energy_charge", 0.0) / 1000,
        "battery_discharge": v.get("bat.energy_discharge", 0.0) / 1000,
        "house": v["house.energy"] / 1000,
        "ev": sum(ev.energy for ev in sim.evs) / 1000,
        "heat": (v.get("hp.energy", 0.0) + v.get("rod.energy", 0.0)) / 1000,
    }


async def run_scenario(
    name: str,
    *,
    hours: float | None = None,
    offset_h: float = 0.0,
    step_s: float = 10.0,
    speed: float | None = None,
    limits_override: Mapping[str, Any] | None = None,
    start_at: str | None = None,
) -> dict[str, Any]:
    """Run scenario ``name`` for ``hours`` (default: its own length) from ``offset_h`` after its start
    (``start_at``, ISO UTC: another day), one control cycle per ``step_s`` simulated seconds, at most
    ``speed`` times the wall clock."""
    sc = SCENARIOS[name]
    start = datetime.fromisoformat(start_at or sc.start)
    sim = SiteSim(SiteParams(**sc.site), start=start)
    if offset_h:  # before the window, nothing controls the site: chargers stay off
        for ev in sim.evs:
            ev.apply("enable", 0.0)
        sim.run(offset_h * 3600)
    control = {**sc.limits, **(limits_override or {})}
    t0 = start.timestamp()
    before = energy_kwh(sim)
    end = sim.t + (sc.hours - offset_h if hours is None else hours) * 3600
    events = sorted((t0 + h * 3600, what, dev) for h, what, dev in sc.events)

    def signals(t: float) -> dict[str, float]:
        return {k: float(v) for k, v in _schedule(sc.signals, t0, t).items()}

    loop = ClosedLoop(
        sim,
        lambda cycle: checker_for(sc, sim, cycle, t0),
        control=control,
        grid=sc.grid,
        ev_mode=sc.ev_mode,
        step_s=step_s,
        signals=signals,
        speed=speed,
        io_devices=_io_devices(sc),
    )
    begin = sim.t
    progress = Progress(
        f"scenario {name}",
        end - begin,
        where=lambda done: f"{sim.now:%Y-%m-%d %H:%M} UTC",
        warnings=lambda: loop.ledger.total(),
    )
    async with loop, progress.following(lambda: sim.t - begin):
        for at, what, dev in events:
            if at > end:
                break
            if at > sim.t:
                await loop.run_until(at)
            await (loop.stop_device(dev) if what == "stop" else loop.start_device(dev))
        await loop.run_until(end)
    kwh = {k: round(v - before[k], 3) for k, v in energy_kwh(sim).items()}
    hours_run = round((end - t0) / 3600 - offset_h, 3)
    return _report(name, start + timedelta(hours=offset_h), hours_run, step_s, kwh, loop)


def _io_devices(sc: Scenario) -> list[str]:
    """The devices whose contacts (``<device>.state_N``) are wired to an emulated Modbus I/O module,
    read like on a site."""
    return sorted(
        {
            ch.split(".")[0]
            for table in sc.signals.values()
            for ch in table
            if re.fullmatch(r"state_\d", ch.split(".", 1)[1])
        }
    )


def _report(
    name: str, start: datetime, hours: float, step_s: float, kwh: dict[str, float], loop: ClosedLoop
) -> dict[str, Any]:
    """The scenario's figures: energy, limit violations, relays, EV, fallbacks, read errors."""
    checker = loop.checker
    res = loop.result
    return {
        "scenario": name,
        "start": start.isoformat(),
        "hours": hours,
        "step_s": step_s,
        "cycles": res.cycles,
        "energy_kwh": kwh,
        **{k: round(v, 4) for k, v in balance_figures(kwh).items()},
        "limit_violations": checker.total,
        "limit_violations_by_kind": dict(checker.violations),
        "limit_violations_avoidable": checker.avoidable,
        "limit_violations_unavoidable": sum(checker.unavoidable.values()),
        "max_limit_excess_w": round(checker.max_excess_w, 1),
        "max_avoidable_excess_w": round(checker.max_avoidable_w, 1),
        "relay_switches": dict(res.relay_switches),
        "ev_kwh": round(res.ev_wh / 1000, 3),
        "ev_grid_share_pct": round(res.ev_grid_share_pct, 3),
        "fallbacks": res.fallbacks,
        "restrictions": sum(1 for e in res.events if e.kind == "restriction_start"),
        "fallback_events": [
            f"{e.ts.isoformat()} {e.kind} {e.subject}" for e in res.events if e.kind.startswith("fallback")
        ],
        "read_errors": loop.ledger.total(),  # every kind the edge counted (each logged once)
        "read_errors_by_kind": {f"{dev}:{kind}": n for (dev, kind), n in sorted(loop.ledger.counts.items())},
    }
