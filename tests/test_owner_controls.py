"""The owner's controls cycle by cycle on an injected clock: a mode applies within two cycles, a
boost ends by itself, the limiter still caps everything, a plan reaches the charge point, the
settings survive a new ``OwnerControls`` on the same data dir, bad input gets a clear refusal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from test_control_helpers import T0, by_channel, snap
from wattwerk.config import parse_config
from wattwerk.config.loader import DEMO_SITE
from wattwerk.control.site import build_cycle
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.owner import FILE, OwnerControls, OwnerError

TZ = "Europe/Berlin"
RIPPLE = (
    "control:\n  ripple:\n    contacts: [io.k1]\n    levels:\n"
    "      - {pattern: '1', feed_in_pct: 100, consumption_pct: 0}\n\nstrategy:"
)
# a quiet evening: the house imports 500 W, no PV, the battery at its reserve, the car plugged in
EVENING = dict(
    grid__power=500.0,
    pv1__power=0.0,
    bat__power=0.0,
    bat__soc=5.0,
    ev1__state=1.0,
    ev1__power=0.0,
    ev1__energy=1000.0,
    hp__power=0.0,
    rod__power=0.0,
)


class Site:
    """The demo site's control (no planner) with the owner's controls, on a clock tests move."""

    def __init__(self, data_dir: Path, ev_mode: str = "off", t: float = 0.0) -> None:
        text = DEMO_SITE.read_text().replace("mode: planner", "mode: self_consumption")
        text = text.replace("ev_default_mode: pv", f"ev_default_mode: {ev_mode}").replace("strategy:", RIPPLE)
        self.cfg = parse_config(text)
        self.t = t
        self.step = CycleStep(build_cycle(self.cfg), tz=TZ)
        self.owner = OwnerControls(
            data_dir,
            self.step,
            None,
            {d.id: d.role for d in self.cfg.devices},
            TZ,
            lambda: T0 + timedelta(seconds=self.t),
        )
        self.step.on_cycle = self.owner.tick
        self.owner.restore({"ev1": True})

    def cycle(self, dt: float = 1.0, **values: float) -> dict[str, float]:
        self.t += dt
        return by_channel(self.step(snap(self.t, **{**EVENING, **values})))


def test_pv_applies_within_two_cycles_and_says_why_the_car_waits(tmp_path: Path) -> None:
    site = Site(tmp_path, ev_mode="now")
    assert site.cycle()["ev1.enable"] == 1.0  # "now": charging from the grid
    site.owner.apply("ev1", {"mode": "off"})
    assert site.cycle()["ev1.enable"] == 0.0
    site.owner.apply("ev1", {"mode": "pv"}, source="page")
    outs = [site.cycle(grid__power=-1200.0) for _ in range(2)]
    assert site.step.modes()["ev1"] == "pv" and outs[-1]["ev1.enable"] == 0.0
    # 6 A on one phase (phase switching): 1.4 kW; 1.2 kW spare now
    assert site.step.reasons["ev1"] == "waiting for 1.4 kW surplus (now 1.2 kW)"
    assert site.owner.device_state("ev1")["reason"].startswith("waiting for 1.4 kW")


def test_a_boost_runs_then_ends_by_itself(tmp_path: Path) -> None:
    site = Site(tmp_path)
    assert site.cycle()["rod.power"] == 0.0  # no surplus: the rod is off
    site.owner.apply("rod", {"boost_minutes": 10})
    assert site.cycle(bat__soc=50.0)["rod.power"] == 3000.0
    assert site.step.reasons["rod"] == "boost until 12:10 (your choice)"
    assert site.cycle(598.0, bat__soc=50.0)["rod.power"] == 3000.0  # 1 s before its end
    assert site.cycle(1.0, bat__soc=50.0)["rod.power"] == 0.0  # 10 min after the press: back to the law
    assert site.owner.device_state("rod")["override"] is None
    site.owner.apply("rod", {"off_hours": 2})
    assert site.cycle(grid__power=-4000.0)["rod.power"] == 0.0  # surplus, but off by the owner
    site.owner.apply("rod", {"cancel": True})
    assert site.cycle(grid__power=-4000.0)["rod.power"] > 0.0


def test_the_limiter_has_the_last_word_over_a_boost(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.cycle()
    site.cycle(1000.0)  # past the heat pump's minimum dwell time
    site.owner.apply("hp", {"boost_minutes": 60})
    site.owner.apply("rod", {"boost_minutes": 60})
    out = site.cycle()
    assert (out["hp.sgready"], out["rod.power"]) == (4.0, 3000.0)
    out = site.cycle(io__k1=1.0)  # the grid operator blocks consumption (ripple control 0 %)
    assert out["rod.power"] == 0.0
    assert site.step.reasons["rod"].startswith("blocked by ripple control (0.0 kW max) — boost until")


def test_battery_mode_and_reserve(tmp_path: Path) -> None:
    site = Site(tmp_path)
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == 500.0  # self-consumption: covers the house
    assert site.step.reasons["bat"] == "self-consumption: discharging 0.5 kW"
    site.owner.apply("bat", {"mode": "hold"})
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == 0.0
    assert site.step.reasons["bat"] == "hold (no discharge): idle"
    site.owner.apply("bat", {"mode": "charge"})
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == -5000.0  # from the grid now, full power
    site.owner.apply("bat", {"mode": "self_consumption", "reserve_soc": 60})
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == 0.0  # below the owner's reserve
    assert site.step.reasons["bat"] == "self-consumption: idle: at its reserve (50 % of 60 %)"
    assert site.owner.device_state("bat")["reserve_soc"] == 60.0


def test_a_plan_for_tomorrow_reaches_the_charge_point(tmp_path: Path) -> None:
    site = Site(tmp_path, ev_mode="pv")
    site.owner.apply("ev1", {"plan": {"energy_kwh": 40, "departure": "07:00", "day": "tomorrow"}})
    point = site.step.point("ev1")
    assert point.target_energy_wh == 40000.0
    assert point.departure.isoformat() == "2025-06-15T07:00:00+02:00"
    assert site.owner.settings["ev1"]["plan"]["on"] == "2025-06-15"
    # 40 kWh in 19 h fits on the minimum; the law raises pv to min+pv: it charges now
    assert site.cycle()["ev1.enable"] == 1.0
    site.owner.apply("ev1", {"plan": None})
    assert site.step.point("ev1").target_energy_wh is None and site.owner.departures == {}


def test_a_weekly_plan_moves_to_the_next_departure(tmp_path: Path) -> None:
    site = Site(tmp_path, ev_mode="pv")  # T0 is Saturday 12:00 local
    site.owner.apply("ev1", {"plan": {"energy_kwh": 10, "departure": "12:30", "days": ["sat", "mon"]}})
    assert site.owner.departures["ev1"].isoformat() == "2025-06-14T12:30:00+02:00"
    site.cycle(1800.0)
    assert site.owner.departures["ev1"].isoformat() == "2025-06-16T12:30:00+02:00"


def test_settings_survive_a_restart_and_ended_ones_are_dropped(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.owner.apply("ev1", {"mode": "minpv", "min_current_a": 8, "phases": 1})
    site.owner.apply("bat", {"mode": "hold", "reserve_soc": 30})
    site.owner.apply("hp", {"boost_minutes": 5})
    site.owner.apply(
        "ev1", {"plan": {"target_soc": 80, "battery_kwh": 60, "departure": "07:00", "days": ["mon"]}}
    )
    stored = json.loads((tmp_path / FILE).read_text())
    assert stored["devices"]["bat"] == {"mode": "hold", "reserve_soc": 30.0}
    assert not list(tmp_path.glob("*.tmp"))  # written through a renamed temporary file
    again = Site(tmp_path, t=600.0)  # ten minutes later: the boost has ended
    p = again.step.point("ev1")
    assert (p.mode, p.min_current_a, p.phases, p.phase_switching) == ("minpv", 8.0, 1, False)
    assert (p.target_soc, p.capacity_wh) == (80.0, 60000.0)
    assert again.step.cycle.battery.config.mode == "hold"
    assert again.owner.device_state("hp")["override"] is None and again.step.heaters["hp"].override is None


def test_an_unreadable_store_starts_from_the_site_file(tmp_path: Path, caplog) -> None:
    (tmp_path / FILE).write_text("{not json")
    site = Site(tmp_path, ev_mode="pv")
    assert site.step.modes()["ev1"] == "pv"
    assert "unreadable" in caplog.text


@pytest.mark.parametrize(
    ("device", "change", "message"),
    [
        ("ev1", {"mode": "turbo"}, "mode: Input should be 'off', 'now', 'minpv' or 'pv'"),
        ("ev1", {"plan": {"energy_kwh": 10, "target_soc": 80, "departure": "07:00"}}, "either energy_kwh or"),
        ("ev1", {"plan": {"energy_kwh": 10, "departure": "7 am"}}, "plan.departure: String should match"),
        ("ev1", {"plan": {"energy_kwh": 10, "departure": "07:00", "day": "today"}}, "has passed already"),
        ("ev1", {}, "send the settings to change"),
        ("bat", {"mode": "planner"}, "without the planner"),
        ("hp", {"boost_minutes": 10, "off_hours": 1}, "give boost_minutes, off_hours or cancel"),
        ("pv1", {"mode": "pv"}, "'pv1' has no owner settings (devices with settings: bat, ev1, hp, rod)"),
        ("ev1", {"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_in_plain_words(tmp_path: Path, device, change, message) -> None:
    site = Site(tmp_path, ev_mode="pv")
    with pytest.raises(OwnerError) as err:
        site.owner.apply(device, change)
    assert message in str(err.value)
    assert site.step.modes()["ev1"] == "pv" and not (tmp_path / FILE).exists()  # nothing changed


def test_phases_are_refused_where_the_charger_cannot_switch(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.owner._switchable = {}
    site.step.set_ev_phases("ev1", 3)
    with pytest.raises(OwnerError, match="cannot switch phases"):
        site.owner.apply("ev1", {"phases": 1})


def test_the_owners_battery_mode_beats_the_planners_hold(tmp_path: Path) -> None:
    from wattwerk.control.base import Signals

    site = Site(tmp_path)
    site.step.signals = lambda: Signals(hold_battery=True)  # the planner: keep the energy for later
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == 0.0
    site.owner.apply("bat", {"mode": "self_consumption"})
    assert site.cycle(bat__soc=50.0)["bat.battery_setpoint"] == 500.0


def test_a_refused_change_changes_nothing_and_a_passed_plan_does_not_block_the_rest(tmp_path: Path) -> None:
    site = Site(tmp_path, ev_mode="pv")
    site.owner._switchable = {}
    site.step.set_ev_phases("ev1", 3)
    with pytest.raises(OwnerError, match="cannot switch phases"):
        site.owner.apply("ev1", {"mode": "now", "phases": 1})
    assert site.step.modes()["ev1"] == "pv"  # the mode in the same request was not applied
    site.owner.apply("ev1", {"mode": "now", "plan": {"energy_kwh": 5, "departure": "13:00", "day": "today"}})
    again = Site(tmp_path, t=2 * 3600.0)  # 14:00 local: the one-off departure has passed
    assert again.step.modes()["ev1"] == "now" and again.step.point("ev1").target_energy_wh is None
    nonsense = {"version": 1, "devices": {"ev1": 7, "hp": {"override": {"until": "soon"}}}}
    (tmp_path / FILE).write_text(json.dumps(nonsense))
    third = Site(tmp_path, ev_mode="pv")  # nonsense in the file: each device is skipped, the edge starts
    assert third.step.modes()["ev1"] == "pv"


def test_reasons_carry_a_key_and_parameters_for_the_pages(tmp_path: Path) -> None:
    """The decision is an English sentence (MQTT, logs) with its key and parameters (the pages'
    catalogues); nested reasons (the limits, the battery's mode) keep theirs."""
    site = Site(tmp_path, ev_mode="pv")
    site.cycle(grid__power=-1200.0)
    why = site.owner.device_state("ev1")["why"]
    assert why["key"] == "ev.waiting" and why["text"] == "waiting for 1.4 kW surplus (now 1.2 kW)"
    assert why["vars"]["need_kw"] == pytest.approx(1.38) and why["vars"]["have_kw"] == 1.2
    site.owner.apply("rod", {"boost_minutes": 60})
    site.cycle(io__k1=1.0)  # ripple control 0 %: the boost is held
    rod = site.owner.device_state("rod")["why"]
    assert rod["key"] == "heat.held_then"
    assert rod["vars"]["held"]["vars"]["limits"][0] == {
        "key": "limit.ripple",
        "vars": {"max_kw": 0.0},
        "text": "ripple control (0.0 kW max)",
    }
    then = rod["vars"]["then"]
    assert then["key"] == "heat.boost" and then["vars"]["until_at"] == "2025-06-14T13:00+02:00"  # site time
    bat = site.owner.device_state("bat")["why"]
    assert bat["key"] == "battery.state" and bat["vars"]["mode"]["key"] == "battery.mode.self_consumption"


def test_a_car_waiting_for_its_planned_slots_says_which() -> None:
    from wattwerk.control.reasons import Reason
    from wattwerk.edge.owner import cheapest

    tz = ZoneInfo(TZ)
    waiting = Reason("ev.waiting", need_kw=1.4, have_kw=0.0)
    slots = [{"start": f"2026-10-25T0{h}:{m:02d}:00+00:00"} for h in (1, 2) for m in (0, 15, 30, 45)]
    slots.append({"start": "2026-10-25T05:00:00+00:00"})  # a later run is not named
    got = cheapest(waiting, {"slots": slots}, tz)
    assert (got.key, str(got)) == ("ev.cheapest", "waiting for the cheapest hours 02:00–04:00")
    assert cheapest(waiting, {"slots": []}, tz) is waiting
    assert cheapest(Reason("ev.no_car"), {"slots": slots}, tz).key == "ev.no_car"


def test_the_price_in_force_is_recorded_each_cycle_and_the_cars_soc_kept(tmp_path: Path) -> None:
    """The planner's slot price goes to the store as ``edge.price_import`` (session costs use it);
    no price, nothing recorded. The car's SoC is shown where the charger reports one."""
    from wattwerk.control.base import Signals

    site = Site(tmp_path)
    got: list = []
    site.owner.record = got.extend
    site.cycle()
    assert got == [] and site.owner.device_state("ev1")["car_soc"] is None
    site.step.signals = lambda: Signals(price=0.3125)
    site.cycle(ev1__soc=41.0)
    (r,) = got
    assert (r.channel, r.value, r.ts) == ("edge.price_import", 0.3125, T0 + timedelta(seconds=2))
    assert site.owner.device_state("ev1")["car_soc"] == 41.0


def test_the_session_now_fills_from_plug_in(tmp_path: Path) -> None:
    """The session at the charger counts from plug-in: energy, the grid's part (PV share) and the
    cost at the price in force, cycle by cycle."""
    from wattwerk.control.base import Signals

    site = Site(tmp_path, ev_mode="now")
    site.step.signals = lambda: Signals(price=0.3)
    site.cycle()  # plugged in: the session starts
    for _ in range(10):  # a minute at 11 kW, 8 kW of it from the grid
        site.cycle(6.0, ev1__power=11000.0, grid__power=8000.0)
    s = site.owner.device_state("ev1")["session"]
    assert s["energy_wh"] == pytest.approx(11000 / 60, abs=0.1) and s["duration_s"] == 60
    assert s["pv_share_pct"] == pytest.approx(100 * 3 / 11, abs=0.1)
    assert s["cost_eur"] == pytest.approx(8 / 60 * 0.3, abs=0.005)


def test_a_plan_names_its_car_for_the_sessions(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.owner.apply("ev1", {"plan": {"energy_kwh": 20, "departure": "07:00", "car": "Zoe"}})
    assert site.owner.cars() == {"ev1": "Zoe"}
    with pytest.raises(OwnerError, match="car"):
        site.owner.apply("ev1", {"plan": {"energy_kwh": 20, "departure": "07:00", "car": "x" * 41}})
    site.owner.apply("ev1", {"plan": None})
    assert site.owner.cars() == {}
