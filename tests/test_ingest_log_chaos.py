"""Ingest through the log under chaos (issue #19), real processes on loopback: a three-node
JetStream cluster (replicas 3), a private PostgreSQL, the portal with ``--ingest-via nats``, a
writer and the chaos edge. One node is killed with SIGKILL and restarted, the writer is killed
mid-batch (inside its transaction, before commit and ack), PostgreSQL is restarted; the harness
of ``bench chaos`` then counts 0 lost, 0 duplicated, 0 altered readings.

One test, once (it starts its own servers on free ports; the machine's NATS and PostgreSQL are
not touched). The harness is ``wattwerk.bench._chaos_log``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wattwerk.bench._chaos_log import BLOWS, LogChaosConfig, run_log_chaos
from wattwerk.bench._servers import NATS_SERVER, PG_BIN

pytestmark = pytest.mark.nats


def test_log_chaos_node_writer_and_postgres_down_nothing_lost_nothing_duplicated(tmp_path: Path) -> None:
    missing = [str(p) for p in (NATS_SERVER, PG_BIN / "initdb") if not shutil.which(str(p))]
    assert not missing, f"{missing} not found: apt-get install nats-server postgresql (README, tests)"
    result = run_log_chaos(LogChaosConfig(), tmp_path, say=print)
    print(f"log chaos: {result}")
    assert sorted(result.blows) == sorted(BLOWS)
    assert result.writer_killed_mid_batch  # its transaction was waiting when it died
    assert result.went_on == (True, True, True)  # acks and writes went on after each blow
    assert result.accepted > 2000
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.altered == 0
    assert result.stored == result.accepted
    assert result.ok
