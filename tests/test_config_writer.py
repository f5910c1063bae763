"""config.writer: edits keep comments, are validated like ``wattwerk check`` and written atomically."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from wattwerk.config import ConfigError, load_config
from wattwerk.config.writer import add_device, guess_style, set_role, set_section
from wattwerk.edge.check import run as check_run

SITE = """\
# my house (this comment must survive)
version: 1
site:
  name: Test house   # trailing comment
  location: {latitude: 48.1, longitude: 11.6}
  timezone: Europe/Berlin

devices:
  # the meter in the cellar
  - id: grid
    role: grid_meter
    connection: {type: sim}
"""

PV = {
    "id": "pv1",
    "role": "pv",
    "kwp": 6.5,
    "catalog": "pv_inverter/sunspec-inverter-int",
    "connection": {"type": "modbus_tcp", "host": "192.168.1.40", "port": 502, "unit": 1},
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(SITE)
    return p


def test_add_device_keeps_comments_and_validates(site: Path) -> None:
    cfg = add_device(site, PV, comment="added by a test")
    text = site.read_text()
    assert text.startswith(SITE.rstrip("\n"))  # everything before is byte for byte the same
    for comment in ("# added by a test", "# trailing comment", "# the meter in the cellar"):
        assert comment in text
    assert [d.id for d in cfg.devices] == ["grid", "pv1"]
    again = load_config(site)
    assert again.device("pv1").connection.host == "192.168.1.40"  # type: ignore[union-attr]
    assert again == cfg


def test_invalid_result_is_refused_with_line_exact_messages_and_file_untouched(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = PV | {"kwp": -1.0, "connection": {"type": "modbus_tcp", "host": "x", "port": 70000}}
    before = site.read_bytes()
    with pytest.raises(ConfigError) as err:
        add_device(site, bad)
    assert site.read_bytes() == before
    assert not [p for p in site.parent.iterdir() if p.name != "site.yaml"]  # no temp file left behind
    # the same messages `wattwerk check` prints for that content
    probe = site.parent / "probe.yaml"
    probe.write_text(
        SITE + "  - id: pv1\n    role: pv\n    kwp: -1.0\n"
        "    catalog: pv_inverter/sunspec-inverter-int\n"
        "    connection:\n      type: modbus_tcp\n      host: x\n      port: 70000\n"
    )
    assert check_run(argparse.Namespace(config=[str(probe)], json=False, demo=False)) == 1
    shown = capsys.readouterr().err.strip().splitlines()
    assert [line.replace(str(probe), str(site)) for line in shown] == err.value.lines
    assert any(":15: devices[1].kwp" in line for line in err.value.lines)


def test_duplicate_id_and_second_grid_meter_refused(site: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate device id"):
        add_device(site, PV | {"id": "grid"})
    with pytest.raises(ConfigError, match="only one device may have role grid_meter"):
        add_device(site, PV | {"role": "grid_meter", "kwp": None})
    assert site.read_text() == SITE


def test_set_section_and_role(site: Path) -> None:
    cfg = set_section(site, "portal", {"url": "https://portal.example", "token": "t0k", "site": "s1"})
    assert cfg.portal is not None and cfg.portal.url == "https://portal.example"
    cfg = set_section(site, "portal", {"url": "https://other.example", "token": "t1", "site": "s2"})
    assert cfg.portal is not None and cfg.portal.token.get_secret_value() == "t1" and cfg.portal.site == "s2"
    add_device(site, {"id": "sub", "role": "submeter", "connection": {"type": "sim"}})
    with pytest.raises(ConfigError, match="only one device may have role grid_meter"):
        set_role(site, "sub", "grid_meter")
    with pytest.raises(ConfigError, match='no device with id "nope"'):
        set_role(site, "nope", "pv")
    assert "# my house" in site.read_text()


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        add_device(tmp_path / "missing.yaml", PV)


OTHER_STYLE = """\
version: 1
site:
    name: Four spaces    # and sequences flush with their key
    location:
        latitude: 48.1
        longitude: 11.6
    timezone: Europe/Berlin
devices:
- id: grid
  role: grid_meter
  connection:
      type: sim
"""


@pytest.mark.parametrize("text", [SITE, OTHER_STYLE])
def test_the_files_own_indentation_is_kept(tmp_path: Path, text: str) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(text)
    add_device(site, PV)
    out = site.read_text()
    assert out.startswith(text)
    assert load_config(site).device("pv1").connection.port == 502  # type: ignore[union-attr]


def test_guess_style() -> None:
    assert guess_style(SITE) == (2, 4, 2)
    assert guess_style(OTHER_STYLE) == (4, 2, 0)
    assert guess_style("version: 1\n") == (2, 4, 2)
