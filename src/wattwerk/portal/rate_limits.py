"""Per-site ingest budgets shared by every portal process (issue 19: stateless workers).

A token bucket per site (readings per second, a burst of ``burst_s`` seconds' worth) kept in
the ``rate_buckets`` table: one upsert per batch both refills the bucket for the time passed
and takes the batch's readings, atomically under the row's lock, so any number of workers and
hosts behind a load balancer hold a site to its rate together. Times are the hosts' wall
clocks (kept by NTP); a clock behind the last stamp refills nothing. SQLite (one process)
keeps the buckets in memory (``ingest.TokenBucket``).
"""

from __future__ import annotations

from wattwerk.portal.database import Conn

_TAKE = """
INSERT INTO rate_buckets AS b (site_id, level, stamp_ms) VALUES (%(site)s, %(cap)s - %(n)s, %(now)s)
ON CONFLICT (site_id) DO UPDATE
SET level = least(%(cap)s, b.level + greatest(0, %(now)s - b.stamp_ms) * %(rate)s / 1000.0) - %(n)s,
    stamp_ms = greatest(b.stamp_ms, %(now)s)
WHERE least(%(cap)s, b.level + greatest(0, %(now)s - b.stamp_ms) * %(rate)s / 1000.0) >= %(n)s
RETURNING level
"""
_LEVEL = (
    "SELECT least(%(cap)s, level + greatest(0, %(now)s - stamp_ms) * %(rate)s / 1000.0) "
    "FROM rate_buckets WHERE site_id = %(site)s"
)


async def take(conn: Conn, site_id: int, rate: float, burst_s: float, n: int, now_ms: int) -> float:
    """Take ``n`` readings from the site's bucket: 0.0 if they may go now, else the seconds to
    wait (nothing taken). A batch larger than the bucket waits for a full one."""
    cap = max(rate * burst_s, 1.0)
    args = {"site": site_id, "cap": cap, "n": float(min(n, cap)), "now": now_ms, "rate": rate}
    if await conn.fetchone(_TAKE, args) is not None:
        return 0.0
    level = await conn.fetchval(_LEVEL, args)
    return max((args["n"] - float(level or 0.0)) / rate, 0.001)
