"""A pytest plugin (registered as an entry point): the ``fake_gateway`` fixture.

Importing this module is cheap; the emulator is imported only when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import FakeGateway

__all__ = ["fake_gateway"]


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    """A fresh :class:`~neureus.testing.FakeGateway` per test."""
    from . import FakeGateway

    yield FakeGateway()
