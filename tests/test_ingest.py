"""Portal ingest against the real app on both backends (PostgreSQL and SQLite): auth, idempotency,
validation, migrations."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgpack
import pytest

from test_ingest_support import PortalDb, database, portal_rows, serve_portal  # noqa: F401
from wattwerk.portal import db
from wattwerk.portal.migrations import migrate, migration_files

pytestmark = pytest.mark.postgres

NOW_MS = int(time.time() * 1000)


def post(url: str, token: str | None, doc: object, *, fmt: str = "json", gz: bool = False) -> httpx.Response:
    raw = msgpack.packb(doc) if fmt == "msgpack" else json.dumps(doc).encode()
    headers = {"Content-Type": f"application/{fmt}"}
    if gz:
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url + "/api/v1/ingest", content=raw, headers=headers, timeout=10)


def batch(readings: list[list[object]], site: str = "home", edge: str = "e1", **extra: object) -> dict:
    return {
        "site": site,
        "edge_id": edge,
        "first_seq": readings[0][0] if readings else 1,
        "readings": readings,
        **extra,
    }


def test_migrations_apply_once_in_order(database: PortalDb) -> None:  # noqa: F811
    assert migrate(database.url, database.schema) == []  # the fixture applied them already
    with database.connect() as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _, _ in migration_files(database.dialect)]
    assert versions == sorted(versions) and len(versions) >= 2


def test_both_backends_have_the_same_migrations() -> None:
    pg = [(v, name) for v, name, _ in migration_files("postgresql")]
    lite = [(v, name) for v, name, _ in migration_files("sqlite")]
    assert pg == lite, "each schema change needs a migration of the same number and name for both backends"


def test_ingest_acks_range_and_retry_never_duplicates(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        token = db.pair_site(conn, "home")
    readings = [
        [seq, "grid.power" if seq % 2 else 1, NOW_MS - 10_000 + seq, float(seq)] for seq in range(1, 101)
    ]
    doc = batch(readings, channels=["x.power", "pv1.power"])
    with serve_portal(database) as portal:
        first = post(portal.url, token, doc, fmt="msgpack", gz=True)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "ack": [1, 100],
            "acked": [[1, 100]],
            "accepted": 100,
            "stored": 100,
            "duplicates": 0,
            "rejected": [],
        }
        again = post(portal.url, token, doc)  # the same batch again, as JSON, not gzipped
        assert again.json()["ack"] == [1, 100]
        assert again.json()["stored"] == 0 and again.json()["duplicates"] == 100
        overlap = post(portal.url, token, batch([*readings[50:], [101, "pv1.power", NOW_MS, 7.5]]))
        assert overlap.json()["stored"] == 1
    rows = portal_rows(database, "home")
    assert [r[1] for r in rows] == list(range(1, 102))
    assert rows[0] == ("e1", 1, "grid.power", NOW_MS - 10_000 + 1, 1.0)
    assert rows[1] == ("e1", 2, "pv1.power", NOW_MS - 10_000 + 2, 2.0)


def test_invalid_readings_are_rejected_and_the_rest_kept(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        token = db.pair_site(conn, "home")
    readings = [
        [1, "grid.power", NOW_MS, 100.0],
        [2, "Grid Power", NOW_MS, 1.0],  # invalid name
        [3, "grid.flux_capacitance", NOW_MS, 1.0],  # unknown quantity
        [4, "grid.power", NOW_MS, math.nan],
        [5, "grid.power", NOW_MS, math.inf],
        [6, "grid.power", NOW_MS + 3_600_000, 1.0],  # an hour in the future
        [7, "grid.power", 1000, 1.0],  # 1970
        [8, 9, NOW_MS, 1.0],  # channel index outside the table
        [9, "grid.power", NOW_MS, "12"],
        [10, "bat.soc", NOW_MS, 55],
    ]
    with serve_portal(database) as portal:
        resp = post(portal.url, token, batch(readings), fmt="msgpack", gz=True)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        ingestor = portal.app.state.ingestor  # type: ignore[attr-defined]
    assert body["ack"] == [1, 10]
    assert body["accepted"] == 2 and body["stored"] == 2
    kinds = {r["seq"]: r["kind"] for r in body["rejected"]}
    assert kinds == {
        2: "channel",
        3: "channel",
        4: "value",
        5: "value",
        6: "future",
        7: "timestamp",
        8: "channel",
        9: "value",
    }
    assert "unknown quantity" in next(r["error"] for r in body["rejected"] if r["seq"] == 3)
    assert "ahead of the portal's clock" in next(r["error"] for r in body["rejected"] if r["seq"] == 6)
    assert [(r[1], r[2], r[4]) for r in portal_rows(database, "home")] == [
        (1, "grid.power", 100.0),
        (10, "bat.soc", 55.0),
    ]
    assert ingestor.ledger.by_kind("home") == {"channel": 3, "value": 3, "future": 1, "timestamp": 1}


def test_auth_wrong_site_and_revocation(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        token = db.pair_site(conn, "home")
        other = db.pair_site(conn, "cabin")
    doc = batch([[1, "grid.power", NOW_MS, 1.0]])
    with serve_portal(database) as portal:
        assert post(portal.url, None, doc).status_code == 401
        assert post(portal.url, "not-a-token", doc).status_code == 401
        wrong = post(portal.url, other, doc)
        assert wrong.status_code == 403 and "cabin" in wrong.json()["error"]
        assert post(portal.url, token, doc).status_code == 200
        with database.connect() as conn:
            assert db.revoke_tokens(conn, "home") == 1
        assert post(portal.url, token, doc).status_code == 401
        cabin = batch([[1, "grid.power", NOW_MS, 2.0]], site="cabin")
        assert post(portal.url, other, cabin).status_code == 200
    with database.connect() as conn:
        hashes = [bytes(r[0]) for r in conn.execute("SELECT token_hash FROM site_tokens")]
    assert token.encode() not in b"".join(hashes) and db.hash_token(token) in hashes


def test_malformed_bodies_are_refused_clearly(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        token = db.pair_site(conn, "home")
    with serve_portal(database) as portal:
        url = portal.url + "/api/v1/ingest"
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(url, content=b"not gzip", headers={**auth, "Content-Encoding": "gzip"})
        assert r.status_code == 400 and r.json()["kind"] == "gzip"
        r = httpx.post(url, content=b"{nope", headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["kind"] == "syntax"
        r = post(portal.url, token, batch([[0, "grid.power", NOW_MS, 1.0]]))
        assert r.status_code == 400 and "seq" in r.json()["error"]
        r = post(portal.url, token, batch([[2**63, "grid.power", NOW_MS, 1.0]]))  # past a bigint
        assert r.status_code == 400 and r.json()["kind"] == "seq"
        r = post(portal.url, token, batch([[1, "grid.power", NOW_MS]]))
        assert r.status_code == 400 and r.json()["kind"] == "shape"
    with database.connect() as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)


def test_portal_cli_pairs_and_revokes(database: PortalDb, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from wattwerk.cli import main

    base = ["portal", "--db", database.url, *(["--schema", database.schema] if database.schema else [])]
    assert main([*base, "--pair", "garage"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40
    with serve_portal(database) as portal:
        doc = batch([[1, "grid.power", NOW_MS, 1.0]], site="garage")
        assert post(portal.url, token, doc).status_code == 200
        assert main([*base, "--revoke", "garage"]) == 0
        assert "revoked 1 token" in capsys.readouterr().out
        assert post(portal.url, token, doc).status_code == 401


def test_acked_ranges_outlive_raw_retention_and_new_streams_start_over(database: PortalDb) -> None:  # noqa: F811
    with database.connect() as conn:
        token = db.pair_site(conn, "home")
    first = batch([[s, "grid.power", NOW_MS - 100_000 + s, float(s)] for s in range(1, 51)], stream="a1")
    second = batch([[s, "grid.power", NOW_MS - 100_000 + s, float(s)] for s in range(51, 101)], stream="a1")
    with serve_portal(database) as portal:
        assert post(portal.url, token, first).json()["stored"] == 50
        assert post(portal.url, token, second).json()["stored"] == 50
        with database.connect() as conn:  # retention removes the raw rows (rolled up elsewhere)
            conn.execute("DELETE FROM readings")
            ranges = conn.execute("SELECT first_seq, last_seq FROM acked_ranges").fetchall()
        assert ranges == [(1, 100)]  # adjacent acked ranges merged
        late_retry = post(portal.url, token, second).json()
        assert late_retry["stored"] == 0 and late_retry["duplicates"] == 50 and late_retry["ack"] == [51, 100]
        # a re-created outbox (new stream) numbers from 1 again: its readings are new, not duplicates
        fresh = batch([[s, "grid.power", NOW_MS - 1000 + s, 7.0] for s in range(1, 11)], stream="b2")
        assert post(portal.url, token, fresh).json()["stored"] == 10
    with database.connect() as conn:
        streams = conn.execute("SELECT name, stream FROM edges ORDER BY stream").fetchall()
        last_seen = conn.execute("SELECT count(*) FROM edges WHERE last_seen IS NOT NULL").fetchone()[0]
    assert streams == [("e1", "a1"), ("e1", "b2")] and last_seen == 2
    assert len(portal_rows(database, "home")) == 10


def test_portal_command_serves_an_embedded_sqlite_file(tmp_path: Path) -> None:
    """``wattwerk portal`` without --db: an SQLite file under --data-dir, migrated on start."""
    port_file = tmp_path / "port"
    data = tmp_path / "data"
    argv = [
        sys.executable,
        "-m",
        "wattwerk",
        "portal",
        "--port",
        "0",
        "--data-dir",
        str(data),
        "--port-file",
        str(port_file),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(1200):  # up to a minute on a loaded machine
            if port_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert port_file.exists(), proc.stderr.read().decode() if proc.stderr else ""
        url = f"http://127.0.0.1:{port_file.read_text()}"
        for _ in range(600):
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert (data / "portal.db").is_file()
        embedded = PortalDb(f"sqlite:///{data / 'portal.db'}")
        with embedded.connect() as conn:
            token = db.pair_site(conn, "home")
        r = post(url, token, batch([[1, "grid.power", NOW_MS, 5.0]]))
        assert r.status_code == 200 and r.json()["stored"] == 1
        assert [row[1:] for row in portal_rows(embedded, "home")] == [(1, "grid.power", NOW_MS, 5.0)]
    finally:
        proc.terminate()
        proc.wait(10)


def test_portal_command_refuses_workers_on_sqlite(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from wattwerk.cli import main

    assert main(["portal", "--db", f"sqlite:///{tmp_path / 'p.db'}", "--workers", "2"]) == 2
    assert "--workers > 1 needs PostgreSQL" in caplog.text
    assert main(["portal", "--db", "mysql://localhost/x", "--pair", "home"]) == 2
    assert "use postgresql://" in caplog.text
    assert main(["portal", "--db", "sqlite:///"]) == 2
    assert "SQLite needs a file path" in caplog.text
    assert not (tmp_path / "p.db").exists()  # refused before anything was created
