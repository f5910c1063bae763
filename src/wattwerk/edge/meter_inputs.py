"""Meters read as messages: MQTT (``json``, ``tasmota``, ``plain``, ``dsmr``) and HTTP polling
(``shelly`` profiles, ``json`` with fields) — the site file's connection to a ``MeterReader``.

Bad settings that only the protocol layer can judge (an unknown quantity, preset or Shelly
profile) are ``DeviceError``s at the field, so ``wattwerk check`` names the line.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from wattwerk.config import DeviceBase
from wattwerk.config.connections import HttpConnection, MqttConnection, ValueMap
from wattwerk.edge.drivers import DeviceError, format_reader, stream_decoder
from wattwerk.errors import InputLedger
from wattwerk.protocols.base import Decoder
from wattwerk.protocols.http import HttpPoller
from wattwerk.protocols.jsonmap import FieldMap, JsonDecoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.mqtt import MqttSettings, MqttSource
from wattwerk.protocols.plain import plain_decoder
from wattwerk.protocols.plausibility import PowerBounds
from wattwerk.protocols.shelly import decoder_for, poller_for, profile
from wattwerk.protocols.tasmota import labelled_decoder, shape_decoder


def message_reader(
    dev: DeviceBase, ledger: InputLedger, stale_after_s: float, bounds: PowerBounds | None
) -> MeterReader:
    c = dev.connection
    if isinstance(c, MqttConnection):
        decoder = _mqtt_decoder(dev.id, c)
        password = c.password.get_secret_value() if c.password else None
        source = MqttSource(
            c.topic, MqttSettings(c.host, c.port, c.username, password), with_topic=c.format == "plain"
        )
        return format_reader(dev, decoder, source, ledger, stale_after_s, bounds)
    assert isinstance(c, HttpConnection)
    interval = c.interval_s or dev.interval_s
    poller, decoder = _http_meter(dev.id, c, interval, ledger)
    return MeterReader(
        dev.id,
        decoder,
        poller,
        ledger=ledger,
        stale_after=max(stale_after_s, 3 * interval),
        use_receive_time=True,
        bounds=bounds,
    )


def _mqtt_decoder(device: str, c: MqttConnection) -> Decoder:
    if c.format == "dsmr":
        return stream_decoder("dsmr", c.key.get_secret_value() if c.key else None)
    if c.format == "tasmota":
        labels = {k: (v.quantity, v.scale) for k, v in (c.labels or {}).items()}
        try:
            return labelled_decoder(c.preset, labels, prefix=c.prefix, device=device)
        except ValueError as exc:
            at = "preset" if "preset" in str(exc) else "labels"
            raise DeviceError(str(exc), ("connection", at)) from None
    if c.format == "plain":
        single = len(c.fields or []) == 1
        specs = [(f.topic or ("" if single else c.topic), f.quantity, f.scale) for f in c.fields or []]
        try:
            return plain_decoder(specs)
        except ValueError as exc:
            raise DeviceError(str(exc), ("connection", "fields")) from None
    if c.fields:
        return JsonDecoder(_field_maps(c.fields), messages=True)
    return shape_decoder(device=device)  # Tasmota SML scripts or energy monitors, by shape


def _field_maps(fields: list[ValueMap]) -> list[FieldMap]:
    out = []
    for i, f in enumerate(fields):
        try:
            out.append(FieldMap(f.path or "", f.quantity, f.scale))
        except ValueError as exc:
            raise DeviceError(str(exc), ("connection", "fields", i, "quantity")) from None
    return out


def _http_meter(
    device: str, c: HttpConnection, interval: float, ledger: InputLedger
) -> tuple[HttpPoller, Decoder]:
    if c.format == "shelly":
        try:
            prof = profile(c.profile or "", c.channel)
        except ValueError as exc:
            raise DeviceError(str(exc), ("connection", "profile")) from None
        password = c.password.get_secret_value() if c.password else None
        poller = poller_for(prof, c.url, interval=interval, password=password, ledger=ledger, device=device)
        return poller, decoder_for(prof)
    if c.format != "json":
        raise DeviceError(
            "an http device needs `catalog:` or `format:` (shelly, json)", ("connection", "type")
        )
    parts = urlsplit(c.url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    base = f"{parts.scheme}://{parts.netloc}"
    poller = HttpPoller(base, path, interval=interval, ledger=ledger, device=device)
    return poller, JsonDecoder(_field_maps(c.fields or []), messages=True)
