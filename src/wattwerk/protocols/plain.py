"""MQTT ``plain`` payloads: each message is one number (``-450``, ``12345.678``); its topic says
which quantity it is (``meter/power`` -> ``power``), with a factor to our unit (kWh -> Wh: 1000).

The reader's source hands each message over as ``topic NUL payload`` (``MqttSource(with_topic=True)``;
MQTT topics never contain NUL), so one subscription (``meter/#``) can carry several values.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.jsonmap import FieldMap, number

SEP = b"\x00"
MAX_PAYLOAD = 64  # a number is a few bytes; more is not a plain value


@dataclass
class PlainDecoder:
    """``fields``: topic -> the number's quantity and scale; the topic ``""`` takes every message."""

    fields: dict[str, FieldMap]

    def feed(self, data: bytes) -> list[Frame]:
        topic_raw, sep, payload = bytes(data).partition(SEP)
        if not sep:  # no topic given: the payload alone (a single-topic subscription)
            topic_raw, payload = b"", topic_raw
        topic = topic_raw.decode("utf-8", errors="replace")
        f = self.fields.get(topic) or self.fields.get("")
        if f is None:
            return [Frame(ts=None, notes=[("unmapped", f"topic {topic} is not in fields")])]
        value = number(payload.decode("utf-8", errors="replace")) if len(payload) <= MAX_PAYLOAD else None
        if value is None:
            shown = payload[:MAX_PAYLOAD].decode("utf-8", errors="replace")
            message = f"{topic or f.path}: {shown!r} is not a number"
            return [Frame(ts=None, errors=[message], error_kind="type")]
        return [Frame(ts=None, values=[Value(f.obis, f.quantity, value * f.scale, f.unit)])]

    def flush(self) -> list[Frame]:
        return []


def plain_decoder(fields: list[tuple[str, str, float]]) -> PlainDecoder:
    """From (topic, quantity, scale); ValueError for an unknown quantity or a zero scale."""
    return PlainDecoder({t: FieldMap(t or "payload", quantity, scale) for t, quantity, scale in fields})
