"""Closed loop on the site simulator: step the sim, snapshot its channels, run every law and the
limiter, command the sim, repeat. Limits are judged by ``LimitChecker`` from the simulator's own
values only; a no-op limiter must be caught by the same checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from wattwerk.config.limits import ControlLimits
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.battery import BatteryConfig, BatteryControl
from wattwerk.control.checker import LimitChecker, Limits
from wattwerk.control.cycle import ControlCycle
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.ev import ChargePoint, EvCharging, EvConfig
from wattwerk.control.heating_rod import HeatingRodConfig, HeatingRodControl
from wattwerk.control.limiter import GridSpec, Limiter, LimiterOutput
from wattwerk.control.sgready import SgReadyConfig, SgReadyControl
from wattwerk.model import Reading
from wattwerk.sim import BatteryParams, EVParams, SiteParams, SiteSim
from wattwerk.snapshot import SiteState

SUNNY = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)  # a clear Sunday: the car stays home all day
DT = 10.0


@dataclass
class Run:
    checker: LimitChecker
    relay_switches: Counter[str] = field(default_factory=Counter)
    ev_wh: float = 0.0
    ev_grid_wh: float = 0.0
    events: list = field(default_factory=list)
    last: dict = field(default_factory=dict)  # the simulator's values after the last step

    @property
    def ev_grid_share_pct(self) -> float:
        return 100.0 * self.ev_grid_wh / self.ev_wh if self.ev_wh else 0.0


def sim_specs(sim: SiteSim, ev_priority: dict[str, int] | None = None) -> list[DeviceSpec]:
    specs: list[DeviceSpec] = []
    for pv in sim.pv:
        specs.append(DeviceSpec(pv.name, "pv", rated_w=pv.params.kwp * 1000, ac_w=pv.rating_w))
    if sim.battery:
        p = sim.battery.params
        specs.append(
            DeviceSpec(
                "bat",
                "battery",
                max_charge_w=p.max_charge_w,
                max_discharge_w=p.max_discharge_w,
                reserve_soc=p.soc_min,
            )
        )
    for ev in sim.evs:
        p = ev.params
        specs.append(
            DeviceSpec(
                ev.name,
                "ev",
                min_a=p.min_current_a,
                max_a=p.max_current_a,
                phases=p.phases,
                phase_switching=p.phase_switching,
                priority=(ev_priority or {}).get(ev.name, 0),
            )
        )
    if sim.heat_pump:
        specs.append(
            DeviceSpec("hp", "heat_pump", max_w=3000.0, min_on_s=600, min_off_s=600, max_switches_per_hour=3)
        )
    if sim.rod:
        specs.append(DeviceSpec("rod", "rod", max_w=sim.rod.params.max_w, stages_w=sim.rod.params.stages_w))
    return specs


def site_cycle(
    sim: SiteSim,
    limits: ControlLimits,
    grid: GridSpec,
    ev_mode: str = "pv",
    circuit_a: float | None = None,
    rod_stages: tuple[float, ...] = (),
) -> ControlCycle:
    points = tuple(
        ChargePoint(
            ev.name,
            mode=ev_mode,
            phases=ev.params.phases,  # type: ignore[arg-type]
            phase_switching=ev.params.phase_switching,
            min_current_a=ev.params.min_current_a,
            max_current_a=ev.params.max_current_a,
        )
        for ev in sim.evs
    )
    laws: list = [EvCharging(EvConfig(points, circuit_max_a=circuit_a))]
    if sim.heat_pump:
        laws.append(SgReadyControl(SgReadyConfig(nominal_w=2500.0)))
    if sim.rod:
        laws.append(HeatingRodControl(HeatingRodConfig(max_w=sim.rod.params.max_w, stages_w=rod_stages)))
    battery = None
    if sim.battery:
        p = sim.battery.params
        battery = BatteryControl(
            BatteryConfig(
                max_charge_w=p.max_charge_w,
                max_discharge_w=p.max_discharge_w,
                reserve_soc=p.soc_min + 5,
                hold_while_ev_from_grid=tuple(e.name for e in sim.evs),
            )
        )
    return ControlCycle(laws, Limiter(grid, sim_specs(sim), limits), battery=battery)


def run_loop(
    sim: SiteSim,
    cycle: ControlCycle,
    seconds: float,
    checker: LimitChecker,
    extra: Callable[[float], dict[str, float]] = lambda t: {},
    silent: Callable[[float], set[str]] = lambda t: set(),
    signals: Signals = NO_SIGNALS,
    stale_after_s: float = 5.0,
    dt: float = DT,
) -> Run:
    """``extra(t)`` adds channels (signals such as ripple contacts); ``silent(t)`` names devices
    whose channels stop arriving (a meter or charger that stopped answering)."""
    state = SiteState(stale_after_s=stale_after_s)
    cstate = cycle.initial()
    run = Run(checker)
    end = sim.t + seconds
    last: dict[str, float] = {}
    while sim.t < end - 1e-9:
        gone = silent(sim.t)
        values = sim.channels()
        for pv in sim.pv:
            values[f"{pv.name}.power_available"] = pv.available_w
        values.update(extra(sim.t))
        state.update(Reading(ch, sim.now, v) for ch, v in values.items() if ch.split(".")[0] not in gone)
        out = cycle.run(state.snapshot(sim.now), cstate, signals)
        cstate = out.state
        run.events.extend(out.events)
        for s in out.setpoints:
            dev, _, cmd = s.channel.partition(".")
            if cmd in ("enable", "phases", "sgready") or (
                dev == "rod" and sim.rod and sim.rod.params.stages_w
            ):
                if last.get(s.channel, s.value) != s.value:
                    run.relay_switches[dev] += 1
                last[s.channel] = s.value
            assert sim.command(dev, cmd, s.value), (s, sim.ledger.counts)
        sim.step(dt)
        v = sim.channels()
        checker.observe(sim.t, v)
        run.last = v
        h = dt / 3600.0
        for ev in sim.evs:
            run.ev_wh += ev.power * h
            run.ev_grid_wh += min(ev.power, max(v["grid.power"], 0.0)) * h
    return run


def no_op_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken limiter that passes every request through unchanged."""

    def apply(self, requested, snap, state):
        return LimiterOutput(tuple(requested), state, (), {})

    monkeypatch.setattr(Limiter, "apply", apply)


# ------------------------------------------------------------ scenarios


def sunny_sim(**kw) -> SiteSim:
    ev = EVParams(soc_initial=40.0, phase_switching=True)
    return SiteSim(SiteParams(evs=(ev,), battery=BatteryParams(soc_initial=30.0), **kw), start=SUNNY)


def test_sunny_day_ev_mostly_from_pv_with_few_switches() -> None:
    """A clear Sunday, 06:00-19:00 local: the car (40 % of 60 kWh) charges from PV in pv mode, a
    heating rod on three relay stages and the heat pump by SG-Ready take what is left.

    Few switches are right here: the charger starts once (on one phase, at the 60 s start delay),
    goes to three phases once the surplus covers 4.1 kW for a minute (and 10 min after the last
    phase switch), and stops once, when the car is full; the rod steps up and down a handful of
    times around the car (each stage held >= 2 min, <= 12 switches an hour by rule)."""
    from wattwerk.sim import RodParams

    sim = sunny_sim(rod=RodParams(stages_w=(1000.0, 2000.0, 3000.0)))
    limits = ControlLimits(feed_in_limit_pct=60.0)
    cycle = site_cycle(
        sim,
        limits,
        GridSpec(import_w=3 * 230 * 35, phase_import_w=230 * 35),
        rod_stages=(1000.0, 2000.0, 3000.0),
    )
    checker = LimitChecker(lambda t: Limits(export_w=0.6 * 8000, import_w=3 * 230 * 35, phase_w=230 * 35))
    run = run_loop(sim, cycle, 13 * 3600, checker, dt=30.0)
    assert run.ev_wh > 15_000  # the car took a real charge
    assert run.ev_grid_share_pct < 2.0, run.ev_grid_share_pct
    assert checker.total == 0, checker.violations
    switches = run.relay_switches
    print(
        f"relay switches: {dict(switches)}, EV {run.ev_wh / 1000:.1f} kWh, grid share "
        f"{run.ev_grid_share_pct:.2f} %"
    )
    assert switches["ev1"] <= 6, switches  # enable on/off and phase switches together
    assert switches["rod"] <= 40, switches
    assert switches["hp"] <= 6, switches


def _schedule(start: float, steps: list[tuple[float, object]]):
    """A value by hours since ``start``: [(from_hour, value), ...] in order."""

    def at(t: float):
        value = steps[0][1]
        for hour, v in steps:
            if t >= start + hour * 3600:
                value = v
        return value

    return at


def ripple_scenario(broken: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, LimitChecker]:
    if broken:
        no_op_limiter(monkeypatch)
    sim = SiteSim(
        SiteParams(evs=(EVParams(soc_initial=100.0),), battery=BatteryParams(soc_initial=96.0)),
        start=datetime(2025, 6, 15, 9, 0, tzinfo=UTC),
    )
    levels = _schedule(sim.t, [(0, "00"), (1, "10"), (2, "01"), (3, "00")])
    export = {"00": None, "10": 0.0, "01": 0.6 * 8000}
    limits = ControlLimits.model_validate(
        {
            "ripple": {
                "contacts": ["rcr.state_1", "rcr.state_2"],
                "levels": [{"pattern": "10", "feed_in_pct": 0.0}, {"pattern": "01", "feed_in_pct": 60.0}],
            }
        }
    )
    cycle = site_cycle(sim, limits, GridSpec(import_w=3 * 230 * 35))
    checker = LimitChecker(lambda t: Limits(export_w=export[levels(t)], import_w=3 * 230 * 35))
    run = run_loop(
        sim,
        cycle,
        4 * 3600,
        checker,
        extra=lambda t: {"rcr.state_1": float(levels(t)[0]), "rcr.state_2": float(levels(t)[1])},
    )
    return run, checker


@pytest.mark.parametrize("broken", [False, True], ids=["limiter", "no-op limiter"])
def test_ripple_control_0_and_60_percent(broken: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    run, checker = ripple_scenario(broken, monkeypatch)
    if broken:
        assert checker.violations["export"] > 10  # the checker sees what a broken limiter lets through
        return
    assert checker.total == 0, (checker.violations, checker.max_excess_w)
    ends = [e for e in run.events if e.kind == "restriction_end" and e.subject == "ripple"]
    assert len(ends) == 2  # 0 % for an hour, then 60 % for an hour, each logged with start, end, energy
    zero, sixty = ends
    assert zero.data["end"] - zero.data["start"] == pytest.approx(3600, abs=2 * DT)
    assert zero.data["curtailed_wh"] > sixty.data["curtailed_wh"] > 0


def para14a_scenario(broken: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, LimitChecker, float]:
    if broken:
        no_op_limiter(monkeypatch)
    sim = SiteSim(
        SiteParams(
            evs=(EVParams(soc_initial=10.0, phase_switching=False),), battery=BatteryParams(soc_initial=60.0)
        ),
        start=datetime(2025, 1, 18, 16, 0, tzinfo=UTC),
    )  # a winter Saturday evening
    signal = _schedule(sim.t, [(0, 0.0), (0.5, 1.0), (2, 0.0)])
    limits = ControlLimits.model_validate({"para14a": {"signal": "steuerbox.state"}})
    cycle = site_cycle(sim, limits, GridSpec(import_w=3 * 230 * 50), ev_mode="now")
    p14 = cycle.limiter.p14_total
    checker = LimitChecker(
        lambda t: Limits(para14a_w=p14 if signal(t) else None), consumers={"ev1": 1.0, "hp": 1.0, "bat": -1.0}
    )
    run = run_loop(sim, cycle, 2.5 * 3600, checker, extra=lambda t: {"steuerbox.state": signal(t)})
    return run, checker, p14


@pytest.mark.parametrize("broken", [False, True], ids=["limiter", "no-op limiter"])
def test_para14a_dims_the_controllable_consumers(broken: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    run, checker, p14 = para14a_scenario(broken, monkeypatch)
    assert p14 == pytest.approx(4200 + 2 * 0.75 * 4200)  # 3 consumers behind one EMS: 10.5 kW (BK6-22-300)
    if broken:
        assert checker.violations["para14a"] > 10
        return
    assert checker.total == 0, (checker.violations, checker.max_excess_w)
    assert any(e.kind == "restriction_start" and e.subject == "para14a" for e in run.events)


def four_chargers_scenario(broken: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, LimitChecker]:
    if broken:
        no_op_limiter(monkeypatch)
    evs = tuple(EVParams(soc_initial=20.0 + 10 * i, phase_switching=i % 2 == 0) for i in range(4))
    sim = SiteSim(
        SiteParams(evs=evs, heat_pump=None, battery=BatteryParams(soc_initial=50.0)),
        start=datetime(2025, 6, 14, 17, 0, tzinfo=UTC),
    )  # Saturday evening, all cars home
    circuits = [(["ev1", "ev2", "ev3", "ev4"], 32.0)]
    limits = ControlLimits.model_validate(
        {"circuits": [{"name": "garage", "devices": circuits[0][0], "max_current_a": 32.0}]}
    )
    cycle = site_cycle(
        sim, limits, GridSpec(import_w=3 * 230 * 50, phase_import_w=230 * 50), ev_mode="now", circuit_a=32.0
    )
    checker = LimitChecker(lambda t: Limits(phase_w=230 * 50, circuits=circuits))
    run = run_loop(sim, cycle, 3600, checker)
    return run, checker


@pytest.mark.parametrize("broken", [False, True], ids=["limiter", "no-op limiter"])
def test_four_chargers_on_one_fuse(broken: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if broken:  # the law itself shares the circuit; break it too, so only the limiter could hold it
        monkeypatch.setattr(EvCharging, "_fit_circuit", lambda self, plan: plan)
    run, checker = four_chargers_scenario(broken, monkeypatch)
    if broken:
        assert checker.violations["circuit0"] > 10
        return
    assert checker.total == 0, (checker.violations, checker.max_excess_w)
    assert run.ev_wh > 7000  # they do charge, sharing 32 A
    currents = [run.last[f"ev{i}.current"] for i in range(1, 5)]
    assert currents == pytest.approx([8.0] * 4, abs=0.11)  # fairly: 32 A / 4 each


def test_four_chargers_limiter_alone_holds_the_circuit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EvCharging, "_fit_circuit", lambda self, plan: plan)
    _, checker = four_chargers_scenario(False, monkeypatch)
    assert checker.total == 0, (checker.violations, checker.max_excess_w)


def test_grid_meter_and_charger_going_stale_mid_day() -> None:
    sim = SiteSim(
        SiteParams(evs=(EVParams(soc_initial=30.0),), battery=BatteryParams(soc_initial=40.0)),
        start=datetime(2025, 6, 15, 9, 0, tzinfo=UTC),
    )
    t0 = sim.t
    meter_off = (t0 + 3600, t0 + 5400)
    charger_off = (t0 + 7200, t0 + 9000)

    def silent(t: float) -> set[str]:
        return ({"grid"} if meter_off[0] <= t < meter_off[1] else set()) | (
            {"ev1"} if charger_off[0] <= t < charger_off[1] else set()
        )

    limits = ControlLimits(feed_in_limit_pct=60.0, fallback_after_s=15.0)
    cycle = site_cycle(sim, limits, GridSpec(import_w=3 * 230 * 35))
    checker = LimitChecker(lambda t: Limits(export_w=0.6 * 8000, import_w=3 * 230 * 35))
    run = run_loop(sim, cycle, 3 * 3600, checker, silent=silent, stale_after_s=30.0)
    assert checker.total == 0, (checker.violations, checker.max_excess_w)
    starts = {e.subject: e.ts.timestamp() for e in run.events if e.kind == "fallback_start"}
    ends = {e.subject: e.ts.timestamp() for e in run.events if e.kind == "fallback_end"}
    # within the configured time (plus the one cycle it takes to see it), and back when data returns
    assert 0 < starts["grid"] - meter_off[0] <= 15.0 + DT
    assert 0 <= ends["grid"] - meter_off[1] <= DT
    assert 0 < starts["ev1"] - charger_off[0] <= 15.0 + DT
    assert 0 <= ends["ev1"] - charger_off[1] <= DT


def peak_scenario(broken: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, LimitChecker]:
    if broken:
        no_op_limiter(monkeypatch)
    from wattwerk.sim import HouseParams

    sim = SiteSim(
        SiteParams(
            house=HouseParams(annual_kwh=25_000),
            evs=(EVParams(soc_initial=10.0),),
            battery=BatteryParams(
                capacity_wh=30_000, soc_initial=90.0, max_discharge_w=8000, max_charge_w=8000
            ),
        ),
        start=datetime(2025, 1, 18, 16, 0, tzinfo=UTC),
    )
    limits = ControlLimits(peak_shaving_w=8000.0)
    cycle = site_cycle(sim, limits, GridSpec(import_w=3 * 230 * 63), ev_mode="now")
    checker = LimitChecker(lambda t: Limits(import_w=8000.0))
    run = run_loop(sim, cycle, 2 * 3600, checker)
    return run, checker


@pytest.mark.parametrize("broken", [False, True], ids=["limiter", "no-op limiter"])
def test_peak_shaving(broken: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    run, checker = peak_scenario(broken, monkeypatch)
    if broken:
        assert checker.violations["import"] > 10
        return
    assert checker.total == 0, (checker.violations, checker.max_excess_w)
    assert run.ev_wh > 6_000  # the car still charges, with the battery's help
