"""The demo site as the edge page tests serve it: simulated from a local midnight, its store
holding what the hours since say."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from wattwerk.config import load_demo_config
from wattwerk.demo import DemoSite


def stored_demo(folder: Path, day: date, hours: float, store_every_s: float) -> DemoSite:
    """The demo site from ``day``'s local midnight, ``hours`` later, its store flushed."""
    cfg = load_demo_config()
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(cfg.site.timezone))
    site = DemoSite(cfg, start, folder / "edge", step_s=60, store_every_s=store_every_s)
    site.store_all_now()
    site.advance_to((start + timedelta(hours=hours)).timestamp())
    site.flush()
    return site
