"""The edge's end of maintenance access: fetch commands over its own outbound connection.

The edge calls :func:`serve_once` in a loop (or :func:`serve` until told to stop). Each call
long-polls the portal with the site token, runs every command through ``handler`` and posts
the answer back. A handler error becomes a failed result with the error text; it never stops
the loop. No port is opened at the site. ``EdgeCommands`` is the handler of a running edge (the
assembly, ``edge.assembly``, wires it for every site file with a ``portal`` section).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]  # (kind, payload) -> result
Answered = Callable[[str, bool], None]  # (kind, ok) once the portal has the answer
MAX_RUNNING = 32  # commands in progress at once (the portal hands out at most 20 per poll)
EX_RESTART = 75  # the ``restart`` command's exit code: systemd's Restart=on-failure starts it again


async def serve_once(
    client: httpx.AsyncClient,
    base_url: str,
    token: str,
    handler: Handler,
    *,
    wait_s: float = 25.0,
    running: set[asyncio.Task[None]] | None = None,
) -> int:
    """One long poll; returns how many commands it brought. The commands of one poll run side by
    side (a page through the tunnel asks for its files at once) and are answered before this returns;
    with ``running`` they are left running there instead (``serve``: a slow one, a device test that
    waits for its timeout, does not hold up the next poll). A handler with an ``answered(kind, ok)``
    method hears when a command's answer is with the portal (a restart waits for that)."""
    answered: Answered | None = getattr(handler, "answered", None)
    headers = {"Authorization": f"Bearer {token}"}
    resp = await client.get(
        f"{base_url}/api/v1/edge/commands", params={"wait": wait_s}, headers=headers, timeout=wait_s + 10.0
    )
    resp.raise_for_status()

    async def one(cmd: dict[str, Any]) -> None:
        try:
            result, ok = await handler(cmd["kind"], cmd.get("payload") or {}), True
        except Exception as exc:  # a handler's failure is the command's result, not the loop's end
            log.warning("maintenance command %s (%s) failed: %s", cmd["id"], cmd["kind"], exc)
            result, ok = {"error": str(exc)}, False
        answer = await client.post(
            f"{base_url}/api/v1/edge/commands/{cmd['id']}/result",
            json={"ok": ok, "result": result},
            headers=headers,
        )
        if answer.status_code == 404:  # expired meanwhile (the portal stopped waiting): nothing to do
            log.info("maintenance command %s (%s) ended before its answer", cmd["id"], cmd["kind"])
            return
        answer.raise_for_status()
        if answered is not None:
            answered(cmd["kind"], ok)

    commands = resp.json().get("commands", [])
    if running is None:
        await asyncio.gather(*(one(cmd) for cmd in commands))
        return len(commands)
    for cmd in commands:
        task = asyncio.create_task(one(cmd))
        running.add(task)
        task.add_done_callback(partial(_settled, running))
    return len(commands)


def _settled(running: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
    running.discard(task)
    if not task.cancelled() and task.exception() is not None:  # the portal did not take the answer
        log.info("maintenance answer not delivered: %s", task.exception())


async def serve(
    client: httpx.AsyncClient,
    base_url: str,
    token: str,
    handler: Handler,
    stop: asyncio.Event,
    *,
    wait_s: float = 25.0,
    backoff_s: float = 5.0,
) -> None:
    """Poll until ``stop`` is set; network errors wait ``backoff_s`` and try again. Commands run
    beside the next poll, at most ``MAX_RUNNING`` at once (then the poll waits for one to end)."""
    running: set[asyncio.Task[None]] = set()
    try:
        while not stop.is_set():
            if len(running) >= MAX_RUNNING:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            try:
                await serve_once(client, base_url, token, handler, wait_s=wait_s, running=running)
            except httpx.HTTPError as exc:
                log.info("maintenance poll failed (%s); retrying in %.0f s", exc, backoff_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff_s)
    finally:
        for task in list(running):
            task.cancel()


# ------------------------------------------------------------ what this edge does with a command


class LogTail(logging.Handler):
    """The last ``keep`` log lines of the process (``wattwerk.*``), for the ``logs`` command."""

    def __init__(self, keep: int = 500) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=keep)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log line that cannot be formatted is not kept
            self.lines.append(self.format(record))


class EdgeCommands:
    """The installer's command kinds (``portal.maintenance.KINDS``) executed against one edge.

    * ``status``: site, uptime, per-device state (ok / stale / failures), runtime and outbox figures;
    * ``logs``: the last ``payload["lines"]`` (default 100, at most 500) log lines;
    * ``get_config``: the site file as validated, secrets masked;
    * ``set_config``: ``{"dotted.key": value, ...}`` written into the site file (comments kept),
      validated like ``wattwerk check`` first; nothing is written when the result is invalid, and
      ``portal.*`` cannot be changed this way (it could cut the edge off). The edge runs the new
      file after a restart (``restart_needed``);
    * ``owner``: ``{"device": id, "settings": {...}}`` an owner setting (charge mode, plan, battery mode,
      boost; ``wattwerk.edge.owner``) applied at once and stored; the answer is the device's state;
    * ``owner_state``: what ``GET /api/owner`` shows on the edge page (every device's settings,
      decision and reason, plan, session), for the portal's site page; changes nothing.
    * ``test_device``: ``{"device": id}`` read that device once now (its own timeout) and answer its
      values or the error; the reading is not recorded;
    * ``restart``: acknowledged first, then (``answered``) the process ends with ``EX_RESTART``,
      which the systemd unit restarts (``Restart=on-failure``);
    * ``proxy``: one HTTP request to the edge's own page, in process (``edge.tunnel``).
    """

    def __init__(
        self,
        status: Callable[[], dict[str, Any]],
        config: Callable[[], Any],
        path: Path | None,
        tail: LogTail,
        owner: Any = None,
        *,
        runtime: Any = None,
        tunnel: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
        restart: Callable[[], None] | None = None,
    ) -> None:
        self.status, self.config, self.path, self.tail = status, config, path, tail
        self.owner, self.runtime, self.restart = owner, runtime, restart
        self.tunnel: Callable[[dict[str, Any]], Awaitable[Any]] | None = tunnel

    @classmethod
    def of(cls, edge: Any) -> EdgeCommands:
        """The handler of an assembled edge (``edge.assembly.Edge``), with its page behind the tunnel."""
        from wattwerk.edge.tunnel import EdgeTunnel

        tunnel = EdgeTunnel(edge.web_app, lambda: edge.web_auth)
        return cls(
            edge.status,
            lambda: edge.cfg,
            edge.path,
            edge.log_tail,
            edge.owner,
            runtime=edge.runtime,
            tunnel=tunnel,
            restart=edge.restart,
        )

    async def __call__(self, kind: str, payload: dict[str, Any]) -> Any:
        if kind == "status":
            return self.status()
        if kind == "logs":
            n = int(payload.get("lines", 100))
            return {"lines": list(self.tail.lines)[-max(1, min(n, 500)) :]}
        if kind == "get_config":
            return self.config().model_dump(mode="json", exclude_none=True)
        if kind == "set_config":
            return self._set_config(payload)
        if kind == "owner" and self.owner is not None:
            device, settings = payload.get("device"), payload.get("settings")
            if not isinstance(device, str) or not isinstance(settings, dict):
                raise ValueError('owner needs {"device": "<id>", "settings": {...}}')
            return self.owner.apply(device, settings, source="portal")
        if kind == "owner_state" and self.owner is not None:
            return self.owner.state()
        if kind == "proxy" and self.tunnel is not None:
            return await self.tunnel(payload)
        if kind == "test_device" and self.runtime is not None:
            return await test_device(self.runtime, payload.get("device"))
        if kind == "restart" and self.restart is not None:
            log.warning("maintenance: restart asked for; the service ends with %d once answered", EX_RESTART)
            return {"restarting": True, "exit_code": EX_RESTART}
        raise ValueError(f"unknown command kind {kind!r}")

    def answered(self, kind: str, ok: bool) -> None:
        """The portal has a command's answer: a ``restart`` happens now."""
        if kind == "restart" and ok and self.restart is not None:
            self.restart()

    def _set_config(self, payload: dict[str, Any]) -> dict[str, Any]:
        from wattwerk.config import ConfigError
        from wattwerk.config.writer import apply, to_node

        if self.path is None:
            raise ValueError("this edge runs without a site file; nothing to change")
        if not payload:
            raise ValueError('set_config needs {"dotted.key": value}, e.g. {"control.peak_shaving_w": 8000}')
        for key in payload:
            if not key or key.split(".")[0] == "portal" or any(not part for part in key.split(".")):
                raise ValueError(f"{key!r} cannot be set remotely")

        def change(doc: Any) -> None:
            for key, value in payload.items():
                *parents, leaf = key.split(".")
                node = doc
                for part in parents:
                    if not isinstance(node.get(part), dict):
                        node[part] = to_node({})
                    node = node[part]
                node[leaf] = to_node(value)

        try:
            apply(self.path, change)
        except ConfigError as exc:
            raise ValueError("; ".join(exc.lines)) from None
        log.warning(
            "maintenance: %s changed in %s (effective after a restart)", ", ".join(payload), self.path
        )
        return {"changed": sorted(payload), "file": str(self.path), "restart_needed": True}


async def test_device(runtime: Any, device: Any) -> dict[str, Any]:
    """Read one polled device once (``test_device``): its values by channel, or the error. Not
    recorded: the poll loop's readings are the site's history."""
    polled = {p.device_id: p for p in runtime.polled}
    if not isinstance(device, str) or device not in polled:
        known = ", ".join(sorted(polled)) or "none"
        raise ValueError(f'test_device needs {{"device": "<id>"}} of a polled device ({known})')
    p = polled[device]
    started = time.monotonic()
    try:
        readings = await asyncio.wait_for(p.driver.read(runtime.clock()), p.timeout_s)
    except TimeoutError as exc:  # the wait ran out, or the driver's own timeout (it says which)
        return {"device": device, "ok": False, "error": str(exc) or f"no answer within {p.timeout_s:g} s"}
    except Exception as exc:  # the device's fault is the answer, not the command's failure
        return {"device": device, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "device": device,
        "ok": True,
        "took_s": round(time.monotonic() - started, 3),
        "values": {r.channel: r.value for r in readings},
    }
