"""langchain-tests' standard suites for NeureusEmbeddings (integration: the loopback emulator)."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from neureus.langchain import NeureusEmbeddings

from .conftest import GATEWAY, SERVER


class TestNeureusEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[NeureusEmbeddings]:
        return NeureusEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "text-embedding-3-small", "api_key": "nru_unit_0000"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ({"NEUREUS_API_KEY": "nru_from_env_0000"}, {"model": "m"}, {"model": "m"})


class TestNeureusEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[NeureusEmbeddings]:
        return NeureusEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "text-embedding-3-small", "base_url": SERVER.base_url, "api_key": GATEWAY.api_key}
