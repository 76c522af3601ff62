"""The container models are sequences of their items: len, iteration and indexing agree.

pydantic's default ``__iter__`` yields ``(field, value)`` pairs; these models override it,
so each test also checks that what pydantic builds on the fields (dump, copy, pickle,
equality, repr) still sees the fields.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from neureus.types import EmbeddingsResponse, Model, ModelList, ProviderList, ProviderStatus

CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "embeddings",
        lambda: EmbeddingsResponse.model_validate({"embeddings": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], "model": "e"}),
        "embeddings",
    ),
    (
        "models",
        lambda: ModelList.model_validate({"models": [{"id": "a"}, {"id": "b"}, {"id": "c", "contextWindow": 8}]}),
        "models",
    ),
    (
        "providers",
        lambda: ProviderList.model_validate({"providers": ["openai", {"name": "anthropic", "configured": False}]}),
        "providers",
    ),
]


@pytest.mark.parametrize(("name", "make", "field"), CASES, ids=[c[0] for c in CASES])
def test_len_iteration_and_indexing_agree(name: str, make: Callable[[], Any], field: str) -> None:
    container = make()
    items = getattr(container, field)
    assert len(container) == len(items) > 1
    assert list(container) == items
    assert [container[i] for i in range(len(container))] == items
    assert container[-1] == items[-1]
    assert list(reversed(container)) == items[::-1]
    assert items[0] in container
    for position, item in enumerate(container):  # never a (field, value) pair
        assert item is items[position]
    with pytest.raises(IndexError):
        container[len(container)]


@pytest.mark.parametrize(("name", "make", "field"), CASES, ids=[c[0] for c in CASES])
def test_pydantic_still_sees_the_fields(name: str, make: Callable[[], Any], field: str) -> None:
    container = make()
    dumped = container.model_dump()
    assert field in dumped and len(dumped[field]) == len(container)
    assert type(container).model_validate_json(container.model_dump_json()) == container
    for twin in (container.model_copy(), copy.copy(container), copy.deepcopy(container)):
        assert twin == container and list(twin) == list(container)
    unpickled = pickle.loads(pickle.dumps(container))
    assert unpickled == container and len(unpickled) == len(container)
    assert repr(container).startswith(f"{type(container).__name__}({field}=")


def test_unknown_fields_survive_the_override() -> None:
    response = EmbeddingsResponse.model_validate({"embeddings": [[1.0]], "gatewayNote": "x"})
    assert response.model_extra == {"gatewayNote": "x"}
    assert response.model_dump()["gatewayNote"] == "x"
    assert list(response) == [[1.0]]


def test_empty_containers_are_empty_sequences() -> None:
    for container in (EmbeddingsResponse(embeddings=[]), ModelList(), ProviderList()):
        assert len(container) == 0 and list(container) == [] and not container
        with pytest.raises(IndexError):
            container[0]


def test_items_are_typed() -> None:
    models = ModelList(models=[Model(id="a")])
    providers = ProviderList(providers=[ProviderStatus(provider="openai")])
    assert isinstance(models[0], Model) and isinstance(providers[0], ProviderStatus)


def test_a_batch_item_equals_only_batch_items() -> None:
    from neureus import BatchItem

    assert BatchItem(0, "a") == BatchItem(0, "a") and BatchItem(0, "a") != BatchItem(1, "a")
    assert BatchItem(0, "a").__eq__((0, "a", None, None)) is NotImplemented
