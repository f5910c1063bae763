"""The edge's login state (``wattwerk.edge.auth``) and the gate's path rules (``web_auth``), with an
injected clock; the HTTP behaviour against a running edge is in tests/security/test_edge_web.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wattwerk.edge.auth import EdgeAuth, LoginLimiter, LoginRefused, host_name, own_names
from wattwerk.edge.web_auth import access, safe_next
from wattwerk.errors import PermanentError
from wattwerk.protocols.transport import is_loopback


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/setup", "/setup"),
        ("/wizard?x=1", "/wizard?x=1"),
        (None, "/"),
        ("", "/"),
        ("//attacker.example", "/"),
        ("/\\attacker.example", "/"),
        (
            "/%09/attacker.example",
            "/%09/attacker.example",
        ),  # still a path here: the page decodes ?next= first
        ("/\t/attacker.example", "/"),
        ("https://attacker.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_after_sign_in_only_same_origin_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    "path, need",
    [
        ("/", "live"),
        ("/api/live", "live"),
        ("/api/ws", "live"),
        ("/login", "open"),
        ("/api/auth", "open"),
        ("/api/auth/login", "open"),
        ("/static/app.js", "open"),
        ("/wizard", "first"),
        ("/metrics", "metrics"),
        ("/setup", "login"),
        ("/api/setup/test", "login"),
        ("/api/wizard/network", "login"),
        ("/api/catalog", "login"),
        ("/api/livex", "login"),
        ("/static", "login"),
    ],
)
def test_access_rules(path: str, need: str) -> None:
    assert access(path) == need


def test_names_and_origins(tmp_path: Path) -> None:
    assert host_name("[::1]:8080") == "::1" and host_name("Edge.Local:80") == "edge.local"
    assert host_name("fe80::1") == "fe80::1"
    auth = EdgeAuth(tmp_path, hosts=["energy.example.org"], default_names=False)
    assert auth.host_ok("energy.example.org:8443") and not auth.host_ok("attacker.example")
    assert not auth.host_ok(None) and not auth.host_ok("")
    assert auth.origin_ok("https://energy.example.org") and not auth.origin_ok("http://attacker.example")
    assert not auth.origin_ok("null") and not auth.origin_ok("file://energy.example.org")
    names = own_names()
    assert {"localhost", "127.0.0.1", "::1", "wattwerk.local"} <= names
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and not is_loopback("0.0.0.0")


async def test_password_is_hashed_private_and_set_once(tmp_path: Path) -> None:
    auth = EdgeAuth(tmp_path, default_names=False)
    assert not auth.password_set
    with pytest.raises(PermanentError, match="8 to 256"):
        auth.set_password("short")
    with pytest.raises(PermanentError, match="8 to 256"):
        auth.set_password(" " * 10)
    auth.set_password("a good password")
    assert stat.S_IMODE(auth.password_file.stat().st_mode) == 0o600
    with pytest.raises(PermanentError, match="already set"):
        auth.set_password("another password")
    assert await auth.check_password("a good password", "10.0.0.2")
    assert not await auth.check_password("a bad password", "10.0.0.2")
    token, _ = auth.new_session()
    auth.set_password("a new password", replace=True)
    assert auth.session(token) is None  # a new password ends every session


def test_sessions_expire_and_end(tmp_path: Path) -> None:
    clock = Clock()
    auth = EdgeAuth(tmp_path, default_names=False, clock=clock)
    token, session = auth.new_session()
    assert auth.session(token) is session and auth.session("forged") is None and auth.session(None) is None
    clock.t += 31 * 86400
    assert auth.session(token) is None
    token, _ = auth.new_session()
    auth.end_session(token)
    assert auth.session(token) is None


def test_limiter_counts_before_checking_per_address_and_overall() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_address=2, overall=3, window_s=60.0, clock=clock)
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(LoginRefused) as refused:
        limiter.take("a")
    assert refused.value.retry_after_s == pytest.approx(60.0)
    limiter.take("b")
    with pytest.raises(LoginRefused):  # everyone together
        limiter.take("c")
    clock.t += 61
    limiter.take("a")
    limiter.forget("a")
    limiter.take("a")


def test_metrics_token_is_kept_private_and_stable(tmp_path: Path) -> None:
    first = EdgeAuth(tmp_path, default_names=False)
    path = tmp_path / "metrics.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert EdgeAuth(tmp_path, default_names=False).metrics_token == first.metrics_token
    token = first.metrics_token
    assert first.metrics_ok(f"Bearer {token}") and first.metrics_ok(f"bearer {token}")
    assert not first.metrics_ok("Bearer nope") and not first.metrics_ok(None)
    assert not first.metrics_ok(f"Basic {first.metrics_token}")


def test_web_section_of_the_site_file() -> None:
    from wattwerk.config import ConfigError, parse_config

    site = "site: {name: T, location: {latitude: 50, longitude: 8}, timezone: Europe/Berlin}\n"
    web = 'web: {hosts: [energy.example.org, 192.168.1.9, "[fe80::1]"], public_live: true}\n'
    cfg = parse_config(site + web)
    assert cfg.web.public_live and cfg.web.hosts == ["energy.example.org", "192.168.1.9", "[fe80::1]"]
    assert parse_config(site).web.public_live is False
    with pytest.raises(ConfigError) as bad:
        parse_config(site + "web: {hosts: [evil/path]}\n")
    assert bad.value.lines == [
        'site.yaml:2: web.hosts[0]: "evil/path" is not a host name or IP address '
        "(e.g. energy.example.org, 192.168.1.9)"
    ]
