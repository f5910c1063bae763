"""Retention tiers: old raw data goes, rollups stay exact, the raw horizon refuses older data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattwerk.model import Reading
from wattwerk.store.base import DEFAULT_TIERS, check_tiers
from wattwerk.store.sqlite import SqliteStore

TZ = "Europe/Berlin"
T0 = datetime(2024, 10, 20, 22, 0, tzinfo=UTC)  # local midnight, 20 Oct -> 21 Oct
E, P = "grid.energy_import", "grid.power"
DAYS = 10  # includes the 25 h day of 27 Oct


def fill(store: SqliteStore) -> tuple[int, datetime]:
    """10 days at 10 min: counter rising by 10..60 Wh, power a saw tooth."""
    readings = []
    value = 1_000_000.0
    n = DAYS * 144
    for i in range(n):
        ts = T0 + timedelta(minutes=10 * i)
        value += 10 * (1 + i % 6)
        readings += [Reading(E, ts, value), Reading(P, ts, float(i % 50))]
    for lo in range(0, len(readings), 500):
        store.write(readings[lo : lo + 500])
    return n, T0 + timedelta(minutes=10 * (n - 1))


def snapshot(store: SqliteStore, end: datetime) -> dict:
    return {
        (name, res): store.query([name], T0, end, res)[name] for name in (E, P) for res in ("15m", "1h", "1d")
    }


def test_retention_deletes_old_raw_and_keeps_rollups_exact(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", tz=TZ) as store:
        n, last = fill(store)
        end = last + timedelta(days=1)
        before = snapshot(store, end)
        days_before = [r.energy for r in before[(E, "1d")]]
        assert len(days_before) == DAYS and all(e > 0 for e in days_before)

        deleted = store.apply_retention(now=last)
        cut = datetime(2024, 10, 22, 22, 0, tzinfo=UTC)  # local midnight (CEST) 7 days before `last`
        assert deleted["raw"] == 2 * len([i for i in range(n) if T0 + timedelta(minutes=10 * i) < cut])
        assert deleted["1m"] == deleted["15m"] == 0
        assert store.query([E, P], T0, cut, "raw") == {E: [], P: []}
        assert len(store.query([E], cut, end, "raw")[E]) == n - deleted["raw"] // 2
        assert snapshot(store, end) == before  # rollups untouched
        assert [r.energy for r in store.query([E], T0, end, "1d")[E]] == days_before
        assert store.energy(E, T0, end) == sum(days_before)

        # Late data older than the horizon is refused; newer late data still updates rollups.
        refused = store.write([Reading(P, cut - timedelta(minutes=5), 999.0)])
        assert [k for _, k, _ in refused.rejected] == ["too_late"]
        store.write([Reading(P, cut + timedelta(minutes=5), 999.0)])
        day = store.query([P], cut, cut + timedelta(days=1), "1d")[P][0]
        assert day.max == 999.0


def test_counter_continues_from_the_kept_reading_after_a_long_pause(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", tz=TZ) as store:
        store.write([Reading(E, T0, 100.0), Reading(E, T0 + timedelta(hours=1), 600.0)])
        later = T0 + timedelta(days=30)
        deleted = store.apply_retention(now=later)
        assert deleted["raw"] == 1  # the newest valid reading of each channel stays
        assert store.latest([E])[E].value == 600.0
        store.write([Reading(E, later, 5600.0)])
        assert store.energy(E, T0 - timedelta(days=1), later + timedelta(days=1)) == 500.0 + 5000.0


def test_coarser_tiers_expire_on_their_own_schedule(tmp_path: Path) -> None:
    tiers = {"raw": timedelta(days=1), "1m": timedelta(days=2), "15m": timedelta(days=3)}
    with SqliteStore(tmp_path / "s.db", tz=TZ, tiers=tiers) as store:
        _, last = fill(store)
        end = last + timedelta(days=1)
        hours = store.query([E], T0, end, "1h")[E]
        days = store.query([E], T0, end, "1d")[E]
        deleted = store.apply_retention(now=last)
        assert deleted["raw"] > deleted["1m"] > deleted["15m"] > 0
        oldest = {res: store.query([P], T0, end, res)[P][0].ts for res in ("1m", "15m")}
        assert oldest["1m"] > oldest["15m"] > T0
        assert store.query([E], T0, end, "1h")[E] == hours
        assert store.query([E], T0, end, "1d")[E] == days


def test_tiers_are_validated() -> None:
    assert check_tiers({}) == DEFAULT_TIERS
    with pytest.raises(ValueError, match="shorter"):
        check_tiers({"raw": timedelta(days=30), "1m": timedelta(days=7)})
    with pytest.raises(ValueError, match="unknown resolution"):
        check_tiers({"5m": timedelta(days=7)})
    with pytest.raises(ValueError, match="positive"):
        check_tiers({"raw": timedelta(0)})
