"""Wake-ups for the waits on the edge's command channel, so no one polls the database to wait.

Whoever queues an edge command calls ``await notify(conn, site_id)`` in the same transaction; the
edge's long poll (``portal.maintenance``) waits with ``subscribe(site_id)`` and takes again when
woken. The same for an edge's answer (key ``answers(site_id)``), which the owner's page
(``portal.owner_commands``) and the tunnel (``portal.tunnel``) wait for.

* PostgreSQL (any number of processes): ``notify`` runs ``pg_notify('wattwerk_commands', ...)``,
  which PostgreSQL delivers at commit to every listening process; each process runs one
  :class:`Listener` (a connection of its own doing ``LISTEN wattwerk_commands``, started by the app's
  lifespan) that wakes that process's waiters. The payload is ``"<schema> <key>"``: portals in other
  schemas of the same database (tests, several tenants) do not wake each other.
* SQLite (one process): ``notify`` wakes the local waiters at once. They then wait for the single
  writer connection, so they read only after the queueing transaction has committed.

A notification can be lost (the listener reconnecting), so a waiter still looks every
``RECHECK_S``; after a reconnect the listener wakes every waiter of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg

from wattwerk.portal.database import POSTGRES, Conn
from wattwerk.portal.postgres import APPLICATION

log = logging.getLogger(__name__)

CHANNEL = "wattwerk_commands"
RECHECK_S = 30.0  # the longest a lost notification can delay anything: one long poll (MAX_WAIT_S)
KEEPALIVE_S = 60.0  # the listener checks its connection this often while all is quiet
RETRY_MIN_S, RETRY_MAX_S = 0.5, 30.0  # the listener's backed-off reconnects
# TCP keepalives: a connection that died silently (no reset) fails within about a minute
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def answers(site_id: int) -> str:
    """The key for the edge's answers to a site's commands (``notify(conn, answers(site))``)."""
    return f"{site_id}.answer"


class Waiter:
    """One waiting request. Stays set from a wake-up until the next ``wait`` returns, so a wake-up
    that comes while the waiter is busy reading is not missed."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        try:
            same = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same = False
        if same:
            self._event.set()
        else:  # another thread's loop (several portals in one process, as in tests)
            with contextlib.suppress(RuntimeError):  # that loop has just closed: no one waits
                self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout_s: float) -> bool:
        """True when woken (now or since the last wait), False at the timeout."""
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, timeout_s))
        except TimeoutError:
            return False
        self._event.clear()
        return True


_waiters: dict[str, set[Waiter]] = {}
_lock = threading.Lock()  # portals in threads of one process share the registry


@contextlib.contextmanager
def subscribe(key: int | str) -> Iterator[Waiter]:
    """Register before reading, then read, then ``wait``: nothing queued in between is missed."""
    waiter = Waiter()
    with _lock:
        _waiters.setdefault(str(key), set()).add(waiter)
    try:
        yield waiter
    finally:
        with _lock:
            found = _waiters.get(str(key))
            if found is not None:
                found.discard(waiter)
                if not found:
                    del _waiters[str(key)]


async def wait(key: int | str, timeout_s: float) -> bool:
    """Wait once for a wake-up of ``key`` (True) or the timeout (False). To read before waiting
    without a gap, use :func:`subscribe` instead."""
    with subscribe(key) as waiter:
        return await waiter.wait(timeout_s)


def wake(key: int | str) -> None:
    """Wake this process's waiters of ``key``."""
    with _lock:
        found = list(_waiters.get(str(key), ()))
    for waiter in found:
        waiter.wake()


def wake_all() -> None:
    with _lock:
        found = [w for ws in _waiters.values() for w in ws]
    for waiter in found:
        waiter.wake()


async def notify(conn: Conn, key: int | str) -> None:
    """Wake the waiters of ``key`` in every portal process once ``conn``'s transaction commits."""
    if conn.dialect == POSTGRES:
        await conn.execute(
            "SELECT pg_notify(%s, coalesce(current_schema(), '') || ' ' || %s)", (CHANNEL, str(key))
        )
    else:
        wake(key)


class Listener:
    """A process's ``LISTEN`` connection (PostgreSQL): ``run`` until cancelled, reconnecting."""

    def __init__(self, url: str) -> None:
        self.url = url  # the pool's URL (with the schema's search_path)
        self.pid: int | None = None  # the backend listening now (None while reconnecting)
        self.connects = 0

    async def run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            before = self.connects
            try:
                await self._listen()
            except Exception as exc:  # dropped, refused, or anything else: retry
                # a connection that had listened retries soon; one that cannot connect backs off
                delay = RETRY_MIN_S if self.connects > before else min(delay * 2, RETRY_MAX_S)
                log.warning(
                    "wake-up listener: %s; reconnecting in %.1f s",
                    (str(exc).strip() or repr(exc)).splitlines()[0],
                    delay,
                )
            self.pid = None
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        name = f"{APPLICATION} wake-up"
        async with await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, application_name=name, **KEEPALIVES
        ) as conn:
            schema = (await (await conn.execute("SELECT coalesce(current_schema(), '')")).fetchone() or [""])[
                0
            ]
            await conn.execute(f"LISTEN {CHANNEL}")
            self.pid = conn.info.backend_pid
            self.connects += 1
            wake_all()  # whatever was queued while no one listened
            while True:
                async for note in conn.notifies(timeout=KEEPALIVE_S):
                    scope, _, key = note.payload.partition(" ")
                    if scope == schema:
                        wake(key)
                await conn.execute("SELECT 1")  # a quiet minute: is the connection still there?
