"""Battery law: self-consumption, hold, grid charging, reserve SoC with hysteresis."""

from __future__ import annotations

import pytest

from test_control_helpers import by_channel, snap
from wattwerk.control.base import NO_SIGNALS, Signals
from wattwerk.control.battery import BatteryConfig, BatteryControl, BatteryState


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
