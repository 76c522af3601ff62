"""Scale-out on Ray: ``ChatMany`` runs ``chat_many`` inside ``ray.data.Dataset.map_batches``.

    pip install "neureus[ray]"

>>> import ray  # doctest: +SKIP
>>> from neureus.ray import ChatMany
>>> ds = ray.data.from_items([{"prompt": p} for p in prompts])  # doctest: +SKIP
>>> out = ChatMany.map(ds, workers=4, requests_per_minute=600, model="gpt-4o-mini")  # doctest: +SKIP
>>> out.take(1)  # doctest: +SKIP
[{'prompt': ..., 'text': ..., 'input_tokens': 12, 'output_tokens': 40, 'cost_usd': 0.0001, 'error': None}]

Each Ray worker builds one :class:`~neureus.Neureus` client, once, and runs every batch it
is given through ``client.ai.chat_many`` with ``concurrency`` calls in flight; the total
``requests_per_minute``/``tokens_per_minute`` are split evenly across ``workers``. The
output keeps the input columns and adds ``text``, ``input_tokens``, ``output_tokens``,
``cost_usd`` and ``error`` (``None``, or the error's text; a failed row never fails the job).

This module imports only ``neureus`` itself; ``ray`` is imported by :meth:`ChatMany.map`.
A Ray worker needs ``neureus`` installed (or on its ``runtime_env``), as any map function does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._exceptions import ConfigurationError
from ._redact import redact_text

__all__ = ["ChatMany"]

OUTPUT_COLUMNS = ("text", "input_tokens", "output_tokens", "cost_usd", "error")


class ChatMany:
    """A ``map_batches`` callable: one client per Ray worker, ``chat_many`` per batch.

    ``prompt_column`` holds a str per row (one user message); ``messages_column``, when
    given instead, holds a list of messages per row. ``api_key`` travels to the workers
    only when passed here; otherwise each worker reads ``NEUREUS_API_KEY`` where it runs.
    ``client_options`` go to :class:`~neureus.Neureus` (``base_url``, ``timeout``, ...);
    ``chat_keywords`` to every chat call (``model``, ``temperature``, ...).
    """

    def __init__(
        self,
        *,
        prompt_column: str = "prompt",
        messages_column: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        workers: int = 1,
        client_options: Mapping[str, Any] | None = None,
        **chat_keywords: Any,
    ) -> None:
        from ._client import Neureus

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigurationError(f"workers must be the number of Ray workers (>= 1); got {workers!r}.")
        self.column = messages_column or prompt_column
        self.concurrency = concurrency
        self.requests_per_minute = None if requests_per_minute is None else requests_per_minute / workers
        self.tokens_per_minute = None if tokens_per_minute is None else tokens_per_minute / workers
        self.chat_keywords = chat_keywords
        # Built once per worker: Ray constructs this class once per actor and reuses it.
        self.client = Neureus(api_key=api_key, base_url=base_url, **dict(client_options or {}))

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Run one batch (a mapping of column -> values, as ``batch_format="numpy"`` or
        ``"pandas"`` give it); return the batch with the output columns added."""
        if self.column not in batch:
            raise KeyError(f"ChatMany: the batch has no column {self.column!r}; columns: {sorted(batch)}.")
        inputs = [_plain(value) for value in batch[self.column]]
        result = self.client.ai.chat_many(
            inputs,
            concurrency=self.concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            progress=False,
            **self.chat_keywords,
        )
        out: dict[str, Any] = {name: list(values) for name, values in batch.items()}
        out["text"] = [None if r is None else r.text for r in result.responses]
        out["input_tokens"] = [None if r is None else r.input_tokens for r in result.responses]
        out["output_tokens"] = [None if r is None else r.output_tokens for r in result.responses]
        out["cost_usd"] = [None if r is None else r.cost_usd for r in result.responses]
        errors = result.errors
        out["error"] = [
            None
            if item.index not in errors
            else f"{type(errors[item.index]).__name__}: {redact_text(str(errors[item.index]))}"
            for item in result
        ]
        return out

    @classmethod
    def map(cls, dataset: Any, *, workers: int = 2, batch_size: int = 64, **options: Any) -> Any:
        """``dataset.map_batches`` with ``workers`` actors, each holding one ``ChatMany``
        (``options`` are this class's arguments; the rates are the totals for all workers)."""
        from ray.data import ActorPoolStrategy

        return dataset.map_batches(
            cls,
            fn_constructor_kwargs={**options, "workers": workers},
            compute=ActorPoolStrategy(size=workers),
            batch_size=batch_size,
            batch_format="numpy",
        )


def _plain(value: Any) -> Any:
    # numpy hands over strings as numpy.str_ and lists of messages as object arrays.
    if isinstance(value, str):
        return str(value)
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value
