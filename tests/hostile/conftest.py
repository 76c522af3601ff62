"""Fixtures of the hostile suite: raw-socket servers on 127.0.0.1 and clients of each flavour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from neureus import RetryPolicy

from .server import HostileServer

KEY = "nk_test_hostile_0123456789abcdef"
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.002)
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def other() -> Iterator[HostileServer]:
    """A second loopback origin that records what it receives."""
    with HostileServer() as server:
        yield server
