"""The site file's ``control.inputs`` as things the runtime reads: Modbus I/O modules are polled
devices; Shelly and Tasmota inputs (MQTT), GPIO contacts and S0 meters are push sources."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable

from wattwerk.config.limits import (
    ControlLimits,
    GpioInputs,
    InputSource,
    ModbusInputs,
    S0Meter,
    ShellyInputs,
    TasmotaInputs,
)
from wattwerk.config.messages import Loc
from wattwerk.devices.catalog import find
from wattwerk.devices.contacts import GpioContacts, MqttContacts, S0Counter
from wattwerk.devices.device import create
from wattwerk.edge.modbus_link import site_link
from wattwerk.edge.runtime import Polled
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import Reading
from wattwerk.protocols.contacts_mqtt import ShellyInputs as ShellyDialect
from wattwerk.protocols.contacts_mqtt import TasmotaSwitches
from wattwerk.protocols.gpio_lines import GpiodLines, LineEvent, LineSource
from wattwerk.protocols.modbus import LinkPool
from wattwerk.protocols.mqtt import MqttSettings

LineOpener = Callable[[str, list[int], bool], LineSource]


def _gpiod(chip: str, lines: list[int], pull_up: bool) -> LineSource:
    return GpiodLines(chip, lines, pull_up=pull_up)


class _Unopened:
    """GPIO lines of a dry build (``wattwerk check``): nothing is opened, nothing is read."""

    def levels(self) -> dict[int, bool]:
        return {}

    async def events(self) -> AsyncIterator[LineEvent]:
        return
        yield

    def close(self) -> None:
        pass


def unopened_lines(chip: str, lines: list[int], pull_up: bool) -> LineSource:
    return _Unopened()


def _modbus(src: ModbusInputs, links: LinkPool, ledger: InputLedger) -> Polled:
    try:
        entry = find(src.catalog.rsplit("/", 1)[-1]).entry
    except PermanentError as exc:
        raise PermanentError(f"input {src.id}: {exc} (see `wattwerk devices --category io_module`)") from None
    c = src.connection
    if c.type not in entry.protocols:
        raise PermanentError(f"input {src.id}: {entry.id} speaks {', '.join(entry.protocols)}, not {c.type}")
    driver = create(entry, links.get(site_link(c, entry)), device_id=src.id, unit=c.unit, ledger=ledger)
    return Polled(src.id, driver, src.interval_s, timeout_s=max(1.0, 2 * src.interval_s))


def _mqtt(src: ShellyInputs | TasmotaInputs) -> MqttSettings:
    c = src.connection
    return MqttSettings(c.host, c.port, c.username, c.password.get_secret_value() if c.password else None)


def input_sources(
    limits: ControlLimits,
    ledger: InputLedger,
    links: LinkPool,
    open_lines: LineOpener = _gpiod,
    problems: list[tuple[Loc, str]] | None = None,
) -> tuple[list[Polled], list[AsyncIterable[list[Reading]]]]:
    """Polled drivers and push sources for every configured input. With ``problems``, an input that
    cannot be built is added to it (with its place in the site file) instead of raising."""
    polled: list[Polled] = []
    push: list[AsyncIterable[list[Reading]]] = []
    for i, src in enumerate(limits.inputs):
        try:
            _add_input(src, polled, push, ledger, links, open_lines)
        except PermanentError as exc:
            if problems is None:
                raise
            problems.append((("control", "inputs", i), str(exc)))
    return polled, push


def _add_input(
    src: InputSource,
    polled: list[Polled],
    push: list[AsyncIterable[list[Reading]]],
    ledger: InputLedger,
    links: LinkPool,
    open_lines: LineOpener,
) -> None:
    if isinstance(src, ModbusInputs):
        polled.append(_modbus(src, links, ledger))
    elif isinstance(src, ShellyInputs):
        push.append(
            MqttContacts(
                src.id,
                ShellyDialect(src.connection.topic),
                src.inputs,
                _mqtt(src),
                repeat_s=src.repeat_s,
                ledger=ledger,
            )
        )
    elif isinstance(src, TasmotaInputs):
        push.append(
            MqttContacts(
                src.id,
                TasmotaSwitches(src.connection.topic),
                src.switches,
                _mqtt(src),
                repeat_s=src.repeat_s,
                ledger=ledger,
            )
        )
    elif isinstance(src, GpioInputs):
        lines = open_lines(src.chip, list(src.lines), src.active_low)
        push.append(
            GpioContacts(
                src.id,
                lines,
                src.lines,
                active_low=src.active_low,
                debounce_s=src.debounce_ms / 1000,
                repeat_s=src.repeat_s,
            )
        )
    elif isinstance(src, S0Meter):
        lines = open_lines(src.chip, [src.line], src.active_low)
        push.append(
            S0Counter(
                src.id,
                lines,
                src.line,
                imp_per_kwh=src.imp_per_kwh,
                active_low=src.active_low,
                debounce_s=src.debounce_ms / 1000,
            )
        )
