"""One-shot JSON requests to devices with a local HTTP API (Hardy Barth eCB1, my-PV, Shelly, Tasmota).

Errors are typed the way the poll loop needs them: timeouts, refused connections and HTTP 5xx are
``RetryableError``; 401/403/404 are ``PermanentError`` (credentials, wrong path or generation); a
body that is not a JSON object is ``BadInput("http", ...)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from wattwerk.errors import BadInput, PermanentError, RetryableError

PERMANENT = {401: "credentials refused", 403: "access forbidden", 404: "no such path on this device"}


class JsonHttp:
    """``get``/``post`` against ``base_url``; one pooled httpx client per device."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, auth=auth, headers=headers)

    async def _send(
        self,
        method: str,
        path: str,
        params: object,
        data: Mapping[str, str] | None,
        content: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method,
                path,
                params=params,
                data=data,  # type: ignore[arg-type]
                content=content,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise RetryableError(f"{self.base_url}{path}: timeout") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"{self.base_url}{path}: {type(exc).__name__}: {exc}") from None
        if response.status_code in PERMANENT:
            raise PermanentError(
                f"{self.base_url}{path}: HTTP {response.status_code} ({PERMANENT[response.status_code]})"
            )
        if response.status_code >= 400:
            raise RetryableError(f"{self.base_url}{path}: HTTP {response.status_code}")
        return response

    async def text(self, path: str) -> str:
        """A page as text (devices that only serve HTML)."""
        return (await self._send("GET", path, None, None)).text

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: object = None,
        data: Mapping[str, str] | None = None,
        expect_json: bool = True,
        content: str | None = None,
        headers: Mapping[str, str] | None = None,
        lists: bool = False,
    ) -> dict:
        """The answer's JSON object ({} when ``expect_json`` is false: e.g. an HTML acknowledgement);
        ``content``: a raw body (e.g. JSON text) instead of form ``data``; ``headers``: this request's own
        (a cloud API's bearer token); ``lists``: a JSON array is an answer too (returned as it is)."""
        response = await self._send(method, path, params, data, content, headers)
        if not expect_json:
            return {}
        try:
            doc = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise BadInput("http", f"{self.base_url}{path}: body is not JSON: {exc}") from None
        if lists and isinstance(doc, list):
            return doc  # type: ignore[return-value]
        if not isinstance(doc, dict):
            raise BadInput("http", f"{self.base_url}{path}: body is not a JSON object")
        return doc

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, data: Mapping[str, str] | None = None) -> dict:
        return await self.request("POST", path, data=data)

    async def aclose(self) -> None:
        await self._client.aclose()
