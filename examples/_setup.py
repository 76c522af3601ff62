"""Shared by the examples: the real gateway when NEUREUS_API_KEY is set, else the emulator."""

from __future__ import annotations

import os

from neureus import AsyncNeureus, Neureus


def make_client() -> tuple[Neureus, str]:
    """A sync client, and a line saying which gateway it talks to."""
    if os.environ.get("NEUREUS_API_KEY"):
        client = Neureus()
        return client, f"Using the real Neureus gateway at {client.base_url}."
    from neureus.testing import FakeGateway

    return FakeGateway().client(), "NEUREUS_API_KEY is not set: using the built-in offline emulator."


def make_async_client() -> tuple[AsyncNeureus, str]:
    """An async client, and a line saying which gateway it talks to."""
    if os.environ.get("NEUREUS_API_KEY"):
        client = AsyncNeureus()
        return client, f"Using the real Neureus gateway at {client.base_url}."
    from neureus.testing import FakeGateway

    return FakeGateway().async_client(), "NEUREUS_API_KEY is not set: using the built-in offline emulator."
