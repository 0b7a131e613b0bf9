"""Checking derivatives against central finite differences: library code, usable by users.

`check(d)` compares the symbolic derivative of order k with central
differences of the order k-1 derivative (the function itself for k = 1).
Small variables are perturbed entry by entry; large ones in a few random
directions (a directional derivative is a contraction of the Jacobian with
the direction). Without values it draws them: dimensions between 2 and 4,
entries away from zero with random signs, square matrices well conditioned
and symmetric positive definite, trying all-positive entries when the first
draw leaves a function's domain (a log or sqrt of something negative).
Among the draws in the domain it prefers one where every kink (relu, step,
abs, sign, max, min) has its argument on both sides for some entries and
the derivative is not zero everywhere; when the derivative checked is zero
at every entry anyway, check() warns that it tested little.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import MatdiffError
from .ir.expr import Expr, dim_parts, topo_order
from .ir.expr import variables as ir_variables
from .ir.ops import Op
from .ir.properties import is_signs, label_of

__all__ = ["check", "check_bytes", "random_values", "finite_difference", "values_in_domain",
           "points_across_kinks", "kink_arguments", "kink_sides", "picked_sides"]

STEP = 1e-5
FULL_LIMIT = 64      # perturb entry by entry up to this many entries
DIRECTIONS = 4       # else this many random directions
DRAWS = 6            # random draws tried per sign pattern, looking for active kinks
MAX_KINKS = 32       # kinks whose sides are looked at
KINKS = frozenset({Op.RELU, Op.STEP, Op.ABS, Op.SIGN, Op.MAX, Op.MIN})


def random_values(variables: Mapping[str, Expr], seed: int = 0, positive: bool = False,
                  scale: float = 1.0, free: bool = False,
                  sizes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Random values for the variables, with symbolic dimensions drawn between 2 and 4
    (those in `sizes` given).

    A square matrix is drawn near the identity (well conditioned for inv and det) unless
    `free`: then like any matrix, far from its transpose, so that W*x and W'*x differ
    in sign somewhere."""
    rng = np.random.default_rng(seed)
    sizes = dict(sizes or {})
    for v in variables.values():
        for d in v.shape:
            for p in dim_parts(d):  # a concatenated axis n+m: its parts drawn, then added
                if not isinstance(p, int) and p not in sizes:
                    sizes[p] = int(rng.integers(2, 5))
    for v in variables.values():
        for d in v.shape:
            if not isinstance(d, int) and d not in sizes:
                sizes[d] = sum(p if isinstance(p, int) else sizes[p] for p in dim_parts(d))
    values: dict[str, np.ndarray] = {}
    for name, v in variables.items():
        shape = tuple(d if isinstance(d, int) else sizes[d] for d in v.shape)
        magnitude = rng.uniform(0.5, 1.5, shape) * scale
        sign = np.ones(shape) if positive else rng.choice([-1.0, 1.0], shape)
        value = magnitude * sign
        if len(shape) == 2 and shape[0] == shape[1] and not (free and not v.attr[1]):
            n = shape[0]
            b = rng.uniform(-0.5, 0.5, shape) if not positive else rng.uniform(0.0, 0.3, shape)
            value = (b @ b.T) / n + np.eye(n)  # symmetric positive definite, well conditioned
            if not v.attr[1] and not positive:
                value = value + 0.1 * rng.uniform(-1, 1, shape)
        label = label_of(v)
        if label is not None:  # a distribution: positive entries summing to 1 as declared
            value = _distribution(rng, shape, label)
        if is_signs(v):  # labels(-1, 1)
            value = rng.choice([-1.0, 1.0], shape)
        values[name] = value
    return values


def _distribution(rng: np.random.Generator, shape: tuple, label: tuple[str, str]) -> np.ndarray:
    kind, along = label
    axis = {"all": 0, "rows": 1, "cols": 0}[along]
    if kind == "one-hot":
        scores = rng.uniform(size=shape)
        return (scores == scores.max(axis=axis, keepdims=True)).astype(np.float64)
    p = rng.uniform(0.5, 1.5, shape)
    return p / p.sum(axis=axis, keepdims=True)


def finite_difference(f, x: np.ndarray, directions: list[np.ndarray] | None,
                      h: float = STEP) -> np.ndarray:
    """Central differences of f at x: the full Jacobian (shape f + shape x) when
    `directions` is None, else the stacked directional derivatives along them."""
    x = np.asarray(x, dtype=np.float64)
    if directions is None:
        out = np.asarray(f(x))
        jac = np.zeros(out.shape + x.shape)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = h
            jac[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
        return jac
    cols = [(np.asarray(f(x + h * u)) - np.asarray(f(x - h * u))) / (2 * h) for u in directions]
    return np.stack(cols)


def _kinks(coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Entries whose differences change with the step: a kink (relu, abs, max) lies
    within a step of the point, where central differences say nothing."""
    scale = max(1.0, float(np.max(np.abs(fine), initial=0.0)))
    return np.abs(coarse - fine) > 1e-6 * scale


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        raise MatdiffError(f"internal: derivative of shape {got.shape}, finite differences of "
                           f"shape {want.shape}")
    if got.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want)) / scale)


LIVE_VALUES = 5     # intermediate values alive at once while checking (measured: up to 5)


def check_bytes(e: Expr, function: Expr, wrt: str,
                variables: Mapping[str, Expr] | None = None, raw: Expr | None = None) -> int:
    """About how many bytes check(e, function, wrt, ...) allocates with drawn values,
    known before allocating anything.

    A server (or a user with declared sizes such as matrix(12000, 12000)) asks
    this first and refuses what it cannot afford. Symbolic dimensions count as
    4, the largest drawn. The estimate: the variables' values twice (drawn and
    perturbed), `LIVE_VALUES` copies of the largest value any node of the
    function or the derivative (`e`, and `raw` before simplification) takes,
    and the finite differences (two steps).
    """
    from .ir.expr import topo_order

    def numel(shape) -> int:
        n = 1
        for dim in shape:
            n *= dim if isinstance(dim, int) else 4
        return n

    variables = dict(variables if variables is not None else ir_variables(function))
    seen: set[Expr] = set()
    largest = 1
    for root in (function, e, raw):
        if root is not None:
            nodes = topo_order(root, seen)
            seen.update(nodes)
            largest = max([largest, *(numel(node.shape) for node in nodes)])
    values = sum(numel(v.shape) for v in variables.values())
    x = numel(variables[wrt].shape)
    lower = max(1, numel(e.shape) // max(x, 1))  # the order k-1 derivative's entries
    columns = x if x <= FULL_LIMIT else DIRECTIONS
    differences = 2 * lower * columns + (0 if x <= FULL_LIMIT else DIRECTIONS * x)
    return 8 * (2 * values + LIVE_VALUES * largest + differences)


def check(e: Expr, function: Expr, wrt: str, order: int = 1,
          variables: Mapping[str, Expr] | None = None,
          values: Mapping[str, Any] | None = None, seed: int = 0) -> float:
    """The max relative error of e, the order-th derivative of `function` by the variable
    `wrt`, against central finite differences. `variables` are the function's (default:
    those under it)."""
    from .derive import differentiate
    from .evaluate import evaluate

    variables = dict(variables if variables is not None else ir_variables(function))
    # The order k-1 derivative before the simplifier's rewrites: those may use a
    # declared symmetry, which finite differences step away from.
    lower = function
    for _ in range(order - 1):
        lower = differentiate(lower, variables[wrt])
    rng = np.random.default_rng(seed)
    if values is None:
        values = values_in_domain(e, variables, lower, seed)
    if wrt not in values:
        raise MatdiffError(f"check: no value given for '{wrt}'")
    symbolic = np.asarray(evaluate(e, values, variables), dtype=np.float64)  # validates values
    values = {k: np.asarray(v, dtype=np.float64) for k, v in values.items() if k in variables}

    def f(v: np.ndarray) -> np.ndarray:
        return np.asarray(evaluate(lower, {**values, wrt: v}, variables,
                                   check_symmetric=False), dtype=np.float64)

    x = values[wrt]
    directions = None
    if x.size > FULL_LIMIT:
        directions = [rng.standard_normal(x.shape) for _ in range(DIRECTIONS)]
    numeric = finite_difference(f, x, directions)
    kinks = _kinks(numeric, finite_difference(f, x, directions, STEP / 8))
    if directions is not None:
        k = x.ndim
        axes = list(range(symbolic.ndim - k, symbolic.ndim))
        symbolic = np.stack([np.tensordot(symbolic, u, axes=(axes, list(range(k))))
                             for u in directions])
    if kinks.any():
        warnings.warn(f"check: {int(kinks.sum())} of {kinks.size} entries lie within a "
                      "finite-difference step of a kink and are left out", stacklevel=3)
        symbolic, numeric = symbolic[~kinks], numeric[~kinks]
    exactly_zero = e.op is Op.CONST and e.attr == 0.0
    if not exactly_zero and not np.any(symbolic) and not np.any(numeric):
        warnings.warn("check: the derivative was zero everywhere it was checked, so the check "
                      "tested little (a relu or max inactive at these values?); give values "
                      "where it is not zero", stacklevel=3)
    return _relative_error(symbolic, numeric)


def values_in_domain(e: Expr, variables: Mapping[str, Expr], lower: Expr,
                     seed: int) -> dict[str, np.ndarray]:
    """Random values of `variables` at which both e and `lower` are finite."""
    from .evaluate import evaluate

    variables = dict(variables)
    kinks = [n for n in topo_order(lower) if n.op in KINKS][:MAX_KINKS]
    last = None
    fallback = None
    # mixed signs, all positive, then entries inside (-1, 1) (the domain of arcsin)
    for positive, scale in ((False, 1.0), (True, 1.0), (False, 0.5)):
        for attempt in range(DRAWS):
            values = random_values(variables, seed + 1000 * attempt, positive=positive,
                                   scale=scale)
            try:
                with np.errstate(all="ignore"):
                    derivative = np.asarray(evaluate(e, values, variables))
                    ok = np.all(np.isfinite(np.asarray(evaluate(lower, values, variables)))) and \
                        np.all(np.isfinite(derivative))
            except MatdiffError as err:
                last, ok = err, False
            if not ok:
                continue
            if not kinks:
                return values
            fallback = fallback or values
            if np.any(derivative) and all(_both_sides(k, values, variables) for k in kinks):
                return values
    if fallback is not None:
        return fallback
    if last is not None:
        raise last
    return random_values(variables, seed, positive=True)


def _both_sides(kink: Expr, values: Mapping[str, Any], variables: Mapping[str, Expr]) -> bool:
    """Whether the kink's argument (a - b for max and min) is positive somewhere and, when it
    has several entries, negative somewhere too: both of its pieces are exercised."""
    from .evaluate import evaluate

    args = [np.asarray(evaluate(a, values, variables), dtype=np.float64) for a in kink.args]
    z = args[0] - args[1] if len(args) == 2 else args[0]
    if z.size == 1:
        return bool(np.all(z != 0))
    return bool(np.any(z > 0) and np.any(z < 0))


SIDED = KINKS | {Op.LEAKY_RELU, Op.ELU}   # element-wise functions with a kink at 0
SIDE_VISITS = 2      # points on each side of every kink, where the draws allow
MAX_POINTS = 12      # the most points points_across_kinks returns
CANDIDATES = 24      # draws looked at


def kink_arguments(roots: list[tuple[Expr, Mapping[str, Expr]]]) -> list[tuple[Expr, Mapping]]:
    """The arguments whose sign picks a kink's piece (a - b for max(a, b) and min(a, b)),
    under each root, with the variables to evaluate them by."""
    out, seen = [], set()
    for root, variables in roots:
        for n in topo_order(root):
            if n.op not in SIDED or n in seen:
                continue
            seen.add(n)
            two = n.op in (Op.MAX, Op.MIN)
            out.append(((n.args[0], n.args[1]) if two else (n.args[0],), variables))
    return out[:MAX_KINKS]


def kink_sides(kink, values) -> tuple[bool, bool]:
    """Whether the kink's argument is positive at some entry, and negative at some entry."""
    return _sides_of(_argument(kink, values))


def _argument(kink, values) -> np.ndarray | None:
    """The kink's argument (a - b for max(a, b)) at the values; None where it fails."""
    from .evaluate import evaluate

    args, variables = kink
    try:
        with np.errstate(all="ignore"):
            vs = [np.asarray(evaluate(a, values, variables, check_symmetric=False), float)
                  for a in args]
    except MatdiffError:
        return None
    return vs[0] - vs[1] if len(vs) == 2 else vs[0]


def _sides_of(z) -> tuple[bool, bool]:
    if z is None:
        return False, False
    return bool(np.any(z > 0)), bool(np.any(z < 0))


def _measure(reds: list, kinks: list, variables: Mapping[str, Expr], target=None):
    """values -> (the reductions' gaps, the kinks' arguments), their nodes evaluated once;
    for a target only its reduction's and kinks' (the others None)."""
    from .evaluate import evaluate_each
    from .picks import gap

    rs = range(len(reds)) if target is None else [target.reduction]
    ks = range(len(kinks)) if target is None else target.kinks
    exprs = [reds[r][0].args[0] for r in rs] + [a for k in ks for a in kinks[k][0]]

    def measure(values):
        vs = evaluate_each(exprs, values, variables, check_symmetric=False)
        gaps: list = [None] * len(reds)
        zs: list = [None] * len(kinks)
        for r, v in zip(rs, vs):
            gaps[r] = gap(reds[r][0], v)
        at = len(rs)
        for k in ks:
            a = vs[at:at + len(kinks[k][0])]
            at += len(a)
            if all(x is not None for x in a):
                zs[k] = a[0] - a[1] if len(a) == 2 else a[0]
        return gaps, zs
    return measure


def picked_sides(roots: list[tuple[Expr, Mapping[str, Expr]]], points: list
                 ) -> list[tuple[tuple[Expr, tuple], tuple[bool, bool]]]:
    """For each max/min reduction under the roots and each kink of its argument's shape:
    whether at some point the kink's argument is positive at an entry the reduction
    picks, and whether negative at one (matdiff.picks)."""
    from . import picks

    kinks = kink_arguments(roots)
    reds = picks.reductions(roots)
    out = []
    targets = [t for t in picks.targets(reds, kinks, []) if t.kinks]
    measure = _measure(reds, kinks, roots[0][1])
    measured = [measure(p) for p in points]
    for t in targets:
        seen = [t.sides(*m) for m in measured]
        out.append(((reds[t.reduction][0], kinks[t.kinks[0]]),
                    (any(s[0] for s in seen), any(s[1] for s in seen))))
    return out


MAX_PAIRS = 16       # pairs of kinks whose disagreement is looked for


def _kink_pairs(kinks: list, theirs: int) -> list[tuple[int, int]]:
    """Pairs of a kink of the answer's own (kinks[theirs:]) and one of the derivative's,
    as indices, of one shape (or one of them scalar): where their arguments have
    opposite signs, one indicator is on and the other off. An answer whose kink sits
    elsewhere than the derivative's (step(w'*x) for step(w'*x + b)) is wrong only
    there, a region that visiting each kink's two sides alone may never reach."""
    from .picks import kink_shape

    shapes = [kink_shape(args) for args, _ in kinks]
    out = [(a, b) for a in range(theirs, len(kinks)) for b in range(theirs)
           if shapes[a] == shapes[b] or not shapes[a] or not shapes[b]]
    return out[:MAX_PAIRS]


def _pair_sides(za, zb) -> tuple[bool, bool]:
    """Whether the two kinks' arguments agree in sign at some entry, and disagree at some."""
    if za is None or zb is None:
        return False, False
    try:
        product = np.sign(za) * np.sign(zb)
    except ValueError:  # shapes that do not broadcast: nothing to look for
        return True, True
    return bool(np.any(product > 0)), bool(np.any(product < 0))


def points_across_kinks(e: Expr, variables: Mapping[str, Expr], lower: Expr, seed: int,
                        count: int = 4, extra: list[tuple[Expr, Mapping[str, Expr]]] = ()
                        ) -> list[dict[str, np.ndarray]]:
    """At least `count` random points where e and `lower` are finite, chosen so that
    every kink under e, `lower` and the `extra` roots has its argument positive at
    SIDE_VISITS of them and negative at SIDE_VISITS (where the draws allow): a
    comparison at such points sees every piece of a piecewise function, so two
    answers that differ on one side of a relu cannot look equal. Where a max/min
    reduction picks an entry, the kinks of its argument's shape are visited on both
    sides at the picked entry too (matdiff.picks), a side the draws miss climbed to."""
    from . import picks
    from .evaluate import evaluate

    variables = dict(variables)
    roots = [(lower, variables), (e, variables), *extra]
    kinks = kink_arguments(roots)
    theirs = len(kink_arguments([(lower, variables), (e, variables)]))
    pairs = _kink_pairs(kinks, theirs)  # the answer's kinks against e's
    reds = picks.reductions(roots)
    targets = picks.targets(reds, kinks, pairs)

    measure = _measure(reds, kinks, variables)

    def sides(measured):
        gaps, zs = measured
        return ([_sides_of(z) for z in zs] + [_pair_sides(zs[a], zs[b]) for a, b in pairs]
                + [t.sides(gaps, zs) for t in targets])

    def valid(values) -> bool:
        try:
            with np.errstate(all="ignore"):
                derivative = np.asarray(evaluate(e, values, variables))
                return bool(np.all(np.isfinite(np.asarray(evaluate(lower, values, variables))))
                            and np.all(np.isfinite(derivative)))
        except MatdiffError:
            return False
    found: list[tuple[dict, list[tuple[bool, bool]], bool, tuple, tuple]] = []
    # the first BASE rounds: plain draws, positive ones, smaller ones, and square matrices
    # far from their transposes; then larger values, only for a side no draw has reached
    base = 4
    rounds = [(False, 1.0, False), (True, 1.0, False), (False, 0.5, False), (False, 1.0, True),
              (False, 4.0, False), (False, 16.0, False), (False, 64.0, False)]
    for r, (positive, scale, free) in enumerate(rounds):
        if r == base - 1 and not pairs:
            continue
        if r >= base and (not kinks or all(any(f[1][i][s] for f in found)
                                           for i in range(len(kinks)) for s in (0, 1))):
            break  # larger values only to reach a side of a kink no draw has reached
        for attempt in range(CANDIDATES if kinks else count + 2):
            values = random_values(variables, seed + 1000 * attempt + 7 * len(found),
                                   positive=positive, scale=scale, free=free)
            try:
                with np.errstate(all="ignore"):
                    derivative = np.asarray(evaluate(e, values, variables))
                    ok = np.all(np.isfinite(np.asarray(evaluate(lower, values, variables)))) \
                        and np.all(np.isfinite(derivative))
            except MatdiffError:
                ok = False
            if ok:
                measured = measure(values)
                found.append((values, sides(measured), bool(np.any(derivative)),
                              (positive, scale, free), measured))
        if len(found) >= count and r < base:
            # every kink's two sides, and (among the first rounds' sizes, which include
            # smaller values) every pair of kinks where they disagree
            if not kinks or (all(any(f[1][i][s] for f in found)
                                 for i in range(len(kinks)) for s in (0, 1))
                             and (r == base - 1 or all(any(f[1][i][1] for f in found) for i in
                                                range(len(kinks), len(kinks) + len(pairs))))):
                break
    if not found:
        return [values_in_domain(e, variables, lower, seed + k) for k in range(count)]
    first = len(kinks) + len(pairs)   # the picked entries' targets follow
    for t, target in enumerate(targets):
        for side in target.wanted if target.kinks else ():
            if any(f[1][first + t][side] for f in found):
                continue
            start = max(found, key=lambda f: target.score(side, *f[4]))

            def draw(at, sizes, how=start[3]):
                return random_values(variables, at, positive=how[0], scale=how[1],
                                     free=how[2], sizes=sizes)
            values = picks.climb(target, side, start[0], variables,
                                 _measure(reds, kinks, variables, target), draw, valid,
                                 seed + 31 * t + side)
            if values is not None:
                measured = measure(values)
                found.append((values, sides(measured),
                              bool(np.any(evaluate(e, values, variables))), start[3], measured))
    need = {(i, s): SIDE_VISITS for i in range(first) for s in (0, 1)}
    need.update({(first + t, s): 1 for t, target in enumerate(targets) for s in target.wanted})
    chosen: list[int] = []
    while len(chosen) < MAX_POINTS:
        def gain(j):
            return sum(1 for (i, s), left in need.items() if left and found[j][1][i][s])
        rest = [j for j in range(len(found)) if j not in chosen]
        if not rest:
            break
        best = max(rest, key=lambda j: (gain(j), found[j][2], -j))
        if gain(best) == 0 and len(chosen) >= count:
            break
        chosen.append(best)
        for (i, s) in need:
            if need[(i, s)] and found[best][1][i][s]:
                need[(i, s)] -= 1
    return [found[j][0] for j in chosen]
