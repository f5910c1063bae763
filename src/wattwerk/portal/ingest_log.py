"""Ingest through a replicated log (NATS JetStream), switched on by the portal's configuration.

With ``via: nats`` the ingest route authenticates and validates a batch exactly as on the direct
path, resolves its edge and channel ids, and publishes the rows to a JetStream stream instead of
writing them; the edge is acknowledged only after JetStream's PubAck (the message is stored on a
quorum of the stream's replicas). Writer workers (``portal/writer.py``, ``wattwerk portal
writer``) pull the messages, write them with the direct path's COPY functions and ack them after
the commit.

* Subjects are ``<prefix>.<partition>.<site_id>`` with ``partition = site_id % partitions``; each
  partition has one durable pull consumer (``writer-p<k>``) that one or more writers share.
* De-duplication: the message id (``Nats-Msg-Id``) is (edge, outbox instance, seq runs), so a
  retried upload inside the stream's duplicate window is stored once by JetStream; outside it
  the database's idempotence ((edge, instance, seq) and the acked ranges) drops it.
* Retention is a work queue (a message leaves the stream when a writer acked it) with a size
  bound and ``discard: new``: a full stream refuses the upload (503) and the edge keeps the
  readings in its outbox; nothing is dropped silently.

The message body is MessagePack: ``{"v": 1, "edge": id, "ranges": [[a, b], ...], "seq": bytes,
"ch": bytes, "ts": bytes, "val": bytes}`` with the columns as little-endian arrays (int64,
int32, int64, float64), 28 bytes a reading. A batch larger than the server's ``max_payload``
goes as several messages, each with its own rows' seq runs (so a writer may commit them in any
order). ``nats-py`` is imported only when the log is used (``pip install wattwerk[scale]``).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from wattwerk.errors import BadInput

log = logging.getLogger(__name__)

VIA = ("direct", "nats")
# edge_id, seq, channel_id, ts_ms, value (portal/postgres.py ReadingRow)
Row = tuple[int, int, int, int, float]


class LogUnavailable(RuntimeError):
    """The log did not confirm a publish (no quorum, timeout, full): the edge retries later."""


@dataclass
class LogConfig:
    """``ingest: {via: nats, nats_url: ..., stream: ..., replicas: 3}`` of the portal's configuration."""

    via: str = "direct"  # direct (default): write to the database in the request; nats: the log
    nats_url: str = "nats://127.0.0.1:4222"  # comma-separated servers of one cluster
    stream: str = "WATTWERK_INGEST"
    subject: str = "ww.ingest"  # subjects are <subject>.<partition>.<site_id>
    partitions: int = 8
    replicas: int = 1  # 3 in production: a PubAck then means stored on 2 of 3 nodes
    max_bytes: int = 8 * 2**30  # the stream's bound; beyond it uploads are refused (503), not dropped
    duplicate_window_s: float = 120.0
    publish_timeout_s: float = 5.0
    ack_wait_s: float = 30.0  # a writer's message is redelivered this long after it went silent

    def __post_init__(self) -> None:
        if self.via not in VIA:
            raise ValueError(f"ingest via must be one of {', '.join(VIA)}, not {self.via!r}")
        if not 1 <= self.partitions <= 1024:
            raise ValueError("ingest partitions must be 1..1024")
        if self.replicas not in (1, 3, 5):
            raise ValueError("ingest replicas must be 1, 3 or 5 (a quorum needs an odd number)")
        if not self.stream.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"ingest stream {self.stream!r}: letters, digits, - and _ only")

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.nats_url.split(",") if s.strip()]

    def partition(self, site_id: int) -> int:
        return site_id % self.partitions

    def subject_for(self, site_id: int) -> str:
        return f"{self.subject}.{self.partition(site_id)}.{site_id}"

    def durable(self, partition: int) -> str:
        return f"writer-p{partition}"


def from_mapping(value: Any) -> LogConfig:
    """A LogConfig from the ``ingest`` mapping of a configuration (ValueError naming the key)."""
    if not isinstance(value, dict):
        raise ValueError("ingest must be a mapping such as {via: nats, nats_url: ...}")
    known = set(LogConfig.__dataclass_fields__)
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"ingest: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return LogConfig(**value)


def add_log_arguments(parser: Any, *, suppress: bool = False) -> None:
    """The log's options (``wattwerk portal`` and ``wattwerk portal writer``)."""
    import argparse

    d = LogConfig()

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--ingest-via",
        choices=VIA,
        default=default("direct"),
        help="direct (default): ingest writes to the database; nats: through a JetStream stream "
        "that 'wattwerk portal writer' workers write to the database (docs/scaling.md)",
    )
    parser.add_argument(
        "--nats-url", default=default(d.nats_url), help="the NATS cluster, comma-separated servers"
    )
    parser.add_argument("--nats-stream", default=default(d.stream), help="the ingest stream's name")
    parser.add_argument(
        "--nats-replicas", type=int, default=default(d.replicas), help="stream replicas (1, 3 or 5)"
    )
    parser.add_argument(
        "--nats-partitions",
        type=int,
        default=default(d.partitions),
        help="subject partitions (each a durable consumer); fixed once the stream is in use",
    )
    parser.add_argument(
        "--nats-ack-wait",
        type=float,
        default=default(d.ack_wait_s),
        help="seconds before a silent writer's messages go to another writer",
    )


def log_config(args: Any) -> LogConfig:
    """The LogConfig of parsed options (ValueError naming the bad one)."""
    return LogConfig(
        via=getattr(args, "ingest_via", "direct"),
        nats_url=getattr(args, "nats_url", LogConfig.nats_url),
        stream=getattr(args, "nats_stream", LogConfig.stream),
        replicas=getattr(args, "nats_replicas", LogConfig.replicas),
        partitions=getattr(args, "nats_partitions", LogConfig.partitions),
        ack_wait_s=getattr(args, "nats_ack_wait", LogConfig.ack_wait_s),
    )


def msg_id(edge_id: int, ranges: Sequence[tuple[int, int]], part: int = 0) -> str:
    """``Nats-Msg-Id`` of a batch: (edge, outbox instance) is the portal's edge id; then its seq
    runs (a digest when there are several: same span, other seqs is another batch)."""
    if len(ranges) == 1:
        runs = f"{ranges[0][0]}-{ranges[0][1]}"
    else:
        text = ",".join(f"{a}-{b}" for a, b in ranges).encode()
        runs = f"{ranges[0][0]}-{ranges[-1][1]}~{hashlib.blake2b(text, digest_size=8).hexdigest()}"
    return f"e{edge_id}:{runs}" + (f":{part}" if part else "")


def _col(code: str, values: Any) -> bytes:
    col = array(code, values)
    if sys.byteorder != "little":
        col.byteswap()
    return col.tobytes()


def _uncol(code: str, raw: bytes) -> array[Any]:
    col = array(code)
    col.frombytes(raw)
    if sys.byteorder != "little":
        col.byteswap()
    return col


def encode(edge_id: int, ranges: Sequence[tuple[int, int]], rows: Sequence[Row]) -> bytes:
    """One message: the rows of one edge and the seq runs to record as acked with them."""
    return msgpack.packb(
        {
            "v": 1,
            "edge": edge_id,
            "ranges": [list(r) for r in ranges],
            "seq": _col("q", [r[1] for r in rows]),
            "ch": _col("i", [r[2] for r in rows]),
            "ts": _col("q", [r[3] for r in rows]),
            "val": _col("d", [r[4] for r in rows]),
        }
    )


@dataclass
class Decoded:
    edge_id: int
    ranges: list[tuple[int, int]]
    rows: list[Row]


def decode(data: bytes) -> Decoded:
    """A message back into the direct path's rows; BadInput if it is not one of ours."""
    try:
        doc = msgpack.unpackb(data, raw=False)
        if not isinstance(doc, dict) or doc.get("v") != 1:
            raise ValueError("not a version 1 ingest message")
        edge = int(doc["edge"])
        ranges = [(int(a), int(b)) for a, b in doc["ranges"]]
        cols = (
            _uncol("q", doc["seq"]),
            _uncol("i", doc["ch"]),
            _uncol("q", doc["ts"]),
            _uncol("d", doc["val"]),
        )
    except (ValueError, TypeError, KeyError, msgpack.ExtraData, msgpack.FormatError) as exc:
        raise BadInput("log_message", f"undecodable ingest message: {exc}") from exc
    if len({len(c) for c in cols}) != 1 or not ranges:
        raise BadInput("log_message", "ingest message with columns of different lengths or no seqs")
    return Decoded(edge, ranges, [(edge, s, c, t, v) for s, c, t, v in zip(*cols, strict=True)])


def split(
    edge_id: int, ranges: Sequence[tuple[int, int]], rows: Sequence[Row], max_payload: int
) -> list[tuple[Sequence[tuple[int, int]], bytes]]:
    """The batch as messages of at most ``max_payload`` bytes: (seq runs, body) each. One message
    when it fits (the batch's runs, so rejected seqs are recorded too); else rows in seq order,
    each part with the runs of its own rows (the first also those of rows rejected)."""
    body = encode(edge_id, ranges, rows)
    if len(body) <= max_payload or len(rows) < 2:
        return [(ranges, body)]
    from wattwerk.portal.ingest import runs

    ordered = sorted(rows, key=lambda r: r[1])
    per = max(1, (max_payload - 4096) // 40)  # 28 bytes a row, headroom for the runs
    kept = {r[1] for r in rows}
    rejected = [s for a, b in ranges for s in range(a, b + 1) if s not in kept]  # <= max_readings
    out: list[tuple[Sequence[tuple[int, int]], bytes]] = []
    for i in range(0, len(ordered), per):
        part = ordered[i : i + per]
        seqs = [r[1] for r in part] + (rejected if i == 0 else [])
        part_runs = runs(seqs)
        out.append((part_runs, encode(edge_id, part_runs, part)))
    return out


class NatsLog:
    """The portal's connection to the log: publishes batches, waits for JetStream's PubAck."""

    def __init__(self, config: LogConfig) -> None:
        self.config = config
        self.nc: Any = None
        self.js: Any = None
        self.published = 0
        self.deduplicated = 0

    async def open(self) -> None:
        import nats  # lazily: only portals configured for the log need nats-py

        self.nc = await nats.connect(
            servers=self.config.servers,
            name="wattwerk-portal",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            allow_reconnect=True,
        )
        self.js = self.nc.jetstream(timeout=self.config.publish_timeout_s)
        await ensure_stream(self.js, self.config)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None

    async def publish(
        self, site_id: int, edge_id: int, ranges: Sequence[tuple[int, int]], rows: Sequence[Row]
    ) -> int:
        """Publish a batch and wait for its PubAck; returns the rows JetStream took as new (0 when
        it recognised the message id as a duplicate). LogUnavailable when not confirmed."""
        import nats.errors

        subject = self.config.subject_for(site_id)
        new = 0
        try:
            parts = split(edge_id, ranges, rows, self.nc.max_payload)
            for k, (part_ranges, body) in enumerate(parts):
                ack = await self.js.publish(
                    subject,
                    body,
                    headers={"Nats-Msg-Id": msg_id(edge_id, part_ranges, k if len(parts) > 1 else 0)},
                )
                if ack.duplicate:
                    self.deduplicated += 1
                else:
                    new += 1
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise LogUnavailable(
                f"the ingest log did not confirm the batch: {type(exc).__name__}: {exc}"
            ) from exc
        self.published += len(parts)
        return len(rows) if new else 0


async def ensure_stream(js: Any, config: LogConfig) -> None:
    """Create the stream if missing (work-queue retention, size bound, refuse when full)."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    wanted = StreamConfig(
        name=config.stream,
        subjects=[f"{config.subject}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=config.replicas,
        max_bytes=config.max_bytes,
        discard=DiscardPolicy.NEW,
        duplicate_window=config.duplicate_window_s,
    )
    try:
        info = await js.stream_info(config.stream)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("created stream %s (replicas %d)", config.stream, config.replicas)
        return
    if info.config.num_replicas != config.replicas or info.config.subjects != wanted.subjects:
        log.warning(
            "stream %s exists with replicas %s and subjects %s; configured: %d, %s (the stream's are used)",
            config.stream,
            info.config.num_replicas,
            info.config.subjects,
            config.replicas,
            wanted.subjects,
        )


__all__ = [
    "LogConfig",
    "LogUnavailable",
    "NatsLog",
    "add_log_arguments",
    "decode",
    "encode",
    "from_mapping",
    "log_config",
    "msg_id",
    "split",
]
