"""The chargers, heat devices, relays and batteries of the first catalogue rounds (issue 17), read and
commanded through their catalogue entries from peers that do NOT come from the entries: Modbus devices
are hand-written tables of the raw words their documentation describes (``owned_wallbox_tables.py``,
``owned_switch_battery_tables.py``), run through the one harness (``owned_harness.py``). A wrong
address, type, word order, scale or command map in an entry fails here; ``test_catalog_entries.py``
(which builds its emulator from the entry) would agree with itself.
"""

from __future__ import annotations

import pytest

from owned_harness import Example, check_modbus_example
from owned_switch_battery_tables import BATTERY_EXAMPLES, SWITCH_EXAMPLES
from owned_wallbox_tables import WALLBOX_EXAMPLES

EXAMPLES = [*WALLBOX_EXAMPLES, *SWITCH_EXAMPLES, *BATTERY_EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example_and_writes_its_commands(example: Example) -> None:
    await check_modbus_example(example)
