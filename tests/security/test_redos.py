"""An error body cannot make the client spend CPU out of proportion to its size.

``error_message_from_body`` strips tags from a non-JSON error page (an HTML 502 from a
proxy) with regular expressions; a body shaped to make them backtrack must still be read
in time linear in its size. The bodies below are small for an error page: a linear reader
takes a few milliseconds; the bound leaves a wide margin.
"""

from __future__ import annotations

import time

import pytest

from neureus._exceptions import error_message_from_body, make_status_error

BOUND = 0.1  # seconds: far more than a linear reader needs for these sizes on a slow machine

# Each well under 100 KB; the current reader spends 0.4-0.8 s on each (quadratic).
PATHOLOGICAL = {
    "many_unclosed_title_tags": b"<title" * 10_000 + b">",
    "many_unclosed_angle_brackets": b">" + b"<" * 20_000,
    "many_unclosed_tags": b">" + b"<a " * 12_000,
}


def test_an_ordinary_html_page_is_read_in_time() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"<p>nginx</p>" * 3000 + b"</body></html>"
    start = time.perf_counter()
    _, message = error_message_from_body(page, "text/html")
    assert time.perf_counter() - start < BOUND
    assert message == "502 Bad Gateway"


@pytest.mark.parametrize("body", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_a_pathological_error_body_is_read_in_linear_time(body: bytes) -> None:
    start = time.perf_counter()
    error = make_status_error(502, {"content-type": "text/html"}, body)
    elapsed = time.perf_counter() - start
    assert len(str(error)) < 1_000
    assert elapsed < BOUND, f"{len(body)} bytes took {elapsed:.2f} s"
