"""Ingest and registration against the real ``wattwerk portal`` (issue 15, findings 7 and 11):
exact acknowledgements (a late reading inside a gap is stored), the seq bound, the channel cap,
the default rate limit, registration open / invite / closed."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgpack

from security.portal_process import (  # noqa: F401
    NOW_MS,
    PortalProcess,
    backend,
    batch,
    fresh_db,
    ingest,
    portal,
    portal_process,
    sqlite_portal,
)
from test_ingest_support import portal_rows
from wattwerk.portal.database import SQLITE


def test_a_late_reading_inside_a_gap_is_stored(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 11: the whole seq range of a batch was acknowledged, gaps included, so readings
    sent later inside the gap were dropped as duplicates (both backends)."""
    _http, site, token = portal.owner_with_site()
    first = ingest(
        portal, token, batch(site, [[s, "grid.power", NOW_MS - 10_000 + s, float(s)] for s in (1, 2, 5, 6)])
    )
    assert first.status_code == 200 and first.json()["acked"] == [[1, 2], [5, 6]], first.text
    late = ingest(
        portal, token, batch(site, [[s, "grid.power", NOW_MS - 10_000 + s, float(s)] for s in (3, 4)])
    )
    assert late.status_code == 200 and late.json()["stored"] == 2, late.text
    again = ingest(
        portal, token, batch(site, [[s, "grid.power", NOW_MS - 10_000 + s, float(s)] for s in range(1, 7)])
    )
    assert again.json()["stored"] == 0 and again.json()["acked"] == [[1, 6]]
    assert [r[1] for r in portal_rows(portal.db, site)] == [1, 2, 3, 4, 5, 6]


def test_the_largest_seq_is_a_400_not_a_poison_500(portal: PortalProcess) -> None:  # noqa: F811
    """Finding 11: seq 2^63-1 passed validation but answered 500 on every retry."""
    _http, site, token = portal.owner_with_site()
    for seq in (2**63 - 1, 2**63, 2**64 + 5):
        doc = batch(site, [[seq, "grid.power", NOW_MS, 1.0]])
        packed = [(msgpack.packb(doc), "application/msgpack")] if seq < 2**64 else []  # (its largest int)
        for body, kind in [(None, "application/json"), *packed]:
            r = ingest(portal, token, doc if body is None else None, content=body, content_type=kind)
            assert r.status_code == 400 and r.json()["kind"] == "seq", (seq, r.text)
    top = ingest(portal, token, batch(site, [[2**63 - 2, "grid.power", NOW_MS, 1.0]]))
    assert top.status_code == 200 and top.json()["stored"] == 1, top.text


def test_a_site_has_a_channel_cap(tmp_path: Path) -> None:
    """Finding 7: one ingest request created 50,000 channels."""
    with fresh_db(SQLITE, tmp_path) as db, portal_process(db, tmp_path / "data", "--max-channels", "40") as p:
        _http, site, token = p.owner_with_site()
        names = [f"dev{i}.power" for i in range(500)]
        r = ingest(p, token, batch(site, [[i + 1, names[i], NOW_MS, 1.0] for i in range(500)]))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["stored"] == 40 and answer["acked"] == [[1, 500]]
        assert {x["kind"] for x in answer["rejected"]} == {"channel_cap"} and len(answer["rejected"]) == 460
        with db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM channels").fetchone()[0] == 40


def test_ingest_has_a_rate_limit_by_default(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 7: no default per-token rate limit."""
    _http, site, token = sqlite_portal.owner_with_site()
    codes = []
    for n in range(4):
        rows = [[n * 5000 + i + 1, "grid.power", NOW_MS - 100_000 + i, 1.0] for i in range(5000)]
        r = ingest(sqlite_portal, token, batch(site, rows))
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            break
    assert 429 in codes, codes


def test_registration_can_be_closed_or_by_invitation(tmp_path: Path) -> None:
    """Finding 7: anyone could register; registration could not be switched off."""
    with fresh_db(SQLITE, tmp_path) as db:
        data = tmp_path / "data"  # one key file for the three runs on the one database
        with portal_process(db, data, "--registration", "closed") as closed:
            r = closed.register("newcomer")
            assert r.status_code == 403 and "closed" in r.json()["detail"]
        with portal_process(db, data, host="0.0.0.0") as exposed:  # not loopback: invite
            assert exposed.register("stranger").status_code == 403
            code = exposed.cli("--invite")
            assert exposed.register("invited", invite=code).status_code == 201
            assert exposed.register("second", invite=code).status_code == 403  # used up
        with portal_process(db, data) as local:  # loopback: open by default
            assert local.register(f"dev{uuid.uuid4().hex[:6]}").status_code == 201
