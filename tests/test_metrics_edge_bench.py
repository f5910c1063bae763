"""``wattwerk bench edge`` runs ``wattwerk run`` as its own process on the ten-device emulated site
(briefly) and reports the figures the issue asks for. No figure is compared with a target here:
speed and size are printed by the bench, not asserted."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from wattwerk.bench import edge
from wattwerk.config import parse_config


def test_proc_readers_see_this_process() -> None:
    status = edge.proc_status(os.getpid())
    assert status["VmRSS"] > 1 and status["VmHWM"] >= status["VmRSS"] * 0.5
    before = edge.cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    assert edge.cpu_seconds(os.getpid()) >= before


async def test_the_bench_site_file_is_a_valid_ten_device_site(tmp_path) -> None:
    from wattwerk.bench._edge_site import BenchSite

    async with BenchSite() as site:
        cfg = parse_config(site.site_yaml(tmp_path, planner=True, mqtt={"port": 1883, "root": "x"}))
    assert len(cfg.devices) == 10
    assert {d.role for d in cfg.devices} >= {
        "grid_meter",
        "pv",
        "battery",
        "ev_charger",
        "heat_pump",
        "heating_rod",
        "submeter",
    }
    assert {d.connection.type for d in cfg.devices} == {"modbus_rtu", "modbus_tcp"}
    assert cfg.strategy.mode == "planner" and cfg.tariff.provider == "fixed" and cfg.mqtt is not None


def _bench(capsys, *options: str) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    edge.add_arguments(parser)
    assert edge.run(parser.parse_args(["--json", "--seconds", "2", "--warmup", "1", *options])) == 0
    return json.loads(capsys.readouterr().out)


def _read_everything(result: dict) -> None:
    assert result["exit_code"] == 0 and result["clean_exit"]  # SIGTERM as systemd sends it
    polled = {d for d in result["modbus_requests"] if d != "hp"}  # the relay board is only written
    assert all(result["modbus_requests"][d] > 0 for d in polled), result["modbus_requests"]
    assert result["readings_accepted"] > 0
    assert result["read_errors"] == 0, result["read_errors_by_kind"]
    for key in ("rss_mb", "rss_max_mb", "peak_rss_mb", "cpu_pct_of_one_core", "measured_s", "startup_s"):
        assert isinstance(result[key], int | float) and result[key] >= 0, key


def test_bench_edge_runs_wattwerk_run_on_the_emulated_site(capsys) -> None:
    out = _bench(capsys, "--variant", "plain")
    assert out["command"] == "wattwerk run site.yaml" and out["devices"] == 10
    assert set(out["variants"]) == {"plain"}
    plain = out["variants"]["plain"]
    _read_everything(plain)
    assert plain["rss_mb"] > 5 and plain["peak_rss_mb"] >= plain["rss_mb"] * 0.9
    assert plain["targets"] == {"rss_mb": 80.0, "cpu_pct_of_one_core": 3.0}


@pytest.mark.mqtt
def test_bench_edge_mqtt_variant_publishes_and_serves_metrics(capsys) -> None:
    result = _bench(capsys, "--variant", "mqtt_metrics")["variants"]["mqtt_metrics"]
    _read_everything(result)
    assert result["mqtt_messages"] > 0


def test_bench_edge_planner_variant_plans_offline(capsys) -> None:
    """A fixed tariff and no weather service (clear sky): the edge still makes its plans."""
    result = _bench(capsys, "--variant", "planner")["variants"]["planner"]
    _read_everything(result)
    assert result["plans"] >= 1 and result["plan_status"] == "optimal" and result["plan_slots"] > 0
    assert result["targets"] == {"rss_mb": 150.0}
