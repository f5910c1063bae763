"""Tasmota SENSOR documents and generic JSON field mapping."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwerk.cli import main as cli_main
from wattwerk.model import Channel
from wattwerk.protocols.base import Frame
from wattwerk.protocols.jsonmap import FieldMap, JsonDecoder, resolve
from wattwerk.protocols.tasmota import TasmotaSml, auto_decoder, energy_decoder, sml_decoder
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.tasmota import sensor_document

GPLUG = b'{"Time":"2024-05-01T12:00:03","SML":{"Total_in":12345.6789,"Total_out":321.5,"Power_curr":-450}}'


def values_of(frame: Frame) -> dict[str, float]:
    return {v.quantity: v.value for v in frame.values}


def test_gplug_sml_document() -> None:
    frame = sml_decoder().feed(GPLUG)[0]
    assert frame.ok and frame.notes == []
    assert values_of(frame) == {"energy_import": 12_345_678.9, "energy_export": 321_500.0, "power": -450.0}
    assert frame.ts is None  # Tasmota's local time without a zone is not trusted
    obis = {v.quantity: v.obis for v in frame.values}
    assert obis == {"energy_import": "1-0:1.8.0", "energy_export": "1-0:2.8.0", "power": "1-0:16.7.0"}


def test_device_zone_makes_time_usable() -> None:
    frame = sml_decoder(timezone="Europe/Berlin").feed(GPLUG)[0]
    assert frame.ts == datetime(2024, 5, 1, 10, 0, 3, tzinfo=UTC)


def test_configured_prefix_names_and_unit() -> None:
    names = {"E_in": ("energy_import", "1-0:1.8.0", True), "P": ("power", "1-0:16.7.0", False)}
    cfg = TasmotaSml(prefix="MT631", names=names, energy_scale=1.0, required=("E_in", "P"))
    doc = b'{"Time":"2024-05-01T12:00:03","MT631":{"E_in":987654,"P":"123.5"}}'
    assert values_of(sml_decoder(cfg).feed(doc)[0]) == {"energy_import": 987654.0, "power": 123.5}


def test_missing_and_bad_fields_are_notes() -> None:
    doc = b'{"SML":{"Total_in":"n/a","Total_out":1.5}}'
    frame = sml_decoder().feed(doc)[0]
    assert frame.ok and values_of(frame) == {"energy_export": 1500.0}
    assert sorted(k for k, _ in frame.notes) == ["missing", "type"]


def test_not_json_is_a_rejected_frame() -> None:
    frame = sml_decoder().feed(b'{"SML": {"Total_in": 1')[0]
    assert not frame.ok and frame.error_kind == "parse"
    assert sml_decoder().feed(b"42")[0].error_kind == "parse"


def test_energy_monitor_document() -> None:
    when = datetime(2024, 5, 1, 10, tzinfo=UTC)
    state = MeterState(when, 61.0, 4321.0, 0.0, (PhaseState(231.0, 0.3, 61.0),))
    doc = json.dumps(sensor_document(state, style="energy")).encode()
    v = values_of(energy_decoder().feed(doc)[0])
    assert v["power"] == 61.0 and v["energy_import"] == 4321.0 and v["voltage"] == 231.0
    assert v["current"] == 0.3 and v["power_factor"] == 1.0


def test_generic_json_paths_and_scale() -> None:
    fields = [
        FieldMap("meters[0].power", "power", scale=-1.0),  # this device counts export positive
        FieldMap("meters[1].total_kwh", "energy_import", scale=1000.0),
        FieldMap("deep.a.b[2]", "voltage_l1"),
    ]
    doc = {"meters": [{"power": 250}, {"total_kwh": 1.25}], "deep": {"a": {"b": [0, 0, 229.5]}}}
    frame = JsonDecoder(fields, messages=True).feed(json.dumps(doc).encode())[0]
    assert values_of(frame) == {"power": -250.0, "energy_import": 1250.0, "voltage_l1": 229.5}
    assert resolve(doc, "meters[5].power") is not resolve(doc, "meters[0].power")


def test_field_map_rejects_unknown_quantity() -> None:
    with pytest.raises(ValueError):
        FieldMap("x", "wattage")
    with pytest.raises(ValueError):
        FieldMap("x", "power", scale=0.0)


def test_capture_lines_with_topics_any_chunking() -> None:
    capture = (
        b"tele/gplug/SENSOR " + GPLUG + b"\n"
        b'tele/plug1/SENSOR {"Time":"2024-05-01T12:00:04","ENERGY":{"Total":1.5,"Power":42}}\n'
        b"\n" + GPLUG + b"\n"
    )
    ref = [f.to_json() for f in auto_decoder().feed(capture)]
    assert [r["readings"][0]["channel"] for r in ref] == [
        "grid.energy_import",
        "grid.energy_import",
        "grid.energy_import",
    ]
    assert ref[1]["readings"][1]["value"] == 42.0
    for size in (1, 5, 17):
        dec = auto_decoder()
        got: list[Frame] = []
        for i in range(0, len(capture), size):
            got += dec.feed(capture[i : i + size])
        assert [f.to_json() for f in got + dec.flush()] == ref


def test_cli_decode_tasmota(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mqtt.txt"
    path.write_bytes(b"tele/gplug/SENSOR " + GPLUG + b"\nnot json\n")
    assert cli_main(["decode", "tasmota", str(path)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    power = {"obis": "1-0:16.7.0", "channel": "grid.power", "value": -450.0, "unit": "W"}
    assert lines[0]["readings"][2] == power
    assert lines[1]["readings"] == [] and lines[1]["errors"][0].startswith("not JSON")


SML_KEYS = ["Total_in", "Total_out", "Power_curr"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


def assert_sane(frames: list[Frame]) -> None:
    for f in frames:
        if not f.ok:
            assert f.values == []
        for v in f.values:
            assert math.isfinite(v.value)
            assert Channel.of(f"grid.{v.quantity}").unit == v.unit


@settings(max_examples=150, deadline=None)
@given(doc=json_values, sml=st.dictionaries(st.sampled_from(SML_KEYS), json_values))
def test_fuzz_documents(doc: object, sml: dict) -> None:
    assert_sane(auto_decoder(messages=True).feed(json.dumps(doc).encode()))
    assert_sane(sml_decoder().feed(json.dumps({"SML": sml}).encode()))
    big = b'{"SML":{"Total_in":1e999,"Power_curr":' + b"9" * 400 + b"}}"
    assert_sane(sml_decoder().feed(big))


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=300))
def test_fuzz_bytes(noise: bytes) -> None:
    dec = auto_decoder()
    assert_sane(dec.feed(noise) + dec.flush())
    assert_sane(sml_decoder().feed(noise))
