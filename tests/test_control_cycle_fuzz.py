"""The whole cycle (every law and the limiter, built from the demo site file) on arbitrary
snapshots, missing and stale values included: it never raises and sends only finite setpoints."""

from __future__ import annotations

import math
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from test_control_helpers import snap
from wattwerk.config import load_demo_config
from wattwerk.config.limits import ControlLimits
from wattwerk.control.base import Signals
from wattwerk.control.site import build_cycle
from wattwerk.snapshot import Snapshot

CHANNELS = [
    "grid.power",
    "grid.power_l1",
    "grid.power_l2",
    "grid.power_l3",
    "pv1.power",
    "bat.power",
    "bat.soc",
    "ev1.power",
    "ev1.state",
    "ev1.energy",
    "ev1.soc",
    "ev1.phases",
    "hp.power",
    "rod.power",
    "rod.energy",
    "rod.temperature",
    "rcr.state_1",
]
CYCLE = build_cycle(
    load_demo_config(),
    ControlLimits.model_validate(
        {"ripple": {"contacts": ["rcr.state_1"], "levels": [{"pattern": "1", "feed_in_pct": 0}]}}
    ),
)

value = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, 1.0, 2.0, 100.0]))
entry = st.one_of(st.none(), st.tuples(value, st.sampled_from([0.0, 1.0, 20.0, 1e4])))
signals = st.builds(
    Signals,
    price=st.one_of(st.none(), st.floats(-1, 1)),
    cheap=st.booleans(),
    expensive=st.booleans(),
    battery_w=st.one_of(st.none(), st.floats(-1e4, 1e4)),
    hold_battery=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({ch: entry for ch in CHANNELS}), min_size=1, max_size=6), signals)
def test_cycle_never_raises_and_sends_finite_setpoints(snapshots, sig: Signals) -> None:
    state = CYCLE.initial()
    for k, raw in enumerate(snapshots):
        now = snap(10.0 * k).now
        values = {ch: e for ch, e in raw.items() if e is not None}
        out = CYCLE.run(Snapshot(now, MappingProxyType(values), 30.0), state, sig)
        state = out.state
        assert all(math.isfinite(s.value) for s in out.setpoints), out.setpoints
        if "grid.power" not in values or values["grid.power"][1] > 10.0:  # meter unknown: fail-safe
            sent = {s.channel: s.value for s in out.setpoints}
            assert sent.get("rod.power", 0.0) == 0.0 and sent.get("bat.battery_setpoint", 0.0) == 0.0
