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

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["gradient_function", "BACKENDS"]

GradFn = Callable[[Mapping[str, Any]], tuple[float, dict[str, np.ndarray]]]


def _compiled(expression: Any, wrt: Sequence[str], declare: Any) -> GradFn:
    from ..api import value_and_grad

    names = list(wrt)
    fn = value_and_grad(expression, wrt=names, declare=declare)

    def call(values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        value, grads = fn(**values)  # the gradients: a tuple, in the order of names
        return value, dict(zip(names, grads, strict=True))

    return call


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
