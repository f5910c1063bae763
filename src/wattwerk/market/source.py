"""Price providers behind one interface, with a disk cache and fallback to the last known prices.

A provider has a ``name`` and ``async fetch(client, start, end) -> PriceSeries``. ``CachedPrices``
wraps one: every successful fetch is merged into a small JSON file (written atomically), so the
prices survive restarts; when the provider fails, the cached prices are returned with
``fresh=False`` and a message saying so (logged once per failure streak).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from wattwerk.errors import RetryableError, WattwerkError
from wattwerk.market.prices import PriceSeries

log = logging.getLogger("wattwerk.market")


class PriceProvider(Protocol):
    @property
    def name(self) -> str: ...

    async def fetch(self, client: httpx.AsyncClient, start: datetime, end: datetime) -> PriceSeries: ...


@dataclass
class PriceCache:
    """``{"version": 1, "series": {name: {"fetched_at": iso, "series": PriceSeries JSON}}}`` on disk.

    Slots older than ``keep`` are dropped on write so the file stays small.
    """

    path: Path
    keep: timedelta = timedelta(days=14)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(Path(self.path).read_text())
            if data.get("version") == 1 and isinstance(data.get("series"), dict):
                return data
            log.warning("price cache %s has an unknown layout; starting empty", self.path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("price cache %s unreadable (%s); starting empty", self.path, exc)
        return {"version": 1, "series": {}}

    def get(self, name: str) -> tuple[PriceSeries, datetime] | None:
        entry = self._load()["series"].get(name)
        if not entry:
            return None
        try:
            return PriceSeries.from_json(entry["series"]), datetime.fromisoformat(entry["fetched_at"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("price cache %s: entry %s unreadable (%s)", self.path, name, exc)
            return None

    def put(self, name: str, series: PriceSeries, fetched_at: datetime) -> None:
        data = self._load()
        horizon = fetched_at - self.keep
        if series.end > horizon and series.start < horizon:
            series = series.window(horizon, series.end)
        data["series"][name] = {"fetched_at": fetched_at.isoformat(), "series": series.to_json()}
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


@dataclass
class PriceResult:
    series: PriceSeries
    fresh: bool
    fetched_at: datetime
    message: str = ""


@dataclass
class CachedPrices:
    provider: PriceProvider
    cache: PriceCache
    failures: int = 0
    _failing: bool = field(default=False, repr=False)

    async def get(
        self, client: httpx.AsyncClient, start: datetime, end: datetime, now: datetime | None = None
    ) -> PriceResult:
        """Fresh prices for ``[start, end)`` if the provider answers, else the last known ones.

        Raises RetryableError only when the provider fails and nothing is cached.
        """
        now = now or datetime.now(UTC)
        name = self.provider.name
        try:
            fresh = await self.provider.fetch(client, start, end)
        except (WattwerkError, httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            cached = self.cache.get(name)
            if cached is None:
                raise RetryableError(f"{name} failed ({exc}) and no prices are cached") from exc
            series, fetched_at = cached
            msg = (
                f"{name} failed ({exc}); using last known prices fetched {fetched_at.isoformat()},"
                f" known until {series.end.isoformat()}"
            )
            if not self._failing:
                log.warning(msg)
            self._failing = True
            return PriceResult(series.window(start, end), False, fetched_at, msg)
        if self._failing:
            log.info("%s answers again after %d failures", name, self.failures)
        self._failing = False
        cached = self.cache.get(name)
        merged = cached[0].merge(fresh) if cached and cached[0].slot_minutes == fresh.slot_minutes else fresh
        self.cache.put(name, merged, now)
        return PriceResult(fresh, True, now)
