"""The central system: one websocket port for every charger of the site.

A charger connects to ``ws://<edge>:<port>/<charge_point_id>`` offering the subprotocol
``ocpp1.6`` or ``ocpp2.0.1``. Security profile 1 (HTTP Basic, user = charge point id) is
checked when a password is configured for that id; ``allowed`` limits which ids may connect.
A charger id that is connected already is refused (HTTP 409, counted and logged): a second
client using a charger's id never takes over its connection; a charger that lost its link
reconnects once the old one is found dead (ping timeout).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import utcnow
from wattwerk.protocols.ocpp.session import Settings, log
from wattwerk.protocols.ocpp.state import ChargerState
from wattwerk.protocols.ocpp.v16 import Session16
from wattwerk.protocols.ocpp.v201 import Session201

SUBPROTOCOLS = {"ocpp2.0.1": Session201, "ocpp1.6": Session16}
Session = Session16 | Session201


def charge_point_id(path: str) -> str:
    """The last segment of the request path, e.g. ``/ocpp/wallbox1`` → ``wallbox1``."""
    return unquote(path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])


def basic_password(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class CentralSystem:
    """OCPP 1.6J and 2.0.1 central system. ``async with CentralSystem(...) as cs:``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        settings: Settings | None = None,
        passwords: Mapping[str, str] | None = None,
        allowed: Collection[str] | None = None,
        ledger: InputLedger | None = None,
    ) -> None:
        self.host, self._port = host, port
        self.settings = settings or Settings()
        self.passwords = dict(passwords or {})
        self.allowed = set(allowed) if allowed is not None else None
        self.ledger = ledger or InputLedger()
        self.states: dict[str, ChargerState] = {}
        self.sessions: dict[str, Session] = {}
        self.refused = 0
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self._start_lock = asyncio.Lock()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            return self._port
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            select_subprotocol=_select,
            process_request=self._check,
            ping_interval=20,
            ping_timeout=20,
        )

    async def ensure_started(self) -> None:
        """Start on first use (drivers call this from their first read); OSError → PermanentError."""
        async with self._start_lock:
            if self._server is None:
                try:
                    await self.start()
                except OSError as exc:
                    raise PermanentError(
                        f"OCPP central system cannot listen on port {self._port}: {exc}"
                    ) from None

    def close(self) -> None:
        """Stop listening and drop every charger connection (sync, for shutdown paths)."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CentralSystem:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def state(self, cp_id: str) -> ChargerState | None:
        return self.states.get(cp_id)

    def session(self, cp_id: str) -> Session | None:
        """The live session of a charger, None while it is not connected."""
        return self.sessions.get(cp_id)

    async def wait_for(self, cp_id: str, timeout: float = 10.0, booted: bool = True) -> ChargerState:
        """Wait until ``cp_id`` is connected (and has booted); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                st = self.states.get(cp_id)
                if st is not None and st.connected and (st.booted or not booted):
                    return st
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    def _refuse(self, status: HTTPStatus, why: str, cp_id: str) -> Response:
        self.refused += 1
        self.ledger.record(cp_id or "ocpp", "refused", f"connection refused: {why}")
        return Response(status.value, status.phrase, _headers(), why.encode())

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = charge_point_id(request.path)
        if not cp_id:
            return self._refuse(HTTPStatus.NOT_FOUND, "no charge point id in the URL", cp_id)
        if self.allowed is not None and cp_id not in self.allowed:
            return self._refuse(HTTPStatus.NOT_FOUND, f"unknown charge point {cp_id!r}", cp_id)
        expected = self.passwords.get(cp_id)
        if expected is not None:
            got = basic_password(request)
            if got is None or got[0] != cp_id or not hmac.compare_digest(got[1].encode(), expected.encode()):
                resp = self._refuse(HTTPStatus.UNAUTHORIZED, "wrong or missing basic auth", cp_id)
                resp.headers["WWW-Authenticate"] = 'Basic realm="wattwerk"'
                return resp
        if cp_id in self.sessions:
            return self._duplicate(cp_id, connection)
        return None

    def _duplicate(self, cp_id: str, connection: ServerConnection) -> Response:
        peer = connection.remote_address[0] if connection.remote_address else "?"
        log.warning("%s: refused a second connection from %s: the charger is connected", cp_id, peer)
        return self._refuse(HTTPStatus.CONFLICT, f"charge point {cp_id!r} is connected already", cp_id)

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = charge_point_id(ws.request.path if ws.request else "")
        if not ws.subprotocol and not (ws.request and ws.request.headers.get("Sec-WebSocket-Protocol")):
            log.info("%s: no subprotocol offered; speaking OCPP 1.6", cp_id)
        offered = ws.request.headers.get_all("Sec-WebSocket-Protocol") if ws.request else []
        # a charger that offers no subprotocol at all is taken as 1.6 (some older 1.6 firmware does that)
        cls = SUBPROTOCOLS.get(ws.subprotocol or "") or (None if offered else Session16)
        if cls is None:
            self.refused += 1
            self.ledger.record(cp_id, "subprotocol", "charger offered no ocpp1.6 / ocpp2.0.1 subprotocol")
            await ws.close(1002, "subprotocol ocpp1.6 or ocpp2.0.1 required")
            return
        if cp_id in self.sessions:  # two handshakes raced past _check: the first one keeps the id
            self._duplicate(cp_id, ws)
            await ws.close(1008, "charge point connected already")
            return
        state = self.states.setdefault(cp_id, ChargerState(cp_id))
        session: Session = cls(cp_id, ws, response_timeout=self.settings.response_timeout_s)
        session.init_session(state, self.settings, self.ledger)
        self.sessions[cp_id] = session
        state.connected, state.booted, state.last_seen = True, False, utcnow()
        log.info("%s: connected (OCPP %s)", cp_id, session.version)
        self._changed.set()
        try:
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            for task in list(session.tasks):
                task.cancel()
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]
                state.connected = False
            log.info("%s: disconnected", cp_id)
            self._changed.set()


def _select(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """Our preferred version among those the charger offers; None lets the handler refuse it."""
    return next((sub for sub in SUBPROTOCOLS if sub in offered), None)


def _headers() -> Any:
    from websockets.datastructures import Headers

    return Headers({"Content-Type": "text/plain"})
