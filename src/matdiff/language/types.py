"""Surface types and symbolic dimensions, unified across an expression.

A surface type is a kind (scalar, column vector, row vector, matrix) and
its dimensions. Row vectors exist only here: in the IR a row vector is the
same 1-D tensor as the column it transposes. Dimensions are unknowns solved
by union-find; each may be tied to a declared symbol or bound to an integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MatdiffError

__all__ = ["DimVar", "SurfaceType", "Dims", "parse_declaration", "parse_declarations"]


class DimVar:
    """An unknown dimension; roots carry a declared symbol or an integer."""

    __slots__ = ("parent", "symbol", "value", "parts")

    def __init__(self, symbol: str | None = None, value: int | None = None,
                 parts: tuple[DimVar, ...] = ()) -> None:
        self.parent: DimVar = self
        self.symbol = symbol
        self.value = value
        self.parts = parts  # a concatenated axis: the sum of these lengths

    def root(self) -> DimVar:
        node = self
        while node.parent is not node:
            node.parent = node.parent.parent
            node = node.parent
        return node


class Dims:
    """The dimensions of one expression: creation, unification and final names."""

    _POOL = ("n", "m", "p", "q", "r", "s", "t", "k", "l", "u", "v", "w")

    def __init__(self) -> None:
        self.symbols: dict[str, DimVar] = {}
        self.names: dict[DimVar, str | int] = {}
        # sums made by solving (m is p+q), not by a join: a join's blocks give its IR shape
        # in their order, so where the two meet the join's order names both
        self.solved: set[DimVar] = set()

    def new(self) -> DimVar:
        return DimVar()

    def declared(self, spec: str | int) -> DimVar:
        if isinstance(spec, int):
            return DimVar(value=spec)
        if spec not in self.symbols:
            self.symbols[spec] = DimVar(symbol=spec)
        return self.symbols[spec]

    def total(self, parts: list[DimVar]) -> DimVar:
        """The length of a concatenated axis: the sum of the parts' lengths."""
        if len(parts) == 1:
            return parts[0]
        return DimVar(parts=tuple(parts))

    def _sum_value(self, r: DimVar) -> int | None:
        values = [self._value(p) for p in r.parts]
        return None if None in values else sum(values)

    def _value(self, d: DimVar) -> int | None:
        r = d.root()
        if r.parts:
            return self._sum_value(r)
        return r.value

    def _plain(self, r: DimVar) -> bool:
        return r.value is None and r.symbol is None and not r.parts

    def _occurs(self, d: DimVar, total: DimVar) -> bool:
        """Whether d is one of the parts of the concatenated axis total (x + [x; y])."""
        stack = [total.root()]
        while stack:
            r = stack.pop()
            if r is d:
                return True
            stack.extend(p.root() for p in r.parts)
        return False

    def _terms(self, r: DimVar) -> tuple[dict[DimVar, int], int]:
        """A dimension as a sum: how often each unjoined unknown or symbol occurs in it, and
        the numbers added up (n+m+n+2 -> {n: 2, m: 1}, 2)."""
        counts: dict[DimVar, int] = {}
        number = 0
        stack = [r.root()]
        while stack:
            x = stack.pop()
            if x.parts:
                stack.extend(p.root() for p in x.parts)
            elif x.value is not None:
                number += x.value
            else:
                counts[x] = counts.get(x, 0) + 1
        return counts, number

    def _solve_sum(self, ra: DimVar, rb: DimVar, apply: bool) -> bool:
        """Two lengths of which one (at least) is a join, made equal as a linear equation
        over positive lengths: the unknowns both sides share cancel; then one unknown left
        alone on a side is the rest of the other (n+m = n+p+q: m is p+q); k copies of one
        unknown against k copies of another make them one (m+m = n+n: m is n); k copies
        against a number divide it (n+n = 6: n is 3). Nothing else is solved (n+m = p+q
        could split either way), and an unknown never equals a sum that holds it."""
        a, na = self._terms(ra)
        b, nb = self._terms(rb)
        for x in set(a) & set(b):
            common = min(a[x], b[x])
            a[x] -= common
            b[x] -= common
        a = {x: k for x, k in a.items() if k}
        b = {x: k for x, k in b.items() if k}
        if b and not a:
            a, b, na, nb = b, a, nb, na  # the unknowns on the left
        if not a:
            ok = na == nb
        elif len(a) == 1 and not b:  # k*x + na = nb
            (x, k), rest = next(iter(a.items())), nb - na
            ok = rest >= k and rest % k == 0
            if ok and apply:
                x.value = rest // k
        elif len(a) == 1 and len(b) == 1 and list(a.values()) == list(b.values()) and na == nb:
            (x,), (y,) = a, b  # k*x = k*y
            ok = self.unify(x, y) if apply else self.can_unify(x, y)
        else:  # x + na = (the rest) + nb, x alone on either side
            ok = False
            for one, other, extra in ((a, b, nb - na), (b, a, na - nb)):
                x = next(iter(one))
                if len(one) == 1 and one[x] == 1 and self._plain(x) and extra >= 0 and \
                        (other or extra):
                    ok = True
                    if apply:
                        parts = [y for y, k in other.items() for _ in range(k)]
                        parts += [DimVar(value=extra)] if extra else []
                        x.parent = self.total(parts)
                        self.solved.add(x.parent)
                    break
        ra, rb = ra.root(), rb.root()
        if ok and apply and ra is not rb and ra.parts and rb.parts and ra not in self.solved and \
                rb not in self.solved and self._order(ra) != self._order(rb):
            return False  # [x; y] and [y; x]: equal lengths, but each names its own order
        if ok and apply and ra is not rb:  # the join keeps its parts (its name), the other
            keep, follow = (ra, rb) if (ra.parts and ra not in self.solved) or not rb.parts \
                or rb in self.solved else (rb, ra)
            follow.parent = keep
        return ok

    def _order(self, r: DimVar) -> list:
        """The parts of a join, in order, as roots (numbers by value)."""
        return [p.root().value if p.root().value is not None else p.root() for p in r.parts]

    def _unify_sum(self, ra: DimVar, rb: DimVar) -> bool:
        """A concatenated axis is one with an unknown, an equal sum, or a number equal to it,
        solved where the equation has one solution (_solve_sum)."""
        if self._plain(rb) and not self._occurs(rb, ra):
            rb.parent = ra
            return True
        if self._plain(ra) and not self._occurs(ra, rb):
            ra.parent = rb
            return True
        return self._solve_sum(ra, rb, apply=True)

    def unify(self, a: DimVar, b: DimVar) -> bool:
        """Make a and b one dimension; False when they cannot be."""
        ra, rb = a.root(), b.root()
        if ra is rb:
            return True
        if ra.parts or rb.parts:
            return self._unify_sum(ra, rb)
        if ra.value is not None and rb.value is not None and ra.value != rb.value:
            return False
        if ra.symbol is not None and rb.symbol is not None and ra.symbol != rb.symbol:
            return False
        rb.parent = ra
        ra.value = ra.value if ra.value is not None else rb.value
        ra.symbol = ra.symbol if ra.symbol is not None else rb.symbol
        return True

    def can_unify(self, a: DimVar, b: DimVar) -> bool:
        """Whether a and b could be made one dimension (nothing is changed)."""
        ra, rb = a.root(), b.root()
        if ra is rb:
            return True
        if ra.parts or rb.parts:
            return (self._plain(ra) and not self._occurs(ra, rb)) or (
                self._plain(rb) and not self._occurs(rb, ra)) or self._solve_sum(
                ra, rb, apply=False)
        if ra.value is not None and rb.value is not None and ra.value != rb.value:
            return False
        return not (ra.symbol is not None and rb.symbol is not None and ra.symbol != rb.symbol)

    def known_equal(self, a: DimVar, b: DimVar) -> bool:
        """Whether a and b are already one dimension (one variable, or one number; two
        joins whose parts are)."""
        ra, rb = a.root(), b.root()
        va = self._value(ra)
        if ra is rb or (va is not None and va == self._value(rb)):
            return True
        return bool(ra.parts) and len(ra.parts) == len(rb.parts) and all(
            self.known_equal(x, y) for x, y in zip(ra.parts, rb.parts))

    def name(self, d: DimVar) -> str | int:
        """The final dimension: its integer, its declared symbol, or a fresh letter; a
        concatenated axis is the sum of its parts ("n+m", or a number when all are)."""
        r = d.root()
        if r.parts:
            value = self._sum_value(r)
            if value is not None:
                return value
            from ..ir.expr import dim_sum

            return dim_sum([self.name(p) for p in r.parts])
        if r.value is not None:
            return r.value
        if r.symbol is not None:
            return r.symbol
        if r not in self.names:
            taken = set(self.symbols) | {v for v in self.names.values() if isinstance(v, str)}
            fresh = next((p for p in self._POOL if p not in taken), None)
            k = 1
            while fresh is None:
                fresh = f"n{k}" if f"n{k}" not in taken else None
                k += 1
            self.names[r] = fresh
        return self.names[r]


@dataclass(frozen=True)
class SurfaceType:
    kind: str                        # scalar | col | row | matrix
    dims: tuple[DimVar, ...]
    symmetric: bool = False
    label: tuple[str, str] | None = None  # a distribution: (kind, along), see LABELS

    def describe(self, dims: Dims) -> str:
        names = [str(dims.name(d)) for d in self.dims]
        if self.kind == "scalar":
            return "a scalar"
        if self.kind == "empty":
            return "[] (the empty matrix)"
        if self.kind == "col":
            return f"a vector ({names[0]})"
        if self.kind == "row":
            return f"a row vector (1 x {names[0]})"
        return f"a matrix ({names[0]} x {names[1]})"


_DECL = re.compile(
    r"^\s*(?P<mod>symmetric|square)?\s*(?P<kind>scalar|row\s+vector|column\s+vector|vector|matrix)"
    r"\s*(?:\((?P<dims>[^)]*)\))?\s*$", re.IGNORECASE)
_DIM = re.compile(r"^\s*(?:(?P<int>\d+)|(?P<sym>[A-Za-z][A-Za-z0-9_]*))\s*$")


# Declarations of labels: vectors (and the rows or columns of matrices) whose entries
# are a distribution, summing to 1. The phrase a user would write -> (kind, shape, along).
_LABEL = re.compile(
    r"^\s*(?P<what>probability|prob|one[- ]?hot|onehot|stochastic|distribution|simplex)"
    r"(?:\s+(?P<shape>vector|column\s+vector|row\s+vector|rows|columns|cols|matrix))?"
    r"\s*(?:\((?P<dims>[^)]*)\))?\s*$", re.IGNORECASE)
_ROW_STOCHASTIC = re.compile(
    r"^\s*(?P<along>row|column)[- ]stochastic\s+matrix\s*(?:\((?P<dims>[^)]*)\))?\s*$",
    re.IGNORECASE)
LABELS = {
    "vector": "probability vector, one-hot vector (also: distribution, simplex vector, "
              "stochastic vector, onehot vector)",
    "rows": "probability rows, one-hot rows (also: probability matrix, one-hot matrix, "
            "row-stochastic matrix): each row sums to 1",
    "cols": "probability columns, one-hot columns (also: column-stochastic matrix): each "
            "column sums to 1",
}


# Labels in {-1, 1} (the targets of a margin or logistic loss): labels(-1, 1), alone (a
# vector) or followed by the type, as in "labels(-1, 1) vector(n)".
_SIGNS = re.compile(r"^\s*labels?\s*\(\s*-\s*1\s*,\s*\+?\s*1\s*\)\s*(?P<rest>.*)$",
                    re.IGNORECASE)


def _label_declaration(name: str, spec: str, dims: Dims) -> SurfaceType | None:
    """ "one-hot rows(n, k)", "probability vector", "labels(-1, 1)" -> a labelled type; None
    if no label."""
    signs = _SIGNS.match(spec)
    if signs:
        plain = parse_declaration(name, signs.group("rest").strip() or "vector", dims)
        return SurfaceType(plain.kind, plain.dims, label=("signs", "all"))
    m = _LABEL.match(spec)
    if m:
        what = m.group("what").lower().replace(" ", "").replace("-", "")
        kind = "one-hot" if what == "onehot" else "probability"
        shape = " ".join((m.group("shape") or "vector").lower().split())
        along = {"rows": "rows", "matrix": "rows", "columns": "cols", "cols": "cols"}.get(
            shape, "all")
    else:
        m = _ROW_STOCHASTIC.match(spec)
        if not m:
            return None
        kind, along = "probability", "rows" if m.group("along").lower() == "row" else "cols"
        shape = "matrix"
    base = "vector" if along == "all" else "matrix"
    if along == "all" and shape == "row vector":
        base = "row vector"
    given = m.group("dims")
    want = 1 if along == "all" else 2
    if given is not None and given.strip() and len(given.split(",")) > want:
        raise MatdiffError(
            f"the declaration {name}={spec!r} gives {len(given.split(','))} dimensions, but "
            f"a {kind} {'vector' if along == 'all' else 'matrix'} has {want}: write "
            + ("'probability vector(k)'" if along == "all" else "'one-hot rows(n, k)'"))
    plain = parse_declaration(name, base + (f"({given})" if given else ""), dims)
    return SurfaceType(plain.kind, plain.dims, label=(kind, along))


# A declaration starts where a name and '=' follow a separator, so commas inside
# `matrix(m, n)` stay in their type: "A=matrix(m, n), b=scalar" is two items.
_SPLIT = re.compile(r"[,;\n]\s*(?=[A-Za-z_][A-Za-z0-9_]*\s*=)")


def parse_declarations(text: str) -> dict[str, str]:
    """`"A=symmetric matrix, b=scalar"` -> {"A": "symmetric matrix", "b": "scalar"}: the
    declarations a user types (on the command line, in the web page) as one text."""
    out: dict[str, str] = {}
    for item in _SPLIT.split(text.strip()):
        item = item.strip().rstrip(",;").strip()
        if not item:
            continue
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise MatdiffError("declarations are NAME=TYPE separated by commas, as in "
                               f"'A=symmetric matrix, b=scalar'; cannot read {item!r}")
        out[name.strip()] = kind.strip()
    return out


def parse_declaration(name: str, spec: object, dims: Dims) -> SurfaceType:
    """ "symmetric matrix", "vector(n)", "matrix(m, n)", "scalar" -> a surface type."""
    if not isinstance(spec, str):
        raise MatdiffError(f"the declaration of '{name}' must be text such as \"vector\", "
                           f"not {type(spec).__name__}")
    m = _DECL.match(spec)
    if not m:
        labelled = _label_declaration(name, spec, dims)
        if labelled is not None:
            return labelled
        raise MatdiffError(f"cannot read the declaration {name}={spec!r}: expected scalar, vector, "
                           "row vector, matrix or symmetric matrix, optionally with dimensions "
                           "such as matrix(m, n), or a label such as probability vector or "
                           "one-hot rows")
    kind = " ".join(m.group("kind").lower().split())
    mod = (m.group("mod") or "").lower()
    given: list[DimVar] = []
    if m.group("dims") is not None and m.group("dims").strip():
        for part in m.group("dims").split(","):
            terms = []  # a sum n+m: the length of a concatenated axis
            for term in part.split("+"):
                dm = _DIM.match(term)
                if not dm:
                    raise MatdiffError(f"bad dimension {part.strip()!r} in the declaration "
                                       f"of '{name}'")
                if dm.group("int"):
                    value = int(dm.group("int"))
                    if value < 1:
                        raise MatdiffError(f"dimension {value} of '{name}' must be at least 1")
                    terms.append(dims.declared(value))
                else:
                    terms.append(dims.declared(dm.group("sym")))
            given.append(dims.total(terms))
    if kind == "scalar":
        if mod or given:
            raise MatdiffError(f"a scalar has no dimensions or modifiers: {name}={spec!r}")
        return SurfaceType("scalar", ())
    if kind in ("vector", "column vector", "row vector"):
        if mod or len(given) > 1:
            raise MatdiffError(f"a vector has one dimension: {name}={spec!r}")
        return SurfaceType("row" if kind == "row vector" else "col", (given or [dims.new()])[0:1])
    square = mod in ("symmetric", "square")
    if len(given) > 2 or (square and len(given) == 2 and not dims.unify(given[0], given[1])):
        raise MatdiffError(f"cannot read the dimensions of {name}={spec!r}")
    if not given:
        given = [dims.new(), dims.new()]
    if len(given) == 1:
        given = given * 2 if square else [given[0], dims.new()]
    if square:
        given = [given[0], given[0]]
    return SurfaceType("matrix", tuple(given), symmetric=(mod == "symmetric"))
