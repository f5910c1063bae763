"""The edge as an attacker meets it: ``wattwerk run`` as a subprocess on loopback, with a site
file of the test's making. Fixtures for the edge's security tests (tests/security/test_edge_*)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from wattwerk.edge.auth import EdgeAuth

PASSWORD = "a long admin password"
SITE = """\
version: 1
site:
  name: Security house
  location: {{latitude: 52.5, longitude: 13.4}}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    connection: {grid}
  - id: sub
    role: submeter
    connection: {{type: tcp, host: 127.0.0.1, port: {dead_port}}}
{more_devices}store:
  data_dir: {data_dir}
{more}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningEdge:
    """A ``wattwerk run`` process: its page's URL, data dir, site file and log."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    site: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False, **kw)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def signed_in(self, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """A client with the session cookie and the CSRF token header."""
        with self.client() as client:
            res = client.post("/api/auth/login", json={"password": password})
            assert res.status_code == 200, res.text
            client.headers["X-CSRF-Token"] = res.json()["csrf"]
            yield client


def write_site(tmp_path: Path, *, more: str = "", more_devices: str = "", grid: str | None = None) -> Path:
    """The site file: a grid meter (``grid``: its connection; default a TCP port nobody serves),
    a submeter, ``more_devices`` and ``more`` sections."""
    site = tmp_path / "site.yaml"
    dead = free_port()
    grid = grid or f"{{type: tcp, host: 127.0.0.1, port: {dead}}}"
    site.write_text(
        SITE.format(
            dead_port=dead, data_dir=tmp_path / "var", more=more, more_devices=more_devices, grid=grid
        )
    )
    return site


def start_edge(
    tmp_path: Path,
    *,
    more: str = "",
    more_devices: str = "",
    grid: str | None = None,
    password: str | None = PASSWORD,
    args: tuple[str, ...] = (),
) -> RunningEdge:
    """Start ``wattwerk run`` and wait until its page answers; ``password`` None: a first start."""
    site = write_site(tmp_path, more=more, more_devices=more_devices, grid=grid)
    data_dir = tmp_path / "var"
    if password is not None:
        EdgeAuth(data_dir, default_names=False).set_password(password)
    port = free_port()
    log = tmp_path / "edge.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if os.environ.get("WATTWERK_RUN_SRC"):  # another checkout's src/ (to see a test fail on older code)
        env["PYTHONPATH"] = os.environ["WATTWERK_RUN_SRC"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wattwerk", "run", str(site), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    edge = RunningEdge(proc, port, data_dir, site, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"wattwerk run ended with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return edge
        time.sleep(0.1)
    stop_edge(edge)
    pytest.fail(f"wattwerk run did not listen on {port} within 90 s:\n{log.read_text()}")


def stop_edge(edge: RunningEdge) -> None:
    if edge.proc.poll() is None:
        edge.proc.terminate()
        try:
            edge.proc.wait(30)
        except subprocess.TimeoutExpired:
            edge.proc.kill()
            edge.proc.wait(10)


@contextlib.contextmanager
def running_edge(tmp_path: Path, **kw: object) -> Iterator[RunningEdge]:
    edge = start_edge(tmp_path, **kw)  # type: ignore[arg-type]
    try:
        yield edge
    finally:
        stop_edge(edge)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[RunningEdge]:
    """An installed edge (admin password set), live view not public: the default."""
    with running_edge(tmp_path) as e:
        yield e


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        with contextlib.suppress(FileNotFoundError), open(table) as fh:
            for line in fh.readlines()[1:]:
                cols = line.split()
                addr, hex_port = cols[1].split(":")
                if cols[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(addr)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host order words
                found.add(socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, words))
    return found
