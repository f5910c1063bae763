"""Issue 15, findings 1 and 18: the edge's page and API against a LAN attacker and a web page
(DNS rebinding, cross-site requests), with ``wattwerk run`` as a real process on loopback."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from security.edge_processes import PASSWORD, RunningEdge, edge, running_edge  # noqa: F401
from wattwerk.config import load_config

# what an attacker did in the finding: add a device, make it the grid meter, re-pair the edge
WRITES = [
    ("/api/setup/devices", {"catalog": "sunspec-inverter-int", "host": "10.6.6.6", "id": "evil", "kwp": 5}),
    ("/api/wizard/grid-meter", {"device_id": "sub"}),
    ("/api/wizard/pair", {"portal_url": "http://attacker.example", "site": "x", "code": "wwp_x"}),
    ("/api/setup/test", {"catalog": "sunspec-inverter-int", "host": "192.168.1.1", "port": 22}),
    ("/api/wizard/network", {"interface": "eth0", "mode": "dhcp", "confirm": True}),
]
PRIVATE_READS = ["/api/wizard/network", "/api/setup/config", "/api/catalog", "/metrics"]


def test_first_start_only_the_wizards_password_step_works(tmp_path: Path) -> None:
    with running_edge(tmp_path, password=None) as first:
        before = first.site.read_text()
        with first.client() as anyone:
            for path, body in WRITES:
                r = anyone.post(path, json=body)
                assert r.status_code == 503 and "admin password" in r.json()["errors"][0], path
            for path in [*PRIVATE_READS, "/api/live"]:
                assert anyone.get(path).status_code == 503, path
            assert anyone.get("/").headers["location"] == "/wizard"
            assert anyone.get("/wizard").status_code == 200
            assert anyone.post("/api/auth/password", json={"password": "short"}).status_code == 422
            r = anyone.post("/api/auth/password", json={"password": PASSWORD})
            assert r.status_code == 200
            cookie = r.headers.get_list("set-cookie")
            session = next(c for c in cookie if c.startswith("ww_session="))
            assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        with first.client() as second:  # whoever comes next cannot choose another password
            assert second.post("/api/auth/password", json={"password": "x" * 12}).status_code == 409
        stored = first.data_dir / "admin-password.argon2"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stored.read_text().startswith("$argon2id$") and PASSWORD not in stored.read_text()
        assert first.site.read_text() == before


def test_without_a_session_nothing_is_written_or_read(edge: RunningEdge) -> None:  # noqa: F811
    before = edge.site.read_text()
    with edge.client() as anyone:
        for path, body in WRITES:
            r = anyone.post(path, json=body)
            assert r.status_code == 401, (path, r.text)
        for path in [*PRIVATE_READS, "/api/live", "/api/today", "/api/devices", "/api/plan"]:
            assert anyone.get(path).status_code == 401, path
        assert anyone.get("/setup").headers["location"] == "/login?next=/setup"
        login = anyone.get("/login")
        assert login.status_code == 200 and login.headers["x-frame-options"] == "DENY"  # no clickjacking
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert edge.site.read_text() == before


def test_dns_rebinding_a_foreign_host_name_is_refused(edge: RunningEdge) -> None:  # noqa: F811
    with edge.signed_in() as owner:
        assert owner.get("/api/live").status_code == 200
        for host in ("attacker.example", "attacker.example:8080", "192.0.2.1"):
            r = owner.get("/api/live", headers={"Host": host})
            assert r.status_code == 421 and "web.hosts" in r.json()["errors"][0], host
            r = owner.post("/api/wizard/grid-meter", json={"device_id": "sub"}, headers={"Host": host})
            assert r.status_code == 421
            assert owner.get("/", headers={"Host": host}).status_code == 421
    assert load_config(edge.site).grid_meter.id == "grid"  # type: ignore[union-attr]


def test_writes_need_the_csrf_token_and_an_own_origin(edge: RunningEdge) -> None:  # noqa: F811
    with edge.signed_in() as owner:
        token = owner.headers.pop("X-CSRF-Token")
        body = {"device_id": "sub"}
        r = owner.post("/api/wizard/grid-meter", json=body)
        assert r.status_code == 403 and "CSRF" in r.json()["errors"][0]
        r = owner.post("/api/wizard/grid-meter", json=body, headers={"X-CSRF-Token": "guessed"})
        assert r.status_code == 403
        r = owner.post(
            "/api/wizard/grid-meter",
            json=body,
            headers={"X-CSRF-Token": token, "Origin": "http://attacker.example"},
        )
        assert r.status_code == 403
        assert load_config(edge.site).grid_meter.id == "grid"  # type: ignore[union-attr]
        r = owner.post(
            "/api/wizard/grid-meter", json=body, headers={"X-CSRF-Token": token, "Origin": edge.url}
        )
        assert r.status_code == 200, r.text
    assert load_config(edge.site).grid_meter.id == "sub"  # type: ignore[union-attr]


def test_sign_in_is_rate_limited_even_for_parallel_guesses(edge: RunningEdge) -> None:  # noqa: F811
    def guess(i: int) -> int:
        with edge.client() as c:
            return c.post("/api/auth/login", json={"password": f"guess {i}"}).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(24)))
    assert codes.count(401) == 5 and codes.count(429) == 19, codes
    with edge.client() as owner:
        r = owner.post("/api/auth/login", json={"password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1  # also the right one, for now


def test_the_live_view_is_public_only_by_the_owners_choice(tmp_path: Path) -> None:
    with running_edge(tmp_path, more="web:\n  public_live: true\n") as public, public.client() as anyone:
        live = anyone.get("/api/live")
        assert live.status_code == 200 and live.json()["site"] == "Security house"
        assert anyone.get("/").status_code == 200
        for path in PRIVATE_READS:
            assert anyone.get(path).status_code == 401, path
        for path, body in WRITES:
            assert anyone.post(path, json=body).status_code == 401, path


def test_prometheus_reads_metrics_with_the_bearer_token_only(edge: RunningEdge) -> None:  # noqa: F811
    token_file = edge.data_dir / "metrics.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    with httpx.Client(base_url=edge.url, timeout=30) as prometheus:
        assert prometheus.get("/metrics").status_code == 401
        assert prometheus.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = prometheus.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "wattwerk_edge" in r.text
        r = prometheus.get("/api/setup/config", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401  # the token opens /metrics, nothing else


def test_changing_the_password_needs_the_session_and_the_current_one(edge: RunningEdge) -> None:  # noqa: F811
    new = {"current": PASSWORD, "password": "an even longer admin password"}
    with edge.client() as anyone:
        assert anyone.post("/api/account/password", json=new).status_code == 401
    with edge.signed_in() as owner, edge.signed_in() as other_browser:
        token = owner.headers.pop("X-CSRF-Token")
        assert owner.post("/api/account/password", json=new).status_code == 403  # no CSRF token
        r = owner.post(
            "/api/account/password",
            json=new | {"current": "a stolen session only"},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 403 and "current password" in r.json()["errors"][0]
        r = owner.post("/api/account/password", json=new, headers={"X-CSRF-Token": token})
        assert r.status_code == 200
        owner.headers["X-CSRF-Token"] = r.json()["csrf"]  # this browser has a new session
        assert owner.get("/api/setup/config").status_code == 200
        assert other_browser.get("/api/setup/config").status_code == 401  # every other one ended
    with edge.client() as c:
        assert c.post("/api/auth/login", json={"password": PASSWORD}).status_code == 401
        assert c.post("/api/auth/login", json={"password": new["password"]}).status_code == 200
