"""MQTT over aiomqtt: a subscription as a byte source for meter readers, and a publisher.

``MqttSource(topic)`` is an async iterable of payloads (one per message), so a ``MeterReader``
can sit behind it like behind a serial port; it reconnects with backoff and re-subscribes.
``MqttSource.messages()`` yields ``(topic, payload)`` for readers of several topics.
``MqttPublisher`` publishes (JSON for dicts) over one connection; the edge uses it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiomqtt

from wattwerk.errors import PermanentError, RetryableError
from wattwerk.protocols.transport import Backoff

log = logging.getLogger("wattwerk.mqtt")


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None  # None: a random one (two edges must never share an id)
    tls: bool = False
    keepalive: int = 30
    timeout: float = 10.0
    ca_file: str | None = None  # with tls: a private CA instead of the system's

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)  # cafile None: the system's CAs

    def client(self, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=self.client_id or f"wattwerk-{uuid.uuid4().hex[:12]}",
            keepalive=self.keepalive,
            timeout=self.timeout,
            tls_context=self.tls_context(),
            will=will,
        )


def _classify(exc: aiomqtt.MqttError) -> Exception:
    """Bad credentials or a refused client id will not heal by retrying."""
    text = str(exc).lower()
    if "not authori" in text or "bad user" in text or "identifier rejected" in text:
        return PermanentError(f"MQTT broker refused us: {exc}")
    return RetryableError(f"MQTT: {exc}")


class MqttSource:
    """Payloads of the messages on ``topic`` (wildcards allowed), as an async iterable of bytes."""

    def __init__(
        self,
        topic: str,
        settings: MqttSettings | None = None,
        *,
        qos: int = 0,
        backoff: Backoff | None = None,
        reconnect: bool = True,
        with_topic: bool = False,
    ) -> None:
        self.topic = topic
        self.with_topic = with_topic  # payloads as ``topic NUL payload`` (plain values of several topics)
        self.settings = settings or MqttSettings()
        self.qos = qos
        self.backoff = backoff or Backoff()
        self.reconnect = reconnect
        self.subscribed = asyncio.Event()  # set while a subscription is active
        self.messages_received = 0
        self.last_error: str | None = None
        self._closed = asyncio.Event()

    def close(self) -> None:
        self._closed.set()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._payloads()

    async def _payloads(self) -> AsyncIterator[bytes]:
        async for topic, payload in self.messages():
            yield topic.encode() + b"\x00" + payload if self.with_topic else payload

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        async for message in self.raw_messages():
            yield message.topic.value, payload_bytes(message.payload)

    async def raw_messages(self) -> AsyncIterator[aiomqtt.Message]:
        """The messages themselves (``retain`` tells a broker's stored message from a live one)."""
        while not self._closed.is_set():
            try:
                async with self.settings.client() as client:
                    await client.subscribe(self.topic, qos=self.qos)
                    self.subscribed.set()
                    self.backoff.reset()
                    self.last_error = None
                    async for message in _until_closed(client.messages, self._closed):
                        self.messages_received += 1
                        yield message
            except aiomqtt.MqttError as exc:
                error = _classify(exc)
                if str(error) != self.last_error:
                    log.warning("mqtt %s: %s", self.topic, error)
                self.last_error = str(error)
                if isinstance(error, PermanentError) or not self.reconnect:
                    raise error from exc
            finally:
                self.subscribed.clear()
            if self._closed.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self.backoff.next())


async def _until_closed(
    messages: AsyncIterator[aiomqtt.Message], closed: asyncio.Event
) -> AsyncIterator[aiomqtt.Message]:
    """The client's messages until ``closed`` is set (a quiet topic must not block close())."""
    it = messages.__aiter__()
    while not closed.is_set():
        nxt = asyncio.ensure_future(it.__anext__())
        stop = asyncio.ensure_future(closed.wait())
        done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if nxt not in done:
            nxt.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await nxt
            return
        try:
            yield nxt.result()
        except StopAsyncIteration:
            return


def payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


def encode_payload(payload: bytes | str | dict | list | float | int) -> bytes:
    """MQTT payload bytes; dicts and lists as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class MqttPublisher:
    """One connection for many publishes: ``async with MqttPublisher(settings) as pub:``."""

    def __init__(self, settings: MqttSettings | None = None, *, will: aiomqtt.Will | None = None) -> None:
        self.settings = settings or MqttSettings()
        self.will = will
        self.published = 0
        self._client: aiomqtt.Client | None = None

    async def __aenter__(self) -> MqttPublisher:
        client = self.settings.client(self.will)
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise _classify(exc) from exc
        self._client = client
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)

    async def publish(
        self,
        topic: str,
        payload: bytes | str | dict | list | float | int,
        *,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        if self._client is None:
            raise RuntimeError("MqttPublisher is not connected: use 'async with'")
        try:
            await self._client.publish(topic, encode_payload(payload), qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise _classify(exc) from exc
        self.published += 1


async def publish_once(
    topic: str,
    payload: bytes | str | dict | list | float | int,
    settings: MqttSettings | None = None,
    *,
    qos: int = 1,
    retain: bool = False,
) -> None:
    """Connect, publish one message, disconnect."""
    async with MqttPublisher(settings) as pub:
        await pub.publish(topic, payload, qos=qos, retain=retain)
