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

    distribute.py   products of sums distributed where that saves flops
    lower.py        IR to lazy values (values.py), one rule per kind of op
    contract.py     one einsum as a few NumPy calls, in the cheapest order
    outer.py        large broadcast products: the layout and form measured fastest
    program.py      Instructions: straight-line code, CSE, rendering (tidy.py)
    module.py       one generated module, step by step: names (naming.py), stable
                    forms, planning, lowering, each output's form, rendering
    assemble.py     the module's text around its body: docstring, imports, helpers,
                    signature, the shape checks that open it
    compile.py      CompiledFunction: validate values, pick the module, run it
    finish.py       the generated code's raw results as the caller gets them
    structured.py, blocks.py, blockplan.py
                    diagonal and block-diagonal Jacobians kept as their factors
    backends.py     the same plan for any array library (the array API); BACKENDS,
                    one record per library
    foreign.py      running it on PyTorch, JAX, CuPy or Dask values
    runtime.py      small functions the generated code calls
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir.expr import Expr
from .assemble import safe_text
from .backends import BACKENDS, Backend
from .blocks import BlockDiagonal
from .compile import CompiledFunction
from .module import ModuleSpec, Output
from .structured import Diagonal

__all__ = ["compile_derivative", "derivative_source", "compile_value_and_grad", "doc_text",
           "Diagonal", "BlockDiagonal", "CompiledFunction", "BACKENDS", "Backend"]


def doc_text(show: Any) -> str:
    """`show()` (a text of the expression) made safe for a docstring: the documentation
    of a generated module never fails compilation."""
    try:
        return safe_text(show(), 300)
    except Exception:  # noqa: BLE001 - documentation only
        return "(not printable)"


def _derivative_spec(e: Expr, variables: Mapping[str, Expr], wrt: str, order: int,
                     structured: bool, function_text: str, text: str) -> ModuleSpec:
    title = f"d/d{wrt} of {function_text}" + (f" (order {order})" if order > 1 else "")
    shape = " x ".join(str(s) for s in e.shape) or "scalar"
    kept = " (a diagonal as its vector, a block-diagonal one as its factors)" if structured else ""
    returns = f"The derivative{kept}: {text}; shape {shape}."
    split = e.ndim - variables[wrt].ndim if wrt in variables else None
    return ModuleSpec((Output(e, structured, split),), dict(variables), "derivative", title,
                      returns)


def compile_derivative(e: Expr, variables: Mapping[str, Expr], wrt: str, order: int = 1,
                       structured: bool = False, function_text: str = "",
                       text: str = "", backend: str | None = None) -> CompiledFunction:
    """fn(**values) -> e, the order-th derivative by `wrt`, as an array (a float for a scalar).

    `variables` are the function's (they name the generated function's
    arguments); the texts of the function and of e document the module. With
    `structured=True` a diagonal Jacobian or Hessian comes back as a
    `Diagonal` holding only its diagonal, a block-diagonal one (a row-wise
    softmax's) as a `BlockDiagonal` holding its factors; other results stay dense.
    `backend` (a name in BACKENDS, backends.py; None: the library of the
    values of each call) chooses the array library.
    """
    return CompiledFunction(_derivative_spec(e, variables, wrt, order, structured,
                                             function_text, text), backend=_checked(backend))


def _checked(backend: str | None) -> str | None:
    if backend is not None:
        from .backends import get_backend

        get_backend(backend)
    return backend


def derivative_source(e: Expr, variables: Mapping[str, Expr], wrt: str, order: int = 1,
                      function_text: str = "", text: str = "",
                      shapes: Mapping[str, Sequence[int]] | None = None,
                      backend: str | None = None, made_by: str | None = None,
                      expression: str | None = None,
                      how_to_size: str = "shapes={'X': (A, B)}") -> str:
    """The generated module for e (NumPy, or `backend`'s), planned for `shapes` if given,
    under a header naming `made_by` (the call or command) and `expression` (header.py)."""
    spec = _derivative_spec(e, variables, wrt, order, False, function_text, text)
    fn = CompiledFunction(spec)
    if expression is not None:
        fn.expression = expression
    return fn.source_for(backend, shapes or {}, made_by=made_by, how_to_size=how_to_size)


def compile_value_and_grad(function: Expr, gradients: Sequence[Expr], names: Sequence[str],
                           variables: Mapping[str, Expr], single: bool = False,
                           function_text: str = "",
                           node_names: Mapping[Expr, str] | None = None,
                           backend: str | None = None,
                           lines: Sequence[tuple[str | None, Expr]] = ()) -> CompiledFunction:
    """fn(**values) -> (value, gradients) of a scalar function, sharing the forward pass.

    `gradients` are the derivatives by `names`, in order; they come back as a
    tuple, or as one array when `single`. `node_names` maps IR nodes to the
    names the generated code gives them. `lines` are a program's lines computed
    first, in order (`z1 = ...`, then the backward pass `dz1 = ...`): the function
    and the gradients may be variables named after them.
    """
    outputs = (Output(function),) + tuple(Output(g) for g in gradients)
    title = f"{function_text} and its gradient in {', '.join(names)}"
    grads_doc = "gradient" if single else "(" + ", ".join("d/d" + n for n in names) + ",)"
    returns = f"(value, {grads_doc})"
    spec = ModuleSpec(outputs, dict(variables), "value_and_grad", title, returns,
                      tail_tuple=not single, names=node_names, lines=tuple(lines))

    def pack(results: list[Any]) -> Any:
        return (results[0], results[1]) if single else (results[0], tuple(results[1:]))

    return CompiledFunction(spec, pack, backend=_checked(backend))
