"""Tasmota ``tele/<topic>/SENSOR`` documents: its SML script output (as gPlug and other
read heads publish it) and its own energy monitor (plugs, ``ENERGY``).

SML script output names its values after the script's descriptor lines; the usual ones are
``{"Time": "...", "SML": {"Total_in": kWh, "Total_out": kWh, "Power_curr": W}}``. The prefix
(``SML``), the names and the energy unit differ per script, so they are settings here.
Tasmota's ``Time`` is the device's local time without a zone: it is used only when the
device's zone is configured, otherwise the reader stamps receive time.

A site file names a script's labels with ``labelled_decoder``: a preset label set from
``tasmota_labels.yaml`` (data: tasmota, gplug, p1, german) and/or its own ``label -> (quantity,
scale)``; a numeric field no label names is hinted once in the log with the key to set.

Raw DSMR telegrams over MQTT are not JSON: read them with ``MqttSource`` and the DSMR
decoder (``wattwerk.protocols.decode.make_decoder("dsmr")``), see ``dsmr_over_mqtt``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from wattwerk.model import OBIS
from wattwerk.protocols.base import Decoder, Value
from wattwerk.protocols.jsonmap import FieldMap, JsonDecoder, number
from wattwerk.protocols.meter import derive_totals

log = logging.getLogger("wattwerk.meter")
PRESETS_FILE = Path(__file__).with_name("tasmota_labels.yaml")
OBIS_OF = {name.quantity: code for code, name in OBIS.items()}

# SML script value name -> (quantity, OBIS, is an energy counter). Energy counters are scaled
# by the script's energy unit (kWh in the usual scripts); powers are in W.
SML_NAMES: dict[str, tuple[str, str | None, bool]] = {
    "Total_in": ("energy_import", "1-0:1.8.0", True),
    "Total_out": ("energy_export", "1-0:2.8.0", True),
    "Power_curr": ("power", "1-0:16.7.0", False),
    "Power_L1": ("power_l1", "1-0:36.7.0", False),
    "Power_L2": ("power_l2", "1-0:56.7.0", False),
    "Power_L3": ("power_l3", "1-0:76.7.0", False),
}

# Tasmota's energy monitor (plugs, Sonoff POW, Shelly with Tasmota; xdrv_03_energy): kWh and W.
# With several channels (Shelly EM/3EM, PZEM x3, ADE7880) each of these is a list, one number per
# phase or channel (Total only with SetOption129; Frequency and Voltage may stay one number);
# TotalTariff / ExportTariff are [tariff 1, tariff 2]. ENERGY key -> (quantity, scale).
ENERGY_KEYS: dict[str, tuple[str, float]] = {
    "Total": ("energy_import", 1000.0),
    "ExportActive": ("energy_export", 1000.0),
    "Power": ("power", 1.0),
    "ApparentPower": ("apparent_power", 1.0),
    "ReactivePower": ("reactive_power", 1.0),
    "Factor": ("power_factor", 1.0),
    "Voltage": ("voltage", 1.0),
    "Current": ("current", 1.0),
    "Frequency": ("frequency", 1.0),
}
ENERGY_REQUIRED = ("Total", "Power")
ENERGY_TARIFFS = {"TotalTariff": "energy_import", "ExportTariff": "energy_export"}
# per-phase quantities whose sum is the device's total (as Tasmota sums them itself)
SUMMED = ("power", "apparent_power", "reactive_power", "energy_import", "energy_export")


def energy_fields(doc: Any) -> list[FieldMap]:
    """The fields of an ``ENERGY`` object: a number as its quantity, a list per phase (``_l1``..)."""
    node = doc.get("ENERGY") if isinstance(doc, dict) else None
    node = node if isinstance(node, dict) else {}
    fields: list[FieldMap] = []
    for key, (quantity, scale) in ENERGY_KEYS.items():
        raw, path = node.get(key), f"ENERGY.{key}"
        if not isinstance(raw, list):
            fields.append(FieldMap(path, quantity, scale, optional=key not in ENERGY_REQUIRED))
        elif quantity == "frequency":  # one grid: the first phase's
            fields.append(FieldMap(f"{path}[0]", quantity, scale, optional=True))
        else:
            fields += [
                FieldMap(f"{path}[{i}]", f"{quantity}_l{i + 1}", scale, optional=True)
                for i in range(min(len(raw), 3))
            ]
    for key, quantity in ENERGY_TARIFFS.items():
        raw = node.get(key)
        if isinstance(raw, list):
            fields += [
                FieldMap(f"ENERGY.{key}[{i}]", f"{quantity}_t{i + 1}", 1000.0, optional=True)
                for i in range(min(len(raw), 2))
            ]
    return fields


ENERGY_FIELDS: list[FieldMap] = energy_fields({})  # a single-channel device's fields


@dataclass
class TasmotaSml:
    """Settings of one Tasmota SML script: its JSON prefix, value names and energy unit."""

    prefix: str = "SML"
    names: dict[str, tuple[str, str | None, bool]] = field(default_factory=lambda: dict(SML_NAMES))
    energy_scale: float = 1000.0  # kWh -> Wh; 1.0 when the script publishes Wh
    required: tuple[str, ...] = ("Total_in", "Power_curr")

    def fields(self) -> list[FieldMap]:
        return [
            FieldMap(
                f"{self.prefix}.{name}",
                quantity,
                self.energy_scale if counter else 1.0,
                obis,
                optional=name not in self.required,
            )
            for name, (quantity, obis, counter) in self.names.items()
        ]


def sml_decoder(
    settings: TasmotaSml | None = None, *, messages: bool = True, timezone: str | None = None
) -> JsonDecoder:
    """A decoder for one configured Tasmota SML script."""
    fields = (settings or TasmotaSml()).fields()
    return JsonDecoder(fields, time_path="Time", timezone=timezone, messages=messages)


def energy_decoder(*, messages: bool = True, timezone: str | None = None) -> JsonDecoder:
    """A decoder for Tasmota's own energy monitor (``ENERGY``), one channel or several."""
    return JsonDecoder(energy_fields, time_path="Time", timezone=timezone, messages=messages, post=_totals)


def detect_fields(doc: Any) -> list[FieldMap]:
    """For captures of unknown origin: ``ENERGY`` or the first object holding SML names."""
    if isinstance(doc, dict):
        if isinstance(doc.get("ENERGY"), dict):
            return energy_fields(doc)
        for key, node in doc.items():
            if isinstance(node, dict) and any(name in node for name in SML_NAMES):
                return TasmotaSml(prefix=key).fields()
    return TasmotaSml().fields()


def auto_decoder(*, messages: bool = False, timezone: str | None = None) -> JsonDecoder:
    detect: Callable[[Any], list[FieldMap]] = detect_fields
    return JsonDecoder(detect, time_path="Time", timezone=timezone, messages=messages, post=_totals)


def decoder(key: bytes | None = None) -> JsonDecoder:
    """``wattwerk decode tasmota``: JSON lines (optionally ``topic {json}`` as mosquitto_sub -v
    prints them); the shape of each document picks SML script or energy monitor fields."""
    return auto_decoder()


def dsmr_over_mqtt(key: bytes | None = None) -> Decoder:
    """The decoder for raw DSMR telegrams published over MQTT (one telegram per message)."""
    from wattwerk.protocols.decode import make_decoder

    return make_decoder("dsmr", key)


# ---------------------------------------------------------------- label sets from the site file

Labels = dict[str, tuple[str, float]]  # label -> (quantity, scale to our unit)


@cache
def presets() -> dict[str, Labels]:
    """The label sets of ``tasmota_labels.yaml``: preset name -> labels."""
    data = YAML(typ="safe").load(PRESETS_FILE.read_text(encoding="utf-8"))
    return {
        name: {str(label): (str(q), float(k)) for label, (q, k) in labels.items()}
        for name, labels in data.items()
    }


def label_set(preset: str | None = None, labels: Labels | None = None) -> Labels:
    """A preset's labels (``tasmota`` when neither is given) with ``labels`` added over them."""
    if preset is None and not labels:
        preset = "tasmota"
    if preset is not None and preset not in presets():
        raise ValueError(f"unknown preset {preset!r}; have {', '.join(presets())}")
    out = dict(presets()[preset]) if preset else {}
    out.update(labels or {})
    for label, (quantity, scale) in out.items():
        FieldMap(label, quantity, scale)  # an unknown quantity or a zero scale: ValueError now
    return out


@dataclass
class LabelledFields:
    """The fields of one document: the script's object (``prefix``, or the first object holding a
    known label) mapped by label. Labels match regardless of case (scripts write ``Total_in``,
    ``total_in`` and ``Total_IN``); a script's prefix may be empty (``"": {...}``), and the
    answer to ``Status 10`` wraps it all in ``StatusSNS``. Numeric fields no label names are
    hinted once each."""

    labels: Labels
    prefix: str | None = None
    device: str = "meter"
    hinted: set[str] = field(default_factory=set)
    _folded: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._folded = {label.strip().casefold(): label for label in self.labels}

    def __call__(self, doc: Any) -> list[FieldMap]:
        outer = ""
        if isinstance(doc, dict) and isinstance(doc.get("StatusSNS"), dict):
            doc, outer = doc["StatusSNS"], "StatusSNS."
        key = self.prefix or self._find(doc)
        node = doc.get(key) if isinstance(doc, dict) and key is not None else None
        if key is None or not isinstance(node, dict):
            return []
        self._hint(key, node)
        fields = []
        for name in node:
            label = self.label_of(name)
            if label is not None:
                quantity, scale = self.labels[label]
                path = f"{outer}{key}.{name}"
                fields.append(FieldMap(path, quantity, scale, OBIS_OF.get(quantity), optional=True))
        return fields

    def label_of(self, name: str) -> str | None:
        """The label that names a document's field: the same, else the same but for case."""
        return name if name in self.labels else self._folded.get(name.strip().casefold())

    def _find(self, doc: Any) -> str | None:
        if not isinstance(doc, dict):
            return None
        objects = [k for k, v in doc.items() if isinstance(v, dict)]
        known = [k for k in objects if any(self.label_of(name) for name in doc[k])]
        return (known or objects or [None])[0]

    def _hint(self, key: str, node: dict[str, Any]) -> None:
        for name, raw in node.items():
            if self.label_of(name) or number(raw) is None or f"{key}.{name}" in self.hinted:
                continue
            self.hinted.add(f"{key}.{name}")
            log.warning(
                "%s: Tasmota field %s.%s = %r is not mapped; to read it, name it in the site file: "
                "connection: {format: tasmota, labels: {%s: {quantity: <e.g. power, energy_import>, "
                "scale: <to W/Wh>}}}",
                self.device,
                key,
                name,
                raw,
                name,
            )


def _totals(doc: Any, values: list[Value]) -> tuple[list[Value], list[tuple[str, str]]]:
    """Net power from import/export powers and totals from tariff registers (as DSMR meters),
    then totals from per-phase values where the document has none: an ``ENERGY`` list's channels
    (Tasmota sums them itself), a script's phases only when it labels all three (one phase of a
    three-phase meter is not its total)."""
    values = derive_totals(values)
    have = {v.quantity: v for v in values}
    channels = isinstance(doc, dict) and isinstance(doc.get("ENERGY"), dict)
    for quantity in SUMMED:
        phases = [have.get(f"{quantity}_l{n}") for n in (1, 2, 3)]
        present = [p for p in phases if p is not None]
        if quantity not in have and present and (len(present) == 3 or channels):
            values = [*values, Value(None, quantity, sum(p.value for p in present), present[0].unit)]
    return values, []


def labelled_decoder(
    preset: str | None = None,
    labels: Labels | None = None,
    *,
    prefix: str | None = None,
    device: str = "meter",
    messages: bool = True,
    timezone: str | None = None,
) -> JsonDecoder:
    """The decoder of a Tasmota script as the site file describes it (ValueError on bad labels)."""
    fields = LabelledFields(label_set(preset, labels), prefix, device)
    return JsonDecoder(fields, time_path="Time", timezone=timezone, messages=messages, post=_totals)


def shape_decoder(
    *, device: str = "meter", messages: bool = True, timezone: str | None = None
) -> JsonDecoder:
    """Tasmota documents by their shape (a site file's ``format: json`` without ``fields``): the
    energy monitor's ``ENERGY``, else a script's object read with the ``tasmota`` labels (and its
    unmapped numeric fields hinted, as with ``format: tasmota``)."""
    script = LabelledFields(label_set("tasmota"), None, device)

    def fields(doc: Any) -> list[FieldMap]:
        if isinstance(doc, dict) and isinstance(doc.get("ENERGY"), dict):
            return energy_fields(doc)
        return script(doc)

    return JsonDecoder(fields, time_path="Time", timezone=timezone, messages=messages, post=_totals)
