"""``POST /api/v1/ingest``: edges upload batches of readings; the answer acknowledges a seq range.

Batch (JSON or MessagePack, optionally gzip via ``Content-Encoding: gzip``)::

    {"site": "home", "edge_id": "edge-1", "stream": "9f86d081", "first_seq": 101,
     "channels": ["grid.power", "pv1.power"],            # optional name table
     "readings": [[101, 0, 1700000000000, 512.0],         # [seq, channel, ts_ms, value]
                  [102, "pv1.power", 1700000000000, 830.5]]}

``channel`` is a name or an index into ``channels`` (the compact form); ``stream`` (optional)
names the edge's outbox instance, whose seqs start at 1 when it is re-created. ``roles``
(optional, ``{"meter": "grid_meter", "roof": "pv"}``) are the site's device roles
(portal/site_roles.py); bad roles are ignored and named in the answer's ``roles_error``, the
readings are stored all the same. ``labels`` (optional, with the roles:
``{"roof": "Garage roof"}``) are the owner's names for devices, which the pages show (a bad one:
``labels_error``). ``tz`` (optional, an IANA zone such as ``"Europe/Berlin"``) is
the zone of the edge's site file: it becomes the site's zone (its local days, months, years)
unless the owner chose one on the portal (``sites.tz_source``); a bad one is named in
``tz_error``. ``health`` (optional, ``{"inverter": "stale", "meter": "ok"}``) is each device's
state as the edge's page shows it, sent when it changes (for the owner's notifications,
portal/notify.py); a bad one is named in ``health_error``. ``episodes`` (optional) are the
edge's restriction episodes (portal/episodes.py; bad ones: ``episodes_error``). Edges that
send none keep working.
Answer::

    {"ack": [101, 102], "acked": [[101, 102]], "accepted": 2, "stored": 2, "duplicates": 0,
     "rejected": []}

Every reading in the batch is acknowledged — stored, already stored (a duplicate by
(edge, stream, seq)), or rejected with a reason — so the edge never resends poison. ``acked``
names exactly the seqs of the batch as runs without gaps (``ack`` is their span, for edges
older than ``acked``); those runs are recorded, so a late retry is recognised even after
retention deleted the raw rows, while a reading sent later inside a gap is new. Seqs run from 1
to 2^63-2. Per-reading
rejections: an invalid or unknown channel, a non-finite value, a timestamp far in the future
or before 2000, a seq that is not a positive integer. A batch for another site than the
token's is refused as a whole (403) and not acknowledged.

``status`` (optional, ``{"version": "0.9.0", "backlog": 120, "read_errors": 3}``, each optional)
is what the edge says about itself for the operator's view (portal/operator_api.py); a bad one
is named in ``status_error``. The operator's per-site caps (``sites.max_channels``,
``sites.rate_per_s``) replace the portal's defaults for that site.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgpack
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wattwerk.errors import BadInput, InputLedger
from wattwerk.model import Channel
from wattwerk.portal import episodes, hardening, ingest_log, notify_store, rate_limits, site_roles, sites
from wattwerk.portal.database import SQLITE, utcnow
from wattwerk.portal.db import Registry, SiteAuth
from wattwerk.portal.live import LiveHub
from wattwerk.portal.readings import ReadingStore

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024  # decompressed bytes; guards against gzip bombs
MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_SEQ = 2**63 - 2  # a bigint (PostgreSQL) / INTEGER (SQLite), with room for the range arithmetic (+1)
MAX_RANGES = 1000  # runs of consecutive seqs in one batch (a real edge sends a handful)


@dataclass
class IngestConfig:
    future_ms: int = 10 * 60 * 1000  # readings further ahead of the portal's clock are rejected
    max_readings: int = 100_000  # per batch
    rate_per_site: float | None = None  # readings/s per site (token bucket); None = unlimited
    burst_s: float = 2.0  # bucket depth in seconds of rate
    max_inflight: int = 64  # concurrent ingest requests per process before answering 429
    max_channels: int = 2000  # per site: readings of further new channels are rejected


@dataclass
class Checked:
    rows: list[tuple[int, str, int, float]] = field(default_factory=list)  # seq, channel, ts, value
    rejected: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, Channel] = field(default_factory=dict)
    first: int = 0
    last: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)  # exactly the batch's seqs, as runs
    stream: str = ""  # the edge's outbox instance: its seqs restart when the outbox is re-created


def decode_body(body: bytes, content_type: str, content_encoding: str) -> Any:
    """Decompress and parse a request body; BadInput with a clear reason on failure."""
    if content_encoding.strip().lower() == "gzip":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = d.decompress(body, MAX_BODY)
            if d.unconsumed_tail:
                raise BadInput("too_large", f"body larger than {MAX_BODY} bytes once decompressed")
        except zlib.error as exc:
            raise BadInput("gzip", f"body is not valid gzip: {exc}") from exc
    elif content_encoding.strip() not in ("", "identity"):
        raise BadInput("encoding", f"unsupported Content-Encoding {content_encoding!r}")
    try:
        if "msgpack" in content_type:
            return msgpack.unpackb(body, raw=False, strict_map_key=False)  # limits: the buffer's size
        return hardening.loads(body)
    except hardening.TooDeep as exc:
        raise BadInput("syntax", str(exc)) from exc
    except (
        ValueError,
        TypeError,
        RecursionError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
    ) as exc:  # TypeError: an unhashable map key (an array)
        raise BadInput(
            "syntax",
            f"body does not parse as {content_type or 'json'}: {type(exc).__name__}: {str(exc)[:200]}",
        ) from exc


def _channel(name: str, cache: dict[str, Channel | str]) -> Channel | str:
    """The Channel for a name, or the reason it is not one (cached per batch)."""
    hit = cache.get(name)
    if hit is None:
        try:
            hit = Channel.of(name)
        except ValueError as exc:
            hit = str(exc)
        cache[name] = hit
    return hit


def check_batch(batch: Any, auth: SiteAuth, now_ms: int, config: IngestConfig) -> Checked:
    """Validate a decoded batch; whole-batch problems raise BadInput, per-reading ones are listed."""
    stream, readings, table = _check_envelope(batch, auth, config)
    out = Checked(stream=stream)
    cache: dict[str, Channel | str] = {}
    infos = [_channel(name, cache) for name in table]
    n_table = len(table)
    seqs: list[int] = []
    add_seq = seqs.append
    used: set[str] = set()
    keep = out.rows.append
    future = now_ms + config.future_ms
    reject = out.rejected.append
    isfinite = math.isfinite
    for item in readings:
        try:
            seq, ch, ts, value = item
        except (TypeError, ValueError):
            raise BadInput("shape", f"reading {_short(item)} is not [seq, channel, ts_ms, value]") from None
        if type(seq) is not int or not 0 < seq <= MAX_SEQ:
            raise BadInput("seq", f"seq {_short(seq)} is not a positive integer below 2^63-1")
        add_seq(seq)
        if type(ch) is int:
            if not 0 <= ch < n_table:
                reject({"seq": seq, "kind": "channel", "error": f"channel index {ch} outside the table"})
                continue
            info = infos[ch]
            ch = table[ch]
        elif type(ch) is str:
            info = cache.get(ch) or _channel(ch, cache)
        else:
            reject({"seq": seq, "kind": "channel", "error": f"channel {_short(ch)} is not a name"})
            continue
        if type(info) is str:
            reject({"seq": seq, "kind": "channel", "error": info})
            continue
        if type(ts) is not int:
            if isinstance(ts, float) and ts.is_integer():
                ts = int(ts)
            else:
                reject({"seq": seq, "kind": "timestamp", "error": f"ts_ms {_short(ts)} is not an integer"})
                continue
        if ts > future:
            reject(
                {
                    "seq": seq,
                    "kind": "future",
                    "error": f"{ch}: timestamp {ts} is {(ts - now_ms) / 1000:.0f} s "
                    "ahead of the portal's clock",
                }
            )
            continue
        if ts < MIN_TS_MS:
            reject({"seq": seq, "kind": "timestamp", "error": f"{ch}: timestamp {ts} is before 2000"})
            continue
        if type(value) is not float:
            if type(value) is int and abs(value) < 2**53:
                value = float(value)
            else:
                reject({"seq": seq, "kind": "value", "error": f"{ch}: value {_short(value)} is not a number"})
                continue
        if not isfinite(value):
            reject({"seq": seq, "kind": "value", "error": f"{ch}: value {value} is not finite"})
            continue
        used.add(ch)
        keep((seq, ch, ts, value))
    out.channels = {name: cache[name] for name in used}  # type: ignore[misc]
    if seqs:
        _set_ranges(out, seqs)
    return out


def _check_envelope(batch: Any, auth: SiteAuth, config: IngestConfig) -> tuple[str, list[Any], list[str]]:
    """The batch's site, edge_id, stream, readings and channel table, or BadInput for the whole batch;
    returns (stream, readings, table)."""
    if not isinstance(batch, dict):
        raise BadInput("shape", "batch must be an object with site, edge_id and readings")
    site, edge, readings = batch.get("site"), batch.get("edge_id"), batch.get("readings")
    if site != auth.site:
        raise BadInput(
            "wrong_site", f"batch is for site {_short(site)} but the token belongs to {auth.site!r}"
        )
    if not isinstance(edge, str) or not edge or len(edge) > 200:
        raise BadInput("shape", "edge_id must be a non-empty string")
    stream = batch.get("stream", "")
    if not isinstance(stream, str) or len(stream) > 64:
        raise BadInput("shape", "stream must be a string of at most 64 characters")
    if not isinstance(readings, list):
        raise BadInput("shape", "readings must be a list of [seq, channel, ts_ms, value]")
    if len(readings) > config.max_readings:
        raise BadInput("too_large", f"{len(readings)} readings in one batch; at most {config.max_readings}")
    table = batch.get("channels") or []
    if not isinstance(table, list) or not all(isinstance(n, str) for n in table):
        raise BadInput("shape", "channels must be a list of channel names")
    return stream, readings, table


def _set_ranges(out: Checked, seqs: list[int]) -> None:
    """The batch's seqs as runs (at most MAX_RANGES) and their first and last."""
    out.ranges = runs(seqs)
    if len(out.ranges) > MAX_RANGES:
        raise BadInput("seq", f"seqs fall into {len(out.ranges)} runs; at most {MAX_RANGES} per batch")
    out.first, out.last = out.ranges[0][0], out.ranges[-1][1]


def runs(seqs: list[int]) -> list[tuple[int, int]]:
    """The seqs as sorted runs of consecutive numbers: [1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]."""
    out: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if out and seq == out[-1][1] + 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def _short(value: Any) -> str:
    """A bounded description of a value from a hostile body (a deep list's repr could recurse)."""
    if isinstance(value, str):
        return repr(value[:40])
    if value is None or isinstance(value, bool | int | float):
        return repr(value)[:40]
    return f"<{type(value).__name__}>"


class TokenBucket:
    """Readings-per-second budget; ``take`` answers how long to wait if the budget is spent."""

    def __init__(self, rate: float, burst_s: float) -> None:
        self.rate = rate
        self.capacity = max(rate * burst_s, 1.0)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def take(self, n: int) -> float:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= min(n, self.capacity):
            self.level -= n
            return 0.0
        return (min(n, self.capacity) - self.level) / self.rate


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status, headers=headers)


class Ingestor:
    """The ingest endpoint's state: store, registry, limits, the bad-input ledger."""

    def __init__(self, store: ReadingStore, registry: Registry, config: IngestConfig | None = None) -> None:
        self.store = store
        self.registry = registry
        self.config = config or IngestConfig()
        self.ledger = InputLedger()
        self.buckets: dict[int, TokenBucket] = {}
        self.inflight = 0
        self.stored = 0
        self.log: ingest_log.NatsLog | None = None  # set when the portal ingests through the log
        self.live: LiveHub | None = None  # set when live values fan out through NATS (live.py)

    async def _take(self, site_id: int, rate: float, n: int) -> float:
        """The site's budget: in the database on PostgreSQL (shared by all workers), else here."""
        if self.store.db.dialect != SQLITE:
            async with self.store.db.connection() as conn:
                return await rate_limits.take(
                    conn, site_id, rate, self.config.burst_s, n, int(time.time() * 1000)
                )
        bucket = self.buckets.get(site_id)
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket(rate, self.config.burst_s)
            self.buckets[site_id] = bucket
        return bucket.take(n)

    async def authenticate(self, request: Request) -> SiteAuth | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return await self.registry.site_for_token(token.strip())

    async def handle(self, request: Request) -> Response:
        if self.inflight >= self.config.max_inflight:
            return _error(429, "busy", "portal busy, retry later", {"Retry-After": "1"})
        self.inflight += 1
        try:
            return await self._handle(request)
        finally:
            self.inflight -= 1

    async def _handle(self, request: Request) -> Response:
        auth = await self.authenticate(request)
        if auth is None:
            return _error(
                401, "auth", "missing, unknown or revoked edge token", {"WWW-Authenticate": "Bearer"}
            )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return _error(413, "too_large", f"body of {length} bytes; at most {MAX_BODY}")
        body = await request.body()
        try:
            batch = decode_body(
                body, request.headers.get("content-type", ""), request.headers.get("content-encoding", "")
            )
            checked = check_batch(batch, auth, int(time.time() * 1000), self.config)
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            status = 403 if exc.kind == "wrong_site" else 413 if exc.kind == "too_large" else 400
            return _error(status, exc.kind, str(exc))
        rate = auth.rate_per_s if auth.rate_per_s is not None else self.config.rate_per_site
        if rate:  # the operator's cap for this site, else the portal's
            wait = await self._take(auth.site_id, rate, len(checked.rows))
            if wait > 0:
                return _error(
                    429,
                    "rate",
                    f"site {auth.site} over its ingest rate",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
        for item in checked.rejected:
            self.ledger.record(
                auth.site, item["kind"], f"edge {batch['edge_id']}: seq {item['seq']}: {item['error']}"
            )
        stored = 0
        cap = auth.max_channels or self.config.max_channels
        ids = await self.registry.channel_ids(auth.site_id, checked.channels, cap) if checked.rows else {}
        if len(ids) < len(checked.channels):
            self._over_cap(auth, checked, ids, cap)
        if checked.last:
            try:
                stored = await self._store(auth, batch["edge_id"], checked, ids)
            except ingest_log.LogUnavailable as exc:  # not acknowledged: the edge keeps and retries
                log.warning("%s", exc)
                return _error(503, "log", "ingest log unavailable, retry later", {"Retry-After": "1"})
        answer = {
            "ack": [checked.first, checked.last] if checked.last else None,  # the span (older edges)
            "acked": [list(r) for r in checked.ranges],  # exactly the seqs acknowledged
            "accepted": len(checked.rows),
            "stored": stored,
            "duplicates": len(checked.rows) - stored,
            "rejected": checked.rejected,
        }
        if "roles" in batch:
            answer.update(await self._store_roles(auth, batch["roles"], batch.get("labels")))
        if "tz" in batch:
            answer.update(await self._store_tz(auth, batch["tz"]))
        if "status" in batch:
            answer.update(await self._store_status(auth, batch["edge_id"], batch["status"]))
        if "health" in batch:
            answer.update(await self._store_health(auth, batch["health"]))
        if "episodes" in batch:
            answer.update(await self._store_episodes(auth, batch["edge_id"], batch["episodes"]))
        return JSONResponse(answer)

    async def _store(self, auth: SiteAuth, edge: str, checked: Checked, ids: dict[str, int]) -> int:
        """Write the batch (direct) or publish it to the log and wait for its PubAck (``via: nats``,
        portal/ingest_log.py); returns the readings stored (published) as new."""
        edge_id = await self.registry.edge_id(auth.site_id, edge, checked.stream)
        rows = [(edge_id, seq, ids[ch], ts, v) for seq, ch, ts, v in checked.rows]
        if self.log is not None:
            stored = await self.log.publish(auth.site_id, edge_id, checked.ranges, rows)
        else:
            stored = await self.store.insert_batch(
                edge_id, checked.first, checked.last, rows, ranges=checked.ranges
            )
        self.stored += stored
        if self.live is not None:
            await self.live.publish(auth.site_id, auth.site, checked.rows)
        return stored

    def _over_cap(self, auth: SiteAuth, checked: Checked, ids: dict[str, int], cap: int) -> None:
        """Reject (and so acknowledge) the readings of channels beyond the site's channel cap."""
        error = f"the site has {cap} channels, the most it may have"
        kept = []
        for row in checked.rows:
            if row[1] in ids:
                kept.append(row)
            else:
                checked.rejected.append({"seq": row[0], "kind": "channel_cap", "error": f"{row[1]}: {error}"})
        checked.rows = kept
        self.ledger.record(auth.site, "channel_cap", f"new channels refused: {error}")

    async def _store_roles(self, auth: SiteAuth, value: Any, names: Any = None) -> dict[str, Any]:
        """Keep the site's device roles and the owner's names for the devices (``labels``); bad
        ones are logged and answered, never fatal to the batch."""
        try:
            roles = site_roles.parse(value)
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            return {"roles_error": str(exc)}
        out: dict[str, Any] = {"roles": len(roles)}
        try:
            labels = None if names is None else site_roles.parse_labels(names, roles)
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            out["labels_error"], labels = str(exc), None
        async with self.registry.db.connection() as conn:  # once per edge start: no cache needed
            await site_roles.store(conn, auth.site_id, roles, labels)
        return out

    async def _store_health(self, auth: SiteAuth, value: Any) -> dict[str, Any]:
        """Each device's state from the edge (sent when it changes); a bad one is logged and
        answered as ``health_error``, never fatal to the batch."""
        try:
            health = notify_store.parse_health(value)
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            return {"health_error": str(exc)}
        async with self.registry.db.connection() as conn:
            await notify_store.store_health(conn, auth.site_id, health, utcnow())
        return {"health": len(health)}

    async def _store_episodes(self, auth: SiteAuth, edge: str, value: Any) -> dict[str, Any]:
        """The edge's restriction episodes (portal/episodes.py); bad ones are logged and answered
        as ``episodes_error``, never fatal to the batch."""
        try:
            parsed = episodes.parse(value, int(time.time() * 1000))
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            return {"episodes_error": str(exc)}
        async with self.registry.db.connection() as conn:
            return {"episodes": await episodes.store(conn, auth.site_id, edge, parsed)}

    async def _store_tz(self, auth: SiteAuth, value: Any) -> dict[str, Any]:
        """The zone of the edge's site file becomes the site's unless its owner chose one; a bad
        zone is logged and answered as ``tz_error``, never fatal to the batch."""
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            error = f"tz {_short(value)} is not a time zone name"
        else:
            try:
                async with self.registry.db.connection() as conn:  # once per edge start
                    if await sites.tz_from_edge(conn, auth.site_id, value):
                        await sites.audit(
                            conn, auth.site_id, None, "site.tz", {"tz": value, "from": "edge"}, actor="edge"
                        )
                return {"tz": value}
            except ValueError as exc:
                error = str(exc)
        self.ledger.record(auth.site, "tz", error)
        return {"tz_error": error}

    async def _store_status(self, auth: SiteAuth, edge: str, value: Any) -> dict[str, Any]:
        """What the edge says about itself (version, outbox backlog, read errors) for the
        operator's view; a bad one is logged and answered as ``status_error``, never fatal."""
        try:
            version, backlog, errors = parse_status(value)
        except BadInput as exc:
            self.ledger.record(auth.site, exc.kind, str(exc))
            return {"status_error": str(exc)}
        async with self.registry.db.connection() as conn:
            await conn.execute(
                "INSERT INTO edge_reports (site_id, edge, version, backlog, read_errors, at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (site_id) DO UPDATE SET edge = EXCLUDED.edge, "
                "version = EXCLUDED.version, backlog = EXCLUDED.backlog, "
                "read_errors = EXCLUDED.read_errors, at = EXCLUDED.at",
                (auth.site_id, edge, version, backlog, errors, utcnow()),
            )
        return {"status": True}


STATUS_MAX = 2**62  # a count in the edge's status


def parse_status(value: Any) -> tuple[str | None, int | None, int | None]:
    """``{"version": "0.9.0", "backlog": 120, "read_errors": 3}`` (each optional) of a batch;
    BadInput naming what is wrong."""
    if not isinstance(value, dict):
        raise BadInput("status", "status must be an object with version, backlog and read_errors")
    version = value.get("version")
    if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 40):
        raise BadInput("status", f"status version {_short(version)} is not a short string")
    counts = []
    for key in ("backlog", "read_errors"):
        n = value.get(key)
        if n is not None and (type(n) is not int or not 0 <= n < STATUS_MAX):
            raise BadInput("status", f"status {key} {_short(n)} is not a count")
        counts.append(n)
    return version, counts[0], counts[1]


def router(ingestor: Ingestor) -> APIRouter:
    r = APIRouter()

    @r.post("/api/v1/ingest", max_body_size=MAX_BODY)
    async def ingest(request: Request) -> Response:
        """Upload a batch of readings (see the module docstring for the format)."""
        return await ingestor.handle(request)

    @r.get("/api/v1/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "stored": ingestor.stored, "time_ms": int(time.time() * 1000)}

    return r


__all__ = ["Checked", "IngestConfig", "Ingestor", "check_batch", "decode_body", "router"]
