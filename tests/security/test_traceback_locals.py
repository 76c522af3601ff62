"""No secret in the frame locals of a failed call, as crash reporters render them.

Sentry (with its defaults), rich's ``show_locals``, ``pytest -l`` and IPython's verbose
tracebacks show every local of every frame of an exception and of its whole
``__cause__``/``__context__`` chain, httpx's and httpcore's frames included. A plain
``str`` or ``tuple`` holding a key anywhere on that stack uploads the key.

Each failure runs through the public API, sync and async (asyncio and trio), and its
exception is rendered by ``traceback.TracebackException(capture_locals=True)`` and, when
rich is installed, by rich's traceback with ``show_locals=True``, and by IPython's verbose
traceback. The Sentry check is in
``test_sentry.py``. The secrets are module constants (never locals of the test), so a hit
is a frame of the SDK or of httpx.
"""

from __future__ import annotations

import contextlib
import io
import socket
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import neureus
from neureus import NeureusError, RetryPolicy
from neureus.testing import FakeGateway

from ._streams import drain

pytestmark = pytest.mark.anyio

API_KEY = "ZZq7SECRETplainApiKey0123456789abcdef"  # no known shape: only "by value" catches it
BYOK_KEY = "AIzaSyQ7SECRETgooglekey0123456789xyz"
WIDGET_KEY = "pk_live_SECRETwidget0123456789abcdef"
SECRETS = (API_KEY, BYOK_KEY, WIDGET_KEY)
MESSAGES = [{"role": "user", "content": "Hello"}]
FAST = RetryPolicy(initial_wait=0.001, max_wait=0.001, jitter=lambda: 0.0)


def render_locals(error: BaseException) -> str:
    """What ``capture_locals`` tracebacks show (the whole chain)."""
    return "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())


def render_rich(error: BaseException) -> str:
    """rich's traceback with ``show_locals=True``, every frame, the whole chain."""
    rich_traceback = pytest.importorskip("rich.traceback")
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None, legacy_windows=False)
    rendered = rich_traceback.Traceback.from_exception(
        type(error), error, error.__traceback__, show_locals=True, max_frames=0, locals_max_string=400
    )
    console.print(rendered)
    return out.getvalue()


def render_ipython(error: BaseException) -> str:
    """IPython's verbose traceback (``%xmode verbose``): the variables of each frame's lines."""
    ultratb = pytest.importorskip("IPython.core.ultratb")
    try:
        formatter = ultratb.VerboseTB(theme_name="nocolor")
    except TypeError:  # IPython < 9
        formatter = ultratb.VerboseTB(color_scheme="NoColor")
    return str(formatter.text(type(error), error, error.__traceback__))


def leaks(text: str) -> list[str]:
    return [secret[:12] for secret in SECRETS if secret in text]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key_of(kind: str) -> str:
    # Through a call, not a global name on the calling line: IPython's verbose traceback shows
    # the globals a line mentions, and the caller's own line is not the SDK's to hide.
    return {"byok": BYOK_KEY, "widget": WIDGET_KEY}[kind]


def scenario(name: str, gateway: FakeGateway) -> tuple[dict[str, Any], Callable[[Any, Any], Any]]:
    """Script the failure; return the client options and the call that fails."""
    options: dict[str, Any] = {"max_retries": 0}
    if name == "401":
        gateway.queue_error(401, {"error": {"message": "bad key", "type": "auth"}})
        return options, lambda api, c: api.run(c.ai.chat(MESSAGES))
    if name == "500_after_retries":
        gateway.queue_error(500, {"error": "upstream down"}, times=3)
        options.update(max_retries=2, retry_policy=FAST)
        return options, lambda api, c: api.run(c.ai.chat(MESSAGES))
    if name == "timeout":
        gateway.queue_failure("timeout", times=2)
        options.update(max_retries=1, retry_policy=FAST)
        return options, lambda api, c: api.run(c.ai.embeddings(["a"]))
    if name == "reset":
        gateway.queue_failure("reset")
        return options, lambda api, c: api.run(c.ai.list_models())
    if name == "stream_error":
        gateway.queue_stream(["a", "b", "c"], error_after=1, error_message="boom")
        return options, lambda api, c: drain(api, c.ai.stream(MESSAGES))
    if name == "stream_cut":
        gateway.queue_stream(["a", "b", "c"], cut_after=1)
        return options, lambda api, c: drain(api, c.ai.stream(MESSAGES))
    if name == "set_provider_key_422":
        gateway.queue_error(422, {"error": "rejected"})
        return options, lambda api, c: api.run(c.ai.set_provider_key("google", key_of("byok")))
    if name == "set_provider_key_500":
        gateway.queue_error(500, {"error": "down"}, times=2)
        options.update(max_retries=1, retry_policy=FAST)
        return options, lambda api, c: api.run(c.ai.set_provider_key("google", key_of("byok")))
    if name == "rotate_provider_key_timeout":
        gateway.queue_failure("timeout")
        return options, lambda api, c: api.run(c.ai.rotate_provider_key("google", key_of("byok")))
    if name == "revoke_widget_key_404":
        gateway.queue_error(404, {"error": "no such key"})
        return options, lambda api, c: api.run(c.ai.revoke_widget_key(key_of("widget")))
    if name == "revoke_widget_key_connect":
        gateway.queue_failure("connect")
        return options, lambda api, c: api.run(c.ai.revoke_widget_key(key_of("widget")))
    if name == "unreadable_2xx":
        gateway.queue_error(200, b"<html>not json</html>", path="/ai/providers/google/key")
        return options, lambda api, c: api.run(c.ai.set_provider_key("google", key_of("byok")))
    if name == "bad_extra_body":
        return options, lambda api, c: api.run(c.ai.chat(MESSAGES, extra_body={"x": object()}))
    raise AssertionError(name)


SCENARIOS = [
    "401",
    "500_after_retries",
    "timeout",
    "reset",
    "stream_error",
    "stream_cut",
    "set_provider_key_422",
    "set_provider_key_500",
    "rotate_provider_key_timeout",
    "revoke_widget_key_404",
    "revoke_widget_key_connect",
    "unreadable_2xx",
    "bad_extra_body",
]


async def fail(api: Any, name: str) -> BaseException:
    gateway = FakeGateway(api_key=API_KEY)
    gateway.widget_keys[WIDGET_KEY] = {"tenant": API_KEY, "agent_id": None}
    api.gateway = gateway
    options, call = scenario(name, gateway)
    client = api.client(**options)
    try:
        await call(api, client)
    except (NeureusError, ValueError) as exc:
        return exc
    raise AssertionError(f"{name}: the call did not fail")


@pytest.mark.parametrize("name", SCENARIOS)
async def test_no_secret_in_captured_locals(api: Any, name: str) -> None:
    error = await fail(api, name)
    text = render_locals(error)
    assert "Locals" in text or " = " in text  # the render really has locals in it
    assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.parametrize("name", ["401", "set_provider_key_500", "revoke_widget_key_connect", "stream_cut"])
async def test_no_secret_in_rich_show_locals(api: Any, name: str) -> None:
    error = await fail(api, name)
    text = render_rich(error)
    assert "locals" in text.lower()
    assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.parametrize("name", ["set_provider_key_422", "revoke_widget_key_connect", "500_after_retries"])
async def test_no_secret_in_ipython_verbose_tracebacks(api: Any, name: str) -> None:
    error = await fail(api, name)
    text = render_ipython(error)
    assert "spec" in text  # the frames' variables were rendered
    assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.network
async def test_connection_refused_on_a_real_socket_shows_no_secret(api: Any) -> None:
    """The real httpx/httpcore stack, down to the refused connect."""
    client = api.real_client(api_key=API_KEY, base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0)
    with pytest.raises(neureus.APIConnectionError) as caught:
        await api.run(client.ai.set_provider_key("google", BYOK_KEY))
    assert caught.value.__cause__ is not None  # httpx's exception and its frames are in the chain
    for text in (render_locals(caught.value), render_rich(caught.value)):
        assert not leaks(text), leaks(text)


@pytest.mark.network
async def test_read_timeout_on_a_real_socket_shows_no_secret(api: Any) -> None:
    """A server that accepts and never answers: httpcore's read frames are on the stack."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        client = api.real_client(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0, timeout=0.05)
        with pytest.raises(neureus.APITimeoutError) as caught:
            await api.run(client.ai.revoke_widget_key(WIDGET_KEY))
    text = render_locals(caught.value)
    assert "httpcore" in text  # the transport's own frames were rendered
    assert not leaks(text), leaks(text)


@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus])
def test_a_client_whose_construction_failed_renders_with_its_locals(cls: Any) -> None:
    """The half-built client is ``self`` in the constructor's frame: a renderer calls its
    repr, which must not fail (the whole report would be lost), and the caller's ``api_key``
    argument is not among the locals (it is sealed on entry)."""
    with pytest.raises(neureus.ConfigurationError) as caught:
        cls(api_key=API_KEY, base_url="http://127.0.0.1:9", default_headers={"x-note": "caf\u00e9"})
    for text in (render_locals(caught.value), render_rich(caught.value)):
        assert f"{cls.__name__}(<not configured>)" in text  # the frame's locals were rendered
        assert not leaks(text), leaks(text)


class _HookClass:
    def on_request(self, record: Any) -> None: ...


# Every ConfigurationError a constructor (or with_options) can raise with a valid key: the
# caller's api_key argument must not be in the frames' locals (nor os.environ, which holds
# NEUREUS_API_KEY). Options only: the key is passed inline, from a module constant.
BAD_OPTIONS: dict[str, dict[str, Any]] = {
    "base_url_http_not_loopback": {"base_url": "http://gateway.example.com"},
    "base_url_userinfo": {"base_url": "https://user:pass@gateway.example.com"},
    "base_url_query": {"base_url": "https://gateway.example.com/?x=1"},
    "base_url_relative": {"base_url": "/just/a/path"},
    "base_url_invalid": {"base_url": "https://[::1"},
    "base_url_not_a_string": {"base_url": 5},
    "default_header_value": {"default_headers": {"x-note": "caf\u00e9"}},
    "default_header_name": {"default_headers": {"bad name": "x"}},
    "default_headers_not_a_mapping": {"default_headers": ["x"]},
    "timeout": {"timeout": -1},
    "max_retries": {"max_retries": -1},
    "surface": {"surface": "caf\u00e9"},
    "deadline": {"deadline": 0},
    "max_response_bytes": {"max_response_bytes": 0},
    "max_spend_usd": {"max_spend_usd": -1},
    "hooks_not_a_list": {"hooks": "x"},
    "hook_is_a_class": {"hooks": [_HookClass]},
    "retry_policy": {"retry_policy": object()},
    "http_client_of_the_wrong_kind": {"http_client": object()},
}
WITH_OPTIONS_ONLY = {"http_client_of_the_wrong_kind"}  # with_options takes no http_client


def _renders(error: BaseException) -> list[str]:
    texts = [render_locals(error)]
    with contextlib.suppress(pytest.skip.Exception):  # rich not installed: the stdlib render still runs
        texts.append(render_rich(error))
    return texts


@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus], ids=["Neureus", "AsyncNeureus"])
@pytest.mark.parametrize("problem", sorted(BAD_OPTIONS))
def test_a_failed_construction_shows_no_key_in_its_locals(cls: Any, problem: str) -> None:
    with pytest.raises(neureus.ConfigurationError) as caught:
        cls(api_key=API_KEY, **BAD_OPTIONS[problem])
    for text in _renders(caught.value):
        assert "Locals" in text or " = " in text or "locals" in text  # locals were rendered
        assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus], ids=["Neureus", "AsyncNeureus"])
@pytest.mark.parametrize("problem", ["base_url_http_not_loopback", "default_header_value", "timeout"])
def test_a_failed_construction_with_the_key_from_the_environment_shows_no_key(
    cls: Any, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUREUS_API_KEY", API_KEY)
    with pytest.raises(neureus.ConfigurationError) as caught:
        cls(**BAD_OPTIONS[problem])
    for text in _renders(caught.value):
        assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus], ids=["Neureus", "AsyncNeureus"])
@pytest.mark.parametrize("problem", sorted(set(BAD_OPTIONS) - WITH_OPTIONS_ONLY))
def test_a_failed_with_options_shows_no_key_in_its_locals(cls: Any, problem: str) -> None:
    client = cls(api_key=API_KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(neureus.ConfigurationError) as caught:
        client.with_options(**BAD_OPTIONS[problem])
    for text in _renders(caught.value):
        assert not leaks(text), (leaks(text), text[-3000:])
    with pytest.raises(neureus.ConfigurationError) as caught:
        client.with_options(api_key=WIDGET_KEY, **BAD_OPTIONS[problem])  # a new key, passed here
    for text in _renders(caught.value):
        assert not leaks(text), (leaks(text), text[-3000:])


@pytest.mark.parametrize("cls", [neureus.Neureus, neureus.AsyncNeureus], ids=["Neureus", "AsyncNeureus"])
def test_a_key_refused_at_construction_is_not_in_the_locals_either(cls: Any) -> None:
    with pytest.raises(neureus.ConfigurationError) as caught:
        cls(api_key=API_KEY + "\n")  # a stray newline: refused, and its message shows none of it
    for text in _renders(caught.value):
        assert API_KEY[:12] not in text, text[-3000:]
