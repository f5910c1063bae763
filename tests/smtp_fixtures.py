"""A real SMTP server on loopback (aiosmtpd) for the portal's mail: password resets
(tests/security/test_portal_reset.py), notifications (tests/test_portal_notify.py) and the browser
journey (tests/browser/test_portal_journey.py). ``smtp`` yields the inbox and the port."""

from __future__ import annotations

import asyncio
import email
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def wait(self, count: int, timeout: float = 30.0) -> list[email.message.Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    async def first(
        self, wanted: Callable[[email.message.Message], bool], timeout: float = 90.0
    ) -> email.message.Message:
        """The first message ``wanted`` accepts, waiting (in an event loop) up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.messages):
                if wanted(m):
                    return m
            await asyncio.sleep(0.1)
        raise AssertionError(f"no such mail within {timeout} s: {[m['Subject'] for m in self.messages]}")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
