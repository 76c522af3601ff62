"""Every error class and every response model survives ``pickle`` and ``copy.deepcopy``
with its attributes (API.md, "Processes and pickling").

0.1's status errors took keyword-only arguments, so ``BaseException``'s default
``__reduce__`` (``cls(*args)``) could not rebuild them: one 429 in a
``ProcessPoolExecutor`` worker broke the whole pool, and ``multiprocessing.Pool`` hung
(its result thread died unpickling the error). The tests run over every exported class,
so a class added later is covered without a new test.
"""

from __future__ import annotations

import concurrent.futures
import copy
import inspect
import multiprocessing
import pickle
from typing import Any

import pytest
from pydantic import BaseModel

import neureus
import neureus.types

from . import _pool_worker

ERRORS = sorted(
    (obj for name in neureus.__all__ if isinstance(obj := getattr(neureus, name), type) and issubclass(obj, Exception)),
    key=lambda cls: cls.__name__,
)
MODELS = sorted(
    {
        obj
        for module in (neureus, neureus.types)
        for name in module.__all__
        if isinstance(obj := getattr(module, name), type) and issubclass(obj, BaseModel)
    },
    key=lambda cls: cls.__name__,
)

SAMPLES: dict[str, Any] = {
    "status_code": 429,
    "body": {"error": {"message": "slow down", "nested": [1, {"a": None}]}},
    "headers": {"retry-after": "7", "x-request-id": "req-1"},
    "request_id": "req-1",
    "retry_after": 7.5,
    "partial_text": "Hello, wor",
    "error_type": "overloaded",
}


def build_error(cls: type[Exception]) -> Exception:
    """An instance with every constructor argument given a non-default value."""
    kwargs: dict[str, Any] = {}
    args: list[Any] = []
    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except ValueError:  # no __init__ of its own: Exception's (message)
        parameters = [inspect.Parameter("message", inspect.Parameter.POSITIONAL_ONLY)]
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = SAMPLES.get(parameter.name, f"sample {parameter.name}")
        if parameter.kind == parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(f"{cls.__name__}: something failed" if parameter.name == "message" else value)
    error = cls(*args, **kwargs)
    error.add_note("a note added by the caller")
    return error


def attributes(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error),
        "args": error.args,
        "str": str(error),
        **{name: getattr(error, name) for name in vars(error)},
        "headers": dict(getattr(error, "headers", {}) or {}),
    }


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_survives_pickle_and_deepcopy(cls: type[Exception]) -> None:
    error = build_error(cls)
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error), copy.copy(error)):
        assert attributes(copied) == attributes(error)
        assert copied.__notes__ == ["a note added by the caller"]  # type: ignore[attr-defined]


def test_the_tree_is_covered() -> None:
    names = {cls.__name__ for cls in ERRORS}
    assert {"RateLimitError", "IncompleteStreamError", "APIStatusError", "StreamError", "NeureusError"} <= names


def test_an_sdk_cause_travels_with_the_error() -> None:
    timeout = neureus.APITimeoutError("Timed out waiting for data (ReadTimeout).")
    error = neureus.IncompleteStreamError("The stream stopped before done.", partial_text="Hel")
    error.__cause__ = timeout
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert copied.partial_text == "Hel"
        assert isinstance(copied.__cause__, neureus.APITimeoutError)
        assert str(copied.__cause__) == str(timeout)
        assert copied.__context__ is copied.__cause__


def test_a_foreign_cause_is_left_behind_rather_than_breaking_the_pickle() -> None:
    class Unpicklable(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("cannot pickle this")

    error = neureus.APIConnectionError("Connection error (ConnectError: refused).")
    error.__cause__ = Unpicklable()
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def sample_model(cls: type[BaseModel]) -> BaseModel:
    samples: dict[str, dict[str, Any]] = {
        "ChatMessage": {"role": "user", "content": "hi"},
        "ChatResponse": {
            "text": "hi",
            "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "logId": "log-1",
            "usage": {"prompt_tokens": 1},
            "_preprocessing": {"passes": ["normalize"]},
            "unknownField": {"kept": [1, 2]},
        },
        "EmbeddingsResponse": {"data": [{"embedding": [0.1, 0.2], "index": 0}], "model": "bge"},
        "Model": {"id": "gpt-4o", "inputCostPer1k": 0.005, "supportedFeatures": ["streaming"]},
        "ModelList": {"models": [{"id": "gpt-4o"}, {"id": "claude"}]},
        "ProviderList": {"providers": ["openai", {"provider": "anthropic", "configured": False}]},
        "ProviderStatus": {"provider": "openai"},
        "ProviderKeyStatus": {"provider": "openai", "configured": True},
        "WidgetKey": {"key": "pk_live_0123456789abcdef", "keyPreview": "pk_live"},
        "WidgetKeyRevocation": {"revoked": True},
        "StreamFinal": {"done": True, "logId": "log-2", "inputTokens": 3},
        "CostEstimate": {
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 2,
            "input_cost_usd": 0.1,
            "output_cost_usd": 0.2,
            "total_usd": 0.3,
        },
    }
    if cls.__name__ in samples:
        return cls.model_validate(samples[cls.__name__])
    try:
        return cls()
    except Exception:  # a model added later, with required fields: its bare shape still copies
        return cls.model_construct()


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_every_model_survives_pickle_and_deepcopy(cls: type[BaseModel]) -> None:
    model = sample_model(cls)
    for copied in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(copied) is cls
        assert copied == model
        assert copied.model_extra == model.model_extra
        assert repr(copied) == repr(model)


def test_a_widget_key_keeps_its_value_through_pickle() -> None:
    key = neureus.WidgetKey(key="pk_live_0123456789abcdef")
    assert pickle.loads(pickle.dumps(key)).key == "pk_live_0123456789abcdef"


SPAWN = multiprocessing.get_context("spawn")  # fork in a threaded test process is unsafe


def test_a_rate_limit_error_in_a_process_pool_worker_reaches_the_parent_intact() -> None:
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        futures = [
            pool.submit(_pool_worker.rate_limited_call),
            pool.submit(_pool_worker.incomplete_stream),
            pool.submit(_pool_worker.widget_scope),
        ]
        _done, pending = concurrent.futures.wait(futures, timeout=120)
        assert not pending
        rate, incomplete, scope = (future.exception(timeout=0) for future in futures)
        # The pool survived: it still runs work after the failures.
        assert pool.submit(pow, 2, 5).result(timeout=60) == 32
    assert isinstance(rate, neureus.RateLimitError)
    assert (rate.status_code, rate.retry_after, rate.request_id) == (429, 120.0, "req-429")
    assert rate.headers["retry-after"] == "120"
    assert rate.body == {"error": {"message": "slow down", "type": "rate_limit"}}
    assert isinstance(incomplete, neureus.IncompleteStreamError)
    assert incomplete.partial_text == "Hel"
    # The pool sets __cause__ to the worker's traceback; the SDK's cause is kept as the context.
    assert isinstance(incomplete.__context__, neureus.APIConnectionError)
    assert isinstance(scope, neureus.WidgetKeyScopeError)


def test_multiprocessing_pool_gets_the_error_instead_of_hanging() -> None:
    with SPAWN.Pool(processes=1) as pool:
        result = pool.apply_async(_pool_worker.rate_limited_call)
        with pytest.raises(neureus.RateLimitError) as caught:
            result.get(timeout=120)  # 0.1 hung here forever
        assert caught.value.retry_after == 120.0
        assert pool.apply_async(pow, (3, 2)).get(timeout=60) == 9
