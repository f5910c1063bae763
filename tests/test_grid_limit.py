"""One grid import limit: a site whose only import limit is its main fuse is planned (a real HiGHS
solve), limited (the real limiter) and shown on the page with the same limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from wattwerk.config import parse_config
from wattwerk.config.site_limits import site_limits, tightest
from wattwerk.control.limiter import Limiter
from wattwerk.edge.live import site_details
from wattwerk.edge.planning import PlanService
from wattwerk.market.site_prices import TariffPrices
from wattwerk.model import Reading, Setpoint
from wattwerk.snapshot import SiteState

DATA = Path(__file__).parent / "data" / "awattar_de_marketdata.json"
NOW = datetime(2024, 6, 2, 10, tzinfo=UTC)
FUSE_W = 3 * 230 * 10  # 10 A per phase

SITE = """\
site:
  name: Fuse house
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
  grid: GRID
devices:
  - id: grid
    role: grid_meter
    catalog: sunspec-meter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
  - id: bat
    role: battery
    catalog: sunspec-storage
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
    capacity_wh: 40000
    max_charge_w: 12000
    max_discharge_w: 12000
    reserve_soc: 10
PV
strategy: {mode: planner}
tariff: {provider: awattar}
store: {data_dir: DATADIR}
CONTROL
"""

PV = """\
  - id: pv1
    role: pv
    kwp: 10
    tilt: 30
    azimuth: 180
    catalog: sunspec-inverter-int
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}
"""


def recorded(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=json.loads(DATA.read_text()))


async def plan_of(tmp_path: Path, grid: str, control: str = "", pv: bool = False, battery_wh: int = 40000):
    text = SITE.replace("GRID", grid).replace("DATADIR", str(tmp_path / "var"))
    text = text.replace("capacity_wh: 40000", f"capacity_wh: {battery_wh}")
    text = text.replace("PV\n", PV if pv else "")
    text = text.replace("CONTROL\n", f"control: {control}\n" if control else "")
    cfg = parse_config(text)
    state = SiteState()
    state.update(
        [Reading("bat.soc", NOW, 10.0), Reading("grid.power", NOW, 400.0), Reading("bat.power", NOW, 0.0)]
    )
    prices = TariffPrices(
        cfg.tariff,
        tmp_path / "prices.json",
        client=lambda: httpx.AsyncClient(transport=httpx.MockTransport(recorded)),
    )
    svc = PlanService(cfg, lambda: state.snapshot(NOW), prices, clock=lambda: NOW)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    return cfg, state, plan


async def test_a_fuse_only_site_is_planned_limited_and_shown_with_the_same_import_limit(tmp_path):
    cfg, state, plan = await plan_of(tmp_path / "fuse", "{fuse_a: 10}")
    assert cfg.site.grid.max_import_w is None and cfg.site.grid.import_limit_w == FUSE_W
    # the planner: an empty 40 kWh battery that could charge at 12 kW never imports above the fuse
    assert plan.import_w.max() <= FUSE_W + 1.0
    assert plan.import_w.max() >= FUSE_W - 50.0  # it does use the connection up to the fuse

    # the limiter: the planner's 12 kW charge on top of 400 W of load is cut to the same limit
    limiter = Limiter.from_site(cfg)
    out = limiter.apply(
        [Setpoint("bat.battery_setpoint", -12000.0, NOW)], state.snapshot(NOW), limiter.initial()
    )
    assert out.active["import:grid"] == FUSE_W
    charge = -{s.channel: s.value for s in out.setpoints}["bat.battery_setpoint"]
    assert 400.0 + charge <= FUSE_W - limiter.limits.margin_w + 1.0
    assert charge > 5000.0

    # the page names the same limit
    rows = site_details(cfg, state.snapshot(NOW))["restrictions"]
    assert {"kind": "import_limit", "limit_w": FUSE_W, "source": "site file"} in rows


async def test_without_a_fuse_or_limit_the_plan_imports_more(tmp_path):
    """The counterpart that shows the limit above is what holds the plan down."""
    _, _, plan = await plan_of(tmp_path, "{}")
    assert plan.import_w.max() > FUSE_W + 1000.0


@pytest.mark.parametrize(
    ("grid", "limit"),
    [("{fuse_a: 10, max_import_w: 5000}", 5000.0), ("{fuse_a: 10, max_import_w: 9000}", float(FUSE_W))],
)
async def test_the_tighter_of_fuse_and_max_import_is_planned(tmp_path, grid, limit):
    cfg, _, plan = await plan_of(tmp_path, grid)
    assert cfg.site.grid.import_limit_w == limit
    assert Limiter.from_site(cfg).grid.import_w == limit
    assert limit - 50.0 <= plan.import_w.max() <= limit + 1.0


@pytest.mark.parametrize(
    ("control", "side", "limit", "battery_wh"),
    [
        ("{peak_shaving_w: 5000}", "import", 5000.0, 40000),  # the tighter of it and the fuse
        ("{feed_in_limit_pct: 30}", "export", 3000.0, 2000),  # 30 % of 10 kWp; a battery soon full
    ],
)
async def test_the_control_sections_fixed_limits_are_planned_and_limited_alike(
    tmp_path: Path, control: str, side: str, limit: float, battery_wh: int
) -> None:
    """Peak shaving and a fixed feed-in limit are import and export limits like the connection's:
    ``config.site_limits`` gives them to the limiter and the planner alike."""
    pv = side == "export"  # over 48 h the PV fills the battery: without PV the free plan imports
    cfg, _, plan = await plan_of(tmp_path, "{fuse_a: 10}", control, pv=pv, battery_wh=battery_wh)
    limiter = Limiter.from_site(cfg)
    active, _ = limiter.active_limits(SiteState().snapshot(NOW), limiter.initial())
    assert tightest(active, side) == limit == tightest(site_limits(cfg), side)
    rows = site_details(cfg, SiteState().snapshot(NOW))["restrictions"]  # the page names it too
    assert {
        "kind": "peak_shaving" if side == "import" else "feed_in_limit",
        "limit_w": round(limit),
        "source": "site file",
    } in rows
    flow = plan.import_w if side == "import" else plan.export_w
    assert flow.max() <= limit + 1.0
    _, _, free = await plan_of(tmp_path / "free", "{fuse_a: 10}", pv=pv, battery_wh=battery_wh)
    assert (free.import_w if side == "import" else free.export_w).max() > limit + 500.0  # what it holds
