"""Contact states over MQTT, as the devices publish them: Shelly Gen2+ inputs and Tasmota switches.

Pure parsing (topic, payload) -> ``ContactUpdate``; the stream that subscribes, asks for the
current state and passes it on is ``wattwerk.devices.contacts.MqttContacts``.

Shelly Gen2+ (topic prefix ``P``, Shelly counts inputs from 0):

* ``P/status/input:N`` ``{"id": N, "state": true}`` ("Generic status update over MQTT"),
* ``P/events/rpc`` ``{"method": "NotifyStatus", "params": {"input:N": {"id": N, "state": true}}}``,
* ``P/online`` ``true``/``false`` (its last will), and the answer to our ``Shelly.GetStatus``
  request on ``P/rpc``, which arrives on ``P/wattwerk/rpc`` (``{"result": {"input:N": {...}}}``).

Tasmota (topic ``T``, switches counted from 1; needs ``SetOption114 1`` so switches are inputs):

* ``stat/T/RESULT`` or ``tele/T/RESULT`` ``{"Switch1": {"Action": "ON"}}`` on every change,
* ``tele/T/SENSOR`` ``{"Switch1": "ON", ...}`` every TelePeriod, ``stat/T/STATUS10``
  ``{"StatusSNS": {"Switch1": "ON"}}`` answering our ``cmnd/T/STATUS 10``,
* ``tele/T/LWT`` ``Online``/``Offline``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

RPC_SOURCE = "wattwerk"  # our RPC ``src`` below the Shelly's prefix, so its answers match ``P/#``


@dataclass(frozen=True)
class ContactUpdate:
    """What one message says: input number -> closed, and whether the device is online (None: unsaid)."""

    states: dict[int, bool] = field(default_factory=dict)
    online: bool | None = None


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"not JSON: {payload[:60]!r}") from exc


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return value.upper() == "ON"
    raise ValueError(f"{where}: expected a state (true/false, ON/OFF), got {value!r}")


class ShellyInputs:
    """Shelly Gen2+ ``input:N`` components under one topic prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    @property
    def subscription(self) -> str:
        return f"{self.prefix}/#"

    def status_request(self) -> tuple[str, bytes]:
        """The request whose answer carries every input's state (RPC over MQTT)."""
        body = {"id": 1, "src": f"{self.prefix}/{RPC_SOURCE}", "method": "Shelly.GetStatus"}
        return f"{self.prefix}/rpc", json.dumps(body).encode()

    def parse(self, topic: str, payload: bytes) -> ContactUpdate | None:
        rest = topic[len(self.prefix) + 1 :] if topic.startswith(self.prefix + "/") else None
        if rest is None:
            return None
        if rest == "online":
            return ContactUpdate(online=payload.strip().lower() == b"true")
        m = re.fullmatch(r"status/input:(\d+)", rest)
        if m:
            doc = _json(payload)
            if not isinstance(doc, dict) or "state" not in doc:
                raise ValueError(f"{topic}: no state in {payload[:60]!r}")
            if doc["state"] is None:  # an input in analog or button mode has no state
                return None
            return ContactUpdate({int(m.group(1)): _bool(doc["state"], topic)})
        if rest in ("events/rpc", f"{RPC_SOURCE}/rpc"):
            doc = _json(payload)
            if not isinstance(doc, dict):
                raise ValueError(f"{topic}: expected an object")
            body = doc.get("params") if rest == "events/rpc" else doc.get("result")
            if rest == "events/rpc" and doc.get("method") != "NotifyStatus":
                return None
            return ContactUpdate(_inputs_of(body, topic), online=True) if isinstance(body, dict) else None
        return None


def _inputs_of(body: dict[str, Any], topic: str) -> dict[int, bool]:
    out = {}
    for key, comp in body.items():
        m = re.fullmatch(r"input:(\d+)", key)
        if m and isinstance(comp, dict) and comp.get("state") is not None:
            out[int(m.group(1))] = _bool(comp["state"], f"{topic} {key}")
    return out


class TasmotaSwitches:
    """Tasmota ``SwitchN`` inputs of one device topic."""

    def __init__(self, topic: str) -> None:
        self.topic = topic.strip("/")

    @property
    def subscription(self) -> str:
        return f"+/{self.topic}/+"

    def status_request(self) -> tuple[str, bytes]:
        return f"cmnd/{self.topic}/STATUS", b"10"

    def parse(self, topic: str, payload: bytes) -> ContactUpdate | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[1] != self.topic:
            return None
        prefix, _, last = parts
        if (prefix, last) == ("tele", "LWT"):
            return ContactUpdate(online=payload.strip().lower() == b"online")
        if prefix not in ("tele", "stat") or last not in ("RESULT", "SENSOR", "STATUS10"):
            return None
        doc = _json(payload)
        if not isinstance(doc, dict):
            raise ValueError(f"{topic}: expected an object")
        if isinstance(doc.get("StatusSNS"), dict):
            doc = doc["StatusSNS"]
        out = {}
        for key, value in doc.items():
            m = re.fullmatch(r"Switch(\d+)", key)
            if not m:
                continue
            if isinstance(value, dict):  # {"Action": "ON"} (SetOption114)
                value = value.get("Action")
            out[int(m.group(1))] = _bool(value, f"{topic} {key}")
        return ContactUpdate(out, online=True) if out else None
