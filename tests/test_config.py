"""Site file: schema, defaults, line-exact error messages, ``wattwerk check``."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from wattwerk.cli import main
from wattwerk.config import (
    DEMO_SITE,
    DEVICE_MODELS,
    Battery,
    ConfigError,
    EvCharger,
    HeatingRod,
    HeatPump,
    ModbusTcpConnection,
    Pv,
    SiteConfig,
    load_config,
    load_demo_config,
    load_document,
    parse_config,
    parse_duration,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs" / "configuration.md"

# Four lines of a valid site section; device lines in the cases below start at line 5.
SITE = """\
site:
  name: Test
  location: {latitude: 47.99, longitude: 7.85}
  timezone: Europe/Berlin
"""


def errors_of(text: str, filename: str = "site.yaml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, filename)
    assert str(info.value) == "\n".join(info.value.lines)
    return info.value.lines


# ------------------------------------------------------------------ good files


def test_demo_site_parses_with_the_devices_the_demo_needs():
    cfg = load_demo_config()
    roles = {d.id: d.role for d in cfg.devices}
    assert (
        roles
        | {
            "grid": "grid_meter",
            "pv1": "pv",
            "bat": "battery",
            "ev1": "ev_charger",
            "hp": "heat_pump",
            "rod": "heating_rod",
        }
        == roles
    )
    assert all(d.connection.type == "sim" for d in cfg.devices)
    pv, bat, ev, hp, rod = (cfg.device(i) for i in ("pv1", "bat", "ev1", "hp", "rod"))
    assert isinstance(pv, Pv) and pv.kwp == 8.0
    assert isinstance(bat, Battery)
    assert (bat.capacity_wh, bat.max_charge_w, bat.max_discharge_w) == (10000, 5000, 5000)
    assert isinstance(ev, EvCharger) and ev.limits.phases == 3 and ev.limits.max_current_a == 16
    assert isinstance(hp, HeatPump) and hp.sg_ready is True
    assert isinstance(rod, HeatingRod) and rod.max_power_w == 3000
    assert cfg.grid_meter is not None and cfg.grid_meter.id == "grid"


def test_demo_copy_in_examples_is_identical_to_the_package_data():
    assert (EXAMPLES / "demo.yaml").read_bytes() == DEMO_SITE.read_bytes()
    assert load_config(EXAMPLES / "demo.yaml") == load_demo_config()


def test_example_site_parses_with_types_and_values():
    cfg = load_config(EXAMPLES / "site.yaml")
    assert cfg.site.tz.key == "Europe/Berlin"
    assert cfg.site.grid.max_export_w == 5940
    assert cfg.site.grid.fuse_limit_w == pytest.approx(3 * 230 * 35)
    assert cfg.site.grid.import_limit_w == 20000
    pv = cfg.device("pv1")
    assert isinstance(pv.connection, ModbusTcpConnection)
    assert (pv.connection.host, pv.connection.port, pv.connection.unit) == ("192.168.1.50", 502, 1)
    assert isinstance(pv.connection.port, int) and isinstance(pv.kwp, float)
    assert cfg.device("bat").connection.pause_ms == 50
    hp = cfg.device("hp")
    assert (hp.limits.min_on_s, hp.limits.min_off_s) == (900.0, 600.0)
    assert cfg.store.keep("15m") == timedelta(days=730) and cfg.store.keep("1d") is None
    assert cfg.reserve_soc(cfg.device("bat")) == 20  # the owner's 20 % beats the battery's 10 %
    assert cfg.portal is not None and cfg.portal.token.get_secret_value().startswith("replace")
    assert "replace" not in repr(cfg.portal)
    with pytest.raises(KeyError):
        cfg.device("nope")


def test_defaults_fill_in():
    cfg = parse_config(
        SITE
        + textwrap.dedent("""\
        devices:
          - {id: grid, role: grid_meter, connection: {type: modbus_tcp, host: meter}}
          - {id: pv1, role: pv, kwp: 5, connection: {type: speedwire}}
          - {id: ev1, role: ev_charger, connection: {type: mqtt, topic: ev}}
          - {id: hp, role: heat_pump, connection: {type: serial, device: /dev/ttyUSB0}}
          - {id: sw, role: switch, connection: {type: http, url: "http://10.0.0.9/relay"}}
        """)
    )
    grid, pv, ev, hp, sw = cfg.devices
    assert (grid.interval_s, pv.interval_s, sw.interval_s) == (1.0, 5.0, 5.0)
    # port and unit: None in the file means the catalogue entry's (SMA: unit 126), see test_check.py
    assert (grid.connection.port, grid.connection.unit, grid.connection.timeout_s) == (None, None, 3.0)
    assert (pv.tilt, pv.azimuth) == (30.0, 180.0)
    assert (pv.connection.group, pv.connection.port) == ("239.12.255.254", 9522)
    assert (ev.connection.host, ev.connection.port, ev.connection.format) == ("127.0.0.1", 1883, "json")
    assert (ev.limits.min_current_a, ev.limits.max_current_a, ev.limits.phases) == (6, 16, 3)
    assert ev.phase_switching is False
    assert (hp.connection.baudrate, hp.connection.bytesize, hp.connection.parity) == (115200, 8, "N")
    assert (hp.limits.min_on_s, hp.limits.max_switches_per_hour, hp.sg_ready) == (600.0, 3, False)
    assert sw.limits.max_power_w is None and sw.connection.interval_s is None
    grid_cfg = cfg.site.grid
    assert grid_cfg.phases == 3 and grid_cfg.voltage_v == 230 and grid_cfg.import_limit_w is None
    assert cfg.strategy.mode == "self_consumption" and cfg.strategy.ev_default_mode == "pv"
    assert cfg.store.data_dir == Path("var")
    assert [t.resolution for t in cfg.store.retention] == ["raw", "1m", "15m", "1h", "1d"]
    assert cfg.store.keep("raw") == timedelta(days=7) and cfg.portal is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("7d", 604800),
        ("1h30m", 5400),
        ("2w", 1209600),
        ("1.5h", 5400),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_durations_accepted_in_seconds_fields():
    cfg = parse_config(
        SITE + "devices:\n  - {id: hp, role: heat_pump, connection: {type: sim},"
        " interval_s: 2m, limits: {min_on_s: 20m, min_off_s: 90}}\n"
    )
    hp = cfg.devices[0]
    assert (hp.interval_s, hp.limits.min_on_s, hp.limits.min_off_s) == (120.0, 1200.0, 90.0)


def test_yaml_1_2_keeps_off_a_string():
    assert parse_config(SITE + "strategy: {mode: off, ev_default_mode: off}\n").strategy.mode == "off"


# ------------------------------------------------------------------ broken files, one exact line each

DEV = "devices:\n"  # line 5

BROKEN: list[tuple[str, str, str]] = [
    (
        "port typo in value",
        SITE + DEV + "  - id: grid\n    role: grid_meter\n    connection:\n      type: modbus_tcp\n"
        "      host: 10.0.0.2\n      port: 5o2\n",
        'site.yaml:11: devices[0].connection.port: expected an integer, got "5o2"',
    ),
    (
        "missing role",
        SITE + DEV + "  - id: grid\n    role: grid_meter\n    connection: {type: sim}\n"
        "  - id: pv1\n    connection: {type: sim}\n",
        'site.yaml:9: devices[1]: missing field "role"',
    ),
    (
        "misspelt key with suggestion",
        SITE + DEV + "  - id: grid\n    role: grid_meter\n    connection:\n      type: tcp\n"
        "      host: p1\n      prot: 8088\n      port: 8088\n",
        'site.yaml:11: devices[0].connection: unknown field "prot" (did you mean "port"?)',
    ),
    (
        "missing key in connection",
        SITE + DEV + "  - id: grid\n    role: grid_meter\n    connection:\n      type: tcp\n      host: p1\n",
        'site.yaml:8: devices[0].connection: missing field "port"',
    ),
    (
        "unknown role lists the allowed ones",
        SITE + DEV + "  - id: x\n    role: inverter\n    connection: {type: sim}\n",
        'site.yaml:7: devices[0].role: expected one of "grid_meter", "pv", "battery", "ev_charger", '
        '"heat_pump", "heating_rod", "switch", "chp", "fuel_cell", "electrolyser", "submeter", got "inverter"',  # noqa: E501
    ),
    (
        "unknown connection type with suggestion",
        SITE + DEV + "  - id: x\n    role: submeter\n    connection: {type: modbus}\n",
        'site.yaml:8: devices[0].connection.type: expected one of "sim", "modbus_tcp", "modbus_rtu", "serial", '  # noqa: E501
        '"tcp", "udp", "speedwire", "mqtt", "http", "ocpp", got "modbus" (did you mean "modbus_tcp"?)',
    ),
    (
        "missing connection type",
        SITE + DEV + "  - id: x\n    role: submeter\n    connection: {host: a}\n",
        'site.yaml:8: devices[0].connection: missing field "type"',
    ),
    (
        "field of another role",
        SITE + DEV + "  - id: bat\n    role: battery\n    connection: {type: sim}\n    capacity_wh: 5000\n"
        "    max_charge_w: 2000\n    max_discharge_w: 2000\n    kwp: 5\n",
        'site.yaml:12: devices[0]: unknown field "kwp" (only pv devices have it)',
    ),
    (
        "bad device id",
        SITE + DEV + "  - id: PV-1\n    role: pv\n    kwp: 5\n    connection: {type: sim}\n",
        'site.yaml:6: devices[0].id: "PV-1" is not a valid device id: use at most 32 lower-case letters, digits'  # noqa: E501
        ' and "_", starting with a letter (it names channels such as "pv_1.power")',
    ),
    (
        "duplicate device id",
        SITE + DEV + "  - {id: pv1, role: pv, kwp: 5, connection: {type: sim}}\n"
        "  - {id: pv1, role: pv, kwp: 3, connection: {type: sim}}\n",
        'site.yaml:7: devices[1].id: duplicate device id "pv1" (first used by devices[0])',
    ),
    (
        "two grid meters",
        SITE + DEV + "  - {id: m1, role: grid_meter, connection: {type: sim}}\n"
        "  - {id: m2, role: grid_meter, connection: {type: sim}}\n",
        'site.yaml:7: devices[1].role: only one device may have role grid_meter; devices[0] ("m1") already'
        " has it",
    ),
    (
        "wrong enum value",
        SITE + DEV + "  - id: m\n    role: grid_meter\n    connection:\n      type: serial\n"
        "      device: /dev/ttyUSB0\n      parity: X\n",
        'site.yaml:11: devices[0].connection.parity: expected one of "N", "E", "O", got "X"',
    ),
    (
        "number out of range",
        SITE + DEV + "  - {id: bat, role: battery, connection: {type: sim}, capacity_wh: 0,"
        " max_charge_w: 1, max_discharge_w: 1}\n",
        "site.yaml:6: devices[0].capacity_wh: must be greater than 0, got 0",
    ),
    (
        "bool where a number belongs",
        SITE + DEV + "  - id: pv1\n    role: pv\n    connection: {type: sim}\n    kwp: yes\n",
        'site.yaml:9: devices[0].kwp: expected a number, got "yes"',
    ),
    (
        "heating rod without power",
        SITE + DEV + "  - id: rod\n    role: heating_rod\n    connection: {type: sim}\n",
        'site.yaml:6: devices[0]: a heating rod needs "stages" (its power levels in W) or "limits.max_power_w"'  # noqa: E501
        " (continuous)",
    ),
    (
        "limits the wrong way round",
        SITE + DEV + "  - id: sw\n    role: switch\n    connection: {type: sim}\n    limits:\n"
        "      min_power_w: 500\n      max_power_w: 100\n",
        "site.yaml:10: devices[0].limits.min_power_w: min_power_w (500 W) is above max_power_w (100 W)",
    ),
    (
        "bad duration",
        SITE + DEV + "  - id: sw\n    role: switch\n    connection: {type: sim}\n    interval_s: 5 minutes\n",
        'site.yaml:9: devices[0].interval_s: expected a number of seconds or a duration like "30s", "5m", "24h",'  # noqa: E501
        ' "7d", got "5 minutes"',
    ),
    (
        "bad retention",
        SITE + "store:\n  retention:\n    - {resolution: raw, keep: 7d}\n    - {resolution: 5m, keep: 7d}\n",
        'site.yaml:8: store.retention[1].resolution: expected one of "raw", "1m", "15m", "1h", "1d", got "5m"'
        ' (did you mean "15m"?)',
    ),
    (
        "retention keep forever only as a word",
        SITE + "store:\n  retention:\n    - resolution: raw\n      keep: never\n",
        'site.yaml:8: store.retention[0].keep: expected a duration like "30s", "5m", "24h", "7d" or "forever",'  # noqa: E501
        ' got "never"',
    ),
    (
        "timezone typo",
        SITE.replace("Europe/Berlin", "Europe/Berln"),
        'site.yaml:4: site.timezone: unknown time zone "Europe/Berln" (did you mean "Europe/Berlin"?)',
    ),
    (
        "missing location",
        "site:\n  name: x\n  timezone: UTC\n",
        'site.yaml:1: site: missing field "location"',
    ),
    (
        "unknown section",
        SITE + "stratgy:\n  mode: off\n",
        'site.yaml:5: unknown field "stratgy" (did you mean "strategy"?)',
    ),
    (
        "section of the wrong shape",
        SITE + "devices:\n  grid: {role: grid_meter}\n",
        'site.yaml:5: devices: expected a list (lines starting with "- "), got a mapping',
    ),
    (
        "string expected",
        SITE.replace("name: Test", "name: 42"),
        "site.yaml:2: site.name: expected a string, got 42 (put it in quotes)",
    ),
    (
        "phase switching on a single phase",
        SITE
        + DEV
        + "  - id: ev\n    role: ev_charger\n    connection: {type: sim}\n    limits: {phases: 1}\n"
        "    phase_switching: true\n",
        "site.yaml:10: devices[0].phase_switching: phase switching needs a three-phase charger"
        " (limits.phases: 3)",
    ),
    (
        "portal url",
        SITE + "portal:\n  url: ftp://portal\n  token: abc\n  site: s1\n",
        'site.yaml:6: portal.url: expected an http:// or https:// URL, got "ftp://portal"',
    ),
    (
        "decimal comma",
        SITE + DEV + "  - id: pv1\n    role: pv\n    connection: {type: sim}\n    kwp: 8,5\n",
        'site.yaml:9: devices[0].kwp: expected a number, got "8,5" (write decimals with a point: 8.5)',
    ),
    (
        "empty token",
        SITE + "portal:\n  url: https://portal.example.org\n  token: ''\n  site: s1\n",
        "site.yaml:7: portal.token: must not be empty",
    ),
    (
        "empty stages",
        SITE + DEV + "  - {id: rod, role: heating_rod, connection: {type: sim}, stages: []}\n",
        "site.yaml:6: devices[0].stages: must not be empty",
    ),
    (
        "stages out of order",
        SITE + DEV + "  - id: rod\n    role: heating_rod\n    connection: {type: sim}\n"
        "    stages: [2000, 1000]\n",
        "site.yaml:9: devices[0].stages: stages must be distinct power levels in ascending order, in W",
    ),
    (
        "field of another connection type",
        SITE + DEV + "  - id: m\n    role: submeter\n    connection:\n      type: modbus_tcp\n"
        "      host: m\n      baudrate: 9600\n",
        'site.yaml:11: devices[0].connection: unknown field "baudrate" (only modbus_rtu and serial connections'  # noqa: E501
        " have it)",
    ),
    (
        "device not a mapping",
        SITE + DEV + "  - pv1\n",
        'site.yaml:6: devices[0]: expected a mapping (indented "key: value" lines), got "pv1"',
    ),
    (
        "misspelt role key",
        SITE + DEV + "  - id: pv1\n    rol: pv\n    connection: {type: sim}\n",
        'site.yaml:6: devices[0]: missing field "role" ("rol" is not a field: did you mean "role"?)',
    ),
    ("version", "version: 2\n" + SITE, "site.yaml:1: version: expected 1, got 2"),
    (
        "empty value",
        SITE + "devices:\n",
        'site.yaml:5: devices: expected a list (lines starting with "- "), got an empty value',
    ),
    ("key that is not a word", SITE + "  5: x\n", "site.yaml:5: site.5: field names must be words, got 5"),
    (
        "yaml syntax",
        SITE + "devices:\n  - id: x\n   role: pv\n",
        "site.yaml:7: YAML syntax error: while parsing a block collection, expected <block end>, but found"
        " '<block mapping start>'",
    ),
    (
        "yaml syntax in a value",
        SITE + "devices:\n  - id: x: y\n",
        "site.yaml:6: YAML syntax error: mapping values are not allowed here",
    ),
    (
        "duplicate key",
        SITE + "strategy: {mode: off}\nstrategy: {mode: planner}\n",
        'site.yaml:6: duplicate key "strategy"',
    ),
    (
        "empty file",
        "# nothing yet\n",
        'site.yaml: the file is empty; a site file needs at least a "site" section',
    ),
    (
        "top level not a mapping",
        "- site\n- devices\n",
        "site.yaml:1: expected a mapping of sections (version, site, devices, strategy, store, portal, mqtt,"
        " control, tariff, web, catalog_dirs) at the top level, got a list",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_file_gives_exactly_one_line(text, expected):
    assert errors_of(text) == [expected]


def test_anchors_merges_and_x_keys():
    text = textwrap.dedent("""\
        x-modbus: &mb
          type: modbus_tcp
          host: 10.0.0.2
        site:
          name: Test
          location: {latitude: 47.99, longitude: 7.85}
          timezone: Europe/Berlin
        devices:
          - id: pv1
            role: pv
            kwp: 5
            connection:
              <<: *mb
              unit: 3
          - {id: bat, role: battery, capacity_wh: 1, max_charge_w: 1, max_discharge_w: 1, connection: *mb}
        """)
    cfg = parse_config(text)
    assert (cfg.devices[0].connection.host, cfg.devices[0].connection.unit) == ("10.0.0.2", 3)
    assert cfg.devices[1].connection.unit is None  # the catalogue entry's unit
    # a bad value inside an anchor is reported where it is written, once per use
    assert errors_of(text.replace("host: 10.0.0.2", "host: 10.0.0.2\n  port: 5o2")) == [
        'site.yaml:4: devices[0].connection.port: expected an integer, got "5o2"',
        'site.yaml:4: devices[1].connection.port: expected an integer, got "5o2"',
    ]


def test_alias_bomb_is_refused():
    lines = ["x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    assert errors_of("\n".join(lines) + "\nsite: *a8\n") == [
        "site.yaml: more than 100000 values once aliases are expanded"
    ]


def test_every_problem_is_listed_in_line_order():
    text = (
        SITE.replace("latitude: 47.99", "latitude: 95")
        + DEV
        + (
            "  - id: grid\n    role: grid_meter\n    connection: {type: tcp, host: p1, port: 0}\n"
            "  - id: pv1\n    role: pv\n    connection: {type: sim}\n    kwp: -1\n    tlt: 30\n"
        )
    )
    assert errors_of(text, "x/site.yaml") == [
        "x/site.yaml:3: site.location.latitude: must be at most 90, got 95",
        "x/site.yaml:8: devices[0].connection.port: must be at least 1, got 0",
        "x/site.yaml:12: devices[1].kwp: must be greater than 0, got -1",
        'x/site.yaml:13: devices[1]: unknown field "tlt" (did you mean "tilt"?)',
    ]


def test_every_line_has_the_documented_shape():
    pattern = re.compile(r"^site\.yaml(:\d+)?: (([a-z_]+|\[\d+\])(\.[a-z_]+|\[\d+\])*: )?\S.*$")
    for _, text, _ in BROKEN:
        for line in errors_of(text):
            assert pattern.match(line), line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t{}[]'\"#&*!|>%@`,?0.1")), max_size=80))
def test_any_text_gives_a_config_or_config_error(text):
    try:
        parse_config(text, "fuzz.yaml")
    except ConfigError as e:
        assert e.lines and all(line.startswith("fuzz.yaml") for line in e.lines)


_SCALARS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_in_the_demo_gives_a_config_or_a_line_pointing_into_the_file(data):
    doc = load_document(DEMO_SITE)
    node, path = doc, []
    while isinstance(node, dict | list) and len(node):
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        path.append(key)
        if not isinstance(node[key], dict | list) or data.draw(st.booleans()):
            break
        node = node[key]
    node[path[-1]] = data.draw(_SCALARS)
    out = io.StringIO()
    _writer().dump(doc, out)
    n_lines = out.getvalue().count("\n")
    try:
        parse_config(out.getvalue(), "demo.yaml")
    except ConfigError as e:
        for line in e.lines:
            m = re.match(r"^demo\.yaml:(\d+): ", line)
            assert m and 1 <= int(m.group(1)) <= n_lines, line


def _writer() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)  # the style of our example files
    return yaml


# ------------------------------------------------------------------ files, CLI


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.lines == [f"{tmp_path / 'nope.yaml'}: no such file"]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.lines == [f"{tmp_path}: is a directory, not a site file"]


def test_not_utf8(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_bytes(b"site:\n  name: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.lines == [f"{bad}: not UTF-8 text (byte 14)"]


def test_document_round_trips_with_comments():
    doc = load_document(EXAMPLES / "site.yaml")
    out = io.StringIO()
    _writer().dump(doc, out)
    assert out.getvalue() == (EXAMPLES / "site.yaml").read_text(encoding="utf-8")


def test_check_ok(capsys):
    assert main(["check", str(EXAMPLES / "site.yaml")]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{EXAMPLES / 'site.yaml'}: OK — 5 devices (grid_meter: grid, pv: pv1, battery: bat, "
        "ev_charger: ev1, heat_pump: hp)\n"
    )


def test_check_errors_go_to_stderr_with_exit_1(tmp_path, capsys):
    bad = tmp_path / "site.yaml"
    bad.write_text(SITE + "devices:\n  - {id: pv1, role: pv, connection: {type: sim}}\n", encoding="utf-8")
    assert main(["check", "--demo", str(bad), str(DEMO_SITE)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f'{bad}:6: devices[0]: missing field "kwp"\n'
    n = len(load_demo_config().devices)
    assert captured.out.startswith(f"{DEMO_SITE}: OK — {n} devices (grid_meter: grid, ")


def test_check_json_shows_defaults(capsys):
    import json

    assert main(["check", "--demo", "--json", str(DEMO_SITE)]) == 0
    data = json.loads(capsys.readouterr().out)
    grid, house = data["devices"][0], data["devices"][1]
    assert grid["interval_s"] == 1.0  # set in the demo file (a DSMR 5 telegram every second)
    assert house["interval_s"] == 5.0  # the default for a submeter
    assert data["store"]["retention"][2]["keep"] is None


def test_check_as_a_subprocess_prints_no_traceback(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text(
        SITE + DEV + "  - id: grid\n    role: grid_meter\n    connection:\n"
        "      type: modbus_tcp\n      host: 10.0.0.2\n      port: 5o2\n",
        encoding="utf-8",
    )
    exe = Path(sys.executable).with_name("wattwerk")
    proc = subprocess.run(
        [str(exe), "check", "site.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == 'site.yaml:11: devices[0].connection.port: expected an integer, got "5o2"\n'
    assert proc.stdout == ""


# ------------------------------------------------------------------ docs


def _fields(model: type[BaseModel], seen: set[type]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            tp = stack.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                names |= _fields(tp, seen)
            stack.extend(typing.get_args(tp))
    return names


def test_docs_describe_every_field():
    text = DOCS.read_text(encoding="utf-8")
    models = [SiteConfig, *DEVICE_MODELS]
    missing = sorted(n for n in set().union(*(_fields(m, set()) for m in models)) if f"`{n}`" not in text)
    assert missing == []
