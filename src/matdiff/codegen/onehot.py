"""Products with a matrix declared one-hot are indexing: a gather, and an add-at for the adjoint.

    Y*E     ->  E[Y.argmax(axis=1)]                       (Y one-hot rows, n x k)
    Y'*G    ->  _scatter_rows(G, Y.argmax(axis=1), k)     (an add-at into k rows)

A dense product with a one-hot n x k matrix costs n k d flops where the
rows it selects are n d numbers: an embedding lookup written as `Y*E`, and
its gradient `Y'*G`, would multiply mostly zeros. The declaration is the
contract (a compiled function trusts it as `evaluate` checks it): each row
of Y (each column for "one-hot columns", the vector for "one-hot vector")
holds one 1. The row indices cost one pass over Y (argmax), shared by every
product of the function.

Each library says what it can in its Backend record (`one_hot`, backends.py).
The gather is integer-array indexing, which every library has (and the array
API standard since 2024.12). The add-at is each library's own, the helper
`_scatter_rows`: `np.add.at` (NumPy), `index_add_` (PyTorch), `.at[idx].add`
(JAX: functional, so jax.jit and jax.grad trace it), `cupyx.scatter_add`
(CuPy). Dask and the portable module have none (nor has the standard): they
gather and keep the product `Y'*G`. Where a library's argmax is slow, its
`_hot` finds the 1s instead (PyTorch: torch.max's indices; JAX: a product
with 0, 1, ..., k-1 where the dtype holds k exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

from ..ir.expr import Expr
from ..ir.ops import Op
from .program import Instructions

__all__ = ["index_one_hot", "one_hot_axis"]

Tensor = tuple[str, list[int]]


def one_hot_axis(e: Expr | None) -> int | None:
    """The axis along which the variable e holds a single 1 (None: not declared one-hot)."""
    if e is None or e.op is not Op.VAR or len(e.attr) < 3:
        return None
    kind, along = e.attr[2]
    if kind != "one-hot":
        return None
    return {"all": 0, "rows": 1, "cols": 0}.get(along) if e.ndim == (1 if along == "all"
                                                                        else 2) else None


def index_one_hot(prog: Instructions, tensors: list[Tensor], args: Sequence[Expr | None],
                  out: Container[int], dimcode: Callable[[int], str], scatter: bool = True
                  ) -> tuple[list[Tensor], list[Expr | None]]:
    """(tensors, args): the (ref, labels) of one product, each one-hot factor indexing.

    `args[k]` is the IR node of tensors[k]; labels in `out` are kept, the
    others summed; `dimcode(label)` is the code of a label's length;
    `scatter=False` (a library without an add-at) gathers only.
    """
    tensors, args = list(tensors), list(args)
    k = 0
    while k < len(tensors):
        axis = one_hot_axis(args[k])
        ref, lab = tensors[k]
        done = None
        if axis is not None and len(set(lab)) == len(lab):
            done = _gather(prog, tensors, k, axis, out) or (scatter and _scatter(
                prog, tensors, k, axis, out, dimcode)) or None
        if done is None:
            k += 1
            continue
        new, gone = done
        for j in sorted(gone, reverse=True):
            del tensors[j]
            del args[j]
        tensors.insert(0, new)
        args.insert(0, None)
        k = 0
    return tensors, args


def _partner(tensors: list[Tensor], k: int, x: int, out: Container[int]) -> int | None:
    """The one other factor that carries the summed label x once (a matrix at most)."""
    if x in out:
        return None
    holders = [m for m, (_, lab) in enumerate(tensors) if m != k and x in lab]
    if len(holders) != 1:
        return None
    lab = tensors[holders[0]][1]
    if lab.count(x) != 1 or len(lab) > 2 or len(set(lab)) != len(lab):
        return None
    return holders[0]


def _index(prog: Instructions, ref: str, ndim: int, axis: int) -> str:
    """The position of the 1 along `axis` (per row, per column, or of the vector)."""
    return prog.emit("np.argmax({0})" if ndim == 1 else f"np.argmax({{0}}, axis={axis})", (ref,))


def _gather(prog, tensors, k, axis, out):
    """sum_c Y[i, c] E[c, d] = E[idx[i], d]: the rows of E that Y selects."""
    ref, lab = tensors[k]
    x = lab[axis]
    m = _partner(tensors, k, x, out)
    if m is None:
        return None
    other = [y for y in lab if y != x]            # i (none for a one-hot vector)
    eref, elab = tensors[m]
    if any(y in elab for y in other):
        return None
    idx = _index(prog, ref, len(lab), axis)
    p = elab.index(x)
    code = "{0}[{1}]" if p == 0 else "{0}[:, {1}]"
    return (prog.emit(code, (eref, idx)), [*elab[:p], *other, *elab[p + 1:]]), (k, m)


def _scatter(prog, tensors, k, axis, out, dimcode):
    """sum_i Y[i, c] G[i, d] = the rows of G added at rows idx[i] of a k x d array of zeros."""
    ref, lab = tensors[k]
    if len(lab) != 2:
        return None
    x, i = lab[axis], lab[1 - axis]
    if x not in out or any(x in other for m, (_, other) in enumerate(tensors) if m != k):
        return None
    m = _partner(tensors, k, i, out)
    if m is None:
        return None
    gref, glab = tensors[m]
    idx = _index(prog, ref, 2, axis)
    g = gref if glab[0] == i else prog.emit("{0}.T", (gref,))
    rest = [y for y in glab if y != i]
    code = f"_scatter_rows({{0}}, {{1}}, {dimcode(x)})"
    return (prog.emit(code, (g, idx)), [x, *rest]), (k, m)
