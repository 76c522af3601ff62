"""Local preprocessing: the Neureus gateway's 4-pass prompt pipeline, in pure Python.

Every chat request the gateway receives goes through normalize, structure, trim and
(opt-in) compress. These functions run the same passes on your machine, so you can see
and control what is sent, count tokens before you spend them, and keep long histories
small. Nothing here does I/O: no network unless *your* compressor does some.

>>> from neureus.preprocessing import preprocess
>>> history = [
...     {"role": "user", "content": "  Hello!\\r\\n\\r\\n\\r\\nCan you help?  "},
...     {"role": "system", "content": "Answer in one sentence."},
... ]
>>> result = preprocess(history, system_prompt="You are a helpful assistant.")
>>> for message in result.messages:
...     print(message["role"], repr(message["content"]))
system 'You are a helpful assistant.'
system 'Answer in one sentence.'
user 'Hello!\\n\\nCan you help?'
>>> print(result.stats)
2 → 3 messages, 14 → 19 tokens; passes: normalize, structure, trim

Each pass is public too (``normalize``, ``structure``, ``trim``, ``compress``) and returns a
new list of the kind of messages it was given. ``apreprocess`` is the async twin of
``preprocess``, for compressors that are coroutines (such as a call to the gateway).
"""

from __future__ import annotations

from ._passes import compress, normalize, structure, trim
from ._pipeline import apreprocess, preprocess
from ._result import PreprocessResult, PreprocessStats
from ._tokens import estimate_tokens
from ._types import AsyncCompressor, Compressor, TokenCounter

__all__ = [
    "AsyncCompressor",
    "Compressor",
    "PreprocessResult",
    "PreprocessStats",
    "TokenCounter",
    "apreprocess",
    "compress",
    "estimate_tokens",
    "normalize",
    "preprocess",
    "structure",
    "trim",
]

# Show the public home in reprs, help() and tracebacks' qualified names, not the private module.
for _public in (
    PreprocessResult,
    PreprocessStats,
    apreprocess,
    compress,
    estimate_tokens,
    normalize,
    preprocess,
    structure,
    trim,
):
    _public.__module__ = __name__
del _public
