"""The simulator benchmark runs and reports its figures (no assertions on speed)."""

from __future__ import annotations

import argparse
import json

from wattwerk.bench import sim as bench_sim


def test_bench_sim_prints_one_json_object(capsys) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    bench_sim.add_arguments(parser)
    assert bench_sim.run(parser.parse_args(["--json", "--days", "1", "--step", "300"])) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 86400 // 300 - 1
    assert result["steps_per_s"] > 0 and result["s_per_simulated_year"] > 0
    assert abs(result["balance_error_wh"]) < 1e-6
    assert result["energy_kwh"]["house.energy"] > 0


def test_bench_sim_rejects_a_bad_step(capsys) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    bench_sim.add_arguments(parser)
    assert bench_sim.run(parser.parse_args(["--step", "0"])) == 2
    assert "--step" in capsys.readouterr().out
