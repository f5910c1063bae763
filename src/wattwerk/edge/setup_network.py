"""Installation wizard, network step: show the interfaces, build NetworkManager (``nmcli``) command
lines for DHCP or a static address on LAN or WLAN, and run them only when the OS allows it and the
user confirmed. Building is pure (tested); running is a separate, explicit step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from wattwerk.errors import PermanentError


@dataclass(frozen=True)
class NetworkRequest:
    interface: str
    mode: Literal["dhcp", "static"] = "dhcp"
    address: str | None = None  # "192.168.1.50/24" when static
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)
    ssid: str | None = None  # WLAN: the network to join
    psk: str | None = None  # WLAN password (WPA-PSK)
    connection: str | None = None  # NetworkManager's connection name; default: wattwerk-<interface>


def _check(req: NetworkRequest) -> None:
    if not req.interface or not req.interface.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise PermanentError(f"interface {req.interface!r}: expected a name such as eth0 or wlan0")
    if req.mode not in ("dhcp", "static"):
        raise PermanentError(f"mode {req.mode!r}: expected dhcp or static")
    if req.mode == "static":
        if not req.address:
            raise PermanentError("a static address needs an address with prefix, e.g. 192.168.1.50/24")
        try:
            iface = ipaddress.ip_interface(req.address)
        except ValueError:
            raise PermanentError(
                f"address {req.address!r}: expected an address with prefix, e.g. 192.168.1.50/24"
            ) from None
        if "/" not in req.address:
            raise PermanentError(f"address {req.address!r}: add the prefix length, e.g. /24")
        if req.gateway:
            try:
                gw = ipaddress.ip_address(req.gateway)
            except ValueError:
                raise PermanentError(f"gateway {req.gateway!r}: not an IP address") from None
            if gw not in iface.network:
                raise PermanentError(f"gateway {gw} is not in the network {iface.network}")
    for d in req.dns:
        try:
            ipaddress.ip_address(d)
        except ValueError:
            raise PermanentError(f"DNS server {d!r}: not an IP address") from None
    if req.psk is not None and not 8 <= len(req.psk) <= 63:
        raise PermanentError("a WPA password has 8 to 63 characters")


def nmcli_commands(req: NetworkRequest) -> list[list[str]]:
    """The ``nmcli`` command lines (argument lists, no shell) that configure ``req``."""
    _check(req)
    con = req.connection or f"wattwerk-{req.interface}"
    cmds: list[list[str]] = []
    if req.ssid:
        cmds.append(
            [
                "nmcli",
                "connection",
                "add",
                "type",
                "wifi",
                "ifname",
                req.interface,
                "con-name",
                con,
                "ssid",
                req.ssid,
            ]
        )
        if req.psk:
            cmds.append(
                [
                    "nmcli",
                    "connection",
                    "modify",
                    con,
                    "wifi-sec.key-mgmt",
                    "wpa-psk",
                    "wifi-sec.psk",
                    req.psk,
                ]
            )
    else:
        cmds.append(
            ["nmcli", "connection", "add", "type", "ethernet", "ifname", req.interface, "con-name", con]
        )
    if req.mode == "dhcp":
        cmds.append(
            [
                "nmcli",
                "connection",
                "modify",
                con,
                "ipv4.method",
                "auto",
                "ipv4.addresses",
                "",
                "ipv4.gateway",
                "",
                "ipv4.dns",
                ",".join(req.dns),
            ]
        )
    else:
        cmds.append(
            [
                "nmcli",
                "connection",
                "modify",
                con,
                "ipv4.method",
                "manual",
                "ipv4.addresses",
                str(req.address),
                "ipv4.gateway",
                req.gateway or "",
                "ipv4.dns",
                ",".join(req.dns),
            ]
        )
    cmds.append(["nmcli", "connection", "up", con])
    return cmds


def shown(cmds: list[list[str]]) -> list[str]:
    """The commands as a user reads them (the WLAN password hidden)."""
    out = []
    for cmd in cmds:
        words = ["********" if i and cmd[i - 1] == "wifi-sec.psk" else w for i, w in enumerate(cmd)]
        out.append(" ".join(w if w and " " not in w else json.dumps(w) for w in words))
    return out


# why the wizard may not change the network: code (the page's ``wizard.net_<code>``) -> English
CANNOT_APPLY = {
    "no_nmcli": "NetworkManager (nmcli) is not installed here; run the commands by hand",
    "not_root": "the edge does not run as root; run the commands with sudo",
    "readonly": "network changes are disabled (WATTWERK_NETWORK_READONLY)",
    "unconfirmed": "not confirmed: check the commands, then apply them",
}


def can_apply() -> tuple[bool, str]:
    """Whether this machine lets us change its network (NetworkManager present and root), and if
    not, why: a key of ``CANNOT_APPLY``."""
    if shutil.which("nmcli") is None:
        return False, "no_nmcli"
    if os.geteuid() != 0:
        return False, "not_root"
    if os.environ.get("WATTWERK_NETWORK_READONLY"):
        return False, "readonly"
    return True, ""


async def run_commands(cmds: list[list[str]], timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Run the commands in order, stopping at the first failure."""
    results = []
    for cmd in cmds:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        results.append(
            {
                "command": shown([cmd])[0],
                "rc": proc.returncode,
                "output": (out or err).decode(errors="replace").strip()[-500:],
            }
        )
        if proc.returncode:
            break
    return results


def interfaces() -> list[dict[str, Any]]:
    """The machine's interfaces with addresses (``ip -j addr``), read only."""
    ip = shutil.which("ip")
    if ip is not None:
        import subprocess

        try:
            raw = subprocess.run([ip, "-j", "addr"], capture_output=True, timeout=5, check=True).stdout
            return [
                {
                    "name": i.get("ifname"),
                    "state": i.get("operstate"),
                    "mac": i.get("address"),
                    "wireless": os.path.isdir(f"/sys/class/net/{i.get('ifname')}/wireless"),
                    "addresses": [
                        f"{a['local']}/{a['prefixlen']}" for a in i.get("addr_info", []) if "local" in a
                    ],
                }
                for i in json.loads(raw)
            ]
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return [
        {"name": name, "state": None, "mac": None, "wireless": False, "addresses": []}
        for _, name in socket.if_nameindex()
    ]
