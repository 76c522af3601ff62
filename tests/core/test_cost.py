"""The one pricing rule (``neureus/_cost.py``) that ``estimate_cost`` and the ledger share."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from neureus._cost import listed_prices, price_tokens


@pytest.mark.parametrize(
    ("value", "price"),
    [(0.5, 0.5), (0, 0.0), (2, 2.0), (None, None), (-0.1, None), (math.inf, None), (math.nan, None), (True, None),
     ("0.5", None)],
)  # fmt: skip
def test_a_listed_price_is_a_finite_number_at_least_zero(value: object, price: float | None) -> None:
    model = SimpleNamespace(input_cost_per_1k=value, output_cost_per_1k=value)
    assert listed_prices(model) == (price, price)
    assert listed_prices(object()) == (None, None)  # an entry with no prices at all


def test_tokens_are_priced_only_when_every_price_they_need_is_listed() -> None:
    assert price_tokens((2.0, 4.0), 500, 250) == (1.0, 1.0)
    assert price_tokens((0.0, 0.0), 500, 250) == (0.0, 0.0)  # free is a price
    assert price_tokens((2.0, None), 500, 0) == (1.0, 0.0)  # no output: no output price needed
    assert price_tokens((2.0, None), 500, 1) is None
    assert price_tokens((None, 4.0), 0, 1) is None  # no input price: never priced
    assert price_tokens(None, 1, 1) is None  # not in the catalog


def test_counts_no_float_can_hold_are_not_priced() -> None:
    assert price_tokens((1.0, 1.0), 10**400, 1) is None
    assert price_tokens((1.0, 1.0), 1, 10**400) is None
    assert price_tokens((1e300, 1.0), 10**300, 0) is None  # finite counts, an infinite bill
