"""The edge on MQTT: every channel's latest value, availability, commands on ``.../set`` topics,
and Home Assistant MQTT discovery.

Topics under ``root`` (default ``wattwerk/<site>``):

* ``<root>/status`` — the edge: ``online`` (retained), ``offline`` as last will.
* ``<root>/<device>/status`` — ``online``/``offline`` (retained): offline while the device is stale.
* ``<root>/<device>/<quantity>`` — the latest value as a plain number.
* ``<root>/<device>/reason`` — the control's decision and why, in English (retained; a ``Decision``
  sensor in Home Assistant), for each device the control runs.
  **Retain rule:** power values (``Kind.POWER``, sent every second) are not retained, so a client
  that connects later never sees an old power as if it were now; counters, levels (SoC,
  temperature) and states change slowly and are retained, so a restarted dashboard has them at once.
* ``<root>/<device>/<command>/set`` — a command (``pv``, ``10``); accepted ones go to the
  ``on_command`` callback as a ``Command`` and are echoed (retained) on ``<root>/<device>/<command>``;
  rejected ones get a JSON reason on ``<root>/<device>/<command>/set/error`` and a log line.
  A *retained* ``…/set`` (the broker keeps it and hands it to every new subscriber, e.g. at each
  edge start) is never applied: it is counted (``rejected["retained"]``), logged once and cleared.
  Who may publish ``…/set`` at all is the broker's business: users and ACLs (docs/security.md).

Discovery configs (retained) go to ``homeassistant/<component>/<node>/<object>/config``: a
``sensor`` per channel (power ``measurement``; energy counters ``total_increasing``, device_class
energy, in Wh, so HA's energy dashboard takes them) and a ``number``/``select``/``text``/``button`` per
settable command (the owner's choices: charge mode, currents, phases, departure energy and time,
battery mode and reserve, boost / off; see ``devices_from_config``).

The bridge reads the site state through a ``Callable[[], Snapshot]`` (for a runtime:
``lambda: runtime.state.snapshot(utcnow())``); it needs no hook in the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aiomqtt

from wattwerk import __version__
from wattwerk.edge.mqtt_commands import (  # re-exported: importers use wattwerk.edge.mqtt_bridge
    PRESS,
    BridgeDevice,
    Command,
    CommandHandler,
    Rejected,
    Settable,
    format_value,
    parse_value,
)
from wattwerk.edge.owner import BOOST_MINUTES
from wattwerk.errors import PermanentError
from wattwerk.model import Kind, quantity_info, utcnow
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource, payload_bytes
from wattwerk.protocols.transport import Backoff
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.mqtt_bridge")

ONLINE, OFFLINE = "online", "offline"

# quantity prefix -> Home Assistant sensor device_class (the longest prefix wins, as in model.QUANTITIES)
DEVICE_CLASSES: dict[str, str] = {
    "power": "power",
    "reactive_power": "reactive_power",
    "apparent_power": "apparent_power",
    "energy": "energy",
    "heat_energy": "energy",
    "reactive_energy": "reactive_energy",
    "gas_volume": "gas",
    "water_volume": "water",
    "soc": "battery",
    "temperature": "temperature",
    "voltage": "voltage",
    "current": "current",
    "frequency": "frequency",
    "power_factor": "power_factor",
    "cycle_time": "duration",
}
STATE_CLASSES: dict[Kind, str | None] = {
    Kind.POWER: "measurement",
    Kind.GAUGE: "measurement",
    Kind.COUNTER: "total_increasing",
    Kind.STATE: None,
}
NUMBER_DEVICE_CLASSES = {"W": "power", "A": "current", "%": "battery"}


@dataclass
class BridgeStats:
    published: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    last_error: str | None = None


_SLUG = re.compile(r"[^a-z0-9_-]+")


def slug(text: str) -> str:
    """A topic level / HA node id: lower case, ``[a-z0-9_-]`` only."""
    return _SLUG.sub("_", text.lower()).strip("_") or "site"


def _prefix(quantity: str, table: Mapping[str, Any]) -> str | None:
    best = ""
    for prefix in table:
        if (quantity == prefix or quantity.startswith(prefix + "_")) and len(prefix) > len(best):
            best = prefix
    return best or None


def retained(quantity: str) -> bool:
    """The retain rule: everything except power values (see the module docstring)."""
    try:
        return quantity_info(quantity)[1] is not Kind.POWER
    except ValueError:
        return True


def _title(name: str) -> str:
    """``energy_import_t1`` -> ``Energy import T1``, ``power_l2`` -> ``Power L2``."""
    words = name.split("_")
    words = [w.upper() if re.fullmatch(r"[lt]\d", w) else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


class HomeAssistant:
    """Home Assistant MQTT discovery messages for one site (pure: topic -> config dict)."""

    def __init__(self, site: str, root: str, prefix: str = "homeassistant") -> None:
        self.site = slug(site)
        self.root = root
        self.prefix = prefix

    def node(self, device: str) -> str:
        return f"wattwerk_{self.site}_{slug(device)}"

    def edge_status(self) -> str:
        return f"{self.root}/status"

    def edge_block(self) -> dict[str, Any]:
        return {
            "identifiers": [f"wattwerk_{self.site}_edge"],
            "name": f"wattwerk {self.site}",
            "manufacturer": "wattwerk",
            "sw_version": __version__,
        }

    def device_block(self, device: BridgeDevice) -> dict[str, Any]:
        if device.id == "edge":  # the runtime's own channels (edge.cycle_time) belong to the edge device
            return self.edge_block()
        block: dict[str, Any] = {
            "identifiers": [self.node(device.id)],
            "name": device.name or device.id,
            "via_device": f"wattwerk_{self.site}_edge",
        }
        if device.manufacturer:
            block["manufacturer"] = device.manufacturer
        if device.model:
            block["model"] = device.model
        return block

    def _common(self, device: BridgeDevice, object_id: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "unique_id": f"{self.node(device.id)}_{object_id}",
            "device": self.device_block(device),
            "availability": [{"topic": self.edge_status()}, {"topic": f"{self.root}/{device.id}/status"}],
            "availability_mode": "all",
            "origin": {"name": "wattwerk", "sw_version": __version__},
        }

    def sensor(self, device: BridgeDevice, quantity: str) -> tuple[str, dict[str, Any]]:
        """Discovery topic and config of the sensor for ``<device>.<quantity>``."""
        try:
            unit, kind = quantity_info(quantity)
        except ValueError:
            unit, kind = "", Kind.STATE
        config = self._common(device, quantity, _title(quantity))
        config["state_topic"] = f"{self.root}/{device.id}/{quantity}"
        if unit:
            config["unit_of_measurement"] = unit
        klass = _prefix(quantity, DEVICE_CLASSES)
        if klass is not None and not (klass == "power_factor" and unit):
            config["device_class"] = DEVICE_CLASSES[klass]
        state_class = STATE_CLASSES[kind]
        if state_class is not None:
            config["state_class"] = state_class
        if kind is Kind.COUNTER:
            config["suggested_display_precision"] = 0
        return f"{self.prefix}/sensor/{self.node(device.id)}/{slug(quantity)}/config", config

    def control(self, device: BridgeDevice, s: Settable) -> tuple[str, dict[str, Any]]:
        """Discovery topic and config of the ``number``, ``select``, ``text`` or ``button`` of a command."""
        config = self._common(device, s.command, s.label or _title(s.command))
        config["command_topic"] = f"{self.root}/{device.id}/{s.command}/set"
        if s.kind != "button":  # a button has no state
            config["state_topic"] = f"{self.root}/{device.id}/{s.command}"
        if s.kind == "button":
            config["payload_press"] = PRESS
        elif s.kind == "text":
            config["pattern"] = s.pattern
            config["max"] = 64
        elif s.kind == "select":
            config["options"] = list(s.options)
        else:
            if s.min is not None:
                config["min"] = s.min
            if s.max is not None:
                config["max"] = s.max
            config["step"] = s.step
            config["mode"] = "box"
            if s.unit:
                config["unit_of_measurement"] = s.unit
                if s.unit in NUMBER_DEVICE_CLASSES:
                    config["device_class"] = NUMBER_DEVICE_CLASSES[s.unit]
        return f"{self.prefix}/{s.kind}/{self.node(device.id)}/{slug(s.command)}/config", config

    def decision(self, device: BridgeDevice) -> tuple[str, dict[str, Any]]:
        """A text sensor with the control's decision and why (``<root>/<device>/reason``), available
        while the edge is: "no reading from the charger" matters most when the device is silent."""
        config = self._common(device, "reason", "Decision")
        config["availability"] = [{"topic": self.edge_status()}]
        config.pop("availability_mode")
        config["state_topic"] = f"{self.root}/{device.id}/reason"
        config["icon"] = "mdi:information-outline"
        return f"{self.prefix}/sensor/{self.node(device.id)}/reason/config", config

    def edge(self) -> tuple[str, dict[str, Any]]:
        """A connectivity sensor for the edge itself (the device the others are ``via``)."""
        node = f"wattwerk_{self.site}_edge"
        config = {
            "name": "Edge",
            "unique_id": f"{node}_status",
            "device": self.edge_block(),
            "state_topic": self.edge_status(),
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
            "device_class": "connectivity",
            "origin": {"name": "wattwerk", "sw_version": __version__},
        }
        return f"{self.prefix}/binary_sensor/{node}/status/config", config


class MqttBridge:
    """Publishes the site state and discovery, takes commands. ``await bridge.run(stop)``."""

    def __init__(
        self,
        site: str,
        snapshot: Callable[[], Snapshot],
        on_command: CommandHandler,
        devices: Iterable[BridgeDevice] = (),
        *,
        settings: MqttSettings | None = None,
        root: str | None = None,
        discovery_prefix: str | None = "homeassistant",
        interval_s: float = 1.0,
        heartbeat_s: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
        backoff: Backoff | None = None,
        reasons: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.site = slug(site)
        self.root = (root or f"wattwerk/{self.site}").rstrip("/")
        self.snapshot = snapshot
        self.on_command = on_command
        self.devices: dict[str, BridgeDevice] = {d.id: d for d in devices}
        self.settings = settings or MqttSettings()
        self.ha = HomeAssistant(self.site, self.root, discovery_prefix) if discovery_prefix else None
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s  # retained values are re-sent this often even when unchanged
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.reasons = reasons  # device -> the control's decision in English (control/reasons.py)
        self.stats = BridgeStats()
        self.ready = asyncio.Event()  # set while publishing and subscribed
        self._sent: dict[str, tuple[str, float]] = {}  # topic -> (payload, loop time sent)
        self._announced: set[str] = set()

    # ------------------------------------------------------------ devices

    def device(self, device_id: str) -> BridgeDevice:
        """The known device, or a plain one for a device seen only through its channels."""
        return self.devices.get(device_id) or BridgeDevice(device_id)

    # ------------------------------------------------------------ commands

    def parse(self, topic: str, payload: bytes) -> Command:
        """A command from a ``.../set`` message, or Rejected."""
        rest = topic[len(self.root) + 1 :] if topic.startswith(self.root + "/") else ""
        parts = rest.split("/")
        if len(parts) != 3 or parts[2] != "set":
            raise Rejected("topic", f"not a command topic: {topic}")
        device_id, command = parts[0], parts[1]
        device = self.devices.get(device_id)
        if device is None:
            raise Rejected("unknown_device", f"unknown device {device_id!r}")
        settable = device.settable(command)
        if settable is None:
            have = ", ".join(s.command for s in device.settables) or "none"
            raise Rejected("unknown_command", f"{device_id} has no command {command!r} (has: {have})")
        return Command(device_id, command, parse_value(settable, payload), self.clock())

    async def handle(self, publisher: MqttPublisher, topic: str, payload: bytes) -> Command | None:
        """Validate, hand over, echo the state; on any failure publish the reason. Never raises."""
        try:
            cmd = self.parse(topic, payload)
            try:
                result = self.on_command(cmd)
                if inspect.isawaitable(result):
                    await result
            except Rejected:
                raise
            except (PermanentError, ValueError) as exc:
                raise Rejected("refused", f"refused: {exc}") from exc
            except Exception as exc:  # the handler's bug must not stop the bridge
                log.exception("mqtt command %s: handler failed", topic)
                raise Rejected("handler", f"could not apply: {exc}") from exc
        except Rejected as exc:
            self.stats.rejected[exc.kind] += 1
            text = payload[:40].decode("utf-8", "replace")
            log.warning("mqtt command %s %r rejected: %s (%s)", topic, text, exc, exc.kind)
            body = {"error": str(exc), "kind": exc.kind, "payload": text, "ts": self.clock().isoformat()}
            with contextlib.suppress(Exception):
                await publisher.publish(f"{topic}/error", body, qos=1)
            return None
        self.stats.accepted += 1
        log.info("mqtt command %s = %s accepted", cmd.channel, cmd.value)
        value = cmd.value if isinstance(cmd.value, str) else format_value(cmd.value)
        topic = f"{self.root}/{cmd.device}/{cmd.command}"
        if value != PRESS:  # a button's press is no state to keep
            await self._publish(publisher, topic, value, retain=True, force=True)
        return cmd

    # ------------------------------------------------------------ publishing

    async def _publish(
        self,
        pub: MqttPublisher,
        topic: str,
        payload: str | dict[str, Any],
        *,
        retain: bool,
        force: bool = False,
    ) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        now = asyncio.get_running_loop().time()
        last = self._sent.get(topic)
        if not force and last is not None and last[0] == text and now - last[1] < self.heartbeat_s:
            return
        await pub.publish(topic, text, qos=1 if retain else 0, retain=retain)
        self._sent[topic] = (text, now)
        self.stats.published += 1

    async def announce(self, pub: MqttPublisher, device_id: str, quantities: Iterable[str]) -> None:
        """Discovery configs for a device's channels and commands (each once per connection)."""
        if self.ha is None:
            return
        device = self.device(device_id)
        items = [self.ha.sensor(device, q) for q in quantities if f"{device_id}.{q}" not in self._announced]
        if device_id not in self._announced:
            items += [self.ha.control(device, s) for s in device.settables]
        for topic, config in items:
            await self._publish(pub, topic, config, retain=True)
        self._announced.update(f"{device_id}.{q}" for q in quantities)
        self._announced.add(device_id)

    async def publish_state(self, pub: MqttPublisher) -> None:
        """One round: discovery for new channels, device availability, every changed value."""
        snap = self.snapshot()
        by_device: dict[str, list[tuple[str, float]]] = {}
        for name, (value, _age) in snap.values.items():
            device, _, quantity = name.partition(".")
            by_device.setdefault(device, []).append((quantity, value))
        for device_id in self.devices:
            by_device.setdefault(device_id, [])
        stale = set(snap.stale_devices())
        for device_id, values in sorted(by_device.items()):
            await self.announce(pub, device_id, [q for q, _ in values])
            online = bool(values) and device_id not in stale
            status = ONLINE if online else OFFLINE
            await self._publish(pub, f"{self.root}/{device_id}/status", status, retain=True)
            for quantity, value in values:
                if snap.get(f"{device_id}.{quantity}") is None:
                    continue  # stale: the device is offline, its old value is not "now"
                await self._publish(
                    pub, f"{self.root}/{device_id}/{quantity}", format_value(value), retain=retained(quantity)
                )
        for device_id, text in sorted((self.reasons() if self.reasons else {}).items()):
            if self.ha is not None and f"{device_id}/reason" not in self._announced:
                topic, config = self.ha.decision(self.device(device_id))
                await self._publish(pub, topic, config, retain=True)
                self._announced.add(f"{device_id}/reason")
            await self._publish(pub, f"{self.root}/{device_id}/reason", str(text), retain=True)

    async def _publish_loop(self, pub: MqttPublisher, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.publish_state(pub)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def _command_loop(self, pub: MqttPublisher, source: MqttSource) -> None:
        async for message in source.raw_messages():
            topic, payload = message.topic.value, payload_bytes(message.payload)
            if message.retain:  # stored by the broker, maybe long ago: never a command now
                await self._drop_retained(pub, topic, payload)
            elif payload:  # empty: our own clearing of a retained command (never a valid command)
                await self.handle(pub, topic, payload)

    async def _drop_retained(self, pub: MqttPublisher, topic: str, payload: bytes) -> None:
        """Count and log (once) a retained command, and clear it from the broker."""
        if not payload:
            return
        if not self.stats.rejected["retained"]:
            log.warning(
                "mqtt command %s %r ignored: retained commands are never applied (cleared; "
                "further ones are only counted)",
                topic,
                payload[:40].decode("utf-8", "replace"),
            )
        self.stats.rejected["retained"] += 1
        with contextlib.suppress(Exception):
            await pub.publish(topic, b"", qos=1, retain=True)

    async def _session(self, stop: asyncio.Event) -> None:
        will = aiomqtt.Will(f"{self.root}/status", OFFLINE, qos=1, retain=True)
        async with MqttPublisher(self.settings, will=will) as pub:
            self.stats.connects += 1
            self._sent.clear()
            self._announced.clear()
            if self.ha is not None:
                topic, config = self.ha.edge()
                await self._publish(pub, topic, config, retain=True)
            await self._publish(pub, f"{self.root}/status", ONLINE, retain=True)
            # its own connection: a fixed client id must not be shared (the broker would drop one)
            cmd_settings = self.settings
            if cmd_settings.client_id:
                cmd_settings = replace(cmd_settings, client_id=f"{cmd_settings.client_id}-cmd")
            source = MqttSource(f"{self.root}/+/+/set", cmd_settings, qos=1, backoff=Backoff())
            commands = asyncio.create_task(self._command_loop(pub, source), name="mqtt commands")
            publisher = asyncio.create_task(self._publish_loop(pub, stop), name="mqtt publish")
            ready = asyncio.create_task(self._mark_ready(source))
            try:
                done, _ = await asyncio.wait({commands, publisher}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a publish failure ends the session (reconnect below)
            finally:
                self.ready.clear()
                source.close()  # ends the command loop cleanly (cancelling it would orphan a read)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(commands), 2.0)
                for task in (commands, publisher, ready):
                    task.cancel()
                await asyncio.gather(commands, publisher, ready, return_exceptions=True)
                if stop.is_set():  # a clean stop: say so (the will is only for crashes)
                    with contextlib.suppress(Exception):
                        await pub.publish(f"{self.root}/status", OFFLINE, qos=1, retain=True)

    async def _mark_ready(self, source: MqttSource) -> None:
        await source.subscribed.wait()
        self.ready.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, reconnecting with backoff; only bad credentials end it early."""
        while not stop.is_set():
            try:
                await self._session(stop)
                self.backoff.reset()
            except PermanentError as exc:
                self.stats.last_error = str(exc)
                log.error("mqtt bridge stops: %s", exc)
                raise
            except Exception as exc:  # broker gone, network down: try again later
                if str(exc) != self.stats.last_error:
                    log.warning("mqtt bridge: %s; reconnecting", exc)
                self.stats.last_error = str(exc)
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.backoff.next())


# ---------------------------------------------------------------- from the site file

EV_MODES = ("off", "now", "minpv", "pv")
BATTERY_MODES = ("self_consumption", "hold", "charge", "planner")  # edge.owner.BATTERY_MODES
CLOCK = r"([01]\d|2[0-3]):[0-5]\d"  # a departure "07:00" (edge.owner.Clock)


def devices_from_config(config: Any) -> list[BridgeDevice]:
    """The bridge's devices and their commands from a ``SiteConfig``, with limits from the file.

    Only what the owner may set is offered (``edge.owner.COMMANDS``, stored like the page's): a charge
    point's mode, current cap, minimum current and phases; the battery's mode, reserve SoC and
    setpoint; a heat pump's or rod's boost (minutes) and off (hours), 0 ends it. PV limits, SG-Ready,
    rod power and relays stay the controllers' and the limiter's.
    """
    out: list[BridgeDevice] = []
    for dev in config.devices:
        lim = dev.limits
        settables: list[Settable] = []
        if dev.role == "ev_charger":
            settables.append(Settable("mode", "select", options=EV_MODES, label="Charge mode"))
            low, high = lim.min_current_a or 0.0, lim.max_current_a or 32.0
            settables.append(Settable("current_limit", min=low, max=high, unit="A", label="Current limit"))
            settables.append(Settable("min_current", min=6.0, max=high, unit="A", label="Minimum current"))
            if getattr(dev, "phase_switching", False):
                settables.append(
                    Settable("phases", "select", options=("1", "3", "0"), label="Phases (0: auto)")
                )
            settables.append(
                Settable("plan_energy_kwh", min=0.0, max=250.0, unit="kWh", label="Departure energy (0 ends)")
            )
            settables.append(Settable("plan_departure", "text", pattern=CLOCK, label="Departure time"))
        elif dev.role == "battery":
            settables.append(
                Settable(
                    "battery_setpoint",
                    min=-dev.max_charge_w,
                    max=dev.max_discharge_w,
                    step=100.0,
                    unit="W",
                    label="Power setpoint (+ discharge)",
                )
            )
            settables.append(Settable("battery_mode", "select", options=BATTERY_MODES, label="Battery mode"))
            settables.append(Settable("reserve_soc", min=0.0, max=100.0, unit="%", label="Reserve SoC"))
        elif dev.role in ("heat_pump", "heating_rod"):
            settables.append(
                Settable(
                    "boost_minutes", min=0.0, max=720.0, step=15.0, unit="min", label="Boost for (0 ends)"
                )
            )
            settables.append(
                Settable("off_hours", min=0.0, max=48.0, step=0.5, unit="h", label="Off for (0 ends)")
            )
            settables.append(Settable("boost", "button", label=f"Boost now ({BOOST_MINUTES} min)"))
        out.append(BridgeDevice(dev.id, dev.label, model=dev.catalog or "", settables=tuple(settables)))
    return out
