"""Setup without editing YAML: find a device in the catalogue, test its connection, save it.

The site file stays the single source of truth: ``Setup.save`` writes it through
``wattwerk.config.writer`` (comments kept, validated like ``wattwerk check``, atomic), and only a
saved, valid device is handed to the running edge (``EdgeRuntime.add_device``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from wattwerk.config import ConfigError, DeviceBase, ModbusTcpConnection, SiteConfig, load_config
from wattwerk.config.writer import add_device, apply
from wattwerk.devices.catalog import Item, find, load_catalog
from wattwerk.devices.device import ModbusDevice, SunSpecDevice, create, link_config
from wattwerk.devices.status import status
from wattwerk.edge.live import NotingLedger
from wattwerk.edge.runtime import Polled
from wattwerk.errors import InputLedger, PermanentError, WattwerkError
from wattwerk.protocols.modbus import ModbusLink

# catalogue category -> the role a device of it plays in the site file
CATEGORY_ROLES: dict[str, str] = {
    "pv_inverter": "pv",
    "hybrid_battery_inverter": "battery",
    "ev_charger": "ev_charger",
    "heat_pump": "heat_pump",
    "heating_rod": "heating_rod",
    "electricity_meter": "submeter",
    "heat_meter": "submeter",
    "gas_meter": "submeter",
    "chp": "chp",
    "fuel_cell": "fuel_cell",
    "electrolyser": "electrolyser",
}
# fields a role needs in the site file (the form asks for them), with a hint
ROLE_FIELDS: dict[str, list[tuple[str, str]]] = {
    "pv": [("kwp", "peak power in kWp")],
    "battery": [
        ("capacity_wh", "usable capacity in Wh"),
        ("max_charge_w", "max charge power in W"),
        ("max_discharge_w", "max discharge power in W"),
    ],
    "heating_rod": [("max_power_w", "max power in W")],
}
LIMIT_FIELDS = frozenset({"max_power_w"})  # form fields that go under ``limits:``
MODBUS = frozenset({"modbus_tcp", "sunspec"})
TEST_TIMEOUT_S = 3.0


def _entry_json(item: Item) -> dict[str, Any]:
    e = item.entry
    supported, reason = status(item)
    role = CATEGORY_ROLES.get(item.category, "submeter")
    return {
        "key": item.key,
        "id": e.id,
        "category": item.category,
        "vendor": item.vendor,
        "models": e.models,
        "protocols": list(e.protocols),
        "port": e.connection.port,
        "unit": e.connection.unit,
        "capabilities": list(e.capabilities),
        "status": supported,
        "reason": reason,
        "role": role,
        "fields": [{"name": n, "hint": h} for n, h in ROLE_FIELDS.get(role, [])],
        "can_add": bool(MODBUS & set(e.protocols)) and e.untested is None,
    }


def search_catalog(query: str = "", limit: int = 40) -> list[dict[str, Any]]:
    """Entries whose vendor, model, id or category contains every word of ``query`` (any case)."""
    words = query.lower().split()
    out = []
    for item in load_catalog():
        text = " ".join([item.vendor, item.category, item.entry.id, *item.entry.models]).lower()
        if all(w in text for w in words):
            out.append(_entry_json(item))
            if len(out) >= limit:
                break
    return out


def _entry(key: str) -> Item:
    return find(key.rsplit("/", 1)[-1])


def driver_for(
    item: Item,
    *,
    device_id: str,
    host: str,
    port: int,
    unit: int,
    ledger: InputLedger,
    timeout_s: float = TEST_TIMEOUT_S,
    retries: int = 2,
) -> ModbusDevice | SunSpecDevice:
    """The driver for a catalogue entry at a Modbus TCP address."""
    if not MODBUS & set(item.entry.protocols):
        raise PermanentError(
            f"{item.entry.id} speaks {', '.join(item.entry.protocols)}, not Modbus TCP; "
            "add it to the site file by hand for now"
        )
    link = ModbusLink(link_config(item.entry, host=host, port=port, timeout=timeout_s, retries=retries))
    return create(item.entry, link, device_id=device_id, unit=unit, ledger=ledger)


@dataclass
class TryResult:
    ok: bool
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    info: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "values": self.values, "error": self.error, "info": self.info}


async def try_device(
    key: str, host: str, port: int, unit: int, *, device_id: str = "test", timeout_s: float = TEST_TIMEOUT_S
) -> TryResult:
    """Connect, read once, and say what came back or precisely what went wrong. Never raises."""
    ledger = NotingLedger()
    try:
        item = _entry(key)
        device = driver_for(
            item,
            device_id=device_id,
            host=host,
            port=port,
            unit=unit,
            ledger=ledger,
            timeout_s=timeout_s,
            retries=0,
        )
    except WattwerkError as exc:
        return TryResult(False, error=str(exc))
    try:
        if isinstance(device, SunSpecDevice):
            await asyncio.wait_for(device.setup(), 4 * timeout_s)
        readings = await asyncio.wait_for(device.read(), 4 * timeout_s)
    except TimeoutError:
        return TryResult(False, error=f"{host}:{port}: no answer within {4 * timeout_s:g} s")
    except Exception as exc:  # the message is the point: show it, whatever the transport raised
        return TryResult(False, error=str(exc) or type(exc).__name__)
    finally:
        device.link.close()
    prefix = f"{device_id}."
    values = {r.channel.removeprefix(prefix): round(r.value, 3) for r in readings}
    info = dict(getattr(device, "info", {}) or {})
    if not values:
        last = ledger.last.get(device_id)
        why = last[1] if last else "the device answered but gave no values"
        return TryResult(False, error=why, info=info)
    return TryResult(True, values=values, info=info)


_ID = re.compile(r"[^a-z0-9_]+")


def suggest_id(cfg: SiteConfig, base: str) -> str:
    """A device id not yet used in ``cfg``: ``pv``, ``pv2``, ``pv3`` …"""
    base = _ID.sub("_", base.lower()).strip("_") or "device"
    used = {d.id for d in cfg.devices}
    if base not in used:
        return base
    n = 2
    while f"{base}{n}" in used:
        n += 1
    return f"{base}{n}"


def device_entry(form: Mapping[str, Any]) -> dict[str, Any]:
    """The site-file entry for a device added in the UI (form fields as the page sends them)."""
    item = _entry(str(form["catalog"]))
    role = str(form.get("role") or CATEGORY_ROLES.get(item.category, "submeter"))
    entry: dict[str, Any] = {"id": form.get("id"), "role": role}
    if form.get("name"):
        entry["name"] = form["name"]
    entry["catalog"] = item.key
    entry["connection"] = {
        "type": "modbus_tcp",
        "host": form.get("host"),
        "port": form.get("port"),
        "unit": form.get("unit"),
    }
    if form.get("interval_s") is not None:
        entry["interval_s"] = form["interval_s"]
    for name, _ in ROLE_FIELDS.get(role, []):
        if form.get(name) is not None:
            if name in LIMIT_FIELDS:
                entry.setdefault("limits", {})[name] = form[name]
            else:
                entry[name] = form[name]
    return entry


def _new_device_problems(cfg: SiteConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """What `wattwerk run` would refuse in the device just added (the last one): the same dry build
    as `wattwerk check`. The rest of the file may still be unfinished (no grid meter yet)."""
    from wattwerk.edge.check import dry_check

    last = ("devices", len(cfg.devices) - 1)
    return [(loc, msg) for loc, msg in dry_check(cfg, read_only=True) if loc[:2] == last]


class Setup:
    """Setup actions on one site file, optionally handing saved devices to a running runtime.

    ``on_config`` is called with the new configuration after every successful save, so views
    that show the configuration (``RuntimeView.cfg``) follow it.
    """

    def __init__(self, path: str | Path, *, runtime: Any = None, on_config: Any = None) -> None:
        self.path = Path(path)
        self.runtime = runtime
        self.on_config = on_config

    def config(self) -> SiteConfig:
        return load_config(self.path)

    def _saved(self, cfg: SiteConfig) -> SiteConfig:
        if self.on_config is not None:
            self.on_config(cfg)
        return cfg

    def save_device(self, form: Mapping[str, Any]) -> SiteConfig:
        """Add the device to the site file (ConfigError, file untouched, when the result is invalid)
        and start polling it."""
        try:
            entry = device_entry(form)
            item = _entry(entry["catalog"])
            if not MODBUS & set(item.entry.protocols) or item.entry.untested is not None:
                raise PermanentError(
                    f"{item.entry.id} cannot be added here yet (protocols: "
                    f"{', '.join(item.entry.protocols)}); add it to the site file by hand"
                )
        except PermanentError as exc:
            raise ConfigError([f"{self.path}: {exc}"]) from None
        cfg = add_device(
            self.path,
            entry,
            comment=f"added in the web UI ({_entry(entry['catalog']).vendor})",
            check=_new_device_problems,
        )
        dev = cfg.device(str(entry["id"]))
        if self.runtime is not None:
            self.runtime.add_device(self.polled(dev))
        return self._saved(cfg)

    def polled(self, dev: DeviceBase) -> Polled:
        """The runtime's poll entry for a configured catalogue device on Modbus TCP."""
        conn = dev.connection
        if dev.catalog is None or not isinstance(conn, ModbusTcpConnection):
            raise PermanentError(f"{dev.id}: only catalogue devices on Modbus TCP can be added while running")
        ledger = self.runtime.ledger if self.runtime is not None else InputLedger()
        driver = driver_for(
            _entry(dev.catalog),
            device_id=dev.id,
            host=conn.host,
            port=conn.port,
            unit=conn.unit,
            ledger=ledger,
            timeout_s=conn.timeout_s,
        )
        return Polled(dev.id, driver, dev.interval_s, timeout_s=max(5.0, 3 * conn.timeout_s))

    def choose_grid_meter(self, device_id: str) -> SiteConfig:
        """Make ``device_id`` the grid meter; a previous grid meter becomes a submeter."""

        def change(doc: CommentedMap) -> None:
            found = False
            for dev in doc.get("devices") or []:
                if not isinstance(dev, Mapping):
                    continue
                if dev.get("id") == device_id:
                    dev["role"] = "grid_meter"
                    found = True
                elif dev.get("role") == "grid_meter":
                    dev["role"] = "submeter"
            if not found:
                raise ConfigError([f'{self.path}: no device with id "{device_id}"'])

        return self._saved(apply(self.path, change))

    def set_portal(
        self, url: str, token: str, site: str, edge_id: str | None = None, label: str | None = None
    ) -> SiteConfig:
        """Write the ``portal`` section after pairing (a previous portal's CA file and pin go with it);
        ``label``: the owner's name for the site on the portal, shown instead of its id."""
        from wattwerk.config.writer import set_section

        section = {"url": url, "token": token, "site": site, "edge_id": edge_id, "label": label}
        return self._saved(set_section(self.path, "portal", {k: v for k, v in section.items() if v}))
