"""Stable forms: a function spelled through exp and log, rewritten to the functions that
evaluate it without overflow, before it is differentiated.

`exp(X)./sum(exp(X), 2)` overflows once an entry of X passes about 88 in float32 (709 in
float64), and its derivative, taken as written, carries `exp(X)` and
`sum(exp(X), 2).^2`, which overflow sooner and, in float64, lose every digit well before
(the cross-entropy Hessian at |x| near 190). `softmax(X, 2)` is the same function,
evaluated shifted by the row maximum, with a derivative written through itself. So the
function is rewritten first, by the named rules below (each states its identity and
preserves value wherever the spelled-out form is defined), and the derivative is taken of
the stable form. `stabilize_logged` returns the rewrites, which the step-by-step
explanation shows as the derivation's first steps.

Two phases: the quotients whose denominator is a sum of two exponentials (tanh) are
recognised before the sigmoid rule turns `1./(exp(v) + 1)` into `sigmoid(-v)`.
"""

from __future__ import annotations

from ..ir import expr as ir
from ..ir.expr import Expr, split_coefficient
from ..ir.ops import Op
from ..ir.properties import logsumexp_of
from . import rules as _rules  # noqa: F401  (registers the shared rules first)
from .engine import REWRITES, Context, Fired, Rewrite, rule, run

__all__ = ["stabilize", "stabilize_logged", "QUOTIENTS", "STABLE"]

QUOTIENTS: list[Rewrite] = []   # phase 1
STABLE: list[Rewrite] = []      # phase 2, with the simplifier's own stable-form rules
_SHARED = ("sigmoid", "sigmoid-product", "softplus", "softmax", "inverse", "spread-power")


def _exp_term(t: Expr) -> tuple[float, Expr | None] | None:
    """(c, a) for a term c*exp(a), or (c, None) for a constant c (c*exp(0))."""
    c, core = split_coefficient(t)
    if core.op is Op.CONST:
        return c * core.attr, None
    if core.op is Op.EXP:
        return c, core.args[0]
    return None


def _two_exps(e: Expr) -> list[tuple[float, Expr | None]] | None:
    if e.op is not Op.ADD or len(e.args) != 2:
        return None
    terms = [_exp_term(t) for t in e.args]
    if None in terms or all(a is None for _, a in terms):
        return None
    return terms  # type: ignore[return-value]


def _half_difference(a: Expr | None, b: Expr | None) -> Expr:
    """(a - b)/2, a missing argument standing for 0."""
    if b is None:
        return ir.scale(a, 0.5)
    if a is None:
        return ir.scale(b, -0.5)
    return ir.scale(ir.sub(a, b), 0.5)


def _tanh_ratio(num: Expr, den: Expr) -> tuple[float, Expr] | None:
    """(k, w) with num./den = k*tanh(w), for num = c*(exp(a) - exp(b)) and
    den = d*(exp(a) + exp(b)): the ratio is (c/d)*tanh((a - b)/2)."""
    n, d = _two_exps(num), _two_exps(den)
    if n is None or d is None or d[0][0] != d[1][0] or d[0][0] == 0.0:
        return None
    (c1, a1), (c2, b1) = n
    if c1 != -c2 or {a1, b1} != {d[0][1], d[1][1]} or a1 is b1:
        return None
    if c1 < 0:  # the positive term first: (1 - exp(-2u))./(1 + exp(-2u)) is tanh(u)
        (c1, a1), b1 = (c2, b1), a1
    return c1 / d[0][0], _half_difference(a1, b1)


# (exp(u) - exp(-u))./(exp(u) + exp(-u)) -> tanh(u); with any two arguments and a constant
# standing for exp(0): (exp(a) - exp(b))./(exp(a) + exp(b)) = tanh((a - b)/2), so
# (exp(2*v) - 1)./(exp(2*v) + 1) -> tanh(v), the form of gelu's tanh approximation
@rule("tanh", "(exp(u) - exp(-u))./(exp(u) + exp(-u)) -> tanh(u); "
      "(exp(a) - exp(b))./(exp(a) + exp(b)) -> tanh((a - b)/2)", Op.EINSUM, into=QUOTIENTS)
def tanh_quotient(e: Expr, ctx: Context) -> Expr | None:
    ins, _, _ = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.ADD or len(set(ins[k])) != len(ins[k]):
            continue
        for j, b in enumerate(e.args):
            if j == k or ins[j] != ins[k] or b.op is not Op.POW or \
                    b.args[1].op is not Op.CONST or b.args[1].attr != -1.0:
                continue
            found = _tanh_ratio(a, b.args[0])
            if found is None:
                continue
            coef, w = found
            t = ir.unary(Op.TANH, w)
            operands = [t if m == k else x for m, x in enumerate(e.args) if m != j]
            labels = [list(lb) for m, lb in enumerate(ins) if m != j]
            _, out, dims = e.attr
            return ir.scale(ir.einsum(operands, labels, out, dict(enumerate(dims))), coef)
    return None


def _spread(value: Expr, like: Expr, axis: int | None) -> Expr:
    """value (a scalar, or one entry per row/column) spread to like's shape along axis."""
    if axis is None:
        labels = list(range(like.ndim))
        return ir.einsum([value], [[]], labels, dict(zip(labels, like.shape)))
    return ir.einsum([value], [[1 - axis]], [0, 1], {0: like.shape[0], 1: like.shape[1]})


# log(softmax(z)) -> z - logsumexp(z): logsoftmax, finite where softmax underflows to 0
@rule("logsoftmax", "log(softmax(X, 2)) -> X - logsumexp(X, 2)", Op.LOG, into=STABLE)
def logsoftmax(e: Expr, ctx: Context) -> Expr | None:
    s = e.args[0]
    if s.op is not Op.SOFTMAX:
        return None
    z, axis = s.args[0], s.attr
    shape = () if axis is None else (z.shape[1 - axis],)
    lse = ir.matrix_fn(Op.LOGSUMEXP, z, shape, axis)
    return ir.sub(z, _spread(lse, z, axis))


# log(sum(exp(z))) -> logsumexp(z), along an axis too (the language does it while parsing;
# this rule finds the sums that other rewrites leave)
@rule("logsumexp", "log(sum(exp(x))) -> logsumexp(x); log(sum(exp(X), 2)) -> "
      "logsumexp(X, 2)", Op.LOG, into=STABLE)
def logsumexp(e: Expr, ctx: Context) -> Expr | None:
    return logsumexp_of(e.args[0])


# log(exp(z)) -> z
@rule("log-exp", "log(exp(z)) -> z", Op.LOG, into=STABLE)
def log_exp(e: Expr, ctx: Context) -> Expr | None:
    return e.args[0].args[0] if e.args[0].op is Op.EXP else None


def _sigmoid_argument(a: Expr) -> Expr | None:
    """w with a = sigmoid(w): a sigmoid, or 1 - sigmoid(u) = sigmoid(-u)."""
    if a.op is Op.SIGMOID:
        return a.args[0]
    if a.op is Op.ADD and len(a.args) == 2:
        (c, s), (one, k) = (split_coefficient(t) for t in a.args)
        if c == -1.0 and s.op is Op.SIGMOID and k.op is Op.CONST and one * k.attr == 1.0:
            return ir.neg(s.args[0])
    return None


# log(sigmoid(u)) -> -softplus(-u), log(1 - sigmoid(u)) -> -softplus(u): finite where
# sigmoid(u) underflows to 0 (or rounds to 1), and accurate where it is near 1
@rule("log-sigmoid", "log(sigmoid(u)) -> -softplus(-u); log(1 - sigmoid(u)) -> -softplus(u)",
      Op.LOG, into=STABLE)
def log_sigmoid(e: Expr, ctx: Context) -> Expr | None:
    w = _sigmoid_argument(e.args[0])
    return None if w is None else ir.neg(ir.unary(Op.SOFTPLUS, ir.neg(w)))


# log(det(K)) -> logdet(K): finite where det(K) under- or overflows
@rule("logdet", "log(det(K)) -> logdet(K)", Op.LOG, into=STABLE)
def log_det(e: Expr, ctx: Context) -> Expr | None:
    if e.args[0].op is not Op.DET:
        return None
    return ir.matrix_fn(Op.LOGDET, e.args[0].args[0], ())


def _along(t: Expr, axis: int | None, ndim: int) -> bool:
    """Whether t is constant along the softmax axis: a constant, or a product whose
    entries do not depend on the index of that axis (a spread scalar or row value)."""
    if t.op is Op.CONST:
        return True
    if t.op is not Op.EINSUM:
        return False
    ins, out, _ = t.attr
    axes = range(ndim) if axis is None else [axis]
    free = [out[k] for k in axes]
    return all(out.count(x) == 1 and not any(x in lab for lab in ins) for x in free)


# softmax(z - c) -> softmax(z) for c constant along the axis: the shift cancels in the
# quotient (exp(z - c)./sum(exp(z - c)) = exp(z)./sum(exp(z))), whatever c depends on
@rule("softmax-shift", "softmax(z - c) -> softmax(z) for c the same along the axis",
      Op.SOFTMAX, into=STABLE)
def softmax_shift(e: Expr, ctx: Context) -> Expr | None:
    split = _shifted(e)
    if split is None:
        return None
    kept, _ = split
    return ir.matrix_fn(Op.SOFTMAX, ir.add(kept, e.args[0].shape), e.shape, e.attr)


def _shifted(e: Expr) -> tuple[list[Expr], list[Expr]] | None:
    """(kept, shifts): the terms of a softmax's or logsumexp's argument that vary along its
    axis, and those the same along it; None unless there are some of each."""
    z = e.args[0]
    if z.op is not Op.ADD:
        return None
    shifts = [t for t in z.args if _along(t, e.attr, z.ndim)]
    kept = [t for t in z.args if not _along(t, e.attr, z.ndim)]
    return (kept, shifts) if shifts and kept else None


def _unspread(t: Expr, axis: int | None) -> Expr:
    """A term constant along the axis (as _along says), without that axis: the scalar a
    spread scalar holds, the column of a column spread along each row."""
    axes = list(range(t.ndim)) if axis is None else [axis]
    shape = tuple(d for k, d in enumerate(t.shape) if k not in axes)
    if t.op is Op.CONST:
        return ir.const(t.attr, shape)
    ins, out, dims = t.attr
    kept = [x for k, x in enumerate(out) if k not in axes]
    return ir.einsum(list(t.args), ins, kept, dict(enumerate(dims)))


# logsumexp(z - c) -> logsumexp(z) - c for c the same along the axis: the shift comes out
# of the log (log(sum(exp(x - m))) + m, the hand-stabilised spelling, is logsumexp(x))
@rule("logsumexp-shift", "logsumexp(z - c) -> logsumexp(z) - c for c the same along the axis",
      Op.LOGSUMEXP, into=STABLE)
def logsumexp_shift(e: Expr, ctx: Context) -> Expr | None:
    split = _shifted(e)
    if split is None:
        return None
    kept, shifts = split
    lse = ir.matrix_fn(Op.LOGSUMEXP, ir.add(kept, e.args[0].shape), e.shape, e.attr)
    return ir.add([lse, *(_unspread(t, e.attr) for t in shifts)], e.shape)


# sinh(u)./cosh(u) -> tanh(u): finite where cosh overflows
@rule("tanh-quotient", "sinh(u)./cosh(u) -> tanh(u)", Op.EINSUM, into=QUOTIENTS)
def sinh_over_cosh(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.SINH:
            continue
        for j, b in enumerate(e.args):
            if j != k and ins[j] == ins[k] and b.op is Op.POW and \
                    b.args[0].op is Op.COSH and b.args[0].args[0] is a.args[0] and \
                    b.args[1].op is Op.CONST and b.args[1].attr == -1.0:
                t = ir.unary(Op.TANH, a.args[0])
                operands = [t if m == k else x for m, x in enumerate(e.args) if m != j]
                labels = [list(lb) for m, lb in enumerate(ins) if m != j]
                return ir.einsum(operands, labels, out, dict(enumerate(dims)))
    return None


STABLE.extend(r for r in REWRITES if r.name in _SHARED)


def stabilize_logged(e: Expr) -> tuple[Expr, list[Fired]]:
    """e with its spelled-out forms rewritten to the stable functions, and the rewrites."""
    log: list[Fired] = []
    for rules in (QUOTIENTS, STABLE):
        ctx = Context(rules=rules)
        e = run(e, ctx)
        log.extend(ctx.log)
    return e, log


def stabilize(e: Expr) -> Expr:
    """e with its spelled-out forms rewritten to the stable functions (same value)."""
    return stabilize_logged(e)[0]
