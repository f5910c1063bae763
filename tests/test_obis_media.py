"""Heat (6-), gas (7-) and water (8-, 9-) OBIS codes (issue 17): their own channels with units,
from a table lookup, an SML frame of a heat/gas meter and a DSMR telegram's M-Bus channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwerk.model import Channel
from wattwerk.protocols.dsmr import DsmrDecoder
from wattwerk.protocols.meter import lookup_obis, obis_value
from wattwerk.protocols.sml import SmlDecoder
from wattwerk.sim.emulators.sml import WH, Entry, server_id, sml_file


@pytest.mark.parametrize(
    ("code", "quantity", "unit"),
    [
        ("6-0:1.0.0", "heat_energy", "Wh"),
        ("6-0:8.0.0*255", "heat_power", "W"),
        ("6-0:10.0.0", "temperature_flow", "°C"),
        ("6-0:9.0.0", "flow_rate", "m³/h"),
        ("7-0:3.0.0", "gas_volume", "m³"),
        ("7-0:13.2.0", "gas_volume_converted_base", "m³"),
        ("7-2:3.0.0", "gas_volume_ch2", "m³"),  # a second gas meter on the bus
        ("8-0:1.0.0", "water_volume", "m³"),
        ("9-0:1.0.0", "water_volume_hot", "m³"),
    ],
)
def test_media_codes_name_channels_with_units(code: str, quantity: str, unit: str) -> None:
    name = lookup_obis(code)
    assert name is not None and (name.quantity, name.unit) == (quantity, unit)
    assert Channel.of(f"heat.{quantity}").unit == unit  # the quantity is in the vocabulary


def test_units_convert_to_ours() -> None:
    assert obis_value("6-0:1.0.0", 12.5, "MWh").value == 12_500_000.0  # type: ignore[union-attr]
    assert obis_value("6-0:1.0.0", 3.6, "GJ").value == pytest.approx(1_000_000.0)  # type: ignore[union-attr]
    assert obis_value("7-0:3.0.0", 1234.5, "l").value == pytest.approx(1.2345)  # type: ignore[union-attr]
    assert obis_value("7-0:3.0.0", 12.0, "kWh") is None  # a unit that is not a volume is not a volume


def test_sml_heat_and_gas_meter() -> None:
    entries = [
        Entry("0600010000ff", 4_567_000, WH, 0),  # 6-0:1.0.0 heat energy, Wh
        Entry("0700030000ff", 123_456, 13, -3),  # 7-0:3.0.0 gas volume, m³ (unit 13)
        Entry("06000a0000ff", 553, 9, -1),  # 6-0:10.0.0 flow temperature, °C (unit 9)
    ]
    dec = SmlDecoder()
    frame = (dec.feed(sml_file(server_id("ITR", 77), entries, 10)) + dec.flush())[0]
    assert {v.quantity: v.value for v in frame.values} == {
        "heat_energy": 4_567_000.0,
        "gas_volume": 123.456,
        "temperature_flow": 55.3,
    }


def test_dsmr_mbus_gas_channel(shared_data: Path) -> None:
    frames = DsmrDecoder().feed((shared_data / "dsmr" / "v5.txt").read_bytes())
    values = {v.quantity: (v.value, v.unit) for f in frames for v in f.values}
    assert values["gas_volume"][1] == "m³" and values["gas_volume"][0] > 0
