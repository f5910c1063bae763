"""Issue 15, finding 8: the OCPP central system of ``wattwerk run`` binds where ``--host`` says, asks
for passwords beyond loopback, and a client using a connected charger's id cannot take its place.
The chargers are the ``ocpp`` library's own charge point client."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from ocpp import v16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from security.edge_processes import free_port, listening_addresses, running_edge, write_site

CHARGER = """\
  - id: wb
    role: ev_charger
    connection: {{type: ocpp, charge_point_id: wallbox-1, port: {port}{extra}}}
    limits: {{max_current_a: 16}}
"""


def charger_site(port: int, extra: str = "") -> str:
    return CHARGER.format(port=port, extra=extra)


async def listening(port: int, timeout_s: float = 60.0) -> set[str]:
    """The OCPP port's listening addresses, once it listens (it starts with the first poll)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = listening_addresses(port)
        if found:
            return found
        await asyncio.sleep(0.1)
    pytest.fail(f"nothing listens on the OCPP port {port}")


@asynccontextmanager
async def charge_point(
    port: int, cp_id: str = "wallbox-1", password: str | None = None
) -> AsyncIterator[v16.ChargePoint]:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    async with connect(
        f"ws://127.0.0.1:{port}/{cp_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        cp = v16.ChargePoint(cp_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def boot(cp: v16.ChargePoint) -> Any:
    return await cp.call(v16.call.BootNotification(charge_point_model="M1", charge_point_vendor="V1"))


async def test_the_ocpp_server_listens_only_where_host_says(tmp_path: Path) -> None:
    port = free_port()
    with running_edge(tmp_path, more_devices=charger_site(port)):
        assert await listening(port) == {"127.0.0.1"}


def test_beyond_loopback_every_charger_needs_a_password(tmp_path: Path) -> None:
    site = write_site(tmp_path, more_devices=charger_site(free_port()))
    env = dict(os.environ)
    if os.environ.get("WATTWERK_RUN_SRC"):  # as in edge_processes.start_edge
        env["PYTHONPATH"] = os.environ["WATTWERK_RUN_SRC"]
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "wattwerk",
                "run",
                str(site),
                "--host",
                "0.0.0.0",
                "--port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("wattwerk run served chargers on 0.0.0.0 without a password")
    assert out.returncode == 78  # EX_CONFIG: the unit does not restart on it; the file needs a password
    assert "OCPP listens on 0.0.0.0: wb need connection.password" in out.stderr
    assert "Traceback" not in out.stderr


async def test_a_second_client_with_a_connected_chargers_id_is_refused(tmp_path: Path) -> None:
    port = free_port()
    site = charger_site(port, ", password: charger-secret-1")
    with running_edge(tmp_path, more_devices=site) as edge:
        await listening(port)
        with pytest.raises(InvalidStatus) as no_password:
            async with charge_point(port):
                pass
        assert no_password.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as unknown:
            async with charge_point(port, "someone-else", password="charger-secret-1"):
                pass
        assert unknown.value.response.status_code == 404
        async with charge_point(port, password="charger-secret-1") as real:
            assert (await boot(real)).status == "Accepted"
            with pytest.raises(InvalidStatus) as taken:
                async with charge_point(port, password="charger-secret-1"):
                    pass
            assert taken.value.response.status_code == 409
            await real.call(v16.call.Heartbeat())  # the real charger's link is still the edge's
            assert real._connection.state.name == "OPEN"
        log = edge.log.read_text()
        assert "wallbox-1: refused a second connection from 127.0.0.1" in log
