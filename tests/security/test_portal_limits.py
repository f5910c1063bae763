"""Hostile bodies against the real ``wattwerk portal`` (issue 15, findings 2, 12, 15, 17):
bodies are limited while they stream in, before authentication; deep or odd documents are a
400, never a 500; every page carries the security headers; a 422 never echoes a secret."""

from __future__ import annotations

import contextlib
import json
import socket
from urllib.parse import urlsplit

import httpx
import msgpack

from security.portal_process import NOW_MS, PortalProcess, batch, ingest, sqlite_portal  # noqa: F401
from wattwerk.portal import db

MIB = 1024 * 1024


def chunked_post(url: str, path: str, total: int, chunk: int = 256 * 1024) -> tuple[int, int]:
    """POST ``total`` bytes as a chunked body over a raw socket, stopping when the server answers
    or closes; returns (HTTP status, bytes sent)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    sent = 0
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"%x\r\n" % chunk + b"[" * chunk + b"\r\n"
        sock.settimeout(0.0)
        answer = b""
        while sent < total:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer:
                break
            try:
                sock.settimeout(60)
                sock.sendall(piece)
                sock.settimeout(0.0)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        sock.settimeout(60)
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")
        while b"\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1]), sent


def test_a_chunked_body_is_cut_off_before_authentication(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 2: a 300 MiB chunked POST /api/v1/session grew the portal from 82 to 831 MB."""
    before = sqlite_portal.rss_kib()
    status, sent = chunked_post(sqlite_portal.url, "/api/v1/session", 64 * MIB)
    assert status == 413
    assert sent < 8 * MIB, "the portal kept reading a body far beyond its limit"
    assert sqlite_portal.rss_kib() - before < 32 * 1024
    status, sent = chunked_post(sqlite_portal.url, "/api/v1/ingest", 64 * MIB)  # no token either
    assert status in (401, 413) and sent < 40 * MIB
    with sqlite_portal.client() as http:  # and one with a Content-Length is refused unread
        r = http.post(
            "/api/v1/accounts", content=b"x" * (2 * MIB), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert http.get("/api/v1/health").status_code == 200


def test_hostile_bodies_are_400_never_500(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 12: deep JSON on ingest and the volkszaehler endpoint, a MessagePack map with an
    array key, answered 500."""
    _http, site, token = sqlite_portal.owner_with_site()
    deep = b"[" * 5000 + b"]" * 5000
    r = ingest(sqlite_portal, token, content=deep)
    assert r.status_code == 400 and r.json()["kind"] == "syntax", r.text
    nested_value = (
        json.dumps(batch(site, [[1, "grid.power", NOW_MS, 1.0]]))
        .encode()
        .replace(b"1.0]]", b"[" * 900 + b"]" * 900 + b"]]")
    )
    assert ingest(sqlite_portal, token, content=nested_value).status_code == 400
    array_key = b"\x81" + msgpack.packb([1]) + msgpack.packb(1)  # a map {[1]: 1}
    r = ingest(sqlite_portal, token, content=array_key, content_type="application/msgpack")
    assert r.status_code == 400 and r.json()["kind"] == "syntax", r.text
    deep_value = msgpack.packb(batch(site, [[1, "grid.power", NOW_MS, [[[[[[[[[[[[1]]]]]]]]]]]]]]))
    r = ingest(sqlite_portal, token, content=deep_value, content_type="application/msgpack")
    assert r.status_code == 200 and r.json()["rejected"][0]["kind"] == "value"
    uuid = "6836dd20-00d5-11e0-bab1-856ed5f959ae"
    with sqlite_portal.db.connect() as conn:
        db.register_vz_channel(conn, site, uuid, "grid.power")
    r = httpx.post(
        f"{sqlite_portal.url}/middleware.php/data/{uuid}.json", content=deep, auth=("vz", token), timeout=60
    )
    assert r.status_code == 400 and r.json()["exception"]["type"] == "Exception", r.text


def test_pages_and_api_answers_carry_security_headers(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 17: no X-Frame-Options or CSP on portal pages."""
    with sqlite_portal.client() as http:
        for path in ("/login", "/api/v1/health", "/static/style.css"):
            r = http.get(path)
            assert r.status_code == 200, path
            assert r.headers["x-frame-options"] == "DENY"
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert r.headers["referrer-policy"] == "same-origin"
            assert r.headers["x-content-type-options"] == "nosniff"


def test_a_422_never_echoes_the_password(sqlite_portal: PortalProcess) -> None:  # noqa: F811
    """Finding 15: a 422 echoed the submitted password."""
    secret = "Sup3r-secret-passphrase-" * 60  # longer than allowed: a validation error
    with sqlite_portal.client() as http:
        for path in ("/api/v1/session", "/api/v1/accounts"):
            r = http.post(path, json={"alias": "alice", "password": secret})
            assert r.status_code == 422, r.text
            assert "Sup3r-secret" not in r.text
            assert r.json()["detail"][0]["loc"] == ["body", "password"]
