"""Battery law: self-consumption, hold, grid charging, reserve SoC with hysteresis."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from test_control_helpers import by_channel, snap
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.battery import BatteryConfig, BatteryControl, BatteryState
from wattwerk.control.cycle import ControlCycle, CycleState
from wattwerk.control.limit_types import LimiterState


def setpoint(
    config: BatteryConfig,
    available: float | None,
    soc: float = 50.0,
    signals: Signals = NO_SIGNALS,
    state: BatteryState | None = None,
    **values: float,
) -> tuple[float, BatteryState]:
    law = BatteryControl(config)
    result = law.step(snap(0, bat__soc=soc, **values), state or BatteryState(), available, signals)
    return by_channel(result.setpoints)["bat.battery_setpoint"], result.state


@pytest.mark.parametrize(
    ("config", "available", "soc", "signals", "expected"),
    [
        (BatteryConfig(), 2000.0, 50.0, Signals(), -2000.0),  # surplus: charge it (grid to zero)
        (BatteryConfig(), -1500.0, 50.0, Signals(), 1500.0),  # deficit: discharge it
        (BatteryConfig(), 9000.0, 50.0, Signals(), -5000.0),  # never beyond its maximum
        (BatteryConfig(), -1500.0, 10.0, Signals(), 0.0),  # at the reserve: no discharge
        (BatteryConfig(), 1500.0, 10.0, Signals(), -1500.0),  # but charging is fine
        (BatteryConfig(), 1500.0, 100.0, Signals(), 0.0),  # full
        (BatteryConfig(mode="hold"), -1500.0, 50.0, Signals(), 0.0),
        (BatteryConfig(mode="hold"), 1500.0, 50.0, Signals(), -1500.0),  # hold still stores surplus
        (BatteryConfig(), -1500.0, 50.0, Signals(hold_battery=True), 0.0),  # the planner says: later
        (BatteryConfig(mode="charge", charge_w=3000), -1500.0, 50.0, Signals(), -3000.0),
        (BatteryConfig(mode="planner"), -1500.0, 50.0, Signals(battery_w=-2500.0), -2500.0),
        (BatteryConfig(mode="planner"), -1500.0, 50.0, Signals(battery_w=800.0), 1500.0),
        (BatteryConfig(mode="off"), -1500.0, 50.0, Signals(), 0.0),
        (BatteryConfig(), None, 50.0, Signals(), 0.0),  # grid meter unknown: idle
    ],
)
def test_battery_table(
    config: BatteryConfig, available: float | None, soc: float, signals: Signals, expected: float
) -> None:
    assert setpoint(config, available, soc, signals)[0] == expected


def test_no_discharge_into_the_car() -> None:
    config = BatteryConfig(hold_while_ev_from_grid=("ev1",))
    # the site lacks 5 kW of which the car draws 4 kW: cover the house's 1 kW only
    assert setpoint(config, -5000.0, ev1__power=4000.0)[0] == 1000.0
    assert setpoint(config, -3000.0, ev1__power=4000.0)[0] == 0.0


def test_reserve_hysteresis() -> None:
    config = BatteryConfig(reserve_soc=10.0, reserve_hysteresis=2.0)
    state = BatteryState()
    outs = []
    for soc in (15.0, 10.0, 11.0, 11.9, 12.0, 13.0):
        w, state = setpoint(config, -1000.0, soc=soc, state=state)
        outs.append(w)
    assert outs == [1000.0, 0.0, 0.0, 0.0, 1000.0, 1000.0]


def test_priority_soc_claims_surplus_first() -> None:
    law = BatteryControl(BatteryConfig(priority_soc=50.0))
    assert law.reserve_w(snap(0, bat__soc=30.0), 3000.0) == 3000.0
    assert law.reserve_w(snap(0, bat__soc=30.0), 9000.0) == 5000.0
    assert law.reserve_w(snap(0, bat__soc=60.0), 3000.0) == 0.0


def test_probes_for_pv_the_export_limiter_holds_back() -> None:
    """Zero export: the limiter holds the grid at its margin, so the meter shows no surplus while
    the PV runs at its limit. The battery asks for a little more each cycle (the limiter lets the
    PV rise by it) and pauses, doubling, after probes the PV did not follow."""
    law = BatteryControl(BatteryConfig(probe_w=500.0))

    def step(
        state: BatteryState, available: float, held: bool, soc: float = 50.0
    ) -> tuple[float, BatteryState]:
        result = law.step(snap(0, bat__soc=soc), state, available, NO_SIGNALS, pv_held=held)
        return by_channel(result.setpoints)["bat.battery_setpoint"], result.state

    w, state = step(BatteryState(), -100.0, held=False)
    assert w == 100.0 and not state.probed  # nothing held back: plain self-consumption
    w, state = step(BatteryState(), -100.0, held=True)
    assert w == -400.0 and state.probed  # held back: charge 500 W more than the meter shows
    w, state = step(state, 300.0, held=True)
    assert w == -800.0 and state.probe_misses == 0  # the PV followed: keep climbing
    w, full = step(state, -100.0, held=True, soc=100.0)
    assert w == 100.0 and not full.probed  # a full battery does not probe (it may discharge)
    # the PV did not follow (the sun gives no more): wait 2 cycles, then 4 after the next miss
    waits = []
    for _ in range(8):
        w, state = step(state, -100.0, held=not state.probed)
        waits.append(w)
    assert waits == [100.0, 100.0, -400.0, 100.0, 100.0, 100.0, 100.0, -400.0]
    assert state.probe_misses == 2
    w, state = step(state, -100.0, held=True)
    assert w == -400.0 and state.probe_misses == 0  # followed again: misses forgotten


def test_the_cycle_sees_pv_held_at_its_limit() -> None:
    """Held back = the limiter sent an export-limit PV cap last cycle and an inverter runs at it."""
    cycle = ControlCycle([], limiter=None)  # type: ignore[arg-type]  # pv_held reads only the state

    def held(limited: bool, power: float) -> bool:
        lim = LimiterState(pv_limited=limited, pv_sent=MappingProxyType({"pv1": 3000.0}))
        return cycle.pv_held(snap(0, pv1__power=power), CycleState(MappingProxyType({}), lim))

    assert held(True, 2950.0)  # at its cap (within 3 %)
    assert not held(True, 2000.0)  # below it: the sun gives no more
    assert not held(False, 3000.0)  # a cap lifted (no export limit): nothing held back
