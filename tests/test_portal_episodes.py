"""Restriction episodes reach the portal (issue 18): the edge's journal keeps them on disk (from
the limiter's events) until the portal has them, the real uplink takes them along with its
batches, the portal stores them per site (both backends), idempotent on re-upload, and lists
them for the dashboard's "Grid restrictions" widget; a bad field is answered, the readings kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from portal_fixtures import Portal, account, edge_token, new_site, now_ms, portal  # noqa: F401
from test_ingest_support import database  # noqa: F401
from wattwerk.control.limit_types import Event
from wattwerk.edge.episode_journal import EpisodeJournal
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def start(src: str, level: str, ms: int) -> Event:
    return Event(at(ms), "restriction_start", src, f"{src} {level}", {"start": ms / 1000})


def end(src: str, level: str, t0: int, t1: int, wh: float) -> Event:
    data = {"start": t0 / 1000, "end": t1 / 1000, "curtailed_wh": wh}
    return Event(at(t1), "restriction_end", src, f"{src} {level}: {(t1 - t0) / 1000:.0f} s", data)


def test_the_journal_keeps_episodes_until_the_portal_has_their_latest_state(tmp_path: Path) -> None:
    t = now_ms() - 3_600_000
    j = EpisodeJournal(tmp_path / "episodes.sqlite")
    j.record([start("iec104", "feed-in 30%", t), Event(at(t), "min_time_override", "hp", "x")])
    sent = j.pending()
    assert [(e["kind"], e["source"], e["limit"], e["end_ms"]) for e in sent] == [
        ("inbound", "iec104", "feed-in 30%", None)
    ]
    j.record([end("iec104", "feed-in 30%", t, t + 600_000, 250.0)])  # ends while the start is on its way
    j.acked(sent)  # the portal had the start only: the end is still pending
    (ep,) = j.pending()
    assert ep["end_ms"] == t + 600_000 and ep["curtailed_wh"] == 250.0
    j.record([start("ripple", "60%", t + 700_000)])
    j.close()
    j = EpisodeJournal(tmp_path / "episodes.sqlite")  # on disk: a restart loses nothing
    assert j.pending()[0] == ep
    (open_before,) = j.pending()[1:]  # ended by the restart: the limiter's state is gone
    assert open_before["source"] == "ripple" and open_before["end_ms"] >= now_ms() - 60_000
    j.acked(j.pending())
    assert j.pending() == []
    fallback = Event(
        at(t + 1000), "fallback_start", "pv1", "pv1: no data for 60 s or more, fail-safe setpoints"
    )
    j.record([fallback, Event(at(t + 61_000), "fallback_end", "pv1", "pv1: data again, normal control")])
    (fb,) = j.pending()
    assert (fb["kind"], fb["start_ms"], fb["end_ms"]) == ("fallback", t + 1000, t + 61_000)
    assert fb["limit"] == "no data for 60 s or more, fail-safe setpoints"
    j.close()


def upload(portal: Portal, token: str, site: str, seq: int, **extra: object) -> dict:  # noqa: F811
    r = httpx.post(
        f"{portal.url}/api/v1/ingest",
        json={
            "site": site,
            "edge_id": "e1",
            "readings": [[seq, "grid.power", now_ms() - 1000, 5.0]],
            **extra,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_episodes_ride_with_the_uplink_stored_once_and_listed(portal: Portal, tmp_path: Path) -> None:  # noqa: F811
    owner, stranger = account(portal), account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    t = now_ms() - 7_200_000
    journal = EpisodeJournal(tmp_path / "episodes.sqlite")
    journal.record([start("ripple", "60%", t), end("ripple", "60%", t, t + 900_000, 1234.5)])
    journal.record([start("iec104", "feed-in 30%", t + 1_800_000)])  # still on
    box = Outbox(tmp_path / "outbox.sqlite")
    box.append_raw([("grid.power", t + i * 1000, 100.0) for i in range(3)])
    cfg = UplinkConfig(portal.url, site, "e1", token, fmt="json", gzip_level=0, episodes=journal)

    async def drain() -> None:
        up = Uplink(box, cfg)
        await up.drain()
        await up.aclose()

    asyncio.run(drain())
    assert box.pending() == 0 and journal.pending() == []  # the portal answered for them
    path = f"/api/v1/sites/{site}/restrictions"
    span = {"from_ms": t - 1000, "to_ms": now_ms()}
    got = owner.http.get(path, params=span).json()
    assert [(e["kind"], e["source"], e["limit"], e["end_ms"]) for e in got["episodes"]] == [
        ("ripple_control", "ripple", "60%", t + 900_000),
        ("inbound", "iec104", "feed-in 30%", None),
    ]
    assert got["count"] == 2 and got["curtailed_wh"] == 1234.5
    # the marketer lifts the limit: the same episode gets its end (updated, not a second row)
    journal.record([end("iec104", "feed-in 30%", t + 1_800_000, t + 2_400_000, 300.0)])
    box.append_raw([("grid.power", t + 5000, 100.0)])
    asyncio.run(drain())
    got = owner.http.get(path, params=span).json()
    assert got["count"] == 2 and got["episodes"][1]["end_ms"] == t + 2_400_000
    assert got["curtailed_wh"] == 1534.5
    # the start sent again late (a retry) changes nothing: the end stays, the energy does not shrink
    late = {"kind": "inbound", "source": "iec104", "start_ms": t + 1_800_000, "limit": "feed-in 30%"}
    again = upload(portal, token, site, 50, episodes=[{**late, "end_ms": None}])
    assert again["episodes"] == 1
    assert owner.http.get(path, params=span).json() == got
    # only the ripple episode overlaps its first quarter hour; nobody else sees the site
    first = owner.http.get(path, params={"from_ms": t, "to_ms": t + 900_000}).json()
    assert [e["source"] for e in first["episodes"]] == ["ripple"]
    assert stranger.http.get(path, params=span).status_code == 404


def test_a_bad_episodes_field_is_answered_and_the_readings_kept(portal: Portal) -> None:  # noqa: F811
    owner = account(portal)
    site = new_site(owner)
    token = edge_token(owner, site)
    ok = {"kind": "para14a", "source": "para14a", "start_ms": now_ms() - 60_000, "limit": "dimmed"}
    for seq, (bad, words) in enumerate(
        (
            ("none", "must be a list"),
            ([{**ok, "kind": "meteor"}], "episodes[0]: kind"),
            ([ok, {**ok, "start_ms": now_ms() + 86_400_000}], "episodes[1]: start_ms"),
            ([{**ok, "end_ms": ok["start_ms"] - 1}], "end_ms"),
            ([{**ok, "curtailed_wh": -5.0}], "curtailed_wh"),
            ([{**ok, "source": "x" * 65}], "source"),
        ),
        start=1,
    ):
        body = upload(portal, token, site, seq, episodes=bad)
        assert words in body["episodes_error"] and body["stored"] == 1, body
    listed = owner.http.get(f"/api/v1/sites/{site}/restrictions").json()
    assert listed["episodes"] == []  # all or nothing: the good one of a bad field is not stored
