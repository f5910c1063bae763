"""Captures from other countries' meters (tests/data/dsmr, tests/data/dlms; SOURCES.md in each):
each decodes, through the real ``MeterReader``, to the values its source states, and no power is
contradicted by the meter's own counters (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattwerk.errors import InputLedger
from wattwerk.protocols.dlms import DlmsDecoder
from wattwerk.protocols.dsmr import DsmrDecoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.sml import SmlDecoder

DATA = Path(__file__).parent / "data"
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def hex_file(path: Path) -> bytes:
    lines = path.read_text(encoding="utf-8").splitlines()
    return bytes.fromhex("".join(line.split("#", 1)[0].strip() for line in lines))


def read(decoder: object, data: bytes) -> tuple[list[dict[str, float]], InputLedger]:
    """Every accepted frame's readings by quantity, fed in 64-byte chunks as a serial line does."""
    ledger = InputLedger()
    reader = MeterReader("m", decoder, ledger=ledger, use_receive_time=True)  # type: ignore[arg-type]
    out: list[dict[str, float]] = []
    for i in range(0, len(data), 64):
        for rs in reader.process(data[i : i + 64], RECEIVED):
            out.append({r.channel.split(".", 1)[1]: r.value for r in rs})
    flush = getattr(decoder, "flush", None)
    if flush is not None:
        for frame in flush():
            assert not frame.values
    return out, ledger


def agrees_with_counters(frames: list[dict[str, float]]) -> None:
    """Net power = import - export power where both are sent; between frames, a counter that
    alone moved has the power's sign (or the power is small)."""
    last: dict[str, float] | None = None
    for v in frames:
        if "power_import" in v and "power" in v:
            assert v["power"] == pytest.approx(v["power_import"] - v.get("power_export", 0.0))
        if last is not None and "power" in v:
            d_imp = v.get("energy_import", 0.0) - last.get("energy_import", 0.0)
            d_exp = v.get("energy_export", 0.0) - last.get("energy_export", 0.0)
            if d_imp > 0 and d_exp == 0:
                assert v["power"] > -100.0
            if d_exp > 0 and d_imp == 0:
                assert v["power"] < 100.0
        last = v


# ---------------------------------------------------------------- DSMR


def test_fluvius_belgium_gas_and_water_on_mbus() -> None:
    [v], ledger = read(DsmrDecoder(), (DATA / "dsmr" / "fluvius_v171_gas_water.txt").read_bytes())
    assert v["energy_import_t1"] == 301_548.0 and v["energy_import_t2"] == 270_014.0
    assert v["energy_import"] == 571_562.0 and v["energy_export"] == 5.0
    assert v["power"] == 338.0 and v["power_l2"] == 179.0
    assert v["power_import_avg"] == 52.0 and v["power_import_peak_month"] == 3064.0  # 1.4.0, 1.6.0
    assert v["voltage_l1"] == 232.9 and v["current_l2"] == 0.88
    assert v["gas_volume"] == 92.287  # 0-1:24.2.3, device type 3
    assert v["water_volume"] == 8.579  # 0-2:24.2.1, device type 7
    assert ledger.by_kind("m") == {}
    agrees_with_counters([v])


def test_iskra_ireland_import_and_export_per_phase() -> None:
    [v], _ = read(DsmrDecoder(), (DATA / "dsmr" / "iskra_ie_mie5t.txt").read_bytes())
    assert (v["energy_import"], v["energy_export"]) == (20_363.0, 20_563.0)
    assert (v["power_import"], v["power_export"], v["power"]) == (170.0, 270.0, -100.0)
    assert (v["power_l1"], v["power_l3"]) == (217.0 - 227.0, 617.0 - 627.0)
    assert v["voltage_l3"] == 243.3
    agrees_with_counters([v])


def test_eon_hungary_four_tariffs_and_an_impossible_power_factor() -> None:
    [v], ledger = read(DsmrDecoder(), (DATA / "dsmr" / "eon_hu_sagemcom.txt").read_bytes())
    assert (v["energy_import"], v["energy_export"]) == (173_640.0, 627_177.0)
    assert v["energy_export_t1"] == 401_829.0 and v["energy_import_t4"] == 0.0
    assert (v["power_export"], v["power"]) == (2601.0, -2601.0)
    assert v["reactive_energy_q3"] == 160_487.0 and v["frequency"] == 50.0
    # the meter prints power factors of 4.5: out of physical range, counted, never stored
    assert "power_factor" not in v and "power_factor_l1" not in v
    assert ledger.by_kind("m")["range"] == 4
    agrees_with_counters([v])


# ---------------------------------------------------------------- Norwegian / Swedish HAN (DLMS)


def han(name: str) -> tuple[list[dict[str, float]], InputLedger]:
    return read(DlmsDecoder(timezone="Europe/Oslo"), hex_file(DATA / "dlms" / f"han_{name}.hex"))


def test_aidon_lists() -> None:
    [two], _ = han("aidon_no_list2_3phase")
    assert (two["power_import"], two["reactive_power_export"]) == (280.0, 128.0)
    assert (two["current_l1"], two["current_l3"], two["voltage_l2"]) == (1.3, 0.9, 230.1)
    assert "current_l2" not in two  # an IT network's meter measures two currents
    [three], _ = han("aidon_no_list3_3phase")
    assert three["energy_import"] == 22_721_380.0 and three["reactive_energy_export"] == 1_708_430.0
    assert three["voltage_l3"] == 230.9
    [se], _ = han("aidon_se_list")
    assert (se["power_import"], se["power_import_l2"]) == (1122.0, 1122.0)
    assert se["reactive_power_import_l2"] == 1506.0
    assert (se["energy_import"], se["energy_export"]) == (10_049_926.0, 8.0)
    assert se["reactive_energy_import"] == 6_614_347.0
    assert (se["current_l2"], se["voltage_l2"]) == (7.5, 249.9)
    agrees_with_counters([two, three, se])


def test_kamstrup_real_captures() -> None:
    [one], _ = han("kamstrup_no_list1_1phase_real")
    assert (one["power_import"], one["reactive_power_export"], one["current_l1"], one["voltage_l1"]) == (
        1896.0,
        493.0,
        8.96,
        225.0,
    )
    [two], _ = han("kamstrup_no_list2_1phase_real")
    assert (two["power_import"], two["current_l1"], two["voltage_l1"]) == (10_050.0, 45.12, 223.0)
    assert (two["energy_import"], two["reactive_energy_export"]) == (77_452_500.0, 11_415_870.0)
    [se], _ = han("kamstrup_se_list_real")
    assert (se["power_import"], se["reactive_power_import"], se["current_l1"], se["voltage_l3"]) == (
        826.0,
        104.0,
        2.37,
        236.0,
    )
    agrees_with_counters([one, two, se])


def test_kaifa_swedish_list_is_scaled_by_its_list_id() -> None:
    # no scalers in the push; the list id KFM_001 says mA and 0.1 V (amshan asserts 6.781 A, 232.2 V)
    [se], ledger = han("kaifa_se_list")
    assert (se["current_l1"], se["current_l2"], se["current_l3"]) == (6.781, 0.79, 6.125)
    assert (se["voltage_l1"], se["voltage_l2"]) == (232.2, 230.0)
    assert (se["power_import"], se["energy_import"]) == (2816.0, 4_786_979.0)
    assert se["reactive_energy_export"] == 578_528.0
    assert ledger.by_kind("m") == {}


def test_kaifa_norwegian_lists_without_obis_codes() -> None:
    # values in a fixed order per list length, the list version KFM_001 first, the date-time
    # header as a tagged octet string (09 0C); amshan asserts the same numbers
    [one], _ = han("kaifa_no_list1")
    assert one == {"power_import": 5852.0, "power": 5852.0}
    [two], _ = han("kaifa_no_list2")
    assert (two["power_import"], two["reactive_power_export"]) == (9745.0, 435.0)
    assert (two["current_l1"], two["current_l2"], two["current_l3"]) == (33.813, 28.103, 18.178)
    assert (two["voltage_l1"], two["voltage_l2"], two["voltage_l3"]) == (216.8, 0.0, 218.8)
    [three], _ = han("kaifa_no_list3")
    assert (three["power_import"], three["current_l1"], three["voltage_l3"]) == (4904.0, 14.571, 220.5)
    assert (three["energy_import"], three["reactive_energy_export"]) == (79_591_144.0, 3_210_932.0)
    agrees_with_counters([one, two, three])


def test_emh_ehz_sml() -> None:
    [v], ledger = read(SmlDecoder(), hex_file(DATA / "sml" / "smartmeter_obis_emh_ehz.hex"))
    assert v == {
        "energy_import": 15_338_555.7,
        "energy_import_t1": 15_338_555.7,
        "energy_import_t2": 0.0,
        "power": 563.5,
    }
    assert ledger.by_kind("m") == {}


# ---------------------------------------------------------------- all captures here and in ../shared


def shared_captures(shared: Path) -> list[tuple[str, object, bytes]]:
    out: list[tuple[str, object, bytes]] = []
    for p in sorted((shared / "dsmr").glob("*.txt")) + sorted((DATA / "dsmr").glob("*.txt")):
        out.append((p.name, DsmrDecoder(), p.read_bytes()))
    for p in sorted((shared / "sml").glob("*.hex")) + sorted((DATA / "sml").glob("*.hex")):
        out.append((p.name, SmlDecoder(), hex_file(p)))
    out.append(("dnt_stream", SmlDecoder(), (shared / "sml" / "dnt_stream_ttyUSB0-3.bin").read_bytes()))
    for p in sorted((shared / "dlms").glob("*.hex")) + sorted((DATA / "dlms").glob("*.hex")):
        out.append((p.name, DlmsDecoder(), hex_file(p)))
    return out


def test_no_capture_has_a_power_its_counters_contradict(shared_data: Path) -> None:
    seen = 0
    for name, decoder, data in shared_captures(shared_data):
        frames, ledger = read(decoder, data)
        agrees_with_counters(frames)
        assert not any("contradicted" in k for k in ledger.by_kind("m")), name
        seen += len(frames)
    assert seen > 550  # the DNT stream alone has 518 frames
