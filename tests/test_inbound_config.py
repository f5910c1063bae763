"""``control.inbound`` in the site file: line-exact errors, and a listening port that can change limits
is guarded (loopback by default, an allow-list beyond)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwerk.config import ConfigError, parse_config
from wattwerk.config.inbound import Iec104Points, allowed

SITE = (
    "site: {name: x, location: {latitude: 48, longitude: 8}, timezone: Europe/Berlin}\ncontrol:\n  inbound:\n"
)


@pytest.mark.parametrize(
    ("block", "line"),
    [
        (
            "    modbus_server: {host: 0.0.0.0}\n",
            "site.yaml:4: control.inbound.modbus_server.allow: listening on 0.0.0.0 lets other machines change "  # noqa: E501
            "the site's limits: list the clients that may connect in allow (IP addresses or networks)",
        ),
        (
            "    iec104:\n      fallback: 50\n",
            'site.yaml:5: control.inbound.iec104.fallback: expected one of "keep", 0, 100, got 50',
        ),
        (
            "    iec104:\n      allow: [10.0.0.300]\n",
            "site.yaml:5: control.inbound.iec104.allow[0]: expected an IP address or network such as 192.168.1.20 "  # noqa: E501
            "or 10.0.0.0/24, got '10.0.0.300'",
        ),
        (
            "    iec104:\n      points: {setpoint: 200}\n",
            "site.yaml:5: control.inbound.iec104.points.limit: IOA 200 is used for setpoint and limit",
        ),
        (
            "    openadr: {vtn_url: 'http://vtn.example.com/OpenADR2/Simple/2.0b', ven_name: v}\n",
            "site.yaml:4: control.inbound.openadr.vtn_url: an OpenADR VTN beyond loopback must be reached over "  # noqa: E501
            "https (with cert, key and vtn_fingerprint), got http://vtn.example.com/OpenADR2/Simple/2.0b",
        ),
        (
            "    openadr: {vtn_url: 'https://vtn.example.com/b', ven_name: v, cert: a.pem, key: a.key}\n",
            "site.yaml:4: control.inbound.openadr.ca_file: a client certificate needs ca_file: the CA that signed "  # noqa: E501
            "the VTN's certificate",
        ),
        (
            "    iec104:\n      tls: {cert: /nonexistent/outstation.pem, key: /etc/hostname, ca_file: /etc/hostname}\n",  # noqa: E501
            'site.yaml:5: control.inbound.iec104.tls.cert: path does not point to a file, got "/nonexistent/outstation.pem"',  # noqa: E501
        ),
        (
            "    iec104: {port: 5020}\n    modbus_server: {}\n",
            "site.yaml:5: control.inbound.modbus_server.port: port 5020 is also iec104's",
        ),
    ],
)
def test_bad_inbound_blocks_are_named_by_line(block, line):
    with pytest.raises(ConfigError) as err:
        parse_config(SITE + block)
    assert err.value.lines == [line]


def test_an_allow_list_opens_a_port_beyond_loopback():
    cfg = parse_config(SITE + "    modbus_server: {host: 0.0.0.0, allow: [10.0.0.0/24, 192.168.1.20]}\n")
    assert cfg.control.inbound is not None and cfg.control.inbound.names() == ("modbus_server",)


@pytest.mark.parametrize(
    ("ip", "allow", "ok"),
    [
        ("127.0.0.1", [], True),
        ("::1", [], True),
        ("10.0.0.7", [], False),
        ("10.0.0.7", ["10.0.0.0/24"], True),
        ("10.0.1.7", ["10.0.0.0/24"], False),
        ("::ffff:10.0.0.7", ["10.0.0.0/24"], True),
        ("127.0.0.1", ["10.0.0.0/24"], False),
        ("junk", [], False),
    ],
)
def test_allowed_clients(ip, allow, ok):
    assert allowed(ip, allow) is ok


def test_the_docs_name_the_default_ioas():
    docs = (Path(__file__).parent.parent / "docs" / "signals.md").read_text(encoding="utf-8")
    for name, ioa in Iec104Points().model_dump().items():
        assert f"| {ioa} (`{name}`) |" in docs


def test_a_device_may_not_take_an_interfaces_name():
    device = "  - {id: iec104, role: pv, kwp: 5, connection: {type: modbus_tcp, host: 127.0.0.1, port: 2}}\n"
    text = SITE.replace("control:", "devices:\n" + device + "control:") + "    iec104: {}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert err.value.lines == [
        'site.yaml:3: devices[0].id: device id "iec104" is taken by '
        "control.inbound.iec104 (its channels are iec104.*)"
    ]
