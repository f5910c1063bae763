"""Chaos through the log (issue #19): the ``bench chaos`` harness with ingest through NATS JetStream.

Real processes on loopback: a three-node JetStream cluster (stream with replicas 3), a private
PostgreSQL instance (so it can be restarted without disturbing the machine's server), the
portal with ``--ingest-via nats`` over verified HTTPS, one ``wattwerk portal writer`` and the
chaos edge (``python -m wattwerk.bench.chaos edge``). While the edge generates, a seeded order
of blows:

* ``nats``: one node killed with SIGKILL, the edge keeps uploading (2 of 3 is a quorum), the node
  restarted from its store;
* ``writer``: the writer killed mid-batch: the harness holds a lock on ``acked_ranges`` until the
  writer's transaction waits on it (its rows already copied, nothing committed nor acked), then
  SIGKILL, the lock released and the writer restarted; its messages come back after ack_wait;
* ``postgres``: PostgreSQL stopped in immediate mode (a crash) and started again: the portal
  keeps acknowledging (the log holds the batches), the writer hands its messages back and
  reconnects.

Then generation stops, the outbox drains, the writer catches up, and ``bench.chaos.check``
compares the database with what the edge accepted: lost, duplicated, altered.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from wattwerk.bench._servers import NatsCluster, PrivatePostgres
from wattwerk.bench._testca import make_ca
from wattwerk.bench.chaos import (
    ChaosConfig,
    ChaosResult,
    Proc,
    _edge_argv,
    _pair,
    _portal_argv,
    _wait,
    accepted,
    check,
    free_port,
    pending,
)
from wattwerk.portal.postgres import with_schema

BLOWS = ("nats", "writer", "postgres")


@dataclass
class LogChaosConfig:
    nodes: int = 3
    partitions: int = 4
    ack_wait_s: float = 3.0  # short, so the killed writer's messages come back within the test
    steps_per_s: float = 50  # the edge's generation (20 readings a step)
    batch: int = 500
    seed: int = 20261206


@dataclass
class LogChaosResult(ChaosResult):
    blows: tuple[str, ...] = ()
    writer_killed_mid_batch: bool = False
    went_on: tuple[bool, ...] = ()  # after each blow: the edge got more acked and the writer stored more


def _log_options(config: LogChaosConfig, cluster: NatsCluster) -> list[str]:
    return [
        "--nats-url",
        cluster.url,
        "--nats-replicas",
        str(min(3, config.nodes)),
        "--nats-partitions",
        str(config.partitions),
        "--nats-ack-wait",
        str(config.ack_wait_s),
    ]


class _Rig:
    """The processes of one run."""

    def __init__(
        self, config: LogChaosConfig, workdir: Path, cluster: NatsCluster, pg: PrivatePostgres
    ) -> None:
        self.config, self.workdir, self.cluster, self.pg = config, workdir, cluster, pg
        self.schema = "chaos"
        self.rng = random.Random(config.seed)
        self.killed_mid_batch = False
        ca = make_ca(workdir / "ca")
        token = _pair(pg.url, self.schema, "home", workdir)
        port = free_port()
        base = ChaosConfig(db=pg.url, batch=config.batch)
        opts = _log_options(config, cluster)
        self.portal = Proc(
            [*_portal_argv(base, self.schema, port, ca), "--ingest-via", "nats", *opts],
            workdir / "portal.log",
        )
        self.writer = Proc(
            [
                sys.executable,
                "-m",
                "wattwerk",
                "portal",
                "writer",
                "--db",
                pg.url,
                "--schema",
                self.schema,
                *opts,
            ],
            workdir / "writer.log",
        )
        self.outbox = workdir / "outbox.db"
        self.edge_argv = _edge_argv(base, self.outbox, port, token, ca)
        self.edge = Proc([*self.edge_argv, "--steps-per-s", str(config.steps_per_s)], workdir / "edge.log")

    def rows(self) -> int:
        try:
            with psycopg.connect(with_schema(self.pg.url, self.schema), connect_timeout=5) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
            return int(row[0]) if row else 0
        except psycopg.OperationalError:
            return -1

    def progress(self, timeout_s: float = 30) -> bool:
        """Wait until the edge got more acknowledged and the writer stored more."""
        a, r = accepted(self.outbox) - pending(self.outbox), self.rows()
        return _wait(
            lambda: accepted(self.outbox) - pending(self.outbox) > a and self.rows() > r, timeout_s, 0.1
        )

    def blow_nats(self) -> bool:
        node = self.rng.randrange(self.config.nodes)
        self.cluster.kill(node)
        went_on = self.progress()  # uploads and writes go on with two of three nodes
        self.cluster.start(node)
        return went_on and self.progress()

    def blow_writer(self) -> bool:
        """Kill the writer while its transaction waits on a lock the harness holds (its rows
        copied, nothing committed nor acked): ``killed_mid_batch`` says whether it was caught so."""
        url = with_schema(self.pg.url, self.schema)
        with psycopg.connect(url) as lock:
            lock.execute("LOCK TABLE acked_ranges IN EXCLUSIVE MODE")
            self.killed_mid_batch = _wait(lambda: _writer_waits(self.pg.url), 20, 0.05)
            self.writer.kill()
            lock.rollback()
        self.writer.start()
        return self.progress()

    def blow_postgres(self) -> bool:
        self.pg.restart()
        return self.progress()


def _writer_waits(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wattwerk-writer' "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def run_log_chaos(
    config: LogChaosConfig, workdir: Path, *, say: Callable[[str], None] = lambda _m: None
) -> LogChaosResult:
    """Run the blows and the check; the caller asserts or prints."""
    result = LogChaosResult()
    t0 = time.monotonic()
    with NatsCluster(workdir / "nats", config.nodes) as cluster, PrivatePostgres() as pg:
        rig = _Rig(config, workdir, cluster, pg)
        rig.portal.start()
        rig.writer.start()
        rig.edge.start()
        try:
            if not rig.progress(60):
                raise RuntimeError(f"no readings came through the log\n{_tail(workdir)}")
            blows = list(BLOWS)
            rig.rng.shuffle(blows)
            for blow in blows:
                result.went_on += (getattr(rig, f"blow_{blow}")(),)
                say(f"after {blow}: {accepted(rig.outbox)} accepted, {rig.rows()} rows")
            result.blows = tuple(blows)
            result.writer_killed_mid_batch = rig.killed_mid_batch
            rig.edge.kill()
            rig.edge.start([*rig.edge_argv, "--steps-per-s", "0"])
            result.accepted = accepted(rig.outbox)
            t1 = time.monotonic()
            if not _wait(lambda: pending(rig.outbox) == 0 and rig.rows() >= result.accepted, 60, 0.2):
                say(f"not drained: {pending(rig.outbox)} pending, {rig.rows()} of {result.accepted} rows")
            result.drain_s = time.monotonic() - t1
        finally:
            for proc in (rig.edge, rig.writer, rig.portal):
                proc.kill()
        check(pg.url, rig.schema, result.accepted, result)
    result.wall_s = time.monotonic() - t0
    return result


def _tail(workdir: Path) -> str:
    return "\n".join(
        f"--- {name}\n{(workdir / name).read_text(errors='replace')[-1500:]}"
        for name in ("portal.log", "writer.log", "edge.log")
        if (workdir / name).exists()
    )
