"""deploy/: the systemd unit (systemd-analyze where available, keys always), install.sh in --dry-run,
update.sh for real in a scratch prefix with stand-ins for python/pip/systemctl, logrotate for real."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "wattwerk-edge.service"


def unit_sections() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():  # repeated keys are legal in units: keep them all
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_runs_the_edge_as_its_own_user_with_serial_ports_and_network() -> None:
    s = unit_sections()
    svc = s["Service"]
    # on the LAN, as docs/install.md promises (the page has a login; docs/security.md)
    assert svc["ExecStart"] == ["/opt/wattwerk/.venv/bin/wattwerk run /etc/wattwerk/site.yaml --host 0.0.0.0"]
    assert svc["Type"] == ["simple"] and "WatchdogSec" not in svc
    assert svc["User"] == ["wattwerk"] and svc["Restart"] == ["on-failure"]
    assert svc["SupplementaryGroups"] == ["dialout"]
    assert svc["ProtectSystem"] == ["strict"] and svc["NoNewPrivileges"] == ["yes"]
    # hardening must not take the serial ports or the network away
    assert "PrivateDevices" not in svc and "DevicePolicy" not in svc
    assert "PrivateNetwork" not in svc and "IPAddressDeny" not in svc
    families = svc["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    # it may write its data and its own config, nothing else
    assert svc["StateDirectory"] == ["wattwerk"] and "/etc/wattwerk" in svc["ReadWritePaths"][0]
    assert s["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in s["Unit"]["After"][0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at a stand-in, change nothing else
    exe = tmp_path / "wattwerk"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/wattwerk/.venv/bin/wattwerk", str(exe)))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == ""  # unknown keys and bad values only warn; we want none
    sec = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", sec.stdout)
    assert level is not None, sec.stdout[-500:]
    assert float(level.group(1)) <= 3.0  # "OK" on systemd's scale; 9.6 is an unhardened service


# ---------------------------------------------------------------- install.sh


def dry_install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WATTWERK_PREFIX": str(tmp_path / "opt"),
        "WATTWERK_ETC": str(tmp_path / "etc"),
        "WATTWERK_DATA": str(tmp_path / "data"),
        "WATTWERK_UNIT_DIR": str(tmp_path / "units"),
        "WATTWERK_USER": "wattwerk-test-nobody",
        "WATTWERK_LOGROTATE_DIR": str(tmp_path / "logrotate.d"),
    }
    return subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--dry-run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_install_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    out = dry_install(tmp_path)
    assert out.returncode == 0, out.stderr
    cmds = [line[2:] for line in out.stdout.splitlines() if line.startswith("+ ")]
    text = "\n".join(cmds)
    assert re.search(r"^useradd --system .*wattwerk-test-nobody$", text, re.M)
    assert re.search(rf"-m venv {tmp_path}/opt/releases/\d{{8}}T\d{{6}}Z/venv", text)
    assert re.search(r"pip install --quiet /\S+$", text, re.M)
    assert f"ln -sfn {tmp_path}/opt/releases/" in text
    assert re.search(rf"install -m 0660 .*examples/site.yaml {tmp_path}/etc/site.yaml", text)
    assert f"install -m 0644 {DEPLOY}/wattwerk-edge.service {tmp_path}/units/wattwerk-edge.service" in text
    assert "systemctl enable wattwerk-edge.service" in text
    assert "systemctl start" not in text and "systemctl restart" not in text  # the example is not a site
    assert "not started yet" in out.stdout
    assert list(tmp_path.iterdir()) == []  # a dry run creates nothing


def test_install_a_second_time_keeps_config_venv_and_running_service(tmp_path: Path) -> None:
    (tmp_path / "opt" / "releases" / "r1" / "venv" / "bin").mkdir(parents=True)
    wattwerk = tmp_path / "opt" / "releases" / "r1" / "venv" / "bin" / "wattwerk"
    wattwerk.write_text("#!/bin/sh\nexit 0\n")
    wattwerk.chmod(0o755)
    (tmp_path / "opt" / ".venv").symlink_to(tmp_path / "opt" / "releases" / "r1" / "venv")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "site.yaml").write_text("# mine\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "units").mkdir()
    shutil.copy(UNIT, tmp_path / "units" / UNIT.name)
    out = dry_install(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "keeping your configuration" in out.stdout
    assert "wattwerk is installed" in out.stdout and "unit wattwerk-edge.service is up to date" in out.stdout
    cmds = "\n".join(line for line in out.stdout.splitlines() if line.startswith("+ "))
    assert "-m venv" not in cmds and "site.yaml" not in cmds and "daemon-reload" not in cmds
    assert "systemctl start wattwerk-edge.service" in cmds and "restart" not in cmds
    assert (tmp_path / "etc" / "site.yaml").read_text() == "# mine\n"


def test_install_refuses_a_source_that_is_not_a_checkout(tmp_path: Path) -> None:
    out = dry_install(tmp_path, "--from", str(tmp_path))
    assert out.returncode == 1 and "not a wattwerk checkout" in out.stderr


# ---------------------------------------------------------------- update.sh


FAKE_PYTHON = """#!/bin/sh
# stand-in for "python3 -m venv DIR": a venv whose pip succeeds and whose wattwerk check
# exits with $FAKE_CHECK_RC
[ "$1" = -m ] && [ "$2" = venv ] || exit 2
mkdir -p "$3/bin"
printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip"
printf '#!/bin/sh\\n[ "$1" = --version ] && echo new && exit 0\\n' > "$3/bin/wattwerk"
printf 'exit ${FAKE_CHECK_RC:-0}\\n' >> "$3/bin/wattwerk"
chmod +x "$3/bin/pip" "$3/bin/wattwerk"
"""
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
[ "$1" = is-active ] && exit ${FAKE_ACTIVE_RC:-0}
exit 0
"""


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """A scratch installation with one release, and stand-ins for python3 and systemctl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python3", FAKE_PYTHON), ("systemctl", FAKE_SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    prefix = tmp_path / "opt"
    first = prefix / "releases" / "20200101T000000Z" / "venv"
    subprocess.run([str(bin_dir / "python3"), "-m", "venv", str(first)], check=True)
    (prefix / ".venv").symlink_to(first)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "site.yaml").write_text("site: {}\n")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WATTWERK_PREFIX": str(prefix),
        "WATTWERK_ETC": str(tmp_path / "etc"),
        "SETTLE_S": "0",
        "PYTHON": str(bin_dir / "python3"),
        "FAKE_LOG": str(tmp_path / "systemctl.log"),
    }


def update(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY / "update.sh"), "--from", str(DEPLOY.parent), *args],
        capture_output=True,
        text=True,
        env={**env, **extra},
        timeout=60,
    )


def current(env: dict[str, str]) -> str:
    return os.readlink(Path(env["WATTWERK_PREFIX"]) / ".venv")


def test_update_switches_to_a_new_release_and_restarts(installed: dict[str, str]) -> None:
    old = current(installed)
    out = update(installed)
    assert out.returncode == 0, out.stderr + out.stdout
    new = current(installed)
    assert new != old and Path(new).is_dir() and Path(old).is_dir()  # the old one stays for --rollback
    assert "restart wattwerk-edge.service" in Path(installed["FAKE_LOG"]).read_text()
    assert (Path(installed["WATTWERK_ETC"]) / "site.yaml").read_text() == "site: {}\n"
    back = update(installed, "--rollback")
    assert back.returncode == 0, back.stderr
    assert current(installed) == old


def test_update_keeps_the_old_release_when_check_fails(installed: dict[str, str]) -> None:
    old = current(installed)
    out = update(installed, FAKE_CHECK_RC="1")
    assert out.returncode == 1 and "rejects" in out.stderr
    assert current(installed) == old
    releases = sorted(p.name for p in (Path(installed["WATTWERK_PREFIX"]) / "releases").iterdir())
    assert releases == ["20200101T000000Z"]  # the rejected build is gone
    assert not Path(installed["FAKE_LOG"]).exists()  # and the service was never touched


def test_update_rolls_back_when_the_service_does_not_stay_up(installed: dict[str, str]) -> None:
    old = current(installed)
    out = update(installed, FAKE_ACTIVE_RC="3")
    assert out.returncode == 1 and "rolling back" in out.stderr
    assert current(installed) == old
    assert Path(installed["FAKE_LOG"]).read_text().count("restart wattwerk-edge.service") == 2


def test_update_dry_run_changes_nothing(installed: dict[str, str]) -> None:
    old = current(installed)
    out = update(installed, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "+ ln -sfn" in out.stdout and "check" in out.stdout
    assert current(installed) == old
    assert len(list((Path(installed["WATTWERK_PREFIX"]) / "releases").iterdir())) == 1


# ---------------------------------------------------------------- logrotate


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate not installed")
def test_logrotate_config_rotates_a_log(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "edge.log").write_text("line\n" * 100)
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    conf = DEPLOY.joinpath("logrotate").read_text()
    conf = conf.replace("/var/log/wattwerk", str(logs)).replace("su wattwerk wattwerk", f"su {me} {group}")
    (tmp_path / "logrotate.conf").write_text(conf)
    cmd = ["logrotate", "--force", "--state", str(tmp_path / "state"), str(tmp_path / "logrotate.conf")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (logs / "edge.log.1").read_text() == "line\n" * 100  # delaycompress: the newest stays plain
    assert (logs / "edge.log").read_text() == ""  # copytruncate: same file, emptied
