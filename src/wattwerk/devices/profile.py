"""The catalogue's schema: one YAML file per category and vendor, one entry per model line.

Validated with pydantic on load (``load_catalog`` in ``catalog.py``) and by a test over every file.
A register's ``name`` is our quantity (``power``, ``energy_import``, ``soc`` ...) when ``channel`` is
true, so the reading is ``<device>.<name>``; helper registers (scale factors, status words,
identification) set ``channel: false``. Values in our units are ``raw * scale * 10**sf``; a negative
``scale`` flips a vendor's sign into ours (e.g. a battery register that is + charging).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from wattwerk.devices.templates import Command, HttpTemplate, MqttTemplate, StrictModel, template_commands
from wattwerk.model import quantity_info
from wattwerk.protocols.modbus_codec import TYPES, Register
from wattwerk.vocabulary import CAPABILITY_COMMAND

Category = Literal[
    "pv_inverter",
    "hybrid_battery_inverter",
    "ev_charger",
    "electricity_meter",
    "heat_meter",
    "gas_meter",
    "heat_pump",
    "heating_rod",
    "fuel_cell",
    "chp",
    "electrolyser",
    "relay",
    "io_module",
]
Protocol = Literal[
    "modbus_tcp", "modbus_rtu", "sunspec", "udp", "tcp", "http", "speedwire", "sml", "gpio", "mqtt"
]

# capability -> the write command that provides it (None: a read capability; the write ones are
# the vocabulary's)
CAPABILITIES: dict[str, str | None] = {
    "read_power": None,
    "read_energy": None,
    "read_soc": None,
    "read_temperature": None,
    **CAPABILITY_COMMAND,
}
Capability = Literal[
    "read_power",
    "read_energy",
    "read_soc",
    "read_temperature",
    "pv_power_limit",
    "battery_setpoint",
    "battery_mode",
    "charge_current",
    "enable",
    "phases",
    "sgready",
    "relay",
    "power_setpoint",
]


class Source(StrictModel):
    title: str
    url: str | None = None


class RegisterSpec(StrictModel):
    name: str
    address: int = Field(ge=0, le=65535)
    type: str = "u16"
    table: Literal["holding", "input", "coil", "discrete"] = "holding"
    scale: float = 1.0
    sf: str | None = None
    words: int = Field(default=0, ge=0, le=125)
    word_order: Literal["big", "little"] | None = None
    unit: str | None = None
    channel: bool = True
    min: float | None = None
    max: float | None = None
    writable: bool = False
    emulate: float | str | None = None  # what the emulator shows when the simulator has no value
    per_connector: bool = True  # shifted by the connector stride (false: shared by all connectors)
    offset: float = 0.0  # added after scaling: value = raw * scale * 10**sf + offset
    # the channel is this register's value minus the named one's: a signed flow a device sends as two
    # unsigned halves (SMA's battery discharge 31395 and charge 31393: + discharging)
    minus: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in TYPES:
            raise ValueError(f"unknown type {v!r}; have {', '.join(TYPES)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> RegisterSpec:
        if self.type == "string" and not self.words:
            raise ValueError(f"{self.name}: a string needs words")
        if self.scale == 0:
            raise ValueError(f"{self.name}: scale 0")
        if self.channel:
            unit, _ = quantity_info(self.name)  # raises for an unknown quantity
            if self.unit is not None and self.unit != unit:
                raise ValueError(f"{self.name}: unit {self.unit!r} but the quantity's unit is {unit!r}")
        return self

    def register(self, word_order: Literal["big", "little"], shift: int = 0) -> Register:
        address = self.address + (shift if self.per_connector else 0)
        return Register(
            self.name,
            address,
            self.type,
            self.table,
            self.scale,
            self.sf,
            self.words,
            self.word_order or word_order,
            self.min,
            self.max,
            offset=self.offset,
        )


class Direction(StrictModel):
    """A sign carried by a separate command register (e.g. Sungrow 0xAA charge / 0xBB discharge):
    the magnitude goes to the write's register(s), this code to register ``via``."""

    via: str
    positive: float
    negative: float
    zero: float
    last: bool = False  # write the code after the magnitude(s) and ``then`` (Huawei's forcible command)


class WriteSpec(StrictModel):
    """A command and the register(s) it writes. Without ``map`` the value (our unit) goes to each
    register, scaled (``direction`` and ``percent_of`` use the first); with ``map`` each command
    value names one value per register (in the registers' units, i.e. before their scale is undone)."""

    command: Command
    registers: list[str] = Field(min_length=1)
    map: dict[int, list[float]] | None = None
    single: bool = False  # FC6 instead of FC16
    min: float | None = None
    max: float | None = None
    then: dict[str, float] = Field(default_factory=dict)  # fixed writes after the value (enable flags)
    # the register takes % of a rating: W, a register's name, or "rated" (the device's configured rating,
    # or for a SunSpec entry its WMax)
    percent_of: float | str | None = None
    direction: Direction | None = None


class Identify(StrictModel):
    """An identification register: the entry matches when its value equals or starts with this."""

    name: str  # the register
    equals: float | None = None
    prefix: str | None = None
    one_of: list[float] | None = None


class Heartbeat(StrictModel):
    """A register the device wants written within its timeout while it is controlled (a charger's
    'alive' bit), else it falls back to its safe state: written on every poll at most ``every_s``
    apart."""

    name: str  # the register
    value: float = 1.0
    every_s: float = Field(default=5.0, gt=0, le=60)
    single: bool = False  # write with function 6 (one register) instead of 16


class Connection(StrictModel):
    port: int = 502
    unit: int = Field(default=1, ge=0, le=255)
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    word_order: Literal["big", "little"] = "big"
    pause: float = 0.0  # s between requests
    max_gap: int = 16


class Connectors(StrictModel):
    """Charge points of one station: connector n's registers are ``(n - 1) * stride`` higher, or
    it answers on unit ``unit + (n - 1) * unit_step``."""

    count: int = Field(ge=2, le=16)
    stride: int = 0
    unit_step: int = 0


Native = Literal[
    "keba_udp",
    "hardy_barth",
    "mypv_http",
    "relay",
    "pulse_counter",
    "kostal_dxs",
    "kostal_html",
    "rct",
    "tq_em",
    "http_json",
    "mqtt_json",
    "wattpilot_ws",
]
RelayDialect = Literal["shelly_gen1", "shelly_gen2", "tasmota", "kmtronic_udp"]


class RelaySpec(StrictModel):
    """Relay outputs switched over a vendor's own protocol (command tables: ``devices/relay.py``).

    ``outputs`` are the device's relay numbers as the vendor counts them (Shelly from 0, Tasmota and
    KMTronic from 1). ``relay`` switches the first output; with ``map`` (SG-Ready) each command value
    names one state (0/1) per output, e.g. ``{1: [1, 0], 2: [0, 0], 3: [0, 1], 4: [1, 1]}``.
    ``meter``: the switch measures the power (and energy) it passes (switch sockets)."""

    dialect: RelayDialect
    outputs: list[int] = Field(min_length=1, max_length=8)
    map: dict[int, list[int]] | None = None
    meter: bool = False

    @model_validator(mode="after")
    def _check(self) -> RelaySpec:
        if self.map is not None and any(
            len(v) != len(self.outputs) or set(v) - {0, 1} for v in self.map.values()
        ):
            raise ValueError("each relay map value needs one 0/1 per output")
        return self


class PulseSpec(StrictModel):
    """An S0 pulse meter counted by a device's input (Tasmota ``Counter<n>`` on a GPIO)."""

    dialect: Literal["tasmota"] = "tasmota"
    counter: int = Field(default=1, ge=1, le=8)
    per_kwh: float = Field(default=1000.0, gt=0)  # the meter's impulse constant (imp/kWh)


class NativeValue(StrictModel):
    """One quantity a native driver reads by the device's own keys (RCT object names, OBIS codes ...):
    the sum of ``add`` minus the sum of ``subtract``, times ``scale`` (to our unit).
    ``optional``: some models or firmware versions lack it; it is then left out, not an error."""

    quantity: str
    add: list[str] = Field(min_length=1)
    subtract: list[str] = Field(default_factory=list)
    scale: float = 1.0
    optional: bool = False


class SunSpecSpec(StrictModel):
    models: list[int] = Field(min_length=1)  # the chain the emulator builds (and devices typically have)
    base: int = 40000
    rated_power: float = 5000.0  # W, the emulated WMax
    # which flow the chain's meter model counts + (SunSpec: import; SolarEdge's E+I meter: export)
    meter_positive: Literal["import", "export"] = "import"
    # a hybrid (DC-coupled battery) inverter's W is its AC power, which carries the battery's flow too;
    # where its PV power comes from instead (the inverter model's W and WH then report as power_ac and
    # energy_ac): "inverter" (W is the PV power), "mppt" (the sum of model 160's modules pv_modules,
    # counted from 1: DCW as power, DCWH as energy), "vendor" (the entry's own registers power and
    # energy), "dc" (the inverter model's DCW minus the entry's register power_battery, + discharging)
    pv_power: Literal["inverter", "mppt", "vendor", "dc"] = "inverter"
    pv_modules: list[int] = Field(default_factory=list)
    # the same for a hybrid read as a battery (a site battery's power is its own flow, + discharging):
    # where the battery's flow comes from (the inverter model's W and WH then report as power_ac and
    # energy_ac): "inverter" (W is the device's power), "802" (the battery model's W, and its SoC as
    # soc where the chain has no model 124), "mppt" (model 160's modules battery_modules = [charge,
    # discharge], counted from 1: the discharge module's DCW minus the charge module's, their DCWH as
    # energy_charge and energy_discharge)
    battery_power: Literal["inverter", "802", "mppt"] = "inverter"
    battery_modules: list[int] = Field(default_factory=list)

    @field_validator("battery_power", mode="before")
    @classmethod
    def _model_number(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value  # battery_power: 802 names the model

    @model_validator(mode="after")
    def _pv_source(self) -> SunSpecSpec:
        if (self.pv_power == "mppt") != bool(self.pv_modules):
            raise ValueError("pv_modules go with pv_power: mppt (and it needs them)")
        if self.pv_power == "mppt" and (160 not in self.models or min(self.pv_modules) < 1):
            raise ValueError("pv_power: mppt needs model 160 in models and modules counted from 1")
        if "inverter" not in (self.pv_power, self.battery_power):
            raise ValueError("pv_power and battery_power both make power their own: give one")
        if (self.battery_power == "mppt") != (len(self.battery_modules) == 2):
            raise ValueError("battery_modules [charge, discharge] go with battery_power: mppt (it needs two)")
        needs = {"mppt": 160, "802": 802}.get(self.battery_power)
        if needs is not None and (needs not in self.models or min(self.battery_modules, default=1) < 1):
            raise ValueError(f"battery_power: {self.battery_power} needs model {needs} in models")
        return self


class Entry(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    models: list[str] = Field(min_length=1)
    protocols: list[Protocol] = Field(min_length=1)
    connection: Connection = Connection()
    connectors: Connectors | None = None
    sunspec: SunSpecSpec | None = None
    native: Native | None = None  # a driver of its own protocol (devices/native.py) instead of Modbus
    relay: RelaySpec | None = None  # with native: relay
    pulse: PulseSpec | None = None  # with native: pulse_counter
    values: list[NativeValue] = Field(default_factory=list)  # with native: rct, tq_em
    http: HttpTemplate | None = None  # with native: http_json (devices/templates.py)
    mqtt: MqttTemplate | None = None  # with native: mqtt_json
    rated_power: float | None = Field(default=None, gt=0)  # W, where a native driver's command needs it
    registers: list[RegisterSpec] = Field(default_factory=list)
    gaps: list[tuple[int, int]] = Field(default_factory=list)
    heartbeat: Heartbeat | None = None
    identify: list[Identify] = Field(default_factory=list)
    writes: list[WriteSpec] = Field(default_factory=list)
    capabilities: list[Capability] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    source: list[Source] = Field(min_length=1)
    untested: str | None = None  # why no emulator test can cover this entry (e.g. protocol not public)

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        names = [r.name for r in self.registers]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.id}: duplicate register names")
        by_name = {r.name: r for r in self.registers}
        for r in self.registers:
            if r.sf is not None and (r.sf not in by_name or by_name[r.sf].type != "sf"):
                raise ValueError(f"{self.id}: {r.name} refers to scale factor {r.sf!r}, not an sf register")
            if r.minus is not None and (r.minus not in by_name or r.minus == r.name):
                raise ValueError(f"{self.id}: {r.name} minus: no other register {r.minus!r}")
        for w in self.writes:
            if isinstance(w.percent_of, str) and w.percent_of != "rated" and w.percent_of not in by_name:
                raise ValueError(f"{self.id}: write {w.command}: percent_of: no register {w.percent_of!r}")
            extra = [w.direction.via] if w.direction else []
            for name in [*w.registers, *w.then, *extra]:
                if name not in by_name:
                    raise ValueError(f"{self.id}: write {w.command} names unknown register {name!r}")
                if not by_name[name].writable:
                    raise ValueError(f"{self.id}: write {w.command}: register {name!r} is not writable")
            if w.map is not None and any(len(v) != len(w.registers) for v in w.map.values()):
                raise ValueError(f"{self.id}: write {w.command}: each map value needs one per register")
        if self.heartbeat is not None and not (
            self.heartbeat.name in by_name and by_name[self.heartbeat.name].writable
        ):
            raise ValueError(f"{self.id}: heartbeat: no writable register {self.heartbeat.name!r}")
        for i in self.identify:
            if i.name not in by_name:
                raise ValueError(f"{self.id}: identify names unknown register {i.name!r}")
        if (self.native == "relay") != (self.relay is not None):
            raise ValueError(f"{self.id}: native: relay goes with a relay: section (and only it)")
        if (self.native == "pulse_counter") != (self.pulse is not None):
            raise ValueError(f"{self.id}: native: pulse_counter goes with a pulse: section (and only it)")
        if (self.native in ("rct", "tq_em", "wattpilot_ws")) != bool(self.values):
            raise ValueError(f"{self.id}: native: {self.native} goes with a values: section (and only it)")
        for kind, section in (("http_json", "http"), ("mqtt_json", "mqtt")):
            if (self.native == kind) != (getattr(self, section) is not None):
                raise ValueError(f"{self.id}: native: {kind} goes with an {section}: section (and only it)")
        commands = {w.command for w in self.writes} | template_commands(self.http, self.mqtt)
        templated = self.native in ("http_json", "mqtt_json")
        checked = self.sunspec is None and self.untested is None and (self.native is None or templated)
        for cap in self.capabilities:
            needed = CAPABILITIES[cap]
            if checked and needed is not None and needed not in commands:
                raise ValueError(f"{self.id}: capability {cap} needs a write of {needed}")
        pv = self.sunspec.pv_power if self.sunspec else "inverter"
        needs = {"vendor": "power", "dc": "power_battery"}.get(pv)
        if needs is not None and not (needs in by_name and by_name[needs].channel):
            raise ValueError(f"{self.id}: sunspec pv_power: {pv} needs a register {needs}")
        modbus = "modbus_tcp" in self.protocols or "modbus_rtu" in self.protocols
        if modbus and not self.registers and self.sunspec is None and self.untested is None:
            raise ValueError(f"{self.id}: a Modbus entry needs registers or sunspec")
        return self

    def register_table(self, connector: int = 1) -> list[Register]:
        """The registers of charge point ``connector`` (1 for single-point devices)."""
        shift = self.shift(connector)
        return [r.register(self.connection.word_order, shift) for r in self.registers]

    def shift(self, connector: int) -> int:
        count = self.connectors.count if self.connectors else 1
        if not 1 <= connector <= count:
            raise ValueError(f"{self.id}: connector {connector} of {count}")
        return (connector - 1) * self.connectors.stride if self.connectors else 0

    def unit_for(self, connector: int = 1) -> int:
        self.shift(connector)  # validates the connector
        step = self.connectors.unit_step if self.connectors else 0
        return self.connection.unit + (connector - 1) * step

    @property
    def controllable(self) -> bool:
        return any(CAPABILITIES[c] is not None for c in self.capabilities)


class CatalogFile(StrictModel):
    category: Category
    vendor: str
    entries: list[Entry] = Field(min_length=1)
