"""The live planner beyond the battery: a car's energy by its departure (site file
``strategy.ev_departures``), a hot-water tank as thermal storage (``strategy.heat_stores``) and
the PV forecast corrected by the plant's measured yield. Recorded aWATTar prices on a mock
transport, the real SQLite store, the real control cycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from wattwerk.config import ConfigError, parse_config
from wattwerk.control.site import build_cycle
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.planning import PlanService, next_departure
from wattwerk.forecast.pv import forecast
from wattwerk.forecast.site import pv_arrays, weather_site
from wattwerk.forecast.weather import OpenMeteo
from wattwerk.market.site_prices import SLOT_MINUTES, TariffPrices
from wattwerk.model import Reading
from wattwerk.snapshot import SiteState
from wattwerk.store.sqlite import SqliteStore

DATA = Path(__file__).parent / "data" / "awattar_de_marketdata.json"  # 2024-05-31 22:00 to 06-02 22:00 UTC
NOW = datetime(2024, 6, 2, 6, tzinfo=UTC)  # Sunday 08:00 local; prices known to 22:00 UTC: 64 slots

HEAD = """\
site: {name: Plan house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - {id: grid, role: grid_meter, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}}
"""
EV = """\
  - {id: ev1, role: ev_charger, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9},
     phase_switching: true}
"""
ROD = """\
  - {id: rod, role: heating_rod, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9},
     stages: [1000, 3000]}
"""
HP = """\
  - {id: hp, role: heat_pump, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}, sg_ready: true,
     limits: {max_power_w: 2000}}
"""
PV = """\
  - {id: pv1, role: pv, kwp: 8, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}}
"""


def config(devices: str, strategy: str, tmp_path: Path):
    return parse_config(
        HEAD
        + devices
        + "strategy:\n  mode: planner\n"
        + strategy
        + f"tariff: {{provider: awattar}}\nstore: {{data_dir: {tmp_path / 'var'}}}\n"
    )


def recorded(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=json.loads(DATA.read_text()))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(cfg, tmp_path: Path, readings: list[Reading], **kw):
    clock = Clock(NOW)
    state = SiteState()
    state.update([Reading("grid.power", NOW, 400.0), *readings])
    client = lambda: httpx.AsyncClient(transport=httpx.MockTransport(recorded))  # noqa: E731
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json", client=client)
    return PlanService(cfg, lambda: state.snapshot(clock()), prices, clock=clock, **kw), clock, state


# ------------------------------------------------------------------ EV by departure


async def test_the_car_gets_its_energy_by_departure_in_the_cheapest_slots(tmp_path):
    cfg = config(EV, '  ev_departures:\n    - {charger: ev1, departure: "16:00", energy_kwh: 12}\n', tmp_path)
    plugged = [Reading("ev1.state", NOW, 1.0), Reading("ev1.energy", NOW, 5000.0)]
    svc, clock, state = service(cfg, tmp_path, plugged)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    ev = plan.devices["ev1"]["power_w"]
    deadline = 4 * 8  # 16:00 local = 14:00 UTC, 8 h after now
    assert ev[:deadline].sum() * SLOT_MINUTES / 60 == pytest.approx(12_000, abs=1.0)
    assert (ev[deadline:] == 0).all()  # the car has left
    assert plan.shortfall_wh["ev1"] == pytest.approx(0.0, abs=1e-6)
    charging = ev[:deadline] > 1.0
    buy = plan.buy_eur_per_kwh[:deadline]
    assert buy[charging].max() <= np.sort(buy)[int(charging.sum()) + 3]  # the cheap end of the window
    assert ((ev < 1.0) | (ev >= 6 * 230.0 - 1e-6)).all()  # off or at least 6 A on one phase

    # the control cycle follows the planned power in a charging slot
    i = int(np.argmax(ev))
    clock.now = plan.slot_start(i) + timedelta(minutes=2)
    state.update(
        [
            Reading("ev1.state", clock.now, 1.0),
            Reading("grid.power", clock.now, 300.0),
            Reading("ev1.power", clock.now, 0.0),
        ]
    )
    sig = svc.signals()
    assert sig.planned_w("ev1") == pytest.approx(ev[i], abs=0.1)
    step = CycleStep(build_cycle(cfg), svc.signals)
    setpoints = {s.channel: s.value for s in step(state.snapshot(clock.now))}
    assert setpoints["ev1.enable"] == 1.0
    phases = setpoints.get("ev1.phases", 3.0)
    assert setpoints["ev1.current_limit"] * phases * 230.0 == pytest.approx(min(ev[i], 11_040.0), rel=0.02)

    # 4 kWh later the plan asks only for the rest
    state.update([Reading("ev1.energy", clock.now, 9000.0)])
    plan = await svc.refresh()
    assert plan is not None
    left = deadline - i
    assert plan.devices["ev1"]["power_w"][:left].sum() * SLOT_MINUTES / 60 == pytest.approx(8_000, abs=1.0)


async def test_no_car_no_plan_for_it_and_a_far_departure_charges_only_where_it_pays(tmp_path):
    strategy = '  ev_departures:\n    - {charger: ev1, departure: "07:30", days: [mon], energy_kwh: 12}\n'
    cfg = config(EV, strategy, tmp_path)
    svc, _, state = service(cfg, tmp_path, [Reading("ev1.state", NOW, 0.0)])
    plan = await svc.refresh()
    assert plan is not None and "ev1" not in plan.devices
    assert svc.signals().planned_w("ev1") is None
    # plugged; Monday 07:30 local is past the known prices (Sunday 24:00): no deadline in the plan
    state.update([Reading("ev1.state", NOW, 1.0), Reading("ev1.energy", NOW, 0.0)])
    plan = await svc.refresh()
    assert plan is not None and "ev1" in plan.devices
    energy = plan.devices["ev1"]["power_w"].sum() * SLOT_MINUTES / 60
    assert 0.0 <= energy <= 12_000 + 1.0
    assert plan.shortfall_wh["ev1"] == 0.0


async def test_target_soc_needs_the_cars_soc(tmp_path):
    strategy = '  ev_departures:\n    - {charger: ev1, departure: "16:00", target_soc: 80, battery_kwh: 50}\n'
    cfg = config(EV, strategy, tmp_path)
    svc, _, state = service(cfg, tmp_path, [Reading("ev1.state", NOW, 1.0)])
    plan = await svc.refresh()
    assert plan is not None and "ev1" not in plan.devices  # SoC unknown: nothing to plan against
    state.update([Reading("ev1.soc", NOW, 60.0)])
    plan = await svc.refresh()
    assert plan is not None
    got = plan.devices["ev1"]["power_w"][:32].sum() * SLOT_MINUTES / 60
    assert got == pytest.approx(0.2 * 50_000 / 0.9, abs=1.0)  # 20 % of 50 kWh, AC side


def test_next_departure_respects_weekdays_and_local_time():
    cfg = config(
        EV,
        '  ev_departures:\n    - {charger: ev1, departure: "07:30", days: [mon, fri]}\n'.replace(
            "]}", "], energy_kwh: 5}"
        ),
        Path("/tmp"),
    )
    dep = cfg.strategy.ev_departures[0]
    sunday = datetime(2024, 6, 2, 6, tzinfo=UTC)
    assert next_departure(dep, sunday, "Europe/Berlin") == datetime(2024, 6, 3, 5, 30, tzinfo=UTC)
    monday_after = datetime(2024, 6, 3, 5, 31, tzinfo=UTC)
    assert next_departure(dep, monday_after, "Europe/Berlin") == datetime(2024, 6, 7, 5, 30, tzinfo=UTC)
    winter = datetime(2024, 12, 2, 5, 0, tzinfo=UTC)  # Monday 06:00 CET
    assert next_departure(dep, winter, "Europe/Berlin") == datetime(2024, 12, 2, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "line", "expect"),
    [
        (
            '{charger: grid, departure: "07:30", energy_kwh: 5}',
            9,
            'strategy.ev_departures[0].charger: "grid" is not an ev_charger device',
        ),
        (
            '{charger: ev1, departure: "7.30", energy_kwh: 5}',
            9,
            'strategy.ev_departures[0].departure: "7.30" is not a time of day',
        ),
        ('{charger: ev1, departure: "07:30"}', 9, "give either energy_kwh or target_soc"),
        ('{charger: ev1, departure: "07:30", target_soc: 80}', 9, "target_soc needs battery_kwh"),
        (
            '{charger: ev1, departure: "07:30", energy_kwh: 5, days: [monday]}',
            9,
            "strategy.ev_departures[0].days[0]: expected one of",
        ),
    ],
)
def test_departure_errors_name_the_line_and_field(entry, line, expect, tmp_path):
    with pytest.raises(ConfigError) as info:
        config(EV, f"  ev_departures:\n    - {entry}\n", tmp_path)
    (message,) = info.value.lines
    assert message.startswith(f"site.yaml:{line}: ") and expect in message, message


def test_heat_store_errors_name_the_line_and_field(tmp_path):
    with pytest.raises(ConfigError) as info:
        config(EV + ROD, "  heat_stores:\n    - heaters: [rod, ev1]\n      volume_l: 200\n", tmp_path)
    assert info.value.lines == [
        'site.yaml:11: strategy.heat_stores[0].heaters[1]: "ev1" is not a heat_pump or heating_rod device'
    ]
    with pytest.raises(ConfigError) as info:
        config(ROD, "  heat_stores:\n    - heaters: [rod]\n      volume_l: 200\n      min_c: 60\n", tmp_path)
    assert info.value.lines[0].startswith("site.yaml:11: strategy.heat_stores[0].min_c: min_c (60 °C)")


# ------------------------------------------------------------------ heat store


async def test_the_tank_is_heated_in_cheap_slots_within_its_band(tmp_path):
    strategy = (
        "  heat_stores:\n    - {heaters: [rod], volume_l: 200, min_c: 45, max_c: 65, "
        "temperature: rod.temperature, heat_kwh_per_day: 6}\n"
    )
    cfg = config(ROD, strategy, tmp_path)
    svc, clock, state = service(cfg, tmp_path, [Reading("rod.temperature", NOW, 46.0)])
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    rod = plan.devices["rod"]["power_w"]
    level = plan.devices["heat0"]["energy_wh"]
    capacity = 200 * 1.163 * 20
    assert (level >= -1e-6).all() and (level <= capacity + 1e-6).all()
    # relay stages are planned whole (0 or ≥ 1 kW per slot); the rounding may leave a little heat
    assert plan.shortfall_wh["heat0"] <= 0.02 * 6000 * plan.n / 96
    heated = rod > 1.0
    assert heated.any() and (rod <= 3000 + 1e-6).all()
    buy = plan.buy_eur_per_kwh
    # energy is bought where it is cheaper than the mean of the horizon
    assert (buy[heated] @ rod[heated]) / rod[heated].sum() < buy.mean()
    assert svc.signals().planned_w("rod") == pytest.approx(rod[0], abs=0.1)
    assert svc.plan_json()["slots"][0]["heat_w"] == pytest.approx(rod[0], abs=0.1)

    # in a slot the plan heats, the rod runs with no PV surplus (the grid imports); else it does not
    for i, wanted in ((int(np.argmax(rod)), True), (int(np.argmin(rod)), False)):
        clock.now = plan.slot_start(i) + timedelta(minutes=1)
        step = CycleStep(build_cycle(cfg), svc.signals)
        for s in (0, 61, 122, 183):  # relay stages go up one a minute
            t = clock.now + timedelta(seconds=s)
            state.update([Reading("grid.power", t, 500.0), Reading("rod.power", t, 0.0)])
            setpoints = {x.channel: x.value for x in step(state.snapshot(t))}
        if wanted:
            assert setpoints["rod.power"] >= min(rod[i], 3000.0) - 1.0
        else:
            assert setpoints["rod.power"] == 0.0


async def test_a_heat_pump_tank_recommends_sg_ready_when_the_plan_heats(tmp_path):
    strategy = (
        "  heat_stores:\n    - {heaters: [hp], volume_l: 500, min_c: 35, max_c: 50, cop: 3.5, "
        "heat_kwh_per_day: 30}\n"
    )
    cfg = config(HP, strategy, tmp_path)
    svc, clock, state = service(cfg, tmp_path, [])
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    hp = plan.devices["hp"]["power_w"]
    assert (hp <= 2000 + 1e-6).all() and hp.sum() * 0.25 * 3.5 >= 30_000 * plan.n / 96 * 0.5
    on = int(np.argmax(hp))
    idle = np.flatnonzero(hp < 1.0)
    off = int(idle[np.argmax(plan.buy_eur_per_kwh[idle])])  # idle and not cheap
    assert hp[on] >= 500.0 and not svc.signals().expensive
    for i, want in ((on, 3.0), (off, 2.0)):
        clock.now = plan.slot_start(i) + timedelta(minutes=1)
        state.update([Reading("grid.power", clock.now, 500.0), Reading("hp.power", clock.now, 0.0)])
        step = CycleStep(build_cycle(cfg), svc.signals)
        setpoints = {x.channel: x.value for x in step(state.snapshot(clock.now))}
        sg = {k: v for k, v in setpoints.items() if k.startswith("hp.")}
        assert sg.get("hp.sgready") == want, sg


# ------------------------------------------------------------------ PV corrected by its yield


def clear_weather(start: str, days: int) -> pd.DataFrame:
    cfg_site = weather_site(config(PV, "", Path("/tmp")))
    index = pd.date_range(start, periods=24 * days, freq="1h", tz="UTC")
    clear = cfg_site.location.get_clearsky(index + pd.Timedelta(minutes=30), model="ineichen")
    clear.index = index
    return clear[["ghi", "dni", "dhi"]].assign(temp_air=18.0, wind_speed=2.0)


async def plan_with_measured_pv(tmp_path: Path, since: datetime, until: datetime, factor: float):
    """The planner on clear-sky weather (7 past days as Open-Meteo's past_days, 2 ahead) with the
    plant measured at ``factor`` × the model in [since, until); returns the service, its plan and the
    model over the plan's slots."""
    cfg = config(PV, "", tmp_path)
    weather = clear_weather("2024-05-26", 9)
    modelled = forecast(weather_site(cfg), pv_arrays(cfg), weather)["total"]
    measured = modelled[(modelled.index >= since) & (modelled.index < until)]
    store = SqliteStore(tmp_path / "s.sqlite", tz="Europe/Berlin")
    store.write(
        [
            Reading("pv1.power", ts.to_pydatetime() + timedelta(minutes=15 * q), factor * watts)
            for ts, watts in measured.items()
            for q in range(4)
        ]
    )

    async def fetch():
        return weather

    try:
        svc, _, _ = service(cfg, tmp_path, [], store=store, weather=fetch)
        plan = await svc.refresh()
    finally:
        store.close()
    assert plan is not None
    ahead = modelled.reindex(pd.date_range(NOW, periods=plan.n, freq="15min", tz="UTC"), method="ffill")
    return svc, plan, ahead


async def test_pv_forecast_is_scaled_by_the_measured_yield_of_the_last_days(tmp_path):
    # the plant makes 80 % of what the model says, every past day
    midnight = NOW.replace(hour=0)
    svc, plan, ahead = await plan_with_measured_pv(tmp_path, midnight - timedelta(days=7), midnight, 0.8)
    assert svc.pv_correction is not None
    assert svc.pv_correction.days >= 5 and svc.pv_correction.factor == pytest.approx(0.8, abs=0.02)
    noon = int(np.argmax(plan.pv_w))
    assert plan.pv_w[noon] == pytest.approx(0.8 * ahead.iloc[noon], rel=0.03)
    assert svc.plan_json()["pv_correction"] == pytest.approx(svc.pv_correction.factor, abs=1e-3)


async def test_pv_without_measurements_is_not_corrected(tmp_path):
    svc, _, _ = await plan_with_measured_pv(tmp_path, NOW, NOW, 1.0)
    assert svc.pv_correction is None
    assert svc.plan_json()["pv_correction"] is None


async def test_open_meteo_asks_for_past_days_when_told():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        hourly = {"time": ["2024-06-02T00:00"], "shortwave_radiation": [0.0]}
        return httpx.Response(200, json={"hourly": hourly})

    site = weather_site(config(PV, "", Path("/tmp")))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        await OpenMeteo(site, past_days=7).fetch(client)
        await OpenMeteo(site).fetch(client)
    assert seen[0]["past_days"] == "7" and "past_days" not in seen[1]


async def test_pv_of_the_last_hours_scales_the_coming_hours_and_fades(tmp_path):
    # a cloudy morning: half of what was forecast in the last two hours
    svc, plan, ahead = await plan_with_measured_pv(tmp_path, NOW - timedelta(hours=2), NOW, 0.5)
    assert svc.pv_correction is None  # no whole past day measured
    assert svc.pv_recent == pytest.approx(0.5, abs=0.02)
    ratio = plan.pv_w[:25] / ahead.to_numpy()[:25]  # 06:00-12:15 UTC: daylight
    assert ratio[0] == pytest.approx(0.5, abs=0.02)
    assert 0.5 < ratio[8] < ratio[24] < 1.0  # fading back to the forecast
    assert svc.plan_json()["pv_recent"] == pytest.approx(0.5, abs=0.02)
