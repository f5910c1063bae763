"""Our table-driven CRC-16/ARC against dsmr_parser's own, on every DSMR sample and random data."""

from __future__ import annotations

import re

from dsmr_parser.parsers import TelegramParser
from hypothesis import given
from hypothesis import strategies as st

from wattwerk.protocols.crc import crc16_arc


def test_same_crc_as_dsmr_parser_on_every_sample(shared_data):
    checked = 0
    for path in sorted((shared_data / "dsmr").glob("*.txt")):
        text = path.read_bytes().decode("latin-1")
        for body in re.findall(r"/.+?!", text, re.DOTALL):
            assert crc16_arc(body.encode("latin-1")) == TelegramParser.crc16(body), path.name
            checked += 1
    assert checked >= 8


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=300))
def test_same_crc_as_dsmr_parser_on_random_text(text):
    assert crc16_arc(text.encode("ascii")) == TelegramParser.crc16(text)


def test_known_check_value():
    # CRC-16/ARC check value for "123456789" (the catalogue of parametrised CRC algorithms)
    assert crc16_arc(b"123456789") == 0xBB3D
