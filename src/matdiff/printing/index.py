"""Index notation, for tensors with no matrix form (three or four axes).

The derivative of `W*x` with respect to `W` is a 3-tensor `T[i,j,k] =
δ[i,j]*x[k]`: there is no matrix to write, but there is a formula in
indices, and matdiff always shows one (never "cannot display"). Axes get
the names i, j, k, l, ... in order; summed indices p, q, r, ...; letters
that name a variable of the expression are skipped (a variable `k` makes
the axes i, j, l), and the result is `T` unless a variable is; a label
repeated in an einsum's output becomes a Kronecker delta between the two
axes it joins. Pieces with a matrix form keep it and are indexed as a
whole: `(A + A')[i,j]`.

The result is a Form of kind "index" whose value is a small tree of tuples,
rendered by each printer's index_* methods:

    ("num", c)  ("entry", k, names)  ("delta", a, b)  ("prod", items)
    ("sum", names, body)  ("add", [(sign, item)])  ("call", name, items)
    ("at", call, names): the entry names of a call's result (a window op's)
    ("pow", base, exponent)

("entry", k, names) is the k-th argument form of the index Form, indexed.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import MatdiffError
from ..ir.expr import Expr
from ..ir.ops import ELEMENTWISE_BINARY, ELEMENTWISE_UNARY, WINDOW_OPS, Op, spelling, window_ranks
from . import form as F
from .form import Form

__all__ = ["index_form", "FREE_NAMES", "SUM_NAMES", "RESULT_NAMES", "MAX_INDEX_DEPTH"]

FREE_NAMES = "ijklmnab"
SUM_NAMES = "pqrsuvwcdefgh"
RESULT_NAMES = "TUVSRQ"
MAX_INDEX_DEPTH = 200  # nested tensor-valued pieces; derivatives stay far below this


class _Letters:
    """Index names from a pool, skipping names taken by variables or used already."""

    def __init__(self, pool: str, stem: str, taken: set[str]) -> None:
        self.pool, self.stem, self.taken = pool, stem, taken
        self.count = 0

    def __next__(self) -> str:
        while True:
            k = self.count
            self.count += 1
            name = self.pool[k] if k < len(self.pool) else f"{self.stem}{k - len(self.pool) + 1}"
            if name not in self.taken:
                self.taken.add(name)
                return name


class _Builder:
    def __init__(self, forms: dict[Expr, Form], taken: set[str]) -> None:
        self.forms = forms
        self.args: list[Form] = []
        self.slots: dict[int, int] = {}
        self.summed = _Letters(SUM_NAMES, "p", taken)

    def entry(self, f: Form, names: tuple[str, ...]) -> tuple:
        k = self.slots.get(id(f))
        if k is None:
            k = self.slots[id(f)] = len(self.args)
            self.args.append(f)
        return ("entry", k, names)

    def fresh(self) -> str:
        return next(self.summed)

    def build(self, node: Expr, names: tuple[str, ...], depth: int) -> tuple:
        if depth > MAX_INDEX_DEPTH:
            raise MatdiffError("the expression nests tensor-valued pieces too deeply to print "
                               "in index notation")
        f = self.forms.get(node) if depth else None
        if f is not None and f.orient != "t" and node.op is not Op.CONST:
            return self.entry(f, names)
        if node.op is Op.CONST:
            return ("num", node.attr)
        if node.op is Op.EINSUM:
            return self._einsum(node, names, depth)
        if node.op is Op.ADD:
            terms = []
            for t in node.args:
                body = self.build(t, names, depth + 1)
                sign = 1
                if body[0] == "prod" and body[1] and body[1][0][0] == "num" and body[1][0][1] < 0:
                    sign = -1
                    c = -body[1][0][1]
                    rest = list(body[1][1:])
                    body = ("prod", ([("num", c)] if c != 1.0 else []) + rest)
                terms.append((sign, body))
            return ("add", terms)
        called = ELEMENTWISE_UNARY + ELEMENTWISE_BINARY
        if node.op in called and node.op is not Op.POW:  # f(x), max(x, y)
            return ("call", spelling(node.op), [self.build(a, names, depth + 1) for a in node.args])
        if node.op is Op.POW:
            base, ex = (self.build(a, names, depth + 1) for a in node.args)
            return ("pow", base, ex)
        if node.op in WINDOW_OPS:  # conv2(δ_pqcd, K): the op on its spatial axes (fresh
            # letters), the trailing axes (the variable's) named as the node's
            call = ("call", spelling(node.op), self._window_args(node, names, depth))
            out_rank = window_ranks(node.op, node.attr)[1]
            return ("at", call, tuple(names[:out_rank]))
        if node.op is Op.CONCAT:  # blocks along one axis, each over the same index names
            slice_names = names[:node.attr] + names[node.attr + 1:]  # one entry along it
            return ("block", names[node.attr],
                    [self.build(a, names if a.ndim == node.ndim else slice_names, depth + 1)
                     for a in node.args])
        raise MatdiffError(f"no index notation for {node.op.value} of a "
                           f"{node.ndim}-axis tensor")  # pragma: no cover

    def _window_args(self, node: Expr, names: tuple[str, ...], depth: int) -> list:
        rank, out_rank = window_ranks(node.op, node.attr)
        trailing = list(names[out_rank:])
        args = []
        for a in node.args:
            own = tuple(self.fresh() for _ in range(rank)) + tuple(trailing[:a.ndim - rank])
            trailing = trailing[a.ndim - rank:]
            args.append(self.build(a, own, depth + 1))
        return args

    def _einsum(self, node: Expr, names: tuple[str, ...], depth: int) -> tuple:
        ins, out, _ = node.attr
        name_of: dict[int, str] = {}
        deltas: list[tuple] = []
        for label, name in zip(out, names):
            if label in name_of:  # a label repeated in the output: a Kronecker delta
                deltas.append(("delta", name_of[label], name))
            else:
                name_of[label] = name
        summed: list[str] = []
        for lab in ins:
            for x in lab:
                if x not in name_of:
                    name_of[x] = self.fresh()
                    summed.append(name_of[x])
        coef: list[tuple] = []
        operands: list[tuple] = []
        for a, lab in zip(node.args, ins):
            if a.op is Op.CONST and a.ndim == 0:
                coef.append(("num", a.attr))
            else:
                operands.append(self.build(a, tuple(name_of[x] for x in lab), depth + 1))
        body = ("prod", coef + deltas + operands)
        return ("sum", tuple(summed), body) if summed else body


def index_form(node: Expr, forms: dict[Expr, Form], variables: Iterable[str] = ()) -> Form:
    """node in index notation over its axes i, j, k, ...; matrix-form pieces kept.

    `variables` are the names the index letters and the result's name avoid.
    """
    taken = set(variables)
    result = next((r for r in RESULT_NAMES if r not in taken), "T")
    free = _Letters(FREE_NAMES, "i", taken)
    names = tuple(next(free) for _ in range(node.ndim))
    builder = _Builder(forms, taken)
    body = builder.build(node, names, 0)
    return F.index((names, body, result), tuple(builder.args))
