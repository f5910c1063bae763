"""The edge's end of maintenance access: fetch commands over its own outbound connection.

The edge calls :func:`serve_once` in a loop (or :func:`serve` until told to stop). Each call
long-polls the portal with the site token, runs every command through ``handler`` and posts
the answer back. A handler error becomes a failed result with the error text; it never stops
the loop. No port is opened at the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]  # (kind, payload) -> result


async def serve_once(
    client: httpx.AsyncClient, base_url: str, token: str, handler: Handler, *, wait_s: float = 25.0
) -> int:
    """One long poll; returns how many commands were handled."""
    headers = {"Authorization": f"Bearer {token}"}
    resp = await client.get(
        f"{base_url}/api/v1/edge/commands", params={"wait": wait_s}, headers=headers, timeout=wait_s + 10.0
    )
    resp.raise_for_status()
    done = 0
    for cmd in resp.json().get("commands", []):
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
        answer.raise_for_status()
        done += 1
    return done


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
    """Poll until ``stop`` is set; network errors wait ``backoff_s`` and try again."""
    while not stop.is_set():
        try:
            await serve_once(client, base_url, token, handler, wait_s=wait_s)
        except httpx.HTTPError as exc:
            log.info("maintenance poll failed (%s); retrying in %.0f s", exc, backoff_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff_s)
