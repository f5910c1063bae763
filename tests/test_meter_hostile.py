"""Hostile input on a meter stream (issue 15, finding 6): each bad message is one counted, logged
error of its kind, and the next good message is read as if nothing happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from wattwerk.errors import InputLedger
from wattwerk.protocols.base import Frame
from wattwerk.protocols.jsonmap import MAX_DOCUMENT_BYTES
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.tasmota import auto_decoder

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
GOOD = json.dumps({"ENERGY": {"Total": 12.5, "Power": 640}}).encode()


def test_nested_huge_and_garbage_documents_are_counted_by_kind() -> None:
    ledger = InputLedger()
    reader = MeterReader("grid", auto_decoder(messages=True), ledger=ledger, use_receive_time=True)
    bad = [b"[" * 100_000, b'{"a": "' + b"x" * MAX_DOCUMENT_BYTES + b'"}', b"\xff not json", b"[" * 100_000]
    for payload in bad:
        assert reader.process(payload, T0) == []
    (readings,) = reader.process(GOOD, T0)
    assert {r.channel: r.value for r in readings} == {"grid.energy_import": 12500.0, "grid.power": 640.0}
    assert ledger.by_kind("grid") == {"nesting": 2, "size": 1, "parse": 1}
    assert reader.stats.rejected == 4 and reader.stats.frames == 1


class Exploding:
    """A decoder with a bug that hostile bytes trigger."""

    def feed(self, data: bytes) -> list[Frame]:
        if data == b"boom":
            raise IndexError("tuple index out of range")
        return auto_decoder(messages=True).feed(data)

    def flush(self) -> list[Frame]:
        return []


def test_a_decoder_bug_costs_one_message_not_the_stream() -> None:
    ledger = InputLedger()
    reader = MeterReader("grid", Exploding(), ledger=ledger, use_receive_time=True)  # type: ignore[arg-type]
    assert reader.process(b"boom", T0) == []
    assert len(reader.process(GOOD, T0)) == 1
    assert ledger.by_kind("grid") == {"decoder": 1}
