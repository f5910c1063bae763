"""schemathesis against ``/api/v1/openapi.json``: generated requests never cause a server error.

The real app runs in this process (uvicorn on a loopback thread, so its lifespan opens the
PostgreSQL pool) on a schema of its own; requests carry a signed-in account's admin-scoped
token, so the authenticated routes are exercised too. Examples per operation are kept few so
the run stays well under a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from portal_fixtures import PASSWORD
from test_ingest_support import PG_URL, PgSchema, serve_portal, sqlite_db
from wattwerk.portal.database import POSTGRES, SQLITE
from wattwerk.portal.migrations import migrate

EXAMPLES = 6


@pytest.fixture(scope="module", params=[POSTGRES, SQLITE])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The portal on each backend, with an account, a site and an admin token."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == SQLITE:
        target = sqlite_db(tmp_path_factory.mktemp("fuzz"))
    else:
        migrate(PG_URL, schema)
        target = PgSchema(PG_URL, schema)
    try:
        with serve_portal(target) as portal, httpx.Client(base_url=portal.url) as http:
            http.post("/api/v1/accounts", json={"alias": "fuzzer", "password": PASSWORD})
            csrf = http.post("/api/v1/session", json={"alias": "fuzzer", "password": PASSWORD}).json()["csrf"]
            http.headers["X-CSRF-Token"] = csrf
            http.post("/api/v1/sites", json={"label": "fuzz"})
            token = http.post("/api/v1/tokens", json={"name": "fuzz", "scopes": ["admin"]}).json()["token"]
            yield portal.url, {"Authorization": f"Bearer {token}"}
    finally:
        if request.param == POSTGRES:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_api_never_answers_with_a_server_error(running: tuple[str, dict[str, str]]) -> None:
    url, headers = running
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            if case.path == "/api/v1/edge/commands" and case.query:
                case.query["wait"] = 0  # long polls would only make the run slow
            response = case.call_and_validate(
                base_url=url, headers=headers, checks=[not_a_server_error], timeout=30
            )
            calls.append(response.status_code)

        try:
            check()
        except Exception as exc:  # gather every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert operations >= 30 and len(calls) >= 2 * operations
    assert any(200 <= c < 300 for c in calls) and any(400 <= c < 500 for c in calls)
    assert failures == []
