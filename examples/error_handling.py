"""Error handling: the typed errors, what each means, and what to do about it.

Run it with ``python examples/error_handling.py``. On the built-in emulator
(NEUREUS_API_KEY unset) the gateway is told to fail in each way in turn; on the real
gateway only the failures you can cause safely are shown.
"""

from __future__ import annotations

import os

from _setup import make_client

import neureus
from neureus.testing import FakeGateway

MESSAGES = [{"role": "user", "content": "Hello"}]


def main() -> None:
    gateway: FakeGateway | None = None
    if os.environ.get("NEUREUS_API_KEY"):
        client, where = make_client()
    else:
        gateway = FakeGateway()  # the emulator make_client() uses, kept at hand to script failures
        gateway.valid_keys = {gateway.api_key}  # it accepts any key unless told otherwise
        client = gateway.client(max_retries=1)
        where = "NEUREUS_API_KEY is not set: using the built-in offline emulator, told to fail on purpose."
    print(where)
    with client:
        # Refused locally, before anything is sent: a ValueError subclass.
        try:
            client.ai.chat(MESSAGES, temperature=3)
        except neureus.InvalidRequestError as exc:
            print(f"\nInvalidRequestError (also a ValueError): {exc}")

        # A wrong key: 401, never retried. The message shows the key redacted.
        try:
            client.with_options(api_key="nru_not_a_valid_key_1234").ai.list_models()
        except neureus.AuthenticationError as exc:
            print(f"AuthenticationError {exc.status_code}: {exc}")

        # The network: connection refused (nothing listens on port 9), after the retries.
        try:
            bad = neureus.Neureus(api_key="nru_demo_key_000000", base_url="http://127.0.0.1:9", max_retries=0)
            with bad:
                bad.ai.list_models()
        except neureus.APIConnectionError as exc:
            print(f"APIConnectionError: {exc}")

        if gateway is None:
            return

        # 429 with Retry-After: retried after the wait it asks for; here it persists.
        gateway.queue_error(429, headers={"retry-after": "0.1"}, times=2)
        try:
            client.ai.chat(MESSAGES)
        except neureus.RateLimitError as exc:
            print(f"RateLimitError {exc.status_code}: the gateway asked to retry after {exc.retry_after}s")

        # A 5xx once, then success: the retry is invisible to the caller.
        gateway.queue_error(503, times=1)
        print(f"503 then OK -> {client.ai.chat(MESSAGES).text!r}")

        # A network failure that persists: APIConnectionError (timeouts: APITimeoutError).
        gateway.queue_failure("timeout", times=2)
        try:
            client.ai.chat(MESSAGES)
        except neureus.APITimeoutError as exc:
            print(f"APITimeoutError: {exc}")

        # A stream that fails in the middle: what arrived is kept.
        gateway.queue_stream(["Half", " a", " reply"], cut_after=2)
        try:
            for token in client.ai.stream(MESSAGES):
                print(f"  token {token!r}")
        except neureus.IncompleteStreamError as exc:
            print(f"IncompleteStreamError, partial text {exc.partial_text!r}")
        gateway.queue_stream(["Oops"], error_after=1, error_message="upstream provider failed")
        try:
            client.ai.stream(MESSAGES).until_done()
        except neureus.StreamError as exc:
            print(f"StreamError: {exc}")

        # Every error above is a neureus.APIError, and every one a neureus.NeureusError.
        gateway.queue_error(500, {"error": {"message": "boom"}}, times=2)
        try:
            client.ai.list_providers()
        except neureus.APIStatusError as exc:
            print(f"APIStatusError {exc.status_code}: {exc} (an {type(exc).__name__})")


if __name__ == "__main__":
    main()
