"""The one interface between training and the engine: values -> (loss, gradients).

`gradient_function(expression, wrt, declare)` is called once per `fit` and
returns a callable plus the name of the source of gradients that serves it
(`fit(gradients=...)`), best first:

    compiled   matdiff.value_and_grad: one generated NumPy function, the
               forward pass shared between the loss and every gradient
    evaluate   the expression and one derivative per parameter, evaluated
               by the reference interpreter (always available, slower)

Adding a source is one line in GRADIENT_SOURCES. A source that cannot handle
the loss (an op without generated code, say) is skipped, and the reason is
kept in `reasons` for the result's `extra` (`skipped_backends`). These are
not array libraries ("numpy", "torch", ...: codegen.backends); `fit` runs
on NumPy.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["gradient_function", "gradient_option", "GRADIENT_SOURCES", "BACKENDS"]

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


#: source name -> builder, tried in order
GRADIENT_SOURCES: dict[str, Callable[[Any, Sequence[str], Any], GradFn]] = {
    "compiled": _compiled,
    "evaluate": _evaluated,
}
BACKENDS = GRADIENT_SOURCES  # the old name, kept for callers outside the package


def gradient_option(gradients: str | None, backend: str | None = None) -> str | None:
    """fit's `gradients=`, or its old name `backend=` (a DeprecationWarning).

    `backend=` meant "compiled" or "evaluate"; an array library there
    ("torch") is refused with what to write instead.
    """
    if backend is None:
        return gradients
    if gradients is not None:
        raise MatdiffError("give gradients= only (backend= is its old name)")
    if backend not in GRADIENT_SOURCES:
        raise MatdiffError(f"fit(backend={backend!r}): fit runs on NumPy and cannot pick an "
                           "array library yet; backend= was the old name of gradients= "
                           f"({', '.join(map(repr, GRADIENT_SOURCES))})")
    warnings.warn("fit(backend=...) is now fit(gradients=...); backend= will name the "
                  "array library", DeprecationWarning, stacklevel=_caller_level())
    return backend


def _caller_level() -> int:
    """The stacklevel of the first frame outside matdiff: the user's call of fit."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("matdiff"):
        frame, level = frame.f_back, level + 1
    return level


def gradient_function(expression: Any, wrt: Sequence[str], declare: Any = None,
                      gradients: str | None = None,
                      probe: Mapping[str, Any] | None = None,
                      ) -> tuple[GradFn, str, dict[str, str]]:
    """The first source that builds (and, given `probe` values, runs) for this loss.

    Returns (function, source name, {skipped source: reason}).
    """
    if gradients is not None and gradients not in GRADIENT_SOURCES:
        raise MatdiffError(f"unknown gradients={gradients!r}; valid names: "
                           f"{', '.join(GRADIENT_SOURCES)}")
    order = [gradients] if gradients else list(GRADIENT_SOURCES)
    reasons: dict[str, str] = {}
    for name in order:
        try:
            fn = GRADIENT_SOURCES[name](expression, wrt, declare)
            if probe is not None:
                fn(probe)
        except Exception as e:  # noqa: BLE001 - the next source is the fallback
            if name == order[-1]:
                raise
            reasons[name] = f"{type(e).__name__}: {e}"
            continue
        return fn, name, reasons
    raise MatdiffError("no source of gradients could be built")  # pragma: no cover
