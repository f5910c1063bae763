"""Installation wizard: nmcli command lines (built, never run here), the pairing code's checks."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from edge_login import signed_in_async, test_auth
from wattwerk.config import load_config
from wattwerk.edge import setup_network as net
from wattwerk.edge.live import RuntimeView
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.setup_pairing import check_code, pair
from wattwerk.edge.web import create_app
from wattwerk.errors import PermanentError, RetryableError

SITE = """\
version: 1
site:
  name: Wizard house   # comment kept
  location: {latitude: 48.1, longitude: 11.6}
  timezone: Europe/Berlin
"""


def test_static_lan_commands() -> None:
    req = net.NetworkRequest("eth0", "static", "192.168.1.50/24", "192.168.1.1", ["192.168.1.1", "9.9.9.9"])
    assert net.nmcli_commands(req) == [
        ["nmcli", "connection", "add", "type", "ethernet", "ifname", "eth0", "con-name", "wattwerk-eth0"],
        [
            "nmcli",
            "connection",
            "modify",
            "wattwerk-eth0",
            "ipv4.method",
            "manual",
            "ipv4.addresses",
            "192.168.1.50/24",
            "ipv4.gateway",
            "192.168.1.1",
            "ipv4.dns",
            "192.168.1.1,9.9.9.9",
        ],
        ["nmcli", "connection", "up", "wattwerk-eth0"],
    ]


def test_dhcp_wlan_commands_hide_the_password() -> None:
    req = net.NetworkRequest("wlan0", "dhcp", ssid="My WLAN", psk="s3cret-pass")
    cmds = net.nmcli_commands(req)
    assert cmds[0] == [
        "nmcli",
        "connection",
        "add",
        "type",
        "wifi",
        "ifname",
        "wlan0",
        "con-name",
        "wattwerk-wlan0",
        "ssid",
        "My WLAN",
    ]
    assert cmds[1][-2:] == ["wifi-sec.psk", "s3cret-pass"]
    assert cmds[2][4:6] == ["ipv4.method", "auto"]
    shown = net.shown(cmds)
    assert '"My WLAN"' in shown[0] and "s3cret-pass" not in " ".join(shown) and "********" in shown[1]


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (net.NetworkRequest("eth0", "static", "192.168.1.50"), "add the prefix length"),
        (net.NetworkRequest("eth0", "static", None), "needs an address"),
        (net.NetworkRequest("eth0", "static", "192.168.1.50/24", "10.0.0.1"), "not in the network"),
        (net.NetworkRequest("eth0; rm -rf /", "dhcp"), "expected a name"),
        (net.NetworkRequest("eth0", "dhcp", dns=["dns.example"]), "DNS server"),
        (net.NetworkRequest("wlan0", "dhcp", ssid="x", psk="short"), "8 to 63"),
    ],
)
def test_bad_requests_refused(req: net.NetworkRequest, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        net.nmcli_commands(req)


def test_interfaces_include_loopback() -> None:
    names = [i["name"] for i in net.interfaces()]
    assert "lo" in names


async def test_network_api_shows_commands_and_does_not_run_unconfirmed(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    app = create_app(
        RuntimeView(EdgeRuntime([]), load_config(site)), auth=test_auth(tmp_path), setup=Setup(site)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        await signed_in_async(client)
        info = (await client.get("/api/wizard/network")).json()
        assert any(i["name"] == "lo" for i in info["interfaces"]) and isinstance(info["can_apply"], bool)
        r = await client.post(
            "/api/wizard/network",
            json={"interface": "eth0", "mode": "static", "address": "10.1.2.3/16", "gateway": "10.1.0.1"},
        )
        body = r.json()
        assert r.status_code == 200 and not body["applied"]
        assert body["reason"] == (
            "not confirmed: check the commands, then apply them" if info["can_apply"] else info["reason"]
        )
        assert body["reason_code"] == ("unconfirmed" if info["can_apply"] else info["reason_code"])
        assert info["can_apply"] or net.CANNOT_APPLY[info["reason_code"]] == info["reason"]
        assert body["commands"][1].startswith("nmcli connection modify wattwerk-eth0 ipv4.method manual")
        r = await client.post("/api/wizard/network", json={"interface": "eth0", "mode": "static"})
        assert r.status_code == 422 and "needs an address" in r.json()["errors"][0]


def test_check_code() -> None:
    assert check_code("  abcd-efgh jkmn\n") == "ABCDEFGHJKMN"
    for bad in ("", "wwp_x", "x" * 41, "ABCD/EFGH"):
        with pytest.raises(PermanentError, match="pairing code"):
            check_code(bad)


async def test_pair_refuses_a_bad_url_and_a_dead_portal() -> None:
    """The exchange with the real portal: test_setup_pairing_portal.py."""
    with pytest.raises(PermanentError, match="expected an http"):
        await pair("portal.example", "ABCD-EFGH-JKMN")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(RetryableError, match="cannot reach"):
        await pair(dead, "ABCD-EFGH-JKMN")
