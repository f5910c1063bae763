"""Commands the MQTT bridge accepts: the settable commands a device has, the validated ``Command``,
and parsing a ``.../set`` payload into its value (or ``Rejected`` with the reason)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from wattwerk.model import Setpoint


@dataclass(frozen=True, slots=True)
class Settable:
    """A command the bridge accepts for a device: a number in [min, max], one of ``options``, a
    text matching ``pattern`` (e.g. a departure "07:00") or a button (payload ``PRESS``)."""

    command: str
    kind: Literal["number", "select", "text", "button"] = "number"
    min: float | None = None
    max: float | None = None
    step: float = 1.0
    unit: str = ""
    options: tuple[str, ...] = ()
    label: str = ""
    pattern: str = ""


@dataclass(frozen=True, slots=True)
class BridgeDevice:
    """What the bridge and Home Assistant know about a device."""

    id: str
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    settables: tuple[Settable, ...] = ()

    def settable(self, command: str) -> Settable | None:
        return next((s for s in self.settables if s.command == command), None)


@dataclass(frozen=True, slots=True)
class Command:
    """A validated user command from MQTT: ``ev1`` ``mode`` ``"pv"`` or ``ev1`` ``current_limit`` ``10.0``."""

    device: str
    command: str
    value: float | str
    ts: datetime
    source: str = "mqtt"

    @property
    def channel(self) -> str:
        return f"{self.device}.{self.command}"

    def setpoint(self) -> Setpoint:
        """As a Setpoint (numeric commands only; a mode is not a setpoint)."""
        if isinstance(self.value, str):
            raise ValueError(f"{self.channel}={self.value!r} is a mode, not a setpoint")
        return Setpoint(self.channel, self.value, self.ts, source="user:mqtt")


PRESS = "PRESS"  # Home Assistant's default payload of an MQTT button

CommandHandler = Callable[[Command], Awaitable[None] | None]


class Rejected(Exception):
    """A command that is not accepted; ``kind`` is a short stable tag for counting."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def format_value(value: float) -> str:
    """A plain number: ``1234``, ``-5.25``, ``12345678`` (never exponent notation)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_value(settable: Settable, payload: bytes) -> float | str:
    """The command's value from a payload, or Rejected with the reason."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected("encoding", "payload is not UTF-8 text") from None
    if text.startswith("{"):  # {"value": 10} as some clients send
        try:
            obj = json.loads(text)
        except ValueError:
            raise Rejected("json", f"payload {text[:40]!r} is not valid JSON") from None
        if not isinstance(obj, dict) or "value" not in obj:
            raise Rejected("json", 'a JSON payload needs a "value" field')
        text = str(obj["value"]).strip()
    if not text:
        raise Rejected("empty", "empty payload")
    if settable.kind == "button":
        if text.upper() != PRESS:
            raise Rejected("option", f"{text[:40]!r}: a button takes {PRESS}")
        return PRESS
    if settable.kind == "text":
        if len(text) > 64 or (settable.pattern and not re.fullmatch(settable.pattern, text)):
            raise Rejected("pattern", f"{text[:40]!r} does not match {settable.pattern}")
        return text
    if settable.kind == "select":
        choice = text.lower()
        if choice not in settable.options:
            raise Rejected("option", f"{text[:40]!r} is not one of {', '.join(settable.options)}")
        return choice
    try:
        value = float(text)
    except ValueError:
        raise Rejected("not_numeric", f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise Rejected("not_numeric", f"{text!r} is not a finite number")
    unit = f" {settable.unit}" if settable.unit else ""
    given = f"{format_value(value)}{unit}"
    if settable.min is not None and value < settable.min:
        raise Rejected("range", f"{given} is below the minimum {format_value(settable.min)}{unit}")
    if settable.max is not None and value > settable.max:
        raise Rejected("range", f"{given} is above the maximum {format_value(settable.max)}{unit}")
    return value
