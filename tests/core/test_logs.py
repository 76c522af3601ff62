from __future__ import annotations

import logging

import pytest

from neureus import _logs


def test_nothing_is_configured_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_logs, "_configured", False)
    level = _logs.logger.level
    _logs.configure_from_env({})
    assert _logs.logger.level == level


@pytest.mark.parametrize(("value", "level"), [("debug", logging.DEBUG), (" INFO ", logging.INFO)])
def test_neureus_log_sets_the_level_and_a_handler(monkeypatch: pytest.MonkeyPatch, value: str, level: int) -> None:
    monkeypatch.setattr(_logs, "_configured", False)
    monkeypatch.setattr(_logs.logger, "handlers", [])
    monkeypatch.setattr(_logs.logger, "level", logging.NOTSET)
    _logs.configure_from_env({"NEUREUS_LOG": value})
    assert _logs.logger.level == level
    assert len(_logs.logger.handlers) == 1
    _logs.configure_from_env({"NEUREUS_LOG": "warning"})  # only the first call counts
    assert _logs.logger.level == level
    assert logging.getLogger("httpx").level == logging.NOTSET  # httpx's logger is left alone


def test_filter_redacts_secret_shapes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="neureus"):
        _logs.logger.debug("header was %s", "Bearer nru_live_0123456789abcdef")
        _logs.logger.debug("plain %s", "text")
    assert "0123456789abcdef" not in caplog.text
    assert "plain text" in caplog.text
