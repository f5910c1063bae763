"""docs/install.md stays true: its site-file snippets pass the same validation as `wattwerk check`,
and the paths it names are the ones the unit file and the scripts use."""

from __future__ import annotations

import re
from pathlib import Path

from wattwerk.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "install.md").read_text()
SITE = """version: 1
site:
  name: Docs
  location: {latitude: 52.1, longitude: 5.1}
  timezone: Europe/Amsterdam
"""


def test_the_device_snippets_are_valid_site_files() -> None:
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if b.startswith("devices:")]
    assert blocks
    for block in blocks:
        config = parse_config(SITE + block, "install.md")
        serial = [d for d in config.devices if d.connection.type == "serial"]
        assert serial and all(d.connection.device.startswith("/dev/serial/by-id/") for d in serial)


def test_the_paths_in_the_guide_are_the_deployed_ones() -> None:
    unit = (ROOT / "deploy" / "wattwerk-edge.service").read_text()
    install = (ROOT / "deploy" / "install.sh").read_text()
    for path in ("/etc/wattwerk/site.yaml", "/opt/wattwerk/.venv"):
        assert path in DOC and path in unit
    for default in ("/opt/wattwerk}", "/etc/wattwerk}", "/var/lib/wattwerk}"):
        assert default in install
    assert "StateDirectory=wattwerk" in unit and "/var/lib/wattwerk/" in DOC
    assert "SupplementaryGroups=dialout" in unit and "dialout" in DOC
