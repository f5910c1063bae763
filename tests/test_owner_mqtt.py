"""The owner's controls through the real Mosquitto on 127.0.0.1:1883: Home Assistant discovery offers
select/number/text/button entities for charge mode, minimum current, phases, the departure's energy
and time, battery mode, reserve SoC and boost; a set
message goes through the one ``OwnerControls.apply`` (the control runs it, ``owner.json`` keeps it);
a refused value gets its reason on ``.../set/error``."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge_login import test_auth
from test_mqtt_bridge import Listener, _clear_retained
from wattwerk.config import parse_config
from wattwerk.edge.assembly import EdgeOptions, assemble
from wattwerk.protocols.mqtt import MqttSettings

pytestmark = pytest.mark.mqtt

SITE = """\
site: {{name: Owner MQTT, location: {{latitude: 48.0, longitude: 7.8}}, timezone: Europe/Berlin}}
devices:
  - id: wb
    role: ev_charger
    connection: {{type: ocpp, charge_point_id: CP-MQ, port: 9911}}
    limits: {{min_current_a: 6, max_current_a: 16}}
    phase_switching: true
  - id: bat
    role: battery
    catalog: sunspec-storage
    connection: {{type: modbus_tcp, host: 127.0.0.1, port: 9}}
    capacity_wh: 10000
    max_charge_w: 5000
    max_discharge_w: 5000
    reserve_soc: 10
  - id: rod
    role: heating_rod
    catalog: mypv-ac-thor
    connection: {{type: modbus_tcp, host: 127.0.0.1, port: 9}}
    limits: {{max_power_w: 3000}}
store: {{data_dir: {data}}}
mqtt: {{root: {root}, discovery_prefix: {prefix}}}
"""


async def test_owner_settings_from_home_assistant(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:10]
    root, prefix = f"wattwerk-test/owner-{tag}", f"wattwerk-test/ha-{tag}"
    edge = assemble(
        parse_config(SITE.format(data=tmp_path, root=root, prefix=prefix)),
        EdgeOptions(auth=test_auth(tmp_path)),
    )
    listener = await Listener(f"{root}/#", f"{prefix}/#").start()
    bridge = edge.mqtt_bridge()
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.wait_for(bridge.ready.wait(), 10)
        node = bridge.ha.node("wb")  # type: ignore[union-attr]
        mode = json.loads(await listener.wait_for(f"{prefix}/select/{node}/mode/config"))
        assert mode["options"] == ["off", "now", "minpv", "pv"]
        assert mode["command_topic"] == f"{root}/wb/mode/set"
        low = json.loads(await listener.wait_for(f"{prefix}/number/{node}/min_current/config"))
        assert (low["min"], low["max"]) == (6.0, 16.0)
        bat = bridge.ha.node("bat")  # type: ignore[union-attr]
        modes = json.loads(await listener.wait_for(f"{prefix}/select/{bat}/battery_mode/config"))
        assert "hold" in modes["options"]
        await listener.wait_for(f"{prefix}/number/{bat}/reserve_soc/config")
        phases = json.loads(await listener.wait_for(f"{prefix}/select/{node}/phases/config"))
        assert phases["options"] == ["1", "3", "0"]
        energy = json.loads(await listener.wait_for(f"{prefix}/number/{node}/plan_energy_kwh/config"))
        assert (energy["max"], energy["unit_of_measurement"]) == (250.0, "kWh")
        clock = json.loads(await listener.wait_for(f"{prefix}/text/{node}/plan_departure/config"))
        assert clock["command_topic"] == f"{root}/wb/plan_departure/set" and clock["pattern"]
        rod = bridge.ha.node("rod")  # type: ignore[union-attr]
        boost = json.loads(await listener.wait_for(f"{prefix}/button/{rod}/boost/config"))
        assert boost["payload_press"] == "PRESS" and "state_topic" not in boost

        async with MqttSettings().client() as client:
            await client.publish(f"{root}/wb/mode/set", b"now", qos=1)
            await client.publish(f"{root}/wb/min_current/set", b"8", qos=1)
            await client.publish(f"{root}/bat/battery_mode/set", b"hold", qos=1)
            await client.publish(f"{root}/bat/reserve_soc/set", b"35", qos=1)
            await client.publish(f"{root}/bat/mode/set", b"now", qos=1)  # a charger's command
            await client.publish(f"{root}/wb/plan_departure/set", b"06:30", qos=1)  # no plan yet
            await client.publish(f"{root}/wb/plan_energy_kwh/set", b"30", qos=1)
            await client.publish(f"{root}/wb/plan_departure/set", b"25:00", qos=1)  # no such time
            await client.publish(f"{root}/rod/boost/set", b"PRESS", qos=1)
        await listener.wait_for(f"{root}/bat/reserve_soc", payload=b"35")
        error = json.loads(await listener.wait_for(f"{root}/bat/mode/set/error"))
        assert "bat has no command 'mode'" in error["error"]
        first = json.loads(await listener.wait_for(f"{root}/wb/plan_departure/set/error"))
        assert "set plan_energy_kwh first" in first["error"]
        await listener.wait_for(f"{root}/wb/plan_energy_kwh", payload=b"30")
        async with MqttSettings().client() as client:
            await client.publish(f"{root}/wb/plan_departure/set", b"06:30", qos=1)
        await listener.wait_for(f"{root}/wb/plan_departure", payload=b"06:30")
        assert edge.owner.device_state("rod")["override"]["kind"] == "boost"
        edge.control(edge.snapshot())  # one control cycle: its decisions go out as <device>/reason
        reason = await listener.wait_for(f"{root}/wb/reason")
        assert reason.decode() == "no reading from the charger: the control keeps it off"
        sensor = json.loads(await listener.wait_for(f"{prefix}/sensor/{node}/reason/config"))
        assert sensor["state_topic"] == f"{root}/wb/reason" and sensor["name"] == "Decision"

        point = edge.control.point("wb")  # type: ignore[union-attr]
        assert (point.mode, point.min_current_a) == ("now", 8.0)
        battery = edge.control.cycle.battery.config  # type: ignore[union-attr]
        assert (battery.mode, battery.reserve_soc) == ("hold", 35.0)
        stored = json.loads((tmp_path / "owner.json").read_text())["devices"]
        assert stored["wb"] == {
            "mode": "now",
            "min_current_a": 8.0,
            "plan": {"energy_kwh": 30.0, "departure": "06:30"},  # every day until set otherwise
        }
        assert stored["bat"] == {"mode": "hold", "reserve_soc": 35.0}
        assert stored["rod"]["override"]["kind"] == "boost"
        assert edge.owner.departures["wb"].astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "06:30"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await listener.stop()
        await _clear_retained(listener)
        edge.close()
