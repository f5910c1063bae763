"""Small parts of the control core: timers, fair sharing, periodic re-sending, the checker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_control_helpers import T0
from wattwerk.control.checker import LimitChecker, Limits
from wattwerk.control.resend import Resender, SentState, due
from wattwerk.control.sharing import water_fill
from wattwerk.control.timing import Debounce, SwitchHistory, SwitchRules
from wattwerk.model import Setpoint


def test_debounce_holds_only_while_true() -> None:
    d = Debounce().update(True, 0.0)
    assert not d.held(59.0, 60.0) and d.held(60.0, 60.0)
    assert d.update(True, 30.0).since == 0.0  # stays from when it became true
    assert d.update(False, 61.0).since is None


def test_switch_rules_minimum_times_and_hourly_cap() -> None:
    rules = SwitchRules(min_on_s=300, min_off_s=120, max_per_hour=3)
    h = SwitchHistory(0.0, -1e9).switched(1.0, 0.0)
    assert not h.may_switch(0.0, 299.0, rules) and h.may_switch(0.0, 300.0, rules)
    h = h.switched(0.0, 300.0)
    assert not h.may_switch(1.0, 419.0, rules) and h.may_switch(1.0, 420.0, rules)
    h = h.switched(1.0, 420.0)
    assert not h.may_switch(0.0, 720.0, rules)  # three switches within the hour
    assert h.may_switch(0.0, 3600.0, rules)  # the first has left the window
    assert h.may_switch(1.0, 0.0, rules)  # staying is always allowed


@given(st.floats(0, 1e5), st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 1e4)), max_size=8))
def test_water_fill_is_fair_and_exact(total: float, raw: list[tuple[float, float]]) -> None:
    bounds = [(min(a, b), max(a, b)) for a, b in raw]
    got = water_fill(total, bounds)
    assert len(got) == len(bounds)
    for (lo, hi), x in zip(bounds, got, strict=True):
        assert lo - 1e-6 <= x <= hi + 1e-6
    lo_sum, hi_sum = sum(b[0] for b in bounds), sum(b[1] for b in bounds)
    if bounds and lo_sum <= total <= hi_sum:
        assert sum(got) == pytest.approx(total, rel=1e-9, abs=1e-6)
        # fair: an item below its high bound never gets less than an item above its low bound
        for (_, hi_a), a in zip(bounds, got, strict=True):
            for (lo_b, _), b in zip(bounds, got, strict=True):
                if a < hi_a - 1e-6 and b > lo_b + 1e-6:
                    assert a >= b - 1e-6


def test_due_sends_changes_and_resends_periodically() -> None:
    sp = [Setpoint("ev1.current_limit", 10.0, T0), Setpoint("hp.sgready", 2.0, T0)]
    first, state = due(sp, SentState(), 0.0, 30.0)
    assert len(first) == 2
    again, state = due(sp, state, 10.0, 30.0)
    assert again == []
    changed, state = due([Setpoint("ev1.current_limit", 12.0, T0), sp[1]], state, 20.0, 30.0)
    assert [s.channel for s in changed] == ["ev1.current_limit"]
    later, _ = due([Setpoint("ev1.current_limit", 12.0, T0), sp[1]], state, 30.0, 30.0)
    assert [s.channel for s in later] == ["hp.sgready"]  # 30 s since it was last written


async def test_resender_wraps_a_writer_and_retries_failures() -> None:
    written: list[str] = []
    fail = {"hp.sgready"}

    async def write(s: Setpoint) -> bool:
        if s.channel in fail:
            raise TimeoutError("no answer")
        written.append(s.channel)
        return True

    r = Resender(write, every_s=30.0)
    sp = [Setpoint("ev1.current_limit", 10.0, T0), Setpoint("hp.sgready", 2.0, T0)]
    assert await r.send(sp, 0.0) == 2
    fail.clear()
    await r.send(sp, 1.0)  # the failed one is tried again next cycle, the other is not re-sent
    assert written == ["ev1.current_limit", "hp.sgready"]


def test_checker_forgives_one_cycle_never_two() -> None:
    c = LimitChecker(lambda t: Limits(export_w=1000.0))
    for t, grid in enumerate([-500.0, -1500.0, -500.0, -1500.0, -1500.0, -1500.0]):
        c.observe(float(t), {"grid.power": grid})
    assert c.violations["export"] == 2 and c.max_excess_w == 500.0


def test_checker_counts_import_beyond_all_flexibility_as_unavoidable() -> None:
    """8 kW import limit: the house alone at 9 kW with nothing left to shed is unavoidable; the same
    with a car still charging at 4 kW is the control's fault (avoidable)."""
    c = LimitChecker(lambda t: Limits(import_w=8000.0), flexible=lambda v: v.get("ev1.power", 0.0))
    for t in range(3):
        c.observe(float(t), {"grid.power": 9000.0, "ev1.power": 0.0})
    assert c.total == 2 and c.unavoidable["import"] == 2 and c.avoidable == 0
    assert c.max_excess_w == 1000.0 and c.max_avoidable_w == 0.0
    for t in range(3, 6):
        c.observe(float(t), {"grid.power": 13000.0, "ev1.power": 4000.0})
    assert c.total == 5 and c.avoidable == 3 and c.max_avoidable_w == 4000.0
