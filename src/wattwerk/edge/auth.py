"""Who may use the edge's page and API: one admin password, sessions, the names the edge answers to.

As Home Assistant and evcc do it: the installation wizard sets an admin password on first start
(until then nothing but that step works), kept as an argon2 hash in the edge's data dir (file
0600). Signing in gives a session cookie (HttpOnly, SameSite=Strict) and a CSRF token that every
write must echo in ``X-CSRF-Token``. Requests must name the edge itself in ``Host`` (and in
``Origin`` when a browser sends one), which defeats DNS rebinding and cross-site websockets.
Prometheus reads ``/metrics`` with the bearer token in ``metrics.token`` (also 0600).

The HTTP side (which path needs what) is ``wattwerk.edge.web_auth``; this module holds the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wattwerk.errors import PermanentError

log = logging.getLogger("wattwerk.edge.auth")

PASSWORD_FILE = "admin-password.argon2"
METRICS_TOKEN_FILE = "metrics.token"
MIN_PASSWORD, MAX_PASSWORD = 8, 256
SESSION_TTL_S = 30 * 86400.0
MAX_SESSIONS = 64  # the oldest session goes when a 65th signs in
LOGIN_TRIES_PER_ADDRESS = 5  # sign-in attempts per address and window …
LOGIN_TRIES_ALL = 20  # … and from all addresses together (a LAN full of guessers)
LOGIN_WINDOW_S = 60.0
NAMES_EVERY_S = 30.0  # an unknown Host re-reads the box's addresses at most this often


class LoginRefused(PermanentError):
    """Too many sign-in attempts; ``retry_after_s`` says when the next one is taken."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Session:
    csrf: str
    expires: float


@dataclass
class LoginLimiter:
    """Attempts per address and overall in a sliding window. ``take`` counts the attempt *before*
    the password is checked, so parallel guesses cannot slip between check and record."""

    per_address: int = LOGIN_TRIES_PER_ADDRESS
    overall: int = LOGIN_TRIES_ALL
    window_s: float = LOGIN_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _by_address: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)

    def take(self, address: str) -> None:
        now = self.clock()
        mine = self._by_address.setdefault(address, deque())
        for q in (mine, self._all):
            while q and q[0] <= now - self.window_s:
                q.popleft()
        for q, limit in ((mine, self.per_address), (self._all, self.overall)):
            if len(q) >= limit:
                wait = q[0] + self.window_s - now
                raise LoginRefused(f"too many sign-in attempts; try again in {wait:.0f} s", wait)
        mine.append(now)
        self._all.append(now)
        if len(self._by_address) > 1024:  # forget quiet addresses
            self._by_address = {a: q for a, q in self._by_address.items() if q}

    def forget(self, address: str) -> None:
        """A successful sign-in clears the address's attempts."""
        self._by_address.pop(address, None)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` created 0600, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def own_names() -> set[str]:
    """The names and addresses the edge answers to by default: loopback, its host name (also
    ``.local`` for mDNS), ``wattwerk.local`` and the addresses of its interfaces."""
    host = socket.gethostname().lower()
    names = {"localhost", "127.0.0.1", "::1", "wattwerk.local", host, f"{host}.local"}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(host, None)}
    from wattwerk.edge.setup_network import interfaces

    for iface in interfaces():
        names |= {a.split("/", 1)[0].lower() for a in iface.get("addresses", [])}
    return names


def host_name(header: str) -> str:
    """``Host`` or an origin's authority without the port: ``[::1]:8080`` → ``::1``."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    if h.count(":") == 1:
        return h.split(":", 1)[0]
    return h


class EdgeAuth:
    """The admin password, the sessions, the login limiter and the names the edge answers to.

    ``hosts`` adds names to the defaults (``own_names()``); ``public_live`` opens the read-only
    live view to anyone who reaches the edge by one of its names (setup, wizard, metrics never).
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        hosts: Iterable[str] = (),
        public_live: bool = False,
        default_names: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.public_live = public_live
        self.configured = {host_name(h) for h in hosts}
        self.default_names = default_names
        self.hosts = self.configured | (own_names() if default_names else set())
        self.clock = clock
        self._names_read = time.monotonic()
        self.limiter = LoginLimiter()
        self._hasher = PasswordHasher()
        self._sessions: dict[str, Session] = {}
        self._verifying = asyncio.Lock()
        self.metrics_token = self._metrics_token()

    @classmethod
    def for_site(cls, cfg: Any) -> EdgeAuth:
        """From a site file: ``store.data_dir`` and the ``web`` section."""
        return cls(cfg.store.data_dir, hosts=cfg.web.hosts, public_live=cfg.web.public_live)

    # ---------------------------------------------------------------- the password

    @property
    def password_file(self) -> Path:
        return self.dir / PASSWORD_FILE

    @property
    def password_set(self) -> bool:
        return self.password_file.is_file()

    def set_password(self, password: str, *, replace: bool = False) -> None:
        """Store the admin password's hash; refuses a second first password unless ``replace``."""
        if self.password_set and not replace:
            raise PermanentError("the admin password is already set; sign in to change it")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or not password.strip():
            raise PermanentError(f"the password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        _write_private(self.password_file, self._hasher.hash(password) + "\n")
        self._sessions.clear()  # a new password ends every session
        log.info("admin password set (%s)", self.password_file)

    def verify(self, password: str) -> bool:
        """True when ``password`` is the admin password (argon2: tens of ms of CPU; no limit here)."""
        try:
            stored = self.password_file.read_text().strip()
            return self._hasher.verify(stored, password[:MAX_PASSWORD])
        except (OSError, VerificationError, InvalidHashError):
            return False

    async def check_password(self, password: str, address: str) -> bool:
        """True when ``password`` is the admin password; raises ``LoginRefused`` when ``address``
        (or everyone together) tried too often. The attempt is counted before the hash is checked,
        and the hash is checked in a thread: the control loop shares this event loop."""
        self.limiter.take(address)
        async with self._verifying:  # one at a time: argon2 takes 64 MiB per check
            ok = await asyncio.to_thread(self.verify, password)
        if ok:
            self.limiter.forget(address)
        else:
            log.warning("failed sign-in from %s", address)
        return ok

    # ---------------------------------------------------------------- sessions

    def new_session(self) -> tuple[str, Session]:
        """A session token (the cookie) and its session (the CSRF token)."""
        now = self.clock()
        self._sessions = {t: s for t, s in self._sessions.items() if s.expires > now}
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(24), expires=now + SESSION_TTL_S)
        self._sessions[token] = session
        return token, session

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        s = self._sessions.get(token)
        if s is None or s.expires <= self.clock():
            return None
        return s

    def end_session(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    # ---------------------------------------------------------------- names and tokens

    def host_ok(self, header: str | None) -> bool:
        """``header`` names the edge. An unknown name re-reads the box's addresses (at most every
        ``NAMES_EVERY_S``): DHCP may have given it a new one since the start."""
        if not header:
            return False
        name = host_name(header)
        if name in self.hosts:
            return True
        if self.default_names and time.monotonic() - self._names_read > NAMES_EVERY_S:
            self._names_read = time.monotonic()
            self.hosts = self.configured | own_names()
        return name in self.hosts

    def origin_ok(self, origin: str) -> bool:
        """An ``Origin`` header naming one of our hosts over http(s)."""
        scheme, sep, authority = origin.partition("://")
        return bool(sep) and scheme in ("http", "https") and self.host_ok(authority.split("/", 1)[0])

    def _metrics_token(self) -> str:
        path = self.dir / METRICS_TOKEN_FILE
        try:
            token = path.read_text().strip()
        except FileNotFoundError:
            token = ""
        if len(token) < 32:
            token = secrets.token_urlsafe(32)
            _write_private(path, token + "\n")
        return token

    def metrics_ok(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.metrics_token.encode()
        )
