"""HTTP helpers shared by the price and signal providers: one place maps transport and status
errors onto our typed errors (4xx apart from 408/429 are permanent, the rest retryable)."""

from __future__ import annotations

from typing import Any

import httpx

from wattwerk.errors import PermanentError, RetryableError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def request(
    client: httpx.AsyncClient, method: str, url: str, what: str, **kwargs: Any
) -> httpx.Response:
    """Send one request; raise RetryableError/PermanentError with ``what`` (the provider) named."""
    try:
        resp = await client.request(method, url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{what}: timeout ({exc.__class__.__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{what}: {exc.__class__.__name__}: {exc}") from exc
    if resp.status_code in (401, 403):
        raise PermanentError(f"{what}: HTTP {resp.status_code}: bad or missing credentials")
    if resp.status_code in (408, 429) or resp.status_code >= 500:
        raise RetryableError(f"{what}: HTTP {resp.status_code}")
    if resp.status_code >= 400:
        raise PermanentError(f"{what}: HTTP {resp.status_code}: {resp.text[:200]}")
    return resp


def json_of(resp: httpx.Response, what: str) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise RetryableError(f"{what}: response is not JSON: {resp.text[:80]!r}") from exc
