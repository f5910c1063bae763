"""Random sites and prices: whatever the planner decides stays within every limit."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_planner import T0, check_plan
from wattwerk.control.plan_model import EV, Battery, Heater, PlanRequest, ThermalStore
from wattwerk.control.planner import solve

N = 64


@st.composite
def requests(draw) -> PlanRequest:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    hours = np.arange(N) / 4
    level = draw(st.floats(-0.05, 0.4))
    buy = np.round(level + rng.normal(0, draw(st.floats(0.0, 0.15)), N).cumsum() / 4, 4)
    sell = draw(st.sampled_from([0.0, 0.08, "spot"]))
    sell = np.round(buy - 0.2, 4) if sell == "spot" else sell
    pv = np.clip(
        draw(st.floats(0, 9000)) * np.sin((hours + draw(st.floats(0, 12)) - 6) / 12 * np.pi), 0, None
    )
    load = rng.uniform(100, 3000, N)
    bat = Battery(
        capacity_wh=draw(st.floats(2000, 15000)),
        soc_pct=draw(st.floats(0, 100)),
        max_charge_w=draw(st.floats(500, 6000)),
        max_discharge_w=draw(st.floats(500, 6000)),
        soc_min_pct=draw(st.floats(0, 30)),
        soc_max_pct=draw(st.floats(80, 100)),
        eff_charge=draw(st.floats(0.85, 1.0)),
        eff_discharge=draw(st.floats(0.85, 1.0)),
        wear_eur_per_kwh=draw(st.sampled_from([0.0, 0.03])),
        grid_charge=draw(st.booleans()),
    )
    a = draw(st.integers(0, N - 1))
    b = draw(st.integers(a, N))
    plugged = np.zeros(N, bool)
    plugged[a:b] = True
    ev = EV(
        plugged,
        draw(st.floats(0, 30000)),
        11000,
        draw(st.sampled_from([0.0, 1380.0, 4140.0])),
        deadline=draw(st.one_of(st.none(), st.integers(0, N))),
    )
    store = ThermalStore.from_tank(
        draw(st.floats(100, 800)),
        35,
        60,
        draw(st.floats(30, 65)),
        rng.uniform(0, 3000, N),
        (
            Heater(
                "hp", draw(st.floats(800, 4000)), rng.uniform(2, 5, N), draw(st.sampled_from([0.0, 700.0]))
            ),
            Heater("rod", 3000, 1.0),
        ),
        loss_w=50,
    )
    return PlanRequest(
        T0,
        15,
        buy,
        pv,
        load,
        sell,
        batteries=(bat,),
        evs=(ev,),
        thermal=(store,),
        max_import_w=draw(st.floats(5000, 40000)),
        max_export_w=draw(st.floats(0, 10000)),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_random_plans_respect_every_limit(req: PlanRequest):
    plan = solve(req)
    check_plan(req, plan)
    assert plan.size["unsettled_slots"] == 0, plan.message
