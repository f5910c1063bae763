"""The SunSpec entries of the catalogue (issue 17: PV inverters of SMA, Fronius, KOSTAL, SolarEdge, AE,
the generic SunSpec inverters, storage, DER and meters), each read through its own entry (its unit, its
model chain, its scale factors) from a hand-written chain in ``owned_sunspec_tables.py`` that does NOT
come from the entry, and each command checked as the raw words the device receives. A wrong unit id,
model set, scale factor handling or control write fails here; ``test_catalog_entries.py`` (which builds
its chain from the entry) would agree with itself.
"""

from __future__ import annotations

import pytest

from owned_harness import SunSpecExample, check_sunspec
from owned_storage_tables import GEN24_BATTERY
from owned_sunspec_more_tables import METERS, SE_RATING, SOLAREDGE, STORAGE_AND_DER
from owned_sunspec_tables import PV_SUNSPEC

EXAMPLES = [*PV_SUNSPEC, *STORAGE_AND_DER, *METERS]
COVERED = {e.entry for e in [*EXAMPLES, *SOLAREDGE, *GEN24_BATTERY]}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_its_documented_chain_and_writes_its_controls(example: SunSpecExample) -> None:
    single_phase = {mid for mid, _, _ in example.models} & {101, 111}  # phases B, C: "not implemented"
    await check_sunspec(example, absent=2 if single_phase else 0)


@pytest.mark.parametrize("example", SOLAREDGE, ids=[e.entry for e in SOLAREDGE])
async def test_solaredge_reads_inverter_and_meter_and_limits_through_0xf001(example: SunSpecExample) -> None:
    """SolarEdge: the meter (203) beside the inverter as ``dev_meter``; the limit in % of the rating the
    installer gives (no 120/121 in its chain), committed through 0xF100."""
    single_phase = 101 in {mid for mid, _, _ in example.models}
    await check_sunspec(example, rated_power=SE_RATING[example.entry], absent=2 if single_phase else 0)


@pytest.mark.parametrize("example", GEN24_BATTERY, ids=["noon-charging", "night-discharging"])
async def test_gen24_as_a_battery_reads_its_storage_modules_not_the_ac_power(example: SunSpecExample) -> None:
    """The GEN24 read as a battery: the storage's flow from model 160's modules 4 minus 3 (+ discharging), not
    the AC power that carries the PV too; the setpoint as for fronius-gen24."""
    await check_sunspec(example, rel_tol=1e-6)  # float32 carries 7 digits
