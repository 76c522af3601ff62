"""An error body cannot make the client spend CPU out of proportion to its size.

``error_message_from_body`` strips tags from a non-JSON error page (an HTML 502 from a
proxy) with regular expressions; a body shaped to make them backtrack must still be read
in time linear in its size. No absolute time is asserted (these machines are shared): in
one run, one body is compared with eight bodies an eighth of its size. Linear reading
costs the same for both; quadratic reading costs the big body eight times as much.
"""

from __future__ import annotations

import time

import pytest

from neureus._exceptions import _HTML_SCAN_LIMIT, error_message_from_body, make_status_error

# The unit repeated, and what goes before and after the repeats.
PATHOLOGICAL = {
    "many_unclosed_title_tags": (b"", b"<title", b">"),
    "many_unclosed_angle_brackets": (b">", b"<", b""),
    "many_unclosed_tags": (b">", b"<a ", b""),
}
PARTS = 8
# Linear gives a ratio near 1, quadratic near PARTS: the bound sits between with room for noise.
RATIO_BOUND = 3.0


def _body(shape: tuple[bytes, bytes, bytes], size: int) -> bytes:
    before, unit, after = shape
    return before + unit * (size // len(unit)) + after


def _cpu(bodies: list[bytes]) -> float:
    start = time.process_time()
    for body in bodies:
        make_status_error(502, {"content-type": "text/html"}, body)
    return time.process_time() - start


def test_an_ordinary_html_page_gives_its_title() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"<p>nginx</p>" * 3000 + b"</body></html>"
    _, message = error_message_from_body(page, "text/html")
    assert message == "502 Bad Gateway"


@pytest.mark.parametrize("shape", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_a_pathological_error_body_is_read_in_linear_time(shape: tuple[bytes, bytes, bytes]) -> None:
    # Below the scan limit, so the limit is not what keeps it linear.
    size = _HTML_SCAN_LIMIT - 1024
    big = _body(shape, size)
    small = [_body(shape, size // PARTS)] * PARTS
    assert len(str(make_status_error(502, {"content-type": "text/html"}, big))) < 1_000
    # The best of a few interleaved rounds: another process's burst slows one round, not all.
    rounds = [(_cpu([big]), _cpu(small)) for _ in range(7)]
    big_cost = min(big for big, _ in rounds)
    small_cost = min(small for _, small in rounds)
    ratio = big_cost / max(small_cost, 1e-6)
    assert ratio < RATIO_BOUND, f"{len(big)} bytes cost {ratio:.1f}x eight bodies of {len(small[0])} bytes"
