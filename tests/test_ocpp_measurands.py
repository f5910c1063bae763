"""OCPP sampled values → our quantities: units, multipliers, phases, locations, bad values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattwerk.errors import BadInput
from wattwerk.model import Channel
from wattwerk.protocols.ocpp.measurands import MEASURANDS, Sample, convert, from_v16, from_v201, to_quantities


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (from_v16({"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}), ("power", 7400.0)),
        (from_v16({"value": "1234", "measurand": "Power.Active.Import"}), ("power", 1234.0)),
        (from_v16({"value": "12.5"}), ("energy", 12.5)),  # no measurand: the energy register in Wh
        (from_v16({"value": "3.25", "unit": "kWh"}), ("energy", 3250.0)),
        (from_v16({"value": "16", "measurand": "Current.Import", "phase": "L3"}), ("current_l3", 16.0)),
        (from_v16({"value": "231", "measurand": "Voltage", "phase": "L2-N"}), ("voltage_l2", 231.0)),
        (from_v16({"value": "42", "measurand": "SoC", "unit": "Percent", "location": "EV"}), ("soc", 42.0)),
        (
            from_v201({"value": 7.4, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}}),
            ("power", 7400.0),
        ),
        (from_v201({"value": 3.5, "unit_of_measure": {"unit": "Wh", "multiplier": 3}}), ("energy", 3500.0)),
        (
            from_v201(
                {
                    "value": 2,
                    "measurand": "Power.Active.Import",
                    "unit_of_measure": {"unit": "kW", "multiplier": -1},
                }
            ),
            ("power", 200.0),
        ),
    ],
)
def test_convert(sample: Sample, expected: tuple[str, float]) -> None:
    quantity, value = convert(sample)  # type: ignore[misc]
    assert quantity == expected[0]
    assert value == pytest.approx(expected[1])
    assert Channel.of(f"ev1.{quantity}").unit in ("W", "Wh", "A", "V", "%")


@pytest.mark.parametrize(
    "sample",
    [
        Sample("50", "Frequency"),
        Sample("1", "Power.Reactive.Import"),
        Sample("3000", "Energy.Active.Import.Register", location="Inlet"),
        Sample("230", "Voltage", phase="L1-L2"),
        Sample("1", "Current.Import", phase="N"),
    ],
)
def test_samples_we_do_not_use_are_ignored(sample: Sample) -> None:
    assert convert(sample) is None


@pytest.mark.parametrize(
    ("sample", "kind"),
    [
        (Sample("x", "Power.Active.Import"), "value"),
        (Sample(None, "SoC"), "value"),
        (Sample("1", "Power.Active.Import", unit="kVA"), "unit"),
        (Sample("5", "Current.Import", unit="mA"), "unit"),
        (Sample(10**400, "Power.Active.Import"), "value"),
        (Sample("101", "SoC"), "range"),
        (Sample("-5", "Energy.Active.Import.Register"), "range"),
        (Sample("nan", "Power.Active.Import"), "range"),
        (Sample("inf", "SoC"), "range"),
    ],
)
def test_bad_values_raise_bad_input_with_a_kind(sample: Sample, kind: str) -> None:
    with pytest.raises(BadInput) as err:
        convert(sample)
    assert err.value.kind == kind


def test_batch_sums_phase_power_nets_export_and_collects_errors() -> None:
    errors: list[BadInput] = []
    got = to_quantities(
        [
            Sample("1000", "Power.Active.Import", phase="L1"),
            Sample("1100", "Power.Active.Import", phase="L2"),
            Sample("900", "Power.Active.Import", phase="L3"),
            Sample("0.5", "Power.Active.Export", unit="kW"),
            Sample("oops", "SoC"),
        ],
        errors,
    )
    assert got["power"] == pytest.approx(2500.0)
    assert got["power_l2"] == 1100.0 and "power_export" not in got
    assert [e.kind for e in errors] == ["value"]


@given(
    st.sampled_from(sorted(MEASURANDS)),
    st.one_of(st.text(max_size=8), st.floats(), st.none(), st.integers()),
    st.sampled_from([None, "W", "kW", "Wh", "kWh", "A", "V", "Percent", "Celsius", "K", ""]),
    st.integers(-3, 3),
)
def test_any_sample_converts_or_is_bad_input(
    measurand: str, value: object, unit: str | None, mult: int
) -> None:
    try:
        got = to_quantities([Sample(value, measurand, unit=unit, multiplier=mult)], [])
    except Exception as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{measurand} {value!r} {unit}: {exc!r}")
    for quantity in got:
        Channel.of(f"ev1.{quantity}")  # every quantity we emit is a valid channel name
