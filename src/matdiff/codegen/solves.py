"""inv(A) contracted with a vector or a thin matrix is a linear solve, not an inverse.

    inv(A)*b     ->  np.linalg.solve(A, b)
    inv(A)'*w    ->  np.linalg.solve(A.T, w)
    sum(inv(A))  ->  sum(np.linalg.solve(A, ones))

An explicit inverse costs about twice a solve's LU factorisation, is less
accurate, and the product after it costs a pass over n^2 numbers. When the
inverse is only ever multiplied (never an output, never a function's
argument), each factor `inv(A)` of a product whose summed index it shares
with exactly one other factor becomes a solve with that factor, and the
inverse itself is dead code. A product that keeps both of inv(A)'s indices
(the Jacobian of inv(A), an outer product) still uses the inverse.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

from ..ir.expr import Expr
from ..ir.ops import Op
from .program import Instructions

__all__ = ["solve_inverses"]

Tensor = tuple[str, list[int]]


def solve_inverses(prog: Instructions, tensors: list[Tensor], args: Sequence[Expr | None],
                   matrix_of: dict[str, str], out: Container[int],
                   only_multiplied: Container[Expr], length: Callable[[int], int]
                   ) -> tuple[list[Tensor], list[Expr | None]]:
    """(tensors, args): the (ref, labels) of one product, each solvable inverse a solve.

    `args[k]` is the IR node of tensors[k]; `matrix_of[ref]` the array whose
    inverse ref is. Labels in `out` are kept; the others are summed; `length`
    gives a label's planned length. Only a thin right-hand side (at most an
    eighth of A's columns) is solved: against a square one the inverse and a
    product cost no more, and another factor of the product may thin it first.
    """
    tensors = list(tensors)
    args = list(args)
    k = 0
    while k < len(tensors):
        arg = args[k]
        ref, lab = tensors[k]
        if (arg is None or arg.op is not Op.INV or arg not in only_multiplied
                or ref not in matrix_of or len(lab) != 2 or lab[0] == lab[1]):
            k += 1
            continue
        done = False
        for axis in (1, 0):  # inv(A)[r, c] b[c] = solve(A, b); inv(A)[r, c] w[r] = solve(A', w)
            x = lab[axis]
            if x in out:
                continue
            holders = [m for m, (_, other) in enumerate(tensors) if m != k and x in other]
            if len(holders) > 1:
                continue
            a = matrix_of[ref] if axis == 1 else prog.emit("{0}.T", (matrix_of[ref],))
            if not holders:  # summed alone: the product with a vector of ones
                b = prog.emit("np.ones_like({0}[0])", (matrix_of[ref],))
                new = (prog.emit("np.linalg.solve({0}, {1})", (a, b)), [lab[1 - axis]])
                tensors[k] = new
                args[k] = None
                done = True
                break
            m = holders[0]
            bref, blab = tensors[m]
            if blab.count(x) != 1 or len(blab) > 2 or len(set(blab)) != len(blab):
                continue
            if any(8 * length(y) > length(x) for y in blab if y != x):
                continue
            b = bref if blab[0] == x else prog.emit("{0}.T", (bref,))
            solved = prog.emit("np.linalg.solve({0}, {1})", (a, b))
            rest = [y for y in blab if y != x]
            new = (solved, [lab[1 - axis], *rest])
            for j in sorted((k, m), reverse=True):
                del tensors[j]
                del args[j]
            tensors.insert(0, new)
            args.insert(0, None)
            done = True
            break
        k = 0 if done else k + 1
    return tensors, args
