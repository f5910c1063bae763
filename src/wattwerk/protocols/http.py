"""Polling JSON over HTTP (httpx): Shelly and other devices that answer GET with JSON.

``HttpPoller`` fetches one or more paths of a device every ``interval`` seconds and yields one
JSON document per round (bytes), so a ``MeterReader`` with a ``JsonDecoder(messages=True)``
sits behind it like behind any byte source. Several paths are combined as
``{"name": <document>, ...}``, so field maps can address each (``em.total_act_power``).

Timeouts, refused connections, HTTP 5xx and bodies that are not JSON are retryable: counted
per kind (and in the ledger when one is given), logged once per kind, retried with backoff.
401/403 (credentials) and 404 (wrong device generation or path) are permanent and end the
iteration with ``PermanentError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping

import httpx

from wattwerk.errors import InputLedger, PermanentError
from wattwerk.protocols.transport import Backoff

log = logging.getLogger("wattwerk.http")

PERMANENT_STATUS = {401: "credentials refused", 403: "access forbidden", 404: "no such path on this device"}


class HttpPoller:
    """Polls ``base_url`` + each of ``paths``; one combined JSON document per successful round.

    ``paths`` is one path (the document is yielded as received) or ``{name: path}``.
    ``auth`` is (user, password) for HTTP basic auth (Shelly Gen1) or an ``httpx.Auth``
    (``httpx.DigestAuth`` for Shelly Gen2 with a password).
    """

    def __init__(
        self,
        base_url: str,
        paths: str | Mapping[str, str] = "/",
        *,
        interval: float = 5.0,
        timeout: float = 3.0,
        backoff: Backoff | None = None,
        auth: tuple[str, str] | httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        ledger: InputLedger | None = None,
        device: str = "http",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.paths = paths
        self.interval = interval
        self.timeout = timeout
        self.backoff = backoff or Backoff(initial=interval, maximum=max(60.0, interval))
        self.auth = auth
        self.headers = dict(headers or {})
        self.ledger = ledger
        self.device = device
        self.errors: Counter[str] = Counter()
        self.polls = 0
        self._closed = asyncio.Event()

    def close(self) -> None:
        self._closed.set()

    def _error(self, kind: str, message: str) -> None:
        if kind not in self.errors:
            log.warning("%s: %s (%s; further %s errors are only counted)", self.device, message, kind, kind)
        self.errors[kind] += 1
        if self.ledger is not None:
            self.ledger.record(self.device, kind, message)

    async def _get(self, client: httpx.AsyncClient, path: str) -> object | None:
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        try:
            response = await client.get(url)
        except httpx.TimeoutException:
            self._error("timeout", f"GET {url}: no answer within {self.timeout:g} s")
            return None
        except httpx.HTTPError as exc:
            self._error("connect", f"GET {url}: {exc or type(exc).__name__}")
            return None
        status = response.status_code
        if status in PERMANENT_STATUS:
            raise PermanentError(f"GET {url}: HTTP {status} ({PERMANENT_STATUS[status]})")
        if response.status_code != 200:
            self._error("http_status", f"GET {url}: HTTP {response.status_code}")
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            self._error("parse", f"GET {url}: body is not JSON ({exc})")
            return None

    async def poll_once(self, client: httpx.AsyncClient) -> bytes | None:
        """One round: the combined document as JSON bytes, or None when a request failed."""
        if isinstance(self.paths, str):
            doc = await self._get(client, self.paths)
            return None if doc is None else json.dumps(doc).encode()
        combined: dict[str, object] = {}
        for name, path in self.paths.items():
            doc = await self._get(client, path)
            if doc is None:
                return None
            combined[name] = doc
        return json.dumps(combined).encode()

    def client(self) -> httpx.AsyncClient:
        auth = httpx.BasicAuth(*self.auth) if isinstance(self.auth, tuple) else self.auth
        return httpx.AsyncClient(timeout=self.timeout, auth=auth, headers=self.headers)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async with self.client() as client:
            while not self._closed.is_set():
                body = await self.poll_once(client)
                self.polls += 1
                if body is not None:
                    self.backoff.reset()
                    yield body
                    wait = self.interval
                else:
                    wait = max(self.interval, self.backoff.next())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), wait)
