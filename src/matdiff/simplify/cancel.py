"""Cancellation: the rules that make a result as short as a person writes it.

Each rule states its identity and preserves value wherever the expression
before it is defined (see rules.py). They are kept apart from the local
rules so that what they cancel, and on what domain, is read in one place
(rules.py has the others: `powers`, `inverse` (inv(inv(A)) -> A), `common-factor`):

    (x.^2).^-1 .* x       -> 1./x          (powers of one base, through a power)
    inv(A')               -> inv(A)'       (the transpose outside: one canonical form)
    A*inv(A), inv(A)*A    -> eye           (inside any product)
    sum(A, 1) - sum(B, 1) -> sum(A - B, 1) (reductions along the same axes, collected)

The domain decision (docs/printing.md, "Cancellation"): a rewrite may fill
in a removable point (`x.^2./x -> x` is defined at x = 0 where the quotient
is 0/0), never change a value where the original is defined. So a power of a
power is merged only where that holds for every real base: `(x.^a).^b ->
x.^(a*b)` for an integer b, or for a base power a that is not an even
integer; `(x.^2).^0.5` is `abs(x)`, not x, and stays.
"""

from __future__ import annotations

from ..ir import expr as ir
from ..ir.expr import Expr, split_coefficient
from ..ir.ops import Op
from . import rules as _local  # noqa: F401  (the local rules register, and are tried, first)
from .canon import relabel
from .engine import Context, rule, run

__all__ = ["power_of_power", "inverse_transpose", "inverse_product", "collect_reductions",
           "centred_sum"]


def _is_integer(v: float) -> bool:
    return float(v).is_integer()


# (x.^a).^b -> x.^(a*b) where that holds for every real x at which the left side is
# defined: b an integer, or a not an even integer ((x.^2).^0.5 = abs(x) is left alone)
@rule("power-of-power", "(x.^a).^b -> x.^(a*b) (b an integer, or a not an even integer)",
      Op.POW)
def power_of_power(e: Expr, ctx: Context) -> Expr | None:
    inner, b = e.args
    if inner.op is not Op.POW or b.op is not Op.CONST:
        return None
    base, a = inner.args
    if a.op is not Op.CONST:
        return None
    av, bv = float(a.attr), float(b.attr)
    if not _is_integer(bv) and _is_integer(av) and int(av) % 2 == 0:
        return None
    return ir.binary(Op.POW, base, ir.const(av * bv, base.shape))


def _transposed(e: Expr) -> Expr | None:
    """A when e is the transpose A' (a product of A alone with its two labels swapped)."""
    if e.op is not Op.EINSUM or len(e.args) != 1 or e.args[0].ndim != 2:
        return None
    (lab,), out, _ = e.attr
    if len(set(lab)) == 2 and list(out) == [lab[1], lab[0]]:
        return e.args[0]
    return None


def _transpose(a: Expr) -> Expr:
    return ir.einsum([a], [[0, 1]], [1, 0])


# inv(A') -> inv(A)': one canonical place for the transpose, so the two spellings collect
@rule("inverse-transpose", "inv(A') -> inv(A)'", Op.INV)
def inverse_transpose(e: Expr, ctx: Context) -> Expr | None:
    a = _transposed(e.args[0])
    if a is None:
        return None
    return _transpose(ir.matrix_fn(Op.INV, a, a.shape))


# A[i,p]*inv(A)[p,k] -> δ[i,k] and inv(A)[i,p]*A[p,k] -> δ[i,k] inside a product, where
# p is summed between the two factors only (in either orientation: A'*inv(A)' too)
@rule("inverse-product", "A*inv(A) -> eye; inv(A)*A -> eye", Op.EINSUM)
def inverse_product(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.INV:
            continue
        for j, b in enumerate(e.args):
            if j == k or b is not a.args[0]:
                continue
            kept = _contract_to_identity(ins, out, j, k)
            if kept is None:
                continue
            i_label, k_label = kept
            operands = [x for m, x in enumerate(e.args) if m not in (j, k)]
            labels = [list(lab) for m, lab in enumerate(ins) if m not in (j, k)]
            operands.append(ir.delta([dims[i_label]]))
            labels.append([i_label, k_label])
            return ir.einsum(operands, labels, list(out), dict(enumerate(dims)))
    return None


def _contract_to_identity(ins, out, j: int, k: int) -> tuple | None:
    """(i, k) when A (operand j) and inv(A) (operand k) contract to δ[i, k]."""
    (a0, a1), (v0, v1) = ins[j], ins[k]
    if len({a0, a1}) != 2 or len({v0, v1}) != 2:
        return None
    others = {x for m, lab in enumerate(ins) if m not in (j, k) for x in lab} | set(out)

    def private(x) -> bool:
        return x not in others and [x in ins[j], x in ins[k]].count(True) == 2

    if a1 == v0 and private(a1) and a0 != v1:  # A*inv(A)
        return a0, v1
    if v1 == a0 and private(a0) and v0 != a1:  # inv(A)*A
        return v0, a1
    return None


def _reduction(t: Expr) -> tuple | None:
    """(coefficient, operand, pattern) of c * (a reduction of one tensor), else None.

    The pattern is the product's labels renumbered, with its dimensions: two terms with
    equal patterns sum the same axes of same-shaped operands into the same places."""
    c, core = split_coefficient(t)
    if core.op is not Op.EINSUM or len(core.args) != 1:
        return None
    (lab,), out, dims = core.attr
    if len(set(lab)) != len(lab) or not set(lab) - set(out):
        return None  # a diagonal, or no axis summed (a transpose or a spread)
    pattern_ins, pattern_out, number = relabel([lab], out)
    pattern_dims = tuple(str(dims[x]) for x in sorted(number, key=number.__getitem__))
    return c, core.args[0], (pattern_ins, pattern_out, pattern_dims, core.args[0].shape)


# sum(A, 1)' - sum(B, 1)' -> sum(A - B, 1)': terms that reduce same-shaped tensors along the
# same axes into the same places are one reduction of the terms' sum (linearity of a sum)
@rule("collect-sums", "sum(A, 1) - sum(B, 1) -> sum(A - B, 1) (reductions along the same axes)",
      Op.ADD)
def collect_reductions(e: Expr, ctx: Context) -> Expr | None:
    groups: dict[tuple, list[int]] = {}
    found = [_reduction(t) for t in e.args]
    for k, f in enumerate(found):
        if f is not None:
            groups.setdefault(f[2], []).append(k)
    for group in groups.values():
        if len(group) < 2:
            continue
        first = e.args[group[0]]
        _, core = split_coefficient(first)
        (lab,), out, dims = core.attr
        inner = ir.add([ir.scale(found[k][1], found[k][0]) for k in group],
                       found[group[0]][1].shape)
        merged = ir.einsum([inner], [list(lab)], list(out), dict(enumerate(dims)))
        rest = [t for m, t in enumerate(e.args) if m not in group]
        return ir.add([merged, *rest], e.shape)
    return None



MAX_CENTRED_TERMS = 4


# sum(x - mean(x)) -> 0: a product that sums a factor along an axis no other factor carries
# is 0 where that factor's sum along the axis is 0 (a centred vector, X - mean(X, 1) by
# columns); the sum is simplified on its own to see it, as a person checks sum(x - mean(x))
@rule("centred-sum", "sum(x - mean(x)) -> 0; sum(X - mean(X, 1), 1) -> 0", Op.EINSUM, Op.ADD)
def centred_sum(e: Expr, ctx: Context) -> Expr | None:
    if e.op is Op.ADD:  # a term a rule just built, dropped before the sum is multiplied out
        kept = [t for t in e.args if t.op is not Op.EINSUM or not _sums_to_zero(t, ctx)]
        return ir.add(kept, e.shape) if len(kept) < len(e.args) else None
    return ir.zeros(e.shape) if _sums_to_zero(e, ctx) else None


def _sums_to_zero(e: Expr, ctx: Context) -> bool:
    """Whether the product e sums a factor, along axes no other factor carries, to 0."""
    if ("centred-sum", e) in ctx.rejected:
        return False
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.ADD or len(a.args) > MAX_CENTRED_TERMS:
            continue
        others = {x for m, lab in enumerate(ins) if m != k for x in lab} | set(out)
        summed = [x for x in ins[k] if x not in others]
        if not summed or len(set(ins[k])) != len(ins[k]):
            continue
        kept = [x for x in ins[k] if x not in summed]
        # the sum taken term by term (a sum is linear), then simplified: 1 - n/n, x - x
        total = ir.add([ir.einsum([t], [list(ins[k])], kept, dict(enumerate(dims)))
                        for t in a.args])
        inner = Context(keys=ctx.keys, disabled=ctx.disabled | {"centred-sum", "distribute",
                                                                 "factor"},
                        budget=ctx.budget)
        if ir.is_zero(run(total, inner)):
            return True
    ctx.rejected.add(("centred-sum", e))
    return False
