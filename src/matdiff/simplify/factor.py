"""Factoring and distributing: the distributive law, both ways.

Factoring finds factors shared by several terms of a sum, in the same
position relative to the result, and pulls them out:

    X'*a - X'*b          -> X'*(a - b)
    A*x + A'*x           -> (A + A')*x
    D*M*b' + D'*M*b'     -> (D + D')*M*b'

In index terms: every term is a product `R[I] C[...]` where C is the shared
factor and R the rest, contracted over the interface labels I (the rest's
labels that C or the output also carry); terms whose C and index pattern
agree sum their rests: `(R1 + R2)[I] C[...]`. A rest may have at most two
axes, so that the result keeps a matrix form. Factoring is applied only
when it makes the expression smaller.

Distributing multiplies a product out over a sum inside it, and is kept
only when the expansion, simplified, is smaller: `diag(s)*(y./s)` inside
the softmax cross-entropy gradient cancels to `y` only once multiplied out.
"""

from __future__ import annotations

import itertools
from collections import Counter

from ..ir import expr as ir
from ..ir.expr import Expr, split_coefficient
from ..ir.ops import Op
from . import rules as _local  # noqa: F401  (local rules register, and are tried, first)
from .canon import relabel
from .engine import Context, rule, run

__all__ = ["factor", "distribute", "MAX_SHARED"]

MAX_SHARED = 4          # largest shared sub-product tried
MAX_CANDIDATES = 24     # factorings tried per sum before giving up
MAX_DISTRIBUTE_SIZE = 400
DISTRIBUTE_GAIN = 0.9   # multiplying out must make the expression clearly smaller


def _dedupe(labels) -> list:
    return list(dict.fromkeys(labels))


def _split(term: Expr, shared: tuple[int, ...], keys, counts: Counter) -> tuple | None:
    """(signature, shared positions in canonical order, interface) of one term, or None.

    counts: how many operands of the term carry each label.
    """
    ins, out, dims = term.attr
    c_ops = sorted(shared, key=lambda k: (keys.key(term.args[k]), k))
    in_c = Counter(x for k in c_ops for x in set(ins[k]))

    def in_others(x) -> bool:
        return counts[x] > in_c[x]

    interface = [x for x in _dedupe(out) if in_others(x)]  # broadcast labels stay outside
    interface += [x for x in _dedupe(x for k in c_ops for x in ins[k])
                  if in_others(x) and x not in out]
    if len(interface) > 2:
        return None
    pattern_ins, pattern_out, _ = relabel([ins[k] for k in c_ops] + [interface], out)
    signature = (tuple(keys.key(term.args[k]) for k in c_ops), pattern_ins, pattern_out,
                 tuple(str(dims[x]) for x in interface))
    return signature, c_ops, interface


def _rest(term: Expr, c_ops: list[int], interface: list) -> Expr:
    """The product of a term's factors other than the shared ones, over the interface."""
    ins, _, dims = term.attr
    others = [k for k in range(len(ins)) if k not in c_ops]
    return ir.einsum([term.args[k] for k in others], [ins[k] for k in others], interface,
                     dict(enumerate(dims)))


def _subsets(term: Expr, n_terms: int) -> list[tuple[int, ...]]:
    """The sets of factors of a term that may be shared, largest first (fewer in long sums)."""
    positions = [k for k, a in enumerate(term.args) if not (a.op is Op.CONST and a.ndim == 0)]
    top = MAX_SHARED if len(positions) <= 6 else 2
    if n_terms * len(positions) > 200:
        top = 1
    subsets = [s for r in range(min(top, len(positions)), 0, -1)
               for s in itertools.combinations(positions, r)]
    ins, out, _ = term.attr
    carried = {x for lab in ins for x in lab}
    if len(set(out)) < len(out) or not set(out) <= carried:
        subsets.append(())  # diag(x) + diag(y) -> diag(x + y); a*1' + b*1' -> (a + b)*1'
    return subsets


# a*b + a*c -> a*(b + c), for shared factors a in one position
@rule("factor", "X'*a - X'*b -> X'*(a - b); A*x + A'*x -> (A + A')*x", Op.ADD)
def factor(e: Expr, ctx: Context) -> Expr | None:
    if ("factor", e) in ctx.rejected or ctx.budget <= 0:
        return None
    terms = list(e.args)
    found: dict[tuple, dict[int, tuple]] = {}
    for t, term in enumerate(terms):
        if term.op is not Op.EINSUM:
            continue
        subsets = _subsets(term, len(terms))
        ctx.budget -= len(subsets)
        counts = Counter(x for lab in term.attr[0] for x in set(lab))
        for shared in subsets:
            split = _split(term, shared, ctx.keys, counts)
            if split is not None:
                found.setdefault(split[0], {}).setdefault(t, split)
    candidates = [(len(hits), len(sig[0]), hits) for sig, hits in found.items() if len(hits) > 1]
    candidates.sort(key=lambda c: (-c[0], -c[1]))
    size = ctx.keys.size
    before = size(e)
    for _, _, hits in candidates[:MAX_CANDIDATES]:
        t0, (_, c_ops, interface) = next(iter(hits.items()))
        first = terms[t0]
        ins, out, dims = first.attr
        others = [t for k, t in enumerate(terms) if k not in hits]
        # the rests over the interface in either order: X'*S - X'*Y factors as X'*(S - Y),
        # not as a transpose of (S' - Y'), which would cost a node per rest
        for turn in ((False, True) if len(interface) == 2 else (False,)):
            rests = ir.add([_rest(terms[t], split[1], split[2][::-1] if turn else split[2])
                            for t, split in hits.items()])
            product = ir.einsum([rests] + [first.args[k] for k in c_ops],
                                [interface[::-1] if turn else interface]
                                + [ins[k] for k in c_ops], out, dict(enumerate(dims)))
            new = ir.add([product] + others, e.shape)
            if size(new) < before:
                return new
    ctx.rejected.add(("factor", e))
    return None


# A*(B + C) -> A*B + A*C, kept only when the simplified expansion is smaller
@rule("distribute", "diag(s)*(y./s) - s*s'*(y./s) -> y - s*sum(y) (multiply out, cancel)",
      Op.EINSUM, Op.ADD)
def distribute(e: Expr, ctx: Context) -> Expr | None:
    if ("distribute", e) in ctx.rejected or ctx.budget <= 0:
        return None
    size = ctx.keys.size
    if size(e) > MAX_DISTRIBUTE_SIZE:
        return None
    # a number in front stays in front: 2*(s*vector(1)' - eye)*y -> 2*(sum(y)*s - y)
    c, core = split_coefficient(e) if e.op is Op.EINSUM else (1.0, e)
    if core.op is not Op.EINSUM:
        c, core = 1.0, e
    before = size(core)
    best = None  # the smallest expansion: (I - J/n)*(x - m) is x - m, not (I - J/n)*x
    for expanded in _expansions(core):
        inner = Context(keys=ctx.keys, disabled=ctx.disabled | {"distribute"},
                        budget=ctx.budget)
        result = run(expanded, inner)
        ctx.budget = inner.budget - 1
        collected = e.op is Op.EINSUM or _terms(result) < _terms(expanded)
        if collected and size(result) < DISTRIBUTE_GAIN * before and \
                (best is None or size(result) < size(best[0])):
            best = (result, inner.log)
    if best is not None:
        ctx.log.extend(best[1])
        return best[0] if c == 1.0 else ir.scale(best[0], c)
    ctx.rejected.add(("distribute", e))
    return None


def _terms(e: Expr) -> int:
    return len(e.args) if e.op is Op.ADD else 1


def _expand(e: Expr, k: int) -> Expr:
    """The product e multiplied out over its k-th operand, a sum."""
    ins, out, dims = e.attr
    return ir.add([ir.einsum([t if m == k else a for m, a in enumerate(e.args)], ins, out,
                             dict(enumerate(dims))) for t in e.args[k].args], e.shape)


def _sum_positions(e: Expr) -> list[int]:
    if e.op is not Op.EINSUM or len(e.args) > 6:
        return []
    return [k for k, a in enumerate(e.args) if a.op is Op.ADD and len(a.args) <= 4]


def _expansions(e: Expr):
    """A product multiplied out over each of its sums in turn; a sum with each of its
    products multiplied out at once, kept only if like terms meet and collect
    (y - y.*s + (y - 1).*s -> y - s, but not X'*(X*w - y) -> X'*X*w - X'*y)."""
    if e.op is Op.EINSUM:
        for k in _sum_positions(e):
            yield _expand(e, k)
        return
    terms = [_expand(t, _sum_positions(t)[0]) if _sum_positions(t) else t for t in e.args]
    if any(t is not u for t, u in zip(terms, e.args)):
        yield ir.add(terms, e.shape)
