"""Surface forms: the matrix-notation tree the printers print.

The IR knows products only as einsums; a reader knows `A'*x`, `diag(x)`,
`x.*y` and `eye`. A Form is one node of that reader's notation. Every Form
records its surface kind, which decides how it may combine:

    "s" scalar, "c" column vector, "r" row vector, "m" matrix, "t" a tensor
    of three or more axes (index notation only).

The constructors here keep forms canonical the way a person writes them:
scalar factors first, nested matrix products flattened, transposes pushed
onto leaves when that costs no more marks than wrapping (`(A*x)'` becomes
`x'*A'`, `(x'*A)'` becomes `A'*x`). Forms are immutable and built bottom-up,
so no operation here needs to walk a deep tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..ir.ops import ELEMENTWISE_UNARY, spelling

__all__ = [
    "Form", "sym", "num", "call", "ones", "eye", "neg", "add", "mul", "hadamard", "ediv",
    "sdiv", "power", "transpose", "index", "is_num", "is_neg", "flip_kind", "product_kind",
    "block",
]


@dataclass(frozen=True, eq=False)
class Form:
    """One node of matrix notation.

    kind: sym num call ones eye neg add mul had ediv sdiv pow t index.
    `bcast` is set on a form that is only a scalar spread over a shape
    (`b*vector(1)`, `vector(0)`): contexts with scalar expansion (`+`, `.*`,
    `max`) print the scalar itself. `tcount` counts transpose marks, the
    cost that transpose() minimises.
    """

    kind: str
    args: tuple[Form, ...] = ()
    value: Any = None
    orient: str = "s"    # s scalar, c column, r row, m matrix, t tensor (Expr.shape is dims)
    bcast: Form | None = field(default=None, compare=False)
    tcount: int = 0
    symmetric: bool = False  # a symmetric matrix variable: A' is A
    # the dimensions of a filled constant or identity (`vector(1)`, `eye`), for writing its
    # size where nothing else in the text fixes it (sizes.py); its args are then the sizes
    dims: tuple | None = field(default=None, compare=False)


def flip_kind(k: str) -> str:
    return {"c": "r", "r": "c"}.get(k, k)


def _count(args) -> int:
    return sum(a.tcount for a in args)


def sym(name: str, orient: str, symmetric: bool = False) -> Form:
    return Form("sym", (), name, orient, symmetric=symmetric)


def num(value: float) -> Form:
    """A non-negative number; negative numbers are neg(num(...))."""
    if value < 0:
        return neg(num(-value))
    return Form("num", (), float(value), "s")


def is_num(f: Form, value: float | None = None) -> bool:
    return f.kind == "num" and (value is None or f.value == value)


def is_neg(f: Form) -> bool:
    return f.kind == "neg"


def call(name: str, args: list[Form] | tuple[Form, ...], orient: str) -> Form:
    return Form("call", tuple(args), name, orient, tcount=_count(args))


def ones(value: float, orient: str, dims: tuple | None = None) -> Form:
    """vector(c), matrix(c) (and vector(c)' as a row): a filled constant, spreading c.
    `dims` are its dimensions (rows first), if known."""
    kind = "r" if orient == "r" else orient
    base = Form("ones", (), float(value), "c" if kind == "r" else kind, bcast=num(value),
                dims=dims)
    return transpose(base) if kind == "r" else base


def eye(dims: tuple | None = None) -> Form:
    return Form("eye", (), None, "m", dims=dims)


def neg(f: Form) -> Form:
    if f.kind == "neg":  # --a -> a
        return f.args[0]
    if is_num(f, 0.0):
        return f
    flipped = _flip(f, 0)
    if flipped is not None:
        return flipped
    return Form("neg", (f,), None, f.orient, f.bcast and neg(f.bcast), f.tcount)


def _flip(f: Form, depth: int) -> Form | None:
    """-(a - b) -> b - a, also inside a product: -2*X'*(y - m) -> 2*X'*(m - y)."""
    if f.kind == "add" and len(f.args) == 2 and is_neg(f.args[1]) and not is_neg(f.args[0]):
        return add([f.args[1].args[0], neg(f.args[0])])
    if depth > 8 or f.kind not in ("mul", "had", "sdiv", "ediv", "t"):
        return None
    linear = f.args[:1] if f.kind in ("sdiv", "ediv") else f.args  # numerators only
    for k, a in enumerate(linear):
        g = _flip(a, depth + 1)
        if g is not None:
            args = f.args[:k] + (g,) + f.args[k + 1:]
            return Form(f.kind, args, f.value, f.orient, None, _count(args))
    return None


def add(terms: list[Form]) -> Form:
    """A sum; nested sums flattened, a positive term first (`s - y`, not `-y + s`)."""
    flat: list[Form] = []
    for t in terms:
        flat.extend(t.args if t.kind == "add" else (t,))
    flat = [t for t in flat if not is_num(t, 0.0)] or flat[:1]
    if len(flat) == 1:
        return flat[0]
    first = next((k for k, t in enumerate(flat) if not is_neg(t)), 0)
    flat.insert(0, flat.pop(first))
    kinds = {t.orient for t in flat}
    shape = next((k for k in ("t", "m", "c", "r") if k in kinds), "s")
    bcast = None
    if all(t.bcast is not None for t in flat) and len({t.bcast.orient for t in flat} - {"s"}) <= 1:
        bcast = add([t.bcast for t in flat])  # v' + c spreads as one; v' + u would not
    return Form("add", tuple(flat), None, shape, bcast, _count(flat))


def product_kind(a: str, b: str) -> str | None:
    """The kind of the matrix product a*b, or None if the kinds do not multiply."""
    if a == "s":
        return b
    if b == "s":
        return a
    return {("r", "c"): "s", ("c", "r"): "m", ("m", "c"): "c", ("r", "m"): "r",
            ("m", "m"): "m"}.get((a, b))


def mul(factors: list[Form]) -> Form:
    """A matrix product (or scaling); numbers multiplied into one leading coefficient.

    Scalar factors go first; a scalar-valued product inside a longer product
    stays a unit (printed in brackets), so the text parses back with the
    same shapes. A negative factor makes the whole product negative.
    """
    sign = 1.0
    coef = 1.0
    scalars: list[Form] = []
    rest: list[Form] = []
    inner = [f for f in factors if f.kind == "mul" and f.orient == "s"
             and any(a.orient != "s" for a in f.args)]
    if len(inner) == 1 and all(f.orient == "s" for f in factors):
        # 2*(u'*v)/n: the only vector chain of a scalar product reads unbracketed
        factors = [f for f in factors if f is not inner[0]] + list(inner[0].args)
    for f in factors:
        while f.kind == "neg":
            sign, f = -sign, f.args[0]
        if f.kind == "num":
            coef *= f.value
        elif f.kind == "mul" and (f.orient != "s" or all(a.orient == "s" for a in f.args)):
            for g in f.args:
                if g.kind == "num":
                    coef *= g.value
                elif g.orient == "s":
                    scalars.append(g)
                else:
                    rest.append(g)
        elif f.orient == "s":
            scalars.append(f)
        else:
            rest.append(f)
    if coef == 0.0:
        return num(0.0)
    kind = "s"
    for f in rest:
        k = product_kind(kind, f.orient)
        if k is None:
            raise ValueError(f"cannot multiply {kind} by {f.orient}")
        kind = k
    if coef != 1.0 and float(coef).is_integer() and not scalars and len(rest) == 1:
        # 2*(1./x) is 2./x (but 0.5*(1./x) stays a division by 2)
        folded = _into_reciprocal(rest[0], coef)
        if folded is not None:
            return neg(folded) if sign < 0 else folded
    args = ([num(coef)] if coef != 1.0 or not (scalars or rest) else []) + scalars + rest
    out = args[0] if len(args) == 1 else Form("mul", tuple(args), None, kind, None, _count(args))
    return neg(out) if sign < 0 else out


def _into_reciprocal(f: Form, coef: float) -> Form | None:
    """c./x for c*(1./x), and diag(c./x) for c*diag(1./x); None for any other form."""
    if f.kind == "ediv" and is_num(f.args[0], 1.0):
        return ediv(num(coef), f.args[1])
    if f.kind == "call" and f.value == "diag" and len(f.args) == 1:
        inner = _into_reciprocal(f.args[0], coef)
        if inner is not None:
            return replace(f, args=(inner,))
    return None


def hadamard(factors: list[Form]) -> Form:
    """The element-wise product of same-kind forms (scalars scale instead)."""
    scal = [f for f in factors if f.orient == "s"]
    rest: list[Form] = []
    sign = 1.0
    for f in factors:
        if f.orient == "s":
            continue
        while f.kind == "neg":
            sign, f = -sign, f.args[0]
        rest.extend(f.args if f.kind == "had" else (f,))
    if not rest:
        return mul(scal) if sign > 0 else neg(mul(scal))
    core = rest[0] if len(rest) == 1 else Form("had", tuple(rest), None, rest[0].orient, None,
                                               _count(rest))
    out = mul(scal + [core]) if scal else core
    return neg(out) if sign < 0 else out


def ediv(a: Form, b: Form) -> Form:
    """a ./ b (b not a scalar)."""
    if a.kind == "neg":
        return neg(ediv(a.args[0], b))
    if b.kind == "neg":
        return neg(ediv(a, b.args[0]))
    return Form("ediv", (a, b), None, b.orient if a.orient == "s" else a.orient, None,
                _count((a, b)))


def sdiv(a: Form, b: Form) -> Form:
    """a / s for a scalar s."""
    if a.kind == "neg":
        return neg(sdiv(a.args[0], b))
    return Form("sdiv", (a, b), None, a.orient, None, _count((a, b)))


def power(base: Form, exponent: Form) -> Form:
    return Form("pow", (base, exponent), None, base.orient, None, _count((base, exponent)))


def block(rows: list[list[Form]], orient: str) -> Form:
    """[a, b; c, d]: rows of blocks, as MATLAB writes them (value: the rows' lengths)."""
    parts = tuple(f for row in rows for f in row)
    return Form("block", parts, tuple(len(r) for r in rows), orient, None, _count(parts))


def block_rows(f: Form) -> list[list[Form]]:
    out, k = [], 0
    for n in f.value:
        out.append(list(f.args[k:k + n]))
        k += n
    return out


def index(value: Any, args: tuple[Form, ...] = ()) -> Form:
    """Index notation: value is an IndexExpr (see index.py) over the forms in args."""
    return Form("index", tuple(args), value, "t")


# ---------------------------------------------------------------- transposes

_MAX_PUSH = 64  # deeper than this, a transpose is written around, not pushed in
# functions applied entry by entry: f(x)' is f(x'), so a transpose may go inside
_ENTRYWISE = frozenset(spelling(op) for op in ELEMENTWISE_UNARY) | {"sqrt"}


def transpose(f: Form, depth: int = 0, memo: dict | None = None) -> Form:
    """f' with the transpose pushed in wherever that costs no more marks.

    The result is kept on f: the printer asks for the transpose of one shared form again
    and again (every product it arranges tries both orders), and a form shared down a
    deep chain (softmax(softmax(...))) would otherwise be walked anew each time, which
    grows exponentially with the depth."""
    cached = f.__dict__.get("_transposed")
    if cached is not None:
        return cached
    if memo is None:
        memo = {}
    key = id(f)
    if key not in memo:
        memo[key] = (f, _transpose(f, depth, memo))  # f kept alive: its id stays unique
    out = memo[key][1]
    object.__setattr__(f, "_transposed", out)
    return out


def _transpose(f: Form, depth: int, memo: dict) -> Form:
    if f.orient in ("s", "t"):
        return f
    if f.kind == "t":  # (A')' -> A
        return f.args[0]
    wrapped = Form("t", (f,), None, flip_kind(f.orient), None, f.tcount + 1)
    if f.kind == "eye" or f.symmetric or (f.kind == "call" and f.value == "diag"
                                          and f.orient == "m"):
        return f  # eye' -> eye, diag(x)' -> diag(x), A' -> A for a symmetric A
    if f.kind == "ones" and f.orient == "m":  # matrix(c)' -> matrix(c), its sizes swapped
        return replace(f, args=f.args[::-1], dims=f.dims and f.dims[::-1])
    if f.kind == "mul" and f.value == "spread":  # c*x*y' (a constant block) as c*y*x'
        args = (f.args[0],) + tuple(transpose(a, depth + 1, memo) for a in reversed(f.args[1:]))
        return Form("mul", args, "spread", flip_kind(f.orient), f.bcast, _count(args))
    if f.kind == "block" and (len(f.value) == 1 or set(f.value) == {1}):
        # [a; b]' is [a', b'] (a list of blocks turned the other way)
        flat = [transpose(a, depth + 1, memo) for a in f.args]
        rows = [[a] for a in flat] if len(f.value) == 1 else [flat]
        pushed = block(rows, flip_kind(f.orient))
        return pushed if pushed.tcount <= f.tcount else wrapped
    entrywise = (f.kind == "call" and f.value in _ENTRYWISE and len(f.args) == 1) or (
        f.kind == "pow" and f.args[1].orient == "s")
    if depth > _MAX_PUSH or not entrywise and f.kind not in ("neg", "mul", "add", "had",
                                                             "ediv", "sdiv"):
        return wrapped
    d = depth + 1
    if f.kind == "neg":
        return neg(transpose(f.args[0], d, memo))
    if f.kind == "call":  # sqrt(v' + e)' -> sqrt(v + e); tanh(x)' stays
        pushed = call(f.value, [transpose(f.args[0], d, memo)], flip_kind(f.orient))
        return pushed if pushed.tcount < f.tcount + 1 else wrapped
    if f.kind == "pow":  # (v'.^3)' -> v.^3
        pushed = power(transpose(f.args[0], d, memo), f.args[1])
        return pushed if pushed.tcount < f.tcount + 2 else wrapped
    if f.kind == "mul":
        scal = [a for a in f.args if a.orient == "s"]
        rest = [transpose(a, d, memo) for a in reversed(f.args) if a.orient != "s"]
        pushed = mul(scal + rest)
        wrap_cost = f.tcount + 2  # the mark and a pair of brackets
    elif f.kind == "add":
        if f.orient == "m" and any(a.orient == "r" for a in f.args):
            return wrapped  # (X*W + b')': pushed in, b' would spread over columns as b
        pushed = add([transpose(a, d, memo) for a in f.args])
        wrap_cost = f.tcount + 2
    elif f.kind == "had":
        pushed = hadamard([transpose(a, d, memo) for a in f.args])
        wrap_cost = f.tcount + 2
    elif f.kind == "ediv":
        pushed = ediv(transpose(f.args[0], d, memo), transpose(f.args[1], d, memo))
        wrap_cost = f.tcount + 2
    else:  # sdiv: (a/s)' -> a'/s
        pushed = sdiv(transpose(f.args[0], d, memo), f.args[1])
        wrap_cost = f.tcount + 2
    if f.kind == "mul":  # x'*A' reads better than (A*x)'
        return pushed if pushed.tcount <= wrap_cost else wrapped
    return pushed if pushed.tcount < wrap_cost else wrapped  # (y - m)' over y' - m'
