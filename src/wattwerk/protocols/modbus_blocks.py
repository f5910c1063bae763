"""Block reads: merge registers into as few requests as possible.

A request reads at most 125 registers (2000 bits for coils). Neighbours are merged when the hole
between them is small (reading a few unused registers is cheaper than another round trip, above
all on a 9600-baud bus) and never across a range the profile declares unreadable (many devices
answer exception 2 for a read that touches an unmapped address).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wattwerk.protocols.modbus_codec import Register, Table

MAX_REGISTERS = 125
MAX_BITS = 2000


@dataclass(slots=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``table`` from ``address``."""

    table: Table
    address: int
    count: int
    registers: list[Register] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.address + self.count


def _crosses(start: int, end: int, gaps: Sequence[tuple[int, int]]) -> bool:
    """Does [start, end) touch any inclusive gap (first, last)?"""
    return any(first < end and last >= start for first, last in gaps)


def plan(
    registers: Iterable[Register],
    *,
    max_gap: int = 16,
    max_count: int | None = None,
    gaps: Sequence[tuple[int, int]] = (),
) -> list[Block]:
    """Group ``registers`` into blocks per table, in address order.

    ``gaps`` are inclusive ``(first, last)`` address ranges that must never be read; ``max_gap``
    is the largest hole of unused registers bridged inside one block.
    """
    blocks: list[Block] = []
    by_table: dict[str, list[Register]] = {}
    for reg in registers:
        by_table.setdefault(reg.table, []).append(reg)
    for table, regs in by_table.items():
        limit = max_count or (MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS)
        current: Block | None = None
        for reg in sorted(regs, key=lambda r: (r.address, r.end)):
            if reg.size > limit:
                raise ValueError(f"register {reg.name} ({reg.size} words) exceeds the request limit {limit}")
            if current is not None:
                end = max(current.end, reg.end)
                hole = reg.address - current.end
                if (
                    hole <= max_gap
                    and end - current.address <= limit
                    and not _crosses(current.end, reg.address, gaps)
                ):
                    current.count = end - current.address
                    current.registers.append(reg)
                    continue
                blocks.append(current)
            current = Block(reg.table, reg.address, reg.size, [reg])
        if current is not None:
            blocks.append(current)
    return blocks
