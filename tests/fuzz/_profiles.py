"""Hypothesis profiles of the fuzz suite.

The budget is ``NEUREUS_FUZZ_EXAMPLES`` examples per test (200 by default, so the normal
run stays fast). The long run is::

    NEUREUS_FUZZ_EXAMPLES=10000 pytest tests/fuzz

Profiles are applied per test (``@FUZZ``, ``@FUZZ_IO``), never loaded globally, so other
suites that use hypothesis keep their own settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("NEUREUS_FUZZ_EXAMPLES", "200"))

settings.register_profile(
    "neureus-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=False,
    print_blob=True,
)
settings.register_profile(
    "neureus-fuzz-io",  # examples that go through a client (MockTransport): a quarter of the budget
    parent=settings.get_profile("neureus-fuzz"),
    max_examples=max(20, EXAMPLES // 4),
)

FUZZ = settings(settings.get_profile("neureus-fuzz"))
FUZZ_IO = settings(settings.get_profile("neureus-fuzz-io"))
