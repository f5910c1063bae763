"""The portal benchmarks build what the real rollup writes and report on it (the figures
themselves are in docs/portal.md; nothing here asserts on time): ``bench retention`` rolls up
exactly the readings due and ``bench query`` answers the dashboard's periods from rollups that
carry energy, in the sites' zone. Small runs of the real CLI against the real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys

from test_ingest_support import PG_URL


def bench(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "bench", *args, "--db", PG_URL, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_bench_retention_rolls_up_the_due_window() -> None:
    report = bench("retention", "--sites", "4", "--power", "2", "--every-s", "10", "--minutes", "5")
    assert report["channels"] == 4 * 3
    assert report["rolled_readings"] == 4 * 3 * 5 * 6  # 5 minutes at one reading per 10 s
    assert report["counts"]["raw_deleted"] == report["rolled_readings"]
    assert report["counts"]["sites"] == 4 and report["counts"]["counter_glitches"] == 0
    assert report["upload_rate_per_s"] == 1
    assert report["uploads_during_run"] >= 1 and report["upload_commit_ms_max"] > 0  # an edge uploads too


def test_bench_query_answers_the_dashboards_periods_with_energy() -> None:
    report = bench("query", "--sites", "2", "--repeat", "1")
    assert {k: report[k]["resolution"] for k in ("day", "month", "year")} == {
        "day": "5m",
        "month": "1d",
        "year": "1d",
    }
    assert report["year"]["points"] >= report["month"]["points"] > 0
    assert report["year"]["grid_energy_wh"] > report["month"]["grid_energy_wh"] > 0  # rollups carry energy
    assert report["operator"]["rows_per_page"] == 2  # the operator's list: both sites on its first page
