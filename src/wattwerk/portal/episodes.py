"""Grid restrictions the site's edge went through: its restriction episodes, uploaded with its
batches, and the dashboard's "Grid restrictions" widget.

An episode (edge/episode_journal.py) is one restriction the edge's limiter held — ripple control,
§14a dimming, the direct marketer, a limit sent over IEC 60870-5-104, the Modbus server or
OpenADR — or a fallback (a device or a signal gone silent), with its start, its end (none while it
lasts), the limit (the source's level, e.g. ``feed-in 30%``) and the energy it curtailed. A batch
carries them as ``episodes``::

    "episodes": [{"kind": "inbound", "source": "iec104", "start_ms": 1765000000000,
                  "end_ms": 1765000900000, "limit": "feed-in 30%", "curtailed_wh": 412.5}]

Validation is all or nothing for the field (``episodes_error`` in the answer, the readings are
stored all the same). An episode is keyed by (site, edge, source, start): an upload again — the
same episode once more, or its end after its start — updates it, never duplicates it; an end
once known stays, and the curtailed energy only grows.

``GET /api/v1/sites/{site}/restrictions?from_ms=&to_ms=`` (the owner and grantees) lists the
episodes overlapping the range with their totals; the widget shows them for the chosen range.
"""

from __future__ import annotations

import math
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wattwerk.errors import BadInput
from wattwerk.portal import auth
from wattwerk.portal.api import SiteName, Who, site_ref
from wattwerk.portal.database import Conn
from wattwerk.portal.widgets import Widget

KINDS = frozenset({"ripple_control", "para14a", "direct_marketer", "inbound", "fallback"})
MAX_EPISODES = 500  # per batch (an edge sends at most 100)
MAX_LIST = 1000  # episodes in one answer
MIN_MS = 946_684_800_000  # 2000-01-01
AHEAD_MS = 10 * 60 * 1000  # an episode may start this far ahead of the portal's clock (as readings)
MAX_WH = 1e12
_SOURCE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

widget = Widget(
    "restrictions", "widget.restrictions", ("series",), "/static/portal/widgets/restrictions.js", order=65
)

Episode = tuple[str, int, int | None, str, str, float]  # source, start, end, kind, limit, Wh


def parse(value: Any, now_ms: int) -> list[Episode]:
    """The batch's ``episodes``; BadInput naming the first problem and its place."""
    if not isinstance(value, list):
        raise BadInput("episodes", "episodes must be a list of objects")
    if len(value) > MAX_EPISODES:
        raise BadInput("episodes", f"{len(value)} episodes in one batch; at most {MAX_EPISODES}")
    return [_one(i, ep, now_ms) for i, ep in enumerate(value)]


def _one(i: int, ep: Any, now_ms: int) -> Episode:
    def bad(what: str) -> BadInput:
        return BadInput("episodes", f"episodes[{i}]: {what}")

    if not isinstance(ep, dict):
        raise bad("not an object")
    kind, source, limit = ep.get("kind"), ep.get("source"), ep.get("limit", "")
    start, end, wh = ep.get("start_ms"), ep.get("end_ms"), ep.get("curtailed_wh", 0.0)
    if kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(sorted(KINDS))}")
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise bad("source must be 1-64 letters, digits, '_', '.', ':' or '-'")
    if type(start) is not int or not MIN_MS <= start <= now_ms + AHEAD_MS:
        raise bad("start_ms must be a time in ms since 1970, from 2000 to now")
    if end is not None and (type(end) is not int or not start <= end <= now_ms + AHEAD_MS):
        raise bad("end_ms must be null or a time in ms from start_ms to now")
    if not isinstance(limit, str) or len(limit) > 80:
        raise bad("limit must be a text of at most 80 characters")
    if type(wh) is int:
        wh = float(wh)
    if type(wh) is not float or not math.isfinite(wh) or not 0.0 <= wh < MAX_WH:
        raise bad("curtailed_wh must be a number of Wh, 0 or more")
    return source, start, end, kind, limit, wh


async def store(conn: Conn, site_id: int, edge: str, episodes: list[Episode]) -> int:
    """Insert or update the episodes (see the module docstring); the number given."""
    await conn.executemany(
        "INSERT INTO restriction_episodes (site_id, edge, source, start_ms, end_ms, kind, limit_text, "
        "curtailed_wh) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (site_id, edge, source, start_ms) DO UPDATE SET "
        "end_ms = COALESCE(excluded.end_ms, restriction_episodes.end_ms), kind = excluded.kind, "
        "limit_text = excluded.limit_text, curtailed_wh = CASE WHEN excluded.curtailed_wh > "
        "restriction_episodes.curtailed_wh THEN excluded.curtailed_wh "
        "ELSE restriction_episodes.curtailed_wh END",
        [(site_id, edge, s, start, end, kind, limit, wh) for s, start, end, kind, limit, wh in episodes],
    )
    return len(episodes)


async def read(conn: Conn, site_id: int, from_ms: int, to_ms: int) -> dict[str, Any]:
    """The episodes overlapping [from, to), oldest first, and their totals (the energy of an
    episode counts whole)."""
    rows = await conn.fetchall(
        "SELECT kind, source, edge, start_ms, end_ms, limit_text, curtailed_wh FROM restriction_episodes "
        "WHERE site_id = %s AND start_ms < %s AND (end_ms IS NULL OR end_ms > %s) "
        "ORDER BY start_ms, source LIMIT %s",
        (site_id, to_ms, from_ms, MAX_LIST),
    )
    keys = ("kind", "source", "edge", "start_ms", "end_ms", "limit", "curtailed_wh")
    episodes = [dict(zip(keys, r, strict=True)) for r in rows]
    for ep in episodes:
        ep["start_ms"] = int(ep["start_ms"])
        ep["end_ms"] = None if ep["end_ms"] is None else int(ep["end_ms"])
    return {
        "episodes": episodes,
        "count": len(episodes),
        "curtailed_wh": round(sum(ep["curtailed_wh"] for ep in episodes), 3),
        "truncated": len(episodes) == MAX_LIST,
    }


def router() -> APIRouter:
    r = APIRouter()

    @r.get("/api/v1/sites/{site}/restrictions", tags=["data"])
    async def restrictions(
        site: SiteName,
        who: Who,
        request: Request,
        from_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
        to_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    ) -> dict[str, Any]:
        """The grid restrictions (restriction episodes) the site's edge went through in
        [from_ms, to_ms) (default: the last day): kind, source, start, end (null while it lasts),
        limit and curtailed energy."""
        now_ms = int(time.time() * 1000)
        hi = to_ms if to_ms is not None else now_ms
        lo = from_ms if from_ms is not None else hi - 86_400_000
        async with auth.db_of(request).connection(readonly=True) as conn:
            ref = await site_ref(conn, site, who)
            return {"site": ref.name, "from_ms": lo, "to_ms": hi, **await read(conn, ref.site_id, lo, hi)}

    return r
