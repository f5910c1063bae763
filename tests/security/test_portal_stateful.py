"""schemathesis' stateful tests against the real ``wattwerk portal`` (issue 15): sequences of
calls that follow the OpenAPI links (a created site into its routes, a created token into its
revocation) never answer 5xx. tests/test_portal_schemathesis.py covers each operation alone."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from security.portal_process import PortalProcess, sqlite_portal  # noqa: F401


def test_linked_call_sequences_never_answer_5xx(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    http, _site, _token = sqlite_portal.owner_with_site()
    token = http.post("/api/v1/tokens", json={"name": "fuzz", "scopes": ["admin"]}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    spec = http.get("/api/v1/openapi.json").json()
    links = spec["paths"]["/api/v1/sites"]["post"]["responses"]["201"].get("links", {})
    assert len(links) >= 10, links  # the created site leads into its routes
    schema = schemathesis.openapi.from_url(f"{sqlite_portal.url}/api/v1/openapi.json")
    schema.config.update(base_url=sqlite_portal.url)
    seen: list[tuple[str, int]] = []
    errors: list[str] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            if case.path == "/api/v1/edge/commands" and case.query:
                case.query["wait"] = 0  # a long poll would only make the run slow
            return {"headers": headers, "timeout": 30}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            seen.append((f"{case.method} {case.path}", response.status_code))
            if response.status_code >= 500:
                errors.append(f"{case.method} {case.path}: {response.status_code} {response.text[:300]}")

    # one scenario per run: the portal's answers are state that hypothesis' tree of choices cannot
    # replay, so each scenario starts a tree of its own (no replay, no shrinking)
    for _ in range(20):
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=1,
                stateful_step_count=8,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    assert errors == []
    paths = {p for p, _ in seen}
    assert any("{site}" in p for p in paths), paths  # links were followed into a site's routes
    assert any(200 <= code < 300 for _, code in seen)
