"""Byte sources: serial on a pty (settings applied), TCP with reconnect and backoff, file replay."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from wattwerk.protocols.transport import P1_DSMR4, P1_DSMR22, Backoff, FileSource, SerialSource, TcpSource


async def collect(source, n_bytes: int, timeout: float = 10.0) -> bytes:
    got = b""

    async def run() -> None:
        nonlocal got
        async for chunk in source:
            got += chunk
            if len(got) >= n_bytes:
                source.close()
                break

    await asyncio.wait_for(run(), timeout)
    return got


@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, slave, os.ttyname(slave)
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.mark.parametrize(("settings", "seven_bits"), [(P1_DSMR4, False), (P1_DSMR22, True)])
async def test_serial_on_a_pty(pty, settings, seven_bits):
    master, _slave, path = pty
    source = SerialSource(path, settings, reconnect=False)
    payload = b"/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(000004.426*kWh)\r\n!\r\n" * 20

    async def write_later() -> None:
        while not source.connected:
            await asyncio.sleep(0.01)
        # a pty keeps no line settings (Linux forces 8N1), so check what pyserial was told
        port = source.serial
        assert (port.baudrate, port.bytesize, port.parity) == (
            (9600, 7, "E") if seven_bits else (115200, 8, "N")
        )
        for i in range(0, len(payload), 100):
            os.write(master, payload[i : i + 100])
            await asyncio.sleep(0)

    got, _ = await asyncio.gather(collect(source, len(payload)), write_later())
    assert got == payload
    assert source.connects == 1


async def test_serial_missing_port_reports_and_stops():
    source = SerialSource("/dev/does-not-exist-wattwerk", reconnect=False)
    chunks = [c async for c in source]
    assert chunks == [] and "cannot open" in (source.last_error or "")


async def test_tcp_reconnects_after_the_peer_closes():
    sessions = [b"first telegram", b"second telegram"]

    async def serve(reader, writer):
        writer.write(sessions.pop(0) if sessions else b"")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = TcpSource("127.0.0.1", port, backoff=Backoff(initial=0.01, maximum=0.05))
    got = await collect(source, len(b"first telegramsecond telegram"))
    server.close()
    assert got == b"first telegramsecond telegram"
    assert source.connects == 2
    assert source.last_error is None or "closed" in source.last_error


async def test_tcp_refused_backs_off_until_closed():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    source = TcpSource("127.0.0.1", port, backoff=Backoff(initial=0.01, maximum=0.04))

    async def consume() -> list[bytes]:
        return [c async for c in source]

    task = asyncio.create_task(consume())
    while source.backoff.current < 0.04:
        await asyncio.sleep(0.01)
    source.close()
    assert await asyncio.wait_for(task, 5) == []
    assert "cannot connect" in (source.last_error or "")
    assert source.connects == 0


def test_backoff_doubles_to_a_maximum_and_resets():
    b = Backoff(initial=0.5, maximum=3.0)
    assert [b.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.next() == 0.5


async def test_file_source_raw_and_hex(tmp_path):
    raw = tmp_path / "capture.bin"
    raw.write_bytes(bytes(range(256)))
    chunks = [c async for c in FileSource(raw, chunk_size=100, repeat=2)]
    assert [len(c) for c in chunks] == [100, 100, 56] * 2
    assert b"".join(chunks) == bytes(range(256)) * 2
    hexfile = tmp_path / "capture.hex"
    hexfile.write_text("# a comment with hex-looking words: cafe\n7E A0 07\n03 13 ab 7e\n")
    assert b"".join([c async for c in FileSource(hexfile, hex=True)]) == bytes.fromhex("7EA0070313AB7E")


async def test_tcp_silent_adapter_is_reconnected_after_idle_timeout():
    connections = 0

    async def serve(reader, writer):
        nonlocal connections
        connections += 1
        if connections == 1:
            await reader.read()  # connected but silent until the client gives up
        else:
            writer.write(b"data after reconnect")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = TcpSource("127.0.0.1", port, idle_timeout=0.1, backoff=Backoff(initial=0.01))
    got = await collect(source, len(b"data after reconnect"))
    server.close()
    assert got == b"data after reconnect" and source.connects == 2


async def test_serial_unplugged_is_reported_and_retried(pty):
    master, _slave, path = pty
    source = SerialSource(path, backoff=Backoff(initial=0.01, maximum=0.02))
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in source:
            got.append(chunk)

    task = asyncio.create_task(consume())
    while not source.connected:
        await asyncio.sleep(0.01)
    os.write(master, b"before")
    while not got:
        await asyncio.sleep(0.01)
    os.close(master)  # the adapter goes away: reads fail (EIO), then the port is reopened
    while "read failed" not in (source.last_error or ""):
        await asyncio.sleep(0.01)
    assert not task.done()  # still running: it retries with backoff instead of raising
    source.close()
    await asyncio.wait_for(task, 5)
    assert got == [b"before"]
