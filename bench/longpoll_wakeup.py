"""What idle edges cost the database, and how fast a queued command reaches its edge (portal.wakeup).

    nice .venv/bin/python bench/longpoll_wakeup.py [--edges 200] [--workers 2] [--src OTHER/src]

Starts ``wattwerk portal --db postgresql://... --workers N`` (as docs/install.md tells a user) on a
database of its own (created on the server of ``--server``, dropped afterwards), pairs ``--edges``
sites and holds one long poll per edge (``GET /api/v1/edge/commands?wait=30``, again as soon as one
returns, as the edge does; each edge's first poll at a random moment of one wait, as real edges'
are spread). Prints the database's transactions per second with nothing queued (steady state:
``pg_stat_database.xact_commit`` over ``--window`` seconds, after ``--settle``), then queues
``--commands`` commands one by one for random edges through an installer's API
(``POST .../maintenance/commands``) and prints the latency from sending that request to the edge's
poll bringing the command. ``--src`` runs another
checkout's portal (e.g. a worktree of the commit before the wake-up: the figures before).
No assertions: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from wattwerk.bench.ingest import start_portal

PASSWORD = "correct horse battery"
WAIT_S = 30.0


def account(base: str, alias: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=60.0)
    http.post("/api/v1/accounts", json={"alias": alias, "password": PASSWORD}).raise_for_status()
    r = http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
    r.raise_for_status()
    http.headers["X-CSRF-Token"] = r.json()["csrf"]
    return http


def commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return int(row.fetchone()[0])  # type: ignore[index]


async def edge(client: httpx.AsyncClient, base: str, token: str, arrived: dict[int, float]) -> None:
    """One edge's endless long poll (the first at a random moment of one wait, so the edges' polls are
    spread as real edges' are): when each command came, and each answered poll (key -1)."""
    await asyncio.sleep(random.uniform(0, WAIT_S))
    while True:
        r = await client.get(
            f"{base}/api/v1/edge/commands",
            params={"wait": WAIT_S},
            headers={"Authorization": f"Bearer {token}"},
            timeout=WAIT_S + 30,
        )
        now = time.perf_counter()
        arrived[-1] = arrived.get(-1, 0) + 1
        for c in r.json().get("commands", []):
            arrived[int(c["id"])] = now


async def measure(base: str, tokens: list[str], queue: list[str], args: argparse.Namespace, db: str) -> None:
    installer = args.installer
    arrived: dict[int, float] = {}
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens) + 10)
    async with httpx.AsyncClient(limits=limits) as client:
        edges = [asyncio.create_task(edge(client, base, t, arrived)) for t in tokens]
        await asyncio.sleep(args.settle)
        before, polls, t0 = await asyncio.to_thread(commits, db), arrived.get(-1, 0), time.monotonic()
        await asyncio.sleep(args.window)
        after, t1 = await asyncio.to_thread(commits, db), time.monotonic()
        print(
            f"idle: {len(tokens)} edges in their long polls (wait={WAIT_S:.0f}), "
            f"{(after - before) / (t1 - t0):.1f} database transactions/s "
            f"({(arrived.get(-1, 0) - polls) / (t1 - t0):.1f} polls/s answered)"
        )
        lat = []
        for site in random.sample(queue, min(args.commands, len(queue))):
            sent = time.perf_counter()
            r = await asyncio.to_thread(
                installer.post, f"/api/v1/sites/{site}/maintenance/commands", json={"kind": "status"}
            )
            cid = int(r.json()["id"])
            for _ in range(int(20 / 0.002)):
                if cid in arrived:
                    break
                await asyncio.sleep(0.002)
            lat.append(arrived.get(cid, float("nan")) - sent)
            await asyncio.sleep(0.3)
        for task in edges:
            task.cancel()
        await asyncio.gather(*edges, return_exceptions=True)
    lat.sort()
    p95 = lat[max(0, round(0.95 * len(lat)) - 1)]
    print(
        f"queue -> edge: p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {lat[-1] * 1000:.0f} ms over {len(lat)} commands"
    )


def run(args: argparse.Namespace) -> None:
    name = f"wattwerk_bench_wakeup_{os.getpid()}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db = args.server.rsplit("/", 1)[0] + "/" + name
    proc = None
    try:
        with tempfile.TemporaryDirectory(prefix="wattwerk-bench-wakeup-") as tmp:
            proc, base = start_portal(db, None, args.workers, Path(tmp), src=args.src)
            owner, args.installer = account(base, "benchowner"), account(base, "benchinstaller")
            sites, tokens = [], []
            for i in range(args.edges):
                site = owner.post("/api/v1/sites", json={"label": f"e{i}"}).json()["site"]
                sites.append(site)
                tokens.append(owner.post(f"/api/v1/sites/{site}/edge-tokens").json()["token"])
            for site in sites[: args.commands]:
                grant = {"installer": "benchinstaller", "hours": 1}
                owner.post(f"/api/v1/sites/{site}/maintenance", json=grant).raise_for_status()
            asyncio.run(measure(base, tokens, sites[: args.commands], args, db))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--edges", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--commands", type=int, default=30)
    p.add_argument("--settle", type=float, default=WAIT_S + 10, help="seconds before counting")
    p.add_argument("--window", type=float, default=30.0, help="seconds of counting")
    p.add_argument("--src", help="another checkout's src/ (e.g. the commit before, for the figures before)")
    run(p.parse_args())


if __name__ == "__main__":
    main()
