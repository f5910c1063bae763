"""The site file's ``control.inputs`` (digital contacts, S0 meters) and the contacts' fail-safe:
valid files parse, wrong ones give one line each, pointing at the line that is wrong."""

from __future__ import annotations

import pytest

from wattwerk.config import ConfigError, parse_config
from wattwerk.config.limits import GpioInputs, ModbusInputs, S0Meter, ShellyInputs, TasmotaInputs

SITE = """\
site:
  name: Test
  location: {latitude: 47.99, longitude: 7.85}
  timezone: Europe/Berlin
"""

GOOD = (
    SITE
    + """\
control:
  inputs:
    - {type: modbus, id: io, catalog: waveshare-modbus-rtu-io-8ch,
       connection: {type: modbus_rtu, device: /dev/ttyUSB0}}
    - type: shelly
      id: sb
      connection: {type: mqtt, topic: shellyplusi4-a8032ab12345}
      inputs: [0, 1]
    - {type: tasmota, id: tas, connection: {type: mqtt, topic: tasmota_rcr}, switches: [1, 2]}
    - {type: gpio, id: gp, lines: [17, 27], active_low: true}
    - {type: s0, id: heat_meter, line: 22, imp_per_kwh: 800}
  ripple:
    contacts: [tas.state_1, tas.state_2]
    levels: [{pattern: "10", feed_in_pct: 0}]
    on_stale: "10"
  para14a: {signal: sb.state_2, on_stale: "on"}
"""
)


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.yaml")
    return info.value.lines


def test_every_kind_of_input_parses() -> None:
    cfg = parse_config(GOOD, "site.yaml")
    kinds = [type(i) for i in cfg.control.inputs]
    assert kinds == [ModbusInputs, ShellyInputs, TasmotaInputs, GpioInputs, S0Meter]
    assert cfg.control.inputs[1].repeat_s == 1.0
    assert cfg.control.ripple.on_stale == "10"
    assert cfg.control.para14a.on_stale == "on"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "signal: sb.state_2",
            "signal: sb.state_3",
            "site.yaml:20: control.para14a.signal: input 'sb' has no contact 'state_3'; it has sb.state_1, "
            "sb.state_2",
        ),
        (
            'on_stale: "10"',
            'on_stale: "1"',
            'site.yaml:19: control.ripple.on_stale: expected "keep" or a pattern of 2 digits 0/1 (the fail-safe '  # noqa: E501
            "level), got '1'",
        ),
        (
            "{type: gpio, id: gp,",
            "{type: gpoi, id: gp,",
            'site.yaml:14: control.inputs[3].type: expected one of "modbus", "shelly", "tasmota", "gpio", "s0", '  # noqa: E501
            'got "gpoi" (did you mean "gpio"?)',
        ),
        ("id: heat_meter", "id: tas", "site.yaml:15: control.inputs[4].id: input id 'tas' is used twice"),
        ("inputs: [0, 1]", "inputs: []", "site.yaml:12: control.inputs[1].inputs: must not be empty"),
        (
            "imp_per_kwh: 800",
            "imp_per_kwh: 0",
            "site.yaml:15: control.inputs[4].imp_per_kwh: must be greater than 0, got 0",
        ),
        (
            'levels: [{pattern: "10"',
            'levels: [{pattern: "1"',
            "site.yaml:18: control.ripple.levels[0].pattern: pattern '1' needs 2 digits, one per contact",
        ),
        (
            "switches: [1, 2]",
            "switches: [1, 2], debounce_ms: 5",
            'site.yaml:13: control.inputs[2]: unknown field "debounce_ms" (only gpio and s0 inputs have it)',
        ),
    ],
)
def test_a_wrong_input_gives_one_line_where_it_is(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert errors_of(GOOD.replace(old, new)) == [expected]
