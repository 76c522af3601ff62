"""httpcore's pool sweep without its quadratic count (loaded with the SDK's own pools).

httpcore 1.0's ``_assign_requests_to_connections`` runs at every request and every response
end. For each idle connection it decides whether the pool holds too many with
``len([connection.is_idle() for connection in self._connections])``: a list built by calling
``is_idle()`` on every connection, whose length is just ``len(self._connections)`` (the calls
change nothing). With dozens of calls in flight and as many idle connections that is
thousands of calls per sweep, made under the pool's lock; in a sync pool, threads that
spend longer between calls leave more connections idle, so the sweeps grow longer exactly
when the lock is busiest (encode/httpcore#1035, pydantic/httpx2#974).

The SDK's own pools run httpcore's own method, recompiled once with that expression
replaced by ``len(self._connections)``: the same decisions, in linear time. Only when the
expression is found in the method's source as expected; otherwise (another httpcore, no
source) the pool keeps httpcore's method unchanged.
"""

from __future__ import annotations

import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

import httpcore

__all__ = ["QUADRATIC", "linear_sweep", "use_linear_sweep"]

QUADRATIC = "len([connection.is_idle() for connection in self._connections])"
_LINEAR = "len(self._connections)"
_METHOD = "_assign_requests_to_connections"


def linear_sweep(pool_class: type) -> Callable[..., Any] | None:
    """``pool_class``'s sweep with the count made linear, or None if it cannot be."""
    method = getattr(pool_class, _METHOD, None)
    try:
        source = textwrap.dedent(inspect.getsource(method))  # type: ignore[arg-type]
        module = inspect.getmodule(method)
    except (OSError, TypeError):
        return None
    if module is None or source.count(QUADRATIC) != 1 or not source.startswith(f"def {_METHOD}("):
        return None
    namespace: dict[str, Any] = {}
    code = compile(source.replace(QUADRATIC, _LINEAR), inspect.getfile(module), "exec")
    # httpcore's own source, with the one expression above changed.
    exec(code, vars(module), namespace)  # nosec B102
    function: Callable[..., Any] = namespace[_METHOD]
    return function


_SWEEPS: dict[type, Callable[..., Any] | None] = {
    pool_class: linear_sweep(pool_class) for pool_class in (httpcore.ConnectionPool, httpcore.AsyncConnectionPool)
}


def use_linear_sweep(pool: Any) -> None:
    """Give ``pool`` (one of the SDK's own) the linear sweep, if the class whose sweep it runs
    (httpcore's pool, or a proxy pool inheriting it) has one."""
    owner = next((cls for cls in type(pool).__mro__ if _METHOD in vars(cls)), None)
    sweep = _SWEEPS.get(owner) if owner is not None else None
    if sweep is not None:
        setattr(pool, _METHOD, types.MethodType(sweep, pool))
