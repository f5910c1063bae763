"""The edge's Prometheus /metrics: a real runtime, a real outbox, scraped over ASGI with httpx and
parsed with prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from wattwerk.edge.metrics import edge_registry, metrics_router, oldest_pending_age_s
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.runtime import EdgeRuntime, Polled, run_for
from wattwerk.model import Reading, utcnow


class Device:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        if self.fail:
            raise ConnectionError("connection refused")
        return [
            Reading(f"{self.name}.power", ts or utcnow(), 100.0),
            Reading(f"{self.name}.energy_import", ts or utcnow(), 5000.0),
        ]

    async def command(self, command: str, value: float) -> None:
        pass


async def scrape(app: FastAPI) -> tuple[httpx.Response, dict[str, dict[tuple, float]]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as client:
        response = await client.get("/metrics")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return response, samples


def one(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


async def test_metrics_carry_cycles_errors_staleness_and_the_outbox(tmp_path) -> None:
    runtime = EdgeRuntime(
        [Polled("pv1", Device("pv1"), 0.01), Polled("ev1", Device("ev1", fail=True), 0.01)],
        cycle_s=0.02,
        max_backoff_s=0.05,
        stale_after_s=30.0,
    )
    runtime.ledger.record("grid", "crc", "telegram with a wrong CRC")
    runtime.ledger.record("grid", "crc", "telegram with a wrong CRC")
    old = utcnow() - timedelta(minutes=10)
    runtime.accept([Reading("heat.temperature", old, 45.0)])  # a device that went quiet
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.append([Reading("pv1.power", old, 1.0), Reading("pv1.power", old + timedelta(seconds=1), 2.0)])
    await run_for(runtime, 0.3)

    app = FastAPI()
    registry = edge_registry(
        runtime,
        outbox_pending=outbox.pending,
        outbox_bytes=outbox.used_bytes,
        upload_lag_s=lambda: oldest_pending_age_s(outbox),
    )
    app.include_router(metrics_router(registry))
    response, samples = await scrape(app)
    outbox.close()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert one(samples, "wattwerk_edge_cycles_total") == runtime.stats.cycles > 0
    assert 0 < one(samples, "wattwerk_edge_cycle_seconds") < 1
    assert one(samples, "wattwerk_edge_readings_accepted_total") == runtime.stats.readings
    assert one(samples, "wattwerk_edge_read_errors_total", device="grid", kind="crc") == 2
    failures = runtime.ledger.by_kind("ev1")["ConnectionError"]
    assert failures >= 1
    assert one(samples, "wattwerk_edge_read_errors_total", device="ev1", kind="ConnectionError") == failures
    assert one(samples, "wattwerk_edge_device_reads_total", device="pv1") > 3
    assert one(samples, "wattwerk_edge_device_stale", device="pv1") == 0
    assert one(samples, "wattwerk_edge_device_stale", device="heat") == 1
    assert one(samples, "wattwerk_edge_device_stale", device="ev1") == 1  # never answered
    assert one(samples, "wattwerk_edge_stale_devices") == 2
    assert one(samples, "wattwerk_edge_device_last_reading_age_seconds", device="heat") >= 600
    assert one(samples, "wattwerk_edge_outbox_pending") == 2
    assert one(samples, "wattwerk_edge_outbox_bytes") > 0
    assert 600 <= one(samples, "wattwerk_edge_upload_lag_seconds") < 700
    assert one(samples, "process_resident_memory_bytes") > 1e6


async def test_two_registries_do_not_share_figures() -> None:
    a, b = EdgeRuntime([]), EdgeRuntime([])
    a.ledger.record("grid", "crc", "bad")
    app_a, app_b = FastAPI(), FastAPI()
    app_a.include_router(metrics_router(edge_registry(a, process=False)))
    app_b.include_router(metrics_router(edge_registry(b, process=False), path="/m"))
    _, sa = await scrape(app_a)
    assert one(sa, "wattwerk_edge_read_errors_total", device="grid", kind="crc") == 1
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_b), base_url="http://edge") as client:
        text = (await client.get("/m")).text
    assert "wattwerk_edge_cycles_total 0.0" in text
    assert 'device="grid"' not in text and "process_resident_memory_bytes" not in text


def test_upload_lag_is_none_for_an_empty_outbox(tmp_path) -> None:
    with Outbox(tmp_path / "o.sqlite") as outbox:
        assert oldest_pending_age_s(outbox) is None
        t = datetime(2025, 6, 1, 12, tzinfo=UTC)
        outbox.append([Reading("grid.power", t, 1.0)])
        assert oldest_pending_age_s(outbox, clock=lambda: t + timedelta(seconds=90)) == 90.0
