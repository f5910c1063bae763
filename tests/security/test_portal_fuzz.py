"""A bounded fuzz of ingest bodies against the real ``wattwerk portal`` (issue 15): no answer
is a 5xx and no exception escapes into the portal's log. The long run is
``wattwerk bench fuzz_ingest --minutes 10`` (same strategy)."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings

from security.portal_process import PortalProcess, sqlite_portal  # noqa: F401
from wattwerk.bench.fuzz_ingest import Body, bodies, escaped, post


def test_fuzzed_ingest_bodies_never_answer_5xx(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    _http, site, token = sqlite_portal.owner_with_site()
    statuses: list[int] = []
    with httpx.Client(base_url=sqlite_portal.url, timeout=60) as http:

        @given(bodies(site))
        @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(body: Body) -> None:
            status = post(http, token, body)
            statuses.append(status)
            assert status < 500, body

        check()
    assert len(set(statuses)) > 1  # the bodies reached more than one answer (not all refused alike)
    assert not escaped(sqlite_portal.log()), sqlite_portal.log()[-3000:]
