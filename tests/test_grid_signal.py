"""The grid's CO₂ signal (forecast/grid_signal.py) in the planner: Energy-Charts ``/co2eq`` served
from a recorded response by a real HTTP server on loopback (the API is never called in tests), the
disk cache across restarts and outages, and the planner's CO₂ tie-breaker and weight."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from wattwerk.config import parse_config
from wattwerk.control.plan_model import EV, PlanRequest
from wattwerk.control.planner import solve
from wattwerk.edge.planning import CO2_TIE_EUR_PER_KG, PlanService
from wattwerk.forecast.grid_signal import Co2Source, EnergyChartsCO2
from wattwerk.market.site_prices import TariffPrices
from wattwerk.model import Reading
from wattwerk.snapshot import SiteState

RECORDED = Path(__file__).parent / "data" / "energy_charts_co2eq_de.json"  # 2024-07-13 22:00 UTC, 96 x 15 min
FIRST = datetime(2024, 7, 13, 22, tzinfo=UTC)


class Recorded:
    """A loopback HTTP server answering ``/co2eq`` with the recorded body (or ``status``)."""

    def __init__(self) -> None:
        self.body = RECORDED.read_bytes()
        self.status = 200
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                owner.requests.append((url.path, parse_qs(url.query)))
                ok = owner.status == 200 and url.path == "/co2eq"
                body = owner.body if ok else b'{"detail": "not here"}'
                self.send_response(owner.status if url.path == "/co2eq" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def energy_charts() -> Iterator[Recorded]:
    rec = Recorded()
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def recorded_values() -> np.ndarray:
    payload = json.loads(RECORDED.read_text())
    return np.array(
        [a if a is not None else b for a, b in zip(payload["co2eq"], payload["co2eq_forecast"], strict=True)]
    )


async def test_fetched_from_loopback_cached_and_kept_through_an_outage(
    energy_charts: Recorded, tmp_path, caplog
):
    cache = tmp_path / "co2.json"
    src = Co2Source(EnergyChartsCO2("de", base=energy_charts.base), cache)
    got = await src.per_slot(FIRST, 96)
    assert energy_charts.requests == [("/co2eq", {"country": ["de"]})]
    assert got is not None and np.allclose(got, recorded_values()) and src.fresh
    again = await src.per_slot(FIRST + timedelta(minutes=15), 95)  # within the hour: no second request
    assert len(energy_charts.requests) == 1 and np.allclose(again, recorded_values()[1:])
    assert json.loads(cache.read_text())["series"]["energy-charts-co2-de"]["series"]["unit"] == "g/kWh"

    energy_charts.status = 503  # the API is down; a restarted edge plans with the cached values
    restarted = Co2Source(EnergyChartsCO2("de", base=energy_charts.base), cache)
    with caplog.at_level(logging.WARNING, "wattwerk.market"):
        cached = await restarted.per_slot(FIRST + timedelta(hours=2), 8)
    assert cached is not None and np.allclose(cached, recorded_values()[8:16]) and not restarted.fresh
    assert "HTTP 503" in caplog.text

    beyond = await restarted.per_slot(FIRST + timedelta(hours=23), 8)  # 4 known slots, 4 past the end
    assert beyond is not None and np.allclose(beyond[:4], recorded_values()[92:])
    assert np.allclose(beyond[4:], recorded_values()[92:].mean())  # neutral where the signal ends


async def test_no_signal_and_no_cache_plans_on_price_alone(energy_charts: Recorded, tmp_path, caplog):
    energy_charts.status = 500
    src = Co2Source(EnergyChartsCO2("de", base=energy_charts.base), tmp_path / "co2.json")
    with caplog.at_level(logging.WARNING, "wattwerk.planner"):
        assert await src.per_slot(FIRST, 4) is None
        assert await src.per_slot(FIRST, 4) is None
    assert caplog.text.count("no CO₂ signal") == 1  # once per failure streak


def test_when_prices_tie_the_co2_tie_breaker_moves_the_car_into_the_greenest_slots():
    co2 = recorded_values()
    n = len(co2)
    ev = EV(np.ones(n, bool), energy_wh=11_000, max_power_w=11_000, deadline=n)
    base = PlanRequest(
        FIRST, 15, np.full(n, 0.30), np.zeros(n), np.full(n, 300.0), evs=(ev,), co2_g_per_kwh=co2
    )
    alone = solve(base)
    tie = solve(PlanRequest(**{**base.__dict__, "co2_eur_per_kg": CO2_TIE_EUR_PER_KG}))
    charging = tie.devices["ev1"]["power_w"] > 1
    assert co2[charging].max() <= np.sort(co2)[int(charging.sum()) + 1] + 1e-9  # the greenest slots
    assert tie.cost_eur == pytest.approx(alone.cost_eur, abs=1e-6)  # a tie-breaker costs nothing
    assert tie.co2_kg < alone.co2_kg - 0.5  # and saves CO₂ the price alone leaves to chance


def test_a_co2_weight_outweighs_a_small_price_difference():
    co2 = recorded_values()
    n = len(co2)
    price = np.full(n, 0.30)
    price[:8] = 0.295  # half a cent cheaper in the dirtiest slots (445 g/kWh) before midnight
    ev = EV(np.ones(n, bool), energy_wh=5_000, max_power_w=11_000, deadline=n)
    req = PlanRequest(FIRST, 15, price, np.zeros(n), np.zeros(n), evs=(ev,), co2_g_per_kwh=co2)
    cheap = solve(PlanRequest(**{**req.__dict__, "co2_eur_per_kg": CO2_TIE_EUR_PER_KG}))
    assert (cheap.devices["ev1"]["power_w"][8:] < 1).all()  # the tie-breaker never beats a price
    green = solve(PlanRequest(**{**req.__dict__, "co2_eur_per_kg": 0.1}))  # 100 €/t: 445 g costs 4.5 ct
    assert (green.devices["ev1"]["power_w"][:8] < 1).all()
    assert green.co2_kg < cheap.co2_kg and green.cost_eur > cheap.cost_eur


SITE = """\
site: {name: Green house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - {id: grid, role: grid_meter, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}}
  - {id: ev1, role: ev_charger, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}}
strategy:
  mode: planner
  ev_departures: [{charger: ev1, departure: "20:00", energy_kwh: 10}]
  co2: {country: de, weight_eur_per_kg: WEIGHT}
tariff: {provider: fixed, fixed_eur_per_kwh: 0.2}
store: {data_dir: DATADIR}
"""


async def test_the_edge_plans_the_car_into_low_co2_slots_and_shows_kg_and_eur(
    energy_charts: Recorded, tmp_path
):
    now = datetime(2024, 7, 14, 4, tzinfo=UTC)  # 06:00 local; the car leaves at 20:00 local (56 slots)
    cfg = parse_config(SITE.replace("WEIGHT", "0").replace("DATADIR", str(tmp_path / "var")))
    state = SiteState()
    state.update(
        [Reading("grid.power", now, 300.0), Reading("ev1.state", now, 1.0), Reading("ev1.energy", now, 0.0)]
    )
    co2 = Co2Source(EnergyChartsCO2("de", base=energy_charts.base), tmp_path / "co2.json")
    prices = TariffPrices(cfg.tariff, tmp_path / "prices.json")
    svc = PlanService(cfg, lambda: state.snapshot(now), prices, clock=lambda: now, co2=co2)
    plan = await svc.refresh()
    assert plan is not None and plan.status == "optimal"
    signal = recorded_values()[24:80]  # 04:00 to 18:00 UTC
    ev = plan.devices["ev1"]["power_w"][:56]
    assert ev.sum() * 0.25 == pytest.approx(10_000, abs=1.0)
    charging = ev > 1.0
    assert signal[charging].max() <= np.sort(signal)[int(charging.sum()) + 1] + 1e-9
    shown = svc.plan_json()
    assert shown["co2"]["source"] == "energy-charts-co2-de" and shown["co2"]["weight_eur_per_kg"] == 0.0
    expected_kg = float(svc.co2_g @ plan.import_w) * 0.25 / 1e6
    assert shown["co2"]["kg"] == pytest.approx(expected_kg, abs=1e-3) and expected_kg > 0
    effect = shown["co2"]["effect"]
    assert effect["cost_eur_more"] == pytest.approx(0.0, abs=1e-3) and effect["co2_kg_saved"] >= 0.0
    assert shown["slots"][0]["co2_g_per_kwh"] == pytest.approx(signal[0], abs=0.1)
    assert shown["cost_eur"] == pytest.approx(plan.cost_eur, abs=1e-4)


BATTERY_SITE = """\
site: {name: Green house, location: {latitude: 48.0, longitude: 7.8}, timezone: Europe/Berlin}
devices:
  - {id: grid, role: grid_meter, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9}}
  - {id: bat, role: battery, connection: {type: modbus_tcp, host: 127.0.0.1, port: 9},
     capacity_wh: 20000, max_charge_w: 5000, max_discharge_w: 5000}
strategy: {mode: planner, co2: {weight_eur_per_kg: 0}}
tariff: {provider: fixed}
store: {data_dir: DATADIR}
"""


def test_the_effect_counts_the_energy_left_in_the_battery(tmp_path):
    """On a flat price the battery may end fuller or emptier, whatever the CO₂ term: the effect
    values the energy left at the end as the planner does, so the tie-breaker shows no cost."""
    from wattwerk.market.site_prices import Prices

    cfg = parse_config(BATTERY_SITE.replace("DATADIR", str(tmp_path / "var")))
    co2 = recorded_values()
    now = FIRST
    state = SiteState()
    state.update([Reading("grid.power", now, 300.0), Reading("bat.soc", now, 100.0)])
    svc = PlanService(
        cfg, lambda: state.snapshot(now), TariffPrices(cfg.tariff, tmp_path / "p.json"), clock=lambda: now
    )
    assert svc.co2 is not None and svc.co2.name == "energy-charts-co2-de"  # built from strategy.co2
    prices = Prices(now, np.full(96, 0.30), np.full(96, 0.08), "fixed")
    plan, effect = svc.solve(prices, state.snapshot(now), None, co2)
    assert effect is not None and plan.co2_kg is not None
    assert effect["cost_eur_more"] == pytest.approx(0.0, abs=0.005)
    req = svc.request(prices, state.snapshot(now), None, co2)
    alone = solve(PlanRequest(**{**req.__dict__, "co2_eur_per_kg": 0.0}), svc.options)
    assert abs(plan.cost_eur - alone.cost_eur) > 0.1  # the bare costs differ: the batteries end apart
    assert effect["co2_kg_saved"] > 0.1  # the battery serves the dirtiest slots
    discharge = plan.devices["bat"]["power_w"] > 1
    assert discharge.any() and co2[discharge].mean() > co2[~discharge].mean() + 50
