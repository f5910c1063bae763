"""Password reset against the real ``wattwerk portal`` and a real SMTP server on loopback
(aiosmtpd) (issue 15, finding 4): the token goes by mail only, never into the log; at most a
few are live per account; without SMTP the portal says so and makes no token."""

from __future__ import annotations

import email
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from security.portal_process import PortalProcess, fresh_db, portal_process, sqlite_portal  # noqa: F401
from smtp_fixtures import Inbox, smtp  # noqa: F401
from wattwerk.portal import accounts
from wattwerk.portal.database import SQLITE


@pytest.fixture
def mailing_portal(smtp: tuple[Inbox, int], tmp_path: Path) -> Iterator[PortalProcess]:  # noqa: F811
    _inbox, port = smtp
    options = [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
        "--smtp-security",
        "none",
        "--smtp-from",
        "portal@example.org",
        "--public-url",
        "https://portal.example.org",
    ]
    with fresh_db(SQLITE, tmp_path) as db, portal_process(db, tmp_path / "data", *options) as running:
        yield running


def token_of(message: email.message.Message) -> str:
    text = message.get_payload(decode=True).decode()
    found = re.search(r"^ {4}([A-Za-z0-9_-]{20,})\r?$", text, re.MULTILINE)
    assert found, message.get_payload()
    return found.group(1)


def test_reset_tokens_go_by_mail_only_and_are_limited(
    mailing_portal: PortalProcess,
    smtp: tuple[Inbox, int],  # noqa: F811
) -> None:
    """Finding 4: a token read from the log took over an account; 100 live tokens for one alias."""
    inbox, _port = smtp
    alias = f"r{uuid.uuid4().hex[:8]}"
    assert mailing_portal.register(alias, email="owner@example.org").status_code == 201
    with mailing_portal.client() as http:
        for _ in range(accounts.MAX_LIVE_RESETS + 3):
            r = http.post("/api/v1/password-reset", json={"alias": alias})
            assert r.status_code == 202 and "token" not in r.json()
        nobody = http.post("/api/v1/password-reset", json={"alias": "nobody-at-all"})
        assert nobody.status_code == 202 and nobody.json() == r.json()  # the same answer
        messages = inbox.wait(accounts.MAX_LIVE_RESETS)
        time.sleep(1.0)  # (any further mail would have arrived by now)
        assert len(inbox.messages) == accounts.MAX_LIVE_RESETS
        assert messages[0]["To"] == "owner@example.org"
        token = token_of(messages[0])
        new = "a brand new passphrase"
        done = http.post("/api/v1/password-reset/confirm", json={"token": token, "password": new})
        assert done.status_code == 200, done.text
        other = http.post(
            "/api/v1/password-reset/confirm",
            json={"token": token_of(messages[1]), "password": "yet another passphrase"},
        )
        assert other.status_code == 400  # the other live tokens ended with the reset
    mailing_portal.sign_in(alias, new).close()
    log = mailing_portal.log()
    assert all(token_of(m) not in log for m in messages)


def test_without_smtp_the_portal_says_so_and_makes_no_token(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    alias = f"n{uuid.uuid4().hex[:8]}"
    assert sqlite_portal.register(alias, email="owner@example.org").status_code == 201
    with sqlite_portal.client() as http:
        r = http.post("/api/v1/password-reset", json={"alias": alias})
    assert r.status_code == 403 and "not set up" in r.json()["detail"]
    with sqlite_portal.db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM password_resets").fetchone()[0] == 0
