"""``wattwerk bench ingest --via nats``: ingest end to end through the log beside the direct path,
in the same run (issue #19). Used by ``bench/ingest.py``.

For each path (direct; nats) ``--path-workers`` portal processes (default 1) take the same
pre-built load over HTTP:

* ``readings_per_s``: readings from the first request sent until the last row is committed
  (direct: the last answer; nats: the writers' last commit, seen in ``acked_ranges``);
* ``acked_readings_per_s``: the same until the last answer to an edge (nats: stored in the log);
* ``latency_ms`` p50/p95/max from an edge's send until its batch is queryable: a probe edge sends a
  small batch every 200 ms during the load and polls for its last reading;
* ``cpu_s_per_million`` readings for the ingest worker (the portal process), the writers, NATS
  (every node) and PostgreSQL (the portal's and the writers' backends) from ``/proc/<pid>/stat``.

The log runs on a private JetStream cluster of ``--nats-nodes`` nodes (replicas 3 with three)
started on free ports in a temporary folder; the machine's NATS is not used.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from wattwerk.bench._servers import NatsCluster
from wattwerk.portal.postgres import APPLICATION, with_schema

WRITER_APPLICATION = "wattwerk-writer"
PROBE_EVERY_S = 0.2  # the probe's own small batches cost the portal and PostgreSQL a little CPU too


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--via",
        choices=("direct", "nats"),
        default="direct",
        help="nats: also measure ingest through a JetStream stream and writer workers, beside direct",
    )
    parser.add_argument("--nats-nodes", type=int, default=3, help="JetStream nodes (3: replicas 3)")
    parser.add_argument("--writers", type=int, default=1, help="writer worker processes")
    parser.add_argument(
        "--path-workers", type=int, default=1, help="portal processes of each path (direct and nats)"
    )
    parser.add_argument("--partitions", type=int, default=4, help="subject partitions of the stream")


def _cpu(pids: list[int]) -> float:
    from wattwerk.bench.ingest import cpu_seconds

    return cpu_seconds(pids)


def _backends(url: str, names: tuple[str, ...]) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = ANY(%s)", (list(names),)
            )
        ]


async def _probe(base: str, token: str, url: str, name: str, stop: asyncio.Event, out: list[float]) -> None:
    """Every PROBE_EVERY_S a 10-reading batch of a probe edge, each timed from its send until its last
    reading is queryable (one poller looks for all outstanding batches every 5 ms)."""
    headers = {"Authorization": f"Bearer {token}"}
    outstanding: dict[int, float] = {}  # the batch's last seq -> when it was sent

    async def send(client: httpx.AsyncClient, seq: int) -> None:
        now = int(time.time() * 1000)
        doc = {
            "site": "probe",
            "edge_id": name,
            "readings": [[seq + k, "probe.power", now - 1000 + k, 1.0] for k in range(10)],
        }
        t0 = time.perf_counter()
        r = await client.post("/api/v1/ingest", json=doc, headers=headers)
        if r.status_code == 200:
            outstanding[seq + 9] = t0

    async def poll(conn: psycopg.AsyncConnection[Any]) -> None:
        deadline: float | None = None
        while True:
            if stop.is_set():  # the load is over: the batches still outstanding, for 30 s at most
                deadline = deadline or time.perf_counter() + 30
                if not outstanding or time.perf_counter() > deadline:
                    return
            if outstanding:
                cur = await conn.execute(
                    "SELECT r.seq FROM readings r JOIN edges e ON e.id = r.edge_id "
                    "WHERE e.name = %s AND r.seq = ANY(%s)",
                    (name, list(outstanding)),
                )
                now = time.perf_counter()
                for (seq,) in await cur.fetchall():
                    out.append(now - outstanding.pop(int(seq)))
            await asyncio.sleep(0.005)

    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as client,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
    ):
        poller = asyncio.create_task(poll(conn))
        sends, seq = [], 1
        while not stop.is_set():
            sends.append(asyncio.create_task(send(client, seq)))
            seq += 10
            await asyncio.sleep(PROBE_EVERY_S)
        await asyncio.gather(*sends)
        await poller


def _committed(url: str, edge: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(a.last_seq - a.first_seq + 1), 0) FROM acked_ranges a "
            "JOIN edges e ON e.id = a.edge_id WHERE e.name = %s",
            (edge,),
        ).fetchone()
    return int(row[0]) if row else 0


async def _load(
    base: str, bodies: list[tuple[bytes, str]], args: argparse.Namespace, url: str, edge: str, probe: str
) -> tuple[float, float, list[float]]:
    """The blast and the probe; returns (seconds to the last commit, probe latencies)."""
    from wattwerk.bench.ingest import blast

    total = sum(1 for _ in bodies) * args.batch
    lat: list[float] = []
    stop = asyncio.Event()
    t0 = time.perf_counter()
    prober = asyncio.create_task(_probe(base, probe, url, f"probe-{edge}", stop, lat))
    await blast(base, bodies, args.concurrency)
    answered = time.perf_counter() - t0  # every edge acknowledged
    while await asyncio.to_thread(_committed, url, edge) < total:
        if time.perf_counter() - t0 > 600:
            raise RuntimeError("the writers did not commit everything within 600 s")
        await asyncio.sleep(0.02)
    spent = time.perf_counter() - t0
    stop.set()
    await prober
    return answered, spent, lat


def _figures(
    total: int, times: tuple[float, float], lat: list[float], cpu: dict[str, float]
) -> dict[str, Any]:
    per_m = 1e6 / total
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "readings": total,
        "readings_per_s": round(total / times[1]),  # to the last commit
        "acked_readings_per_s": round(total / times[0]),  # to the last answer to an edge
        "latency_ms": {
            "p50": round(statistics.median(lat_ms), 1) if lat_ms else None,
            "p95": round(lat_ms[int(0.95 * (len(lat_ms) - 1))], 1) if lat_ms else None,
            "max": round(lat_ms[-1], 1) if lat_ms else None,
            "samples": len(lat_ms),
        },
        "cpu_s_per_million": {k: round(v * per_m, 2) for k, v in cpu.items()}
        | {"total": round(sum(cpu.values()) * per_m, 2)},
    }


def measure_path(
    args: argparse.Namespace,
    schema: str | None,
    bodies: list[tuple[bytes, str]],
    edge: str,
    probe_token: str,
    via: str,
    workdir: Path,
) -> dict[str, Any]:
    """One path end to end: a portal (and for nats a cluster and writers) on the same load."""
    from wattwerk.bench.ingest import process_tree, start_portal, stop

    url = with_schema(args.db, schema)
    total = len(bodies) * args.batch
    cluster = NatsCluster(workdir / f"nats-{edge}", args.nats_nodes) if via == "nats" else None
    writers: list[subprocess.Popen[bytes]] = []
    extra: list[str] = []
    if cluster is not None:
        cluster.start()
        extra = ["--nats-url", cluster.url, "--nats-replicas", str(min(3, args.nats_nodes))]
        extra += [
            "--nats-partitions",
            str(args.partitions),
            "--nats-stream",
            f"BENCH_{edge.replace('-', '_')}",
        ]
        scoped = ["--schema", schema] if schema else []
        for _ in range(args.writers):
            writers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "wattwerk", "portal", "writer", "--db", args.db, *scoped, *extra],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        extra = ["--ingest-via", "nats", *extra]
    proc, base = start_portal(args.db, schema, args.path_workers, workdir, extra=extra)
    try:
        time.sleep(2.0 if writers else 0.0)  # let the writers bind their consumers
        pids = {"portal": process_tree(proc.pid), "writers": [w.pid for w in writers]}
        pids["nats"] = cluster.pids() if cluster else []
        cpu0 = {k: _cpu(v) for k, v in pids.items()}
        answered, spent, lat = asyncio.run(_load(base, bodies, args, url, edge, probe_token))
        cpu = {k: _cpu(v) - cpu0[k] for k, v in pids.items()}
        cpu["postgres"] = _cpu(_backends(args.db, (APPLICATION, WRITER_APPLICATION)))
    finally:
        stop(proc)
        for w in writers:
            stop(w)  # type: ignore[arg-type]
        if cluster is not None:
            cluster.stop()
    if via == "direct":
        cpu.pop("writers"), cpu.pop("nats")
    return _figures(total, (answered, spent), lat, cpu)


def compare(
    args: argparse.Namespace, schema: str | None, sites: list[tuple[str, str]], probe: str, workdir: Path
) -> dict[str, Any]:
    """Both paths on the same load, one after the other; the log's CPU against the direct path's."""
    from wattwerk.bench.ingest import build_bodies

    out: dict[str, Any] = {
        "nats_nodes": args.nats_nodes,
        "writers": args.writers,
        "partitions": args.partitions,
        "portal_processes": args.path_workers,
    }
    for k, via in enumerate(("direct", "nats")):
        bodies = build_bodies(sites, args.readings, args.batch, 100 + k)
        out[via] = measure_path(args, schema, bodies, f"edge-{100 + k}", probe, via, workdir)
        if not args.json:
            f = out[via]
            print(
                f"{via}: {f['readings_per_s']:,} readings/s end to end; "
                f"latency p95 {f['latency_ms']['p95']} ms; "
                f"CPU s per million readings {f['cpu_s_per_million']}"
            )
    out["cpu_ratio_nats_to_direct"] = round(
        out["nats"]["cpu_s_per_million"]["total"] / out["direct"]["cpu_s_per_million"]["total"], 2
    )
    return out
