"""The one generic law for relays, CHP, fuel cells and electrolysers."""

from __future__ import annotations

from datetime import UTC, datetime, time

from test_control_helpers import by_channel, snap
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.switch import SwitchConfig, SwitchControl


def drive(config: SwitchConfig, rows, signals=NO_SIGNALS):
    law = SwitchControl(config)
    state = law.initial()
    out = []
    for t, surplus in rows:
        result = law.step(snap(t), state, surplus, signals)
        state = result.state
        out.append(by_channel(result.setpoints)[f"{config.id}.{config.command}"])
    return out


def test_relay_load_on_surplus_with_delay_and_min_run_and_pause() -> None:
    config = SwitchConfig("plug", power_w=1000, delay_s=60, min_on_s=300, min_off_s=300)
    rows = [
        (0, 1500),
        (59, 1500),
        (60, 1500),  # on after 60 s of surplus
        (70, 200),
        (200, 200),  # short of its power: off timer, but 300 s minimum run
        (360, 200),  # off
        (370, 1500),
        (500, 1500),
        (660, 1500),
    ]  # surplus back: 300 s pause first
    assert drive(config, rows) == [0, 0, 1, 1, 1, 0, 0, 0, 1]


def test_generator_runs_on_deficit() -> None:
    config = SwitchConfig("chp", kind="generator", power_w=2000, delay_s=0, min_on_s=0, min_off_s=0)
    # the CHP's own output is counted in the surplus while it runs: -500 W with 2 kW on = 2.5 kW deficit
    assert drive(config, [(0, -2500), (10, -500), (20, 1800)]) == [1, 1, 0]


def test_electrolyser_setpoint_follows_surplus() -> None:
    config = SwitchConfig(
        "ely", command="power", power_w=5000, min_w=1000, delay_s=0, min_on_s=0, min_off_s=0
    )
    assert drive(config, [(0, 500), (10, 3000), (20, 9000), (30, 1200)]) == [0, 3000, 5000, 1200]


def test_price_and_schedule() -> None:
    cheap = SwitchConfig("plug", price_on=0.10, delay_s=0, min_on_s=0, min_off_s=0)
    assert drive(cheap, [(0, 0)], Signals(price=0.08)) == [1]
    assert drive(cheap, [(0, 0)], Signals(price=0.30)) == [0]
    sched = SwitchConfig(
        "pump", schedule=((time(22, 0), time(6, 0)),), timezone="UTC", delay_s=0, min_on_s=0, min_off_s=0
    )
    law = SwitchControl(sched)
    at = [datetime(2025, 6, d, h, 0, tzinfo=UTC) for d, h in ((14, 21), (14, 23), (15, 5), (15, 7))]
    state = law.initial()
    got = []
    for when in at:
        r = law.step(snap(when), state, 0.0, Signals())
        state = r.state
        got.append(by_channel(r.setpoints)["pump.relay"])
    assert got == [0, 1, 1, 0]
