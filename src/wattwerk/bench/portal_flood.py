"""``wattwerk bench portal_flood [--mib 300]``: an unauthenticated chunked body of ``--mib`` MiB
sent to ``POST /api/v1/session`` of a real ``wattwerk portal`` (SQLite, a temporary folder);
prints the answer, how much the portal read before it answered, and its resident memory before
and after (issue 15, finding 2: 300 MiB grew a portal from 82 to 831 MB).

    .venv/bin/wattwerk bench portal_flood --mib 300
    .venv/bin/wattwerk bench portal_flood --mib 300 --src /tmp/old/src   # another checkout's portal
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MIB = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mib", type=int, default=300, help="body size in MiB (default 300)")
    parser.add_argument("--src", help="run the portal of this src folder (PYTHONPATH), e.g. an old checkout")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def flood(port: int, total: int, chunk: int = MIB) -> tuple[str, int]:
    """Send a chunked body until it is all sent or the portal answers; (status line, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sent, answer = 0, b""
    piece = b"%x\r\n" % chunk + b"[" * chunk + b"\r\n"
    try:
        sock.sendall(
            b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        while sent < total:
            sock.setblocking(False)
            try:
                answer = sock.recv(4096)
            except BlockingIOError:
                answer = b""
            sock.setblocking(True)
            if answer:
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += chunk
        if not answer:
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
            answer = sock.recv(4096)
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    env = {**os.environ, "PYTHONPATH": args.src} if args.src else None
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wattwerk",
                "portal",
                "--port",
                "0",
                "--data-dir",
                tmp,
                "--port-file",
                str(port_file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(2400):
                if port_file.exists():
                    break
                time.sleep(0.05)
            port = int(port_file.read_text())
            for _ in range(600):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            before = rss_mb(proc.pid)
            status, sent = flood(port, args.mib * MIB)
            time.sleep(1.0)
            after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        f"portal_flood: {args.mib} MiB chunked to POST /api/v1/session -> {status!r}; "
        f"sent {sent / MIB:.0f} MiB before the answer; portal RSS {before:.0f} MB -> {after:.0f} MB"
    )
    return 0
