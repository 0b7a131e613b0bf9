"""The derivative rule of every op, in one table keyed by op.

A rule gets the node, the derivatives of its arguments (None where an
argument does not depend on the variable: an exact zero) and the labels of
the variable's axes, and returns the node's derivative: a tensor of shape
node.shape + shape(variable), or None for an exact zero. Rules are grouped by
kind (see docs/contributing.md): the product (multilinear: one term per
operand), sums (linear), element-wise functions (f'(a) times the seed, entry
by entry) and the few matrix functions with rules of their own.

Adding an op: an element-wise function needs one line in
ELEMENTWISE_DERIVATIVES (f'(a), the formula its op spec states); any other op
one rule function and its line in RULES. tests/test_op_spec.py checks both.

Kinks follow the article: the derivative of relu, max, min, abs, sign and
step at the kink is taken as 0 (step(0) = 0, sign(0) = 0). The reductions
max(x) and min(x) send the gradient to the extreme entry, a tie split evenly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import ELEMENTWISE_UNARY, Op, window_ranks

__all__ = ["RULES", "ELEMENTWISE_DERIVATIVES", "DerivativeRule", "adjoint", "window_rank"]

DerivativeRule = Callable[[Expr, list, list], Expr | None]


def _labels(node: Expr, wrt_dims: list) -> tuple[list[int], list[int], dict]:
    """The node's axis labels, the variable's axis labels after them, and all their dims."""
    node_labels = list(range(node.ndim))
    wrt_labels = [node.ndim + j for j in range(len(wrt_dims))]
    dims = dict(zip(node_labels, node.shape)) | dict(zip(wrt_labels, wrt_dims))
    return node_labels, wrt_labels, dims


def _pointwise(coef: Expr, seed: Expr, wrt_dims: list) -> Expr:
    """coef (shape of the node) times the seed dA (node shape + wrt shape), entry by entry."""
    L, W, dims = _labels(coef, wrt_dims)
    return ir.einsum([coef, seed], [L, L + W], L + W, dims)


def _sum_terms(terms: list[Expr | None]) -> Expr | None:
    terms = [t for t in terms if t is not None]
    return ir.add(terms) if terms else None


# ---------------------------------------------------------------- products and sums

def _einsum(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """Product rule: d(prod A_k) = sum_k (... dA_k ...), dA_k carrying the variable's axes."""
    ins, out, dims = node.attr
    first = len(dims)
    W = [first + j for j in range(len(wrt_dims))]
    all_dims = dict(enumerate(dims)) | dict(zip(W, wrt_dims))
    terms = []
    for k, dA in enumerate(dargs):
        if dA is None:
            continue
        operands = list(node.args)
        operands[k] = dA
        labels = [list(lab) for lab in ins]
        labels[k] = labels[k] + W
        terms.append(ir.einsum(operands, labels, list(out) + W, all_dims))
    return _sum_terms(terms)


def _concat(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d[a; b] = [da; db]: each block's derivative in its place, zeros where a block does not
    depend on the variable (the variable's axes follow the node's, so the axis is the same)."""
    if all(d is None for d in dargs):
        return None
    blocks = [ir.zeros(tuple(a.shape) + tuple(wrt_dims)) if d is None else d
              for a, d in zip(node.args, dargs)]
    return ir.concat(blocks, node.attr, node.ndim + len(wrt_dims))


def _add(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """Sum rule."""
    return _sum_terms(dargs)


# ---------------------------------------------------------------- element-wise

def _one(e: Expr) -> Expr:
    return ir.const(1.0, e.shape)


def _pow(e: Expr, p: float) -> Expr:
    return ir.binary(Op.POW, e, ir.const(p, e.shape))


def _times(a: Expr, b: Expr) -> Expr:
    L = list(range(a.ndim))
    return ir.einsum([a, b], [L, L], L)


# f'(a), given a and y = f(a); None: the derivative is exactly zero
ELEMENTWISE_DERIVATIVES: dict[Op, Callable[[Expr, Expr], Expr | None]] = {
    Op.EXP: lambda a, y: y,                                          # exp' = exp
    Op.LOG: lambda a, y: _pow(a, -1.0),                              # log' = 1/a
    Op.SIN: lambda a, y: ir.unary(Op.COS, a),                        # sin' = cos
    Op.COS: lambda a, y: ir.neg(ir.unary(Op.SIN, a)),                # cos' = -sin
    Op.TAN: lambda a, y: ir.add([_one(a), _pow(y, 2.0)]),            # tan' = 1 + tan^2
    Op.TANH: lambda a, y: ir.sub(_one(a), _pow(y, 2.0)),             # tanh' = 1 - tanh^2
    Op.SINH: lambda a, y: ir.unary(Op.COSH, a),                      # sinh' = cosh
    Op.COSH: lambda a, y: ir.unary(Op.SINH, a),                      # cosh' = sinh
    Op.SQRT: lambda a, y: ir.scale(_pow(y, -1.0), 0.5),              # sqrt' = 1/(2 sqrt)
    Op.ABS: lambda a, y: ir.unary(Op.SIGN, a),                       # |a|' = sign(a), 0 at 0
    Op.SIGN: lambda a, y: None,                                      # flat but at 0
    Op.SIGMOID: lambda a, y: _times(y, ir.sub(_one(a), y)),          # s' = s (1 - s)
    Op.RELU: lambda a, y: ir.unary(Op.STEP, a),                      # relu' = step, 0 at 0
    Op.SOFTPLUS: lambda a, y: ir.unary(Op.SIGMOID, a),               # softplus' = sigmoid
    Op.STEP: lambda a, y: None,                                      # flat but at 0
    Op.LOGSIGMOID: lambda a, y: ir.unary(Op.SIGMOID, ir.neg(a)),      # = 1 - sigmoid(a)
    Op.ERF: lambda a, y: ir.scale(ir.unary(Op.EXP, ir.neg(_pow(a, 2.0))),
                                  2.0 / math.sqrt(math.pi)),        # erf' = 2 exp(-a^2)/sqrt(pi)
    Op.GELU: lambda a, y: ir.add([                                   # Phi(a) + a phi(a)
        ir.scale(ir.add([_one(a), ir.unary(Op.ERF, ir.scale(a, 1 / math.sqrt(2.0)))]), 0.5),
        ir.scale(_times(a, ir.unary(Op.EXP, ir.scale(_pow(a, 2.0), -0.5))),
                 1 / math.sqrt(2 * math.pi))]),
    Op.ARCSIN: lambda a, y: _pow(ir.sub(_one(a), _pow(a, 2.0)), -0.5),
    Op.ARCCOS: lambda a, y: ir.neg(_pow(ir.sub(_one(a), _pow(a, 2.0)), -0.5)),
    Op.ARCTAN: lambda a, y: _pow(ir.add([_one(a), _pow(a, 2.0)]), -1.0),
}


def _elementwise(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """Element-wise chain rule: d f(a) = f'(a) .* da (a diagonal Jacobian)."""
    coef = ELEMENTWISE_DERIVATIVES[node.op](node.args[0], node)
    if coef is None or dargs[0] is None:
        return None
    return _pointwise(coef, dargs[0], wrt_dims)


def _power(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d(a.^b) = b .* a.^(b-1) .* da + a.^b .* log(a) .* db."""
    a, b = node.args
    da, db = dargs
    terms = []
    if da is not None:
        b_minus_1 = ir.add([b, ir.const(-1.0, b.shape)])
        terms.append(_pointwise(_times(b, ir.binary(Op.POW, a, b_minus_1)), da, wrt_dims))
    if db is not None:
        terms.append(_pointwise(_times(node, ir.unary(Op.LOG, a)), db, wrt_dims))
    return _sum_terms(terms)


def _extremum(larger: bool) -> DerivativeRule:
    """max(a, b): da where a > b, db where b > a; at a tie against a constant neither (0,
    as at the article's kink). When both arguments vary, a tie can hold on a whole region
    (max(x, 2*x - x) is x): there b takes the rest, 1 - step(a - b), so that the two
    slopes always add up to the whole one."""
    def rule(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
        a, b = node.args
        da, db = dargs
        a_wins = ir.unary(Op.STEP, ir.sub(a, b) if larger else ir.sub(b, a))
        if da is not None and db is not None:
            b_wins = ir.sub(ir.const(1.0, a_wins.shape), a_wins)
        else:
            b_wins = ir.unary(Op.STEP, ir.sub(b, a) if larger else ir.sub(a, b))
        return _sum_terms([
            None if da is None else _pointwise(a_wins, da, wrt_dims),
            None if db is None else _pointwise(b_wins, db, wrt_dims),
        ])
    return rule


def _flat(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """eq(a, b) is 0 or 1: flat wherever it is continuous, its derivative 0."""
    return None


def _reduced_extremum(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d max(x) = w' dx, w = eq(x, max(x))/sum(eq(x, max(x))): the extreme entry's slope,
    a tie split evenly. eq compares x with the maximum computed from the same value, so
    it finds the arg-max exactly; step(max(x) - x) would not, once the difference of a
    sum such as max(W*x + b) - (W*x + b) is regrouped and rounds. w is flat: the second
    derivative is 0."""
    (x,), (dx,) = node.args, dargs
    _, W, dims = _labels(node, wrt_dims)
    if node.attr is not None:  # max(X, [], d): the same per row (attr 1) or column (0)
        dims |= {"i": x.shape[0], "j": x.shape[1]}
        kept = "i" if node.attr == 1 else "j"
        hit = ir.binary(Op.EQ, x, ir.einsum([node], [[kept]], ["i", "j"], dims))
        count = ir.einsum([hit], [["i", "j"]], [kept], dims)
        return ir.einsum([_pow(count, -1.0), hit, dx], [[kept], ["i", "j"], ["i", "j"] + W],
                         [kept] + W, dims)
    dims |= {"i": x.shape[0]}
    spread = ir.einsum([node], [[]], ["i"], dims)
    hit = ir.binary(Op.EQ, x, spread)
    count = ir.einsum([hit], [["i"]], [], dims)
    return ir.einsum([_pow(count, -1.0), hit, dx], [[], ["i"], ["i"] + W], W, dims)


def _slope(elu: bool) -> DerivativeRule:
    """leaky_relu(a, s), elu(a, s): slope 1 where a > 0, below it s (leaky) or s exp(a)
    (elu); at a = 0 the slope below (PyTorch's choice). ds: min(a, 0), exp(min(a, 0)) - 1."""
    def rule(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
        a, s = node.args
        da, ds = dargs
        above = ir.unary(Op.STEP, a)
        below = ir.sub(_one(a), above)
        low = ir.binary(Op.MIN, a, ir.const(0.0, a.shape))
        terms = []
        if da is not None:
            scale = _times(s, _times(ir.unary(Op.EXP, low), below) if elu else below)
            terms.append(_pointwise(ir.add([above, scale]), da, wrt_dims))
        if ds is not None:
            coef = ir.sub(ir.unary(Op.EXP, low), _one(a)) if elu else low
            terms.append(_pointwise(coef, ds, wrt_dims))
        return _sum_terms(terms)
    return rule


# ---------------------------------------------------------------- matrix functions

def _inv(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d inv(A) = -inv(A) dA inv(A)."""
    (dA,) = dargs
    _, W, dims = _labels(node, wrt_dims)
    i, j, k, l = "i", "j", "k", "l"
    dims |= {i: node.shape[0], j: node.shape[1], k: node.shape[1], l: node.shape[0]}
    return ir.neg(ir.einsum([node, dA, node], [[i, k], [k, l] + W, [l, j]], [i, j] + W, dims))


def _det(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d det(A) = det(A) tr(inv(A) dA)."""
    (A,), (dA,) = node.args, dargs
    inv = ir.matrix_fn(Op.INV, A, A.shape)
    _, W, dims = _labels(node, wrt_dims)
    return ir.einsum([node, inv, dA], [[], ["j", "i"], ["i", "j"] + W], W, dims)


def _logdet(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d logdet(A) = tr(inv(A) dA)."""
    (A,), (dA,) = node.args, dargs
    inv = ir.matrix_fn(Op.INV, A, A.shape)
    _, W, dims = _labels(node, wrt_dims)
    return ir.einsum([inv, dA], [["j", "i"], ["i", "j"] + W], W, dims)


def _softmax(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d softmax(x) = diag(s) dx - s s' dx; along an axis the same per row (column):
    ds[i,j] = s[i,j] dX[i,j] - s[i,j] sum_l s[i,l] dX[i,l], block-diagonal, never dense."""
    (dx,) = dargs
    _, W, dims = _labels(node, wrt_dims)
    s = node
    if node.attr is None:
        return ir.sub(ir.einsum([s, dx], [["i"], ["i"] + W], ["i"] + W, dims),
                      ir.einsum([s, s, dx], [["i"], ["j"], ["j"] + W], ["i"] + W, dims))
    rows, cols = node.shape
    dims |= {"i": rows, "j": cols, "l": cols if node.attr == 1 else rows}
    other = ["i", "l"] if node.attr == 1 else ["l", "j"]
    return ir.sub(ir.einsum([s, dx], [["i", "j"], ["i", "j"] + W], ["i", "j"] + W, dims),
                  ir.einsum([s, s, dx], [["i", "j"], other, other + W], ["i", "j"] + W, dims))


def _logsumexp(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d logsumexp(x) = softmax(x)' dx; along an axis, per row (column)."""
    (x,), (dx,) = node.args, dargs
    s = ir.matrix_fn(Op.SOFTMAX, x, x.shape, node.attr)
    _, W, dims = _labels(node, wrt_dims)
    if node.attr is None:
        return ir.einsum([s, dx], [["i"], ["i"] + W], W, dims)
    dims |= {"i": x.shape[0], "j": x.shape[1]}
    kept = "i" if node.attr == 1 else "j"
    return ir.einsum([s, dx], [["i", "j"], ["i", "j"] + W], [kept] + W, dims)


def _norm2(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d norm2(x) = <x, dx> / norm2(x)."""
    (x,), (dx,) = node.args, dargs
    _, W, dims = _labels(node, wrt_dims)
    L = [("x", k) for k in range(x.ndim)]
    return ir.einsum([_pow(node, -1.0), x, dx], [[], L, L + W], W, dims)


# ---------------------------------------------------------------- window ops

def window_rank(node: Expr) -> int:
    """The number of spatial (leading) axes of a window op's argument."""
    return window_ranks(node.op, node.attr)[0]


def _move_last(e: Expr, start: int, count: int) -> Expr:
    """e with its axes start .. start + count - 1 moved to the end."""
    L = list(range(e.ndim))
    return ir.einsum([e], [L], L[:start] + L[start + count:] + L[start:start + count])


def _convolution(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d conv2(X, K) = conv2(dX, K) + conv2(X, dK): bilinear, one term per argument (the
    variable's axes ride along as trailing axes, moved last)."""
    (a, b), (da, db) = node.args, dargs
    terms = []
    if da is not None:
        terms.append(_move_last(ir.window(node.op, [da, b], node.attr), a.ndim, len(wrt_dims)))
    if db is not None:
        terms.append(ir.window(node.op, [a, db], node.attr))
    return _sum_terms(terms)


def _linear_window(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """rot180, meanpool, upsample, dilate, subsample, vec, reshape are linear:
    d f(X) = f(dX)."""
    return ir.window(node.op, [dargs[0]], node.attr)


def _maxpool(node: Expr, dargs: list, wrt_dims: list) -> Expr | None:
    """d maxpool(X, s) = meanpool(W .* dX, s) with W = hit .* upsample(1./meanpool(hit)),
    hit = eq(X, upsample(maxpool(X, s), s)): each block's slope goes to its arg-max, a tie
    split evenly (as max(x) does). W is flat: the second derivative is 0."""
    (x,), (dx,) = node.args, dargs
    rank, s = node.attr
    hit = ir.binary(Op.EQ, x, ir.window(Op.UPSAMPLE, [node], (rank, s)))
    share = _pow(ir.window(Op.MEANPOOL, [hit], (rank, s)), -1.0)  # divided at pooled size
    weight = _times(hit, ir.window(Op.UPSAMPLE, [share], (rank, s)))
    return ir.window(Op.MEANPOOL, [_pointwise(weight, dx, wrt_dims)], (rank, s))


def _dilated(g: Expr, rank: int, stride: int) -> Expr:
    return g if stride == 1 else ir.window(Op.DILATE, [g], (rank, stride))


def adjoint(node: Expr, position: int, g: Expr) -> Expr | None:
    """The adjoint of the linear window op `node` in its argument `position`, applied to g
    (shape of the node's spatial axes): the A with <g, node(dA)> = <A, dA>. None where the
    op is not linear there or sizes do not fit. For y = conv2(X, K, p, s), stride 1:
    wrt K, conv2(X, g, p) (X correlated with the upstream gradient); wrt X, conv2(g,
    rot180(K), k - 1 - p) (the full correlation with the flipped kernel); a stride s
    first spreads g apart (dilate(g, s)). The language pads both axes alike, so a k x l
    kernel (k > l) gets k - l zero columns each side, which turns the one padding
    k - 1 - p into l - 1 - p along the short axis: conv2(g, [0, rot180(K), 0], k - 1 - p)."""
    rank = window_rank(node)
    if node.op in (Op.CONV1, Op.CONV2):
        (pad, stride), (a, b) = node.attr, node.args
        gd = _dilated(g, rank, stride)
        if position == 0:
            if b.ndim != rank or any(not isinstance(k, int) or k - 1 - pad < 0
                                     for k in b.shape[:rank]):
                return None
            k = max(b.shape[:rank])
            out = ir.window(node.op, [gd, _bordered(ir.window(Op.ROT180, [b], (rank,)), k)],
                            (k - 1 - pad, 1))
            return out if out.shape == a.shape[:rank] else None
        if a.ndim != rank:
            return None
        out = ir.window(node.op, [a, gd], (pad, 1))
        return out if out.shape == b.shape[:rank] else None
    if node.op is Op.VEC:
        return ir.window(Op.RESHAPE, [g], node.args[0].shape[:2])
    if node.op is Op.RESHAPE:
        return ir.window(Op.VEC, [g], (2,))
    s = node.attr[-1]
    if node.op is Op.ROT180:
        return ir.window(Op.ROT180, [g], (rank,))
    if node.op is Op.MEANPOOL:
        return ir.scale(ir.window(Op.UPSAMPLE, [g], (rank, s)), 1.0 / s ** rank)
    if node.op is Op.UPSAMPLE:
        return ir.scale(ir.window(Op.MEANPOOL, [g], (rank, s)), float(s ** rank))
    if node.op is Op.DILATE:
        return ir.window(Op.SUBSAMPLE, [g], (rank, s))
    if node.op is Op.SUBSAMPLE:  # exact only where the last entry is kept
        out = ir.window(Op.DILATE, [g], (rank, s))
        return out if out.shape == node.args[0].shape[:rank] else None
    return None


def _bordered(kernel: Expr, k: int) -> Expr:
    """kernel with k - l zeros on both sides of each axis of length l < k: a k x l kernel
    as a k x (2k - l) one, whose correlation padded by k - 1 - p is the k x l kernel's
    padded by k - 1 - p along rows and l - 1 - p along columns."""
    for axis, l in enumerate(kernel.shape):
        if l < k:
            side = list(kernel.shape)
            side[axis] = k - l
            zeros = ir.zeros(tuple(side))
            kernel = ir.concat([zeros, kernel, zeros], axis, kernel.ndim)
    return kernel


RULES: dict[Op, DerivativeRule] = {
    Op.EINSUM: _einsum,
    Op.ADD: _add,
    Op.CONCAT: _concat,
    **{op: _elementwise for op in ELEMENTWISE_UNARY},
    Op.POW: _power,
    Op.MAX: _extremum(larger=True),
    Op.MIN: _extremum(larger=False),
    Op.EQ: _flat,
    Op.LEAKY_RELU: _slope(elu=False),
    Op.ELU: _slope(elu=True),
    Op.INV: _inv,
    Op.DET: _det,
    Op.LOGDET: _logdet,
    Op.SOFTMAX: _softmax,
    Op.LOGSUMEXP: _logsumexp,
    Op.NORM2: _norm2,
    Op.VMAX: _reduced_extremum,
    Op.VMIN: _reduced_extremum,
    Op.CONV1: _convolution,
    Op.CONV2: _convolution,
    Op.ROT180: _linear_window,
    Op.MEANPOOL: _linear_window,
    Op.UPSAMPLE: _linear_window,
    Op.DILATE: _linear_window,
    Op.SUBSAMPLE: _linear_window,
    Op.VEC: _linear_window,
    Op.RESHAPE: _linear_window,
    Op.MAXPOOL: _maxpool,
}
