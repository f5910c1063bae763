"""The generic drivers of user-defined devices: one per protocol, interpreting the entry's template
(``devices/templates.py``). Modbus user entries need none: ``devices.device.create`` reads their
register map like a packaged entry's.

    HttpJsonDevice(entry, JsonHttp("http://192.168.1.80"), device_id="pv2")
    MqttJsonDevice(entry, MqttSettings("127.0.0.1"), base_topic="garage/wallbox", device_id="ev1")

Both are ``NativeDevice``s: values out of range or missing are counted in the ledger and dropped,
a device that does not answer is backed off, a read never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from wattwerk.devices.cloud_login import CloudLogin
from wattwerk.devices.native import NativeDevice
from wattwerk.devices.profile import Entry
from wattwerk.devices.templates import HttpWrite, JsonValue, MqttWrite, fill
from wattwerk.errors import PermanentError, RetryableError
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.protocols.jsonmap import _MISSING, number, resolve
from wattwerk.protocols.mqtt import MqttPublisher, MqttSettings, MqttSource


def _pick(doc: Any, spec: JsonValue) -> float | str | None:
    """The value ``spec`` names in ``doc`` (a float), a note why there is none (a str), or None when
    an optional value is absent."""
    if spec.json_path is None:
        raw = doc
    elif isinstance(doc, dict) and spec.json_path in doc:  # a key with dots of its own (an index table's)
        raw = doc[spec.json_path]
    else:
        raw = resolve(doc, spec.json_path)
    if raw is _MISSING or raw is None:
        return None if spec.optional else f"{spec.json_path or 'the payload'} missing"
    value = number(raw)
    if value is None:
        return f"{spec.json_path or 'the payload'} = {raw!r} is not a number"
    return value * spec.scale + spec.offset


def _now(body: str) -> str:
    return body.replace("{now}", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))


class _Template(NativeDevice):
    """What both generic drivers share: writes found by command, values limited and scaled."""

    writes: dict[str, HttpWrite | MqttWrite]

    def _pick_all(self, doc: Any, specs: list[JsonValue], where: str) -> dict[str, float]:
        """Values naming the same quantity are added (APsystems' p1 + p2); one of them failing drops
        the quantity, so a partial sum is never published."""
        out: dict[str, float] = {}
        failed: set[str] = set()
        for spec in specs:
            got = _pick(doc, spec)
            if isinstance(got, str):
                self.ledger.record(self.device_id, "field", f"{where}: {got}")
                failed.add(spec.quantity)
            elif got is not None:
                out[spec.quantity] = out.get(spec.quantity, 0.0) + got
        return {q: v for q, v in out.items() if q not in failed}

    def _raw(self, command: str, value: float) -> tuple[HttpWrite | MqttWrite, float]:
        write = self.writes.get(command)
        if write is None:
            have = ", ".join(self.writes) or "none"
            raise PermanentError(f"{self.device_id}: {self.entry.id} has no {command} write (has: {have})")
        if write.map is not None:
            if value not in write.map:  # as the Modbus driver says it
                raise PermanentError(f"{self.device_id}: {command} {value:g} not one of {sorted(write.map)}")
            return write, write.map[int(value)]
        lo = write.min if write.min is not None else float("-inf")
        hi = write.max if write.max is not None else float("inf")
        return write, self._limit(command, value, lo, hi) * write.scale


class HttpJsonDevice(_Template):
    """A device with a JSON HTTP API described by an entry's ``http:`` template."""

    def __init__(self, entry: Entry, http: JsonHttp, *, login: CloudLogin | None = None, **kw: Any) -> None:
        super().__init__(entry, **kw)
        assert entry.http is not None
        self.template = entry.http
        self.http = http
        self.login = login  # a cloud API's token (devices/cloud_login.py)
        self.writes = {w.command: w for w in entry.http.writes}

    async def _request(self, method: str, path: str, **kw: Any) -> dict:
        if self.login is None:
            return await self.http.request(method, path, **kw)
        return await self.login.call(lambda headers: self.http.request(method, path, headers=headers, **kw))

    async def fetch(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for read in self.template.reads:
            doc: Any = await self._request(
                read.method, read.path, lists=read.index is not None, content=read.body
            )
            if read.index is not None:
                doc = read.index.table(doc)
            out |= self._pick_all(doc, read.values, read.path)
        return out

    async def command(self, command: str, value: float) -> None:
        write, raw = self._raw(command, value)
        assert isinstance(write, HttpWrite)
        await self._request(
            write.method,
            fill(write.path, raw),
            params={k: fill(v, raw) for k, v in write.query.items()},
            content=_now(fill(write.body, raw)) if write.body is not None else None,
            expect_json=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.login is not None:
            await self.login.aclose()


class MqttJsonDevice(_Template):
    """A device publishing on MQTT and commanded over a command topic (an entry's ``mqtt:`` template).

    One subscription per read topic runs in the background from the first read; a read returns the
    latest value of each quantity younger than ``stale_s``."""

    def __init__(self, entry: Entry, settings: MqttSettings, *, base_topic: str, **kw: Any) -> None:
        super().__init__(entry, **kw)
        assert entry.mqtt is not None
        self.template = entry.mqtt
        self.settings = settings
        self.base_topic = base_topic.rstrip("/")
        self.writes = {w.command: w for w in entry.mqtt.writes}
        self.latest: dict[str, tuple[float, float]] = {}  # quantity -> (monotonic time, value)
        self._sources: list[MqttSource] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher: MqttPublisher | None = None  # one connection for the commands, opened on the first
        self._beat = float("-inf")  # monotonic time of the last heartbeat

    def topic(self, template: str) -> str:
        return template.replace("{topic}", self.base_topic)

    def _start(self) -> None:
        for read in self.template.reads:
            source = MqttSource(self.topic(read.topic), self.settings)
            self._sources.append(source)
            self._tasks.append(asyncio.create_task(self._listen(source, read.values)))

    async def _listen(self, source: MqttSource, specs: list[JsonValue]) -> None:
        try:
            async for payload in source:
                self.take(source.topic, payload, specs)
        except PermanentError as exc:  # bad credentials: said once, the edge keeps running
            self.ledger.record(self.device_id, "device", str(exc))

    def take(self, topic: str, payload: bytes, specs: list[JsonValue]) -> None:
        """One message: its values into ``latest`` (bad ones counted and dropped)."""
        try:
            text = payload.decode("utf-8").strip()
            doc: Any = json.loads(text) if any(s.json_path for s in specs) else text
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.ledger.record(self.device_id, "parse", f"{topic}: not JSON: {exc}")
            return
        now = time.monotonic()
        for quantity, value in self._pick_all(doc, specs, topic).items():
            self.latest[quantity] = (now, value)

    async def fetch(self) -> dict[str, float]:
        if not self._tasks:
            self._start()
        beat = self.template.heartbeat
        if beat is not None and time.monotonic() - self._beat >= beat.every_s:
            await self._publish(self.topic(beat.topic), beat.payload, beat.retain)
            self._beat = time.monotonic()
        fresh = time.monotonic() - self.template.stale_s
        return {q: v for q, (t, v) in self.latest.items() if t >= fresh}

    async def command(self, command: str, value: float) -> None:
        write, raw = self._raw(command, value)
        assert isinstance(write, MqttWrite)
        await self._publish(self.topic(write.topic), fill(write.payload, raw), write.retain)

    async def _publish(self, topic: str, payload: str, retain: bool) -> None:
        """Publish over the kept connection; a lost one is opened again once before giving up."""
        for attempt in (1, 2):
            if self._publisher is None:
                publisher = MqttPublisher(self.settings)
                await publisher.__aenter__()
                self._publisher = publisher
            try:
                await self._publisher.publish(topic, payload, qos=1, retain=retain)
                return
            except RetryableError:
                await self._drop_publisher()
                if attempt == 2:
                    raise

    async def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.__aexit__(None, None, None)

    async def aclose(self) -> None:
        await self._drop_publisher()
        for source in self._sources:
            source.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
