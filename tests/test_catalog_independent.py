"""Issue 17's rule for ``tested``: every tested catalogue entry is read (and commanded) from an
independent example table, hand-written from the vendor's documentation, not from an emulator built out
of the entry itself. The registry of the table modules and the still-pending entries is in
``owned_harness.py``.
"""

from __future__ import annotations

from owned_harness import PENDING, catalogue_tested, covered_entries


def test_every_tested_entry_has_an_independent_table() -> None:
    tested, covered = catalogue_tested(), covered_entries()
    assert sorted(covered - tested) == []  # a table for an entry that is not tested (or not there)
    assert sorted(PENDING - tested) == []  # a pending entry that is no longer tested: drop it
    assert sorted(PENDING & covered) == []  # a pending entry that has its table now: drop it from PENDING
    assert sorted(tested - covered - PENDING) == []  # a tested entry without an independent table
