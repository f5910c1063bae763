"""Simulated devices one by one: battery, EV charger, heat pump, heating rod, PV curtailment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.sim import BatteryParams, EVParams, HeatPumpParams, RodParams, SiteParams, SiteSim
from wattwerk.sim.battery import Battery
from wattwerk.sim.device import BadCommand
from wattwerk.sim.ev import CHARGING, NO_CAR, PLUGGED, EVCharger
from wattwerk.sim.heatpump import HeatPump, carnot_cop
from wattwerk.sim.rod import HeatingRod

DT = 60.0
MONDAY = datetime(2025, 3, 24, tzinfo=UTC)


class Const:
    """A stand-in for a YearlySeries: the same value at every instant."""

    def __init__(self, value: float) -> None:
        self.value = value

    def at(self, t: float) -> float:
        return self.value


# ---------------------------------------------------------------- battery


def test_battery_self_consumption_zeroes_the_grid_within_its_limits() -> None:
    bat = Battery("bat", BatteryParams())
    assert bat.update(1200.0, DT) == pytest.approx(1200.0)  # import 1.2 kW: discharges 1.2 kW
    assert bat.update(-3000.0, DT) == pytest.approx(-3000.0)  # export 3 kW: charges 3 kW
    assert bat.update(9000.0, DT) == pytest.approx(5000.0)  # capped at max discharge
    assert bat.update(-9000.0, DT) == pytest.approx(-5000.0)  # capped at max charge


def test_battery_respects_soc_limits_and_power_limits() -> None:
    p = BatteryParams(
        capacity_wh=2000, max_charge_w=3000, max_discharge_w=2500, soc_min=10, soc_max=90, soc_initial=50
    )
    bat = Battery("bat", p)
    bat.apply("battery_setpoint", -10_000)  # charge far beyond the limit
    socs, powers = [], []
    for _ in range(120):
        powers.append(bat.update(0.0, DT))
        socs.append(bat.soc)
    assert min(powers) >= -3000 - 1e-9
    assert max(socs) <= 90 + 1e-9 and socs[-1] == pytest.approx(90)
    assert powers[-1] == 0.0  # full: no more charging
    bat.apply("battery_setpoint", 10_000)
    for _ in range(120):
        powers.append(bat.update(0.0, DT))
        socs.append(bat.soc)
    assert max(powers) <= 2500 + 1e-9
    assert min(socs) >= 10 - 1e-9 and socs[-1] == pytest.approx(10)
    assert powers[-1] == 0.0


def test_battery_round_trip_loses_what_the_efficiencies_say() -> None:
    p = BatteryParams(charge_eff=0.9, discharge_eff=0.92, soc_initial=20, soc_min=20)
    bat = Battery("bat", p)
    bat.apply("battery_setpoint", -4000)
    while bat.soc < 80:
        bat.update(0.0, DT)
    bat.apply("battery_setpoint", 4000)
    while bat.update(0.0, DT) > 0:
        pass
    assert bat.soc == pytest.approx(20)
    assert bat.energy_discharge / bat.energy_charge == pytest.approx(0.9 * 0.92, rel=1e-9)


def test_battery_follows_a_setpoint_then_returns_to_self_consumption() -> None:
    bat = Battery("bat", BatteryParams())
    bat.apply("battery_setpoint", -1500)
    assert bat.update(800.0, DT) == pytest.approx(-1500)  # charges although the house imports
    bat.apply("mode", 0)
    assert bat.update(800.0, DT) == pytest.approx(800)
    with pytest.raises(BadCommand):
        bat.apply("mode", 5)


# ---------------------------------------------------------------- EV


def ev_site(**ev) -> SiteSim:
    params = SiteParams(pv=(), battery=None, heat_pump=None, rod=None, evs=(EVParams(**ev),))
    return SiteSim(params, MONDAY)


def test_ev_leaves_in_the_morning_and_charges_at_max_on_arrival() -> None:
    sim = ev_site(soc_initial=100.0, jitter_min=0.0)
    ev = sim.evs[0]
    states = {}
    for _ in range(24 * 60):
        sim.step(DT)
        local = sim.now.astimezone(ev.tz)
        states[local.strftime("%H:%M")] = (ev.state, ev.power, ev.soc)
    assert states["07:00"][0] == PLUGGED  # full, so not charging
    assert states["12:00"][0] == NO_CAR
    state, power, soc = states["17:45"]
    assert state == CHARGING
    assert power == pytest.approx(3 * 230 * 16)
    used = 40 * 180 / 60_000 * 100  # km per day * Wh/km as % of 60 kWh
    assert 100 - used < soc < 100
    assert states["23:59"] == (PLUGGED, 0.0, pytest.approx(100.0))  # charged up and stopped


def test_ev_follows_current_phase_and_enable_commands() -> None:
    sim = ev_site(soc_initial=20.0)
    ev = sim.evs[0]
    sim.step(DT)  # Monday 00:00 local: at home and charging
    assert ev.power == pytest.approx(3 * 230 * 16)
    sim.command("ev1", "current_limit", 10)
    sim.step(DT)
    assert ev.power == pytest.approx(3 * 230 * 10) and ev.current == pytest.approx(10)
    sim.command("ev1", "phases", 1)
    sim.step(DT)
    assert ev.power == pytest.approx(230 * 10)
    sim.command("ev1", "current_limit", 32)  # above the charger's maximum: capped
    sim.step(DT)
    assert ev.power == pytest.approx(230 * 16)
    sim.command("ev1", "current_limit", 5)  # below the minimum: pauses
    sim.step(DT)
    assert ev.power == 0.0 and ev.state == PLUGGED
    sim.command("ev1", "current_limit", 6)
    sim.command("ev1", "enable", 0)
    sim.step(DT)
    assert ev.power == 0.0
    sim.command("ev1", "enable", 1)
    sim.step(DT)
    assert ev.power == pytest.approx(230 * 6)
    assert ev.energy_needed_wh == pytest.approx((60_000 - ev.stored_wh) / 0.9)
    assert ev.departure is not None and ev.departure > sim.now


def test_ev_without_phase_switching_rejects_a_phase_change() -> None:
    ev = EVCharger("ev1", EVParams(phase_switching=False), "Europe/Berlin", 1)
    with pytest.raises(BadCommand, match="cannot switch"):
        ev.apply("phases", 1)
    with pytest.raises(BadCommand):
        ev.apply("current_limit", -1)
    ev.apply("phases", 3)
    assert ev.phases == 3


def test_ev_commute_jitter_is_seeded() -> None:
    a = EVCharger("ev1", EVParams(), "Europe/Berlin", 5)
    b = EVCharger("ev1", EVParams(), "Europe/Berlin", 5)
    c = EVCharger("ev1", EVParams(), "Europe/Berlin", 6)
    days = [MONDAY.date() + timedelta(days=i) for i in range(5)]
    assert [a.trip(d) for d in days] == [b.trip(d) for d in days]
    assert [a.trip(d) for d in days] != [c.trip(d) for d in days]
    assert a.trip(MONDAY.date() + timedelta(days=5)) is None  # Saturday: stays home


# ---------------------------------------------------------------- heat pump


def make_hp(**kw) -> HeatPump:
    return HeatPump("hp", HeatPumpParams(**kw), Const(0.0))  # 0 °C outside: steady heating demand


def run_hp(
    hp: HeatPump, t: float, seconds: float, temps: list[float] | None = None
) -> tuple[float, list[bool]]:
    ons = []
    end = t + seconds
    while t < end:
        hp.update(t, DT)
        ons.append(hp.on)
        if temps is not None:
            temps.append(hp.temperature)
        t += DT
    return t, ons


def test_heat_pump_thermostat_and_cop() -> None:
    hp = make_hp(store_initial_c=30.0)
    _, ons = run_hp(hp, 0.0, 4 * 3600)
    assert ons[0] and not all(ons)  # cold store: starts, then cycles
    assert 40 - 5 - 1 < hp.temperature < 40 + 1
    hp_on_cop = carnot_cop(0.0, 45.0, 0.45, 1.5, 7.0)
    assert 2.5 < hp_on_cop < 4.5
    assert carnot_cop(-20.0, 60.0, 0.45, 1.5, 7.0) < carnot_cop(10.0, 35.0, 0.45, 1.5, 7.0)
    assert hp.energy == 0.0  # counters are kept by the site, not here
    assert hp.heat_energy > 0


def test_heat_pump_minimum_run_and_pause_times() -> None:
    hp = make_hp(store_initial_c=30.0, min_run_s=1200, min_pause_s=900)
    hp.update(0.0, DT)
    assert hp.on
    hp.apply("sgready", 1)  # block: still has to finish its minimum run
    t, ons = run_hp(hp, DT, 1800)
    first_off = ons.index(False)
    assert (first_off + 1) * DT >= 1200  # on for 20 minutes at least
    assert not any(ons[first_off:])
    hp.apply("sgready", 4)  # force on: after the minimum pause
    switched_off_at = (first_off + 1) * DT
    _, ons2 = run_hp(hp, t, 1800)
    first_on = ons2.index(True)
    assert t + first_on * DT - switched_off_at >= 900


def test_sgready_block_keeps_it_off_and_force_heats_to_the_maximum() -> None:
    hp = make_hp(store_initial_c=38.0, min_run_s=0, min_pause_s=0)
    hp.apply("sgready", 1)
    _, ons = run_hp(hp, 0.0, 3600)
    assert not any(ons)
    assert hp.temperature < 38.0  # the store cooled while blocked
    hp.apply("sgready", 4)
    temps: list[float] = []
    _, ons = run_hp(hp, 3600, 5 * 3600, temps)
    assert ons[0]
    assert hp.params.max_store_c - 1 < max(temps) <= hp.params.max_store_c + 0.5
    assert min(temps[ons.index(False) :]) > hp.params.max_store_c - hp.params.hysteresis_k - 1  # kept hot


def test_sgready_3_raises_the_setpoint() -> None:
    normal, boosted = make_hp(min_run_s=0, min_pause_s=0), make_hp(min_run_s=0, min_pause_s=0)
    boosted.apply("sgready", 3)
    plain: list[float] = []
    raised: list[float] = []
    run_hp(normal, 0.0, 6 * 3600, plain)
    run_hp(boosted, 0.0, 6 * 3600, raised)
    assert max(plain) < normal.params.setpoint_c + 0.5
    assert max(raised) > boosted.params.setpoint_c + boosted.params.boost_k - 1
    assert max(raised) < boosted.params.setpoint_c + boosted.params.boost_k + 0.5


# ---------------------------------------------------------------- heating rod


def make_rod(**kw) -> HeatingRod:
    kw.setdefault("keep_min_c", None)
    return HeatingRod("rod", RodParams(**kw), Const(200.0))


def test_rod_follows_its_setpoint_up_to_its_maximum() -> None:
    rod = make_rod(tank_initial_c=40.0)
    assert rod.update(0.0, DT) == 0.0  # no command, no own thermostat: off
    rod.apply("power", 1234)
    assert rod.update(DT, DT) == pytest.approx(1234)
    rod.apply("power", 10_000)
    assert rod.update(2 * DT, DT) == pytest.approx(3000)
    with pytest.raises(BadCommand):
        rod.apply("power", -5)


def test_rod_cuts_off_at_the_tank_maximum() -> None:
    rod = make_rod(tank_initial_c=70.0, max_tank_c=75.0, hysteresis_k=3.0)
    rod.apply("power", 3000)
    temps, powers = [], []
    for i in range(600):
        powers.append(rod.update(i * DT, DT))
        temps.append(rod.temperature)
    assert max(temps) <= 75.0 + 1e-9
    assert max(temps) == pytest.approx(75.0)
    assert 0.0 in powers  # cut off
    off = powers.index(0.0)
    assert 3000 in powers[off:]  # and back on once cooled by the hysteresis
    assert min(temps[off:]) >= 75.0 - 3.0 - 0.1


def test_rod_relay_stages_quantise_the_setpoint() -> None:
    rod = make_rod(tank_initial_c=40.0, stages_w=(1000.0, 2000.0, 3000.0))
    rod.apply("power", 2500)
    assert rod.update(0.0, DT) == 2000.0
    rod.apply("power", 900)
    assert rod.update(DT, DT) == 0.0


def test_rod_own_thermostat_keeps_the_water_warm() -> None:
    rod = make_rod(tank_initial_c=30.0, keep_min_c=45.0)
    assert rod.update(0.0, DT) == 3000.0


# ---------------------------------------------------------------- PV curtailment


def test_curtailment_caps_pv_at_the_limit() -> None:
    params = SiteParams(battery=None, evs=(), heat_pump=None, rod=None)
    free = SiteSim(params, datetime(2025, 6, 3, 6, tzinfo=UTC))
    capped = SiteSim(params, datetime(2025, 6, 3, 6, tzinfo=UTC))
    capped.command("pv1", "power_limit", 2000)
    limited = 0
    for _ in range(8 * 60):
        free.step(DT)
        capped.step(DT)
        assert capped.pv[0].power <= 2000 + 1e-9
        assert capped.pv[0].power == pytest.approx(min(free.pv[0].power, 2000))
        limited += free.pv[0].power > 2000
    assert limited > 60  # the limit actually bit for over an hour
    assert capped.pv[0].energy < free.pv[0].energy
    capped.command("pv1", "power_limit", 1e9)
    capped.step(DT)
    free.step(DT)
    assert capped.pv[0].power == pytest.approx(free.pv[0].power)


def test_long_steps_never_push_the_stores_past_their_maximum() -> None:
    hp = make_hp(store_initial_c=55.0, min_run_s=0, min_pause_s=0)
    hp.outdoor = Const(20.0)  # no heating demand: all heat stays in the store
    hp.apply("sgready", 4)
    rod = make_rod(tank_initial_c=70.0)
    rod.apply("power", 3000)
    hp_top = rod_top = 0.0
    for i in range(12):
        hp.update(i * 3600.0, 3600.0)
        rod.update(i * 3600.0, 3600.0)
        hp_top, rod_top = max(hp_top, hp.temperature), max(rod_top, rod.temperature)
    assert hp_top == pytest.approx(hp.params.max_store_c)  # reached, never passed
    assert rod_top == pytest.approx(rod.params.max_tank_c)


@pytest.mark.parametrize(
    "bad",
    [BatteryParams(capacity_wh=0), BatteryParams(soc_min=60, soc_initial=50), BatteryParams(charge_eff=1.2)],
)
def test_impossible_battery_parameters_are_refused(bad: BatteryParams) -> None:
    with pytest.raises(ValueError, match="battery"):
        Battery("bat", bad)


@pytest.mark.parametrize("bad", [EVParams(phases=2), EVParams(min_current_a=20), EVParams(capacity_wh=-1)])
def test_impossible_ev_parameters_are_refused(bad: EVParams) -> None:
    with pytest.raises(ValueError, match="ev1"):
        EVCharger("ev1", bad, "Europe/Berlin", 1)
