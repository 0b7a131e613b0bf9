"""Moving a linear window op across a contraction: its adjoint, as a person writes it.

Forward mode differentiates conv2(X, K) wrt X as conv2(dX, K), dX carrying the
variable's axes; a gradient then contracts it with the upstream gradient G
over the output's spatial axes. Computed as written, that is the dense
Jacobian. The identity <G, conv2(dX, K)> = <conv2(G, rot180(K), k - 1), dX>
moves the op onto G, where the delta dX = I fuses away: the backward pass of
a convolution comes out as the full correlation with the flipped kernel, and
wrt K as the correlation conv2(X, G). Every linear window op has such an
adjoint (derive.rules.adjoint).
"""

from __future__ import annotations

from ..derive.rules import adjoint, window_rank
from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import WINDOW_OPS, Op, window_ranks
from .engine import Context, rule

__all__ = ["window_adjoint", "undilate", "unvec"]


@rule("unvec", "reshape(vec(X), m, n) -> X; vec(reshape(x, m, n)) -> x", Op.RESHAPE, Op.VEC)
def unvec(e: Expr, ctx: Context) -> Expr | None:
    (a,) = e.args
    inverse = Op.VEC if e.op is Op.RESHAPE else Op.RESHAPE
    if a.op is inverse and a.args[0].shape == e.shape:
        return a.args[0]
    return None


@rule("undilate", "subsample(dilate(G, s), s) -> G", Op.SUBSAMPLE)
def undilate(e: Expr, ctx: Context) -> Expr | None:
    (a,) = e.args
    if a.op is Op.DILATE and a.attr == e.attr:
        return a.args[0]
    return None


def _linear_position(node: Expr) -> int | None:
    """The argument that carries extra (trailing) axes: the one the op is applied to
    linearly in a derivative; None when there is none or both do."""
    rank = window_rank(node)
    extra = [k for k, a in enumerate(node.args) if a.ndim > rank]
    if len(extra) != 1 or node.op is Op.MAXPOOL:
        return None
    return extra[0]


def _upstream(ins, k: int, lead: list, out) -> list[int] | None:
    """The operands that make the upstream gradient: those carrying the op's output axes,
    and, closed under shared summed labels, those they are contracted with (W in
    ds'*W*vec(dP)). None when one of those labels reaches the output or the op itself."""
    taken: set[int] = set()
    labels = set(lead)
    while True:
        more = {j for j, lab in enumerate(ins) if j != k and j not in taken and set(lab) & labels}
        if not more:
            break
        taken |= more
        labels = set(lead) | {x for j in taken for x in ins[j]}
    inner = labels - set(lead)
    if inner & (set(out) | set(ins[k])):
        return None
    return sorted(taken)


@rule("window-adjoint", "sum(G .* conv2(dX, K)) -> sum(conv2(G, rot180(K), k-1) .* dX) "
      "(a linear window op moved onto the upstream gradient)", Op.EINSUM)
def window_adjoint(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, node in enumerate(e.args):
        if node.op not in WINDOW_OPS:
            continue
        position = _linear_position(node)
        if position is None:
            continue
        rank, out_rank = window_ranks(node.op, node.attr)
        lead = list(ins[k][:out_rank])
        if len(set(lead)) != out_rank or set(lead) & (set(out) | set(ins[k][out_rank:])):
            continue
        partners = _upstream(ins, k, lead, out)
        if partners is None:
            continue
        g = ir.einsum([e.args[j] for j in partners], [list(ins[j]) for j in partners], lead,
                      dict(enumerate(dims))) if partners else ir.const(1.0, node.shape[:out_rank])
        moved = adjoint(node, position, g)
        if moved is None:
            continue
        arg = node.args[position]
        fresh = [("adjoint", t) for t in range(rank)]
        before = sum(a.ndim - rank for a in node.args[:position])
        trailing = list(ins[k][out_rank + before:out_rank + before + arg.ndim - rank])
        keep = [j for j in range(len(e.args)) if j != k and j not in partners]
        operands = [e.args[j] for j in keep] + [moved, arg]
        labels = [list(ins[j]) for j in keep] + [fresh, fresh + trailing]
        return ir.einsum(operands, labels, list(out),
                         dict(enumerate(dims)) | dict(zip(fresh, arg.shape[:rank])))
    return None
