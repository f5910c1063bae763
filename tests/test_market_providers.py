from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from wattwerk.errors import BadInput, PermanentError, RetryableError
from wattwerk.market import awattar, energy_charts, entsoe, swiss, tibber
from wattwerk.market.prices import PriceSeries
from wattwerk.market.smard import read_smard_csv
from wattwerk.market.source import CachedPrices, PriceCache

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def smard(shared_data) -> PriceSeries:
    return read_smard_csv(shared_data / "real" / "prices_de_lu_2024_hourly_smard.csv")


def load(name: str):
    return json.loads((DATA / name).read_text())


def test_awattar_matches_smard_for_the_same_hours(smard):
    s = awattar.parse(load("awattar_de_marketdata.json"))
    assert s.slot_minutes == 60 and len(s) == 48 and s.complete()
    assert s.start == datetime(2024, 5, 31, 22, tzinfo=UTC)  # 00:00 CEST
    assert np.allclose(s.values, smard.window(s.start, s.end).values, atol=1e-6)


def test_entsoe_a03_fills_left_out_positions_on_a_25_hour_day(smard):
    s = entsoe.parse((DATA / "entsoe_a44_de_lu_2024-10-27_pt60m.xml").read_bytes())
    assert s.slot_minutes == 60 and len(s) == 25 and s.complete()
    expected = smard.window(s.start, s.end).values.copy()
    expected[5] = expected[6] = expected[4]  # the recorded day has a run the document leaves out
    assert np.allclose(s.values, expected)


def test_entsoe_pt15m_and_resampling():
    xml = (DATA / "entsoe_a44_de_lu_2025-10-05_pt15m.xml").read_text()
    s = entsoe.parse(xml)
    assert s.slot_minutes == 15 and len(s) == 96 and s.complete()
    assert s.values[52] == s.values[53] == s.values[54] == s.values[55]  # filled by the A03 rule
    hourly = entsoe.parse(xml, slot_minutes=60)
    assert len(hourly) == 24
    assert hourly.values[13] == pytest.approx(s.values[52:56].mean())


def test_entsoe_acknowledgement_is_retryable_with_the_reason():
    with pytest.raises(RetryableError, match="No matching data"):
        entsoe.parse((DATA / "entsoe_ack_no_data.xml").read_bytes())


def test_entsoe_garbage_is_bad_input():
    with pytest.raises(BadInput):
        entsoe.parse(b"<html>maintenance</html")


def test_tibber_quarter_hourly_over_dst_start():
    payload = load("tibber_priceinfo_quarter_hourly.json")
    s = tibber.parse(payload)
    assert s.slot_minutes == 15 and s.complete()
    assert len(s) == 92 + 96  # 31 March 2024 has 23 hours
    total = [
        r["total"] for r in payload["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfo"]["today"]
    ]
    assert np.allclose(s.values[:92], total)
    energy = tibber.parse(payload, field="energy")
    assert (energy.values < s.values).all()


def test_tibber_graphql_error_is_permanent():
    with pytest.raises(PermanentError, match="token"):
        tibber.parse({"errors": [{"message": "invalid token"}]})


def test_energy_charts_price_and_swiss():
    s = energy_charts.parse_price(load("energy_charts_price_de_lu.json"))
    assert len(s) == 24 and s.start == datetime(2024, 7, 13, 22, tzinfo=UTC)
    ekz = swiss.parse(load("ekz_tariffs_400d.json"))
    assert ekz.unit == "CHF/kWh" and ekz.slot_minutes == 15 and len(ekz) == 96
    grid = swiss.parse(load("ekz_tariffs_400d.json"), component="grid")  # the monthly CHF_m is ignored
    assert set(np.round(grid.values, 5)) == {0.07, 0.11}
    assert np.allclose(
        ekz.values, swiss.parse(load("ekz_tariffs_400d.json"), "electricity").values + grid.values
    )


# ------------------------------------------------------------------ HTTP, fallback and cache


def transport(
    routes: dict[str, httpx.Response | Exception], calls: list[httpx.Request]
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        answer = routes[request.url.host]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler)


async def test_clients_send_the_documented_requests():
    calls: list[httpx.Request] = []
    routes = {
        "api.awattar.de": httpx.Response(200, json=load("awattar_de_marketdata.json")),
        "web-api.tp.entsoe.eu": httpx.Response(
            200, content=(DATA / "entsoe_a44_de_lu_2024-10-27_pt60m.xml").read_bytes()
        ),
        "api.tibber.com": httpx.Response(200, json=load("tibber_priceinfo_quarter_hourly.json")),
        "api.tariffs.ekz.ch": httpx.Response(200, json=load("ekz_tariffs_400d.json")),
        "api.energy-charts.info": httpx.Response(200, json=load("energy_charts_price_de_lu.json")),
    }
    start, end = datetime(2024, 5, 31, 22, tzinfo=UTC), datetime(2024, 6, 2, 22, tzinfo=UTC)
    async with httpx.AsyncClient(transport=transport(routes, calls)) as client:
        s = await awattar.Awattar().fetch(client, start, end)
        assert len(s) == 48
        e = await entsoe.Entsoe(token="t0k", zone="AT").fetch(client, start, end)
        assert len(e) == 25
        t = await tibber.Tibber(token="abc").fetch(client, datetime(2024, 3, 31, tzinfo=UTC), end)
        assert t.start == datetime(2024, 3, 31, tzinfo=UTC)
        await swiss.SwissTariff("ekz", "400D").fetch(client, start, end)
        await energy_charts.EnergyChartsPrice("DE-LU").fetch(client, start, end)
    aw, en, tb, ekz, ec = calls
    assert aw.url.params["start"] == str(int(start.timestamp() * 1000))
    assert en.url.params["documentType"] == "A44" and en.url.params["in_Domain"] == "10YAT-APG------L"
    assert en.url.params["periodStart"] == "202405312200"
    assert tb.method == "POST" and tb.headers["Authorization"] == "Bearer abc"
    assert "priceInfo(resolution: QUARTER_HOURLY)" in json.loads(tb.content)["query"]
    assert ekz.url.params["tariff_name"] == "400D"
    assert ec.url.params["bzn"] == "DE-LU"


async def test_status_codes_map_to_typed_errors():
    calls: list[httpx.Request] = []
    cases = [(401, PermanentError), (503, RetryableError), (404, PermanentError), (429, RetryableError)]
    for status, error in cases:
        routes = {"api.awattar.de": httpx.Response(status, text="nope")}
        async with httpx.AsyncClient(transport=transport(routes, calls)) as client:
            with pytest.raises(error):
                await awattar.Awattar().fetch(
                    client, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
                )


async def test_failing_provider_falls_back_to_cached_prices_across_restarts(tmp_path, caplog):
    cache_file = tmp_path / "prices.json"
    start, end = datetime(2024, 5, 31, 22, tzinfo=UTC), datetime(2024, 6, 2, 22, tzinfo=UTC)
    now = datetime(2024, 5, 31, 12, tzinfo=UTC)
    ok = {"api.awattar.de": httpx.Response(200, json=load("awattar_de_marketdata.json"))}
    calls: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=transport(ok, calls)) as client:
        first = await CachedPrices(awattar.Awattar(), PriceCache(cache_file)).get(client, start, end, now)
    assert first.fresh and cache_file.exists()

    # a new process: new objects, same file; the provider is down
    down = {"api.awattar.de": httpx.ConnectError("connection refused")}
    source = CachedPrices(awattar.Awattar(), PriceCache(cache_file))
    async with httpx.AsyncClient(transport=transport(down, calls)) as client:
        with caplog.at_level("WARNING", logger="wattwerk.market"):
            r1 = await source.get(client, start, end + timedelta(hours=2), now + timedelta(hours=1))
            r2 = await source.get(client, start, end, now + timedelta(hours=2))
    assert not r1.fresh and "using last known prices" in r1.message and "ConnectError" in r1.message
    assert r1.fetched_at == now
    assert np.allclose(r1.series.values[:48], first.series.values)
    assert np.isnan(r1.series.values[48:]).all()  # unknown beyond what was cached, not invented
    assert not r2.fresh and source.failures == 2
    assert sum("using last known prices" in m for m in caplog.messages) == 1  # said once per streak


async def test_no_cache_and_no_provider_is_a_retryable_error(tmp_path):
    down = {"api.awattar.de": httpx.Response(500)}
    async with httpx.AsyncClient(transport=transport(down, [])) as client:
        with pytest.raises(RetryableError, match="no prices are cached"):
            await CachedPrices(awattar.Awattar(), PriceCache(tmp_path / "p.json")).get(
                client, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
            )


def test_corrupt_cache_file_starts_empty(tmp_path, caplog):
    f = tmp_path / "prices.json"
    f.write_text("{not json")
    assert PriceCache(f).get("awattar-de") is None
    PriceCache(f).put(
        "x", PriceSeries(datetime(2024, 1, 1, tzinfo=UTC), 60, [0.1]), datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert PriceCache(f).get("x")[0].values.tolist() == [0.1]


def test_entsoe_document_with_15_and_60_minute_series_keeps_the_first():
    """Around the move to 15-min products a document can carry both resolutions for a day."""
    ns = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"

    def series(res: str, points: list[tuple[int, float]], end: str) -> str:
        pts = "".join(
            f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>" for p, v in points
        )
        return (
            f"<TimeSeries><curveType>A03</curveType><Period><timeInterval><start>2025-10-01T22:00Z</start>"
            f"<end>{end}</end></timeInterval><resolution>{res}</resolution>{pts}</Period></TimeSeries>"
        )

    xml = (
        f'<Publication_MarketDocument xmlns="{ns}">'
        + series("PT15M", [(1, 40.0), (2, 44.0)], "2025-10-01T23:00Z")
        + series("PT60M", [(1, 100.0), (2, 200.0)], "2025-10-02T00:00Z")
        + "</Publication_MarketDocument>"
    )
    s = entsoe.parse(xml)
    assert s.slot_minutes == 15 and len(s) == 8
    # the 15-min series wins its hour (position 3 and 4 repeat 44 by A03); the next hour is the hourly price
    assert (s.values * 1000).round(2).tolist() == [40.0, 44.0, 44.0, 44.0, 200.0, 200.0, 200.0, 200.0]
