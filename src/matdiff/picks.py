"""The entries a max/min reduction picks, and the kinks there: where compare's points go.

A slip inside max(x) or min(x) (of each row or column, max(X, [], d); of each
block, maxpool) matters only at the entry the reduction picks:
eq(z, max(z)).*step(a) is wrong where step(a) is wrong *at the picked entry*,
and visiting both sides of each kink somewhere (verify.points_across_kinks)
may never visit them there. So for each reduction and each kink of the
reduced argument's shape (a relu, step, abs, elementwise max(a, b), ... of the
function, the derivative or the answer), a `Target` asks for a point where, at
a picked entry, the kink's argument is positive and one where it is negative;
for a pair of kinks (the answer's against the derivative's), a point where they
agree in sign there and one where they disagree; and a point where the
reduction ties (eq(...) picks two entries), which the draws keep when they meet
one (a tie has measure zero unless a relu's zeros make it).

A side no random draw reaches is climbed to (`climb`): from the draw that comes
closest, one variable at a time (or all) moves part of the way toward a fresh
draw of the same sizes, kept when it brings an entry with the kink on the
wanted side no further from being the picked one (a continuous score, 0 once it
is picked). Moving toward a fresh draw keeps each variable's declared kind: a
mix of two distributions is one, of two symmetric matrices symmetric; labels
and one-hot rows are only replaced whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .ir.expr import Expr, topo_order
from .ir.ops import Op
from .ir.properties import is_signs, label_of

__all__ = ["PICKING", "Target", "reductions", "targets", "gap", "climb", "kink_shape"]

PICKING = frozenset({Op.VMAX, Op.VMIN, Op.MAXPOOL})   # reductions that pick an entry
MAX_REDUCTIONS = 4
MAX_TARGETS = 24
CLIMB_STEPS = 120    # moves tried per unreached side of a kink (a third for a pair)
STALL = 40           # moves in a row that bring it no nearer, after which it stops


def kink_shape(args: tuple[Expr, ...]) -> tuple:
    """The shape of a kink's argument (a - b broadcasts a scalar)."""
    return max((a.shape for a in args), key=len)


def reductions(roots: list[tuple[Expr, Mapping[str, Expr]]]) -> list[tuple[Expr, Mapping]]:
    """The picking reductions of an array under the roots, with their variables."""
    out, seen = [], set()
    for root, variables in roots:
        for n in topo_order(root):
            if n.op in PICKING and n.args[0].shape and n not in seen:
                seen.add(n)
                out.append((n, variables))
    return out[:MAX_REDUCTIONS]


@dataclass(frozen=True)
class Target:
    """A reduction (an index into the reductions) and the kinks (indices into the
    kink list) looked at where it picks: one, the kink's two sides; two, a pair agreeing
    and disagreeing in sign; none, a tie (wanted only when it happens)."""

    reduction: int
    kinks: tuple[int, ...]

    @property
    def wanted(self) -> tuple[int, ...]:
        return (0, 1) if self.kinks else (0,)

    def sides(self, gaps: list, zs: list) -> tuple[bool, bool]:
        if gaps[self.reduction] is None:
            return False, False
        g, count = gaps[self.reduction]
        picked = g == 0
        if not self.kinks:
            return bool(picked.sum() > count), True
        w = self._sign(g, zs)
        if w is None:
            return False, False
        return bool(np.any(w[picked] > 0)), bool(np.any(w[picked] < 0))

    def _sign(self, g, zs):
        """The kink's argument (for a pair the signed geometric mean of the two),
        broadcast to the reduced argument's shape."""
        vs = [zs[k] for k in self.kinks]
        if any(v is None for v in vs):
            return None
        w = vs[0] if len(vs) == 1 else np.sign(vs[0] * vs[1]) * np.sqrt(np.abs(vs[0] * vs[1]))
        try:
            return np.broadcast_to(w, g.shape)
        except ValueError:
            return None

    def score(self, side: int, gaps: list, zs: list) -> float:
        """How near a picked entry is to having the wanted side: 0 when one has, below 0
        by the distance (of the entry from being picked, or of its kink argument from
        the side) of the nearest."""
        g = None if gaps[self.reduction] is None else gaps[self.reduction][0]
        w = None if g is None else self._sign(g, zs)
        if w is None:
            return -np.inf
        w = w if side == 0 else -w
        best = float(np.max(np.minimum(g, np.where(w > 0, 0.0, w - 1e-12 * (1 + abs(w))))))
        return best if np.isfinite(best) else -np.inf


def targets(reds: list, kinks: list, pairs: list[tuple[int, int]]) -> list[Target]:
    """A target per reduction and each kink, and each pair of kinks, of its argument's
    shape, and one per reduction for a tie."""
    out = []
    for r, (node, _) in enumerate(reds):
        shape = node.args[0].shape
        out += [Target(r, (k,)) for k, (args, _) in enumerate(kinks)
                if kink_shape(args) == shape]
        out += [Target(r, pair) for pair in pairs
                if max((kink_shape(kinks[k][0]) for k in pair), key=len) == shape]
        out.append(Target(r, ()))
    return out[:MAX_TARGETS]


def gap(node: Expr, a: np.ndarray | None) -> tuple[np.ndarray, int] | None:
    """How far each entry of the reduction's argument (its value a) is from the extreme
    of its row, column or block (0 where picked, below 0 elsewhere), and the number of
    entries the reduction gives (each picks at least one); None without a finite a."""
    if a is None or not np.all(np.isfinite(a)):
        return None
    big = node.op is not Op.VMIN
    if node.op is Op.MAXPOOL:
        rank, s = node.attr
        blocks = tuple(m // s for m in a.shape[:rank])
        inner = a[tuple(slice(0, b * s) for b in blocks)]
        split = inner.reshape(sum(((b, s) for b in blocks), ()) + a.shape[rank:])
        r = split.max(axis=tuple(range(1, 2 * rank, 2)))
        spread = r
        for axis in range(rank):
            spread = np.repeat(spread, s, axis=axis)
        extreme = np.full(a.shape, np.inf)
        extreme[tuple(slice(0, b * s) for b in blocks)] = spread
        count = r.size
    elif node.attr is None:
        extreme = a.max() if big else a.min()
        count = 1
    else:
        r = a.max(axis=node.attr) if big else a.min(axis=node.attr)
        extreme, count = np.expand_dims(r, node.attr), r.size
    return (a - extreme if big else extreme - a), count


def _sizes(variables: Mapping[str, Expr], values: Mapping) -> dict:
    return {d: n for name, v in variables.items() if name in values
            for d, n in zip(v.shape, np.shape(values[name])) if isinstance(d, str)}


def climb(target: Target, side: int, start: dict, variables: Mapping[str, Expr],
          measure: Callable, draw: Callable, valid: Callable, seed: int) -> dict | None:
    """Values where the target's side is reached, climbed to from `start`, or None.

    `measure(values)` -> (gaps, zs); `draw(seed, sizes)` -> fresh values of those sizes;
    `valid(values)`: whether the function and the derivative are finite there."""
    rng = np.random.default_rng(seed)
    sizes = _sizes(variables, start)
    names = [n for n in variables if n in start]
    plain = [n for n in names if label_of(variables[n]) is None and not is_signs(variables[n])]
    current = dict(start)
    best = target.score(side, *measure(current))
    t, stall = 0.5, 0
    for step in range(CLIMB_STEPS if len(target.kinks) == 1 else CLIMB_STEPS // 3):
        if stall > STALL:
            break
        moved = dict(current)
        if plain and rng.random() < 0.3:   # one plain variable grown, shrunk or negated
            name = plain[rng.integers(len(plain))]
            moved[name] = current[name] * rng.choice([2.0, 0.5, -1.0])
        else:                              # one variable (or all) part of the way to a draw
            fresh = draw(seed + 7919 * (step + 1), sizes)
            chosen = names if rng.random() < 0.3 else [names[rng.integers(len(names))]]
            for name in chosen:
                whole = is_signs(variables[name]) or \
                    (label_of(variables[name]) or ("",))[0] == "one-hot"
                moved[name] = fresh[name] if whole else \
                    (1 - t) * current[name] + t * fresh[name]
        gaps, zs = measure(moved)
        score = target.score(side, gaps, zs)
        if score >= best and np.isfinite(score):
            if target.sides(gaps, zs)[side] and valid(moved):
                return moved
            stall = 0 if score > best else stall + 1
            current, best, t = moved, score, min(1.0, t * 1.5)
        else:
            stall, t = stall + 1, max(0.02, t * 0.6)
    return None
