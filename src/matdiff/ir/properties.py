"""Facts about an IR node that several stages ask (the simplifier, the printers)."""

from __future__ import annotations

from . import expr as ir
from .expr import Expr
from .ops import ELEMENTWISE_UNARY, Op

__all__ = ["is_symmetric", "label_of", "is_signs", "logsumexp_of"]


def is_symmetric(a: Expr) -> bool:
    """A matrix known to equal its transpose: a variable declared symmetric, and what
    keeps symmetry: inv(S), f(S) entry by entry, S + T, c*S, and the identity."""
    if a.ndim != 2:
        return False
    if a.op is Op.VAR:
        return a.attr[1]
    if a.op is Op.INV or a.op in ELEMENTWISE_UNARY:
        return is_symmetric(a.args[0])
    if a.op is Op.ADD:
        return all(is_symmetric(t) for t in a.args)
    if a.op is Op.CONST:
        return a.shape[0] == a.shape[1]
    if a.op is Op.EINSUM:
        ins, out, _ = a.attr
        if len(set(out)) == 1:  # a diagonal
            return True
        matrices = [(b, lab) for b, lab in zip(a.args, ins) if b.ndim]
        return (len(matrices) == 1 and is_symmetric(matrices[0][0])
                and sorted(matrices[0][1]) == sorted(out))  # c*S or c*S'
    return False


def label_of(a: Expr) -> tuple[str, str] | None:
    """A variable declared a distribution: (kind, along), kind "probability" or
    "one-hot", along "all" (a vector), "rows" or "cols" (the entries of each row, or
    column, of a matrix sum to 1). None for anything else."""
    if a.op is Op.VAR and len(a.attr) > 2 and a.attr[2][0] != "signs":
        return a.attr[2]
    return None


def is_signs(a: Expr) -> bool:
    """A variable declared labels(-1, 1): every entry -1 or 1, so its square is 1."""
    return a.op is Op.VAR and len(a.attr) > 2 and a.attr[2][0] == "signs"


def logsumexp_of(a: Expr) -> Expr | None:
    """The log-sum-exp whose exp the sum `a` is (log(a) equals it, evaluated stably):
    sum(exp(z)) -> logsumexp(z); exp(Z)*vector(1) -> logsumexp(Z, 2); None otherwise."""
    if a.op is not Op.EINSUM or len(a.args) != 1 or a.args[0].op is not Op.EXP:
        return None
    (lab,), out, _ = a.attr
    z = a.args[0].args[0]
    if len(set(lab)) != len(lab):
        return None
    if not out and z.ndim == 1:
        return ir.matrix_fn(Op.LOGSUMEXP, z, ())
    if z.ndim == 2 and len(out) == 1 and out[0] in lab:
        attr = 1 if out[0] == lab[0] else 0  # the rows kept: each row summed
        return ir.matrix_fn(Op.LOGSUMEXP, z, (z.shape[1 - attr],), attr)
    return None
