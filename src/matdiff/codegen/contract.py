"""One product of tensors (an einsum) into a few NumPy calls, in the cheapest order.

The order is an opt_einsum path planned for concrete dimensions, so that
`U*V'*V` becomes `U @ (V.T @ V)` when V is thin. Each pairwise step is the
cheapest NumPy form of its index pattern: `@` for a matrix product (BLAS;
`P.T @ P` runs as a symmetric rank-k product), a broadcast `*` for outer
and element-wise products (so `diag(v)*A` is `v[:, None] * A`), and
`np.einsum` only for batched contractions. Diagonals of an operand are
strided views, sums over an index carried by one operand happen first, and
scalar factors multiply the smallest tensor in the product.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import lru_cache

import opt_einsum

from ..ir.expr import Dim
from .outer import outer_form
from .program import Instructions
from .values import number_literal

__all__ = ["Operand", "contract", "scale_code", "plan_path"]

Label = Hashable
SCALE_RATIO = 64        # scale an operand instead of the result when 64x smaller ...
SCALE_SAVING = 65536    # ... and the result has this many entries (a pass worth saving)
Operand = tuple[str, list[Label]]   # (code of an array, one label per axis)


DP_OPERANDS = 8  # products with more operands are planned greedily (dp is exponential)


def contract(prog: Instructions, operands: list[Operand], out: list[Label],
             dims: dict[Label, Dim], size: Callable[[Dim], int],
             coef: float = 1.0, scalars: list[str] | None = None,
             symmetric: set[str] | None = None, library: str = "numpy"
             ) -> tuple[str, list[Label]]:
    """Code for `coef * prod(scalars) * sum over non-out labels of prod operands`.

    `out` lists distinct labels, each carried by some operand; the result's
    axes are `out` in the returned order. `symmetric` names arrays equal to
    their transpose. `library` is what broadcast products are laid out for
    (outer.py): "numpy", "eager" (another library run call by call) or "fused".
    """
    scalars = list(scalars or [])
    sym = symmetric or set()
    ops: list[Operand] = []
    for ref, labels in operands:
        ref, labels = _diagonal(prog, ref, list(labels))
        ops.append((ref, labels))
    ops = _presum_all(prog, ops, out)
    ops, more = _split_scalars(ops)
    scalars += more

    if not ops:  # every operand summed to a scalar
        if not scalars:
            return number_literal(coef), []
        return scale_code(prog, scalars[-1], coef, scalars[:-1]), []

    out_size = _size(out, dims, size)
    counts: dict[str, int] = {}
    for ref, _ in ops:
        counts[ref] = counts.get(ref, 0) + 1
    scale_result = True
    if coef != 1.0 or scalars:
        # Scale the result, which keeps the unscaled product for reuse (X @ w in both
        # -y .* (X*w) and y .* (X*w)), unless an operand is far smaller and the pass
        # saved is large (the outer product 2*x*y', -inv(A) (x) inv(A): one factor of a
        # square scaled). Never scale one side of P'P: syrk.
        sizes = [(_size(lab, dims, size), k) for k, (ref, lab) in enumerate(ops)
                 if counts[ref] == 1 or not _shares_labels(ops, k)]
        if sizes and out_size >= max(SCALE_SAVING, SCALE_RATIO * min(sizes)[0]) \
                and not _gram_pattern(ops, out):
            k = min(sizes)[1]
            ops[k] = (scale_code(prog, ops[k][0], coef, scalars), ops[k][1])
            scale_result = False

    gram = _gram_pattern(ops, out)
    if gram is not None:
        ref, labels = _emit_gram(prog, ops, gram, coef if scale_result else 1.0,
                                 scalars if scale_result else [])
        return ref, labels

    if len(ops) > 1:
        ops = _contract_path(prog, ops, out, dims, size, sym, library)
    ref, labels = ops[0]
    if scale_result and (coef != 1.0 or scalars):
        ref = scale_code(prog, ref, coef, scalars)
    return ref, labels


def _shares_labels(ops: list[Operand], k: int) -> bool:
    """Whether operand k is summed against another operand (as in P'P), not only multiplied
    into an outer product: an operand used twice is scaled on one side only when it is not."""
    mine = set(ops[k][1])
    return any(mine & set(lab) for j, (_, lab) in enumerate(ops) if j != k)


def scale_code(prog: Instructions, ref: str, coef: float, scalars: list[str]) -> str:
    """coef * scalars... * ref as one expression."""
    factors = [f"{{{k}}}" for k in range(len(scalars))]
    n = len(scalars)
    if coef == -1.0 and not factors:
        out = prog.emit(f"-{{{n}}}", (*scalars, ref))
    else:
        if coef != 1.0:
            factors.insert(0, number_literal(coef))
        out = prog.emit(" * ".join([*factors, f"{{{n}}}"]), (*scalars, ref))
    if ref in prog.symmetric:  # a multiple of a symmetric matrix is symmetric
        prog.symmetric.add(out)
    return out


@lru_cache(maxsize=2048)
def plan_path(eq: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[list[tuple[int, ...]], int]:
    """(contraction path, flop count): the cheaper of opt_einsum's dp and greedy plans.

    dp searches subsets, so its time grows exponentially with the operands: past
    DP_OPERANDS (a deep network's chain rule gives one product per layer) only
    the greedy plan is made, keeping the planning time near linear in depth.
    ("optimal" is not used: for `b,b,ba->a` it returns a path 1.5x dearer than dp's.)
    """
    best = None
    methods = ("dp", "greedy") if len(shapes) <= DP_OPERANDS else ("greedy",)
    for method in methods:
        path, info = opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=method)
        if best is None or info.opt_cost < best[1]:
            best = (list(path), int(info.opt_cost))
    return best


def _size(labels, dims, size) -> int:
    total = 1
    for label in labels:
        total *= size(dims[label])
    return total


def _letters(labels: list[Label], table: dict[Label, str]) -> str:
    for label in labels:
        if label not in table:
            table[label] = opt_einsum.get_symbol(len(table))
    return "".join(table[x] for x in labels)


def _diagonal(prog: Instructions, ref: str, labels: list[Label]) -> Operand:
    """An operand's diagonal over repeated labels, as a strided view."""
    unique = list(dict.fromkeys(labels))
    if len(unique) == len(labels):
        return ref, labels
    table: dict[Label, str] = {}
    sub = _letters(labels, table) + "->" + _letters(unique, table)
    return prog.emit(f"np.einsum('{sub}', {{0}})", (ref,)), unique


def _presum_all(prog: Instructions, ops: list[Operand], keep_out: list[Label]) -> list[Operand]:
    """Sum each label carried by a single operand and not wanted in the output."""
    result = []
    for k, (ref, labels) in enumerate(ops):
        others = {x for j, (_, lab) in enumerate(ops) if j != k for x in lab} | set(keep_out)
        result.append(_presum(prog, ref, labels, others))
    return result


def _presum(prog: Instructions, ref: str, labels: list[Label], keep: set[Label]) -> Operand:
    axes = [p for p, x in enumerate(labels) if x not in keep]
    if not axes:
        return ref, labels
    rest = [x for x in labels if x in keep]
    if not rest:
        return prog.emit("{0}.sum()", (ref,)), []
    axis = axes[0] if len(axes) == 1 else tuple(axes)
    return prog.emit(f"{{0}}.sum(axis={axis})", (ref,)), rest


def _split_scalars(ops: list[Operand]) -> tuple[list[Operand], list[str]]:
    return [op for op in ops if op[1]], [ref for ref, lab in ops if not lab]


# ---------------------------------------------------------------- symmetric products

def _gram_pattern(ops: list[Operand], out: list[Label]):
    """(k1, k2, axis, weights) when the product is P' diag(w1 w2 ...) P: symmetric."""
    mats = [k for k, (_, lab) in enumerate(ops) if len(lab) == 2]
    if len(mats) != 2 or len(out) != 2:
        return None
    k1, k2 = mats
    (r1, l1), (r2, l2) = ops[k1], ops[k2]
    if r1 != r2:
        return None
    for axis in (0, 1):
        shared = l1[axis]
        if l2[axis] == shared and shared not in out and {l1[1 - axis], l2[1 - axis]} == set(out) \
                and l1[1 - axis] != l2[1 - axis]:
            weights = [k for k in range(len(ops)) if k not in (k1, k2)]
            if all(ops[k][1] == [shared] for k in weights):
                return k1, k2, axis, weights
    return None


def _emit_gram(prog: Instructions, ops: list[Operand], gram, coef: float, scalars: list[str]):
    k1, k2, axis, weights = gram
    ref, l1 = ops[k1]
    l2 = ops[k2][1]
    labels = [l1[1 - axis], l2[1 - axis]]
    if weights:
        w = ops[weights[0]][0]
        for k in weights[1:]:
            w = prog.emit("{0} * {1}", tuple(sorted((w, ops[k][0]))))
        if coef > 0 and not scalars:
            w = scale_code(prog, w, coef, [])
            coef = 1.0
        res = prog.emit("_gram({0}, {1})" if axis == 0 else "_gram({0}.T, {1})", (ref, w))
    else:
        res = prog.emit("{0}.T @ {0}" if axis == 0 else "{0} @ {0}.T", (ref,))
    prog.symmetric.add(res)
    if coef != 1.0 or scalars:
        res = scale_code(prog, res, coef, scalars)
    return res, labels


# ---------------------------------------------------------------- pairwise contraction

def _contract_path(prog: Instructions, ops: list[Operand], out: list[Label],
                   dims: dict[Label, Dim], size, sym: set[str], library: str
                   ) -> list[Operand]:
    table: dict[Label, str] = {}
    eq = ",".join(_letters(lab, table) for _, lab in ops) + "->" + _letters(out, table)
    shapes = [tuple(size(dims[x]) for x in lab) for _, lab in ops]
    path, _ = plan_path(eq, tuple(shapes))
    ops = list(ops)

    def numel(lab: list[Label]) -> int:
        return _size(lab, dims, size)

    for n, step in enumerate(path):
        picked = [ops[k] for k in step]
        for k in sorted(step, reverse=True):
            ops.pop(k)
        rest = {x for _, lab in ops for x in lab} | set(out)
        acc = picked[0]
        for k, nxt in enumerate(picked[1:], start=1):
            later = {x for _, lab in picked[k + 1:] for x in lab}
            final = n == len(path) - 1 and k == len(picked) - 1
            acc = _pair(prog, acc, nxt, rest | later, sym, numel, out if final else None,
                        library)
        if len(picked) == 1:
            acc = _presum(prog, acc[0], acc[1], rest)
        ops.append(acc)
    return ops


def _pair(prog: Instructions, a: Operand, b: Operand, keep: set[Label], sym: set[str],
          numel: Callable[[list[Label]], int], want: list[Label] | None = None,
          library: str = "numpy") -> Operand:
    """The product of two operands, summing shared labels not in `keep`.

    Between equally cheap forms, `want` (the product's final label order) is
    preferred, else a result whose first axis is the longer (row-major friendly);
    a large broadcast product of three or more axes takes the layout and form
    outer.py measured fastest for `library`.
    """
    a = _presum(prog, a[0], a[1], keep | set(b[1]))
    b = _presum(prog, b[0], b[1], keep | set(a[1]))
    if not a[1] or not b[1]:  # a scalar factor
        s, t = (a, b) if not a[1] else (b, a)
        return prog.emit("{0} * {1}", (s[0], t[0])), t[1]
    (ra, la), (rb, lb) = sorted([a, b], key=lambda op: (-len(op[1]), op[0]))
    shared = [x for x in la if x in lb]
    batch = [x for x in shared if x in keep]
    contr = [x for x in shared if x not in keep]
    ka = [x for x in la if x not in lb]
    kb = [x for x in lb if x not in la]
    if not contr:  # outer or element-wise product: broadcasting
        from .values import axes_template

        lo = la + kb
        if want is not None and len(want) == len(lo) and set(want) == set(lo):
            lo = list(want)  # written in the final order: no transposed view of the result
        form = outer_form(la, lb, want, numel, library)
        if form is not None:
            how, lo = form
            if how == "einsum":
                if lo.index(lb[0]) < lo.index(la[0]):  # operands in the result's order
                    (ra, la), (rb, lb) = (rb, lb), (ra, la)
                sym_of: dict[Label, str] = {}
                sub = f"{_letters(la, sym_of)},{_letters(lb, sym_of)}->{_letters(lo, sym_of)}"
                return prog.emit(f"np.einsum('{sub}', {{0}}, {{1}})", (ra, rb)), lo
        ia = {x: p for p, x in enumerate(lo)}
        ta = axes_template(tuple(ia[x] for x in la), list(range(len(lo))))
        tb = axes_template(tuple(ia[x] for x in lb), list(range(len(lo)))).replace("{0}", "{1}")
        return prog.emit(f"{ta} * {tb}", (ra, rb)), lo
    if not batch:
        if len(contr) == 1 and len(la) <= 2 and len(lb) <= 2:
            c = contr[0]
            if len(la) == 2 and len(lb) == 1:  # matrix times vector: A @ x
                ta = "{0}" if la[1] == c or ra in sym else "{0}.T"
                return prog.emit(f"{ta} @ {{1}}", (ra, rb)), ka
            if ra == rb and len(la) == 2 and la.index(c) == lb.index(c):
                # P'P or PP': one buffer and its transpose, which BLAS runs as syrk
                ref = prog.emit("{0}.T @ {0}" if la[0] == c else "{0} @ {0}.T", (ra,))
                prog.symmetric.add(ref)
                return ref, ka + kb
            if len(lb) == 2:  # A @ B or B' @ A': fewer transposes, then the preferred order
                flips = (la[-1] != c and ra not in sym) + (lb[0] != c and rb not in sym)
                other = (lb[-1] != c and rb not in sym) + (la[0] != c and ra not in sym)
                if want is not None:
                    this_way, that_way = ka + kb != want, kb + ka != want
                else:
                    this_way, that_way = -numel(ka), -numel(kb)
                if (other, that_way) < (flips, this_way):
                    (ra, la, ka), (rb, lb, kb) = (rb, lb, kb), (ra, la, ka)
            ta = "{0}" if la[-1] == c or ra in sym else "{0}.T"
            tb = "{1}" if lb[0] == c or rb in sym else "{1}.T"
            return prog.emit(f"{ta} @ {tb}", (ra, rb)), ka + kb
        axes_a = tuple(la.index(x) for x in contr)
        axes_b = tuple(lb.index(x) for x in contr)
        return (prog.emit(f"np.tensordot({{0}}, {{1}}, axes=({axes_a}, {axes_b}))", (ra, rb)),
                ka + kb)
    table: dict[Label, str] = {}
    lo = batch + ka + kb
    sub = f"{_letters(la, table)},{_letters(lb, table)}->{_letters(lo, table)}"
    return prog.emit(f"np.einsum('{sub}', {{0}}, {{1}})", (ra, rb)), lo
