"""Digital inputs below the runtime: Shelly/Tasmota payloads, debounce, active-low, GPIO contacts and
the S0 pulse meter over a fake ``LineSource`` (the kernel-facing ``GpiodLines`` is not run here:
this machine has no GPIO chip), and an input source that reads garbage."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from wattwerk.config.limits import ControlLimits
from wattwerk.devices.contacts import Debouncer, GpioContacts, MqttContacts, S0Counter
from wattwerk.edge.inputs import input_sources
from wattwerk.errors import InputLedger
from wattwerk.model import Reading
from wattwerk.protocols.contacts_mqtt import ContactUpdate, ShellyInputs, TasmotaSwitches
from wattwerk.protocols.gpio_lines import LineEvent
from wattwerk.protocols.modbus import LinkPool
from wattwerk.protocols.mqtt import MqttSettings

SHELLY = ShellyInputs("shellyplusi4-abc")
TASMOTA = TasmotaSwitches("rcr")


@pytest.mark.parametrize(
    ("dialect", "topic", "payload", "expected"),
    [
        (SHELLY, "shellyplusi4-abc/status/input:1", {"id": 1, "state": True}, ContactUpdate({1: True})),
        (
            SHELLY,
            "shellyplusi4-abc/events/rpc",
            {"method": "NotifyStatus", "params": {"ts": 1.0, "input:0": {"id": 0, "state": False}}},
            ContactUpdate({0: False}, online=True),
        ),
        (SHELLY, "shellyplusi4-abc/events/rpc", {"method": "NotifyEvent", "params": {}}, None),
        (
            SHELLY,
            "shellyplusi4-abc/wattwerk/rpc",
            {"id": 1, "result": {"input:0": {"id": 0, "state": True}, "switch:0": {"output": False}}},
            ContactUpdate({0: True}, online=True),
        ),
        (SHELLY, "shellyplusi4-abc/status/input:2", {"id": 2, "state": None, "percent": 40}, None),  # analog
        (SHELLY, "shellyplusi4-abc/online", "false", ContactUpdate(online=False)),
        (SHELLY, "other/status/input:0", {"id": 0, "state": True}, None),
        (TASMOTA, "stat/rcr/RESULT", {"Switch2": {"Action": "ON"}}, ContactUpdate({2: True}, online=True)),
        (
            TASMOTA,
            "tele/rcr/SENSOR",
            {"Time": "x", "Switch1": "OFF", "Switch3": "ON"},
            ContactUpdate({1: False, 3: True}, online=True),
        ),
        (
            TASMOTA,
            "stat/rcr/STATUS10",
            {"StatusSNS": {"Time": "x", "Switch1": "ON"}},
            ContactUpdate({1: True}, online=True),
        ),
        (TASMOTA, "tele/rcr/LWT", "Offline", ContactUpdate(online=False)),
        (TASMOTA, "stat/rcr/POWER", "ON", None),
        (TASMOTA, "tele/rcr/SENSOR", {"ENERGY": {"Power": 5}}, None),
    ],
)
def test_payloads(
    dialect: ShellyInputs | TasmotaSwitches, topic: str, payload: object, expected: ContactUpdate | None
) -> None:
    body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    assert dialect.parse(topic, body) == expected


@pytest.mark.parametrize(
    ("dialect", "topic", "payload"),
    [
        (SHELLY, "shellyplusi4-abc/status/input:0", b"{not json"),
        (SHELLY, "shellyplusi4-abc/status/input:0", b'{"id": 0, "state": "maybe"}'),
        (SHELLY, "shellyplusi4-abc/status/input:0", b'{"id": 0}'),
        (TASMOTA, "stat/rcr/RESULT", b'{"Switch1": {"Action": 7}}'),
        (TASMOTA, "stat/rcr/RESULT", b"[1, 2]"),
    ],
)
def test_bad_payloads_are_errors_not_states(
    dialect: ShellyInputs | TasmotaSwitches, topic: str, payload: bytes
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        dialect.parse(topic, payload)


def test_status_requests_answer_where_the_subscription_hears_them() -> None:
    topic, body = SHELLY.status_request()
    assert topic == "shellyplusi4-abc/rpc"
    assert json.loads(body)["src"] == "shellyplusi4-abc/wattwerk"  # answer on .../wattwerk/rpc, under P/#
    assert TASMOTA.status_request() == ("cmnd/rcr/STATUS", b"10")


# ------------------------------------------------------------------ debounce


@pytest.mark.parametrize(
    ("events", "now", "settled"),
    [
        ([(1, True, 0.0)], 0.019, {}),  # not held for 20 ms yet
        ([(1, True, 0.0)], 0.020, {1: True}),
        ([(1, True, 0.0), (1, False, 0.005)], 1.0, {}),  # a bounce back: nothing changed
        ([(1, True, 0.0), (1, False, 0.005), (1, True, 0.010)], 0.029, {}),  # the hold restarts
        ([(1, True, 0.0), (1, False, 0.005), (1, True, 0.010)], 0.030, {1: True}),
        ([(1, True, 0.0), (2, True, 0.015)], 0.030, {1: True}),
    ],
)
def test_debouncer(events: list[tuple[int, bool, float]], now: float, settled: dict[int, bool]) -> None:
    d = Debouncer(0.02, level={1: False, 2: False})
    for line, high, t in events:
        d.feed(LineEvent(line, high, t))
    assert d.settle(now) == settled


class FakeLines:
    """A ``LineSource`` whose edges the test sends; event times are real monotonic seconds."""

    def __init__(self, levels: dict[int, bool]) -> None:
        self._levels = dict(levels)
        self.queue: asyncio.Queue[LineEvent] = asyncio.Queue()
        self.closed = False

    def levels(self) -> dict[int, bool]:
        return dict(self._levels)

    def edge(self, line: int, high: bool) -> None:
        self._levels[line] = high
        self.queue.put_nowait(LineEvent(line, high, time.monotonic()))

    async def events(self) -> AsyncIterator[LineEvent]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self.closed = True


async def next_change(it: AsyncIterator[list[Reading]], channel: str, value: float) -> list[Reading]:
    async def find() -> list[Reading]:
        async for readings in it:
            if any(r.channel == channel and r.value == value for r in readings):
                return readings
        raise AssertionError("source ended")

    return await asyncio.wait_for(find(), 10.0)


async def test_gpio_contacts_active_low_debounced_and_repeated() -> None:
    lines = FakeLines({17: True, 27: True})  # pulled up: both open
    contacts = GpioContacts("rcr", lines, [17, 27], active_low=True, debounce_s=0.05, repeat_s=0.1)
    it = contacts.__aiter__()
    first = await it.__anext__()
    assert [(r.channel, r.value) for r in first] == [("rcr.state_1", 0.0), ("rcr.state_2", 0.0)]
    lines.edge(27, False)  # contact 2 closes to ground, bounces once, then holds
    lines.edge(27, True)
    lines.edge(27, False)
    readings = await next_change(it, "rcr.state_2", 1.0)
    assert {r.channel: r.value for r in readings} == {"rcr.state_1": 0.0, "rcr.state_2": 1.0}
    lines.edge(17, False)
    lines.edge(17, True)  # a glitch shorter than the debounce: never reported
    for _ in range(3):  # repeats keep coming with the settled state
        readings = await it.__anext__()
        assert {r.channel: r.value for r in readings} == {"rcr.state_1": 0.0, "rcr.state_2": 1.0}
    await it.aclose()  # type: ignore[attr-defined]
    assert lines.closed


async def test_s0_meter_counts_pulses_into_energy_and_power() -> None:
    lines = FakeLines({22: True})
    meter = S0Counter("hm", lines, 22, imp_per_kwh=1000.0, active_low=True, debounce_s=0.0, repeat_s=5.0)
    it = meter.__aiter__()
    first = await it.__anext__()
    assert {r.channel: r.value for r in first} == {"hm.energy_import": 0.0, "hm.power": 0.0}
    for _ in range(3):
        lines.edge(22, False)  # pulse: pulled low ...
        await next_change(it, "hm.energy_import", float(meter.pulses + 1))
        lines.edge(22, True)  # ... and released: no count
        await asyncio.sleep(0.05)
    assert meter.pulses == 3  # 1 Wh per pulse at 1000 imp/kWh
    # power from the pulse interval: 1 Wh per interval (about 0.05 s plus scheduling) is far above 0
    assert meter.power_w(time.monotonic()) > 1000.0
    await it.aclose()  # type: ignore[attr-defined]


def test_s0_power_falls_while_no_pulse_comes() -> None:
    meter = S0Counter("hm", FakeLines({22: True}), 22, imp_per_kwh=500.0)  # 2 Wh per pulse
    meter.pulse(100.0)
    meter.pulse(110.0)  # one pulse per 10 s: 720 W
    assert meter.power_w(110.0) == pytest.approx(720.0)
    assert meter.power_w(130.0) == pytest.approx(2.0 * 3600 / 20.0)  # at most one pulse in the last 20 s
    assert meter.pulses == 2


def test_gpio_inputs_are_built_from_the_site_file_with_the_line_opener() -> None:
    limits = ControlLimits.model_validate(
        {
            "inputs": [
                {"type": "gpio", "id": "rcr", "chip": "/dev/gpiochip1", "lines": [5, 6], "active_low": True},
                {"type": "s0", "id": "hm", "line": 7, "imp_per_kwh": 800},
            ]
        }
    )
    opened: list[tuple[str, list[int], bool]] = []

    def opener(chip: str, lines: list[int], pull_up: bool) -> FakeLines:
        opened.append((chip, lines, pull_up))
        return FakeLines(dict.fromkeys(lines, True))

    polled, push = input_sources(limits, InputLedger(), LinkPool(), open_lines=opener)
    assert polled == []
    assert [type(p).__name__ for p in push] == ["GpioContacts", "S0Counter"]
    assert opened == [("/dev/gpiochip1", [5, 6], True), ("/dev/gpiochip0", [7], True)]


async def test_mqtt_contacts_count_bad_payloads_and_pass_on_only_a_complete_state() -> None:
    ledger = InputLedger()
    box = MqttContacts("box", SHELLY, [0, 1], MqttSettings(), ledger=ledger)
    box.source.subscribed.set()  # as if connected
    box._take("shellyplusi4-abc/status/input:0", b"{oops")
    box._take("shellyplusi4-abc/status/input:0", b'{"id": 0, "state": true}')
    assert ledger.by_kind("box") == {"bad_payload": 1}
    assert box.current() == []  # input 1 still unknown: nothing rather than a guess
    box._take("shellyplusi4-abc/status/input:1", b'{"id": 1, "state": false}')
    assert [(r.channel, r.value) for r in box.current()] == [("box.state_1", 1.0), ("box.state_2", 0.0)]
    box._take("shellyplusi4-abc/online", b"false")
    assert box.current() == []  # offline: the contacts go stale, the fail-safe decides
