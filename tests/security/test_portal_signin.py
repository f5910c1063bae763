"""Sign-in and accounts against the real ``wattwerk portal`` on both backends (issue 15,
findings 3, 10, 15, 16): parallel guesses, lockout of the owner, aliases, passwords, TOTP,
secrets at rest and file modes."""

from __future__ import annotations

import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp

from security.portal_process import PASSWORD, PortalProcess, backend, portal, sqlite_portal  # noqa: F401
from wattwerk.portal import auth


def guess(portal: PortalProcess, alias: str, password: str, **kw: object) -> httpx.Response:  # noqa: F811
    with portal.client(**kw) as http:
        return http.post("/api/v1/session", json={"alias": alias, "password": password})


def test_parallel_guesses_are_counted_before_they_are_checked(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 3: 150 concurrent guesses, 42 checked with a limit of 5."""
    alias = f"v{uuid.uuid4().hex[:8]}"
    assert portal.register(alias).status_code == 201
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda i: guess(portal, alias, f"wrong guess number {i}"), range(60)))
    codes = [r.status_code for r in answers]
    assert set(codes) <= {401, 429}, codes
    # ALIAS_FREE attempts run at once; the backoff lets a few more through while they are checked
    assert codes.count(401) <= auth.ALIAS_FREE + 3, codes
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)


def test_failures_from_elsewhere_never_lock_the_owner_out(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 16: five wrong passwords from anyone locked an alias for 15 minutes."""
    alias = f"o{uuid.uuid4().hex[:8]}"
    assert portal.register(alias).status_code == 201
    owner = portal.client()
    assert owner.post("/api/v1/session", json={"alias": alias, "password": PASSWORD}).status_code == 200
    assert owner.cookies.get(auth.DEVICE_COOKIE)  # the owner's browser is a known device now
    attacker = httpx.HTTPTransport(local_address="127.0.0.2")  # another address on the loopback
    answers = [guess(portal, alias, f"not it {i}", transport=attacker) for i in range(auth.ALIAS_FREE + 5)]
    held = [r for r in answers if r.status_code == 429]  # unknown devices wait: a backoff, not a lockout
    assert held and all(1 <= int(r.headers["retry-after"]) <= auth.BACKOFF_MAX for r in held)
    r = owner.post("/api/v1/session", json={"alias": alias, "password": PASSWORD})
    assert r.status_code == 200, r.text  # the known device signs in at once
    for i in range(auth.IP_LIMIT):
        guess(portal, f"x{i}{alias}", "wrong password here", transport=attacker)
    blocked = guess(portal, f"fresh{alias}", "any password at all", transport=attacker)
    assert blocked.status_code == 429  # the guessing address is stopped, whatever alias it tries
    owner.close()


def test_aliases_emails_and_passwords(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 15: 'alice' and 'Alice' were two accounts; e-mail not validated; ten spaces a
    valid password."""
    alias = f"Al{uuid.uuid4().hex[:8]}"
    assert portal.register(alias).status_code == 201
    taken = portal.register(alias.lower())
    assert taken.status_code == 409, taken.text
    http = portal.sign_in(alias.upper())  # any case signs in to the one account
    assert http.get("/api/v1/me").json()["alias"] == alias
    http.close()
    bad_mail = portal.register(f"m{uuid.uuid4().hex[:8]}", email="not an address")
    assert bad_mail.status_code == 400 and "email" in bad_mail.json()["detail"]
    assert portal.register(f"m{uuid.uuid4().hex[:8]}", email="me@example.org").status_code == 201
    blank = portal.register(f"p{uuid.uuid4().hex[:8]}", password=" " * 10)
    assert blank.status_code == 400 and "password" in blank.json()["detail"]
    padded = portal.register(f"p{uuid.uuid4().hex[:8]}", password="   short   ")
    assert padded.status_code == 400


def enable_totp(portal: PortalProcess, alias: str) -> tuple[httpx.Client, str]:  # noqa: F811
    http = portal.sign_in(alias)
    secret = http.post("/api/v1/me/totp", json={"password": PASSWORD}).json()["secret"]
    code = pyotp.TOTP(secret).now()
    assert http.post("/api/v1/me/totp/confirm", json={"code": code}).status_code == 200
    return http, secret


def test_totp_codes_work_once_and_reenrolment_needs_password_and_code(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 10: the same TOTP code was accepted twice; a stolen session alone re-enrolled TOTP."""
    alias = f"t{uuid.uuid4().hex[:8]}"
    assert portal.register(alias).status_code == 201
    session, secret = enable_totp(portal, alias)
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the next step's (the current one confirmed)
    first = guess_totp(portal, alias, code)
    assert first.status_code == 200, first.text
    again = guess_totp(portal, alias, code)
    assert again.status_code == 401 and "once" in again.json()["detail"]
    stolen = session.post("/api/v1/me/totp", json={"password": "not the password"})
    assert stolen.status_code == 403
    no_code = session.post("/api/v1/me/totp", json={"password": PASSWORD})
    assert no_code.status_code == 403 and "code" in no_code.json()["detail"]
    with portal.db.connect() as conn:
        stored = conn.execute("SELECT totp_secret FROM accounts WHERE alias = %s", (alias,)).fetchone()[0]
    assert stored.startswith("fernet:") and secret not in stored  # sealed with the server key
    session.close()


def guess_totp(portal: PortalProcess, alias: str, code: str) -> httpx.Response:  # noqa: F811
    with portal.client() as http:
        return http.post("/api/v1/session", json={"alias": alias, "password": PASSWORD, "totp": code})


def test_portal_files_are_private(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 10: portal.db was created 0644; secrets in plain text."""
    alias = f"f{uuid.uuid4().hex[:8]}"
    assert sqlite_portal.register(alias).status_code == 201
    http, secret = enable_totp(sqlite_portal, alias)
    http.close()
    db_file = sqlite_portal.db.url.removeprefix("sqlite:///")
    key_file = sqlite_portal.data_dir / "portal.key"
    for path in (Path(db_file), key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    raw = b"".join(p.read_bytes() for p in (Path(db_file), Path(db_file + "-wal")) if p.exists())
    assert secret.encode() not in raw
