"""Live values fan-out through NATS (issue 19, portal/live.py): two portal workers on one
database and the NATS server on loopback; a dashboard on each worker gets the snapshot from
the database first, then the values of a batch ingested by the other worker, pushed through
``ww.live.<site>`` — no polling."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, upload
from test_ingest_support import PortalDb, pg, serve_portal  # noqa: F401  (fixture)

NATS = os.environ.get("WATTWERK_TEST_NATS", "nats://127.0.0.1:4222")


def events(lines: Iterator[str]) -> Iterator[dict]:
    """The data events of a server-sent event stream (keepalive comments skipped)."""
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_live_values_reach_dashboards_on_every_worker(pg: PortalDb) -> None:  # noqa: F811
    with serve_portal(pg, live_nats=NATS) as one, serve_portal(pg, live_nats=NATS) as two:
        p1, p2 = Portal(one.url, pg, one.app), Portal(two.url, pg, two.app)
        acc = account(p1)
        site = new_site(acc)
        token = edge_token(acc, site)
        t0 = now_ms()
        upload(p1, token, site, [("grid.power", t0, 100.0)])
        assert acc.http.get(f"/api/v1/sites/{site}/live").json()["stream"] is True  # the page listens
        other = httpx.Client(base_url=p2.url, cookies=acc.http.cookies, timeout=30.0)
        path = f"/api/v1/sites/{site}/live/stream"
        with acc.http.stream("GET", path) as s1, other.stream("GET", path) as s2:
            assert s1.status_code == 200 and s2.status_code == 200
            assert s1.headers["content-type"].startswith("text/event-stream")
            e1, e2 = events(s1.iter_lines()), events(s2.iter_lines())
            for first in (next(e1), next(e2)):  # the snapshot, from the database
                assert [(v["channel"], v["value"]) for v in first["values"]] == [("grid.power", 100.0)]
            upload(
                p2,
                token,
                site,
                [
                    ("grid.power", t0 + 1000, 250.0),
                    ("grid.power", t0 + 2000, 300.0),
                    ("pv.power", t0 + 1500, 1200.0),
                ],
                first_seq=2,
            )
            for pushed in (next(e1), next(e2)):  # worker two ingested; both dashboards hear it
                assert pushed["site"] == site
                got = {v["channel"]: (v["ts_ms"], v["value"]) for v in pushed["values"]}
                assert got == {"grid.power": (t0 + 2000, 300.0), "pv.power": (t0 + 1500, 1200.0)}
        other.close()
        assert one.app.state.live.published == 1 and two.app.state.live.published == 1
        for _ in range(200):  # the server notices the closed dashboards, then unsubscribes
            if one.app.state.live.streams == two.app.state.live.streams == 0:
                break
            time.sleep(0.05)
        assert one.app.state.live.streams == two.app.state.live.streams == 0


def test_without_nats_the_stream_is_off_and_polling_stays(pg: PortalDb) -> None:  # noqa: F811
    with serve_portal(pg) as running:
        acc = account(Portal(running.url, pg, running.app))
        site = new_site(acc)
        assert acc.http.get(f"/api/v1/sites/{site}/live/stream").status_code == 404
        polled = acc.http.get(f"/api/v1/sites/{site}/live")
        assert polled.status_code == 200 and polled.json()["stream"] is False  # the page polls
