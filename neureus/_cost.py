"""Cost from listed prices, with no I/O: one rule for ``estimate_cost`` and the ledger.

``client.ai.estimate_cost`` checks its arguments here first (before any request), then
fetches the price list (cached 5 minutes per client, as the gateway caches ``/ai/models``)
and hands it here with the messages. The usage ledger prices a call the gateway sent no
cost for (a stream) with the same two functions, :func:`listed_prices` and
:func:`price_tokens`, so a model ``estimate_cost`` refuses is never counted at $0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._exceptions import InvalidRequestError
from ._validation import messages_to_wire

if TYPE_CHECKING:
    from .types import CostEstimate, ModelList

__all__ = [
    "PRICE_CACHE_SECONDS",
    "ROUTING_MODELS",
    "Prices",
    "check_cost_arguments",
    "estimate_cost_from_models",
    "listed_prices",
    "price_tokens",
]

PRICE_CACHE_SECONDS: Final = 300.0


# Model ids that route each call to a model chosen at call time: no price is known before.
ROUTING_MODELS: Final = frozenset({"auto"})

Prices: TypeAlias = "tuple[float | None, float | None]"
"""A model's listed input and output prices per 1k tokens (``None``: not listed, or unusable)."""


def _listed_price(value: object) -> float | None:
    # A price someone can bill: a finite number >= 0 (0 is free, as Workers AI models are).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def listed_prices(model: object) -> Prices:
    """A catalog entry's (input, output) prices per 1k tokens; ``None`` for a price that is
    missing, negative, infinite or not a number (a guess would not be a price)."""
    return (
        _listed_price(getattr(model, "input_cost_per_1k", None)),
        _listed_price(getattr(model, "output_cost_per_1k", None)),
    )


def price_tokens(prices: Prices | None, input_tokens: int, output_tokens: int) -> tuple[float, float] | None:
    """What ``input_tokens`` and ``output_tokens`` cost at ``prices``: (input, output) US dollars.

    ``None`` when they cannot be priced: no prices at all (a model not in the catalog), no
    input price, output tokens and no output price, or counts too large for any bill.
    Never a silent $0.
    """
    if prices is None:
        return None
    input_price, output_price = prices
    if input_price is None or (output_tokens and output_price is None):
        return None
    try:
        input_cost = input_tokens / 1000 * input_price
        output_cost = output_tokens / 1000 * (output_price or 0.0)
    except OverflowError:  # a count no float can hold (a hostile answer's): not a price
        return None
    if not math.isfinite(input_cost + output_cost):
        return None
    return input_cost, output_cost


def check_cost_arguments(messages: object, *, model: object, max_output_tokens: object = None) -> list[dict[str, Any]]:
    """Check ``estimate_cost``'s arguments before any request; return the wire messages.

    ``InvalidRequestError`` for a bad model id, a bad ``max_output_tokens``, bad messages,
    or a model that routes (``"auto"``), which has no price until the call is made.
    """
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(f"model must be a model id such as 'claude-sonnet-4-6'; got {model!r:.60}.")
    if max_output_tokens is not None and (
        isinstance(max_output_tokens, bool) or not isinstance(max_output_tokens, int) or max_output_tokens < 0
    ):
        raise InvalidRequestError(f"max_output_tokens must be a whole number >= 0; got {max_output_tokens!r:.60}.")
    wire = messages_to_wire(messages)
    if model in ROUTING_MODELS:
        raise InvalidRequestError(
            f"model={model!r} cannot be priced: it routes each call to a model chosen by task, so the "
            "price is not known before the call. Estimate with the model you expect it to pick."
        )
    return wire


def estimate_cost_from_models(
    models: ModelList, messages: object, *, model: str, max_output_tokens: int | None = None
) -> CostEstimate:
    """Price ``messages`` (plus ``max_output_tokens`` of output) on ``model``.

    A listed price of 0 is free (Workers AI models); a model the gateway lists with no
    price (or one no one could bill: negative, infinite) cannot be priced, and says so
    rather than answering $0. The ledger prices streams with the same rule.
    """
    import difflib

    from .preprocessing import estimate_tokens
    from .types import CostEstimate

    wire = check_cost_arguments(messages, model=model, max_output_tokens=max_output_tokens)
    found = models.get(model)
    if found is None:
        ids = [m.id for m in models]
        close = difflib.get_close_matches(model, ids, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidRequestError(
            f"Unknown model {model!r}: the gateway lists no such model.{hint} See client.ai.list_models() for the ids."
        )
    output_tokens = max_output_tokens or 0
    prices = listed_prices(found)
    input_tokens = sum(estimate_tokens(m["content"]) for m in wire)
    cost = price_tokens(prices, input_tokens, output_tokens)
    if cost is None:
        missing = "a usable input price" if prices[0] is None else "a usable output price"
        raise InvalidRequestError(
            f"model={model!r} cannot be priced: the gateway lists it without {missing}, so an estimate "
            "would be a guess (not $0)."
        )
    input_cost, output_cost = cost
    return CostEstimate(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_cost_usd=input_cost,
        output_cost_usd=output_cost,
        total_usd=input_cost + output_cost,
    )
