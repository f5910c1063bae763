"""Uplink against the real portal app over TLS on loopback (uvicorn, test CA, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import time
from pathlib import Path

import httpx
import msgpack
import pytest

from test_ingest_support import CertFiles, PgSchema, make_ca, pg, portal_rows, serve_portal  # noqa: F401
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig, cert_fingerprint, make_client
from wattwerk.errors import RetryableError
from wattwerk.portal import db
from wattwerk.portal.ingest import IngestConfig

pytestmark = pytest.mark.postgres

CHANNELS = tuple(f"m{i}.power" for i in range(10)) + tuple(f"m{i}.energy_import" for i in range(10))
T0 = (int(time.time()) - 86_400) * 1000


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_ca(tmp_path_factory.mktemp("ca"))


def fill(box: Outbox, steps: int, start: int = 0) -> None:
    for step in range(start, start + steps):
        box.append_raw([(ch, T0 + step * 1000, step + i / 100) for i, ch in enumerate(CHANNELS)])


def expected(steps: int) -> list[tuple[str, int, str, int, float]]:
    out = []
    for step in range(steps):
        for i, ch in enumerate(CHANNELS):
            out.append(("edge-1", step * len(CHANNELS) + i + 1, ch, T0 + step * 1000, step + i / 100))
    return out


def config(url: str, token: str, **kw: object) -> UplinkConfig:
    return UplinkConfig(url=url, site="home", edge_id="edge-1", token=token, **kw)  # type: ignore[arg-type]


def token_for(pg: PgSchema) -> str:  # noqa: F811
    with pg.connect() as conn:
        return db.pair_site(conn, "home")


async def test_drain_over_tls_with_private_ca(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 300)  # 6000 readings
    with serve_portal(pg, tls=ca) as portal:
        up = Uplink(box, config(portal.url, token, ca_file=ca.ca_cert, batch_size=700, fmt="json"))
        sent = await up.drain()
        await up.aclose()
    assert sent == 6000 and box.pending() == 0
    assert portal_rows(pg, "home") == expected(300)
    assert up.stats.duplicates == 0


async def test_pinned_certificate_and_refused_trust(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 5)
    with serve_portal(pg, tls=ca) as portal:
        for bad in (
            config(portal.url, token),  # system trust store: our CA is unknown there
            config(portal.url, token, pin_sha256="00" * 32),
        ):
            up = Uplink(box, bad)
            with pytest.raises(RetryableError):
                await up.round()
            await up.aclose()
        assert box.pending() == 100 and portal_rows(pg, "home") == []
        assert portal.app.state.ingestor.stored == 0  # type: ignore[attr-defined]
        pin = ":".join(f"{b:02X}" for b in bytes.fromhex(cert_fingerprint(ca.server_der)))
        up = Uplink(box, config(portal.url, token, pin_sha256=pin))
        assert await up.drain() == 100
        await up.aclose()
    assert portal_rows(pg, "home") == expected(5)


class LoseFirstAnswers(httpx.AsyncBaseTransport):
    """Delivers requests to the real portal, then loses the first ``n`` answers (as if the
    connection broke after the portal committed), and records each batch's seqs."""

    def __init__(self, inner: httpx.AsyncBaseTransport, n: int) -> None:
        self.inner = inner
        self.n = n
        self.batches: list[list[int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        doc = msgpack.unpackb(gzip.decompress(body))
        self.batches.append([r[0] for r in doc["readings"]])
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.n > 0:
            self.n -= 1
            raise httpx.ReadError("connection reset after the request was processed")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_lost_ack_is_retried_without_duplicates(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 50)  # 1000 readings
    with serve_portal(pg, tls=ca) as portal:
        cfg = config(portal.url, token, ca_file=ca.ca_cert, batch_size=400)
        real = make_client(cfg)
        lossy = LoseFirstAnswers(real._transport, 2)
        client = httpx.AsyncClient(base_url=cfg.url, transport=lossy)
        up = Uplink(box, cfg, client=client)
        for _ in range(2):
            with pytest.raises(RetryableError):
                await up.round()
        assert box.pending() == 1000  # nothing was deleted without an ack
        assert len(portal_rows(pg, "home")) == 400  # yet the portal had stored the first batch
        await up.drain()
        await up.aclose()
    assert box.pending() == 0
    assert portal_rows(pg, "home") == expected(50)
    assert up.stats.duplicates >= 400


async def test_catch_up_sends_newest_first_then_oldest(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 100)  # 2000 readings = 10 batches of 200
    with serve_portal(pg, tls=ca) as portal:
        cfg = config(portal.url, token, ca_file=ca.ca_cert, batch_size=200, catchup_batches=3, parallel=1)
        recorder = LoseFirstAnswers(make_client(cfg)._transport, 0)
        up = Uplink(box, cfg, client=httpx.AsyncClient(base_url=cfg.url, transport=recorder))
        await up.round()
        fill(box, 1, start=100)  # a new live reading arrives during catch-up
        await up.round()
        await up.drain()
        await up.aclose()
    firsts = [b[0] for b in recorder.batches]
    assert firsts[:4] == [1801, 1, 201, 401]  # live batch first, then the oldest backlog in order
    assert firsts[4] == 2001  # next round: the new live data before more backlog
    assert portal_rows(pg, "home") == expected(101)


async def test_429_retry_after_is_honoured(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 60)  # 1200 readings
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    limits = IngestConfig(rate_per_site=1000, burst_s=0.4)  # bucket of 400 readings
    with serve_portal(pg, tls=ca, ingest=limits) as portal:
        up = Uplink(
            box,
            config(portal.url, token, ca_file=ca.ca_cert, batch_size=400, parallel=1, idle_s=0.05),
            sleep=sleep,
            rng=random.Random(1),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(up.run(stop))
        for _ in range(600):
            if box.pending() == 0:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await up.aclose()
    assert box.pending() == 0
    assert up.stats.throttled >= 1
    assert any(w >= 1.0 for w in waits)  # the portal's Retry-After (>= 1 s) was waited out
    assert portal_rows(pg, "home") == expected(60)


async def test_clock_skew_is_reported(pg: PgSchema, ca: CertFiles, tmp_path: Path) -> None:  # noqa: F811
    token = token_for(pg)
    box = Outbox(tmp_path / "o.db")
    fill(box, 1)
    with serve_portal(pg, tls=ca) as portal:
        up = Uplink(box, config(portal.url, token, ca_file=ca.ca_cert), clock=lambda: time.time() + 120)
        await up.round()
        await up.aclose()
    assert up.clock_skew_s is not None and 118 < up.clock_skew_s < 122


async def test_unreachable_portal_is_retryable_and_backoff_is_jittered(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    box = Outbox(tmp_path / "o.db")
    fill(box, 1)
    up = Uplink(
        box,
        config(f"https://127.0.0.1:{port}", "t", backoff_base_s=0.5, backoff_max_s=60),
        rng=random.Random(7),
    )
    with pytest.raises(RetryableError):
        await up.round()
    await up.aclose()
    assert box.pending() == 20
    delays = []
    for n in range(12):
        up.failures = n
        delays.append(up.backoff())
    assert all(0.5 <= d <= min(60, 0.5 * 2**n) for n, d in enumerate(delays))
    assert len(set(delays)) == len(delays)  # jittered, never in lockstep


def test_acked_spans_follow_the_portals_exact_runs_and_older_portals_span() -> None:
    """The portal acknowledges exactly the seqs it recorded (``acked`` runs, issue 15); a portal
    from before ``acked`` answers only the span (``ack``). Both are clipped to the batch."""
    from wattwerk.edge.uplink import acked_spans

    assert acked_spans({"ack": [1, 6], "acked": [[1, 2], [5, 6]]}, 1, 6) == [(1, 2), (5, 6)]
    assert acked_spans({"ack": [1, 6]}, 2, 5) == [(2, 5)]
    assert acked_spans({"ack": None, "acked": []}, 1, 6) == []
    assert acked_spans({"acked": [[0, 3], [9, 12]]}, 2, 10) == [(2, 3), (9, 10)]
