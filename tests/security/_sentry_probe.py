"""Run failing calls under a real Sentry client with its default settings; print a report.

Run by ``test_sentry.py`` in a subprocess, because ``sentry_sdk.init`` patches the
standard library for the life of the process. The transport keeps every envelope in
memory: nothing leaves the machine. Prints one JSON object: for each scenario, whether
an event was captured, whether it carried frame locals, and which secrets it contained.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import neureus
from neureus import RetryPolicy
from neureus.testing import FakeGateway

API_KEY = "ZZq7SECRETplainApiKey0123456789abcdef"
BYOK_KEY = "AIzaSyQ7SECRETgooglekey0123456789xyz"
WIDGET_KEY = "pk_live_SECRETwidget0123456789abcdef"
SECRETS = {"api_key": API_KEY, "byok_key": BYOK_KEY, "widget_key": WIDGET_KEY}
MESSAGES = [{"role": "user", "content": "Hello"}]
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.001, jitter=lambda: 0.0)


class MemoryTransport(Transport):
    """Keeps envelopes in a list; sends nothing anywhere."""

    envelopes: ClassVar[list[bytes]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        MemoryTransport.envelopes.append(envelope.serialize())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def control_leak() -> None:
    """A frame holding a key in a plain tuple: the harness must see this one."""
    leaked = (API_KEY,)
    raise RuntimeError(f"control {len(leaked)}")


def scripted(name: str) -> tuple[FakeGateway, dict[str, Any], Callable[[Any], Any]]:
    gateway = FakeGateway(api_key=API_KEY)
    gateway.widget_keys[WIDGET_KEY] = {"tenant": API_KEY, "agent_id": None}
    options: dict[str, Any] = {"max_retries": 0}
    if name == "401":
        # The server echoes the key as the request id: logged (a breadcrumb) and on the error.
        gateway.queue_error(401, {"error": "bad key"}, headers={"x-request-id": API_KEY})
        return gateway, options, lambda c: c.ai.chat(MESSAGES)
    if name == "500_after_retries":
        gateway.queue_error(500, {"error": "down"}, times=3)
        options.update(max_retries=2, retry_policy=FAST)
        return gateway, options, lambda c: c.ai.chat(MESSAGES)
    if name == "timeout":
        gateway.queue_failure("timeout", times=2)
        options.update(max_retries=1, retry_policy=FAST)
        return gateway, options, lambda c: c.ai.embeddings(["a"])
    if name == "set_provider_key_500":
        gateway.queue_error(500, {"error": "down"}, times=2)
        options.update(max_retries=1, retry_policy=FAST)
        return gateway, options, lambda c: c.ai.set_provider_key("google", BYOK_KEY)
    if name == "revoke_widget_key_404":
        gateway.queue_error(404, {"error": "no such key"})
        return gateway, options, lambda c: c.ai.revoke_widget_key(WIDGET_KEY)
    if name == "stream_cut":
        gateway.queue_stream(["a", "b", "c"], cut_after=1)
        return gateway, options, lambda c: c.ai.stream(MESSAGES)
    raise AssertionError(name)


SCRIPTED = ["401", "500_after_retries", "timeout", "set_provider_key_500", "revoke_widget_key_404", "stream_cut"]


def run_sync(name: str) -> BaseException:
    if name == "refused":
        client = neureus.Neureus(api_key=API_KEY, base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0)
        call: Callable[[Any], Any] = lambda c: c.ai.set_provider_key("google", BYOK_KEY)  # noqa: E731
    else:
        gateway, options, call = scripted(name)
        client = gateway.client(**options)
    with client:
        try:
            result = call(client)
            if isinstance(result, neureus.ChatStream):
                with result:
                    for _ in result:
                        pass
        except neureus.NeureusError as exc:
            return exc
    raise AssertionError(f"{name} did not fail")


async def run_async(name: str) -> BaseException:
    if name == "refused":
        client = neureus.AsyncNeureus(api_key=API_KEY, base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0)
        call: Callable[[Any], Awaitable[Any] | Any] = lambda c: c.ai.set_provider_key("google", BYOK_KEY)  # noqa: E731
    else:
        gateway, options, call = scripted(name)
        client = gateway.async_client(**options)
    async with client:
        try:
            result = call(client)
            if isinstance(result, neureus.AsyncChatStream):
                async with result:
                    async for _ in result:
                        pass
            else:
                await result
        except neureus.NeureusError as exc:
            return exc
    raise AssertionError(f"{name} did not fail")


# Constructor failures with a valid key (passed, or from NEUREUS_API_KEY): options only.
CONSTRUCTOR = {
    "base_url": {"base_url": "http://gateway.example.com"},
    "header": {"default_headers": {"x-note": "caf\u00e9"}},
    "timeout": {"timeout": -1},
    "http_client": {"http_client": object()},
}


def construct(cls: Any, name: str, from_env: bool) -> BaseException:
    import os

    try:
        if from_env:
            os.environ["NEUREUS_API_KEY"] = API_KEY
            cls(**CONSTRUCTOR[name])
        else:
            cls(api_key=API_KEY, **CONSTRUCTOR[name])
    except neureus.ConfigurationError as exc:
        return exc
    finally:
        os.environ.pop("NEUREUS_API_KEY", None)
    raise AssertionError(f"{name} did not fail")


def reconfigure(cls: Any, name: str, new_key: bool) -> BaseException:
    """``with_options`` on a working client, with a bad option (and maybe a new key)."""
    options = dict(CONSTRUCTOR[name])
    client = cls(api_key=API_KEY, base_url="http://127.0.0.1:9")
    try:
        if new_key:
            client.with_options(api_key=WIDGET_KEY, **options)
        else:
            client.with_options(**options)
    except neureus.ConfigurationError as exc:
        return exc
    raise AssertionError(f"with_options {name} did not fail")


def report(error: BaseException) -> dict[str, Any]:
    before = len(MemoryTransport.envelopes)
    sentry_sdk.capture_exception(error)
    sentry_sdk.flush(timeout=5)
    payload = b"".join(MemoryTransport.envelopes[before:]).decode("utf-8", errors="replace")
    return {
        "captured": len(MemoryTransport.envelopes) > before,
        "has_vars": '"vars"' in payload,
        "has_breadcrumbs": '"category":"neureus"' in payload.replace(" ", ""),
        "frames_with_neureus": payload.count("neureus/"),
        "leaks": [label for label, secret in SECRETS.items() if secret in payload],
    }


def main() -> None:
    # Defaults only: include_local_variables, the default integrations, the serializer.
    sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=MemoryTransport)
    # NEUREUS_LOG=debug: the SDK's log lines become Sentry breadcrumbs in every event.
    logging.getLogger("neureus").setLevel(logging.DEBUG)
    results: dict[str, Any] = {}
    try:
        control_leak()
    except RuntimeError as exc:
        results["control"] = report(exc)
    for name in [*SCRIPTED, "refused"]:
        results[f"sync-{name}"] = report(run_sync(name))
        for backend in ("asyncio", "trio"):
            error = anyio.run(run_async, name, backend=backend)
            results[f"{backend}-{name}"] = report(error)
    for cls in (neureus.Neureus, neureus.AsyncNeureus):
        for name in CONSTRUCTOR:
            for from_env in (False, True):
                label = f"constructor-{cls.__name__}-{name}-{'env' if from_env else 'arg'}"
                results[label] = report(construct(cls, name, from_env))
        for name in ("base_url", "header", "timeout"):
            for new_key in (False, True):
                label = f"with_options-{cls.__name__}-{name}-{'new-key' if new_key else 'same-key'}"
                results[label] = report(reconfigure(cls, name, new_key))
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
