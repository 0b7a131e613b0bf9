"""The one interface between training and the engine: values -> (loss, gradients).

`gradient_function(expression, wrt, declare)` is called once per `fit` and
returns a callable plus the name of the backend that serves it, best first:

    compiled   matdiff.value_and_grad: one generated NumPy function, the
               forward pass shared between the loss and every gradient
    evaluate   the expression and one derivative per parameter, evaluated
               by the reference interpreter (always available, slower)

Switching backends is one line in BACKENDS. A backend that cannot handle
the loss (an op without generated code, say) is skipped, and the reason is
kept in `reasons` for the result's `extra`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["gradient_function", "BACKENDS"]

GradFn = Callable[[Mapping[str, Any]], tuple[float, dict[str, np.ndarray]]]


def _compiled(expression: Any, wrt: Sequence[str], declare: Any) -> GradFn:
    from ..api import value_and_grad

    fn = value_and_grad(expression, wrt=list(wrt), declare=declare)
    names = list(wrt)
    keywords = _takes_keywords(fn)

    def call(values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        out = fn(**values) if keywords else fn(values)
        value, grads = out
        if isinstance(grads, Mapping):
            grads = [grads[k] for k in names]
        elif len(names) == 1 and not isinstance(grads, tuple | list):
            grads = (grads,)
        return value, {k: g if isinstance(g, float | np.ndarray) else _dense(g)
                       for k, g in zip(names, grads, strict=True)}

    return call


def _dense(g: Any) -> np.ndarray:
    """A gradient as a float64 array (structured results densified)."""
    if hasattr(g, "dense"):
        g = g.dense()
    elif hasattr(g, "toarray"):
        g = g.toarray()
    return np.asarray(g, dtype=np.float64)


def _takes_keywords(fn: Callable) -> bool:
    """Whether fn wants values as keyword arguments (fn(**values)) or one mapping."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return True
    positional = [k for k in kinds if k in (inspect.Parameter.POSITIONAL_ONLY,
                                             inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) != 1


def _evaluated(expression: Any, wrt: Sequence[str], declare: Any) -> GradFn:
    from ..api import diff

    derivatives = {name: diff(expression, wrt=name, declare=declare) for name in wrt}

    def call(values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        value = expression.evaluate(values)
        grads = {name: np.asarray(d.evaluate(values), dtype=np.float64)
                 for name, d in derivatives.items()}
        return value, grads

    return call


#: backend name -> builder, tried in order
BACKENDS: dict[str, Callable[[Any, Sequence[str], Any], GradFn]] = {
    "compiled": _compiled,
    "evaluate": _evaluated,
}


def gradient_function(expression: Any, wrt: Sequence[str], declare: Any = None,
                      backend: str | None = None,
                      probe: Mapping[str, Any] | None = None,
                      ) -> tuple[GradFn, str, dict[str, str]]:
    """The first backend that builds (and, given `probe` values, runs) for this loss.

    Returns (function, backend name, {skipped backend: reason}).
    """
    if backend is not None and backend not in BACKENDS:
        raise MatdiffError(f"unknown gradient backend {backend!r}; valid names: "
                           f"{', '.join(BACKENDS)}")
    order = [backend] if backend else list(BACKENDS)
    reasons: dict[str, str] = {}
    for name in order:
        try:
            fn = BACKENDS[name](expression, wrt, declare)
            if probe is not None:
                fn(probe)
        except Exception as e:  # noqa: BLE001 - the next backend is the fallback
            if name == order[-1]:
                raise
            reasons[name] = f"{type(e).__name__}: {e}"
            continue
        return fn, name, reasons
    raise MatdiffError("no gradient backend could be built")  # pragma: no cover
