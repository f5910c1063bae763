"""What every meter reader produces: decoded frames of OBIS-named values.

A reader is layered like pymodbus: a transport yields bytes (serial, TCP, MQTT, a file),
a ``Decoder`` is fed bytes in arbitrary chunks and returns the complete frames found so
far, each with its values or the reason it was rejected. Nothing here knows the transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from wattwerk.model import Reading


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded value in our units (Wh, W, V, A, m³ ...), with its OBIS code if any."""

    obis: str | None
    quantity: str
    value: float
    unit: str


@dataclass(slots=True)
class Frame:
    """One telegram/frame/push: its values, or ``errors`` when it was rejected."""

    ts: datetime | None
    meter_id: str | None = None
    values: list[Value] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_kind: str | None = None  # short tag for the ledger when the frame was rejected
    # non-fatal problems (kind, message), e.g. an unknown OBIS line: counted, frame kept
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def readings(self, device: str, ts: datetime | None = None) -> list[Reading]:
        """The frame's values as Readings of ``device`` (frame time, else ``ts``)."""
        when = self.ts or ts
        if when is None:
            raise ValueError("frame has no timestamp and none was given")
        return [Reading(f"{device}.{v.quantity}", when, v.value) for v in self.values]

    def to_json(self, device: str = "grid") -> dict:
        """The ``wattwerk decode`` line for this frame."""
        return {
            "ts": self.ts.isoformat() if self.ts else None,
            "meter_id": self.meter_id,
            "readings": [
                {"obis": v.obis, "channel": f"{device}.{v.quantity}", "value": v.value, "unit": v.unit}
                for v in self.values
            ],
            "errors": list(self.errors),
        }


class Decoder(Protocol):
    """Fed bytes in any chunking; returns the frames completed by this chunk."""

    def feed(self, data: bytes) -> list[Frame]: ...
