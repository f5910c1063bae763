"""``wattwerk bench edge`` runs end to end (briefly) and reports the figures the issue asks for.
No figure is compared with a target here: speed and size are printed by the bench, not asserted."""

from __future__ import annotations

import argparse
import json
import os

from wattwerk.bench import edge


def test_proc_readers_see_this_process() -> None:
    status = edge.proc_status(os.getpid())
    assert status["VmRSS"] > 1 and status["VmHWM"] >= status["VmRSS"] * 0.5
    before = edge.cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    assert edge.cpu_seconds(os.getpid()) >= before


def test_bench_edge_json_carries_rss_and_cpu(capsys) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    edge.add_arguments(parser)
    args = parser.parse_args(["--json", "--devices", "3", "--seconds", "0.5", "--warmup", "0.3"])
    assert edge.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["devices"] == 3
    assert result["rss_mb"] > 5 and result["cpu_pct_of_one_core"] >= 0
    assert result["polls"] >= 3 and result["read_errors"] == 0  # every emulated device answered
    assert result["readings"] > result["polls"]
    assert set(result["rss_added_by_step_mb"]) == {"python_asyncio", "runtime", "pymodbus_drivers",
                                                    "store_outbox", "catalogue_devices"}
