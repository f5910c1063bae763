"""Prometheus ``/metrics`` for the edge, in the text exposition format.

Built on ``prometheus_client`` (the reference implementation: exposition format, escaping,
content type and the process collector for RSS/CPU come for free). Nothing is counted twice:
a custom collector reads the runtime's own figures (``RuntimeStats``, the ``InputLedger``, the
site state) at scrape time, so the runtime needs no hook, and nothing uses the process-wide
default registry (two edges in one test process must not share metrics).

Wiring, for the lead (two lines in the edge app)::

    registry = edge_registry(runtime, outbox_pending=outbox.pending, outbox_bytes=outbox.used_bytes,
                             upload_lag_s=lambda: oldest_pending_age_s(outbox))
    app.include_router(metrics_router(registry))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wattwerk.errors import InputLedger
from wattwerk.model import from_ms, utcnow
from wattwerk.snapshot import SiteState

PREFIX = "wattwerk_edge"


class _Stats(Protocol):
    cycles: int
    cycle_time_s: float
    setpoints_written: int
    write_errors: int
    readings: int


class RuntimeLike(Protocol):
    """What the collector reads from an ``EdgeRuntime``."""

    stats: _Stats
    ledger: InputLedger
    state: SiteState
    polled: Sequence[Any]


class EdgeCollector(Collector):
    """The edge's figures, read from the runtime (and optional callables) at every scrape."""

    def __init__(
        self,
        runtime: RuntimeLike,
        *,
        outbox_pending: Callable[[], int] | None = None,
        outbox_bytes: Callable[[], int] | None = None,
        upload_lag_s: Callable[[], float | None] | None = None,
        extra_counters: Mapping[str, Callable[[], float]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.runtime = runtime
        self.outbox_pending = outbox_pending
        self.outbox_bytes = outbox_bytes
        self.upload_lag_s = upload_lag_s
        self.extra_counters = dict(extra_counters or {})
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        stats = rt.stats
        yield _gauge(
            "cycle_seconds",
            "Duration of the last control cycle (read state, control, write).",
            stats.cycle_time_s,
        )
        yield _counter("cycles", "Control cycles run.", stats.cycles)
        yield _counter("readings_accepted", "Readings accepted into the site state.", stats.readings)
        yield _counter("setpoints_written", "Setpoints written to devices.", stats.setpoints_written)
        yield _counter("setpoint_write_errors", "Setpoint writes that failed.", stats.write_errors)

        errors = CounterMetricFamily(
            f"{PREFIX}_read_errors", "Bad input and failed reads per device, kind.", labels=["device", "kind"]
        )
        for (device, kind), n in sorted(rt.ledger.counts.items()):
            errors.add_metric([device, kind], n)
        yield errors

        reads = CounterMetricFamily(
            f"{PREFIX}_device_reads", "Successful polls per device.", labels=["device"]
        )
        failing = GaugeMetricFamily(
            f"{PREFIX}_device_consecutive_failures",
            "Failed polls in a row per device (0 when healthy).",
            labels=["device"],
        )
        for p in rt.polled:
            reads.add_metric([p.device_id], p.reads)
            failing.add_metric([p.device_id], p.failures)
        yield reads
        yield failing

        yield from self._staleness([p.device_id for p in rt.polled])

        if self.outbox_pending is not None:
            yield _gauge(
                "outbox_pending",
                "Readings in the outbox not yet acknowledged by the portal.",
                self.outbox_pending(),
            )
        if self.outbox_bytes is not None:
            yield _gauge("outbox_bytes", "Bytes the outbox's rows take on disk.", self.outbox_bytes())
        if self.upload_lag_s is not None:
            lag = self.upload_lag_s()
            yield _gauge(
                "upload_lag_seconds",
                "Age of the oldest unacknowledged reading (0 when none).",
                0.0 if lag is None else lag,
            )
        for name, fn in self.extra_counters.items():
            yield _counter(name, f"{name.replace('_', ' ')}.", fn())

    def _staleness(self, polled: Sequence[str]) -> Iterator[Metric]:
        snap = self.runtime.state.snapshot(self.clock())
        ages: dict[str, float] = {}
        for name, (_, age) in snap.values.items():
            device = name.split(".", 1)[0]
            ages[device] = min(age, ages.get(device, age))
        stale = set(snap.stale_devices()) | {d for d in polled if d not in ages}  # never heard from
        age = GaugeMetricFamily(
            f"{PREFIX}_device_last_reading_age_seconds",
            "Seconds since the device's newest reading.",
            labels=["device"],
        )
        flag = GaugeMetricFamily(
            f"{PREFIX}_device_stale",
            "1 when every channel of the device is older than the staleness limit.",
            labels=["device"],
        )
        for device in sorted(set(ages) | set(polled)):
            if device in ages:
                age.add_metric([device], ages[device])
            flag.add_metric([device], 1.0 if device in stale else 0.0)
        yield age
        yield flag
        yield _gauge("stale_devices", "Devices whose values are all stale (or never arrived).", len(stale))


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=float(value))


def edge_registry(runtime: RuntimeLike, *, process: bool = True, **sources: Any) -> CollectorRegistry:
    """A registry with the edge's collector (``sources`` as for ``EdgeCollector``) and, with
    ``process``, the standard process metrics (RSS, CPU seconds, open files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(runtime, **sources))
    if process:
        ProcessCollector(registry=registry)
    return registry


def metrics_router(registry: CollectorRegistry, path: str = "/metrics") -> APIRouter:
    """A router serving ``registry`` at ``path``: ``app.include_router(metrics_router(registry))``."""
    router = APIRouter()

    @router.get(path, include_in_schema=False)
    async def metrics() -> Response:
        # in the event loop on purpose: the collector reads the runtime's state while no poll
        # task can change it (a thread would race them); the outbox count is one short query
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


class _Peekable(Protocol):
    def peek(self, batch_size: int) -> Sequence[tuple[int, str, int, float]]: ...


def oldest_pending_age_s(outbox: _Peekable, clock: Callable[[], datetime] = utcnow) -> float | None:
    """Upload lag: the age of the oldest reading still in the outbox, None when it is empty."""
    rows = outbox.peek(1)
    if not rows:
        return None
    return max(0.0, (clock() - from_ms(rows[0][2])).total_seconds())
