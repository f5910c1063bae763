"""The device object for a catalogue entry with a protocol of its own (``native:`` in the entry).

    device = create_for(entry, host="192.168.1.50", device_id="ev1", ledger=ledger)
    await device.read(); await device.set_current_limit(10); await device.aclose()

Modbus and SunSpec entries are built by ``devices.device.create`` over a shared link instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote, urlsplit

from wattwerk.devices.native import (
    HardyBarthDevice,
    KebaUdpDevice,
    KostalDxsDevice,
    KostalHtmlDevice,
    MyPvHttpDevice,
    NativeDevice,
    PulseCounterDevice,
)
from wattwerk.devices.profile import Entry
from wattwerk.devices.rct import RctDevice
from wattwerk.devices.relay import KMTRONIC_PORT, KmtronicUdp, RelayDevice
from wattwerk.devices.templates import HttpTemplate
from wattwerk.devices.tq_em import TqEmDevice
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import utcnow
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.protocols.keba import PORT as KEBA_PORT
from wattwerk.protocols.keba import KebaUdp
from wattwerk.protocols.rct import RctTcp


def create_for(
    entry: Entry,
    *,
    host: str,
    device_id: str,
    port: int | None = None,
    ledger: InputLedger | None = None,
    timeout: float = 3.0,
    auth: tuple[str, str] | None = None,
    local_port: int | None = None,
    charge_control: int = 1,
    meter: int | None = None,
    max_w: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> NativeDevice:
    """A driver for ``entry`` at ``host`` (``port``: the entry's default).

    ``host`` may also be a URL such as ``http://192.168.1.50:8080`` or ``udp://192.168.1.60`` (the site
    file's ``url``). ``local_port``: the UDP port a KEBA client listens on (7090, where the box answers;
    0 only for emulators that answer the sender). ``charge_control``/``meter``: eCB1 ids; ``max_w``:
    my-PV heater rating, or the bound of an RCT battery setpoint; ``clock``: timestamps (and the pulse
    meter's power averaging)."""
    if entry.untested is not None:
        raise PermanentError(f"{entry.id} is not supported yet: {entry.untested}")
    if entry.native == "http_json" and entry.http is not None:  # a user template: the site file's URL as is
        return _http_json(entry, entry.http, host, port, auth, timeout, device_id, ledger, clock)
    if "://" in host:
        url = urlsplit(host)
        if not url.hostname:
            raise PermanentError(f"{device_id}: no host in {host!r}")
        host, port = url.hostname, port or url.port
        if auth is None and url.password is not None:  # http://user:password@host in the site file
            auth = (url.username or "", url.password)
    common = {"device_id": device_id, "ledger": ledger, "clock": clock}
    kind = entry.native
    if kind == "keba_udp":
        client = KebaUdp(
            host,
            port or KEBA_PORT,
            local_port=KEBA_PORT if local_port is None else local_port,
            timeout=timeout,
            min_gap=max(0.1, entry.connection.pause),
        )
        return KebaUdpDevice(entry, client, **common)
    if kind == "wattpilot_ws":  # the password alone, in the url: ws://:PASSWORD@host
        from wattwerk.devices.wattpilot import WattpilotDevice

        url = f"ws://{host}:{port or entry.connection.port}/ws"
        return WattpilotDevice(entry, url, auth[1] if auth else "", timeout=timeout, **common)
    if kind == "rct":
        client = RctTcp(host, port or entry.connection.port, timeout=timeout)
        return RctDevice(entry, client, max_w=max_w or entry.rated_power or 6000.0, **common)
    if kind == "relay" and entry.relay is not None and entry.relay.dialect == "kmtronic_udp":
        return RelayDevice(entry, udp=KmtronicUdp(host, port or KMTRONIC_PORT, timeout), **common)
    base = f"http://{host}:{port or entry.connection.port}"
    if kind == "tq_em":  # its own login form, not HTTP authentication
        return TqEmDevice(entry, JsonHttp(base, timeout=timeout), password=auth[1] if auth else "", **common)
    http = JsonHttp(base, timeout=timeout, auth=auth)
    if kind == "hardy_barth":
        return HardyBarthDevice(
            entry,
            http,
            charge_control=charge_control,
            meter=meter,
            meter_only="charge_current" not in entry.capabilities,
            **common,
        )
    if kind == "mypv_http":
        return MyPvHttpDevice(entry, http, max_w=max_w or entry.rated_power or 3000.0, **common)
    if kind == "relay":
        return RelayDevice(entry, http=http, **common)
    if kind == "pulse_counter":
        return PulseCounterDevice(entry, http, **common)
    if kind == "kostal_dxs":
        return KostalDxsDevice(entry, http, **common)
    if kind == "kostal_html":
        return KostalHtmlDevice(entry, http, **common)
    raise PermanentError(
        f"{entry.id}: not a native-protocol entry; use devices.device.create with a Modbus link"
    )


def _http_json(
    entry: Entry,
    template: HttpTemplate,
    host: str,
    port: int | None,
    auth: tuple[str, str] | None,
    timeout: float,
    device_id: str,
    ledger: InputLedger | None,
    clock: Callable[[], datetime],
) -> NativeDevice:
    """A user template's driver: the site file's URL as is, its user:password for basic auth or,
    for a cloud API, for the entry's login."""
    from wattwerk.devices.custom import HttpJsonDevice

    url = urlsplit(host if "://" in host else f"http://{host}:{port or 80}")
    if auth is None and url.password is not None:  # http://user:password@host (percent-encoded)
        auth = (unquote(url.username or ""), unquote(url.password))
    root = f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}"
    login = None
    if template.login is not None:  # a cloud API: the url's user:password log in, no basic auth
        from wattwerk.devices.cloud_login import CloudLogin

        if auth is None:
            raise PermanentError(
                f"{device_id}: {entry.id} logs in to its cloud API: put user:password "
                "in the url (https://user:password@host/...)"
            )
        login = CloudLogin(template.login, JsonHttp(root, timeout=timeout), auth)
        auth = None
    http = JsonHttp(f"{root}{url.path}", timeout=timeout, auth=auth, headers=template.headers)
    return HttpJsonDevice(entry, http, device_id=device_id, ledger=ledger, clock=clock, login=login)
