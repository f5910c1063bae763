"""``wattwerk portal writer``: the writer worker of ingest through the log (portal/ingest_log.py).

    wattwerk portal writer --db postgresql://... --nats-url nats://a:4222,nats://b:4222 [--partitions 0,1]

Each partition of the stream has one durable pull consumer (``writer-p<k>``); any number of
writer processes may serve the same partitions (JetStream hands each message to one of them).
A writer fetches up to ``--fetch`` messages, writes them in one PostgreSQL transaction with the
direct path's functions (``postgres.insert_batch``: binary COPY, the edge's acked ranges, idempotent
on (edge, outbox instance, seq)) and acks the messages only after the commit. A writer killed
between the commit and the acks gets its messages redelivered (to itself or another writer)
after ``ack_wait``; writing them again stores nothing twice. While PostgreSQL is unreachable the
messages are handed back (nak with a delay) and stay in the stream; the writer reconnects.

A message that cannot be decoded, or whose rows the database refuses for good (the site was
deleted meanwhile), is terminated and logged: it would otherwise come back forever.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import psycopg

from wattwerk.errors import BadInput
from wattwerk.portal import postgres
from wattwerk.portal.ingest_log import Decoded, LogConfig, decode, ensure_stream

log = logging.getLogger(__name__)

APPLICATION = "wattwerk-writer"  # application_name of the writers' database connections


@dataclass
class WriterStats:
    messages: int = 0
    stored: int = 0  # readings new in the database
    redelivered: int = 0
    terminated: int = 0
    db_errors: int = 0


@dataclass
class WriterConfig:
    db_url: str
    schema: str | None = None
    log: LogConfig = field(default_factory=LogConfig)
    partitions: list[int] | None = None  # None: every partition
    fetch: int = 64  # messages per fetch (one transaction)
    fetch_timeout_s: float = 1.0


async def _connect_db(config: WriterConfig) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(
        postgres.with_schema(config.db_url, config.schema), autocommit=True, application_name=APPLICATION
    )
    await postgres.configure_connection(conn)
    return conn


async def _write(conn: psycopg.AsyncConnection[Any], batch: list[Decoded]) -> int:
    """The messages' batches in one transaction (each its own savepoint inside insert_batch)."""
    stored = 0
    async with conn.transaction():
        for d in batch:
            first, last = d.ranges[0][0], d.ranges[-1][1]
            stored += await postgres.insert_batch(conn, d.edge_id, first, last, d.rows, ranges=d.ranges)
    return stored


class Writer:
    """One partition's loop: fetch, write, commit, ack; reconnects to PostgreSQL when it goes away."""

    def __init__(self, config: WriterConfig, sub: Any, stats: WriterStats) -> None:
        self.config = config
        self.sub = sub
        self.stats = stats
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        import nats.errors

        while not stop.is_set():
            try:
                msgs = await self.sub.fetch(self.config.fetch, timeout=self.config.fetch_timeout_s)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as exc:  # a node going away: the client reconnects
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            try:
                await self.handle(msgs)
            except nats.errors.Error as exc:  # an ack lost with a node: the message comes back
                log.warning("acknowledging failed: %s", exc)

    async def handle(self, msgs: list[Any]) -> None:
        good: list[tuple[Any, Decoded]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                self.stats.redelivered += 1
            try:
                good.append((msg, decode(msg.data)))
            except BadInput as exc:
                log.error("%s (subject %s); terminated", exc, msg.subject)
                self.stats.terminated += 1
                await msg.term()
        if not good:
            return
        try:
            if self.conn is None or self.conn.closed:
                self.conn = await _connect_db(self.config)
            stored = await _write(self.conn, [d for _, d in good])
        except psycopg.OperationalError as exc:  # the server restarting, a deadlock: hand them back
            self.stats.db_errors += 1
            log.warning("database unavailable (%s); %d messages handed back", exc, len(good))
            await self._drop_conn()
            for msg, _ in good:
                await msg.nak(delay=1.0)
            await asyncio.sleep(0.5)
            return
        except psycopg.Error:  # a message the database refuses: find it by writing one at a time
            await self._one_by_one(good)
            return
        await self._ack(good, stored)

    async def _ack(self, good: list[tuple[Any, Decoded]], stored: int) -> None:
        for msg, _ in good:
            await msg.ack()
        self.stats.messages += len(good)
        self.stats.stored += stored

    async def _one_by_one(self, good: list[tuple[Any, Decoded]]) -> None:
        for msg, d in good:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await _connect_db(self.config)
                stored = await _write(self.conn, [d])
            except psycopg.OperationalError:
                await self._drop_conn()
                await msg.nak(delay=1.0)
                continue
            except (psycopg.IntegrityError, psycopg.DataError) as exc:  # e.g. the site was deleted
                log.error("edge %d: the database refuses the batch (%s); terminated", d.edge_id, exc)
                self.stats.terminated += 1
                await msg.term()
                continue
            except psycopg.Error as exc:  # anything else may pass (a migration running): later
                log.error("edge %d: writing failed (%s); handed back", d.edge_id, exc)
                await self._drop_conn()
                await msg.nak(delay=5.0)
                continue
            await self._ack([(msg, d)], stored)

    async def _drop_conn(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self.conn.close()
        self.conn = None


def consumer_config(config: LogConfig, partition: int) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(
        durable_name=config.durable(partition),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=config.ack_wait_s,
        max_deliver=-1,  # never give up on a message: the database comes back
        max_ack_pending=4096,
        filter_subject=f"{config.subject}.{partition}.*",
    )


async def run_writer(
    config: WriterConfig, stop: asyncio.Event, stats: WriterStats | None = None
) -> WriterStats:
    """Serve the configured partitions until ``stop`` is set."""
    import nats

    stats = stats or WriterStats()
    lc = config.log
    nc = await nats.connect(
        servers=lc.servers, name="wattwerk-writer", max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    try:
        js = nc.jetstream(timeout=10)
        await ensure_stream(js, lc)
        writers = []
        for p in config.partitions if config.partitions is not None else range(lc.partitions):
            sub = await js.pull_subscribe(
                f"{lc.subject}.{p}.*", durable=lc.durable(p), stream=lc.stream, config=consumer_config(lc, p)
            )
            writers.append(Writer(config, sub, stats))
        log.info("writer serving %d partition(s) of %s", len(writers), lc.stream)
        await asyncio.gather(*(w.run(stop) for w in writers))
        for w in writers:
            await w._drop_conn()
    finally:
        await nc.close()
    return stats


def parse_partitions(text: str | None, total: int) -> list[int] | None:
    """``0,1,5`` or ``0-3``: the partitions a writer serves (ValueError naming the bad one)."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        lo, hi = int(a), int(b or a)
        if not 0 <= lo <= hi < total:
            raise ValueError(f"--partitions {part!r}: partitions are 0..{total - 1}")
        out.extend(range(lo, hi + 1))
    return sorted(set(out))


def add_writer_parser(actions: Any) -> None:
    """``wattwerk portal writer``'s options (the log's options are shared with serving)."""
    from wattwerk.portal.ingest_log import add_log_arguments

    w = actions.add_parser(
        "writer",
        help="write readings from the ingest log (NATS JetStream) to PostgreSQL",
        description="A writer worker of ingest through the log (docs/scaling.md): pulls the "
        "partitions' messages, writes them with COPY and acks after the commit.",
    )
    w.add_argument("--partitions", help="the partitions to serve, e.g. 0-3 or 0,2 (default: all)")
    w.add_argument("--fetch", type=int, default=64, help="messages per fetch and transaction")
    for name in ("--db", "--schema"):
        w.add_argument(name, default=argparse.SUPPRESS)
    add_log_arguments(w, suppress=True)


def run_cli(args: argparse.Namespace, log_config: LogConfig) -> int:
    if not str(args.db or "").startswith("postgres"):
        log.error("the writer writes to PostgreSQL: --db postgresql://...")
        return 2
    try:
        partitions = parse_partitions(args.partitions, log_config.partitions)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    config = WriterConfig(args.db, args.schema, log_config, partitions, fetch=max(1, args.fetch))

    async def main() -> WriterStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_writer(config, stop)

    stats = asyncio.run(main())
    log.info("writer stopped: %s", stats)
    return 0
