"""Issue 15, finding 14, the broker's side: a Mosquitto of the test's own (TLS, users, and the ACL
docs/security.md shows) with the edge connecting as the site file says (``mqtt.tls``,
``ca_file``, ``username``, ``password``). Only the users the ACL names may send commands."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from security.edge_processes import free_port, write_site
from security.test_edge_ocpp import charger_site
from wattwerk.bench._testca import make_ca
from wattwerk.config import load_config
from wattwerk.edge.assembly import EdgeOptions, assemble

ROOT = Path(__file__).resolve().parents[2]
USERS = {"wattwerk": "edge-secret-1", "homeassistant": "ha-secret-1", "guest": "guest-secret-1"}


def documented_acl() -> str:
    """The ACL file as docs/security.md shows it (the test keeps the docs true)."""
    text = (ROOT / "docs" / "security.md").read_text()
    block = re.search(r"```\n# /etc/mosquitto/acl\n(.*?)```", text, re.S)
    assert block is not None, "docs/security.md lost its ACL example"
    return block.group(1)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Mosquitto with TLS on a free port, password file and the documented ACL; (port, CA file)."""
    certs = make_ca(tmp_path / "ca")
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    (tmp_path / "acl").write_text(documented_acl())
    port = free_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwd}\n"
        f"acl_file {tmp_path / 'acl'}\ncafile {certs.ca_cert}\ncertfile {certs.server_cert}\n"
        f"keyfile {certs.server_key}\n"
    )
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None:
                pytest.fail(f"mosquitto ended: {(tmp_path / 'mosquitto.log').read_text()}")
            time.sleep(0.05)
        yield port, certs.ca_cert
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def client(port: int, ca: Path, user: str | None) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=user,
        password=USERS.get(user or ""),
        tls_context=ssl.create_default_context(cafile=str(ca)),
        timeout=10,
    )


async def test_the_edge_uses_tls_and_credentials_and_only_acl_users_command(
    broker: tuple[int, Path], tmp_path: Path
) -> None:
    port, ca = broker
    site = write_site(
        tmp_path,
        more=(
            f"mqtt:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n  ca_file: {ca}\n  username: wattwerk\n"
            f"  password: {USERS['wattwerk']}\n  root: wattwerk/sec\n  discovery_prefix: null\n"
        ),
        more_devices=charger_site(free_port()),
    )
    with pytest.raises(aiomqtt.MqttError):  # anonymous clients are refused
        async with client(port, ca, None):
            pass
    edge = assemble(load_config(site), EdgeOptions(site_path=site))
    bridge = edge.mqtt_bridge()
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        async with client(port, ca, "homeassistant") as ha:
            await ha.subscribe("wattwerk/sec/status", qos=1)
            async with asyncio.timeout(20):
                async for message in ha.messages:  # the edge published over TLS with its user
                    if message.payload == b"online":
                        break
            await asyncio.wait_for(bridge.ready.wait(), 20)
            async with client(port, ca, "guest") as guest:  # a user the ACL gives no write
                await guest.publish("wattwerk/sec/wb/mode/set", b"now", qos=1)
            await asyncio.sleep(1.0)
            assert bridge.stats.accepted == 0 and edge.overrides == {}
            await ha.publish("wattwerk/sec/wb/mode/set", b"pv", qos=1)
            for _ in range(100):
                if bridge.stats.accepted:
                    break
                await asyncio.sleep(0.05)
            assert edge.overrides == {"wb": {"mode": "pv"}}
    finally:
        stop.set()
        await task
        edge.close()
