"""Local rewrite rules: each states its identity and preserves value.

"Preserves value" means: wherever the expression before the rewrite is
defined, the expression after has the same value. Cancelling `x .* (1./x)`
therefore also fills in the removable point x = 0 (the derivative of
`norm2(X)^2` is `2*X`, also at X = 0, where the unsimplified
`2*norm2(X)*X/norm2(X)` is 0/0); no rule changes a defined value.
"""

from __future__ import annotations

import math

from ..ir import expr as ir
from ..ir.expr import Expr, split_coefficient
from ..ir.ops import Op
from ..ir.properties import is_signs, is_symmetric, label_of
from ..ir.union_find import UnionFind
from .engine import Context, rule

__all__ = ["symmetric", "collect", "powers", "sigmoid_quotient", "sigmoid_product",
           "softmax_sum", "softplus", "tensor_sum", "fuse", "one_minus", "label_sum",
           "block_product", "sign_square", "inverse", "spread_power", "block_delta",
           "block_sum", "block_select", "centring"]


def _with_operands(e: Expr, operands: list[Expr], ins: list) -> Expr:
    _, out, dims = e.attr
    return ir.einsum(operands, ins, out, dict(enumerate(dims)))


# A symmetric matrix equals its transpose, so its two labels in a product may be
# swapped; choosing the canonical order lets A*x and x'*A (= A'*x) be collected.
@rule("symmetric", "A' -> A for a symmetric matrix A", Op.EINSUM)
def symmetric(e: Expr, ctx: Context) -> Expr | None:
    ins, _, _ = e.attr
    positions = [k for k, a in enumerate(e.args)
                 if len(ins[k]) == 2 and ins[k][0] != ins[k][1] and is_symmetric(a)]
    if not positions:
        return None
    best, best_key = e, ctx.keys.einsum_order(e)[1:]
    for k in positions:
        cur_ins = [list(lab) for lab in best.attr[0]]
        cur_ins[k] = cur_ins[k][::-1]
        cand = _with_operands(best, list(best.args), cur_ins)
        if cand.op is not Op.EINSUM:  # S' -> S: the product was only a transpose
            return cand
        if len(cand.args) != len(e.args):
            continue
        cand_key = ctx.keys.einsum_order(cand)[1:]
        if cand_key < best_key:
            best, best_key = cand, cand_key
    return best if best is not e else None


# a + a -> 2*a where the two terms are equal up to the order of a product's factors
@rule("collect", "A*x + x'*A' -> 2*A*x (like terms, in any order of factors)", Op.ADD)
def collect(e: Expr, ctx: Context) -> Expr | None:
    groups: dict[int, list[tuple[float, Expr]]] = {}
    for t in e.args:
        c, core = split_coefficient(t)
        groups.setdefault(ctx.keys.key(core), []).append((c, core))
    if all(len(g) == 1 for g in groups.values()):
        return None
    terms = []
    for g in groups.values():
        coef = sum(c for c, _ in g)
        core = g[0][1]
        terms.append(ir.scale(core, coef) if core.op is not Op.CONST
                     else ir.const(coef * core.attr, e.shape))
    return ir.add(terms, e.shape)


def _base_and_power(a: Expr) -> tuple[Expr, float]:
    """(x, p) for a = x.^p; (x.^a).^k is x.^(a*k) for a whole number k (where x.^a is
    defined), so 1./x.^2 is x.^-2 and cancels against x."""
    if a.op is Op.POW and a.args[1].op is Op.CONST:
        base, p = a.args[0], a.args[1].attr
        if base.op is Op.POW and base.args[1].op is Op.CONST and float(p).is_integer():
            return base.args[0], base.args[1].attr * p
        return base, p
    return a, 1.0


# x.^a .* x.^b -> x.^(a+b) on the same entries; x .* (1./x) -> 1 (x nonzero)
@rule("powers", "x.^a .* x.^b -> x.^(a + b); x .* (1./x) -> 1", Op.EINSUM)
def powers(e: Expr, ctx: Context) -> Expr | None:
    ins, _, _ = e.attr
    groups: dict[tuple, list[int]] = {}
    for k, a in enumerate(e.args):
        if a.op is Op.CONST:
            continue
        base, _ = _base_and_power(a)
        groups.setdefault((ctx.keys.key(base), ins[k]), []).append(k)
    merge = [g for g in groups.values() if len(g) > 1]
    if not merge:
        return None
    drop: set[int] = set()
    operands, labels = [], []
    for k, a in enumerate(e.args):
        if k in drop:
            continue
        group = next((g for g in merge if g[0] == k), None)
        if group is None:
            operands.append(a)
            labels.append(list(ins[k]))
            continue
        base, _ = _base_and_power(a)
        p = sum(_base_and_power(e.args[j])[1] for j in group)
        drop.update(group)
        # x.^0 is 1, kept as a constant so that a sum over its index still counts
        operands.append(ir.binary(Op.POW, base, ir.const(p, base.shape)) if p != 0.0
                        else ir.const(1.0, base.shape))
        labels.append(list(ins[k]))
    return _with_operands(e, operands, labels)


def _exp_plus_constant(a: Expr) -> tuple[Expr, float] | None:
    """(v, c) when a is exp(v) + c for a constant c > 0."""
    if a.op is not Op.ADD or len(a.args) != 2:
        return None
    x, c = a.args
    if c.op is Op.CONST and c.attr > 0.0 and x.op is Op.EXP:
        return x.args[0], c.attr
    return None


def _log_of(c: float, shape: tuple) -> Expr:
    """log(c) kept as a call (exact, and it reads `sigmoid(log(0.5) - a)`), spread to shape."""
    log_c = ir.unary(Op.LOG, ir.const(c))
    labels = list(range(len(shape)))
    return ir.einsum([log_c], [[]], labels, dict(zip(labels, shape))) if shape else log_c


def _log_constant(e: Expr) -> float | None:
    """The value of log(c) for a constant c > 0 (perhaps spread over a shape), else None."""
    if e.op is Op.EINSUM and len(e.args) == 1 and not e.attr[0][0]:  # a scalar spread
        e = e.args[0]
    if e.op is Op.LOG and e.args[0].op is Op.CONST and e.args[0].attr > 0.0:
        return math.log(e.args[0].attr)
    return None


def _reflects(w: Expr, u: Expr) -> float | None:
    """L when w is L - u for a constant L (up to how u's coefficient is written)."""
    shift = 0.0
    if w.op is Op.ADD and len(w.args) == 2:
        value = _log_constant(w.args[1])
        if value is None and w.args[1].op is Op.CONST:
            value = w.args[1].attr
        if value is not None:
            w, shift = w.args[0], value
    c, core = split_coefficient(w)
    cu, core_u = split_coefficient(u)
    return shift if core is core_u and c == -cu else None


# 1./(1 + exp(v)) -> sigmoid(-v), and its powers: (1 + exp(v)).^-k -> sigmoid(-v).^k; with
# another constant c > 0, (c + exp(v)).^-k -> c^-k * sigmoid(log(c) - v).^k, since
# c + exp(v) = c*(1 + exp(v - log(c))): finite where exp(v) overflows
@rule("sigmoid", "1./(1 + exp(-u)) -> sigmoid(u); 1./(c + exp(v)) -> sigmoid(log(c) - v)/c",
      Op.POW)
def sigmoid_quotient(e: Expr, ctx: Context) -> Expr | None:
    base, ex = e.args
    if ex.op is not Op.CONST or ex.attr >= 0.0:
        return None
    found = _exp_plus_constant(base)
    if found is None:
        return None
    v, c = found
    factor = c ** ex.attr
    if not 1e-300 < factor < 1e300:
        return None
    w = ir.neg(v) if c == 1.0 else ir.add([ir.neg(v), _log_of(c, v.shape)])
    s = ir.unary(Op.SIGMOID, w)
    power = ir.binary(Op.POW, s, ir.const(-ex.attr, s.shape))
    return power if c == 1.0 else ir.scale(power, factor)


# exp(u).^p .* sigmoid(-u).^q -> sigmoid(u).^p .* sigmoid(-u).^(q-p)  (exp(u)/(1 + exp(u)))
# and sigmoid(u) .* sigmoid(-u) -> sigmoid(u) .* (1 - sigmoid(u)); with a shift L,
# exp(u).^p .* sigmoid(L - u).^q -> exp(p*L) * sigmoid(u - L).^p .* sigmoid(L - u).^(q-p)
@rule("sigmoid-product", "exp(u)./(1 + exp(u)) -> sigmoid(u); sigmoid(-u) -> 1 - sigmoid(u)",
      Op.EINSUM)
def sigmoid_product(e: Expr, ctx: Context) -> Expr | None:
    ins = e.attr[0]
    for k, a in enumerate(e.args):
        base_a, p = _base_and_power(a)
        if base_a.op not in (Op.EXP, Op.SIGMOID) or p <= 0:
            continue
        u = base_a.args[0]
        target = ir.unary(Op.SIGMOID, ir.neg(u))
        for j, b in enumerate(e.args):
            base, q = _base_and_power(b)
            if j == k or ins[j] != ins[k] or q < 1.0:
                continue
            if base is not target:
                shifted = _shifted_exp(e, k, j, base_a, p, base, q)
                if shifted is not None:
                    return shifted
                continue
            if base_a.op is Op.SIGMOID:
                one_minus = ir.sub(ir.const(1.0, u.shape), base_a)
                replaced = ir.binary(Op.POW, one_minus, ir.const(q, u.shape))
                operands = [replaced if m == j else x for m, x in enumerate(e.args)]
            elif q >= p:
                s = ir.binary(Op.POW, ir.unary(Op.SIGMOID, u), ir.const(p, u.shape))
                rest = ir.binary(Op.POW, target, ir.const(q - p, u.shape))
                operands = [s if m == k else rest if m == j else x
                            for m, x in enumerate(e.args)]
            else:
                continue
            return _with_operands(e, operands, [list(lab) for lab in ins])
    return None


def _shifted_exp(e: Expr, k: int, j: int, exp_u: Expr, p: float, sig: Expr,
                 q: float) -> Expr | None:
    """exp(u).^p .* sigmoid(L - u).^q -> exp(p*L) * sigmoid(u - L).^p .* sigmoid(L - u).^(q-p)
    (e's operands k and j); None when the pair is not of that form."""
    if exp_u.op is not Op.EXP or sig.op is not Op.SIGMOID or q < p:
        return None
    shift = _reflects(sig.args[0], exp_u.args[0])
    if not shift:  # None (not a reflection) or 0 (the unshifted rule's case)
        return None
    factor = math.exp(p * shift)
    if not 1e-300 < factor < 1e300:
        return None
    u = exp_u.args[0]
    s = ir.binary(Op.POW, ir.unary(Op.SIGMOID, ir.neg(sig.args[0])), ir.const(p, u.shape))
    rest = ir.binary(Op.POW, sig, ir.const(q - p, u.shape))
    operands = [s if m == k else rest if m == j else x for m, x in enumerate(e.args)]
    return ir.scale(_with_operands(e, operands, [list(lab) for lab in e.attr[0]]), factor)


# c*a.^p - c*a.^(p+1) -> c*a.^p .* (1 - a), entry by entry: s - s.^2 is s.*(1 - s), the
# form in which the derivative of sigmoid and the logistic Hessian are written
@rule("one-minus", "s - s.^2 -> s.*(1 - s)", Op.ADD)
def one_minus(e: Expr, ctx: Context) -> Expr | None:
    split = [split_coefficient(t) for t in e.args]
    for i, (ci, ti) in enumerate(split):
        base, p = _base_and_power(ti)
        if base.shape != e.shape or base.op is Op.CONST:
            continue
        for j, (cj, tj) in enumerate(split):
            base_j, q = _base_and_power(tj)
            if j != i and base_j is base and q == p + 1.0 and cj == -ci:
                factored = ir.scale(_elementwise(ti, ir.sub(ir.const(1.0, e.shape), base)), ci)
                rest = [t for k, t in enumerate(e.args) if k not in (i, j)]
                return ir.add([factored, *rest], e.shape)
    return None


def _elementwise(a: Expr, b: Expr) -> Expr:
    labels = list(range(a.ndim))
    return ir.einsum([a, b], [labels, labels], labels)


# sum(softmax(z)) -> 1: a softmax summed over an index nothing else carries
@rule("softmax-sum", "sum(softmax(z)) -> 1", Op.EINSUM)
def softmax_sum(e: Expr, ctx: Context) -> Expr | None:
    ins, out, _ = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.SOFTMAX or a.attr is not None:  # along an axis: label-sum
            continue
        (i,) = ins[k]
        if i in out or any(i in lab for m, lab in enumerate(ins) if m != k):
            continue
        operands = [x for m, x in enumerate(e.args) if m != k]
        labels = [list(lab) for m, lab in enumerate(ins) if m != k]
        return _with_operands(e, operands, labels)
    return None


# log(1 + exp(u)) -> softplus(u)
@rule("softplus", "log(1 + exp(u)) -> softplus(u)", Op.LOG)
def softplus(e: Expr, ctx: Context) -> Expr | None:
    found = _exp_plus_constant(e.args[0])
    if found is None or found[1] != 1.0:
        return None
    return ir.unary(Op.SOFTPLUS, found[0])


# (T1 + T2)[..] * X -> T1*X + T2*X for a sum of 3- or 4-tensors inside a product:
# such a sum has no matrix form, while its terms fuse with the product (deltas vanish)
@rule("expand", "(δ[p,i]*A[j,p] + δ[p,j]*A[p,i])*B[p,q] -> A[j,i]*B[i,q] + A[i,j]*B[j,q]",
      Op.EINSUM)
def tensor_sum(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is Op.ADD and a.ndim > 2:
            terms = [ir.einsum([t if m == k else x for m, x in enumerate(e.args)], ins, out,
                               dict(enumerate(dims))) for t in a.args]
            return ir.add(terms, e.shape)
    return None


# A product nested in a product, with three or more axes, is fused into it: the
# constructors stop fusing long products, but a 3-tensor left between two products
# has no matrix form, while the fused product often has one.
@rule("fuse", "(x[i]*A[j,u])[i,j,u]*A[u,k] -> x[i]*A[j,u]*A[u,k]", Op.EINSUM)
def fuse(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is Op.EINSUM and a.ndim > 2:
            return _inline(e, k)
    return None


def _inline(e: Expr, k: int) -> Expr:
    ins, out, dims = e.attr
    inner = e.args[k]
    i_ins, i_out, i_dims = inner.attr
    tied = UnionFind()
    find = tied.find
    first: dict = {}
    for label, outer in zip(i_out, ins[k]):  # a repeated inner output label is a diagonal
        if label in first:
            tied.union(outer, first[label])
        first.setdefault(label, outer)
    mapped = {label: find(outer) for label, outer in first.items()}
    all_dims = {find(x): d for x, d in enumerate(dims)}
    for label, d in enumerate(i_dims):
        if label not in mapped:
            mapped[label] = ("inlined", label)
            all_dims[mapped[label]] = d
    operands, labels = [], []
    for m, (a, lab) in enumerate(zip(e.args, ins)):
        if m == k:
            operands.extend(inner.args)
            labels.extend([mapped[x] for x in lab_in] for lab_in in i_ins)
        else:
            operands.append(a)
            labels.append([find(x) for x in lab])
    return ir.einsum(operands, labels, [find(x) for x in out], all_dims)


# sum(y) -> 1 for a vector declared a distribution (probability or one-hot), and the
# row sums Y*vector(1) -> vector(1) of a matrix declared to have such rows
@rule("label-sum", "sum(y) -> 1 for y declared a probability (or one-hot) vector; "
      "Y*vector(1) -> vector(1) for probability rows or softmax(X, 2)", Op.EINSUM)
def label_sum(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        along = _sums_to_one(a)
        if along is None:
            continue
        lab = ins[k]
        if len(set(lab)) != len(lab):
            continue  # a diagonal: no sum runs along the declared axis
        summed = lab if along == "all" else lab[1:] if along == "rows" else lab[:1]
        kept = [x for x in lab if x not in summed]
        others = [x for m, lb in enumerate(ins) if m != k for x in lb]
        if any(x in out or x in others for x in summed):
            continue
        operands = [x for m, x in enumerate(e.args) if m != k]
        labels = [list(lb) for m, lb in enumerate(ins) if m != k]
        lost = [x for x in kept if x not in out and x not in others]
        if lost:  # the kept axis was summed too: it counts its length
            operands.append(ir.size([dims[x] for x in lost]))
            labels.append([])
        return _with_operands(e, operands, labels)
    return None


def _sums_to_one(a: Expr) -> str | None:
    """How a's entries sum to 1: "all", "rows" or "cols" (a declared label, a softmax)."""
    label = label_of(a)
    if label is not None:
        return label[1]
    if a.op is Op.SOFTMAX and a.attr is not None:
        return "rows" if a.attr == 1 else "cols"
    return None


# exp(Z) ./ (exp(Z)*vector(1)) -> softmax(Z, 2): each row of exp divided by its row sum
@rule("softmax", "exp(Z)./(exp(Z)*vector(1)) -> softmax(Z, 2); exp(z)/sum(exp(z)) -> "
      "softmax(z)", Op.EINSUM)
def softmax_quotient(e: Expr, ctx: Context) -> Expr | None:
    ins, _, _ = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.EXP or a.ndim not in (1, 2):
            continue
        for j, b in enumerate(e.args):
            base, p = _base_and_power(b)
            if j == k or p != -1.0 or base.op is not Op.EINSUM or len(base.args) != 1 \
                    or base.args[0] is not a:
                continue
            (lab,), out, _ = base.attr
            if len(set(lab)) != len(lab):
                continue
            if a.ndim == 1 and not out and not ins[j]:
                attr = None
            elif a.ndim == 2 and len(out) == 1 and out[0] in lab and \
                    list(ins[j]) == [ins[k][lab.index(out[0])]]:
                attr = 1 if out[0] == lab[0] else 0
            else:
                continue
            s = ir.matrix_fn(Op.SOFTMAX, a.args[0], a.shape, attr)
            operands = [s if m == k else x for m, x in enumerate(e.args) if m != j]
            labels = [list(lb) for m, lb in enumerate(ins) if m != j]
            return _with_operands(e, operands, labels)
    return None


def _block_sizes(a: Expr) -> list:
    """The lengths of a concatenation's parts along its axis (1 for a slice)."""
    return [p.shape[a.attr] if p.ndim == a.ndim else 1 for p in a.args]


# a sum over the joined axis of blocks is the sum over each block: sum([x; a]) = sum(x) + a,
# and two joins of one split contract block by block: [x; a]'*[u; b] = x'*u + a*b
@rule("block-product", "Σ_k [x; a][k]*[u; b][k] -> x'*u + a*b (blocks of one split)",
      Op.EINSUM)
def block_product(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.CONCAT:
            continue
        label = ins[k][a.attr]
        if label in out:
            continue
        carriers = [j for j, lab in enumerate(ins) if label in lab]
        split = _block_sizes(a)
        if not all(e.args[j].op is Op.CONCAT and ins[j].count(label) == 1
                   and ins[j].index(label) == e.args[j].attr
                   and _block_sizes(e.args[j]) == split for j in carriers):
            continue
        terms = []
        for b in range(len(split)):
            operands, labels = list(e.args), [list(lab) for lab in ins]
            extra = {}
            for j in carriers:
                part = e.args[j].args[b]
                operands[j] = part
                if part.ndim < e.args[j].ndim:  # a slice: one entry, no axis of its own
                    labels[j] = [x for x in labels[j] if x != label]
            if split[b] != 1 or any(operands[j].ndim == e.args[j].ndim for j in carriers):
                extra = {label: split[b]}
            dimap = {**dict(enumerate(dims)), **extra}
            terms.append(ir.einsum(operands, labels, out, dimap))
        return ir.add(terms, e.shape)
    return None


def _selector(sizes: list, b: int) -> Expr:
    """S with S*G the rows of G that block b of a join with these lengths covers:
    [0, eye, 0], eye in the b-th place."""
    n = sizes[b]
    blocks = [ir.einsum([], [], [0, 0], {0: n}) if j == b else ir.zeros((n, m))
              for j, m in enumerate(sizes)]
    return ir.concat(blocks, 1, 2)


# a join of three or more axes (the derivative of a join wrt a variable in it) summed with
# a gradient along the joined axis: each block takes its own rows of the gradient,
# Σ_p G[p,q]*[D1; D2]_p -> Σ_r ([eye, 0]*G)[r,q]*D1[r] + Σ_r ([0, eye]*G)[r,q]*D2[r],
# where block-delta does not apply (blocks of different kinds: [A'; A], [A; 2*B])
@rule("block-select", "Σ_p G[p]*[D1; D2]_p -> ([eye, 0]*G)*D1 + ([0, eye]*G)*D2",
      Op.EINSUM)
def block_select(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.CONCAT or a.ndim < 3 or any(p.ndim != a.ndim for p in a.args):
            continue
        x = ins[k][a.attr]
        carriers = [j for j, lab in enumerate(ins) if x in lab and j != k]
        if x in out or list(ins[k]).count(x) != 1 or len(carriers) != 1 or \
                list(ins[carriers[0]]).count(x) != 1:
            continue
        sizes = [p.shape[a.attr] for p in a.args]
        terms = []
        for b, part in enumerate(a.args):
            if ir.is_zero(part):
                continue
            y = ("block", b)
            operands = [u for j, u in enumerate(e.args) if j != k] + [_selector(sizes, b), part]
            labels = [list(lab) for j, lab in enumerate(ins) if j != k]
            labels += [[y, x], [y if z == x else z for z in ins[k]]]
            terms.append(ir.einsum(operands, labels, list(out),
                                   {**dict(enumerate(dims)), y: sizes[b]}))
        return ir.add(terms, e.shape)
    return None


# a sum across a join of equal constants: sum([eye; eye], 2) -> [vector(1); vector(1)],
# one constant vector(1) of the joined length (which a size can then be written for)
@rule("block-sum", "sum([eye; eye], 2) -> vector(1) (each block summed, equal constants)",
      Op.EINSUM)
def block_sum(e: Expr, ctx: Context) -> Expr | None:
    ins, out, dims = e.attr
    for k, a in enumerate(e.args):
        if a.op is not Op.CONCAT or len(set(ins[k])) != len(ins[k]):
            continue
        joined = ins[k][a.attr]
        alone = [x for x in ins[k] if x != joined and x not in out
                 and sum(x in lab for lab in ins) == 1]
        if not alone:
            continue
        keep = [x for x in ins[k] if x not in alone]
        blocks = []
        for p in a.args:
            labels = list(ins[k]) if p.ndim == a.ndim else [x for x in ins[k] if x != joined]
            blocks.append(ir.einsum([p], [labels], [x for x in keep if x in labels],
                                    {x: d for x, d in enumerate(dims) if x != joined}))
        summed = ir.concat(blocks, keep.index(joined), len(keep))
        if summed.op is not Op.CONST:
            continue
        operands = [summed if j == k else b for j, b in enumerate(e.args)]
        labels = [keep if j == k else list(lab) for j, lab in enumerate(ins)]
        return _with_operands(e, operands, labels)
    return None


def _split_block(block: Expr, axis: int) -> tuple[tuple, Expr, Expr] | None:
    """A block c*δ[i,k]*R of a join along i (no tensor carrying i): the positions of i's
    delta, c*δ[i,k] alone, and R on the other positions; None for another block."""
    if block.op is not Op.EINSUM:
        return None
    ins, out, dims = block.attr
    x = out[axis]
    if any(x in lab for lab in ins):
        return None
    group = tuple(q for q, y in enumerate(out) if y == x)
    if len(group) == len(out):
        return None
    dimap = dict(enumerate(dims))
    scalars = [k for k, a in enumerate(block.args) if not a.ndim]
    tensors = [k for k, a in enumerate(block.args) if a.ndim]
    delta = ir.einsum([block.args[k] for k in scalars], [[] for _ in scalars],
                      [x] * len(group), dimap)
    rest = ir.einsum([block.args[k] for k in tensors], [list(ins[k]) for k in tensors],
                     [y for q, y in enumerate(out) if q not in group], dimap)
    return group, delta, rest


# the derivative of a join wrt a variable in it: [δ[i,k]*δ[j,l]; δ[i,k]*δ[j,l]]_i is the
# join of identities [eye; eye][i,k] times what every block has on the other axes, δ[j,l]
@rule("block-delta", "[δ[i,k]*R[j,l]; c*δ[i,k]*R[j,l]]_i -> [eye; c*eye][i,k]*R[j,l]",
      Op.CONCAT)
def block_delta(e: Expr, ctx: Context) -> Expr | None:
    axis = e.attr
    if any(p.ndim != e.ndim for p in e.args):
        return None
    split = [None if ir.is_zero(p) else _split_block(p, axis) for p in e.args]
    found = [x for x in split if x is not None]
    if not found or any(x is None and not ir.is_zero(p) for x, p in zip(split, e.args)) or \
            len({(g, r) for g, _, r in found}) != 1:
        return None
    group, _, rest = found[0]
    inner = [ir.zeros(tuple(p.shape[q] for q in group)) if x is None else x[1]
             for x, p in zip(split, e.args)]
    joined = ir.concat(inner, group.index(axis), len(group))
    others = [q for q in range(e.ndim) if q not in group]
    labels: list = [("block", q) if q in group else None for q in range(e.ndim)]
    rest_out = [("rest", k) for k in range(rest.ndim)]
    for k, q in enumerate(others):  # R's axes: the other positions, in order
        labels[q] = rest_out[k]
    dims = {x: e.shape[q] for q, x in enumerate(labels)}
    return ir.einsum([joined, rest], [[labels[q] for q in group], rest_out], labels, dims)


def _centring_dim(c: Expr):
    """d when c is the centring matrix eye(d) - matrix(1)/d (its two terms in either order,
    the 1/d as 1/SIZE(d) or a number), else None."""
    if c.op is not Op.ADD or len(c.args) != 2 or c.ndim != 2 or c.shape[0] != c.shape[1]:
        return None
    d = c.shape[0]
    eye = [t for t in c.args if t.op is Op.EINSUM and not t.args and t.attr[1] == (0, 0)]
    if len(eye) != 1:
        return None
    (ones,) = [t for t in c.args if t is not eye[0]]
    if ones.op is not Op.EINSUM or ones.attr[1] != (0, 1) or any(a.ndim for a in ones.args):
        return None
    coef, per_size = 1.0, 0
    for a in ones.args:
        if a.op is Op.CONST:
            coef *= a.attr
        elif (a.op is Op.POW and a.args[0].op is Op.SIZE and a.args[0].attr == (d,)
              and a.args[1].op is Op.CONST and a.args[1].attr == -1.0):
            per_size += 1
        else:
            return None
    want = -1.0 if per_size == 1 else -1.0 / d if per_size == 0 and isinstance(d, int) else None
    return d if want is not None and math.isclose(coef, want) else None


def _less_mean(t: Expr, axis: int) -> Expr:
    """-mean(t) along one axis, spread back over it (the term of x - mean(x))."""
    labels = list(range(t.ndim))
    spread = ("mean", axis)
    count = ir.binary(Op.POW, ir.size((t.shape[axis],)), ir.const(-1.0))
    return ir.einsum([ir.const(-1.0), t, count], [[], labels, []],
                     [spread if q == axis else x for q, x in enumerate(labels)],
                     {spread: t.shape[axis]})


def _centred(t: Expr, axis: int) -> Expr:
    """t - mean(t) along one axis (x - mean(x), X - mean(X, 1))."""
    return ir.add([t, _less_mean(t, axis)], t.shape)


def _is_centred(a: Expr, axis: int, ctx: Context) -> bool:
    """Whether a is x - mean(x) along the axis already."""
    if a.op is not Op.ADD or len(a.args) != 2:
        return False
    x, y = a.args
    return ctx.probe.key(_less_mean(x, axis)) == ctx.probe.key(y) or \
        ctx.probe.key(_less_mean(y, axis)) == ctx.probe.key(x)


def _centred_pair(e: Expr, ctx: Context) -> Expr | None:
    """In a sum, T*P - mean(T, k)*P (the mean spread along T's axis k, the rest P the
    same) as (T - mean(T, k))*P, T one factor of a term."""
    keyed = {ctx.probe.key(t): n for n, t in enumerate(e.args) if t.op is Op.EINSUM}
    for n, t in enumerate(e.args):
        if t.op is not Op.EINSUM:
            continue
        ins, out, dims = t.attr
        labels = [list(lab) for lab in ins]
        for j, a in enumerate(t.args):
            for p, x in enumerate(ins[j]):
                if x not in out or out.count(x) != 1 or sum(lab.count(x) for lab in labels) != 1 \
                        or _is_centred(a, p, ctx):  # its mean is 0: centred-sum drops it
                    continue
                mean = _with_operands(t, [_less_mean(a, p) if k == j else b
                                          for k, b in enumerate(t.args)], labels)
                m = keyed.get(ctx.probe.key(mean))
                if m is None or m == n:
                    continue
                centred = _with_operands(t, [_centred(a, p) if k == j else b
                                             for k, b in enumerate(t.args)], labels)
                kept = [u for k, u in enumerate(e.args) if k not in (n, m)]
                return ir.add([centred] + kept, e.shape)
    return None


# the centring matrix applied to a tensor is the tensor less its mean along that axis:
# (eye - matrix(1)/n)*g -> g - mean(g), (eye - matrix(1)/m)*G -> G - mean(G, 1), also
# multiplied out in a sum (G.*r' - mean(G, 1).*r' -> (G - mean(G, 1)).*r'); only where
# that is shorter (the tensor is written twice)
@rule("centring", "(eye - matrix(1)/n)*g -> g - mean(g); T.*r - mean(T).*r -> "
      "(T - mean(T)).*r", Op.EINSUM, Op.ADD)
def centring(e: Expr, ctx: Context) -> Expr | None:
    if e.op is Op.ADD:
        new = _centred_pair(e, ctx)
        return new if new is not None and ctx.keys.size(new) < ctx.keys.size(e) else None
    ins, out, dims = e.attr
    for k, c in enumerate(e.args):
        d = _centring_dim(c)
        if d is None:
            continue
        a, b = ins[k]
        for keep, summed in ((a, b), (b, a)):
            if keep == summed or summed in out:
                continue
            carriers = [j for j, lab in enumerate(ins) if summed in lab and j != k]
            if len(carriers) != 1 or list(ins[carriers[0]]).count(summed) != 1 or \
                    keep in ins[carriers[0]]:
                continue
            j = carriers[0]
            t = e.args[j]
            centred = _centred(t, list(ins[j]).index(summed))
            operands = [x for m, x in enumerate(e.args) if m not in (k, j)] + [centred]
            labels = [list(lab) for m, lab in enumerate(ins) if m not in (k, j)]
            labels.append([keep if x == summed else x for x in ins[j]])
            new = _with_operands(e, operands, labels)
            if ctx.keys.size(new) < ctx.keys.size(e):
                return new
    return None


# y.^2 -> 1 (any even power) for y declared labels(-1, 1): every entry is -1 or 1
@rule("sign-square", "y.^2 -> 1 for y declared labels(-1, 1)", Op.POW)
def sign_square(e: Expr, ctx: Context) -> Expr | None:
    base, power = e.args
    if is_signs(base) and power.op is Op.CONST and float(power.attr) % 2 == 0:
        return ir.const(1.0, e.shape)
    return None


# inv(inv(A)) -> A (wherever inv(A) is defined, A is invertible)
@rule("inverse", "inv(inv(A)) -> A", Op.INV)
def inverse(e: Expr, ctx: Context) -> Expr | None:
    return e.args[0].args[0] if e.args[0].op is Op.INV else None


def _negated(a: Expr, b: Expr) -> bool:
    """Whether b is -a (up to how the coefficient is written)."""
    ca, core_a = split_coefficient(a)
    cb, core_b = split_coefficient(b)
    return core_a is core_b and ca == -cb


def _halves(a: Expr, b: Expr) -> Expr | None:
    """P with a = P.*sigmoid(u) and b = P.*sigmoid(-u) (P a product, perhaps empty, the
    sigmoids in the same position): their sum is P, sigmoid(u) + sigmoid(-u) being 1."""
    if a.op is Op.SIGMOID and b.op is Op.SIGMOID and _negated(a.args[0], b.args[0]):
        return ir.const(1.0, a.shape)
    if a.op is not Op.EINSUM or b.op is not Op.EINSUM or a.attr != b.attr or \
            len(a.args) != len(b.args):
        return None
    differ = [k for k, (x, y) in enumerate(zip(a.args, b.args)) if x is not y]
    if len(differ) != 1:
        return None
    (k,) = differ
    x, y = a.args[k], b.args[k]
    if x.op is not Op.SIGMOID or y.op is not Op.SIGMOID or not _negated(x.args[0], y.args[0]):
        return None
    operands = [ir.const(1.0, x.shape) if m == k else o for m, o in enumerate(a.args)]
    return _with_operands(a, operands, [list(lab) for lab in a.attr[0]])


# c*P.*sigmoid(u) + c*P.*sigmoid(-u) -> c*P: the logistic function's two halves make 1
@rule("sigmoid-pair", "sigmoid(u) + sigmoid(-u) -> 1; y.*sigmoid(u) + y.*sigmoid(-u) -> y",
      Op.ADD)
def sigmoid_pair(e: Expr, ctx: Context) -> Expr | None:
    split = [split_coefficient(t) for t in e.args]
    for i, (ci, ti) in enumerate(split):
        for j, (cj, tj) in enumerate(split):
            if j <= i or cj != ci:
                continue
            whole = _halves(ti, tj)
            if whole is not None:
                rest = [t for k, t in enumerate(e.args) if k not in (i, j)]
                return ir.add([ir.scale(whole, ci), *rest], e.shape)
    return None


def _power_factors(t: Expr, ctx: Context) -> tuple[float, tuple, tuple, dict] | None:
    """(c, labels, out, {key: (base, power)}) for t = c * prod base.^power entry by entry
    (every factor on the same labels; out may be a diagonal, diag(...)). A base that is a
    sum is taken in the orientation with the smaller key: (s - 1).^k = (-1)^k*(1 - s).^k."""
    c, core = split_coefficient(t)
    if core.op is Op.EINSUM:
        ins, out, _ = core.attr
        operands = list(core.args)
        if not ins or not all(list(lab) == list(ins[0]) for lab in ins) or \
                len(set(ins[0])) != len(ins[0]) or not set(out) <= set(ins[0]):
            return None  # a delta, different labels, a diagonal factor or a broadcast
        labels, out = tuple(ins[0]), tuple(out)
    else:
        operands, labels = [core], tuple(range(core.ndim))
        out = labels
    factors: dict[int, list] = {}
    for a in operands:
        base, p = _base_and_power(a)
        if base.op is Op.CONST:
            return None
        if base.op is Op.ADD and float(p).is_integer():
            flipped = ir.neg(base)
            if ctx.keys.key(flipped) < ctx.keys.key(base):
                base, c = flipped, c * (-1.0) ** p
        entry = factors.setdefault(ctx.keys.key(base), [base, 0.0])
        entry[1] += p
    return c, labels, out, {k: (b, p) for k, (b, p) in factors.items()}


# x.^a.*u + x.^b.*v -> x.^min(a,b).*(x.^(a-min).*u + x.^(b-min).*v), entry by entry: the
# sigmoid's second derivative s.*(1 - s).^2 - s.^2.*(1 - s) is s.*(1 - s).*(1 - 2*s)
@rule("common-factor", "s.*(1 - s).^2 - s.^2.*(1 - s) -> s.*(1 - s).*(1 - 2*s)", Op.ADD)
def common_factor(e: Expr, ctx: Context) -> Expr | None:
    if len(e.args) > 6:
        return None
    terms = [_power_factors(t, ctx) for t in e.args]
    if None in terms or len({(lab, out) for _, lab, out, _ in terms}) != 1:
        return None
    _, labels, out, _ = terms[0]
    shared = set(terms[0][3]).intersection(*(f for *_, f in terms[1:]))
    pulled = {}
    for k in shared:
        low = min(f[k][1] for *_, f in terms)
        if low > 0:
            pulled[k] = (terms[0][3][k][0], low)
    if not pulled:
        return None
    lab = list(labels)
    rests = []
    for c, _, _, f in terms:
        factors = [ir.binary(Op.POW, b, ir.const(p - pulled[k][1], b.shape)) if k in pulled
                   else ir.binary(Op.POW, b, ir.const(p, b.shape)) for k, (b, p) in f.items()]
        shape = next(iter(f.values()))[0].shape  # the entries' shape, on `labels`
        factors = [x for x in factors if x.op is not Op.CONST] or [ir.const(1.0, shape)]
        rests.append(ir.scale(ir.einsum(factors, [lab] * len(factors), lab), c))
    inner = ir.add(rests)
    common = [ir.binary(Op.POW, b, ir.const(p, b.shape)) for b, p in pulled.values()]
    result = ir.einsum([*common, inner], [lab] * (len(common) + 1), list(out))
    return result if ctx.keys.size(result) < ctx.keys.size(e) else None


# (s*vector(1)').^p -> s.^p*vector(1)': an entry-wise power of a spread value is the spread
# of the power (each copy is the same entry), so `X./(s*vector(1)')` reads as the
# `diag(1./s)*X` that implicit expansion `X./s` gives, and the rules that know that form
# (softmax) see it
@rule("spread-power", "(s*vector(1)').^p -> s.^p*vector(1)'", Op.POW)
def spread_power(e: Expr, ctx: Context) -> Expr | None:
    base, power = e.args
    if power.op is not Op.CONST or base.op is not Op.EINSUM:
        return None
    ins, out, dims = base.attr
    carried = {x for lab in ins for x in lab}
    spread = [x for x in out if x not in carried]
    if not spread or len(set(out)) != len(out):
        return None
    kept = [x for x in out if x in carried]
    core = ir.einsum(base.args, ins, kept, dict(enumerate(dims)))
    if core.op is Op.CONST:
        return None  # a constant spread: the constant folding's
    raised = ir.binary(Op.POW, core, ir.const(float(power.attr), core.shape))
    return ir.einsum([raised], [kept], out, dict(enumerate(dims)))
