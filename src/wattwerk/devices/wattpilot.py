"""Fronius Wattpilot over its local websocket (``ws://<host>/ws``), the protocol of its own app.

The charger greets with ``hello`` (its serial), asks ``authRequired`` with two tokens and accepts
``auth`` with ``hash = sha256(token3 + token2 + sha256(token1 + key))``, where ``key`` is the first 32
characters of base64(PBKDF2-HMAC-SHA512(password, serial, 100000 iterations, 256 bytes)). It then
sends ``fullStatus`` (its status keys: the go-e API v2 keys ``nrg``, ``eto``, ``amp``, ``car`` ...)
and ``deltaStatus`` changes. Settings are ``setValue`` messages; a charger whose hello says
``secured`` wants each wrapped in a ``securedMsg`` with ``hmac = HMAC-SHA256(key, data)``.

Which status key is which quantity is the entry's ``values`` (JSON paths such as ``nrg[11]``); the
commands' keys are the table below.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
from typing import Any

import websockets

from wattwerk.devices.native import NativeDevice
from wattwerk.devices.profile import Entry
from wattwerk.errors import PermanentError, RetryableError
from wattwerk.protocols.jsonmap import _MISSING, number, resolve

# command -> (status key, command value -> the charger's value; None: the value itself)
COMMANDS: dict[str, tuple[str, dict[int, int] | None]] = {
    "current_limit": ("amp", None),
    "enable": ("frc", {0: 1, 1: 2}),  # force state: 1 off, 2 on (0 would be the charger's own logic)
    "phases": ("psm", {1: 1, 3: 2}),  # phase switch mode: 1 one phase, 2 three phases
}


def password_key(password: str, serial: str) -> str:
    """The key both sides derive from the password (and the charger's serial as the salt)."""
    raw = hashlib.pbkdf2_hmac("sha512", password.encode(), serial.encode(), 100_000, 256)
    return base64.b64encode(raw).decode()[:32]


def auth_hash(key: str, token1: str, token2: str, token3: str) -> str:
    inner = hashlib.sha256((token1 + key).encode()).hexdigest()
    return hashlib.sha256((token3 + token2 + inner).encode()).hexdigest()


class WattpilotDevice(NativeDevice):
    def __init__(self, entry: Entry, url: str, password: str, *, timeout: float = 5.0, **kw: Any) -> None:
        super().__init__(entry, **kw)
        if not password:
            raise PermanentError(f"{self.device_id}: a Wattpilot needs its password (ws://:PASSWORD@host)")
        self.url = url
        self.password = password
        self.timeout = timeout
        self.status: dict[str, Any] = {}
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._error: Exception | None = None
        self._key = ""
        self._serial = ""
        self._secured = False
        self._request = 0

    async def _connect(self) -> None:
        self._ready.clear()
        self._error = None
        try:
            self._ws = await asyncio.wait_for(websockets.connect(self.url), self.timeout)
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise RetryableError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        self._task = asyncio.create_task(self._listen())
        try:
            await asyncio.wait_for(self._ready.wait(), self.timeout)
        except TimeoutError:
            await self._drop()
            raise RetryableError(f"{self.url}: no status after connecting") from None
        if self._error is not None:
            error, self._error = self._error, None
            await self._drop()
            raise error

    async def _listen(self) -> None:
        try:
            async for text in self._ws:
                await self._on(json.loads(text))
        except (websockets.ConnectionClosed, ValueError) as exc:
            self._error = self._error or RetryableError(f"{self.url}: {exc}")
        finally:
            self._ready.set()  # wakes a waiting connect with the error, if any

    async def _on(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "hello":
            self._serial = str(msg.get("serial", ""))
            self._secured = bool(msg.get("secured", False))
        elif kind == "authRequired":
            self._key = await asyncio.to_thread(password_key, self.password, self._serial)
            token3 = secrets.token_hex(16)
            digest = auth_hash(self._key, msg["token1"], msg["token2"], token3)
            await self._ws.send(json.dumps({"type": "auth", "token3": token3, "hash": digest}))
        elif kind == "authError":
            self._error = PermanentError(f"{self.url}: password refused ({msg.get('message', 'authError')})")
            await self._ws.close()
        elif kind in ("fullStatus", "deltaStatus"):
            self.status.update(msg.get("status") or {})
            if not msg.get("partial", False):
                self._ready.set()

    async def _drop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._ws = self._task = None

    async def _alive(self) -> None:
        if self._task is None or self._task.done():
            await self._drop()
            await self._connect()

    async def fetch(self) -> dict[str, float]:
        await self._alive()
        out: dict[str, float] = {}
        for spec in self.entry.values:
            raw = [number(resolve(self.status, key)) for key in spec.add]
            minus = [number(resolve(self.status, key)) for key in spec.subtract]
            if any(v is None for v in raw + minus):
                if not spec.optional:
                    missing = [k for k in spec.add + spec.subtract if resolve(self.status, k) is _MISSING]
                    why = missing or "not a number"
                    self.ledger.record(self.device_id, "field", f"{spec.quantity}: {why}")
                continue
            out[spec.quantity] = (sum(raw) - sum(minus)) * spec.scale  # type: ignore[arg-type]
        return out

    async def command(self, command: str, value: float) -> None:
        if command not in COMMANDS or command not in _entry_commands(self.entry):
            raise PermanentError(f"{self.device_id}: {self.entry.id} has no {command} command")
        key, table = COMMANDS[command]
        if table is None:
            sent: float = round(self._limit(command, value, 6.0, 32.0))
        elif round(value) in table:
            sent = table[round(value)]
        else:
            raise PermanentError(f"{self.device_id}: {command} {value:g} not one of {sorted(table)}")
        await self._alive()
        self._request += 1
        message = {"type": "setValue", "requestId": self._request, "key": key, "value": sent}
        if self._secured:
            data = json.dumps(message)
            mac = hmac.new(self._key.encode(), data.encode(), hashlib.sha256).hexdigest()
            message = {"type": "securedMsg", "data": data, "requestId": f"{self._request}sm", "hmac": mac}
        await self._ws.send(json.dumps(message))

    async def aclose(self) -> None:
        await self._drop()


def _entry_commands(entry: Entry) -> set[str]:
    """The commands the entry's capabilities ask for."""
    wanted = {"charge_current": "current_limit", "enable": "enable", "phases": "phases"}
    return {wanted[c] for c in entry.capabilities if c in wanted}
