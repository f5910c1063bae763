"""Who is asking: passwords (argon2id), sessions, CSRF, login rate limit, TOTP, the principal.

* Passwords: ``argon2-cffi``'s PasswordHasher (argon2id, its default parameters); hashing runs
  in a worker thread so it never blocks the event loop.
* Sessions: a random cookie value; only its SHA-256 is stored, beside a CSRF token. The cookie
  is HttpOnly and SameSite=Lax, and Secure whenever the request came over TLS (directly or via
  a proxy's ``X-Forwarded-Proto: https``).
* CSRF: a cookie-authenticated request that changes state must carry ``X-CSRF-Token`` equal to
  the session's token. Bearer tokens (API clients) are exempt: a browser never sends them on
  its own.
* Sign-in limit: every attempt is recorded as a failure *before* the password is checked, in
  the same transaction as the check (PostgreSQL: advisory locks per alias and per address;
  SQLite: its one writer), so parallel guesses count at once; a success deletes its own row.
  An address gets ``IP_LIMIT`` failures per ``WINDOW``, then 429. An alias is never locked:
  after ``ALIAS_FREE`` failures from unknown devices each further attempt from an unknown
  device waits a doubling delay (1 s, 2 s, ... at most ``BACKOFF_MAX``). A browser that signed
  in before carries a device cookie (only its SHA-256 is kept) and is held up only by its own
  failures (``DEVICE_LIMIT``), so the owner is not locked out by somebody else's guesses.
* TOTP (RFC 6238): ``pyotp``, a small maintained library, rather than code of our own; a code's
  time step is remembered, so no code is accepted twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, Response

from wattwerk.portal.database import Conn, Database, as_datetime, utcnow

SESSION_COOKIE = "ww_session"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = timedelta(days=14)
WINDOW = timedelta(minutes=15)
ALIAS_FREE = 5  # failures on an alias from unknown devices before the backoff starts
IP_LIMIT = 20  # failures per client address within WINDOW
DEVICE_LIMIT = 10  # failures per known device within WINDOW
BACKOFF_MAX = 300.0  # seconds: the longest wait the alias-wide backoff imposes
DEVICE_COOKIE = "ww_device"
DEVICE_TTL = timedelta(days=365)
DEVICES_KEPT = 20  # per account
TOKEN_PREFIX = "wwp_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 based) defaults


def set_hasher(hasher: PasswordHasher) -> None:
    """Use other argon2 parameters (tests use cheap ones; existing hashes keep verifying)."""
    global _hasher, _DUMMY
    _hasher = hasher
    _DUMMY = hasher.hash("not a password of anyone")


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


_DUMMY = _hasher.hash("not a password of anyone")


async def burn_verify(password: str) -> None:
    """Spend the time of one verification, so an unknown alias answers as slowly as a known one."""
    await verify_password(_DUMMY, password)


def totp_ok(secret: str, code: str | None) -> bool:
    return totp_step(secret, code) is not None


def totp_step(secret: str, code: str | None, valid_window: int = 1) -> int | None:
    """The time step a code belongs to (this one, or one before or after), or None."""
    if not code:
        return None
    totp = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    for offset in range(-valid_window, valid_window + 1):
        at = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(at), str(code)):
            return int(totp.timecode(at))
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, alias: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=alias, issuer_name="wattwerk")


# ------------------------------------------------------------ rate limit


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt, recorded as a failure until it succeeds."""

    alias: str  # lower case
    ip: str
    device: bytes | None  # the SHA-256 of a device cookie known for this alias
    at: datetime


async def _known_device(conn: Conn, alias: str, cookie: str | None) -> bytes | None:
    if not cookie or len(cookie) > 100:
        return None
    digest = sha256(cookie)
    cur = await conn.execute(
        "SELECT 1 FROM login_devices d JOIN accounts a ON a.id = d.account_id "
        "WHERE d.device_hash = %s AND lower(a.alias) = %s",
        (digest, alias),
    )
    return digest if await cur.fetchone() else None


async def begin_attempt(conn: Conn, alias: str, ip: str, device_cookie: str | None) -> Attempt | int:
    """Check the limits and record the attempt, atomically: the Attempt, or the seconds to wait."""
    key = alias.lower()
    if not conn.sqlite:  # one attempt per alias and per address at a time decides (same lock order)
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0)), "
            "pg_advisory_xact_lock(hashtextextended(%s, 0))",
            ("wattwerk.login.alias:" + key, "wattwerk.login.ip:" + ip),
        )
    now = utcnow()
    since = now - WINDOW
    device = await _known_device(conn, key, device_cookie)
    cur = await conn.execute("SELECT count(*) FROM login_failures WHERE ip = %s AND at > %s", (ip, since))
    if int((await cur.fetchone())[0]) >= IP_LIMIT:
        return int(WINDOW.total_seconds())
    if device is not None:
        cur = await conn.execute(
            "SELECT count(*) FROM login_failures WHERE device = %s AND at > %s", (device, since)
        )
        if int((await cur.fetchone())[0]) >= DEVICE_LIMIT:
            return int(WINDOW.total_seconds())
    else:
        cur = await conn.execute(
            "SELECT count(*), max(at) FROM login_failures WHERE alias = %s AND device IS NULL AND at > %s",
            (key, since),
        )
        n, last = await cur.fetchone()
        if int(n) >= ALIAS_FREE:
            delay = min(2.0 ** (int(n) - ALIAS_FREE), BACKOFF_MAX)
            waited = (now - as_datetime(last)).total_seconds() if last is not None else delay
            if waited < delay:
                return max(1, math.ceil(delay - waited))
    await conn.execute(
        "INSERT INTO login_failures (alias, ip, device, at) VALUES (%s, %s, %s, %s)", (key, ip, device, now)
    )
    await conn.execute("DELETE FROM login_failures WHERE at < %s", (now - WINDOW * 4,))
    return Attempt(key, ip, device, now)


async def attempt_succeeded(conn: Conn, attempt: Attempt, account_id: int) -> str:
    """Forget the attempt; remember the browser as a known device. Returns the device cookie."""
    await conn.execute(
        "DELETE FROM login_failures WHERE alias = %s AND ip = %s AND at = %s",
        (attempt.alias, attempt.ip, attempt.at),
    )
    cookie = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO login_devices (device_hash, account_id, created_at) VALUES (%s, %s, %s)",
        (sha256(cookie), account_id, utcnow()),
    )
    await conn.execute(
        "DELETE FROM login_devices WHERE account_id = %s AND device_hash NOT IN (SELECT device_hash FROM "
        "login_devices WHERE account_id = %s ORDER BY created_at DESC LIMIT %s)",
        (account_id, account_id, DEVICES_KEPT),
    )
    return cookie


def set_device_cookie(request: Request, response: Response, cookie: str) -> None:
    tls = request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
    response.set_cookie(
        DEVICE_COOKIE,
        cookie,
        max_age=int(DEVICE_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=tls,
        path="/api/v1/session",
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ------------------------------------------------------------ sessions


async def start_session(conn: Conn, account_id: int) -> tuple[str, str]:
    """A new session; returns (cookie value, csrf token)."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await conn.execute(
        "INSERT INTO sessions (id_hash, account_id, csrf, expires_at) VALUES (%s, %s, %s, %s)",
        (sha256(sid), account_id, csrf, utcnow() + SESSION_TTL),
    )
    return sid, csrf


def set_session_cookie(request: Request, response: Response, sid: str) -> None:
    tls = request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=tls,
        path="/",
    )


async def end_session(conn: Conn, sid: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = %s", (sha256(sid),))


# ------------------------------------------------------------ the principal


@dataclass(frozen=True)
class Principal:
    account_id: int
    alias: str
    is_admin: bool
    via: str  # "session" or "token"
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        """Sessions may everything the account may; tokens only what their scopes say."""
        return self.via == "session" or "admin" in self.scopes or scope in self.scopes


def db_of(request: Request) -> Database:
    """The portal's database (``async with db_of(request).connection() as conn``)."""
    return request.app.state.db  # type: ignore[no-any-return]


pool_of = db_of  # the name older modules use


_UNAUTH = HTTPException(
    401,
    "not signed in, or the session or token is unknown or expired",
    headers={"WWW-Authenticate": "Bearer"},
)


async def authenticate(request: Request) -> Principal | None:
    """The caller from a Bearer personal access token or the session cookie (CSRF checked)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    async with db_of(request).connection(readonly=True) as conn:
        if scheme.lower() == "bearer" and token.strip().startswith(TOKEN_PREFIX):
            cur = await conn.execute(
                "SELECT a.id, a.alias, a.is_admin, t.scopes FROM access_tokens t "
                "JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = %s "
                "AND t.revoked_at IS NULL AND t.expires_at > %s",
                (sha256(token.strip()), utcnow()),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            return Principal(row[0], row[1], bool(row[2]), "token", frozenset(conn.unarray(row[3])))
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        cur = await conn.execute(
            "SELECT a.id, a.alias, a.is_admin, s.csrf FROM sessions s JOIN accounts a ON a.id = s.account_id "
            "WHERE s.id_hash = %s AND s.expires_at > %s",
            (sha256(sid), utcnow()),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), str(row[3]).encode()):
            raise HTTPException(403, "missing or wrong X-CSRF-Token for a cookie-authenticated request")
    return Principal(row[0], row[1], bool(row[2]), "session", frozenset())


async def principal(request: Request) -> Principal:
    """FastAPI dependency: the signed-in caller, with the scope a token needs for this method."""
    who = await authenticate(request)
    if who is None:
        raise _UNAUTH
    need = "read" if request.method in SAFE_METHODS else "admin"
    if not who.may(need):
        raise HTTPException(403, f"this token lacks the {need!r} scope")
    return who


async def ingest_principal(request: Request) -> Principal:
    """Like :func:`principal`, but a token with the ``ingest`` scope suffices (edge pairing)."""
    who = await authenticate(request)
    if who is None:
        raise _UNAUTH
    if not who.may("ingest"):
        raise HTTPException(403, "this token lacks the 'ingest' scope")
    return who


async def admin_principal(request: Request) -> Principal:
    who = await principal(request)
    if not who.is_admin or not who.may("admin"):
        raise HTTPException(403, "portal administrators only (and tokens with the 'admin' scope)")
    return who
