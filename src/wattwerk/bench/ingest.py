"""``wattwerk bench ingest [--db URL] [--json]``: sustained ingest through the real HTTP endpoint
into PostgreSQL (one portal process, then several), and the outbox catch-up rate (an edge's
backlog drained through the uplink). Prints figures; asserts nothing. ``--db sqlite:///x``
measures the embedded SQLite backend instead (one process, a fresh file in a temporary folder).

Load: ``--sites`` sites, each an edge uploading gzipped MessagePack batches of ``--batch``
readings over 8 channels, ``--concurrency`` requests in flight; bodies are built before the
clock starts so the figure is the portal's (the client still shares the machine's cores).
A fresh schema (or SQLite file) is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgpack
import psycopg

from wattwerk.bench import _ingest_log
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.portal import db
from wattwerk.portal.database import SQLITE, connect_sync, dialect_of
from wattwerk.portal.migrations import migrate
from wattwerk.portal.postgres import APPLICATION

CHANNELS = [
    f"meter.{q}"
    for q in (
        "power",
        "power_l1",
        "power_l2",
        "power_l3",
        "energy_import",
        "energy_export",
        "voltage_l1",
        "current_l1",
    )
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=os.environ.get("WATTWERK_BENCH_PG", "postgresql://postgres@127.0.0.1/test")
    )
    parser.add_argument("--readings", type=int, default=1_000_000, help="readings per ingest run")
    parser.add_argument("--batch", type=int, default=5000, help="readings per request")
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="portal process counts to measure")
    parser.add_argument("--catchup", type=int, default=200_000, help="readings in the edge's backlog")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")
    _ingest_log.add_arguments(parser)  # --via nats: the log beside the direct path


def start_portal(
    url: str,
    schema: str | None,
    workers: int,
    workdir: Path,
    extra: list[str] | None = None,
    src: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``wattwerk portal`` as docs/install.md starts it, on a free port; (process, base URL) once it
    answers its health check. ``src`` runs another checkout's package (ahead of the installed one)."""
    env = {**os.environ, "PYTHONPATH": src} if src else None
    port_file = workdir / f"port-{workers}"
    port_file.unlink(missing_ok=True)
    scoped = ["--schema", schema] if schema else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattwerk",
            "portal",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            url,
            *scoped,
            "--workers",
            str(workers),
            "--port-file",
            str(port_file),
            "--rate",
            "0",  # capacity, not policy: the per-site cap (default 2000/s) would throttle the catch-up
            *(extra or []),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        if port_file.exists():
            base = f"http://127.0.0.1:{port_file.read_text()}"
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    if workers > 1:
                        time.sleep(1.0)  # let every worker finish starting
                    return proc, base
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("portal did not start")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of processes (from /proc; 0 for those already gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            out.extend(process_tree(int(child)))
    return out


def backend_pids(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APPLICATION,)
            )
        ]


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_bodies(sites: list[tuple[str, str]], total: int, batch: int, run: int) -> list[tuple[bytes, str]]:
    """Pre-built request bodies: each site's edge uploads consecutive batches."""
    now_ms = int(time.time() * 1000) - 3_600_000
    bodies = []
    seq = {name: 1 for name, _ in sites}
    n = 0
    i = 0
    while n < total:
        name, token = sites[i % len(sites)]
        first = seq[name]
        readings = [
            [first + k, k % len(CHANNELS), now_ms - (batch - k) * 10, 230.0 + (k % 97)] for k in range(batch)
        ]
        doc = {
            "site": name,
            "edge_id": f"edge-{run}",
            "first_seq": first,
            "channels": CHANNELS,
            "readings": readings,
        }
        bodies.append((gzip.compress(msgpack.packb(doc), 1), token))
        seq[name] += batch
        n += batch
        i += 1
    return bodies


async def blast(base: str, bodies: list[tuple[bytes, str]], concurrency: int) -> tuple[int, float]:
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    stored = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal stored
        while not queue.empty():
            body, token = queue.get_nowait()
            while True:
                r = await client.post(
                    "/api/v1/ingest",
                    content=body,
                    headers={
                        "Content-Type": "application/msgpack",
                        "Content-Encoding": "gzip",
                        "Authorization": f"Bearer {token}",
                    },
                )
                if r.status_code == 200:
                    stored += r.json()["stored"]
                    break
                if r.status_code != 429:
                    raise RuntimeError(f"portal answered {r.status_code}: {r.text[:200]}")
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    async with httpx.AsyncClient(
        base_url=base, timeout=120, limits=httpx.Limits(max_connections=concurrency)
    ) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return stored, time.perf_counter() - t0


async def catchup(base: str, token: str, site: str, n: int, workdir: Path) -> dict[str, float]:
    box = Outbox(workdir / "outbox.db")
    step_ms = 10_000
    t0 = time.perf_counter()
    start_ms = int(time.time() * 1000) - (n // len(CHANNELS) + 1) * step_ms
    for i in range(0, n, 8000):
        box.append_raw(
            [
                (CHANNELS[k % len(CHANNELS)], start_ms + (i + k) // len(CHANNELS) * step_ms, float(k))
                for k in range(min(8000, n - i))
            ]
        )
    append_s = time.perf_counter() - t0
    per_million = box.used_bytes() * 1_000_000 / n
    up = Uplink(
        box,
        UplinkConfig(
            url=base,
            site=site,
            edge_id="catchup-edge",
            token=token,
            batch_size=5000,
            catchup_batches=8,
            parallel=4,
        ),
    )
    t0, c0 = time.perf_counter(), time.process_time()
    sent = await up.drain()
    spent = time.perf_counter() - t0
    edge_cpu = time.process_time() - c0
    await up.aclose()
    box.close()
    return {
        "catchup_readings_per_s": sent / spent,
        "catchup_readings": sent,
        "catchup_edge_cpu_s_per_million": round(edge_cpu * 1e6 / max(sent, 1), 2),
        "outbox_append_readings_per_s": n / append_s,
        "outbox_bytes_per_million": per_million,
    }


def _measure(
    args: argparse.Namespace,
    schema: str | None,
    sites: list[tuple[str, str]],
    run_no: int,
    workers: int,
    workdir: Path,
    results: dict[str, object],
) -> float:
    """One portal with `workers` processes: blast it, record CPU per million readings; readings/s."""
    sqlite = dialect_of(args.db) == SQLITE
    bodies = build_bodies(sites, args.readings, args.batch, run_no)
    proc, base = start_portal(args.db, schema, workers, workdir)
    try:
        portal_pids = process_tree(proc.pid)
        cpu0 = (cpu_seconds(portal_pids), time.process_time())
        stored, spent = asyncio.run(blast(base, bodies, args.concurrency))
        # pool backends live only for this run; SQLite works inside the portal process
        pg_cpu = 0.0 if sqlite else cpu_seconds(backend_pids(args.db))
        portal_cpu = cpu_seconds(portal_pids) - cpu0[0]
        client_cpu = time.process_time() - cpu0[1]
        per_m = 1e6 / stored
        results[f"cpu_s_per_million_{workers}p"] = {
            "portal": round(portal_cpu * per_m, 2),
            "postgres": round(pg_cpu * per_m, 2),
            "client": round(client_cpu * per_m, 2),
        }
        if not args.json:
            print(
                f"ingest, {workers} portal process(es): {stored} readings in {spent:.2f} s = "
                f"{stored / spent:,.0f} readings/s; CPU s per million readings: portal "
                f"{portal_cpu * per_m:.2f}, PostgreSQL {pg_cpu * per_m:.2f}, "
                f"client {client_cpu * per_m:.2f}"
            )
        if workers == max(int(w) for w in args.workers.split(",")):
            results.update(asyncio.run(catchup(base, sites[0][1], sites[0][0], args.catchup, workdir)))
    finally:
        stop(proc)
    return stored / spent


def _summarise(results: dict[str, object], by_workers: dict[str, float]) -> None:
    results["readings_per_s_by_processes"] = by_workers
    cpu = results.get("cpu_s_per_million_1p")
    if isinstance(cpu, dict):  # what 2 idle cores could do at the measured CPU cost
        results["cpu_bound_readings_per_s_2_cores"] = round(2e6 / sum(cpu.values()))
    results["load_average"] = os.getloadavg()[0]
    results["readings_per_s"] = max(by_workers.values())


def _print_results(results: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results))
        return
    print(
        f"catch-up through the uplink: {results['catchup_readings_per_s']:,.0f} readings/s "
        f"({results['catchup_readings']} readings; edge CPU "
        f"{results['catchup_edge_cpu_s_per_million']} s per million)"
    )
    if "cpu_bound_readings_per_s_2_cores" in results:
        print(
            f"CPU-bound estimate on 2 idle cores: {results['cpu_bound_readings_per_s_2_cores']:,} "
            f"readings/s (load average during the run: {results['load_average']:.1f})"
        )
    print(
        f"outbox: {results['outbox_append_readings_per_s']:,.0f} appends/s, "
        f"{results['outbox_bytes_per_million'] / 1e6:.1f} MB per million readings"
    )


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sqlite = dialect_of(args.db) == SQLITE
    tmp = tempfile.TemporaryDirectory()
    schema: str | None = None
    if sqlite and args.via == "nats":
        print("wattwerk bench ingest: --via nats needs PostgreSQL (--db postgresql://...)", file=sys.stderr)
        return 2
    if sqlite:  # a fresh file; one process serves an SQLite portal
        args.db = f"sqlite:///{Path(tmp.name) / 'bench-portal.db'}"
        args.workers = "1"
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
    migrate(args.db, schema)
    results: dict[str, object] = {
        "batch": args.batch,
        "sites": args.sites,
        "concurrency": args.concurrency,
        "backend": dialect_of(args.db),
    }
    try:
        with connect_sync(args.db, schema) as conn:
            sites = [(f"site{i}", db.pair_site(conn, f"site{i}")) for i in range(args.sites)]
            probe = db.pair_site(conn, "probe")  # the latency probe's site (--via nats)
        by_workers: dict[str, float] = {}
        with tempfile.TemporaryDirectory() as work:
            for run_no, workers in enumerate(int(w) for w in args.workers.split(",")):
                rate = _measure(args, schema, sites, run_no, workers, Path(work), results)
                by_workers[str(workers)] = rate
            if args.via == "nats":
                results["log"] = _ingest_log.compare(args, schema, sites, probe, Path(work))
        _summarise(results, by_workers)
    finally:
        if not args.keep and schema:
            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        tmp.cleanup()
    _print_results(results, args.json)
    return 0
