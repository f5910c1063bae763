"""The REST ``/api/v1`` routers by resource (portal/*_api.py, mounted by routes.py): the same
operations as the single router they were split from — methods, paths, operation ids, tags,
status codes, body limits, dependencies — and the OpenAPI links clients and the stateful tests
follow all lead to operations that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from wattwerk.portal import hardening, routes
from wattwerk.portal.app import PortalConfig, create_app

SMALL = hardening.BODY_SMALL
# (method, path, endpoint, tag, status, body limit or None for the app's default, principal dependency)
EXPECTED: list[tuple[str, str, str, str, int | None, int | None, str | None]] = [
    ("POST", "/api/v1/accounts", "register", "accounts", 201, SMALL, None),
    ("POST", "/api/v1/session", "login", "accounts", None, SMALL, None),
    ("DELETE", "/api/v1/session", "logout", "accounts", None, None, "principal"),
    ("GET", "/api/v1/me", "me", "accounts", None, None, "principal"),
    ("POST", "/api/v1/me/totp", "totp_start", "accounts", None, SMALL, "principal"),
    ("POST", "/api/v1/me/totp/confirm", "totp_confirm", "accounts", None, None, "principal"),
    ("POST", "/api/v1/password-reset", "reset", "accounts", 202, SMALL, None),
    ("POST", "/api/v1/password-reset/confirm", "reset_confirm", "accounts", None, SMALL, None),
    ("GET", "/api/v1/tokens", "token_list", "tokens", None, None, "principal"),
    ("POST", "/api/v1/tokens", "token_new", "tokens", 201, None, "principal"),
    ("DELETE", "/api/v1/tokens/{token_id}", "token_revoke", "tokens", None, None, "principal"),
    ("GET", "/api/v1/sites", "site_list", "sites", None, None, "principal"),
    ("POST", "/api/v1/sites", "site_new", "sites", 201, None, "principal"),
    ("GET", "/api/v1/sites/{site}", "site_info", "sites", None, None, "principal"),
    ("POST", "/api/v1/sites/{site}/edge-tokens", "edge_token", "sites", 201, None, "ingest_principal"),
    ("DELETE", "/api/v1/sites/{site}/edge-tokens", "edge_tokens_revoke", "sites", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/grants", "grant_list", "sites", None, None, "principal"),
    ("PUT", "/api/v1/sites/{site}/grants/{alias}", "grant_set", "sites", None, None, "principal"),
    ("DELETE", "/api/v1/sites/{site}/grants/{alias}", "grant_revoke", "sites", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/audit", "audit_log", "sites", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/retention", "retention_get", "retention", None, None, "principal"),
    ("PUT", "/api/v1/sites/{site}/retention", "retention_set", "retention", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/channels", "channel_list", "data", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/live", "live", "data", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/live/stream", "live_stream", "data", None, None, "principal"),
    ("GET", "/api/v1/sites/{site}/maintenance", "maint_list", "maintenance", None, None, "principal"),
    ("POST", "/api/v1/sites/{site}/maintenance", "maint_grant", "maintenance", 201, None, "principal"),
    (
        "DELETE",
        "/api/v1/sites/{site}/maintenance/{grant_id}",
        "maint_end",
        "maintenance",
        None,
        None,
        "principal",
    ),
    (
        "POST",
        "/api/v1/sites/{site}/maintenance/commands",
        "maint_command",
        "maintenance",
        201,
        None,
        "principal",
    ),
    (
        "GET",
        "/api/v1/sites/{site}/maintenance/commands/{command_id}",
        "maint_result",
        "maintenance",
        None,
        None,
        "principal",
    ),
    ("GET", "/api/v1/sites/{site}/notifications", "get_notifications", "sites", None, None, "principal"),
    ("PUT", "/api/v1/sites/{site}/notifications", "put_notifications", "sites", None, SMALL, "principal"),
    ("POST", "/api/v1/admin/retention/run", "retention_run", "admin", None, None, "admin_principal"),
    ("POST", "/api/v1/admin/invites", "invite_new", "admin", 201, None, "admin_principal"),
    ("GET", "/api/v1/research/export", "research_export", "admin", None, None, "admin_principal"),
]


def _principal(route: APIRoute) -> str | None:
    names = [dep.call.__name__ for dep in route.dependant.dependencies if dep.call is not None]
    assert len(names) <= 1, names
    return names[0] if names else None


def test_the_resource_routers_have_exactly_the_operations_of_before() -> None:
    found = []
    for module in routes.API_ROUTERS:
        for route in module.router().routes:
            assert isinstance(route, APIRoute)
            assert route.endpoint.__module__ == module.__name__
            for method in sorted(route.methods):
                found.append(
                    (
                        method,
                        route.path,
                        route.name,
                        *route.tags,
                        route.status_code,
                        route.max_body_size,
                        _principal(route),
                    )
                )
    assert found == EXPECTED


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's OpenAPI document (built without opening the database)."""
    folder: Path = tmp_path_factory.mktemp("spec")
    return create_app(PortalConfig(db_url=f"sqlite:///{folder}/portal.db", migrate=False)).openapi()


def test_operation_ids_and_tags_in_the_spec(spec: dict[str, Any]) -> None:
    for method, path, name, tag, status, _, _ in EXPECTED:
        op = spec["paths"][path][method.lower()]
        suffix = path.replace("/", "_").replace("{", "_").replace("}", "_").replace("-", "_")
        assert op["operationId"] == f"{name}{suffix}_{method.lower()}"
        assert op["tags"] == [tag]
        assert str(status or 200) in op["responses"]


def test_links_lead_to_operations_that_exist(spec: dict[str, Any]) -> None:
    linked = {}
    for path, method in (("/api/v1/sites", "post"), ("/api/v1/tokens", "post")):
        links = spec["paths"][path][method]["responses"]["201"]["links"]
        linked[path] = links
        for link in links.values():
            ref = link["operationRef"].removeprefix("#/paths/")
            target, target_method = ref.rsplit("/", 1)
            assert target_method in spec["paths"][target.replace("~1", "/").replace("~0", "~")]
    assert len(linked["/api/v1/sites"]) == 12
    assert linked["/api/v1/tokens"]["delete_api_v1_tokens_token_id"]["parameters"] == {
        "token_id": "$response.body#/id"
    }
