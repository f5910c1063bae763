"""The contract's fallback of an inbound interface (``Told``), step by step on an injected clock."""

from __future__ import annotations

import pytest

from wattwerk.control.inbound import FEED_IN_PCT, FEED_IN_W, IMPORT_W, NONE
from wattwerk.edge.inbound.common import Told
from wattwerk.model import Reading


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def told(fallback, quantities=(FEED_IN_PCT, FEED_IN_W, IMPORT_W)) -> tuple[Told, Clock, list[list[Reading]]]:
    clock, sent = Clock(), []
    return (
        Told("x", sent.append, fallback=fallback, fallback_after_s=10.0, quantities=quantities, clock=clock),
        clock,
        sent,
    )


@pytest.mark.parametrize(
    ("fallback", "after"),
    [
        ("keep", {FEED_IN_PCT: 30.0, FEED_IN_W: 5000.0, IMPORT_W: 4000.0}),
        (0, {FEED_IN_PCT: 0.0, FEED_IN_W: NONE, IMPORT_W: NONE}),
        (100, {FEED_IN_PCT: 100.0, FEED_IN_W: NONE, IMPORT_W: NONE}),
    ],
)
def test_the_fallback_applies_after_the_silence_and_ends_with_the_peer(fallback, after):
    t, clock, sent = told(fallback)
    t.set(FEED_IN_PCT, 30.0)
    t.set(FEED_IN_W, 5000.0)
    t.set(IMPORT_W, 4000.0)
    clock.t = 9.9
    assert not t.check()  # not yet
    clock.t = 10.0
    assert t.check()
    assert t.values == after
    t.publish()
    assert {r.channel: r.value for r in sent[-1]}["x.state_fallback"] == 1.0
    t.heard()  # the peer is back: the fallback ends, the values stay until the peer sends new ones
    assert not t.in_fallback and t.values == after
    t.set(FEED_IN_PCT, 60.0)
    assert {r.channel: r.value for r in sent[-1]} == {
        "x.limit_pct": 60.0,
        "x.limit_export": after[FEED_IN_W],
        "x.limit_import": after[IMPORT_W],
        "x.state_fallback": 0.0,
    }


def test_the_silence_counts_from_the_start_and_a_kw_interface_falls_back_to_0_w():
    t, clock, _ = told(0, quantities=(FEED_IN_W,))
    clock.t = 10.0  # the peer never came
    assert t.check() and t.values == {FEED_IN_W: 0.0}


def test_the_last_limits_survive_a_restart_and_a_broken_file_is_no_crash(tmp_path, caplog):
    path = tmp_path / "inbound-x.json"
    first, _, _ = told("keep")
    first.state_file = path
    first.set(FEED_IN_PCT, 30.0)
    first.set(IMPORT_W, 4000.0)
    again = Told("x", lambda readings: None, quantities=(FEED_IN_PCT, FEED_IN_W, IMPORT_W), state_file=path)
    assert again.values == {FEED_IN_PCT: 30.0, FEED_IN_W: NONE, IMPORT_W: 4000.0}  # until the peer says more
    path.write_text("{not json")
    fresh = Told("x", lambda readings: None, quantities=(FEED_IN_PCT,), state_file=path)
    assert fresh.values == {FEED_IN_PCT: 100.0} and "unreadable" in caplog.text
