"""The ``fake_gateway`` pytest fixture, for your own test suite.

Use it either way (pytest is needed only when you do)::

    # conftest.py
    from neureus.testing import fake_gateway  # noqa: F401

    # or, in the top-level conftest.py
    pytest_plugins = ["neureus.testing.pytest_plugin"]

It is not registered as an automatic pytest plugin, so installing neureus adds nothing to
the start-up of test suites that do not ask for it.
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
