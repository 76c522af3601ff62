"""langchain-tests' standard suites for ChatNeureus: unit, and integration against the
loopback emulator. Every skip is listed, with its reason, in docs/langchain.md."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from neureus.langchain import ChatNeureus

from .conftest import GATEWAY, SERVER


class TestChatNeureusUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatNeureus]:
        return ChatNeureus

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ({"NEUREUS_API_KEY": "nru_from_env_0000"}, {"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini"})


class TestChatNeureusIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatNeureus]:
        return ChatNeureus

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "gpt-4o-mini", "base_url": SERVER.base_url, "api_key": GATEWAY.api_key}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        params = super().standard_chat_model_params
        params["api_key"] = GATEWAY.api_key
        return params

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "claude-haiku-4-5"

    @property
    def returns_usage_metadata(self) -> bool:
        return True
