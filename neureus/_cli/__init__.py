"""The ``neureus`` command line: ``neureus --help`` or ``python -m neureus --help``.

Only the console script and ``python -m neureus`` import this package; ``import neureus``
never does. Commands: ``chat``, ``models``, ``providers``, ``widget-key`` (the gateway),
``preprocess`` and ``emulator`` (local, no key needed).
"""

from ._main import main

__all__ = ["main"]
