"""The login of a vendor cloud API (Easee) for the generic HTTP/JSON driver: the site file's
``url`` credentials are POSTed once, the token comes back in the answer and goes with every request
as a header until it is renewed (after the template's ``renew_s``, or at once when the API says 401).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote_plus

from wattwerk.devices.templates import HttpLogin
from wattwerk.errors import PermanentError
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.protocols.jsonmap import resolve

T = TypeVar("T")


class CloudLogin:
    """Holds the token; ``call`` runs a request with it and logs in again once on 401."""

    def __init__(
        self,
        spec: HttpLogin,
        root: JsonHttp,
        credentials: tuple[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.root = root  # the API's host root: the login path is not under a device's url path
        self.credentials = credentials
        self.clock = clock
        self.token: str | None = None
        self.since = 0.0
        self.logins = 0

    async def headers(self) -> dict[str, str]:
        if self.token is None or self.clock() - self.since >= self.spec.renew_s:
            await self.login()
        assert self.token is not None
        return {self.spec.header: self.spec.scheme.replace("{token}", self.token)}

    async def login(self) -> None:
        user, password = self.credentials
        quote: Callable[[str], str] = (
            (lambda v: quote_plus(v)) if self.spec.form else (lambda v: json.dumps(v)[1:-1])
        )
        body = self.spec.body.replace("{username}", quote(user)).replace("{password}", quote(password))
        kind = "application/x-www-form-urlencoded" if self.spec.form else "application/json"
        answer = await self.root.request("POST", self.spec.path, content=body, headers={"Content-Type": kind})
        token = resolve(answer, self.spec.token)
        if not isinstance(token, str) or not token:
            raise PermanentError(f"{self.root.base_url}{self.spec.path}: no token at {self.spec.token!r}")
        self.token, self.since = token, self.clock()
        self.logins += 1

    async def call(self, request: Callable[[dict[str, str]], Awaitable[T]]) -> T:
        """``request(headers)``; on HTTP 401 (an expired or revoked token) once more after a new login."""
        try:
            return await request(await self.headers())
        except PermanentError as exc:
            if "HTTP 401" not in str(exc):
                raise
        self.token = None
        return await request(await self.headers())

    async def aclose(self) -> None:
        await self.root.aclose()
