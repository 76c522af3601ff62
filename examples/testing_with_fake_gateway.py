"""Testing your own code with ``neureus.testing.FakeGateway``: no network, no key.

The code under test takes a client; the tests hand it one wired to the emulator, choose
the replies, make it fail, and check what was sent. With pytest, the ``fake_gateway``
fixture gives a fresh emulator per test; import it into your ``conftest.py``::

    # conftest.py
    from neureus.testing import fake_gateway  # noqa: F401

    # test_summary.py
    def test_summary(fake_gateway):
        fake_gateway.queue_reply("Short.")
        assert summarise(fake_gateway.client(), "long text") == "Short."

Run it with ``python examples/testing_with_fake_gateway.py``: it runs these checks as a
plain program, always on the built-in offline emulator.
"""

from __future__ import annotations

import neureus
from neureus.testing import FakeGateway

# -- the code under test (yours) ---------------------------------------------------------


def summarise(client: neureus.Neureus, text: str) -> str:
    """One sentence about ``text``; '(unavailable)' when the gateway is down."""
    try:
        reply = client.ai.chat(
            [{"role": "user", "content": text}],
            system_prompt="Summarise in one sentence.",
            model="claude-haiku-4-5",
            max_tokens=60,
        )
    except neureus.APIConnectionError:
        return "(unavailable)"
    return reply.text.strip()


# -- its tests ---------------------------------------------------------------------------


def test_returns_the_reply() -> None:
    gateway = FakeGateway()
    gateway.queue_reply("  A short summary.  ")
    with gateway.client() as client:
        assert summarise(client, "A long text...") == "A short summary."


def test_sends_what_we_expect() -> None:
    gateway = FakeGateway()
    with gateway.client() as client:
        summarise(client, "A long text...")
    body = gateway.last_request.json
    assert body["model"] == "claude-haiku-4-5"
    assert body["systemPrompt"] == "Summarise in one sentence."
    assert body["maxTokens"] == 60
    assert body["messages"] == [{"role": "user", "content": "A long text..."}]


def test_survives_a_network_failure() -> None:
    gateway = FakeGateway()
    gateway.queue_failure("connect", times=3)  # the first try and both retries
    with gateway.client() as client:
        assert summarise(client, "A long text...") == "(unavailable)"
    assert len(gateway.requests_to("/ai/chat")) == 3


def test_a_server_error_is_not_swallowed() -> None:
    gateway = FakeGateway()
    gateway.queue_error(500, times=3)
    with gateway.client() as client:
        try:
            summarise(client, "A long text...")
        except neureus.InternalServerError:
            pass
        else:
            raise AssertionError("expected InternalServerError")


def test_streaming_code() -> None:
    gateway = FakeGateway()
    gateway.queue_stream(["Hel", "lo"])
    with gateway.client() as client:
        assert list(client.ai.stream([{"role": "user", "content": "hi"}])) == ["Hel", "lo"]


def main() -> None:
    print("This example always uses the built-in offline emulator (neureus.testing.FakeGateway).")
    tests = [test_returns_the_reply, test_sends_what_we_expect, test_survives_a_network_failure]
    tests += [test_a_server_error_is_not_swallowed, test_streaming_code]
    for test in tests:
        test()
        print(f"  passed: {test.__name__}")


if __name__ == "__main__":
    main()
