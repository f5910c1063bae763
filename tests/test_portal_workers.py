"""Stateless portal workers (issue 19): two ``wattwerk portal`` processes on one PostgreSQL
database share everything that matters. A session made on one is valid on the other, and the
sign-in limit counts the failures made on both (a per-process count would let twice as many
through), and a site's ingest rate is one budget for both (``portal/rate_limits.py``)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from security.portal_process import portal_process
from test_ingest import batch, post
from test_ingest_support import PG_URL, PortalDb, pg  # noqa: F401  (fixture)
from wattwerk.portal import auth, db

PASSWORD = "correct horse battery"


def test_two_workers_share_sessions_and_the_sign_in_limit(pg: PortalDb, tmp_path: Path) -> None:  # noqa: F811
    with ExitStack() as stack:
        # two workers of one portal: one database, one data dir (one key file)
        a_url, b_url = (stack.enter_context(portal_process(pg, tmp_path / "data")).url for _ in "ab")
        a = stack.enter_context(httpx.Client(base_url=a_url, timeout=30))
        b = stack.enter_context(httpx.Client(base_url=b_url, timeout=30))
        assert a.post("/api/v1/accounts", json={"alias": "ada", "password": PASSWORD}).status_code == 201
        r = a.post("/api/v1/session", json={"alias": "ada", "password": PASSWORD})
        assert r.status_code == 200, r.text
        b.cookies = a.cookies  # the browser's cookie, now sent to the other worker
        me = b.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["alias"] == "ada"
        assert httpx.get(b_url + "/api/v1/me").status_code == 401  # and not without it

        # Wrong passwords for one alias, alternately on each worker, from an unknown browser.
        answers = []
        for i in range(2 * auth.ALIAS_FREE + 2):
            http = httpx.Client(base_url=(a_url, b_url)[i % 2], timeout=30)
            with http:
                wrong = http.post("/api/v1/session", json={"alias": "ada", "password": "wrong"})
            answers.append(wrong.status_code)
            if answers[-1] == 429:
                break

        # An operator's cap of 0.1 readings/s (a bucket of one reading) holds across both workers.
        with pg.connect() as conn:
            token = db.pair_site(conn, "home")
            conn.execute("UPDATE sites SET rate_per_s = 0.1 WHERE name = 'home'")
        now = int(time.time() * 1000)
        first = post(a_url, token, batch([[1, "grid.power", now, 5.0]]))
        second = post(b_url, token, batch([[2, "grid.power", now + 1000, 6.0]]))
    # The shared count: the first refusal after ALIAS_FREE failures plus a backoff of 1, 2, 4 s;
    # two per-process counts would each allow ALIAS_FREE, 2 * ALIAS_FREE + 1 attempts in all.
    assert answers[-1] == 429, answers
    assert set(answers[:-1]) == {401} and auth.ALIAS_FREE < len(answers) <= auth.ALIAS_FREE + 3, answers
    assert first.status_code == 200 and first.json()["stored"] == 1
    assert second.status_code == 429 and second.json()["kind"] == "rate", second.text
    assert int(second.headers["Retry-After"]) >= 5  # about 10 s until the bucket holds one again
