"""Live values fan-out through NATS (issue 19): open dashboards without polling the database.

When the portal is started with ``--live-nats nats://...`` every ingest worker, after it stored
(or logged) a batch, publishes the newest value of each channel in it to the core NATS subject
``ww.live.<site_id>`` (fire and forget: a publish that fails is counted and never fails the
upload). A dashboard opens ``GET /api/v1/sites/{site}/live/stream`` (server-sent events) on any
web worker: the first event is the snapshot from the database (``sites.live``), then every
message of its site's subject, whichever worker ingested it. Each open stream is one NATS
subscription; NATS does the fan-out, so thousands of dashboards cost the database nothing
after their first event. Without ``--live-nats`` (the default) the stream answers 404 and the
pages poll ``/api/v1/sites/{site}/live`` as before. ``nats-py`` is imported only when used
(``pip install wattwerk[scale]``).

Event: ``data: {"site": name, "values": [{"channel", "ts_ms", "value"}, ...]}``; a comment line
every ``HEARTBEAT_S`` keeps proxies from closing an idle stream. A slow reader's queue holds at
most ``QUEUE`` messages; older ones are dropped (a newer value supersedes them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

SUBJECT = "ww.live.{site_id}"
QUEUE = 64  # messages a slow dashboard may lag behind
HEARTBEAT_S = 15.0
CONNECT_S = 15.0  # how long a starting portal waits for the NATS servers
MAX_STREAMS = 20_000  # open streams per worker; beyond it 503 (the page polls instead)


def newest(rows: Sequence[tuple[int, str, int, float]]) -> list[dict[str, Any]]:
    """The newest (seq, channel, ts_ms, value) row of each channel, as live values."""
    out: dict[str, tuple[int, float]] = {}
    for _, channel, ts, value in rows:
        if channel not in out or ts >= out[channel][0]:
            out[channel] = (ts, value)
    return [{"channel": c, "ts_ms": ts, "value": v} for c, (ts, v) in sorted(out.items())]


class LiveHub:
    """A portal worker's NATS connection for live values: publish and subscribe per site."""

    def __init__(self, nats_url: str) -> None:
        self.servers = [s.strip() for s in nats_url.split(",") if s.strip()]
        self.nc: Any = None
        self.published = 0
        self.failed = 0
        self.streams = 0

    async def open(self) -> None:
        """Connect (then reconnect by itself); a server not reachable at start is a clear error."""
        try:
            import nats  # lazily: only portals with --live-nats need nats-py
        except ImportError:
            raise RuntimeError("--live-nats needs nats-py: pip install 'wattwerk[scale]'") from None
        try:
            connect = nats.connect(
                servers=self.servers,
                name="wattwerk-portal-live",
                max_reconnect_attempts=-1,  # once connected, it reconnects for ever
                reconnect_time_wait=0.5,
                connect_timeout=5,
                allow_reconnect=True,
            )
            self.nc = await asyncio.wait_for(connect, CONNECT_S)  # ... but the start does not wait for ever
        except Exception as exc:
            why = f"no answer within {CONNECT_S:.0f} s" if isinstance(exc, TimeoutError) else str(exc)
            raise RuntimeError(f"--live-nats {','.join(self.servers)}: cannot connect ({why})") from exc

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None

    async def publish(self, site_id: int, site: str, rows: Sequence[tuple[int, str, int, float]]) -> None:
        """The newest value per channel of a stored batch to the site's subject; never raises."""
        if not rows:
            return
        body = json.dumps({"site": site, "values": newest(rows)}).encode()
        try:
            await self.nc.publish(SUBJECT.format(site_id=site_id), body)
            self.published += 1
        except Exception as exc:  # live values are a convenience; the upload stands
            self.failed += 1
            if self.failed == 1:
                log.warning("live values: publish failed (%s); counted, not retried", exc)

    @asynccontextmanager
    async def subscription(self, site_id: int) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of the site's live messages while the ``async with`` lasts."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE)

        async def deliver(msg: Any) -> None:
            if queue.full():
                queue.get_nowait()  # the oldest goes: a newer value supersedes it
            queue.put_nowait(msg.data)

        sub = await self.nc.subscribe(SUBJECT.format(site_id=site_id), cb=deliver)
        await self.nc.flush()  # the server has the interest before the snapshot is read
        self.streams += 1
        try:
            yield queue
        finally:
            self.streams -= 1
            await sub.unsubscribe()
