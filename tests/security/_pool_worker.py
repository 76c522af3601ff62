"""Functions a process pool runs (importable by a spawned child): each fails the way a
bulk job's worker would, through a client on the in-process emulator."""

from __future__ import annotations

from neureus.testing import FakeGateway

MESSAGES = [{"role": "user", "content": "Hello"}]


def rate_limited_call(_: object = None) -> str:
    """A 429 asking for 120 s: raised at once (above the 60 s cap) with everything on it."""
    gateway = FakeGateway()
    gateway.queue_error(
        429,
        {"error": {"message": "slow down", "type": "rate_limit"}},
        headers={"retry-after": "120", "x-request-id": "req-429"},
    )
    with gateway.client() as client:
        return client.ai.chat(MESSAGES).text


def incomplete_stream(_: object = None) -> str:
    """A stream whose connection breaks after one token."""
    gateway = FakeGateway()
    gateway.queue_stream(["Hel", "lo", "!"], break_after=1)
    with gateway.client() as client, client.ai.stream(MESSAGES) as stream:
        return "".join(stream)


def widget_scope(_: object = None) -> object:
    """A local refusal, for contrast."""
    with FakeGateway().client(api_key="pk_live_0123456789abcdef") as client:
        return client.ai.list_models()
