"""Fixtures for the preprocessing tests: the async backends the drivers must run under."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test under asyncio and under trio."""
    return str(request.param)
