"""Chaos on loopback: an edge and the portal as real processes over TLS with the real PostgreSQL,
killed with SIGKILL at random (seeded) moments, the portal also down for a long outage; at the
end the portal holds exactly what the edge accepted: zero lost, zero duplicated, timestamps intact.

This file is also the edge process (``python tests/test_chaos.py edge ...``): 20 emulated meter
channels at one reading per second of simulated time, accelerated, appended to the outbox one
step (20 readings) per transaction, and the uplink sending them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHANNELS = tuple(f"m{i}.power" for i in range(10)) + tuple(f"m{i}.energy_import" for i in range(10))
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: step k is at T0 + k s


def value(seq: int) -> float:
    """The reading with this seq (1-based): deterministic, so a restarted edge regenerates it."""
    step, i = divmod(seq - 1, len(CHANNELS))
    return float(step * 10 + i) if i >= 10 else float((step * 7919 + i * 104729) % 5000) - 2000.0


def expected_row(seq: int) -> tuple[int, str, int, float]:
    step, i = divmod(seq - 1, len(CHANNELS))
    return seq, CHANNELS[i], T0 + step * 1000, value(seq)


# ------------------------------------------------------------------ the edge process


async def edge_main(args: argparse.Namespace) -> None:
    from wattwerk.edge.outbox import Outbox
    from wattwerk.edge.uplink import Uplink, UplinkConfig

    box = Outbox(args.outbox)
    cfg = UplinkConfig(url=args.url, site="home", edge_id="edge-1", token=args.token, ca_file=Path(args.ca),
                       batch_size=500, backoff_base_s=0.1, backoff_max_s=1.0, idle_s=0.05, timeout_s=5)
    up = Uplink(box, cfg)
    stop = asyncio.Event()

    async def generate() -> None:
        step = (box.next_seq() - 1) // len(CHANNELS)
        while True:
            box.append_raw([(ch, T0 + step * 1000, value(step * len(CHANNELS) + i + 1))
                            for i, ch in enumerate(CHANNELS)])
            step += 1
            await asyncio.sleep(1 / args.steps_per_s)

    tasks = [asyncio.create_task(up.run(stop))]
    if args.steps_per_s > 0:
        tasks.append(asyncio.create_task(generate()))
    await asyncio.gather(*tasks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["edge"])
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--steps-per-s", type=float, default=50)
    asyncio.run(edge_main(parser.parse_args()))


# ------------------------------------------------------------------ the test

if __name__ != "__main__":
    from test_ingest_support import PgSchema, make_ca, pg  # noqa: F401
    from wattwerk.portal import db


class Proc:
    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def pending(outbox: Path) -> int:
    with sqlite3.connect(outbox, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def accepted(outbox: Path) -> int:
    try:
        with sqlite3.connect(outbox, timeout=10) as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]) - 1
    except (sqlite3.OperationalError, TypeError):  # the edge is still creating its outbox
        return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_chaos_kill_9_edge_and_portal_nothing_lost_nothing_duplicated(pg: PgSchema, tmp_path: Path) -> None:
    rng = random.Random(20261121)
    ca = make_ca(tmp_path / "ca")
    with pg.connect() as conn:
        token = db.pair_site(conn, "home")
    port = free_port()
    py = sys.executable
    portal = Proc([py, "-m", "wattwerk", "portal", "--host", "127.0.0.1", "--port", str(port),
                   "--db", pg.url, "--schema", pg.schema, "--tls-cert", str(ca.server_cert),
                   "--tls-key", str(ca.server_key)], tmp_path / "portal.log")
    outbox = tmp_path / "outbox.db"
    edge_argv = [py, __file__, "edge", "--outbox", str(outbox), "--url", f"https://127.0.0.1:{port}",
                 "--token", token, "--ca", str(ca.ca_cert)]
    edge = Proc([*edge_argv, "--steps-per-s", "50"], tmp_path / "edge.log")
    portal.start()
    edge.start()
    kills = {"edge": 0, "portal": 0, "outage": 0}
    # long form: WATTWERK_CHAOS_ROUNDS=40 WATTWERK_CHAOS_OUTAGE=60 pytest tests/test_chaos.py
    # A fixed, seeded sequence of blows (not a time budget): a slow machine gets the same chaos.
    rounds = int(os.environ.get("WATTWERK_CHAOS_ROUNDS", "4"))
    outage_s = float(os.environ.get("WATTWERK_CHAOS_OUTAGE", "4"))
    actions = ["edge", "portal"] * rounds + ["outage"]
    rng.shuffle(actions)
    try:
        for action in actions:
            time.sleep(rng.uniform(0.3, 1.5))
            if action == "edge":
                edge.kill()
                before = accepted(outbox)
                edge.start()
                for _ in range(400):  # let it make progress before the next blow, even on a busy machine
                    if accepted(outbox) > before:
                        break
                    time.sleep(0.05)
            elif action == "portal":
                portal.kill()
                time.sleep(rng.uniform(0, 0.5))
                portal.start()
            else:  # one long outage: the edge builds a backlog
                portal.kill()
                time.sleep(outage_s)
                portal.start()
            kills[action] += 1
        # the end: generation stops, everything restarts once more and drains
        edge.kill()
        portal.kill()
        portal.start()
        edge = Proc([*edge_argv, "--steps-per-s", "0"], tmp_path / "edge.log")
        edge.start()
        total = accepted(outbox)
        for _ in range(600 + int(outage_s * 40)):
            if pending(outbox) == 0:
                break
            time.sleep(0.05)
        assert pending(outbox) == 0, (tmp_path / "edge.log").read_text()[-3000:]
    finally:
        edge.kill()
        portal.kill()
    print(f"chaos: {kills}, {total} readings accepted")
    assert kills["edge"] > 0 and kills["portal"] > 0
    assert total > 2000
    with pg.connect() as conn:
        rows = conn.execute(
            "SELECT r.seq, c.name, r.ts_ms, r.value FROM readings r JOIN channels c ON c.id = r.channel_id "
            "ORDER BY r.seq").fetchall()
        dupes = conn.execute("SELECT count(*) FROM (SELECT channel_id, ts_ms FROM readings "
                             "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()[0]
    assert len(rows) == total  # zero lost ...
    assert dupes == 0  # ... zero duplicated
    assert [tuple(r) for r in rows] == [expected_row(s) for s in range(1, total + 1)]  # intact


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
