"""Derivatives compiled to NumPy code as fast as a careful human writes it.

    fn = matdiff.diff("norm2(X*w - y)^2", wrt="w").compile()
    fn(X=X, w=w, y=y)                  # the gradient
    print(d.source())                   # the generated module, readable
    vg = matdiff.value_and_grad("sum(log(1 + exp(-y .* (X*w))))", wrt=["w"])
    loss, (g,) = vg(X=X, w=w, y=y)

The pipeline: IR -> distribute (products of sums, by flop count) -> lower
(lazy structured values) -> contract (opt_einsum paths, BLAS calls) ->
program (CSE, dead code, inlining) -> module source -> exec. See
docs of each module; `compile.CompiledFunction` caches one module per
shape signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MatdiffError
from .compile import CompiledFunction
from .module import ModuleSpec, Output, build_module, safe_text
from .structured import Diagonal

if TYPE_CHECKING:  # pragma: no cover
    from ..api import Derivative, Expression

__all__ = ["compile_derivative", "derivative_source", "value_and_grad", "Diagonal",
           "CompiledFunction"]


def _derivative_spec(d: Derivative, structured: bool) -> ModuleSpec:
    title = f"d/d{d.wrt} of {_text(d.function)}" + (f" (order {d.order})" if d.order > 1 else "")
    shape = " x ".join(str(s) for s in d.shape) or "scalar"
    returns = f"The derivative{' (its diagonal)' if structured else ''}: {_text(d)}; shape {shape}."
    return ModuleSpec((Output(d.ir, structured),), dict(d.variables), "derivative", title, returns)


def _text(e: Any) -> str:
    try:
        return safe_text(e.to_text(), 300)
    except Exception:  # noqa: BLE001 - documentation only
        return "(not printable)"


def compile_derivative(d: Derivative, structured: bool = False) -> CompiledFunction:
    """fn(**values) -> the derivative as an array (a float for a scalar).

    With `structured=True` a diagonal Jacobian or Hessian comes back as a
    `Diagonal` holding only its diagonal; other results stay dense.
    """
    return CompiledFunction(_derivative_spec(d, structured))


def derivative_source(d: Derivative, shapes: Mapping[str, Sequence[int]] | None = None) -> str:
    """The generated NumPy module for d, planned for `shapes` ({name: shape}) if given."""
    spec = _derivative_spec(d, False)
    if not shapes:
        return build_module(spec)[0]
    return CompiledFunction(spec).source(**{k: tuple(v) for k, v in shapes.items()})


def value_and_grad(expr: str | Expression, wrt: str | Sequence[str],
                   declare: Mapping[str, str] | None = None) -> CompiledFunction:
    """fn(**values) -> (value, gradient) of a scalar expression, sharing the forward pass.

    With a list of names, the gradients come back as a tuple in that order.
    """
    from ..api import Expression, diff, parse

    f = expr if isinstance(expr, Expression) else parse(expr, declare)
    if f.ir.ndim != 0:
        shape = " x ".join(str(s) for s in f.ir.shape)
        raise MatdiffError(f"value_and_grad needs a scalar expression; this one is {shape}")
    single = isinstance(wrt, str)
    if not single and not isinstance(wrt, list | tuple):
        raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
    names = [wrt] if single else list(wrt)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
    if len(set(names)) != len(names):
        raise MatdiffError(f"wrt names a variable twice: {names}")
    grads = [diff(f, wrt=n, declare=declare) for n in names]
    variables = dict(f.variables)
    for g in grads:
        variables.update(g.variables)
    outputs = (Output(f.ir),) + tuple(Output(g.ir) for g in grads)
    title = f"{_text(f)} and its gradient in {', '.join(names)}"
    grads_doc = "gradient" if single else "(" + ", ".join("d/d" + n for n in names) + ",)"
    returns = f"(value, {grads_doc})"
    spec = ModuleSpec(outputs, variables, "value_and_grad", title, returns,
                      tail_tuple=not single)

    def pack(results: list[Any]) -> Any:
        return (results[0], results[1]) if single else (results[0], tuple(results[1:]))

    return CompiledFunction(spec, pack)
