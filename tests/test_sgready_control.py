"""SG-Ready law: states from surplus, SoC and price; minimum dwell and switches per hour."""

from __future__ import annotations

from itertools import pairwise

from test_control_helpers import by_channel, snap
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.sgready import SgReadyConfig, SgReadyControl


def drive(config: SgReadyConfig, rows, signals=NO_SIGNALS):
    law = SgReadyControl(config)
    state = law.initial()
    out = []
    for t, surplus, soc in rows:
        result = law.step(snap(t, bat__soc=soc, hp__power=0.0), state, surplus, signals)
        state = result.state
        out.append(by_channel(result.setpoints)["hp.sgready"])
    return out, state


def test_surplus_raises_state_after_delay_and_dwell() -> None:
    config = SgReadyConfig(delay_s=300, min_dwell_s=900, max_switches_per_hour=3)
    rows = [
        (0, 3000, 50),
        (200, 3000, 50),
        (300, 3000, 50),  # recommend after 300 s of surplus
        (400, 6000, 90),  # surplus for force: timer starts
        (700, 6000, 90),  # held, but 900 s dwell in state 3 since t=300
        (1199, 6000, 90),
        (1200, 6000, 90),  # dwell over: force
        (1300, 0, 90),  # surplus gone, dwell holds state 4
        (2100, 0, 90),  # 900 s after t=1200: back to normal
    ]
    got, _ = drive(config, rows)
    assert got == [2, 2, 3, 3, 3, 3, 4, 4, 2]


def test_force_needs_a_full_battery() -> None:
    config = SgReadyConfig(delay_s=0, min_dwell_s=0)
    got, _ = drive(config, [(0, 6000, 50), (10, 6000, 85)])
    assert got == [3, 4]


def test_price_signals() -> None:
    cheap, _ = drive(SgReadyConfig(min_dwell_s=0), [(0, 0, 50)], Signals(cheap=True))
    dear, _ = drive(
        SgReadyConfig(min_dwell_s=0, block_when_expensive=True), [(0, 0, 50)], Signals(expensive=True)
    )
    assert cheap == [3] and dear == [1]


def test_switches_per_hour_capped() -> None:
    config = SgReadyConfig(delay_s=0, min_dwell_s=60, max_switches_per_hour=3, recommend_w=1000)
    rows = [(t, 2000 if (t // 100) % 2 == 0 else 0, 50) for t in range(0, 3600, 100)]
    got, state = drive(config, rows)
    seq = [2, *got]  # it starts in state 2
    changes = sum(1 for a, b in pairwise(seq) if a != b)
    assert changes == 3  # the surplus flips 35 times; the pump is switched 3 times in the hour
    assert state.history.switches_last_hour(3500 + snap(0).now.timestamp()) <= 3


def test_pv_the_plan_stores_in_the_battery_does_not_boost_the_heat_pump() -> None:
    """3 kW to spare, 2.5 kW of it the plan's charge of the battery: what is left does not reach
    the recommend threshold; without the plan's charge the pump is boosted."""
    config = SgReadyConfig(delay_s=0, min_dwell_s=0)
    rows = [(0, 3000, 50), (60, 3000, 50)]
    boosted, _ = drive(config, rows)
    planned, _ = drive(config, rows, Signals(battery_pv_w=2500.0))
    assert boosted[-1] == 3 and planned[-1] == 2
