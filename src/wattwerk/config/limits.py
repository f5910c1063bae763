"""The site file's ``control`` section: what the one limiter enforces besides the grid connection's
own limits — the ripple-control receiver's contacts and levels, the §14a signal, a direct
marketer's signal, a fixed feed-in limit, peak shaving, circuits of chargers — the fail-safe
behaviour when data goes stale, and the digital inputs (``inputs``) that carry those signals."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from wattwerk.config.base import Model
from wattwerk.config.connections import ModbusRtuConnection, ModbusTcpConnection, MqttConnection
from wattwerk.config.devices import problem
from wattwerk.config.inbound import Inbound
from wattwerk.config.types import DeviceId, Seconds

Pct = Annotated[float, Field(ge=0, le=100)]


class RippleLevel(Model):
    """One contact combination: ``pattern`` has one '0'/'1' per contact, in contact order."""

    pattern: Annotated[str, Field(pattern=r"^[01]{1,4}$")]
    feed_in_pct: Pct = 100.0  # of the installed PV power (kWp)
    consumption_pct: Pct = 100.0  # of the grid import limit


class Ripple(Model):
    """A ripple-control receiver: up to 4 contacts read as channels (non-zero = closed)."""

    contacts: Annotated[list[str], Field(min_length=1, max_length=4)]
    levels: list[RippleLevel]
    # contacts silent for ``fallback_after_s``: "keep" the last level, or act as if this pattern was set
    on_stale: str = "keep"

    @model_validator(mode="after")
    def _patterns_fit(self) -> Ripple:
        for i, level in enumerate(self.levels):
            if len(level.pattern) != len(self.contacts):
                raise problem(
                    "pattern {pattern} needs {n} digits, one per contact",
                    ("levels", i, "pattern"),
                    pattern=repr(level.pattern),
                    n=len(self.contacts),
                )
        if self.on_stale != "keep" and (
            len(self.on_stale) != len(self.contacts) or set(self.on_stale) - {"0", "1"}
        ):
            raise problem(
                'expected "keep" or a pattern of {n} digits 0/1 (the fail-safe level), got {got}',
                ("on_stale",),
                n=len(self.contacts),
                got=repr(self.on_stale),
            )
        return self


class Para14a(Model):
    """§14a EnWG dimming: while ``signal`` is non-zero, controllable consumers stay within the
    allowed power: per device, or for all of them together behind this energy manager."""

    signal: str
    mode: Literal["aggregate", "per_device"] = "aggregate"
    devices: list[str] | None = None  # default: chargers, heat pumps and batteries
    rated_w: dict[str, float] = Field(default_factory=dict)  # a device's rated power, for the 0.4 rule
    on_stale: Literal["keep", "on", "off"] = "keep"  # signal silent: keep its last state, dim, or not


class DirectMarketer(Model):
    """A direct marketer's feed-in signal (a channel written by a Modbus TCP or HTTP reader)."""

    signal: str
    unit: Literal["pct", "w"] = "pct"


class Circuit(Model):
    """Chargers on one circuit: their currents per phase together stay within ``max_current_a``."""

    name: str
    devices: Annotated[list[str], Field(min_length=1)]
    max_current_a: Annotated[float, Field(gt=0)]


class ModbusInputs(Model):
    """The discrete inputs of a Modbus I/O module (a catalogue entry of category ``io_module``)."""

    type: Literal["modbus"]
    id: DeviceId
    catalog: Annotated[str, Field(min_length=1)]
    connection: Annotated[ModbusTcpConnection | ModbusRtuConnection, Field(discriminator="type")]
    interval_s: Annotated[Seconds, Field(gt=0)] = 0.5


class _MqttInputs(Model):
    """What the relay inputs read over MQTT share."""

    id: DeviceId
    connection: MqttConnection
    repeat_s: Annotated[Seconds, Field(gt=0)] = 1.0  # the known state is re-read into the site this often


class ShellyInputs(_MqttInputs):
    """A Shelly Gen2+ device's ``input:N`` states over MQTT; ``connection.topic`` is its topic prefix."""

    type: Literal["shelly"]
    inputs: Annotated[list[Annotated[int, Field(ge=0, le=15)]], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: [0]
    )


class TasmotaInputs(_MqttInputs):
    """A Tasmota device's ``SwitchN`` states over MQTT; ``connection.topic`` is its topic."""

    type: Literal["tasmota"]
    switches: Annotated[list[Annotated[int, Field(ge=1, le=28)]], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: [1]
    )


class GpioInputs(Model):
    """Lines of a GPIO chip (libgpiod): contacts, debounced; ``active_low`` for contacts to ground."""

    type: Literal["gpio"]
    id: DeviceId
    chip: Annotated[str, Field(min_length=1)] = "/dev/gpiochip0"
    lines: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=8)]
    active_low: bool = False
    debounce_ms: Annotated[float, Field(ge=0, le=1000)] = 20.0
    repeat_s: Annotated[Seconds, Field(gt=0)] = 1.0


class S0Meter(Model):
    """An S0 pulse meter on a GPIO line: energy counter and power from its impulse constant."""

    type: Literal["s0"]
    id: DeviceId
    chip: Annotated[str, Field(min_length=1)] = "/dev/gpiochip0"
    line: Annotated[int, Field(ge=0)]
    imp_per_kwh: Annotated[float, Field(gt=0)] = 1000.0
    active_low: bool = True  # S0 outputs are open collectors: a pulse pulls the line low
    debounce_ms: Annotated[float, Field(ge=0, le=1000)] = 5.0


InputSource = ModbusInputs | ShellyInputs | TasmotaInputs | GpioInputs | S0Meter
Input = Annotated[InputSource, Field(discriminator="type")]


def input_count(source: InputSource) -> int | None:
    """How many contacts (``state_1`` …) a source has; None when its catalogue entry decides."""
    if isinstance(source, ShellyInputs):
        return len(source.inputs)
    if isinstance(source, TasmotaInputs):
        return len(source.switches)
    if isinstance(source, GpioInputs):
        return len(source.lines)
    if isinstance(source, S0Meter):
        return 0
    return None


class ControlLimits(Model):
    ripple: Ripple | None = None
    para14a: Para14a | None = None
    direct_marketer: DirectMarketer | None = None
    feed_in_limit_pct: Pct | None = None  # fixed feed-in limit, e.g. 60 or 70 % of kWp
    peak_shaving_w: Annotated[float, Field(ge=0)] | None = None
    circuits: list[Circuit] = Field(default_factory=list)
    margin_w: Annotated[float, Field(ge=0)] = 100.0  # aim this far inside every limit
    fallback_after_s: Annotated[float, Field(gt=0)] = 10.0  # data older than this: fail-safe
    ev_fallback: Literal["min", "off"] = "min"
    battery_fallback: Literal["idle", "internal"] = "idle"  # idle: 0 W; internal: its own control
    resend_s: Annotated[float, Field(gt=0)] = 30.0
    pv_deadband_w: Annotated[float, Field(ge=0)] = 100.0  # a PV limit is raised only by more than this
    ev_restart_s: Annotated[float, Field(ge=0)] = 60.0  # a charger the limiter switched off stays off
    inputs: list[Input] = Field(default_factory=list)  # digital inputs: contacts (state_1 …), S0 meters
    inbound: Inbound | None = None  # limits from a marketer or grid operator: 104, Modbus, OpenADR

    @model_validator(mode="after")
    def _inputs_fit(self) -> ControlLimits:
        seen: set[str] = set()
        for i, source in enumerate(self.inputs):
            if source.id in seen:
                raise problem("input id {id} is used twice", ("inputs", i, "id"), id=repr(source.id))
            seen.add(source.id)
        by_id = {s.id: s for s in self.inputs}
        refs: list[tuple[str, tuple[str | int, ...]]] = []
        if self.ripple is not None:
            refs += [(c, ("ripple", "contacts", k)) for k, c in enumerate(self.ripple.contacts)]
        if self.para14a is not None:
            refs.append((self.para14a.signal, ("para14a", "signal")))
        for channel, at in refs:
            dev, _, quantity = channel.partition(".")
            source = by_id.get(dev)
            n = None if source is None else input_count(source)
            if n is None:
                continue
            allowed = [f"state_{k}" for k in range(1, n + 1)]
            if quantity not in allowed:
                have = ", ".join(f"{dev}.{q}" for q in allowed) or "none (an S0 meter has no contacts)"
                raise problem(
                    "input {id} has no contact {q}; it has {have}",
                    at,
                    id=repr(dev),
                    q=repr(quantity),
                    have=have,
                )
        return self
