"""Test tools: an emulator of the Neureus AI Gateway, in process or over loopback HTTP.

>>> from neureus.testing import FakeGateway
>>> gateway = FakeGateway()
>>> client = gateway.client()
>>> client.ai.chat([{"role": "user", "content": "ping"}]).text
'Hello from the Neureus emulator! You said: ping'

``neureus.testing`` is never imported by ``import neureus``. With pytest, the
``fake_gateway`` fixture is available once ``neureus`` is installed (a pytest plugin).
"""

from ._gateway import FailureKind, FakeGateway, RecordedRequest
from ._server import EmulatorServer
from ._sse import Pause, StreamScript

__all__ = ["EmulatorServer", "FailureKind", "FakeGateway", "Pause", "RecordedRequest", "StreamScript"]
