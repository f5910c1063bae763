"""Chaos on loopback, short form: an edge and the portal as real processes over TLS with the real
PostgreSQL, killed with SIGKILL at seeded moments, the portal also down for an outage; at the end
the portal holds exactly what the edge accepted: zero lost, zero duplicated, timestamps intact.

The harness is ``wattwerk.bench.chaos``; its long form is ``wattwerk bench chaos --rounds N
--outage-hours H --json`` (a simulated day of outage by default).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattwerk.bench.chaos import CHANNELS, ChaosConfig, ChaosResult, check, expected_row, run_chaos, value

PG_URL = os.environ.get("WATTWERK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def test_readings_are_a_function_of_their_seq() -> None:
    """A restarted edge regenerates exactly what it would have sent: seq 21 is step 1's first channel."""
    assert expected_row(1) == (1, "m0.power", 1_767_225_600_000, value(1))
    assert expected_row(21)[1:3] == ("m0.power", 1_767_225_601_000)
    assert expected_row(40)[1] == CHANNELS[-1] == "m9.energy_import"
    assert value(11) == 10.0 and value(31) == 20.0  # counters rise 10 Wh a step


@pytest.mark.postgres
def test_chaos_kill_9_edge_and_portal_nothing_lost_nothing_duplicated(tmp_path: Path) -> None:
    result = run_chaos(ChaosConfig(db=PG_URL, rounds=4, outage_hours=0.05), tmp_path, say=print)
    print(f"chaos: {result}")
    assert result.kills == {"edge": 4, "portal": 4, "outage": 1}
    assert result.accepted > 2000
    assert result.outage_backlog >= 0.05 * 3600 * len(CHANNELS)
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.altered == 0  # timestamps and values intact
    assert result.stored == result.accepted
    assert result.ok


@pytest.mark.postgres
def test_the_check_sees_a_lost_a_duplicated_and_an_altered_reading(tmp_path: Path) -> None:
    """The harness's verdict can fail: the same check on a schema with planted damage."""
    import uuid

    import psycopg

    from wattwerk.portal.migrations import migrate
    from wattwerk.portal.postgres import with_schema

    schema = f"t_{uuid.uuid4().hex[:12]}"
    migrate(PG_URL, schema)
    try:
        with psycopg.connect(with_schema(PG_URL, schema), autocommit=True) as conn:
            site = conn.execute("INSERT INTO sites (name) VALUES ('home') RETURNING id").fetchone()[0]
            edge = conn.execute(
                "INSERT INTO edges (site_id, name) VALUES (%s, 'edge-1') RETURNING id", (site,)
            ).fetchone()[0]
            ids = {
                ch: conn.execute(
                    "INSERT INTO channels (site_id, name, unit, kind) VALUES (%s, %s, 'W', "
                    "'power') RETURNING id",
                    (site, ch),
                ).fetchone()[0]
                for ch in CHANNELS
            }
            rows = [expected_row(s) for s in range(1, 61) if s != 7]  # seq 7 lost
            rows[20] = (rows[20][0], rows[20][1], rows[20][2] + 1000, rows[20][3])  # a moved timestamp
            copy = "COPY readings (edge_id, seq, channel_id, ts_ms, value) FROM STDIN"
            with conn.cursor().copy(copy) as cp:
                for seq, ch, ts, v in rows:
                    cp.write_row((edge, seq, ids[ch], ts, v))
        result = ChaosResult()
        check(PG_URL, schema, 60, result)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert result.lost == 1
    assert result.altered == 1
    assert result.duplicated == 1  # the moved reading sits on its successor's (channel, ts)
    assert not result.ok
