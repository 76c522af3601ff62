"""Fixtures of the stream suite: a raw-socket SSE server and a client on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api

from .server import SSEServer

READ_TIMEOUT = 30.0
"""The clients' per-read timeout: far above every fail-safe, so a test that passes did not
lean on it (a stream held open after ``done`` would cost all of it)."""
FAIL_SAFE = READ_TIMEOUT / 3
"""How long a test lets an iteration run before calling it hung."""


@pytest.fixture
def sse_server() -> Iterator[SSEServer]:
    with SSEServer() as server:
        yield server


def client_on(api: Api, url: str, **options: Any) -> Any:
    options.setdefault("timeout", READ_TIMEOUT)
    options.setdefault("max_retries", 0)
    return api.real_client(api_key="nru_local_0123456789", base_url=url, **options)
