"""Modbus meters (EMU, Phoenix Contact, Schneider, Socomec), the generic and Waveshare I/O modules and the
SMA batteries (Sunny Island, Sunny Boy Storage, Tripower Storage / Smart Energy), read and commanded
through their catalogue entries from hand-written tables of their documented registers
(``owned_meters_io_tables.py``), run through the one harness (``owned_harness.py``). A wrong address,
type, word order, scale or command map in an entry fails here; ``test_catalog_entries.py`` (which builds
its emulator from the entry) would agree with itself.
"""

from __future__ import annotations

import pytest

from owned_harness import Example, check_modbus
from owned_meters_io_tables import IO_MODULES, MODBUS_METERS, SMA_BATTERIES

EXAMPLES = [*MODBUS_METERS, *IO_MODULES, *SMA_BATTERIES]
COVERED = {e.entry for e in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example_and_writes_its_commands(example: Example) -> None:
    await check_modbus(example)
