"""Test tools: an emulator of the Neureus AI Gateway, in process or over loopback HTTP.

>>> from neureus.testing import FakeGateway
>>> gateway = FakeGateway()
>>> client = gateway.client()
>>> client.ai.chat([{"role": "user", "content": "ping"}]).text
'Hello from the Neureus emulator! You said: ping'

``neureus.testing`` is never imported by ``import neureus``. For pytest, import the
``fake_gateway`` fixture into your ``conftest.py``: ``from neureus.testing import fake_gateway``.
"""

from typing import Any

from ._gateway import FailureKind, FakeGateway, RecordedRequest
from ._server import EmulatorServer
from ._sse import Pause, StreamScript

__all__ = [
    "EmulatorServer",
    "FailureKind",
    "FakeGateway",
    "Pause",
    "RecordedRequest",
    "StreamScript",
    "fake_gateway",
]


def __getattr__(name: str) -> Any:
    # The fixture needs pytest, which is not a dependency: import it only when asked for.
    if name == "fake_gateway":
        from .pytest_plugin import fake_gateway

        return fake_gateway
    raise AttributeError(f"module 'neureus.testing' has no attribute {name!r}")
