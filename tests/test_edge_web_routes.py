"""The edge app's routes, split into one router per area (``edge/web.py`` mounts ``web_auth``,
``metrics``, the pages, ``web_live``, ``owner_api``, ``setup_api``): exactly the routes of before,
each in the module of its area, and every one of them behind the ``AuthGate`` (Host, Origin,
session, CSRF), websockets included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount
from starlette.websockets import WebSocketDisconnect

from edge_login import signed_in, test_auth
from wattwerk.edge.web import create_app
from wattwerk.edge.web_auth import access

# (method, path) of create_app(..., runtime=...) as dumped before the split (WS: the websocket)
EXPECTED = [
    ("GET", "/api/auth"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/account/password"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/setup"),
    ("GET", "/wizard"),
    ("GET", "/login"),
    ("GET", "/history"),
    ("GET", "/sessions"),
    ("GET", "/manifest.webmanifest"),
    ("GET", "/sw.js"),
    ("GET", "/api/live"),
    ("GET", "/api/today"),
    ("GET", "/api/devices"),
    ("GET", "/api/plan"),
    ("GET", "/api/history"),
    ("GET", "/api/sessions"),
    ("GET", "/api/sessions.csv"),
    ("GET", "/api/owner"),
    ("GET", "/api/owner/{device}"),
    ("PUT", "/api/owner/{device}"),
    ("WS", "/api/ws"),
    ("GET", "/api/catalog"),
    ("POST", "/api/setup/test"),
    ("GET", "/api/setup/config"),
    ("POST", "/api/setup/devices"),
    ("GET", "/api/wizard/network"),
    ("POST", "/api/wizard/network"),
    ("POST", "/api/wizard/pair"),
    ("POST", "/api/wizard/grid-meter"),
]
AREA = {  # path prefix -> the module whose router serves it
    "/api/auth": "web_auth",
    "/api/account": "web_auth",
    "/metrics": "metrics",
    "/api/owner": "owner_api",
    "/api/catalog": "setup_api",
    "/api/setup": "setup_api",
    "/api/wizard": "setup_api",
    "/api/": "web_live",
    "/": "web",
}


class View:
    """A ``SiteView``; the gate answers before any handler runs, so its values are never read."""

    def live(self) -> dict[str, Any]:
        return {}

    def today(self) -> dict[str, Any]:
        return {}


def flat(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """The app's routes with included routers expanded (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat(inner.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        else:
            yield prefix + getattr(route, "path", ""), route


def table(app: FastAPI) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path, route in flat(app.routes):
        if isinstance(route, APIRoute):
            out += [(method, path) for method in sorted(route.methods)]
        elif isinstance(route, APIWebSocketRoute):
            out.append(("WS", path))
        else:
            assert isinstance(route, Mount) and path == "/static", path
    return out


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(View(), auth=test_auth(tmp_path), runtime=object())


def test_the_routes_are_those_of_before(app: FastAPI) -> None:
    assert table(app) == EXPECTED
    assert len(set(EXPECTED)) == len(EXPECTED)


def test_each_route_lives_in_the_module_of_its_area(app: FastAPI) -> None:
    for path, route in flat(app.routes):
        if isinstance(route, (APIRoute, APIWebSocketRoute)):
            area = next(module for prefix, module in AREA.items() if path.startswith(prefix))
            assert route.endpoint.__module__ == f"wattwerk.edge.{area}", path


def _url(path: str) -> str:
    return path.replace("{device}", "ev1")


def _closed_with_1008(client: TestClient, **headers: str) -> bool:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/api/ws", headers=headers) as ws,
    ):
        ws.receive_json()
    return refused.value.code == 1008


def test_every_route_answers_only_to_the_edge_s_names(app: FastAPI) -> None:
    client = TestClient(app)
    for method, path in EXPECTED:
        if method == "WS":
            assert _closed_with_1008(client, host="evil.example")
            assert _closed_with_1008(client, origin="http://evil.example")
            continue
        foreign_host = client.request(method, _url(path), headers={"host": "evil.example"})
        assert foreign_host.status_code == 421, (method, path)
        foreign_origin = client.request(method, _url(path), headers={"origin": "http://evil.example"})
        assert foreign_origin.status_code == 403, (method, path)


def test_every_route_but_sign_in_needs_a_session_and_writes_a_csrf_token(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    guarded = [(m, p) for m, p in EXPECTED if access(p) not in ("open", "first")]
    assert len(guarded) > 20
    for method, path in guarded:
        if method == "WS":
            assert _closed_with_1008(client)
            continue
        res = client.request(method, _url(path), json={})
        if path.startswith(("/api/", "/metrics")) or method != "GET":
            assert res.status_code == 401, (method, path, res.status_code)
        else:
            assert res.status_code == 303 and res.headers["location"].startswith("/login?next="), path
    signed = signed_in(TestClient(app, follow_redirects=False))
    token = signed.headers.pop("X-CSRF-Token")
    for method, path in guarded:
        if method not in ("WS", "GET"):
            res = signed.request(method, _url(path), json={})
            assert res.status_code == 403 and "CSRF" in res.text, (method, path)
    assert token
