"""``wattwerk bench chaos [--db URL] [--rounds N] [--outage-hours H] [--json]``: store-and-forward
under kill -9. An edge and the portal run as real processes over verified HTTPS with the real
PostgreSQL; both are killed with SIGKILL at seeded moments, and the portal is also down for
a long outage (measured in the edge's simulated time). At the end the portal must hold exactly
what the edge accepted: the figures are accepted, stored, lost, duplicated and altered readings,
plus timings. The suite's short form (tests/test_chaos.py) runs the same harness.

The edge (``python -m wattwerk.bench.chaos edge ...``) emulates 20 meter channels at one reading
per second of simulated time, accelerated to ``--steps-per-s`` simulated seconds per wall second,
appended to the outbox one tick (one or more steps of 20 readings) per transaction, with the real
uplink sending them. Every reading is a pure function of its sequence number, so a restarted edge
carries on exactly where its outbox left off and the check at the end needs no record of what was
sent. During the outage the edge is restarted (kill -9, one more blow) at ``--outage-steps-per-s``
so that a simulated day takes minutes, not a day.

A fresh PostgreSQL schema is created and dropped (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from wattwerk.bench._testca import CertFiles, make_ca
from wattwerk.portal.postgres import with_schema

CHANNELS = tuple(f"m{i}.power" for i in range(10)) + tuple(f"m{i}.energy_import" for i in range(10))
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: step k is at T0 + k s
MAX_STEPS_PER_TX = 250  # one transaction per tick, at most this many steps (5000 readings)


def value(seq: int) -> float:
    """The reading with this seq (1-based): deterministic, so a restarted edge regenerates it."""
    step, i = divmod(seq - 1, len(CHANNELS))
    return float(step * 10 + i) if i >= 10 else float((step * 7919 + i * 104729) % 5000) - 2000.0


def expected_row(seq: int) -> tuple[int, str, int, float]:
    """What the portal must hold for this seq: (seq, channel, ts_ms, value)."""
    step, i = divmod(seq - 1, len(CHANNELS))
    return seq, CHANNELS[i], T0 + step * 1000, value(seq)


def step_rows(step: int) -> list[tuple[str, int, float]]:
    return [(ch, T0 + step * 1000, value(step * len(CHANNELS) + i + 1)) for i, ch in enumerate(CHANNELS)]


# ------------------------------------------------------------------ the edge process


async def edge_main(args: argparse.Namespace) -> None:
    from wattwerk.edge.outbox import Outbox
    from wattwerk.edge.uplink import Uplink, UplinkConfig

    box = Outbox(args.outbox)
    cfg = UplinkConfig(
        url=args.url,
        site=args.site,
        edge_id="edge-1",
        token=args.token,
        ca_file=Path(args.ca),
        batch_size=args.batch,
        backoff_base_s=0.1,
        backoff_max_s=1.0,
        idle_s=0.05,
        timeout_s=10,
    )
    up = Uplink(box, cfg)

    async def generate() -> None:
        step = (box.next_seq() - 1) // len(CHANNELS)
        start, done = time.monotonic(), 0
        while True:
            due = int((time.monotonic() - start) * args.steps_per_s) - done
            n = max(1, min(due, MAX_STEPS_PER_TX))
            box.append_raw([row for k in range(n) for row in step_rows(step + k)])
            step, done = step + n, done + n
            await asyncio.sleep(max(0.0, (done + 1) / args.steps_per_s - (time.monotonic() - start)))

    tasks = [asyncio.create_task(up.run(asyncio.Event()))]
    if args.steps_per_s > 0:
        tasks.append(asyncio.create_task(generate()))
    await asyncio.gather(*tasks)


def edge_cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m wattwerk.bench.chaos edge")
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--site", default="home")
    parser.add_argument("--token", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--steps-per-s", type=float, default=50)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s edge %(levelname)s %(message)s")
    asyncio.run(edge_main(parser.parse_args(argv)))


# ------------------------------------------------------------------ the harness


class Proc:
    """A child process that can be started again after a kill -9."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, argv: list[str] | None = None) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv or self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def pending(outbox: Path) -> int:
    """Rows in the edge's outbox not yet acknowledged by the portal."""
    try:
        with sqlite3.connect(outbox, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:  # the edge is still creating its outbox
        return 0


def accepted(outbox: Path) -> int:
    """Readings the edge accepted so far (the outbox's sequence numbers handed out)."""
    try:
        with sqlite3.connect(outbox, timeout=10) as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]) - 1
    except (sqlite3.OperationalError, TypeError):  # the edge is still creating its outbox
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ChaosConfig:
    db: str  # PostgreSQL server URL; a schema of its own is created and dropped
    rounds: int = 4  # each round is one kill -9 of the edge and one of the portal
    outage_hours: float = 0.05  # the portal's long outage, in the edge's simulated time
    steps_per_s: float = 50  # simulated seconds (20 readings each) per wall second
    outage_steps_per_s: float = 50  # the same during the outage
    batch: int = 500  # the uplink's batch size
    seed: int = 20261121
    keep: bool = False


@dataclass
class ChaosResult:
    accepted: int = 0
    stored: int = 0
    lost: int = 0  # seqs the edge accepted that the portal lacks
    duplicated: int = 0  # (channel, ts) stored more than once
    altered: int = 0  # stored rows whose channel, timestamp or value differ from what was accepted
    kills: dict[str, int] = field(default_factory=lambda: {"edge": 0, "portal": 0, "outage": 0})
    outage_hours: float = 0.0  # simulated
    outage_backlog: int = 0  # readings accepted while the portal was down
    outage_wall_s: float = 0.0
    catchup_s: float = 0.0  # portal back until the backlog was gone (the edge still generating)
    catchup_readings_per_s: float = 0.0
    drain_s: float = 0.0  # final restart until the outbox was empty
    wall_s: float = 0.0
    accepted_readings_per_s: float = 0.0
    check_s: float = 0.0
    ok: bool = False


def _wait(cond: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll_s)
    return cond()


def _pair(db: str, schema: str, site: str, workdir: Path) -> str:
    """A new edge token through the portal's own command (which also migrates the schema)."""
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", "portal", "--db", db, "--schema", schema, "--pair", site],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    return out.stdout.strip().splitlines()[-1]


def _stored_rows(db: str, schema: str) -> Iterator[tuple[int, str, int, float]]:
    with psycopg.connect(with_schema(db, schema)) as conn, conn.transaction():
        cur = conn.cursor("chaos_check")
        cur.itersize = 50_000
        cur.execute(
            "SELECT r.seq, c.name, r.ts_ms, r.value FROM readings r "
            "JOIN channels c ON c.id = r.channel_id ORDER BY r.seq"
        )
        for row in cur:
            yield int(row[0]), str(row[1]), int(row[2]), float(row[3])


def check(db: str, schema: str, total: int, result: ChaosResult) -> None:
    """Compare the portal's rows with seqs 1..total, streaming (a long run holds millions)."""
    stored = altered = 0
    for row in _stored_rows(db, schema):
        stored += 1
        if row[0] > total or row != expected_row(row[0]):
            altered += 1
    with psycopg.connect(with_schema(db, schema)) as conn:
        dupes = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM readings "
            "GROUP BY channel_id, ts_ms HAVING count(*) > 1) d"
        ).fetchone()
        distinct = conn.execute(
            "SELECT count(DISTINCT seq) FROM readings WHERE seq BETWEEN 1 AND %s", (total,)
        ).fetchone()
    result.stored = stored
    result.duplicated = int(dupes[0]) if dupes else 0
    result.lost = total - (int(distinct[0]) if distinct else 0)
    result.altered = altered
    result.ok = result.lost == 0 and result.duplicated == 0 and result.altered == 0 and stored == total


def _portal_argv(config: ChaosConfig, schema: str, port: int, ca: CertFiles) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wattwerk",
        "portal",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        config.db,
        "--schema",
        schema,
        "--tls-cert",
        str(ca.server_cert),
        "--tls-key",
        str(ca.server_key),
    ]


def _edge_argv(config: ChaosConfig, outbox: Path, port: int, token: str, ca: CertFiles) -> list[str]:
    """The edge's command line without --steps-per-s (the caller picks the generation rate)."""
    return [
        sys.executable,
        "-m",
        "wattwerk.bench.chaos",
        "edge",
        "--outbox",
        str(outbox),
        "--url",
        f"https://127.0.0.1:{port}",
        f"--token={token}",  # a URL-safe token may start with "-", which argparse would take for an option
        "--ca",
        str(ca.ca_cert),
        "--batch",
        str(config.batch),
    ]


def _blow(
    action: str,
    rng: random.Random,
    config: ChaosConfig,
    portal: Proc,
    edge: Proc,
    outbox: Path,
    result: ChaosResult,
    say: Callable[[str], None],
) -> None:
    """Deal one blow of the sequence (after a random pause) and count it."""
    time.sleep(rng.uniform(0.3, 1.5))
    if action == "edge":
        edge.kill()
        before = accepted(outbox)
        edge.start()
        # let it make progress before the next blow, even on a busy machine
        _wait(lambda b=before: accepted(outbox) > b, 20)
    elif action == "portal":
        portal.kill()
        time.sleep(rng.uniform(0, 0.5))
        portal.start()
    else:
        _outage(config, portal, edge, outbox, result, say)
    result.kills[action] += 1
    say(f"after {action}: {accepted(outbox)} accepted, {pending(outbox)} pending")


def _drain(
    portal: Proc, edge: Proc, edge_argv: list[str], outbox: Path, workdir: Path, result: ChaosResult
) -> None:
    """The end: generation stops, everything restarts once more and the outbox must drain."""
    edge.kill()
    portal.kill()
    portal.start()
    edge.start([*edge_argv, "--steps-per-s", "0"])
    result.accepted = accepted(outbox)
    t0 = time.monotonic()
    drained = _wait(lambda: pending(outbox) == 0, 120 + result.accepted / 2000, poll_s=0.2)
    result.drain_s = time.monotonic() - t0
    if not drained:
        tail = (workdir / "edge.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the outbox did not drain: {pending(outbox)} pending\n{tail}")


def _check_and_drop(config: ChaosConfig, schema: str, result: ChaosResult) -> None:
    """Check the portal's data, then drop the schema unless it is to be kept."""
    try:
        t0 = time.monotonic()
        check(config.db, schema, result.accepted, result)
        result.check_s = time.monotonic() - t0
    finally:
        if not config.keep:
            with psycopg.connect(config.db, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_chaos(
    config: ChaosConfig, workdir: Path, *, say: Callable[[str], None] = lambda _msg: None
) -> ChaosResult:
    """Run the seeded sequence of blows and the check; the caller asserts or prints."""
    rng = random.Random(config.seed)
    result = ChaosResult()
    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    ca = make_ca(workdir / "ca")
    token = _pair(config.db, schema, "home", workdir)
    port = free_port()
    portal = Proc(_portal_argv(config, schema, port, ca), workdir / "portal.log")
    outbox = workdir / "outbox.db"
    edge_argv = _edge_argv(config, outbox, port, token, ca)
    edge = Proc([*edge_argv, "--steps-per-s", str(config.steps_per_s)], workdir / "edge.log")
    t_start = time.monotonic()
    portal.start()
    edge.start()
    # A fixed, seeded sequence of blows (not a time budget): a slow machine gets the same chaos.
    actions = ["edge", "portal"] * config.rounds + ["outage"]
    rng.shuffle(actions)
    try:
        for action in actions:
            _blow(action, rng, config, portal, edge, outbox, result, say)
        _drain(portal, edge, edge_argv, outbox, workdir, result)
        result.wall_s = time.monotonic() - t_start
    finally:
        edge.kill()
        portal.kill()
    _check_and_drop(config, schema, result)
    result.accepted_readings_per_s = result.accepted / max(result.wall_s - result.drain_s, 1e-9)
    return result


def _outage(
    config: ChaosConfig,
    portal: Proc,
    edge: Proc,
    outbox: Path,
    result: ChaosResult,
    say: Callable[[str], None],
) -> None:
    """The portal down for ``outage_hours`` of the edge's simulated time; then the catch-up."""
    portal.kill()
    t0 = time.monotonic()
    start = accepted(outbox)
    target = start + int(config.outage_hours * 3600) * len(CHANNELS)
    fast = config.outage_steps_per_s != config.steps_per_s
    if fast:  # one more blow: the edge comes back generating faster
        edge.kill()
        edge.start([*edge.argv[:-1], str(config.outage_steps_per_s)])
    expect_s = (target - start) / len(CHANNELS) / config.outage_steps_per_s
    if not _wait(lambda: accepted(outbox) >= target, 60 + 4 * expect_s, poll_s=0.2):
        raise RuntimeError(f"the edge reached only {accepted(outbox) - start} of {target - start} readings")
    if fast:
        edge.kill()
        edge.start()
    result.outage_wall_s = time.monotonic() - t0
    result.outage_backlog = accepted(outbox) - start
    result.outage_hours = result.outage_backlog / len(CHANNELS) / 3600
    say(f"outage: {result.outage_backlog} readings backlog after {result.outage_wall_s:.0f} s")
    portal.start()
    t0 = time.monotonic()
    backlog = pending(outbox)
    # caught up once the outbox is back to what live operation keeps in flight
    live = max(4 * config.batch, int(config.steps_per_s * len(CHANNELS) * 2))
    _wait(lambda: pending(outbox) <= live, 120 + backlog / 1000, poll_s=0.2)
    result.catchup_s = time.monotonic() - t0
    result.catchup_readings_per_s = backlog / max(result.catchup_s, 1e-9)


# ------------------------------------------------------------------ wattwerk bench chaos


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("WATTWERK_BENCH_PG", "postgresql://postgres@127.0.0.1/test"),
        help="PostgreSQL server URL (a schema of its own is created and dropped)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="kill -9 of the edge and of the portal, each")
    parser.add_argument("--outage-hours", type=float, default=24.0, help="simulated length of the outage")
    parser.add_argument("--steps-per-s", type=float, default=50, help="simulated seconds per wall second")
    parser.add_argument(
        "--outage-steps-per-s",
        type=float,
        default=1000,
        help="the same while the portal is down (so a simulated day takes minutes)",
    )
    parser.add_argument("--batch", type=int, default=500, help="the uplink's batch size")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--keep", action="store_true", help="keep the schema and the work directory")


def run(args: argparse.Namespace) -> int:
    config = ChaosConfig(
        db=args.db,
        rounds=args.rounds,
        outage_hours=args.outage_hours,
        steps_per_s=args.steps_per_s,
        outage_steps_per_s=args.outage_steps_per_s,
        batch=args.batch,
        seed=args.seed,
        keep=args.keep,
    )
    workdir = Path(tempfile.mkdtemp(prefix="wattwerk-chaos-"))
    result = run_chaos(config, workdir, say=(lambda _msg: None) if args.json else print)
    if args.json:
        print(
            json.dumps(
                {
                    **asdict(result),
                    "rounds": args.rounds,
                    "steps_per_s": args.steps_per_s,
                    "outage_steps_per_s": args.outage_steps_per_s,
                    "channels": len(CHANNELS),
                    "load_average": os.getloadavg()[0],
                }
            )
        )
    else:
        print(
            f"chaos: kills {result.kills}; {result.accepted} accepted, {result.stored} stored, "
            f"{result.lost} lost, {result.duplicated} duplicated, {result.altered} altered"
        )
        print(
            f"outage: {result.outage_hours:.2f} h simulated ({result.outage_backlog} readings) in "
            f"{result.outage_wall_s:.0f} s; catch-up {result.catchup_s:.1f} s "
            f"({result.catchup_readings_per_s:,.0f} readings/s); final drain {result.drain_s:.1f} s; "
            f"wall {result.wall_s:.0f} s"
        )
    if not args.keep:
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        workdir.rmdir()
    return 0 if result.ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["edge"]:
        edge_cli(sys.argv[2:])
    else:
        sys.exit("usage: python -m wattwerk.bench.chaos edge ... (the benchmark is `wattwerk bench chaos`)")
