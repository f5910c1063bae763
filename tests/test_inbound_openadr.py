"""The edge as an OpenADR 2.0b VEN against ``openleadr``'s own VTN on loopback, with the edge running
for real (tests/inbound_site.py): registration, a load-dispatch event the edge keeps, telemetry."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from openleadr import OpenADRServer
from openleadr.utils import certificate_fingerprint

from inbound_site import free_port, running_site, until

IMPORT = "openadr.limit_import"


class Vtn:
    """openleadr's VTN: registers one VEN (``ven1``), records opt responses and reports."""

    def __init__(self, port: int, tls: Path | None = None) -> None:
        """``tls``: a directory from ``pki``: mutual TLS, signed messages, the VEN known by fingerprint."""
        self.port = port
        secure: dict[str, Any] = {}
        if tls is not None:
            ven = certificate_fingerprint((tls / "ven.pem").read_text())
            cert, key = str(tls / "vtn.pem"), str(tls / "vtn.key")
            secure = {
                "cert": cert,
                "key": key,
                "http_cert": cert,
                "http_key": key,
                "http_ca_file": str(tls / "ca.pem"),
                "fingerprint_lookup": lambda ven_id: ven,
            }
        self.server = OpenADRServer(
            vtn_id="vtn",
            http_host="127.0.0.1",
            http_port=port,
            show_fingerprint=False,
            requested_poll_freq=timedelta(seconds=1),
            **secure,
        )
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._offer)
        self.registered: list[str] = []
        self.opts: list[tuple[str, str]] = []
        self.reports: list[tuple[str, float]] = []

    async def _register(self, info: dict[str, Any]) -> tuple[str, str]:
        self.registered.append(info["ven_name"])
        return "ven1", "reg1"

    async def _offer(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> Any:
        async def got(data: list[tuple[datetime, float]]) -> None:
            self.reports += [(resource_id, value) for _, value in data]

        return got, min_sampling_interval

    def dispatch(
        self, kw: float, seconds: float, name: str = "LOAD_DISPATCH", kind: str = "setpoint"
    ) -> None:
        now = datetime.now(UTC)
        self.server.add_event(
            ven_id="ven1",
            signal_name=name,
            signal_type=kind,
            intervals=[{"dtstart": now, "duration": timedelta(seconds=seconds), "signal_payload": kw}],
            callback=lambda ven_id, event_id, opt_type: self.opts.append((event_id, opt_type)),
        )

    async def __aenter__(self) -> Vtn:
        await self.server.run()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


def inbound(port: int) -> str:
    return (
        f"    openadr: {{vtn_url: 'http://127.0.0.1:{port}/OpenADR2/Simple/2.0b', ven_name: house7,\n"
        "              report_s: 1, simple_levels_w: {2: 4000}}\n"
    )


async def test_a_load_dispatch_event_is_kept_then_reported(tmp_path):
    port = free_port()
    channels = (IMPORT, "ev1.power")
    async with Vtn(port) as vtn, running_site(tmp_path, inbound(port), channels, ev=True) as site:
        seen = site.watched.cycles
        await until(lambda: seen and (seen[-1].seen["ev1.power"] or 0) > 10000)  # the car takes 11 kW
        await until(lambda: vtn.registered)
        assert vtn.registered == ["house7"]
        vtn.dispatch(6.0, seconds=8.0)  # at most 6 kW from the grid, for 8 s
        await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == 6000.0))
        first = site.watched.first(lambda c: c.seen[IMPORT] == 6000.0)
        assert first is not None and first.active["import:openadr"] == 6000.0
        amps = [s.value for s in first.setpoints if s.channel == "ev1.current_limit"]
        enabled = [s.value for s in first.setpoints if s.channel == "ev1.enable"]
        assert (amps and amps[0] * 3 * 230 <= 6000.0) or enabled == [0.0]  # held in the same cycle
        await until(lambda: vtn.opts)
        assert vtn.opts[0][1] == "optIn"
        await until(lambda: site.sim.evs[0].power <= 6000.0)
        await asyncio.sleep(0.5)
        assert site.sim.grid.power <= 6000.0  # the edge keeps the event
        # telemetry reaches the VTN: grid power in W, + import; the held import shows there too
        await until(lambda: any(r == "grid" and 0 < v <= 6000.0 + 600 for r, v in vtn.reports))
        assert all(abs(v) < 25000 for r, v in vtn.reports if r == "grid")
        await until(
            lambda: (
                site.watched.events("openadr")
                and site.watched.events("openadr")[-1].kind == "restriction_end"
            )
        )  # the event's end lifts the limit by itself
    kinds = [(e.kind, e.message.split(":")[0]) for e in site.watched.events("openadr")]
    assert kinds == [
        ("restriction_start", "openadr import 6000 W"),
        ("restriction_end", "openadr import 6000 W"),
    ]


@pytest.mark.parametrize(
    ("name", "kind", "payload", "limit"),
    [
        ("SIMPLE", "level", 2, 4000.0),  # a level the site file maps
        ("ELECTRICITY_PRICE", "price", 0.42, None),  # recorded, no limit
    ],
)
async def test_simple_levels_and_prices(tmp_path, name, kind, payload, limit):
    port = free_port()
    channels = (IMPORT, "openadr.state_level", "openadr.price")
    async with Vtn(port) as vtn, running_site(tmp_path, inbound(port), channels) as site:
        await until(lambda: vtn.registered)
        vtn.dispatch(payload, seconds=30.0, name=name, kind=kind)
        await until(lambda: vtn.opts)
        assert vtn.opts[0][1] == "optIn"
        if limit is not None:
            await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == limit))
            cycle = site.watched.first(lambda c: c.seen[IMPORT] == limit)
            assert cycle is not None and cycle.seen["openadr.state_level"] == payload
            assert cycle.active["import:openadr"] == limit
        else:
            await until(lambda: site.watched.first(lambda c: c.seen["openadr.price"] == payload))
            assert all("import:openadr" not in c.active for c in site.watched.cycles)


def pki(directory: Path) -> None:
    """A CA, the VTN's server certificate (127.0.0.1) and the VEN's client certificate, EC P-256
    (``bench/_testca.make_ca`` issues no client certificates, which OpenADR's mutual TLS needs)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])

    def cert(name: str, key: Any, *extensions: tuple[Any, bool]) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
        )
        for ext, critical in extensions:
            b = b.add_extension(ext, critical=critical)
        return b.sign(ca_key, hashes.SHA256())

    directory.mkdir(parents=True, exist_ok=True)
    ca = cert("test CA", ca_key, (x509.BasicConstraints(ca=True, path_length=0), True))
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    for name, usage, san in (
        ("vtn", ExtendedKeyUsageOID.SERVER_AUTH, loopback),
        ("ven", ExtendedKeyUsageOID.CLIENT_AUTH, x509.DNSName("ven")),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = cert(
            name, key, (x509.SubjectAlternativeName([san]), False), (x509.ExtendedKeyUsage([usage]), False)
        )
        (directory / f"{name}.pem").write_bytes(pem.public_bytes(serialization.Encoding.PEM))
        (directory / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.mark.parametrize("right_vtn", [True, False])
async def test_over_mutual_tls_and_signed_messages_only_the_pinned_vtn_counts(tmp_path, caplog, right_vtn):
    pki(tmp_path / "pki")
    d = tmp_path / "pki"
    fingerprint = certificate_fingerprint((d / "vtn.pem").read_text()) if right_vtn else "00:11:22:33:44"
    port = free_port()
    yaml = (
        f"    openadr: {{vtn_url: 'https://127.0.0.1:{port}/OpenADR2/Simple/2.0b', ven_name: house7,\n"
        f"              cert: {d / 'ven.pem'}, key: {d / 'ven.key'}, ca_file: {d / 'ca.pem'},\n"
        f"              vtn_fingerprint: '{fingerprint}'}}\n"
    )
    async with Vtn(port, tls=d) as vtn, running_site(tmp_path, yaml, (IMPORT,)) as site:
        vtn.dispatch(3.0, seconds=30.0)
        if right_vtn:
            await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == 3000.0))
            assert vtn.opts and vtn.opts[0][1] == "optIn"
        else:
            await until(lambda: len(site.watched.cycles) > 15)  # 3 s of cycles: the VEN polled and refused
            assert vtn.opts == [] and all(c.seen[IMPORT] in (None, -1.0) for c in site.watched.cycles)
            assert "gave no registration" in caplog.text or "registration with" in caplog.text
