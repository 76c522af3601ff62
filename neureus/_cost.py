"""Cost estimates from listed prices and estimated tokens, with no I/O.

``client.ai.estimate_cost`` fetches the price list (cached 5 minutes per client, as the
gateway caches ``/ai/models``) and hands it here with the messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._exceptions import InvalidRequestError
from ._validation import messages_to_wire

if TYPE_CHECKING:
    from .types import CostEstimate, ModelList

__all__ = ["PRICE_CACHE_SECONDS", "estimate_cost_from_models"]

PRICE_CACHE_SECONDS: Final = 300.0


def estimate_cost_from_models(
    models: ModelList, messages: object, *, model: str, max_output_tokens: int | None = None
) -> CostEstimate:
    """Price ``messages`` (plus ``max_output_tokens`` of output) on ``model``.

    A price the gateway does not list counts as zero (Workers AI models are free).
    """
    import difflib

    from .preprocessing import estimate_tokens
    from .types import CostEstimate

    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model must be a model id such as 'claude-sonnet-4-6'.")
    if max_output_tokens is not None and (
        isinstance(max_output_tokens, bool) or not isinstance(max_output_tokens, int) or max_output_tokens < 0
    ):
        raise InvalidRequestError(f"max_output_tokens must be a whole number >= 0; got {max_output_tokens!r}.")
    found = models.get(model)
    if found is None:
        ids = [m.id for m in models]
        close = difflib.get_close_matches(model, ids, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidRequestError(
            f"Unknown model {model!r}: the gateway lists no such model.{hint} See client.ai.list_models() for the ids."
        )
    input_tokens = sum(estimate_tokens(m["content"]) for m in messages_to_wire(messages))
    output_tokens = max_output_tokens or 0
    input_cost = input_tokens / 1000 * (found.input_cost_per_1k or 0.0)
    output_cost = output_tokens / 1000 * (found.output_cost_per_1k or 0.0)
    return CostEstimate(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_cost_usd=input_cost,
        output_cost_usd=output_cost,
        total_usd=input_cost + output_cost,
    )
