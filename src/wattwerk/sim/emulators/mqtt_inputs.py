"""A Shelly Gen2+ or a Tasmota device's digital inputs on a real MQTT broker, as the devices publish
them (see ``wattwerk.protocols.contacts_mqtt`` for the topics): state changes, the answer to a
status request, and the online/offline last will. ``stop()`` goes offline the way a device does
when it loses power: the broker publishes its will."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Literal

import aiomqtt

from wattwerk.protocols.mqtt import MqttSettings


class MqttInputsEmulator:
    def __init__(
        self,
        kind: Literal["shelly", "tasmota"],
        topic: str,
        states: dict[int, bool],
        settings: MqttSettings | None = None,
    ) -> None:
        self.kind = kind
        self.topic = topic
        self.states = dict(states)
        self.settings = settings or MqttSettings()
        self.requests = 0
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ topics and payloads

    def _lwt(self, online: bool) -> tuple[str, bytes]:
        if self.kind == "shelly":
            return f"{self.topic}/online", b"true" if online else b"false"
        return f"tele/{self.topic}/LWT", b"Online" if online else b"Offline"

    def _request_topic(self) -> str:
        return f"{self.topic}/rpc" if self.kind == "shelly" else f"cmnd/{self.topic}/STATUS"

    def _change(self, n: int, closed: bool) -> list[tuple[str, dict]]:
        if self.kind == "shelly":
            status = {"id": n, "state": closed}
            notify = {
                "src": "shellyplusi4-emu",
                "dst": self.topic,
                "method": "NotifyStatus",
                "params": {"ts": 0.0, f"input:{n}": status},
            }
            return [(f"{self.topic}/status/input:{n}", status), (f"{self.topic}/events/rpc", notify)]
        return [(f"stat/{self.topic}/RESULT", {f"Switch{n}": {"Action": "ON" if closed else "OFF"}})]

    def _status(self, request: bytes) -> tuple[str, dict] | None:
        if self.kind == "shelly":
            try:
                src = json.loads(request)["src"]
            except (ValueError, KeyError, TypeError):
                return None
            result = {f"input:{n}": {"id": n, "state": s} for n, s in self.states.items()}
            return f"{src}/rpc", {"id": 1, "src": "shellyplusi4-emu", "dst": src, "result": result}
        switches = {f"Switch{n}": "ON" if s else "OFF" for n, s in self.states.items()}
        sns = {"Time": "2026-01-01T00:00:00", **switches}
        return f"stat/{self.topic}/STATUS10", {"StatusSNS": sns}

    # ------------------------------------------------------------ running

    async def start(self) -> MqttInputsEmulator:
        will_topic, offline = self._lwt(False)
        client = self.settings.client(aiomqtt.Will(will_topic, offline, qos=1, retain=True))
        await client.__aenter__()
        self._client = client
        await client.subscribe(self._request_topic())
        topic, online = self._lwt(True)
        await client.publish(topic, online, qos=1, retain=True)
        self._task = asyncio.create_task(self._answer(client))
        return self

    async def _answer(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.requests += 1
            body = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            answer = self._status(body)
            if answer is not None:
                await client.publish(answer[0], json.dumps(answer[1]), qos=1)

    async def set(self, n: int, closed: bool) -> None:
        """A contact opens or closes: the device publishes the change."""
        self.states[n] = closed
        if self._client is not None:
            for topic, doc in self._change(n, closed):
                await self._client.publish(topic, json.dumps(doc), qos=1)

    async def stop(self) -> None:
        """The device goes offline: its offline state is published (as the broker does with its last
        will when the device loses power) and it disconnects."""
        client, self._client = self._client, None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if client is None:
            return
        topic, offline = self._lwt(False)
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(topic, offline, qos=1, retain=True)
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)
