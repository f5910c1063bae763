"""The site file's tariff as one model (market/site_tariff.py): time-of-use windows, §14a module 3
grid fees of a grid operator from the shipped table, Swiss EKZ / Groupe E prices and a spot-indexed
feed-in, priced per 15-min slot across DST days; and the schema's line-exact errors for them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from wattwerk.config import ConfigError, parse_config
from wattwerk.config.tariff import operators
from wattwerk.market.prices import PriceSeries
from wattwerk.market.site_prices import TariffPrices
from wattwerk.market.site_tariff import SiteTariff
from wattwerk.market.tariff import slot_index

TZ = "Europe/Berlin"
HEAD = """site:
  name: t
  location: {latitude: 51.1, longitude: 10.2}
  timezone: Europe/Berlin
"""


def cfg(tariff: str):
    return parse_config(HEAD + tariff)


def local_day(day: str, tz: str = TZ) -> tuple[datetime, int, pd.DatetimeIndex]:
    a = pd.Timestamp(day, tz=tz)
    b = a + pd.DateOffset(days=1)
    n = int((b - a) / pd.Timedelta(minutes=15))
    start = a.tz_convert("UTC").to_pydatetime()
    return start, n, slot_index(start, n, 15)


TOU = """tariff:
  provider: fixed
  fixed_eur_per_kwh: 0.20
  grid_fees_eur_per_kwh: 0.10
  vat: 0.10
  time_of_use:
    - {hours: "06:00-22:00", days: [mon, tue, wed, thu, fri], eur_per_kwh: 0.30}
    - {hours: "22:00-24:00", eur_per_kwh: 0.15}
"""


@pytest.mark.parametrize(
    ("day", "slots", "day_slots", "late_slots"),
    [
        ("2025-03-28", 96, 64, 8),  # a Friday: 06-22 weekday rate, 22-24 late rate, the rest fixed
        ("2025-03-30", 92, 0, 8),  # Sunday, spring forward: no weekday rate, 23 hours
        ("2025-10-26", 100, 0, 8),  # Sunday, fall back: 25 hours, 02:00-03:00 twice at the fixed rate
        ("2025-10-27", 96, 64, 8),
    ],
)
def test_time_of_use_per_slot_on_dst_days(day, slots, day_slots, late_slots):
    tariff = SiteTariff(cfg(TOU).tariff, TZ)
    _, n, starts = local_day(day)
    assert n == slots
    buy = tariff.buy(starts)
    gross = {0.30: (0.30 + 0.10) * 1.1, 0.15: (0.15 + 0.10) * 1.1, 0.20: (0.20 + 0.10) * 1.1}
    assert int(np.isclose(buy, gross[0.30]).sum()) == day_slots
    assert int(np.isclose(buy, gross[0.15]).sum()) == late_slots
    assert int(np.isclose(buy, gross[0.20]).sum()) == n - day_slots - late_slots
    local = starts.tz_convert(TZ)
    assert buy[list(local.hour).index(23)] == pytest.approx(gross[0.15])  # 23:00 local, whatever the offset


MODULE3 = """tariff:
  provider: fixed
  fixed_eur_per_kwh: 0.20
  grid_fees_eur_per_kwh: 0.15
  vat: 0.19
  module3: {operator: ew-wanfried}
"""


@pytest.mark.parametrize(
    ("day", "slots", "low_slots", "high_slots"),
    [
        ("2025-03-30", 92, 8, 8),  # Q1, spring forward: 01:00-04:00 local lasts 2 hours
        ("2025-10-26", 100, 16, 8),  # Q4, fall back: 01:00-04:00 local lasts 4 hours
        ("2025-06-15", 96, 0, 0),  # Q2: the standard level all day
    ],
)
def test_module3_of_a_grid_operator_per_slot_on_dst_days(day, slots, low_slots, high_slots):
    row = operators()["ew-wanfried"]
    low, std, high = (row["ct_per_kwh"][k] / 100 for k in ("low", "standard", "high"))
    tariff = SiteTariff(cfg(MODULE3).tariff, TZ)
    _, n, starts = local_day(day)
    assert n == slots
    fees = tariff.fees(starts)  # the standard grid fee inside grid_fees_eur_per_kwh swapped for the level
    assert int(np.isclose(fees, 0.15 - std + low).sum()) == low_slots
    assert int(np.isclose(fees, 0.15 - std + high).sum()) == high_slots
    assert int(np.isclose(fees, 0.15).sum()) == n - low_slots - high_slots
    buy = tariff.buy(starts)
    assert np.allclose(buy, (0.20 + fees) * 1.19)
    local = starts.tz_convert(TZ)
    if high_slots:
        at17 = list(local.hour).index(17)
        assert fees[at17] == pytest.approx(0.15 - std + high)


def test_module3_levels_in_the_site_file_and_a_gross_table_row():
    own = cfg(
        """tariff:
  grid_fees_eur_per_kwh: 0.10
  module3:
    low_eur_per_kwh: 0.02
    standard_eur_per_kwh: 0.08
    high_eur_per_kwh: 0.12
    periods: [{months: [1, 2, 3], low: ["22:00-05:00"], high: ["17:00-20:00"]}]
"""
    ).tariff
    _, _, starts = local_day("2025-01-15")
    fees = SiteTariff(own, TZ).fees(starts)
    assert int(np.isclose(fees, 0.04).sum()) == 7 * 4  # 22:00-05:00 wraps past midnight
    assert int(np.isclose(fees, 0.14).sum()) == 3 * 4
    swa = cfg(MODULE3.replace("ew-wanfried", "swa-netze-augsburg")).tariff
    levels, periods = swa.module3.resolved()
    assert levels["low"] == pytest.approx(0.0367 / 1.19)  # published with VAT, kept net
    assert periods[0].low == ["01:00-04:30"]


def swiss_day(day: str, tz: str = "Europe/Zurich") -> dict:
    """A response in the documented Swiss tariff API format for one local day: energy 0.10 CHF/kWh
    by night (21-06), 0.20 by day, grid 0.07; ``integrated`` is their sum."""
    _, _, starts = local_day(day, tz)
    rows = []
    for s in starts.tz_convert(tz):
        energy = 0.20 if 6 <= s.hour < 21 else 0.10
        rows.append(
            {
                "start_timestamp": s.isoformat(),
                "end_timestamp": (s + pd.Timedelta(minutes=15)).isoformat(),
                "electricity": [{"unit": "CHF_kWh", "value": energy}],
                "grid": [{"unit": "CHF_m", "value": 4.3}, {"unit": "CHF_kWh", "value": 0.07}],
                "integrated": [{"unit": "CHF_m", "value": 4.3}, {"unit": "CHF_kWh", "value": energy + 0.07}],
            }
        )
    return {"publication_timestamp": "2025-10-25T18:00:00+02:00", "prices": rows}


@pytest.mark.parametrize(
    ("provider", "host", "day", "slots", "night_slots"),
    [
        ("ekz", "api.tariffs.ekz.ch", "2025-10-26", 100, 40),  # 21-06 local: 02:00-03:00 twice
        ("groupe_e", "api.tariffs.groupe-e.ch", "2025-03-30", 92, 32),  # 02:00-03:00 never happens
    ],
)
async def test_swiss_tariff_per_slot_on_dst_days(
    tmp_path: Path, provider: str, host: str, day: str, slots: int, night_slots: int
):
    site = parse_config(
        HEAD.replace("Europe/Berlin", "Europe/Zurich")
        + f"tariff: {{provider: {provider}, tariff_name: vario_plus, feed_in_eur_per_kwh: 0.06}}\n"
    )
    t = site.tariff
    assert t.currency == "CHF" and t.vat_rate == pytest.approx(0.081) and t.fees_per_kwh == 0.0
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=swiss_day(day))

    prices = TariffPrices(
        t,
        tmp_path / "p.json",
        tz="Europe/Zurich",
        client=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    start, n, starts = local_day(day, "Europe/Zurich")
    got = await prices.prices(start, start + timedelta(minutes=15 * n))
    assert seen[0].url.host == host and seen[0].url.params["tariff_name"] == "vario_plus"
    assert len(got.buy) == n == slots
    local = starts.tz_convert("Europe/Zurich")
    daytime = np.array([6 <= h < 21 for h in local.hour])
    assert np.allclose(got.buy[daytime], 0.27 * 1.081) and np.allclose(got.buy[~daytime], 0.17 * 1.081)
    assert int((~daytime).sum()) == night_slots
    assert np.allclose(got.sell, 0.06)


def test_spot_feed_in_factor_offset_and_negative_hours():
    t = cfg(
        """tariff:
  provider: energy_charts
  no_feed_in_at_negative_prices: true
  feed_in_spot: {factor: 0.9, offset_eur_per_kwh: -0.004}
"""
    ).tariff
    start, n, starts = local_day("2025-05-11")
    spot = PriceSeries(start, 15, np.linspace(-0.05, 0.15, n))
    sell = SiteTariff(t, TZ).sell(starts, spot)
    expected = np.where(spot.values < 0, 0.0, 0.9 * spot.values - 0.004)
    assert np.allclose(sell, expected) and (sell == 0).sum() == (spot.values < 0).sum() > 0
    # without spot prices (the history of a past month) the fixed feed-in stands in
    assert np.allclose(SiteTariff(t, TZ).sell(starts), t.feed_in_eur_per_kwh)


async def test_fixed_energy_with_spot_feed_in_fetches_the_zone_spot_price(tmp_path: Path):
    t = cfg("tariff: {fixed_eur_per_kwh: 0.25, zone: AT, feed_in_spot: {factor: 1.0}}\n").tariff
    start, n, starts = local_day("2025-05-11")
    secs = [int(s.timestamp()) for s in starts]
    spot_mwh = [float(40 + i % 7) for i in range(n)]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/price" and request.url.params["bzn"] == "AT"
        return httpx.Response(200, json={"unix_seconds": secs, "price": spot_mwh, "unit": "EUR / MWh"})

    prices = TariffPrices(
        t,
        tmp_path / "p.json",
        tz=TZ,
        client=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    got = await prices.prices(start, start + timedelta(hours=6))
    assert np.allclose(got.sell, np.array(spot_mwh[:24]) / 1000)
    assert np.allclose(got.buy, (0.25 + t.grid_fees_eur_per_kwh) * 1.19)
    assert got.source.startswith("fixed, feed-in")


@pytest.mark.parametrize(
    ("tariff", "line"),
    [
        (
            'tariff:\n  time_of_use:\n    - {hours: "06:00-22:00", eur_per_kwh: 0.3}\n'
            '    - {hours: "22-6", eur_per_kwh: 0.2}\n',
            'site.yaml:8: tariff.time_of_use[1].hours: "22-6" is not a time span; write it as "HH:MM-HH:MM" '
            'in quotes, e.g. "17:00-21:00"',
        ),
        (
            "tariff:\n  provider: fixed\n  module3:\n    operator: netz-nirgendwo\n",
            'site.yaml:8: tariff.module3.operator: unknown grid operator "netz-nirgendwo" (the table has '
            "ew-wanfried, swa-netze-augsburg); or give low_eur_per_kwh, standard_eur_per_kwh, "
            "high_eur_per_kwh and periods",
        ),
        (
            'tariff:\n  provider: awattar\n  time_of_use:\n    - {hours: "06:00-22:00", eur_per_kwh: 0.3}\n',
            "site.yaml:7: tariff.time_of_use: time_of_use windows price the energy of provider fixed; "
            "provider awattar has its own prices",
        ),
        (
            "tariff:\n  provider: tibber\n  token: x\n  feed_in_spot: {factor: 1}\n",
            "site.yaml:8: tariff.feed_in_spot: feed_in_spot needs the day-ahead spot price: provider tibber "
            "does not give it (use awattar, entsoe, energy_charts, or fixed with zone)",
        ),
        (
            "tariff:\n  module3:\n    low_eur_per_kwh: 0.02\n    periods: [{months: [13]}]\n",
            "site.yaml:8: tariff.module3.periods[0].months[0]: must be at most 12, got 13",
        ),
        (
            "strategy:\n  co2: {weight_eur_per_kg: -1}\n",
            "site.yaml:6: strategy.co2.weight_eur_per_kg: must be at least 0, got -1",
        ),
    ],
)
def test_tariff_errors_name_the_line(tariff: str, line: str):
    with pytest.raises(ConfigError) as err:
        cfg(tariff)
    assert line in err.value.lines, err.value.lines


class OneKwhPerHour:
    """An ``edge.history.EnergyView`` whose site imports 1 kWh every hour and exports nothing."""

    def energy_kwh(self, start: datetime, end: datetime) -> dict[str, float]:
        hours = (end - start).total_seconds() / 3600
        zero = dict.fromkeys(("grid_export", "pv", "battery_discharge", "battery_charge", "ev", "heat"), 0.0)
        return zero | {"grid_import": hours, "house": hours}


def test_edge_history_prices_each_hour_of_a_dst_day_by_its_time_of_use_window():
    from datetime import date

    from wattwerk.edge.history import history

    site = cfg(TOU)
    day = history(OneKwhPerHour(), site, "day", date(2025, 10, 27))  # a Monday after the DST change
    assert len(day["rows"]) == 24 and day["currency"] == "EUR" and day["tariff"] == "time of use"
    costs = [r["cost"] for r in day["rows"]]
    assert (
        costs[5] == pytest.approx(0.33)
        and costs[6] == pytest.approx(0.44)
        and costs[22] == pytest.approx(0.275, abs=0.006)
    )
    assert day["total"]["cost"] == pytest.approx(16 * 0.44 + 2 * 0.275 + 6 * 0.33, abs=0.01)
    sunday = history(OneKwhPerHour(), site, "day", date(2025, 10, 26))  # 25 hours, no weekday rate
    assert len(sunday["rows"]) == 25
    assert sunday["total"]["cost"] == pytest.approx(23 * 0.33 + 2 * 0.275, abs=0.01)
