"""A typical German household tariff of 2024, as data, for benchmarks and the demo.

Net €/kWh components (before 19 % VAT): supplier margin on the spot price 0.0150; grid fee
0.0900 (a mid-range distribution network; §14a module 3 sites replace it by time windows);
concession levy 0.0166 (municipalities over 500 000 inhabitants: 0.0239, small ones 0.0132);
electricity tax 0.0205; KWKG levy 0.00275; §19 StromNEV levy 0.00643; offshore grid levy 0.00656.
Feed-in: 0.0811 €/kWh (EEG 2023, up to 10 kWp, partial feed-in, plants from February 2024).
"""

from __future__ import annotations

from wattwerk.market.prices import PriceSeries
from wattwerk.market.tariff import Component, Dynamic, FeedIn, Fixed, Tariff

SUPPLIER_MARGIN = 0.0150
GRID_FEE = 0.0900
LEVIES = {
    "concession_levy": 0.0166,
    "electricity_tax": 0.0205,
    "kwkg_levy": 0.00275,
    "stromnev_19_levy": 0.00643,
    "offshore_levy": 0.00656,
}
VAT = 0.19
FEED_IN_EEG_2024 = 0.0811


def de_household_dynamic(spot: PriceSeries, grid_fee: Component | None = None) -> Tariff:
    """Spot + margin + grid fee + levies, then VAT: a dynamic tariff such as Tibber or aWATTar sell."""
    fees = (grid_fee or Fixed("grid_fee", GRID_FEE), *tuple(Fixed(k, v) for k, v in LEVIES.items()))
    return Tariff(Dynamic("energy", spot, markup=SUPPLIER_MARGIN), fees, VAT, name="de-household-dynamic")


def de_feed_in() -> FeedIn:
    return FeedIn(FEED_IN_EEG_2024)
