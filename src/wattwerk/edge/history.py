"""The edge's own history and charging sessions, from its store (a site without a portal has both).

* **History**: a local calendar period (day, ISO week, month, year of the site's zone) as the sum
  of its sub-periods (hours of a day, days of a week or month, months of a year; store/rollup.py,
  the rules the portal's series use). Each row has the energy per flow (``flows.flow_energy``:
  counters where a device has one, else its power's covered-time integral), self-consumption,
  autarky and cost, so the edge's figures equal the portal's for the same readings.
* **Charging sessions**: a session is a run of the store's 1-minute buckets in which a car is at
  the charger, joined across gaps of at most ``JOIN_GAP_MIN`` minutes. "At the charger" is the
  charger's ``.plugged`` channel > 0 where it has one, else ``.state`` > 0 (IEC 61851-like: 0 = no
  car), else its power above ``CHARGING_W``. Energy is the ``.energy`` counter's delta where the
  charger has one, else its mean power over the minute. The grid share of each minute is
  min(car, grid import) / car (the grid feeds the car first, the cautious reading); the rest is the
  PV share (a battery counts as stored PV). Cost is the grid share at the tariff's gross price.

Cost uses the site file's tariff through the one tariff model (``market.site_tariff``): each row
at its sub-period's mean slot price (an hour of a day exact to its quarter hours: time-of-use
windows, §14a module 3 levels), a session minute by minute at the price of its slot; the total of a
period is the sum of its rows. The edge keeps no history of day-ahead prices: for a dynamic
provider ``fixed_eur_per_kwh`` stands in for the energy price (and the fixed feed-in for a
spot-indexed one) — except in a session's minutes where the control ran with a known price: the
edge records the price in force every cycle (``edge.price_import``: the planner's slot price, gross,
so a dynamic tariff's real prices), and a session uses it where it is there.

A session's car is the one named on the owner's plan for the charger (``car``), else on the site
file's departure for the charger, else none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from wattwerk.config import SiteConfig
from wattwerk.flows import SiteRoles, balance_figures
from wattwerk.store import rollup
from wattwerk.store.base import Row, Store

if TYPE_CHECKING:
    from wattwerk.market.site_tariff import SiteTariff

JOIN_GAP_MIN = 5  # minutes without a car between two runs that are still one session
CHARGING_W = 50.0  # a charger without plug or state channels: a car is there when it draws more
PRICE_CHANNEL = "edge.price_import"  # edge.owner records the import price in force every cycle
SESSION_FIELDS = (
    "charger",
    "name",
    "car",
    "start",
    "end",
    "minutes",
    "energy_kwh",
    "pv_share_pct",
    "grid_kwh",
    "cost",
    "currency",
    "mode",
)


class EnergyView(Protocol):
    """What history needs from ``edge.view.StoreView``."""

    store: Store
    roles: SiteRoles

    def energy_kwh(self, start: datetime, end: datetime) -> dict[str, float]: ...


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def tariff_of(cfg: SiteConfig) -> SiteTariff:
    """The site's tariff model (pandas and numpy load here, not with the page)."""
    from wattwerk.market.site_tariff import SiteTariff

    return SiteTariff(cfg.tariff, cfg.site.timezone)


def prices(cfg: SiteConfig, start: datetime, end: datetime) -> tuple[float, float]:
    """(import, export) per kWh over ``[start, end)``: the tariff's mean slot prices, import with
    fees and VAT."""
    return tariff_of(cfg).mean_prices(start, end)


def cost_of(kwh: dict[str, float], cfg: SiteConfig, start: datetime, end: datetime) -> float:
    """Import less feed-in over ``[start, end)`` at the tariff's mean prices there."""
    buy, sell = prices(cfg, start, end)
    return kwh["grid_import"] * buy - kwh["grid_export"] * sell


def figures(kwh: dict[str, float], cost: float) -> dict[str, Any]:
    """A row: energy per flow (kWh, 3 digits), self-consumption, autarky, cost (import less feed-in).
    Self-consumption without PV, or autarky with nothing consumed, is None (the page shows "–", as the
    portal does): a night has no self-consumption, not 0 % of it."""
    bal = balance_figures(kwh)
    consumed = kwh["house"] + kwh["ev"] + kwh["heat"]
    return {
        "energy_kwh": {k: round(v, 3) for k, v in kwh.items()},
        "self_consumption_pct": round(bal["self_consumption_pct"], 1) if kwh["pv"] > 0 else None,
        "autarky_pct": round(bal["autarky_pct"], 1) if consumed > 0 else None,
        "cost": round(cost, 2),
    }


def history(view: EnergyView, cfg: SiteConfig, period: str, day: date) -> dict[str, Any]:
    """The local ``period`` containing ``day``: one row per sub-period and the total (their sum)."""
    tz = cfg.site.timezone
    start, end = rollup.period_ms(period, day, tz)
    total: dict[str, float] = {}
    total_cost = 0.0  # the sum of the rows' costs, each at its own prices
    rows = []
    for a, b in rollup.sub_periods(period, day, tz):
        kwh = view.energy_kwh(_dt(a), _dt(b))
        for k, v in kwh.items():
            total[k] = total.get(k, 0.0) + v
        cost = cost_of(kwh, cfg, _dt(a), _dt(b))
        total_cost += cost
        rows.append({"start": _dt(a).isoformat(), "end": _dt(b).isoformat()} | figures(kwh, cost))
    buy, sell = prices(cfg, _dt(start), _dt(end))
    return {
        "period": period,
        "date": day.isoformat(),
        "tz": tz,
        "currency": cfg.tariff.currency,
        "tariff": tariff_of(cfg).name,
        "start": _dt(start).isoformat(),
        "end": _dt(end).isoformat(),
        "price_eur_per_kwh": {"import": round(buy, 4), "export": round(sell, 4)},
        "rows": rows,
        "total": figures(total, total_cost) if total else None,
    }


# ------------------------------------------------------------------ charging sessions


@dataclass
class _Minute:
    ts: datetime
    car: bool
    wh: float
    grid_wh: float


def _minutes(
    store: Store, dev: str, grid_ids: tuple[str, ...], start: datetime, end: datetime
) -> list[_Minute]:
    names = [f"{dev}.{q}" for q in ("power", "energy", "plugged", "state")] + [f"{g}.power" for g in grid_ids]
    known = {c.name for c in store.channels()}
    found = store.query([n for n in names if n in known], start, end, "1m")
    rows: dict[str, dict[datetime, Row]] = {n: {r.ts: r for r in rs} for n, rs in found.items()}
    power, counter = rows.get(f"{dev}.power", {}), rows.get(f"{dev}.energy")
    plug = rows.get(f"{dev}.plugged") or rows.get(f"{dev}.state")
    grids = [rows.get(f"{g}.power", {}) for g in grid_ids]
    out = []
    held = 1.0 if grids else 0.0  # the grid share of the interval before the first minute
    for ts in sorted(set(power) | set(counter or {}) | set(plug or {})):
        p = power.get(ts)
        w = max(p.mean, 0.0) if p is not None else 0.0
        if counter is not None:
            c = counter.get(ts)
            wh = (c.energy or 0.0) if c is not None else 0.0
        else:
            wh = w / 60.0
        if plug is not None:
            s = plug.get(ts)
            car = s is not None and s.max > 0
        else:
            car = w > CHARGING_W
        imported = sum(max(g[ts].mean, 0.0) for g in grids if ts in g)
        share = min(w, imported) / w if w > 0 else (1.0 if grids else 0.0)
        # a counter's increment is the energy since the reading before: that reading's grid share
        out.append(_Minute(ts, car, wh, wh * (held if counter is not None else share)))
        held = share
    return out


def _runs(minutes: list[_Minute]) -> list[list[_Minute]]:
    """Runs of minutes with a car, each followed by the first minute without one when it is within
    the gap (the reading that ends the session carries the counter's last increment)."""
    runs: list[list[_Minute]] = []
    open_run: list[_Minute] | None = None
    for m in minutes:
        if open_run is not None and m.ts - open_run[-1].ts > timedelta(minutes=JOIN_GAP_MIN + 1):
            open_run = None
        if m.car:
            if open_run is None:
                open_run = []
                runs.append(open_run)
            open_run.append(m)
        elif open_run is not None and open_run[-1].car:
            open_run.append(m)  # the end, kept while a car may come back within the gap
    return runs


def _recorded_prices(store: Store, start: datetime, end: datetime) -> dict[datetime, float]:
    """The import price the control ran with, per minute (``PRICE_CHANNEL``), where recorded."""
    if PRICE_CHANNEL not in {c.name for c in store.channels()}:
        return {}
    return {r.ts: r.mean for r in store.query([PRICE_CHANNEL], start, end, "1m").get(PRICE_CHANNEL, [])}


def _car(cfg: SiteConfig, charger: str, cars: Mapping[str, str] | None) -> str | None:
    """The car on the owner's plan for the charger, else on the site file's departure for it."""
    if cars and cars.get(charger):
        return cars[charger]
    return next((d.car for d in cfg.strategy.ev_departures if d.charger == charger and d.car), None)


def sessions(
    store: Store,
    cfg: SiteConfig,
    month: date,
    now: datetime,
    modes: dict[str, str] | None = None,
    cars: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every charging session that starts in the local ``month``, oldest first. ``modes``: each
    charger's mode as the control runs it now (shown for a session still going on); ``cars``: the
    car named on the owner's plan per charger."""
    tz = cfg.site.timezone
    a, b = rollup.period_ms("month", month, tz)
    lo, hi = _dt(a) - timedelta(days=2), min(_dt(b) + timedelta(days=2), now + timedelta(minutes=1))
    import pandas as pd  # with the tariff model, not with the page

    tariff = tariff_of(cfg)
    grid_ids = tuple(d.id for d in cfg.by_role("grid_meter"))
    recorded = _recorded_prices(store, lo, hi)
    out = []
    for dev in cfg.by_role("ev_charger"):
        for run in _runs(_minutes(store, dev.id, grid_ids, lo, hi)):
            ended = not run[-1].car
            first, last = run[0].ts, run[-1].ts if ended else run[-1].ts + timedelta(minutes=1)
            if not _dt(a) <= first < _dt(b):
                continue
            wh = sum(m.wh for m in run)
            grid = sum(m.grid_wh for m in run)
            slots = pd.DatetimeIndex([m.ts for m in run]).floor("15min")
            buy = tariff.buy(slots)  # the tariff's price of each minute's slot, where none was recorded
            cost = sum(m.grid_wh * recorded.get(m.ts, p) for m, p in zip(run, buy, strict=True)) / 1000
            going_on = not ended and now - last < timedelta(minutes=JOIN_GAP_MIN)
            out.append(
                {
                    "charger": dev.id,
                    "name": dev.label,
                    "car": _car(cfg, dev.id, cars),
                    "start": first.isoformat(),
                    "end": None if going_on else last.isoformat(),
                    "minutes": round((last - first).total_seconds() / 60),
                    "energy_kwh": round(wh / 1000, 3),
                    "pv_share_pct": round(100.0 * (wh - grid) / wh, 1) if wh > 0 else None,
                    "grid_kwh": round(grid / 1000, 3),
                    "cost": round(cost, 2),
                    "currency": cfg.tariff.currency,
                    "mode": (modes or {}).get(dev.id) if going_on else None,
                }
            )
    return sorted(out, key=lambda s: s["start"])


def sessions_csv(rows: list[dict[str, Any]]) -> str:
    """The sessions as CSV (one header line, the fields of ``SESSION_FIELDS``)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SESSION_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
