"""The uplink: sends the outbox to the portal over verified HTTPS and deletes only what was acked.

* TLS is always verified: the system trust store, a private CA file (``ca_file``), or for a
  self-hosted portal a pinned SHA-256 fingerprint of its certificate (``pin_sha256``), checked
  right after the handshake, before a byte of the request (or the token) is written.
* Bodies are MessagePack (default) or JSON, gzipped, with a channel-name table so each reading
  is ``[seq, channel_index, ts_ms, value]``.
* Failures back off exponentially with full jitter; a 429 waits exactly its Retry-After; 401
  and 403 are permanent (logged, retried at the longest backoff, nothing is dropped); 413
  halves the batch; a 400 for a batch is narrowed down by halving until the single poisoned
  reading is found, which alone is dropped and counted.
* Only what the portal acknowledged leaves the outbox: the answer's ``acked`` runs of seqs
  (a portal before them answers the batch's span as ``ack``).
* Clock skew is measured from the portal's ``Date`` header against the request's midpoint
  and reported (``clock_skew_s``, a warning beyond ``skew_warn_s``).
* Catch-up policy: each round first sends the newest readings not yet sent live (so the portal
  shows the present within one round even after a week offline), then up to
  ``catchup_batches`` of the oldest backlog, ``parallel`` at a time. The portal is idempotent
  by (edge, seq), so overlap between the two streams is harmless.
* The site's device roles (``roles``: device id -> role of the site file) ride along with the
  batches until the portal has acknowledged one that carried them, so its pages place each
  channel in the power flows without guessing from names. The site file's time zone (``tz``)
  rides along the same way, so the portal's days, months and years are the site's local ones
  (unless the owner chose another zone on the portal).
* Device health (``health``: device id -> ok / stale / error, as the local page's device list
  shows it) rides along whenever it differs from what the portal last acknowledged, so the
  portal can tell the owner about a stale device (portal/notify.py).
* Restriction episodes (``episodes``: edge/episode_journal.py, on disk) ride along until the
  portal answers for them (stored, or ``episodes_error``: logged, not sent again); a portal that
  does not know them leaves them pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import hashlib
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
import msgpack

from wattwerk import __version__
from wattwerk.edge.episode_journal import wire
from wattwerk.edge.outbox import Outbox, Row
from wattwerk.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

STATUS_EVERY_S = 60.0  # how often the edge's own report (version, backlog, read errors) rides along


@dataclass
class UplinkConfig:
    url: str  # portal base URL, e.g. https://portal.example:8443
    site: str
    edge_id: str
    token: str
    ca_file: Path | None = None
    pin_sha256: str | None = None  # hex fingerprint of the portal's certificate (DER)
    fmt: str = "msgpack"  # or "json"
    gzip_level: int = 1
    batch_size: int = 5000
    catchup_batches: int = 8  # oldest-first batches per round after the live batch
    parallel: int = 2  # catch-up requests in flight
    backoff_base_s: float = 0.5
    backoff_max_s: float = 300.0
    idle_s: float = 1.0  # pause when the outbox is empty
    timeout_s: float = 30.0
    skew_warn_s: float = 5.0
    roles: dict[str, str] | None = None  # device id -> role (grid_meter, pv, ...); None sends none
    labels: dict[str, str] | None = None  # device id -> the owner's name for it; rides with the roles
    tz: str | None = None  # the site file's IANA zone (site.timezone); None sends none
    health: Callable[[], dict[str, str]] | None = None  # device id -> state now; None sends none
    read_errors: Callable[[], int] | None = None  # bad input and failed reads so far, for the status
    episodes: Any = None  # edge.episode_journal.EpisodeJournal: restriction episodes; None sends none


@dataclass
class UplinkStats:
    sent_batches: int = 0
    acked: int = 0  # rows deleted from the outbox after an ack
    rejected: int = 0  # rows the portal rejected (acked, logged)
    duplicates: int = 0
    failures: int = 0
    throttled: int = 0  # 429 answers
    poisoned: int = 0  # rows dropped after the portal refused them alone with 400
    waits: list[float] = field(default_factory=list)  # last backoff/Retry-After delays


class Throttled(RetryableError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"portal asks to slow down for {retry_after:.0f} s")
        self.retry_after = retry_after


class BatchRefused(PermanentError):
    """The portal refused the batch itself (400/413): shrink it to find the culprit."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


# ------------------------------------------------------------------ TLS


def tls_context(ca_file: Path | None = None, pin_sha256: str | None = None) -> ssl.SSLContext:
    """A client context: system CAs, a private CA, or (with a pin) chain checks replaced by the pin."""
    if pin_sha256:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # trust comes from the pin, checked after the handshake
        return ctx
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _norm_pin(pin: str) -> str:
    return pin.replace(":", "").strip().lower()


class _PinnedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, pin: str) -> None:
        self._inner = inner
        self._pin = pin

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        obj = tls.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        if der is None or cert_fingerprint(der) != self._pin:
            await tls.aclose()
            got = cert_fingerprint(der) if der else "no certificate"
            raise httpcore.ConnectError(f"portal certificate {got} does not match the pinned {self._pin}")
        return tls

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def acked_spans(answer: dict[str, Any], low: int, high: int) -> list[tuple[int, int]]:
    """The seq runs a portal answer acknowledges, within the batch's ``low..high``: ``acked``
    (exactly the seqs the portal recorded), else ``ack`` (the span; portals before ``acked``)."""
    runs = answer.get("acked")
    if runs is None:
        ack = answer.get("ack")
        runs = [ack] if ack else []
    out = []
    for first, last in runs:
        a, b = max(int(first), low), min(int(last), high)
        if a <= b:
            out.append((a, b))
    return out


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, pin: str) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._pin = pin

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _PinnedStream(stream, self._pin)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def make_client(config: UplinkConfig) -> httpx.AsyncClient:
    """An httpx client whose TLS trust follows the config (CA file or certificate pin)."""
    ctx = tls_context(config.ca_file, config.pin_sha256)
    limits = httpx.Limits(max_connections=max(2, config.parallel + 1))
    transport = httpx.AsyncHTTPTransport(verify=ctx, limits=limits)
    if config.pin_sha256:
        transport._pool = httpcore.AsyncConnectionPool(  # same pool httpx builds, plus the pin check
            ssl_context=ctx,
            max_connections=limits.max_connections,
            network_backend=_PinnedBackend(_norm_pin(config.pin_sha256)),
        )
    return httpx.AsyncClient(base_url=config.url, transport=transport, timeout=config.timeout_s)


# ------------------------------------------------------------------ bodies


def encode_batch(
    config: UplinkConfig,
    rows: Sequence[Row],
    stream: str = "",
    roles: dict[str, str] | None = None,
    tz: str | None = None,
    health: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    episodes: list[dict[str, Any]] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The request body and headers for rows ``(seq, channel, ts_ms, value)``, with ``roles``,
    ``tz`` and ``health`` if given."""
    table: dict[str, int] = {}
    readings = [[seq, table.setdefault(ch, len(table)), ts, v] for seq, ch, ts, v in rows]
    doc: dict[str, Any] = {
        "site": config.site,
        "edge_id": config.edge_id,
        "stream": stream,
        "first_seq": rows[0][0],
        "channels": list(table),
        "readings": readings,
    }
    if roles is not None:
        doc["roles"] = roles
        if config.labels is not None:
            doc["labels"] = config.labels
    if tz is not None:
        doc["tz"] = tz
    if health is not None:
        doc["health"] = health
    if status is not None:
        doc["status"] = status
    if episodes:
        doc["episodes"] = wire(episodes)
    if config.fmt == "json":
        raw, ctype = json.dumps(doc, separators=(",", ":")).encode(), "application/json"
    else:
        raw, ctype = msgpack.packb(doc), "application/msgpack"
    headers = {"Content-Type": ctype, "Authorization": f"Bearer {config.token}"}
    if config.gzip_level:
        raw = gzip.compress(raw, config.gzip_level)
        headers["Content-Encoding"] = "gzip"
    return raw, headers


def retry_after(value: str | None, now: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); 1 s if unreadable."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return 1.0


# ------------------------------------------------------------------ the uplink


class Uplink:
    def __init__(
        self,
        outbox: Outbox,
        config: UplinkConfig,
        *,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.client = client or make_client(config)
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock
        self.stats = UplinkStats()
        self.clock_skew_s: float | None = None  # edge clock minus portal clock
        self.failures = 0
        self._batch = config.batch_size
        self._live_high = 0  # highest seq sent in a live batch
        self._skew_warned = False
        self._roles_pending = config.roles is not None  # until a batch with them is acked
        self._tz_pending = config.tz is not None  # likewise
        self._health_acked: dict[str, str] | None = None  # the device health the portal has
        self._health_failed = False
        self._status_at = -STATUS_EVERY_S  # when the edge's own report last rode along (clock)

    async def aclose(self) -> None:
        await self.client.aclose()

    # --------------------------------------------------------- one request

    async def send(self, rows: Sequence[Row]) -> int:
        """Send rows; on an ack delete them from the outbox and return how many went."""
        roles = self.config.roles if self._roles_pending else None
        tz = self.config.tz if self._tz_pending else None
        health = self._health()
        if health == self._health_acked:
            health = None  # the portal knows it
        status = self._status()
        episodes = self._episodes()
        body, headers = encode_batch(
            self.config, rows, self.outbox.instance, roles, tz, health, status, episodes
        )
        t0 = self.clock()
        try:
            resp = await self.client.post("/api/v1/ingest", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"portal unreachable: {type(exc).__name__}: {exc}") from exc
        self._note_skew(resp.headers.get("date"), (t0 + self.clock()) / 2)
        if resp.status_code == 429:
            self.stats.throttled += 1
            raise Throttled(retry_after(resp.headers.get("retry-after"), self.clock()))
        if resp.status_code in (401, 403):
            raise PermanentError(f"portal refused the edge ({resp.status_code}): {_reason(resp)}")
        if resp.status_code in (400, 413):
            raise BatchRefused(resp.status_code, _reason(resp))
        if resp.status_code != 200:
            raise RetryableError(f"portal answered {resp.status_code}: {_reason(resp)}")
        answer = resp.json()
        self.stats.sent_batches += 1
        if roles is not None:
            self._roles_pending = False
            if answer.get("roles_error"):
                log.error("portal refused the device roles: %s", answer["roles_error"])
        if tz is not None:
            self._tz_pending = False
            if answer.get("tz_error"):
                log.error("portal refused the site's time zone: %s", answer["tz_error"])
        if health is not None:
            self._health_acked = health
        if episodes:
            self._episodes_answered(answer, episodes)
        spans = acked_spans(answer, rows[0][0], rows[-1][0])
        if not spans:
            return 0
        for item in answer.get("rejected", []):
            log.warning("portal rejected seq %s: %s", item.get("seq"), item.get("error"))
        self.stats.rejected += len(answer.get("rejected", []))
        self.stats.duplicates += int(answer.get("duplicates", 0))
        deleted = sum(self.outbox.ack_range(a, b) for a, b in spans)
        self.stats.acked += deleted
        return deleted

    def _status(self) -> dict[str, Any] | None:
        """What the edge says about itself for the portal operator's view (version, outbox
        backlog, read errors), once every ``STATUS_EVERY_S`` (its count costs a query)."""
        now = self.clock()
        if now - self._status_at < STATUS_EVERY_S:
            return None
        self._status_at = now
        out: dict[str, Any] = {"version": __version__, "backlog": self.outbox.pending()}
        if self.config.read_errors is not None:
            out["read_errors"] = int(self.config.read_errors())
        return out

    def _episodes(self) -> list[dict[str, Any]] | None:
        """Restriction episodes the portal does not have yet; a failure to read them never stops
        an upload."""
        if self.config.episodes is None:
            return None
        try:
            return self.config.episodes.pending()  # type: ignore[no-any-return]
        except Exception:
            log.exception("restriction episodes for the portal failed; uploading without them")
            return None

    def _episodes_answered(self, answer: dict[str, Any], sent: list[dict[str, Any]]) -> None:
        if answer.get("episodes_error"):
            log.error("portal refused %d restriction episodes: %s", len(sent), answer["episodes_error"])
        elif "episodes" not in answer:
            return  # a portal before episodes: they stay pending
        self.config.episodes.acked(sent)

    def _health(self) -> dict[str, str] | None:
        """The devices' states now; a failure to tell them never stops an upload (logged once)."""
        if self.config.health is None:
            return None
        try:
            return self.config.health()
        except Exception:
            if not self._health_failed:
                log.exception("device health for the portal failed; uploading without it")
            self._health_failed = True
            return None

    def _note_skew(self, date: str | None, local_mid: float) -> None:
        if not date:
            return
        try:
            portal = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        # the Date header has 1 s resolution and truncates: its second started up to 1 s before
        self.clock_skew_s = local_mid - (portal + 0.5)
        big = abs(self.clock_skew_s) > self.config.skew_warn_s
        if big and not self._skew_warned:
            log.warning(
                "edge clock differs from the portal's by %+.1f s (edge minus portal)", self.clock_skew_s
            )
        self._skew_warned = big

    async def _send_narrowing(self, rows: Sequence[Row]) -> int:
        """Send; if the portal refuses the batch itself, halve until the poisoned row is isolated."""
        try:
            return await self.send(rows)
        except BatchRefused as exc:
            if len(rows) == 1:
                log.error("portal refuses seq %d on its own (%s); dropping it", rows[0][0], exc)
                self.stats.poisoned += 1
                return self.outbox.ack_range(rows[0][0], rows[0][0])
            if exc.status == 413:
                self._batch = max(1, len(rows) // 2)
            mid = len(rows) // 2
            return await self._send_narrowing(rows[:mid]) + await self._send_narrowing(rows[mid:])

    # --------------------------------------------------------- rounds

    async def round(self) -> int:
        """One round: the live batch, then catch-up batches. Returns rows acked. Raises on failure."""
        done = 0
        live = self.outbox.peek(self._batch, newest=True, after_seq=self._live_high)
        if live:
            done += await self._send_narrowing(live)
            self._live_high = live[-1][0]
        backlog = self.outbox.peek(self._batch * self.config.catchup_batches)
        batches = [backlog[i : i + self._batch] for i in range(0, len(backlog), self._batch)]
        window = asyncio.Semaphore(self.config.parallel)

        async def send(rows: list[Row]) -> int:
            async with window:
                return await self._send_narrowing(rows)

        results = await asyncio.gather(*(send(b) for b in batches), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
            done += r
        return done

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Send until ``stop`` is set, backing off on failures; never raises for portal trouble."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                done = await self.round()
                self.failures = 0
                if done == 0 or self.outbox.pending() == 0:
                    await self._wait(stop, self.config.idle_s)
            except Throttled as exc:
                log.info("%s", exc)
                await self._wait(stop, exc.retry_after + self.rng.uniform(0, 0.1))
            except PermanentError as exc:
                self.stats.failures += 1
                log.error("%s; retrying in %.0f s", exc, self.config.backoff_max_s)
                await self._wait(stop, self.config.backoff_max_s)
            except RetryableError as exc:
                self.stats.failures += 1
                self.failures += 1
                delay = self.backoff()
                log.warning("upload failed (%s); retrying in %.1f s", exc, delay)
                await self._wait(stop, delay)

    def backoff(self) -> float:
        return full_jitter(self.rng, self.config.backoff_base_s, self.config.backoff_max_s, self.failures)

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        self.stats.waits.append(seconds)
        del self.stats.waits[:-50]
        if self.sleep is not asyncio.sleep:
            await self.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def drain(self, *, max_rounds: int = 10_000) -> int:
        """Send until the outbox is empty (tests, catch-up bench); raises on failure."""
        total = 0
        for _ in range(max_rounds):
            if self.outbox.pending() == 0:
                break
            total += await self.round()
        return total


def full_jitter(rng: random.Random, base_s: float, max_s: float, failures: int) -> float:
    """Full jitter: uniform in [base, min(max, base * 2**failures)]."""
    cap = min(max_s, base_s * 2 ** min(failures, 30))
    return rng.uniform(base_s, max(cap, base_s))


def _reason(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
        return str(doc.get("error") or doc)
    except ValueError:
        return resp.text[:200]
