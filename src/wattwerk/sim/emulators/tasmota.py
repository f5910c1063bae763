"""A Tasmota device publishing ``tele/<topic>/SENSOR`` to a real MQTT broker.

``style="sml"``: a read head running Tasmota's SML script (gPlug and similar), kWh and W;
``style="energy"``: Tasmota's energy monitor in a plug (``ENERGY``), the load's power.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings
from wattwerk.sim.emulators import MeterSource, MeterState, PeriodicEmulator


def sensor_document(
    state: MeterState, style: str = "sml", prefix: str = "SML", timezone: str = "Europe/Berlin"
) -> dict:
    """The SENSOR JSON Tasmota publishes for a state (its local time, no zone, as Tasmota does)."""
    local = state.ts.astimezone(ZoneInfo(timezone)).replace(tzinfo=None, microsecond=0)
    doc: dict = {"Time": local.isoformat()}
    if style == "sml":
        values = {
            "Total_in": round(state.energy_import_wh / 1000, 4),
            "Total_out": round(state.energy_export_wh / 1000, 4),
            "Power_curr": round(state.power_w),
        }
        for i, phase in enumerate(state.phases[:3], start=1):
            values[f"Power_L{i}"] = round(phase.power_w)
        doc[prefix] = values
    elif style == "energy":
        phase = state.phases[0] if state.phases else None
        doc["ENERGY"] = {
            "TotalStartTime": "2024-01-01T00:00:00",
            "Total": round(state.energy_import_wh / 1000, 3),
            "Yesterday": 0.0,
            "Today": 0.0,
            "Period": 0,
            "Power": round(state.power_w),
            "ApparentPower": round(phase.voltage_v * phase.current_a) if phase else round(abs(state.power_w)),
            "ReactivePower": 0,
            "Factor": 1.0,
            "Voltage": round(phase.voltage_v) if phase else 230,
            "Current": round(phase.current_a, 3) if phase else 0.0,
        }
    else:
        raise ValueError(f"unknown Tasmota style {style!r}")
    return doc


class TasmotaEmulator(PeriodicEmulator):
    """Publishes one SENSOR document per ``interval`` to ``tele/<topic>/SENSOR``."""

    def __init__(
        self,
        source: MeterSource,
        topic: str,
        settings: MqttSettings | None = None,
        *,
        style: str = "sml",
        prefix: str = "SML",
        interval: float = 1.0,
        timezone: str = "Europe/Berlin",
    ) -> None:
        self.source = source
        self.topic = f"tele/{topic}/SENSOR"
        self.settings = settings or MqttSettings()
        self.style = style
        self.prefix = prefix
        self.interval = interval
        self.timezone = timezone
        self.published = 0

    def document(self) -> dict:
        return sensor_document(self.source(), self.style, self.prefix, self.timezone)

    async def _run(self) -> None:
        async with MqttPublisher(self.settings) as pub:
            await pub.publish(f"tele/{self.topic.split('/')[1]}/LWT", "Online", retain=False)
            while True:
                await pub.publish(self.topic, self.document())
                self.published += 1
                await asyncio.sleep(self.interval)
