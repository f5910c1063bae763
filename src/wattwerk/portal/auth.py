"""Who is asking: passwords (argon2id), sessions, CSRF, login rate limit, TOTP, the principal.

* Passwords: ``argon2-cffi``'s PasswordHasher (argon2id, its default parameters); hashing runs
  in a worker thread so it never blocks the event loop.
* Sessions: a random cookie value; only its SHA-256 is stored, beside a CSRF token. The cookie
  is HttpOnly and SameSite=Lax, and Secure whenever the request came over TLS (directly or via
  a proxy's ``X-Forwarded-Proto: https``).
* CSRF: a cookie-authenticated request that changes state must carry ``X-CSRF-Token`` equal to
  the session's token. Bearer tokens (API clients) are exempt: a browser never sends them on
  its own.
* Login rate limit: failures are kept in the database (the portal is stateless and scales
  out); more than ``ALIAS_LIMIT`` per alias or ``IP_LIMIT`` per client address within
  ``WINDOW`` answers 429 with Retry-After.
* TOTP (RFC 6238): ``pyotp``, a small maintained library, rather than code of our own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request, Response

from wattwerk.portal.database import Conn, Database, utcnow

SESSION_COOKIE = "ww_session"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = timedelta(days=14)
WINDOW = timedelta(minutes=15)
ALIAS_LIMIT = 5
IP_LIMIT = 20
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
    return bool(code) and pyotp.TOTP(secret).verify(str(code), valid_window=1)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, alias: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=alias, issuer_name="wattwerk")


# ------------------------------------------------------------ rate limit


async def login_blocked(conn: Conn, alias: str, ip: str) -> int:
    """Seconds until another attempt is allowed (0 = allowed now)."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM login_failures WHERE alias = %s AND at > %s), "
        "(SELECT count(*) FROM login_failures WHERE ip = %s AND at > %s)",
        (alias, utcnow() - WINDOW, ip, utcnow() - WINDOW),
    )
    row = await cur.fetchone()
    assert row is not None
    if row[0] >= ALIAS_LIMIT or row[1] >= IP_LIMIT:
        return int(WINDOW.total_seconds())
    return 0


async def record_failure(conn: Conn, alias: str, ip: str) -> None:
    now = utcnow()
    await conn.execute("INSERT INTO login_failures (alias, ip, at) VALUES (%s, %s, %s)", (alias, ip, now))
    await conn.execute("DELETE FROM login_failures WHERE at < %s", (now - WINDOW * 4,))


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
