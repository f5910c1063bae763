"""EV charging law, cycle by cycle against an injected clock: tables of inputs and setpoints."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_control_helpers import T0, by_channel, snap
from wattwerk.control.base import Signals
from wattwerk.control.ev import MODES, ChargePoint, EvCharging, EvConfig

NONE = Signals()


def drive(law: EvCharging, rows, channels=lambda t: {}):
    """rows: (t, available_w, {point: state code}) -> list of setpoint dicts, one per row."""
    state = law.initial()
    out = []
    for t, available, codes in rows:
        values = {f"{p}__state": c for p, c in codes.items()}
        values.update(channels(t))
        result = law.step(snap(t, **values), state, available, NONE)
        state = result.state
        out.append((by_channel(result.setpoints), result.used_w))
    return out


def test_pv_mode_start_and_stop_with_delays_no_chatter() -> None:
    law = EvCharging(EvConfig((ChargePoint("ev1"),)))  # 3p fixed: minimum 6 A x 3 x 230 V = 4140 W
    rows = [  # t, surplus, -> enable, current
        (0, 3000, 0, 6.0),
        (10, 5000, 0, 6.0),  # start timer runs from here
        (40, 5000, 0, 6.0),
        (70, 5000, 1, 7.2),  # held 60 s: start, 5000 / 690 V
        (80, 3000, 1, 6.0),  # short of the minimum: keep at minimum, stop timer from here
        (200, 3000, 1, 6.0),
        (250, 3000, 1, 6.0),
        (260, 3000, 0, 6.0),  # 180 s short: stop
        (270, 5000, 0, 6.0),
        (300, 3000, 0, 6.0),  # a dip resets the start timer
        (310, 5000, 0, 6.0),
        (360, 5000, 0, 6.0),
        (370, 5000, 1, 7.2),
        (380, 20000, 1, 16.0),  # never above the maximum
    ]
    got = drive(law, [(t, a, {"ev1": 1}) for t, a, *_ in rows])
    for (t, _, enable, current), (sps, used) in zip(rows, got, strict=True):
        assert (sps["ev1.enable"], sps["ev1.current_limit"]) == (enable, current), t
        assert "ev1.phases" not in sps  # a fixed three-phase charger is never sent a phase command
        assert used == pytest.approx(enable * current * 690)


def test_phase_switching_with_its_own_delay_and_minimum_time() -> None:
    cp = ChargePoint("ev1", phase_switching=True, phase_delay_s=60, min_phase_hold_s=600)
    law = EvCharging(EvConfig((cp,)))
    rows = [  # t, surplus -> enable, phases, current
        (0, 2000, 0, 1, 6.0),  # too little for 3p: 1p chosen while not charging (sent at minimum)
        (60, 2000, 1, 1, 8.6),
        (100, 6000, 1, 1, 16.0),  # enough for 3p: the up timer starts
        (160, 6000, 1, 1, 16.0),  # 60 s held, but the last switch (t=0) is not 600 s ago
        (590, 6000, 1, 1, 16.0),
        (600, 6000, 1, 3, 8.6),  # now it may switch
        (610, 3000, 1, 3, 6.0),  # short for 3p: down timer, and the 600 s hold again
        (900, 3000, 1, 3, 6.0),
        (1200, 3000, 1, 1, 13.0),
    ]
    got = drive(law, [(t, a, {"ev1": 1}) for t, a, *_ in rows])
    for (t, _, enable, phases, current), (sps, _) in zip(rows, got, strict=True):
        assert (sps["ev1.enable"], sps["ev1.phases"], sps["ev1.current_limit"]) == (
            enable,
            phases,
            current,
        ), t


@pytest.mark.parametrize(
    ("mode", "surplus", "enable", "current"),
    [
        ("off", 20000, 0, 6.0),
        ("now", -5000, 1, 16.0),  # now: full power whatever the surplus
        ("minpv", -5000, 1, 6.0),  # minpv: at least the minimum from the grid
        ("minpv", 8000, 1, 11.5),  # and more with surplus
        ("pv", -5000, 0, 6.0),
    ],
)
def test_modes(mode: str, surplus: float, enable: int, current: float) -> None:
    law = EvCharging(EvConfig((ChargePoint("ev1", mode=mode),)))  # type: ignore[arg-type]
    ((sps, _),) = drive(law, [(0, surplus, {"ev1": 1})])
    assert (sps["ev1.enable"], sps["ev1.current_limit"]) == (enable, current)


def test_no_car_means_off_whatever_the_mode() -> None:
    law = EvCharging(EvConfig((ChargePoint("ev1", mode="now"),)))
    ((sps, used),) = drive(law, [(0, 20000, {"ev1": 0})])
    assert sps["ev1.enable"] == 0 and used == 0


@pytest.mark.parametrize(
    ("hours_left", "expected_mode_enable", "current"),
    [
        (8.0, 0, 6.0),  # plenty of time: pv mode waits for surplus
        (2.0, 1, 6.0),  # 10 kWh in 2 h: the minimum is needed -> minpv
        (1.0, 1, 16.0),  # 10 kWh in 1 h: only full power makes it -> now
    ],
)
def test_target_energy_by_departure_raises_the_mode(
    hours_left: float, expected_mode_enable: int, current: float
) -> None:
    cp = ChargePoint("ev1", target_energy_wh=10_000, departure=T0 + timedelta(hours=hours_left))
    law = EvCharging(EvConfig((cp,)))
    ((sps, _),) = drive(law, [(0, 0.0, {"ev1": 1})], channels=lambda t: {"ev1__energy": 5000.0})
    assert (sps["ev1.enable"], sps["ev1.current_limit"]) == (expected_mode_enable, current)


def test_target_soc_reached_stops_charging() -> None:
    cp = ChargePoint("ev1", mode="now", target_soc=80, capacity_wh=60_000)
    law = EvCharging(EvConfig((cp,)))
    got = drive(
        law,
        [(0, 0.0, {"ev1": 2}), (10, 0.0, {"ev1": 2})],
        channels=lambda t: {"ev1__soc": 70.0 if t == 0 else 80.0},
    )
    assert [g[0]["ev1.enable"] for g in got] == [1, 0]


def _running(law: EvCharging, n: int):
    """A state in which every point already charges (3p)."""
    st = law.initial()
    return replace(st, points=tuple(replace(p, enabled=True, plugged=True) for p in st.points))


def test_fair_sharing_within_a_priority_and_priorities_first() -> None:
    same = EvCharging(EvConfig((ChargePoint("a"), ChargePoint("b"))))
    result = same.step(snap(0, a__state=2, b__state=2), _running(same, 2), 10_000, NONE)
    sps = by_channel(result.setpoints)
    assert sps["a.current_limit"] == sps["b.current_limit"] == 7.2  # 5000 W each

    prio = EvCharging(EvConfig((ChargePoint("a", priority=1), ChargePoint("b"))))
    result = prio.step(snap(0, a__state=1, b__state=1), prio.initial(), 12_000, NONE)
    state = result.state
    for t in (30, 60):
        result = prio.step(snap(t, a__state=1, b__state=1), state, 12_000, NONE)
        state = result.state
    sps = by_channel(result.setpoints)
    assert sps["a.enable"] == 1 and sps["a.current_limit"] == 16.0  # the higher priority takes its maximum
    assert sps["b.enable"] == 0  # 960 W left is below b's minimum: b waits, it does not steal


def test_a_point_too_short_gives_way_so_the_other_can_start() -> None:
    law = EvCharging(EvConfig((ChargePoint("a"), ChargePoint("b"))))
    state = law.initial()
    for t in (0, 30, 60):  # 6000 W: not enough for two at 4140 W, enough for one
        result = law.step(snap(t, a__state=1, b__state=1), state, 6000, NONE)
        state = result.state
    sps = by_channel(result.setpoints)
    assert sorted([sps["a.enable"], sps["b.enable"]]) == [0, 1]


@pytest.mark.parametrize(
    ("n", "limit", "enabled", "current"),
    [
        (2, 20.0, 2, 10.0),  # two at 16 A on a 20 A circuit: 10 A each
        (3, 16.0, 2, 8.0),  # three minimums (18 A) do not fit: one stops, two share 16 A
        (4, 32.0, 4, 8.0),
    ],
)
def test_circuit_limit_load_management(n: int, limit: float, enabled: int, current: float) -> None:
    points = tuple(ChargePoint(f"ev{i}", mode="now", priority=n - i) for i in range(n))
    law = EvCharging(EvConfig(points, circuit_max_a=limit))
    result = law.step(snap(0, **{f"ev{i}__state": 1 for i in range(n)}), law.initial(), 0.0, NONE)
    sps = by_channel(result.setpoints)
    on = [i for i in range(n) if sps[f"ev{i}.enable"]]
    assert len(on) == enabled
    assert all(sps[f"ev{i}.current_limit"] == current for i in on)
    assert sum(sps[f"ev{i}.current_limit"] for i in on) <= limit
    if enabled < n:
        assert sps[f"ev{n - 1}.enable"] == 0  # the lowest priority gives way


def test_two_circuits_each_within_its_limit() -> None:
    points = tuple(ChargePoint(f"ev{i}", mode="now") for i in range(4))
    law = EvCharging(EvConfig(points, circuits=((("ev0", "ev1"), 16.0), (("ev2", "ev3"), 32.0))))
    result = law.step(snap(0, **{f"ev{i}__state": 1 for i in range(4)}), law.initial(), 0.0, NONE)
    sps = by_channel(result.setpoints)
    assert [sps[f"ev{i}.current_limit"] for i in range(4)] == [8.0, 8.0, 16.0, 16.0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(MODES), st.integers(0, 2), st.booleans(), st.integers(0, 2)),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.floats(-20_000, 40_000), min_size=1, max_size=12),
    st.floats(10.0, 64.0),
)
def test_any_mix_of_points_stays_within_bounds_and_circuit(points, surpluses, circuit: float) -> None:
    cps = tuple(
        ChargePoint(f"ev{i}", mode=m, phase_switching=sw, priority=p)  # type: ignore[arg-type]
        for i, (m, _, sw, p) in enumerate(points)
    )
    law = EvCharging(EvConfig(cps, circuit_max_a=circuit))
    state = law.initial()
    for k, surplus in enumerate(surpluses):
        values = {f"ev{i}__state": code for i, (_, code, _, _) in enumerate(points)}
        result = law.step(snap(30.0 * k, **values), state, surplus, NONE)
        state = result.state
        sps = by_channel(result.setpoints)
        on = [i for i in range(len(points)) if sps[f"ev{i}.enable"] == 1.0]
        for i in range(len(points)):
            assert 6.0 <= sps[f"ev{i}.current_limit"] <= 16.0
            if points[i][1] == 0 or points[i][0] == "off":
                assert i not in on  # no car or off: never enabled
        assert sum(sps[f"ev{i}.current_limit"] for i in on) <= circuit + 1e-9


@pytest.mark.parametrize("mode", ["minpv", "now"])
def test_enabled_car_that_draws_nothing_reserves_nothing(mode: str) -> None:
    """A full car (plugged, not charging, 0 W measured) keeps its enable, but from the second cycle
    on it claims only what it draws: the battery law must not discharge to feed it."""
    law = EvCharging(EvConfig((ChargePoint("ev1", mode=mode),)))  # type: ignore[arg-type]
    rows = [(0, 0.0, {"ev1": 1}), (10, 0.0, {"ev1": 1}), (20, 0.0, {"ev1": 2}), (30, 0.0, {"ev1": 1})]
    draws = {0: 0.0, 10: 0.0, 20: 4140.0, 30: 120.0}
    got = drive(law, rows, channels=lambda t: {"ev1__power": draws[t]})
    reserved = [sps["ev1.current_limit"] * 690 for sps, _ in got]
    assert all(sps["ev1.enable"] == 1 for sps, _ in got)
    assert got[0][1] == pytest.approx(reserved[0])  # just enabled: the car gets its cycle to start
    assert got[1][1] == 0.0  # enabled a cycle ago, still not charging, draws nothing
    assert got[2][1] == pytest.approx(reserved[2])  # charging: its full share
    assert got[3][1] == pytest.approx(120.0)  # not charging but drawing a little: that much


def test_a_full_car_left_enabled_gives_the_pv_surplus_back_after_a_few_cycles() -> None:
    """The demo's afternoon: a full car stays enabled (it reports charging, draws 0 W) under 5 kW of PV
    surplus. From ``idle_after_s`` of measured idleness on it claims only what it draws, so the battery
    and the other loads get the surplus; it claims again only once it draws half its 1-phase minimum."""
    law = EvCharging(EvConfig((ChargePoint("ev1", mode="pv", enable_delay_s=0.0),)))  # type: ignore[arg-type]
    rows = [  # t, measured W, state code -> claimed W (None: its full reservation)
        (0, 0.0, 1, None),  # enabled now: the car gets its time to start
        (10, 4800.0, 2, None),  # charging at full surplus
        (20, 0.0, 2, None),  # full: the idle timer starts
        (40, 0.0, 2, None),  # 20 s idle: still claimed
        (50, 0.0, 2, 0.0),  # 30 s idle: the surplus is the battery's
        (60, 40.0, 2, 40.0),  # a trickle: only that
        (70, 500.0, 2, 500.0),  # below half the 1-phase minimum (690 W): still idle (hysteresis)
        (80, 2000.0, 2, None),  # draws again: its share back at once
        (90, 50.0, 2, None),  # below idle_w once: the timer restarts, no flip on one sample
    ]
    draws = {t: w for t, w, *_ in rows}
    got = drive(
        law, [(t, 5000.0, {"ev1": c}) for t, _, c, _ in rows], channels=lambda t: {"ev1__power": draws[t]}
    )
    for (t, _, _, want), (sps, used) in zip(rows, got, strict=True):
        assert sps["ev1.enable"] == 1, t  # the point stays enabled: the car may want more later
        reserved = sps["ev1.current_limit"] * 690
        assert used == pytest.approx(reserved if want is None else want), t


def test_an_idle_car_leaves_the_surplus_to_the_other_point() -> None:
    points = (ChargePoint("ev1", enable_delay_s=0.0), ChargePoint("ev2", enable_delay_s=0.0))
    law = EvCharging(EvConfig(points))
    rows = [(t, 5000.0, {"ev1": 2, "ev2": 1}) for t in (0, 10, 20, 40, 50, 60)]
    got = drive(law, rows, channels=lambda t: {"ev1__power": 0.0, "ev2__power": 0.0})
    # ev1 (first) takes the surplus while it may still start; idle for 30 s it leaves it to ev2
    assert got[0][0]["ev1.enable"] == 1 and got[0][0]["ev2.enable"] == 0
    assert got[-1][0]["ev2.enable"] == 1 and got[-1][0]["ev2.current_limit"] >= 6.0
