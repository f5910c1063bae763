"""Generic JSON documents (MQTT payloads, HTTP responses) mapped onto our quantities.

A ``FieldMap`` names where a number sits in the document (``SML.Total_in``, ``emeters[0].power``,
``a/b`` is not used: dots and ``[i]`` only), which quantity it is, and the factor to our unit
(a meter sending kWh needs ``scale: 1000``; a value with the opposite sign convention
``scale: -1``). The ``JsonDecoder`` applies a list of them to each document.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.model import quantity_info
from wattwerk.protocols.base import Frame, Value

_PART = re.compile(r"^([^\[\]]*)((?:\[-?\d+\])*)$")
MAX_DOCUMENT_BYTES = 256 * 1024  # a meter's document is a few kB; more is garbage or an attack
_MISSING = object()


def resolve(doc: Any, path: str) -> Any:
    """The value at ``path`` (``a.b[0].c``) in a parsed JSON document, or ``_MISSING``. A key that
    holds dots itself is found when the rest of the path names it whole."""
    if not path:
        return doc
    node = doc
    parts = path.split(".")
    for i, part in enumerate(parts):
        rest = ".".join(parts[i:])
        if i < len(parts) - 1 and isinstance(node, dict) and rest in node:
            return node[rest]  # a key holding dots, e.g. a Tasmota label "ELZ_PV_1.8.0"
        m = _PART.match(part)
        if m is None:
            return _MISSING
        key, indexes = m.groups()
        if key or not indexes:  # "" alone is a key too (a Tasmota script without a prefix)
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        for idx in re.findall(r"-?\d+", indexes):
            if not isinstance(node, list) or not -len(node) <= int(idx) < len(node):
                return _MISSING
            node = node[int(idx)]
    return node


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One number in a document: JSON path -> quantity (our unit after ``scale``)."""

    path: str
    quantity: str
    scale: float = 1.0
    obis: str | None = None
    optional: bool = False  # absent now and then (e.g. per-phase values): no note when missing

    @property
    def unit(self) -> str:
        return quantity_info(self.quantity)[0]

    def __post_init__(self) -> None:
        quantity_info(self.quantity)  # raises ValueError for a quantity we do not know
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValueError(f"{self.path}: scale must be a finite non-zero number")


def number(raw: Any) -> float | None:
    """A JSON number (or numeric string) as a finite float; booleans and the rest are None."""
    if isinstance(raw, bool):
        return None
    if not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def parse_time(raw: Any, tz: ZoneInfo | None) -> datetime | None:
    """An ISO time from a document; naive times need the device's zone, else None."""
    if not isinstance(raw, str):
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if ts.tzinfo is None:
        if tz is None:
            return None  # a device's local clock without its zone: the reader uses receive time
        ts = ts.replace(tzinfo=tz)
    return ts


def apply(doc: Any, fields: list[FieldMap]) -> tuple[list[Value], list[tuple[str, str]]]:
    """The values ``fields`` find in ``doc``, and notes on fields missing or not numbers."""
    values: list[Value] = []
    notes: list[tuple[str, str]] = []
    for f in fields:
        raw = resolve(doc, f.path)
        if raw is _MISSING or raw is None:
            if not f.optional:
                notes.append(("missing", f"{f.path} not in the document"))
            continue
        value = number(raw)
        if value is None:
            notes.append(("type", f"{f.path} = {raw!r} is not a number"))
            continue
        value *= f.scale
        if not math.isfinite(value):
            notes.append(("range", f"{f.path} = {raw!r} overflows"))
            continue
        values.append(Value(f.obis, f.quantity, value, f.unit))
    return values, notes


@dataclass
class JsonDecoder:
    """Decoder for JSON documents.

    ``messages=True``: every ``feed`` is one whole document (an MQTT payload, an HTTP body).
    Otherwise the input is a capture with one document per line, optionally prefixed by its
    topic as ``mosquitto_sub -v`` prints it (``tele/meter/SENSOR {...}``).
    ``fields`` may be a callable choosing the mapping per document (presets that recognise
    the document's shape).
    """

    fields: list[FieldMap] | Any
    time_path: str | None = None
    timezone: str | None = None
    messages: bool = False
    meter_id_path: str | None = None
    # device-specific checks after mapping: (document, values) -> (values, notes)
    post: Callable[[Any, list[Value]], tuple[list[Value], list[tuple[str, str]]]] | None = None
    _buf: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        self._tz = ZoneInfo(self.timezone) if self.timezone else None

    def feed(self, data: bytes) -> list[Frame]:
        if self.messages:
            return [self.document_bytes(bytes(data))]
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [self.document_bytes(_strip_topic(line)) for line in lines if line.strip()]

    def flush(self) -> list[Frame]:
        rest, self._buf = self._buf, b""
        return [self.document_bytes(_strip_topic(rest))] if rest.strip() else []

    def document_bytes(self, payload: bytes) -> Frame:
        if len(payload) > MAX_DOCUMENT_BYTES:
            message = f"document of {len(payload)} bytes is over the limit of {MAX_DOCUMENT_BYTES}"
            return Frame(ts=None, errors=[message], error_kind="size")
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            return Frame(ts=None, errors=[f"not JSON: {exc}"], error_kind="parse")
        except RecursionError:
            return Frame(ts=None, errors=["JSON nested too deeply"], error_kind="nesting")
        return self.document(doc)

    def document(self, doc: Any) -> Frame:
        if not isinstance(doc, dict | list):
            message = f"expected a JSON object, got {type(doc).__name__}"
            return Frame(ts=None, errors=[message], error_kind="parse")
        fields = self.fields(doc) if callable(self.fields) else self.fields
        values, notes = apply(doc, fields)
        if self.post is not None:
            values, more = self.post(doc, values)
            notes += more
        ts = parse_time(resolve(doc, self.time_path), self._tz) if self.time_path else None
        meter_id = None
        if self.meter_id_path:
            raw = resolve(doc, self.meter_id_path)
            meter_id = None if raw is _MISSING or raw is None else str(raw)
        if not values and not notes:
            notes.append(("unmapped", "no mapped field in the document"))
        return Frame(ts=ts, meter_id=meter_id, values=values, notes=notes)


def _strip_topic(line: bytes) -> bytes:
    """``topic {json}`` -> ``{json}``; a bare document is returned as it is."""
    line = line.strip()
    if line[:1] in (b"{", b"["):
        return line
    _topic, sep, rest = line.partition(b" ")
    return rest.strip() if sep and rest.strip()[:1] in (b"{", b"[") else line
