from datetime import UTC, datetime

import pytest

from wattwerk.model import Channel, Kind, Reading, battery_power, grid_power, obis_key, quantity_info


def test_channel_from_name_gets_unit_and_kind():
    ch = Channel.of("grid.energy_import_t1", obis="1-0:1.8.1")
    assert (ch.device, ch.quantity, ch.unit, ch.kind) == ("grid", "energy_import_t1", "Wh", Kind.COUNTER)
    assert ch.name == "grid.energy_import_t1"
    assert Channel.of("bat.soc").unit == "%"
    assert quantity_info("power_l2") == ("W", Kind.POWER)


@pytest.mark.parametrize("bad", ["grid", "Grid.power", "grid.", ".power", "grid.power.x", "grid power"])
def test_bad_channel_names_are_rejected(bad):
    with pytest.raises(ValueError, match="bad channel name"):
        Channel.of(bad)


def test_unknown_quantity_is_rejected():
    with pytest.raises(ValueError, match="unknown quantity"):
        Channel.of("grid.wattage")


def test_reading_requires_aware_time_and_finite_value():
    with pytest.raises(ValueError, match="no timezone"):
        Reading("grid.power", datetime(2024, 1, 1), 1.0)
    with pytest.raises(ValueError, match="not finite"):
        Reading("grid.power", datetime(2024, 1, 1, tzinfo=UTC), float("nan"))
    r = Reading("grid.power", datetime(2024, 1, 1, tzinfo=UTC), 5.0)
    assert r.ts_ms == 1704067200000


def test_sign_conventions():
    assert grid_power(import_w=1000, export_w=0) == 1000
    assert grid_power(import_w=0, export_w=300) == -300
    assert battery_power(charge_w=500, discharge_w=0) == -500


def test_obis_key_normalises_f_group():
    assert obis_key("1-0:1.8.0*255") == "1-0:1.8.0"
    assert obis_key("1-0:1.8.0.255") == "1-0:1.8.0"
    assert obis_key("1-0:1.8.0") == "1-0:1.8.0"
