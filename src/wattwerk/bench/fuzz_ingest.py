"""``wattwerk bench fuzz_ingest [--minutes 10]``: hypothesis-generated ingest bodies against a
real ``wattwerk portal`` process; prints the answers per status and fails on any 5xx or any
traceback in the portal's log (issue 15). The suite runs the same strategy for a few seconds
(tests/security/test_portal_fuzz.py); this is the long run:

    .venv/bin/wattwerk bench fuzz_ingest --minutes 10            # SQLite portal in a temp folder
    .venv/bin/wattwerk bench fuzz_ingest --minutes 10 --db postgresql://postgres@127.0.0.1/test

Bodies: batch-shaped JSON and MessagePack documents with odd values anywhere (huge or negative
integers, floats, strings, nesting, missing and extra keys), byte-level mutations of valid
batches, gzip of both and gzip garbage. Needs the dev extra (hypothesis).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgpack

Body = tuple[bytes, str, str]  # content, Content-Type, Content-Encoding


def bodies(site: str) -> Any:
    """A hypothesis strategy of ingest request bodies for ``site``."""
    from hypothesis import strategies as st

    now = int(time.time() * 1000)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, 1, 2**63 - 2, 2**63 - 1, 2**63, -1, now, now + 10**9]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["grid.power", "pv1.power", "bat.soc", "x", "", "a" * 300, "grid..power"]),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    reading = st.one_of(
        st.tuples(
            st.integers(1, 50),
            st.sampled_from(["grid.power", "pv1.power", 0, 1, 7]),
            st.integers(now - 10**8, now + 10**6),
            st.floats(-1e6, 1e6),
        ).map(list),
        st.lists(values, max_size=5),
        values,
    )
    names = st.lists(st.sampled_from(["grid.power", "pv1.power", "bad name"]), max_size=3)
    batch = st.fixed_dictionaries(
        {"readings": st.lists(reading, max_size=20)},
        optional={
            "site": st.sampled_from([site, "other", None, 5]),
            "edge_id": st.one_of(st.just("e1"), values),
            "stream": st.one_of(st.just("s1"), values),
            "channels": st.one_of(names, values),
            "roles": values,
            "first_seq": values,
        },
    ).map(lambda d: {"site": site, "edge_id": "e1", **d})

    def encode(doc: Any, fmt: str) -> bytes:
        if fmt == "msgpack":
            try:
                return msgpack.packb(doc, use_bin_type=True)  # type: ignore[no-any-return]
            except OverflowError:  # an integer beyond 64 bits: MessagePack has none, JSON has
                pass
        return json.dumps(doc, allow_nan=True).encode()

    def mutate(raw: bytes, data: Any) -> bytes:
        cut, flip = data
        out = bytearray(raw[: max(1, cut % (len(raw) + 1))])
        for at, byte in flip:
            if out:
                out[at % len(out)] = byte
        return bytes(out)

    fmt = st.sampled_from(["json", "msgpack"])
    docs = st.tuples(batch, fmt).map(lambda x: (encode(x[0], x[1]), x[1]))
    mutations = st.tuples(
        docs,
        st.tuples(
            st.integers(0, 10**6), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)
        ),
    ).map(lambda x: (mutate(x[0][0], x[1]), x[0][1]))
    deep = st.integers(30, 5000).map(lambda n: (b"[" * n + b"]" * n, "json"))
    plain = st.one_of(docs, mutations, deep)
    ctype = {"json": "application/json", "msgpack": "application/msgpack"}
    zipped = st.tuples(plain, st.booleans()).map(
        lambda x: (gzip.compress(x[0][0]) if x[1] else b"\x1f\x8b" + x[0][0], ctype[x[0][1]], "gzip")
    )
    return st.one_of(plain.map(lambda x: (x[0], ctype[x[1]], "")), zipped)


def post(http: httpx.Client, token: str, body: Body) -> int:
    content, content_type, encoding = body
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    r = http.post("/api/v1/ingest", content=content, headers=headers)
    if r.status_code < 500:
        r.json()  # every answer is JSON
    return r.status_code


def escaped(log: str) -> bool:
    """Whether a portal log shows an exception that escaped to the server."""
    return "Traceback" in log or "Exception in ASGI application" in log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to fuzz (default 1)")
    parser.add_argument("--db", help="portal database (default: SQLite in a temporary folder)")
    parser.add_argument("--chunk", type=int, default=300, help="examples per hypothesis run")


def _start(db: str | None, folder: Path, schema: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port_file, log_path = folder / "port", folder / "portal.log"
    argv = [
        sys.executable,
        "-m",
        "wattwerk",
        "portal",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--data-dir",
        str(folder),
        "--rate",
        "0",
    ]
    argv += ["--db", db, "--schema", schema] if db else []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(2400):
        if port_file.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    if not port_file.exists():
        raise SystemExit(f"the portal did not start:\n{log_path.read_text()}")
    return proc, f"http://127.0.0.1:{port_file.read_text()}", log_path


def _account(http: httpx.Client) -> tuple[str, str]:
    alias = f"fuzz{uuid.uuid4().hex[:8]}"
    secret = {"alias": alias, "password": "a fuzzing passphrase"}
    http.post("/api/v1/accounts", json=secret)
    csrf = http.post("/api/v1/session", json=secret).json()["csrf"]
    http.headers["X-CSRF-Token"] = csrf
    site = http.post("/api/v1/sites", json={"label": "fuzz"}).json()["site"]
    return site, http.post(f"/api/v1/sites/{site}/edge-tokens").json()["token"]


def run(args: argparse.Namespace) -> int:
    from hypothesis import HealthCheck, given, settings

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    schema = f"fuzz_{uuid.uuid4().hex[:8]}"  # PostgreSQL: a schema of its own, dropped at the end
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, log_path = _start(args.db, Path(tmp), schema)
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for _ in range(600):
                    try:
                        http.get("/api/v1/health")
                        break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                site, token = _account(http)
                seen: Counter[int] = Counter()
                bad: list[Body] = []

                @given(bodies(site))
                @settings(
                    max_examples=args.chunk,
                    deadline=None,
                    database=None,
                    derandomize=False,
                    suppress_health_check=list(HealthCheck),
                )
                def once(body: Body) -> None:
                    status = post(http, token, body)
                    seen[status] += 1
                    if status >= 500:
                        bad.append(body)

                end = time.monotonic() + args.minutes * 60
                while time.monotonic() < end and not bad:
                    once()
            log = log_path.read_text(errors="replace")
        finally:
            proc.terminate()
            proc.wait(20)
            if args.db:
                import psycopg

                with psycopg.connect(args.db, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    total = sum(seen.values())
    print(
        f"fuzz_ingest: {total} bodies in {args.minutes:g} min; answers "
        + ", ".join(f"{k}: {v}" for k, v in sorted(seen.items()))
    )
    if bad or escaped(log):
        print(f"FAILED: {len(bad)} answer(s) >= 500; first body: {bad[0][:2] if bad else None!r:.300}")
        print(log[-3000:])
        return 1
    print("no 5xx, no escaped exception")
    return 0
