"""Heating rod: continuous power or relay stages from surplus; daily minimum and legionella."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from test_control_helpers import by_channel, snap
from wattwerk.control.base import Signals
from wattwerk.control.heating_rod import HeatingRodConfig, HeatingRodControl


def drive(config: HeatingRodConfig, rows, **values):
    law = HeatingRodControl(config)
    state = law.initial()
    out = []
    for t, surplus in rows:
        result = law.step(snap(t, **values), state, surplus, Signals())
        state = result.state
        out.append(by_channel(result.setpoints)["rod.power"])
    return out


@pytest.mark.parametrize(
    ("surplus", "expected"), [(1500.0, 1500.0), (50.0, 0.0), (5000.0, 3000.0), (-800.0, 0.0), (None, 0.0)]
)
def test_continuous_follows_surplus(surplus: float | None, expected: float) -> None:
    assert drive(HeatingRodConfig(), [(0, surplus)], rod__temperature=50.0) == [expected]


def test_relay_stages_step_with_delays_and_minimum_time() -> None:
    config = HeatingRodConfig(stages_w=(1000.0, 2000.0, 3000.0), up_delay_s=60, down_delay_s=60, min_on_s=120)
    rows = [
        (0, 2500),
        (59, 2500),
        (60, 2500),  # up one stage after 60 s
        (120, 2500),
        (180, 2500),  # the next stage needs its own 60 s, then 120 s in a stage
        (190, 500),
        (250, 500),  # short: down after 60 s, but 120 s in stage 2000 since t=180
        (300, 500),
        (305, 900),
    ]
    assert drive(config, rows, rod__temperature=50.0) == [0, 0, 1000, 1000, 2000, 2000, 2000, 0, 0]


def test_relay_stages_respect_min_on() -> None:
    config = HeatingRodConfig(stages_w=(1000.0, 2000.0), up_delay_s=0, down_delay_s=0, min_on_s=300)
    got = drive(config, [(0, 1500), (10, 0), (299, 0), (300, 0)], rod__temperature=50.0)
    assert got == [1000, 1000, 1000, 0]


def test_legionella_forces_full_power_after_its_time_until_reached() -> None:
    config = HeatingRodConfig(legionella_c=60.0, legionella_after=time(14, 0), timezone="UTC")
    law = HeatingRodControl(config)
    state = law.initial()
    outs = []
    for hour, temp in ((13, 50.0), (14, 50.0), (15, 61.0), (16, 50.0)):
        at = datetime(2025, 6, 14, hour, 0, tzinfo=UTC)
        result = law.step(snap(at, rod__temperature=temp), state, 0.0, Signals())
        state = result.state
        outs.append(by_channel(result.setpoints)["rod.power"])
    assert outs == [0.0, 3000.0, 0.0, 0.0]  # done for the day once 60 °C was seen


def test_daily_minimum_energy_by_its_time() -> None:
    config = HeatingRodConfig(daily_min_wh=3000.0, daily_by=time(18, 0), timezone="UTC")
    law = HeatingRodControl(config)
    state = law.initial()
    outs = []
    for hour, minute, energy in ((8, 0, 0.0), (16, 0, 500.0), (17, 30, 1000.0), (18, 0, 2000.0)):
        at = datetime(2025, 6, 14, hour, minute, tzinfo=UTC)
        result = law.step(snap(at, rod__energy=energy), state, 0.0, Signals())
        state = result.state
        outs.append(by_channel(result.setpoints)["rod.power"])
    # 2.5 kWh missing with 2 h left is fine at 3 kW; 2 kWh in the last half hour is not: full power
    assert outs == [0.0, 0.0, 3000.0, 3000.0]
