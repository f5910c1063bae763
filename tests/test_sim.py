"""Site simulator as a whole: energy balance, counters, channels, meter state, determinism, commands."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wattwerk.model import Channel, Kind
from wattwerk.sim import HouseParams, PVParams, SiteParams, SiteSim
from wattwerk.sim.device import BadCommand

START = datetime(2025, 3, 24, tzinfo=UTC)  # a Monday in spring: PV, heating and commuting all active
DT = 60.0

POWERS = {  # counter -> (power channel, sign in the grid balance)
    "house.energy": ("house.power", 1),
    "pv1.energy": ("pv1.power", -1),
    "ev1.energy": ("ev1.power", 1),
    "hp.energy": ("hp.power", 1),
    "rod.energy": ("rod.power", 1),
}


def balance_terms(c: dict[str, float]) -> float:
    """house + ev + heat pump + rod + battery charge - battery discharge - pv, from powers (W)."""
    return (
        c["house.power"] + c["ev1.power"] + c["hp.power"] + c["rod.power"] - c["bat.power"] - c["pv1.power"]
    )


def test_energy_is_conserved_every_step_for_a_week() -> None:
    params = SiteParams(house=HouseParams(noise=0.1))
    sim = SiteSim(params, START)
    integrated = dict.fromkeys(
        [*POWERS, "bat.energy_charge", "bat.energy_discharge", "grid.energy_import", "grid.energy_export"],
        0.0,
    )
    seen = {"import": False, "export": False, "charge": False, "discharge": False, "ev": False, "hp": False}
    for _ in range(7 * 1440):
        sim.step(DT)
        c = sim.channels()
        # flows balance at the grid point within float precision
        scale = max(1.0, abs(c["grid.power"]), abs(c["pv1.power"]), c["house.power"])
        assert abs(c["grid.power"] - balance_terms(c)) <= 1e-9 * scale
        # and so do the counters, accumulated separately
        assert abs(sim.balance_error_wh()) <= 1e-9 * (
            c["grid.energy_import"] + c["grid.energy_export"] + c["pv1.energy"] + 1.0
        )
        # counters agree with the powers held over the step
        for counter, (power, _sign) in POWERS.items():
            integrated[counter] += c[power] * DT / 3600
        integrated["bat.energy_charge"] += max(-c["bat.power"], 0.0) * DT / 3600
        integrated["bat.energy_discharge"] += max(c["bat.power"], 0.0) * DT / 3600
        integrated["grid.energy_import"] += max(c["grid.power"], 0.0) * DT / 3600
        integrated["grid.energy_export"] += max(-c["grid.power"], 0.0) * DT / 3600
        seen["import"] |= c["grid.power"] > 100
        seen["export"] |= c["grid.power"] < -100
        seen["charge"] |= c["bat.power"] < -100
        seen["discharge"] |= c["bat.power"] > 100
        seen["ev"] |= c["ev1.power"] > 100
        seen["hp"] |= c["hp.power"] > 100
    c = sim.channels()
    for counter, total in integrated.items():
        assert c[counter] == pytest.approx(total, rel=1e-9, abs=1e-6), counter
    assert all(seen.values()), seen  # the week exercised every flow in both directions
    assert sim.now == START + timedelta(days=7)


def test_channels_are_valid_and_in_our_units() -> None:
    sim = SiteSim(SiteParams(), START + timedelta(hours=12))
    sim.run(3600, DT)
    channels = sim.channels()
    info = sim.channel_info()
    for name in channels:
        assert math.isfinite(channels[name]), name
        Channel.of(name)  # raises for a name or quantity the model does not know
    assert info["grid.power"].unit == "W" and info["grid.power"].kind is Kind.POWER
    assert info["grid.energy_import"].unit == "Wh" and info["grid.energy_import"].kind is Kind.COUNTER
    assert info["bat.soc"].unit == "%" and info["hp.temperature"].unit == "°C"
    for required in (
        "grid.energy_export",
        "pv1.energy",
        "bat.energy_charge",
        "bat.energy_discharge",
        "house.energy",
        "ev1.soc",
        "hp.energy",
        "rod.temperature",
    ):
        assert required in channels
    assert 0.0 <= channels["bat.soc"] <= 100.0
    assert channels["pv1.power"] > 0  # noon in March


def test_meter_state_matches_the_grid_point() -> None:
    sim = SiteSim(SiteParams(), START + timedelta(hours=18))
    sim.run(1800, DT)
    state = sim.meter_state()
    c = sim.channels()
    assert state.ts == sim.now
    assert state.power_w == c["grid.power"]
    assert state.energy_import_wh == c["grid.energy_import"]
    assert state.energy_export_wh == c["grid.energy_export"]
    assert len(state.phases) == 3
    assert sum(p.power_w for p in state.phases) == pytest.approx(state.power_w, abs=1e-9)
    for p in state.phases:
        assert p.current_a == pytest.approx(abs(p.power_w) / p.voltage_v)


def test_one_phase_ev_charging_loads_l1() -> None:
    sim = SiteSim(SiteParams(), START + timedelta(hours=18))
    sim.command("ev1", "phases", 1)
    sim.run(600, DT)
    ev = sim.evs[0]
    assert ev.power > 0
    l1, l2, l3 = sim.grid.phase_power
    assert l1 - l2 == pytest.approx(ev.power)
    assert l2 == pytest.approx(l3)


def run_channels(params: SiteParams, hours: int) -> list[dict[str, float]]:
    sim = SiteSim(params, START)
    out = []
    for _ in range(hours * 60):
        sim.step(DT)
        out.append(sim.channels())
    return out


def test_same_seed_same_results_other_seed_differs() -> None:
    params = SiteParams(house=HouseParams(noise=0.05), seed=7)
    a = run_channels(params, 30)
    b = run_channels(params, 30)
    assert a == b
    c = run_channels(replace(params, seed=8), 30)
    assert [x["house.power"] for x in a] != [x["house.power"] for x in c]


def test_ev_pattern_does_not_depend_on_the_step() -> None:
    coarse = SiteSim(SiteParams(), START)
    fine = SiteSim(SiteParams(), START)
    coarse.run(2 * 86400, 300)
    fine.run(2 * 86400, 30)
    assert coarse.evs[0].soc == pytest.approx(fine.evs[0].soc, abs=0.5)
    assert coarse.evs[0].energy == pytest.approx(fine.evs[0].energy, rel=0.02)


def test_bad_commands_are_counted_not_raised() -> None:
    sim = SiteSim(SiteParams(), START)
    assert sim.command("bat", "battery_setpoint", 1000)
    assert not sim.command("bat", "battery_setpoint", float("nan"))
    assert not sim.command("bat", "fly", 1)
    assert not sim.command("hp", "sgready", 7)
    assert not sim.command("nosuch", "power", 1)
    assert sim.ledger.total() == 4
    assert sim.ledger.by_kind("bat") == {"value": 1, "unknown_command": 1}
    assert sim.battery.setpoint_w == 1000  # the bad value changed nothing


def test_start_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        SiteSim(SiteParams(), datetime(2025, 1, 1))


def test_runs_across_new_year() -> None:
    sim = SiteSim(SiteParams(), datetime(2025, 12, 31, 22, tzinfo=UTC))
    sim.run(4 * 3600, DT)
    assert sim.now.year == 2026
    assert abs(sim.balance_error_wh()) < 1e-6
    assert sim.house.power > 0


def test_every_device_speaks_the_emulator_interface() -> None:
    sim = SiteSim(SiteParams(), START + timedelta(hours=10))
    sim.run(600, DT)
    devices = sim.devices()
    assert set(devices) == {"grid", "house", "pv1", "bat", "ev1", "hp", "rod"}
    for name, device in devices.items():
        values = device.values()
        assert "power" in values
        for quantity, value in values.items():
            Channel.of(f"{name}.{quantity}")  # a quantity our model knows
            assert math.isfinite(value), (name, quantity)
        with pytest.raises(BadCommand):
            device.apply("no_such_command", 1)
    # a command through the interface takes effect on the next step
    devices["bat"].apply("battery_setpoint", -2000)
    sim.step(DT)
    assert devices["bat"].values()["power"] == pytest.approx(-2000)
    assert sim.channels()["bat.power"] == pytest.approx(-2000)


def test_readings_carry_every_channel_at_now() -> None:
    sim = SiteSim(SiteParams(), START)
    sim.run(300, DT)
    readings = sim.readings()
    assert {r.channel for r in readings} == set(sim.channels())
    assert all(r.ts == sim.now for r in readings)


def test_missing_csv_falls_back_to_the_built_in_profiles(tmp_path, caplog) -> None:
    missing = tmp_path / "nope.csv"
    params = SiteParams(house=HouseParams(csv_path=missing), pv=(PVParams(source="csv", csv_path=missing),))
    with caplog.at_level("WARNING", logger="wattwerk.sim"):
        sim = SiteSim(params, START + timedelta(hours=11))
    sim.run(3600, DT)
    assert sim.house.power > 0 and sim.pv[0].power > 0
    assert sum("not found" in r.message for r in caplog.records) == 2
