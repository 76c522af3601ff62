from __future__ import annotations

import httpx
import pytest

from neureus import NOT_GIVEN, ConfigurationError, RetryPolicy
from neureus._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, coerce_timeout, is_loopback_host, resolve_config

KEY = "nru_live_0123456789abcdef9f3a"


def resolve(**overrides: object):
    args: dict[str, object] = {
        "api_key": KEY,
        "base_url": None,
        "timeout": NOT_GIVEN,
        "max_retries": 2,
        "default_headers": None,
        "surface": None,
        "deadline": None,
        "allow_insecure_http": False,
        "has_http_client": False,
        "environ": {},
    }
    args.update(overrides)
    return resolve_config(**args)  # type: ignore[arg-type]


def test_defaults() -> None:
    config = resolve()
    assert config.base_url == DEFAULT_BASE_URL == "https://app.neureus.ai"
    assert config.timeout == DEFAULT_TIMEOUT
    assert config.max_retries == 2
    assert config.deadline is None
    assert isinstance(config.retry_policy, RetryPolicy)


def test_key_and_url_from_environment() -> None:
    config = resolve(api_key=None, environ={"NEUREUS_API_KEY": KEY, "NEUREUS_BASE_URL": "https://eu.neureus.ai/"})
    assert config.api_key == KEY
    assert config.base_url == "https://eu.neureus.ai"


def test_arguments_win_over_environment() -> None:
    config = resolve(base_url="https://mine.example", environ={"NEUREUS_BASE_URL": "https://env.example"})
    assert config.base_url == "https://mine.example"


@pytest.mark.parametrize("environ", [{}, {"NEUREUS_API_KEY": ""}, {"NEUREUS_API_KEY": "   "}])
def test_missing_key_names_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="NEUREUS_API_KEY") as info:
        resolve(api_key=None, environ=environ)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [KEY + "\n", " " + KEY, "nru_abc def_123456", "nru_é_1234567890"])
def test_keys_that_would_break_a_header_are_refused_without_being_shown(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve(api_key=bad)
    assert bad.strip() not in str(info.value)


def test_non_string_key() -> None:
    with pytest.raises(ConfigurationError, match="string"):
        resolve(api_key=123)


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8787", "http://127.0.0.1:1", "http://127.9.9.9", "http://[::1]:8080", "http://localhost"],
)
def test_http_to_loopback_is_allowed(url: str) -> None:
    assert resolve(base_url=url).base_url == url


@pytest.mark.parametrize("url", ["http://app.neureus.ai", "http://10.0.0.1", "http://localhost.evil.com"])
def test_http_to_other_hosts_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http=True"):
        resolve(base_url=url)
    assert resolve(base_url=url, allow_insecure_http=True).base_url == url


@pytest.mark.parametrize("url", ["ftp://x.example", "app.neureus.ai", "https://x.example/?a=1", "https://"])
def test_malformed_base_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        resolve(base_url=url)


def test_timeout_forms() -> None:
    assert resolve(timeout=5).timeout == httpx.Timeout(5.0)
    assert resolve(timeout=0).timeout == httpx.Timeout(0.0)  # zero means zero, not "default"
    assert resolve(timeout=None).timeout == httpx.Timeout(None)
    custom = httpx.Timeout(3.0, connect=1.0)
    assert resolve(timeout=custom).timeout is custom


def test_caller_owned_http_client_keeps_its_timeout_unless_one_is_given() -> None:
    assert resolve(has_http_client=True).timeout is None
    assert resolve(has_http_client=True, timeout=7).timeout == httpx.Timeout(7.0)


@pytest.mark.parametrize("bad", [-1, "5", float("nan"), True])
def test_bad_timeouts(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        resolve(timeout=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", None, True])
def test_bad_max_retries(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_retries"):
        resolve(max_retries=bad)


def test_zero_retries_is_kept() -> None:
    assert resolve(max_retries=0).max_retries == 0


@pytest.mark.parametrize("bad", [0, -2, "1", float("nan")])
def test_bad_deadlines(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="deadline"):
        resolve(deadline=bad)


def test_bad_headers_and_surface() -> None:
    with pytest.raises(ConfigurationError, match=r"U\+000D \(a control character\)"):
        resolve(default_headers={"x-a": "b\r\nx-evil: 1"})
    with pytest.raises(ConfigurationError):
        resolve(default_headers=[("a", "b")])
    with pytest.raises(ConfigurationError):
        resolve(default_headers={"a": 1})
    with pytest.raises(ConfigurationError, match="surface"):
        resolve(surface="")


def test_bad_retry_policy() -> None:
    with pytest.raises(ConfigurationError, match="RetryPolicy"):
        resolve(retry_policy={"initial_wait": 1})


def test_replace_checks_and_keeps_the_rest() -> None:
    config = resolve()
    changed = config.replace(max_retries=5, timeout=3)
    assert changed.max_retries == 5
    assert changed.timeout == httpx.Timeout(3.0)
    assert changed.api_key == config.api_key
    with pytest.raises(ConfigurationError):
        config.replace(base_url="http://example.com")


def test_widget_key_detection_and_repr() -> None:
    assert resolve(api_key="pk_0123456789abcdef").is_widget_key
    assert not resolve().is_widget_key
    assert KEY not in repr(resolve())
    assert "nru_…9f3a" in repr(resolve())


def test_coerce_timeout_and_loopback_helpers() -> None:
    assert coerce_timeout(1.5) == httpx.Timeout(1.5)
    assert is_loopback_host("LOCALHOST")
    assert not is_loopback_host("example.com")
    assert repr(NOT_GIVEN) == "NOT_GIVEN" and not NOT_GIVEN


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_bad_max_response_bytes(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        resolve(max_response_bytes=bad)


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf"), True, "5"])
def test_bad_max_spend_usd(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_spend_usd"):
        resolve(max_spend_usd=bad)


@pytest.mark.parametrize("bad", ["hook", 3, {"on_request": print}])
def test_bad_hooks_container(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="hooks"):
        resolve(hooks=bad)


def test_new_limits_default_and_replace() -> None:
    config = resolve()
    assert config.max_response_bytes == 32 * 1024 * 1024
    assert config.max_spend_usd is None and config.hooks == ()
    changed = config.replace(max_response_bytes=1024, max_spend_usd=2, hooks=[print])
    assert (changed.max_response_bytes, changed.max_spend_usd, changed.hooks) == (1024, 2.0, (print,))


def test_a_base_url_that_is_not_a_string_is_refused_naming_its_type() -> None:
    from neureus import Neureus

    with pytest.raises(ConfigurationError) as info:
        Neureus(api_key="nru_test_0123456789abcd", base_url=5)  # type: ignore[arg-type]
    assert str(info.value) == "base_url must be a string; got int."
