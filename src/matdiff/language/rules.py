"""The type rule and the lowering of every operator and function of the language.

One entry per operator (`BINARY`) and per function (`FUNCTIONS`): its type rule
(surface types in, surface type out, unifying dimensions and raising a
ShapeError that names both shapes) and its lowering to IR, side by side.
Functions that are ops of their own (exp, max, inv, ...) get their entry from
the op spec (ir/ops.py): its `shape` names one of SHAPE_RULES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import SPECS, Op, spelling
from ..ir.properties import logsumexp_of
from . import ast
from .types import Dims, DimVar, SurfaceType

__all__ = ["BINARY", "FUNCTIONS", "SHAPE_RULES", "ALIASES", "RESERVED", "SCALAR", "Rule",
           "broadcast", "expand_to", "transpose", "matmul", "concatenation_type",
           "lower_concatenation"]


class TypeContext(Protocol):
    """What a rule needs of the language's typing pass (build.py's TypeContext has it):
    stated here, so that the rules do not import the pass that imports them."""

    text: str
    dims: Dims
    declared: dict[str, SurfaceType]
    types: dict[int, SurfaceType]

    def fail(self, node: ast.Node, message: str, kind: type = ...) -> NoReturn: ...
    def describe(self, t: SurfaceType) -> str: ...
    def same(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType
             ) -> SurfaceType: ...
    def expand(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType
               ) -> SurfaceType: ...
    def unify(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType,
              da: DimVar, db: DimVar) -> None: ...
    def square(self, node: ast.Node, what: str, a: SurfaceType) -> None: ...
    def shape(self, t: SurfaceType) -> tuple: ...

SCALAR = SurfaceType("scalar", ())

# ---------------------------------------------------------------- IR helpers

def broadcast(e: Expr, shape: ir.Shape) -> Expr:
    """Scalar expansion of a scalar e to `shape`."""
    if e.shape == tuple(shape):
        return e
    labels = list(range(len(shape)))
    return ir.einsum([e], [[]], labels, dict(zip(labels, shape)))


def expand_to(e: Expr, t: SurfaceType, shape: ir.Shape) -> Expr:
    """Implicit expansion of e, of surface type t, to `shape`: a scalar everywhere, a
    row vector over the rows of a matrix, a column vector over its columns."""
    if e.shape == tuple(shape) and (e.ndim != 1 or len(shape) != 2):
        return e
    if e.ndim == 1 and len(shape) == 2:
        kept = 1 if t.kind == "row" else 0
        return ir.einsum([e], [[kept]], [0, 1], {0: shape[0], 1: shape[1]})
    return broadcast(e, shape)


def _operands(node: ast.Node) -> tuple[ast.Node, ...]:
    return (node.left, node.right) if isinstance(node, ast.BinOp) else node.args


def _pair(ctx: TypeContext, node: ast.Node, a: Expr, b: Expr) -> tuple[Expr, Expr]:
    """Both operands of an element-wise operator, expanded to the result's shape."""
    left, right = _operands(node)
    shape = ctx.shape(ctx.types[id(node)])
    return (expand_to(a, ctx.types[id(left)], shape),
            expand_to(b, ctx.types[id(right)], shape))


def _hadamard(ctx: TypeContext, node: ast.Node, a: Expr, b: Expr) -> Expr:
    if a.ndim == 0 or b.ndim == 0:
        return _elementwise_product(a, b)
    return _elementwise_product(*_pair(ctx, node, a, b))


def _elementwise_product(a: Expr, b: Expr) -> Expr:
    labels = list(range(max(a.ndim, b.ndim)))
    return ir.einsum([a, b], [labels[:a.ndim], labels[:b.ndim]], labels)


def _reciprocal(e: Expr) -> Expr:
    return ir.binary(Op.POW, e, ir.const(-1.0, e.shape))


def _sum(e: Expr) -> Expr:
    return ir.einsum([e], [list(range(e.ndim))], [])


def transpose(e: Expr) -> Expr:
    if e.ndim < 2:
        return e
    return ir.einsum([e], [[0, 1]], [1, 0])


def matmul(a: Expr, ta: SurfaceType, b: Expr, tb: SurfaceType) -> Expr:
    """The matrix product by kinds (types already checked)."""
    if ta.kind == "scalar" or tb.kind == "scalar":
        return _elementwise_product(a, b)
    patterns = {
        ("row", "col"): ([0], [0], []),
        ("col", "row"): ([0], [1], [0, 1]),
        ("matrix", "col"): ([0, 1], [1], [0]),
        ("row", "matrix"): ([0], [0, 1], [1]),
        ("matrix", "matrix"): ([0, 1], [1, 2], [0, 2]),
    }
    la, lb, out = patterns[(ta.kind, tb.kind)]
    return ir.einsum([a, b], [la, lb], out)


def _frobenius(a: Expr, b: Expr) -> Expr:
    if a.ndim == 0 or b.ndim == 0:
        return _elementwise_product(a, b)
    labels = list(range(a.ndim))
    return ir.einsum([a, b], [labels, labels], [])


# ---------------------------------------------------------------- binary operators

def _type_matmul(ctx: TypeContext, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    what = f"'{node.spelling}'"
    if a.kind == "scalar":
        return b
    if b.kind == "scalar":
        return a
    k = (a.kind, b.kind)
    if k == ("row", "col"):
        ctx.unify(node, what, a, b, a.dims[0], b.dims[0])
        return SCALAR
    if k == ("col", "row"):
        return SurfaceType("matrix", (a.dims[0], b.dims[0]))
    if k == ("matrix", "col"):
        ctx.unify(node, what, a, b, a.dims[1], b.dims[0])
        return SurfaceType("col", (a.dims[0],))
    if k == ("row", "matrix"):
        ctx.unify(node, what, a, b, a.dims[0], b.dims[0])
        return SurfaceType("row", (b.dims[1],))
    if k == ("matrix", "matrix"):
        ctx.unify(node, what, a, b, a.dims[1], b.dims[0])
        return SurfaceType("matrix", (a.dims[0], b.dims[1]))
    hint = " (for an element-wise product use .*; for an inner product x'*y)" \
        if a.kind == b.kind == "col" else ""
    ctx.fail(node, f"cannot multiply {ctx.describe(a)} by {ctx.describe(b)} with "
                   f"{what}{hint}")
    raise AssertionError  # unreachable


def _type_divide(ctx: TypeContext, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    if b.kind != "scalar":
        ctx.fail(node, f"'/' divides by a scalar, not by {ctx.describe(b)} "
                       "(use ./ for element-wise division, or inv())")
    return a


def _transpose_slip(ctx: TypeContext, node: ast.BinOp, b: SurfaceType) -> None:
    """`x^T`, `x.^T`: a transpose written as a power (T undeclared, or not a scalar)."""
    if isinstance(node.right, ast.Name) and node.right.name == "T" and (
            b.kind != "scalar" or "T" not in ctx.declared):
        base = node.left.name if isinstance(node.left, ast.Name) else "x"
        ctx.fail(node, f"'{node.spelling}T' is not a transpose here (T is read as a variable): "
                       f"write {base}' for the transpose of {base} (or {base}.T)")


def _type_power(ctx: TypeContext, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    _transpose_slip(ctx, node, b)
    if b.kind != "scalar":
        ctx.fail(node, f"'^' needs a scalar exponent, not {ctx.describe(b)} (use .^)")
    if a.kind == "scalar":
        return a
    if a.kind == "matrix" and _integer_literal(node.right) is not None:
        ctx.square(node, "a matrix power", a)
        return a
    ctx.fail(node, f"'^' raises a scalar, or a square matrix to a whole-number power, not "
                   f"{ctx.describe(a)} (use .^ for an element-wise power)")
    raise AssertionError  # unreachable


def _type_dot(ctx: TypeContext, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    if a.kind == "scalar" or b.kind == "scalar":
        return a if b.kind == "scalar" else b
    if a.kind in ("row", "col") and b.kind in ("row", "col"):
        ctx.unify(node, f"'{node.spelling}'", a, b, a.dims[0], b.dims[0])
        return SCALAR
    ctx.same(node, f"'{node.spelling}'", a, b)
    return SCALAR


def _lower_power(ctx: TypeContext, node: ast.BinOp, a: Expr, b: Expr) -> Expr:
    if a.ndim == 0:
        return ir.binary(Op.POW, a, b)
    k = _integer_literal(node.right)
    assert k is not None
    base = a if k > 0 else ir.matrix_fn(Op.INV, a, a.shape)
    if k == 0:
        return ir.delta(a.shape[:1])
    result = base
    for _ in range(abs(k) - 1):
        result = ir.einsum([result, base], [[0, 1], [1, 2]], [0, 2])
    return result


def _integer_literal(node: ast.Node) -> int | None:
    sign = 1
    while isinstance(node, ast.Neg):
        sign, node = -sign, node.operand
    if isinstance(node, ast.Number) and node.value == int(node.value) and abs(node.value) <= 64:
        return sign * int(node.value)
    return None


@dataclass(frozen=True)
class Rule:
    """The type rule and the lowering of one operator or function."""

    type: Callable
    lower: Callable
    arity: tuple[int, int] = (1, 1)


def _type_elementwise(ctx, node, a, b):
    if node.op == ".^":
        _transpose_slip(ctx, node, b)
    return ctx.expand(node, f"'{node.spelling}'", a, b)


BINARY: dict[str, Rule] = {
    "+": Rule(_type_elementwise, lambda ctx, n, a, b: ir.add(_pair(ctx, n, a, b))),
    "-": Rule(_type_elementwise, lambda ctx, n, a, b: ir.sub(*_pair(ctx, n, a, b))),
    ".*": Rule(_type_elementwise, _hadamard),
    "./": Rule(_type_elementwise, lambda ctx, n, a, b: _hadamard(ctx, n, a, _reciprocal(b))),
    ".^": Rule(_type_elementwise, lambda ctx, n, a, b: ir.binary(Op.POW, *_pair(ctx, n, a, b))),
    "*": Rule(_type_matmul, None),  # lowered with the kinds, in _lower
    "/": Rule(_type_divide, lambda ctx, n, a, b: _elementwise_product(a, _reciprocal(b))),
    "^": Rule(_type_power, _lower_power),
    "dot": Rule(_type_dot, lambda ctx, n, a, b: _frobenius(a, b)),
}


# ---------------------------------------------------------------- functions

def _t_same(ctx, node, a):
    return a


def _t_scalar(ctx, node, a):
    return SCALAR


def _t_square_scalar(ctx, node, a):
    ctx.square(node, f"{node.func}()", a)
    return SCALAR


def _t_square_same(ctx, node, a):
    ctx.square(node, f"{node.func}()", a)
    return a


# functions with an element-wise form of two arguments as well (max, min)
_PAIRWISE = {spelling(op) for op, s in SPECS.items() if s.arity == 2 and not s.operator}


def _t_vector(result):
    def rule(ctx, node, a):
        if a.kind not in ("row", "col"):
            name = node.func
            if name in _PAIRWISE:
                axis = "" if a.kind != "matrix" else (
                    f"; along an axis write {name}(X, [], 2) for each row, {name}(X, [], 1) "
                    f"for each column (MATLAB's {name}(X) per column is not supported)")
                ctx.fail(node, f"{name}() of one argument takes a vector, not "
                               f"{ctx.describe(a)} ({name}(a, b) of two is element-wise, "
                               f"{name}(0, X)){axis}")
            ctx.fail(node, f"{name}() takes a vector, not {ctx.describe(a)}")
        return a if result == "same" else SCALAR
    return rule


def _t_diag(ctx, node, a):
    if a.kind in ("row", "col"):
        return SurfaceType("matrix", (a.dims[0], a.dims[0]))
    if a.kind == "matrix":
        ctx.square(node, "diag() of a matrix", a)
        return SurfaceType("col", (a.dims[0],))
    ctx.fail(node, f"diag() takes a vector or a square matrix, not {ctx.describe(a)}")
    raise AssertionError  # unreachable


def _t_filled(kind):
    """vector(c) and matrix(c), their size inferred; vector(c, n) and matrix(c, m, n) with
    the size written through a variable (`size(X, 1)`, `numel(x)`) or as a whole number."""
    def rule(ctx, node, a, *sizes):
        if a.kind != "scalar":
            ctx.fail(node, f"{node.func}(c) takes a scalar c, not {ctx.describe(a)}")
        want = 1 if kind == "col" else 2
        if sizes and len(sizes) != want:
            spelled = "vector(c, n)" if kind == "col" else "matrix(c, m, n)"
            ctx.fail(node, f"{node.func}() takes its value alone or with its size, as "
                           f"{spelled}, not {len(sizes) + 1} arguments")
        dims = [_written_size(ctx, arg) for arg in node.args[1:]] or [
            ctx.dims.new() for _ in range(want)]
        return SurfaceType("col" if kind == "col" else "matrix", tuple(dims))
    return rule


def _t_eye(ctx, node, n):
    """eye(n): the identity whose size is written (`eye(numel(x))`, `eye(size(A, 1))`)."""
    d = _written_size(ctx, node.args[0])
    return SurfaceType("matrix", (d, d))


def _written_size(ctx, arg: ast.Node):
    """The dimension a size argument names: `size(a, k)`, `numel(x)` of a vector (or a
    scalar), a whole number, or the length of a joined axis as a sum of those
    (`numel(x) + numel(y)`, `2*size(A, 1)`). Anything else says how to write it."""
    value = _integer_literal(arg)
    if value is not None and value >= 1:
        return ctx.dims.declared(value)
    if isinstance(arg, ast.BinOp) and arg.op == "+":
        return ctx.dims.total([_written_size(ctx, arg.left), _written_size(ctx, arg.right)])
    if isinstance(arg, ast.BinOp) and arg.op == "-":  # numel(w) - numel(x): w's length
        d, whole = ctx.dims.new(), _written_size(ctx, arg.left)  # once x's is taken off
        total = ctx.dims.total([d, _written_size(ctx, arg.right)])
        ctx.dims.solved.add(total)
        if ctx.dims.unify(total, whole):
            return d
        ctx.fail(arg, "a difference of sizes is written as the longer less a part of it "
                      "(numel(w) - numel(x), for w as long as [x; y])")
    if isinstance(arg, ast.BinOp) and arg.op == "*":
        times = _integer_literal(arg.left)
        if times is not None and 1 <= times <= 64:
            return ctx.dims.total([_written_size(ctx, arg.right)] * times)
    if isinstance(arg, ast.Call) and arg.func in ("size", "numel") and arg.args:
        t = ctx.types[id(arg.args[0])]
        if arg.func == "numel" and len(arg.args) == 1 and t.kind != "matrix":
            return t.dims[0] if t.dims else ctx.dims.declared(1)
        if arg.func == "size" and len(arg.args) == 2:
            axis = _integer_literal(arg.args[1])
            axes = {"scalar": (None, None), "col": (0, None), "row": (None, 0),
                    "matrix": (0, 1)}[t.kind]
            if axis in (1, 2):
                k = axes[axis - 1]
                return ctx.dims.declared(1) if k is None else t.dims[k]
    ctx.fail(arg, "a size is written size(A, k), numel(x) of a vector, a whole number, or a "
                  "sum of these (numel(x) + numel(y), 2*size(A, 1))")
    raise AssertionError  # unreachable


def _t_pairwise(ctx, node, a, b):
    return ctx.expand(node, f"{node.func}()", a, b)


def _t_dot_call(ctx, node, a, b):
    if a.kind in ("row", "col") and b.kind in ("row", "col"):
        ctx.unify(node, "dot()", a, b, a.dims[0], b.dims[0])
        return SCALAR
    ctx.fail(node, f"dot() takes two vectors, not {ctx.describe(a)} and {ctx.describe(b)}")
    raise AssertionError  # unreachable


# the shape rules an op spec may name (ir/ops.py, OpSpec.shape), by arity
SHAPE_RULES: dict[tuple[str, int], Callable] = {
    ("same", 1): _t_same,
    ("same", 2): _t_pairwise,
    ("any -> scalar", 1): _t_scalar,
    ("square -> scalar", 1): _t_square_scalar,
    ("square -> square", 1): _t_square_same,
    ("vector -> vector", 1): _t_vector("same"),
    ("vector -> scalar", 1): _t_vector("scalar"),
}


def _spec_rule(op: Op) -> Rule:
    """The language entry of an op spelled as a call: its spec's shape rule, lowered to op."""
    spec = SPECS[op]
    typer = SHAPE_RULES[(spec.shape, spec.arity)]
    if spec.kind == "matrix":
        return Rule(typer, lambda ctx, node, t, a: ir.matrix_fn(op, a, ctx.shape(t)))
    if op is Op.LOG:  # log(exp(Z)*vector(1)) is logsumexp(Z, 2), evaluated stably
        return Rule(typer, lambda ctx, node, t, a: logsumexp_of(a) or ir.unary(op, a))
    if spec.arity == 1:
        return Rule(typer, lambda ctx, node, t, a: ir.unary(op, a))
    return Rule(typer, lambda ctx, node, t, a, b: ir.binary(op, *_pair(ctx, node, a, b)),
                (2, 2))


def _t_axis_extremum(ctx, node, a, empty, axis_type):
    """max(X, [], d), min(X, [], d): MATLAB's extremum along an axis, shaped as sum(X, d)."""
    name = node.func
    if empty.kind != "empty":
        ctx.fail(node, f"{name}() of three arguments is {name}(X, [], d), the extreme along "
                       f"axis d; the second argument must be [] ({name}(a, b) of two is "
                       "element-wise)")
    if a.kind in ("scalar", "empty"):
        ctx.fail(node, f"{name}(X, [], d) takes a vector or a matrix, not {ctx.describe(a)}")
    return _t_reduce(ctx, node, a, axis_type)


def _lower_axis_extremum(op: Op):
    def lower(ctx, node, t, a, empty, axis):
        d = _axis(ctx, node)
        if a.ndim == 2:
            attr = 1 if d == 2 else 0  # 1: each row reduced, as logsumexp(X, 2)
            return ir.matrix_fn(op, a, (a.shape[1 - attr],), attr)
        if t.kind == "scalar":  # a vector along its own axis
            return ir.matrix_fn(op, a, ())
        return a  # across a vector: each entry alone
    return lower


def _by_arity(rules: list[Rule]) -> Rule:
    """One name, several ops told apart by their number of arguments: max(x), max(a, b)."""
    def pick(n: int) -> Rule:
        return next(r for r in rules if r.arity[0] <= n <= r.arity[1])

    return Rule(lambda ctx, node, *ts: pick(len(ts)).type(ctx, node, *ts),
                lambda ctx, node, t, *args: pick(len(args)).lower(ctx, node, t, *args),
                (min(r.arity[0] for r in rules), max(r.arity[1] for r in rules)))


def _spec_rules() -> dict[str, Rule]:
    """The language entry of every op spelled as a call, by name."""
    ops: dict[str, list[Op]] = {}
    for op, spec in SPECS.items():
        if spec.kind in ("elementwise", "matrix") and not spec.operator:
            ops.setdefault(spelling(op), []).append(op)
    out = {name: _spec_rule(group[0]) if len(group) == 1
           else _by_arity([_spec_rule(op) for op in group]) for name, group in ops.items()}
    for op in (Op.VMAX, Op.VMIN):  # max(X, [], d): a third spelling, along an axis
        name = spelling(op)
        three = Rule(_t_axis_extremum, _lower_axis_extremum(op), (3, 3))
        out[name] = _by_arity([r for op2 in ops[name] for r in [_spec_rule(op2)]] + [three])
    return out


def _lower_filled(ctx, node, t, a, *sizes):
    return broadcast(a, ctx.shape(t))


def _lower_diag(ctx, node, t, a):
    if t.kind == "matrix":
        return ir.einsum([a], [[0]], [0, 0])
    return ir.einsum([a], [[0, 0]], [0])


def _lower_mean(ctx, node, t, a):
    return _elementwise_product(_sum(a), _reciprocal(ir.size(a.shape)))


def _t_size(ctx, node, a, k):
    axis = _integer_literal(node.args[1])
    if k.kind != "scalar" or axis not in (1, 2):
        ctx.fail(node, "size(a, k) takes an axis k of 1 (rows) or 2 (columns), written as a "
                       "number")
    return SCALAR


def _lower_size(ctx, node, t, a, k):
    """size(a, k): the length of axis k of a as written (a column vector is n x 1)."""
    surface = ctx.types[id(node.args[0])]
    axis = _integer_literal(node.args[1]) - 1
    axes = {"scalar": (None, None), "col": (0, None), "row": (None, 0),
            "matrix": (0, 1)}[surface.kind][axis]
    return ir.const(1.0) if axes is None else ir.size((a.shape[axes],))


# ---------------------------------------------------------------- axis reductions

def _axis(ctx, node) -> int:
    """The literal axis of `sum(X, d)`: 1 (down the columns) or 2 (along the rows)."""
    d = _integer_literal(node.args[-1])
    if d not in (1, 2):
        form = f"{node.func}(X, [], d)" if len(node.args) == 3 else f"{node.func}(X, d)"
        ctx.fail(node.args[-1], f"the axis of {form} is 1 (down each column) or 2 "
                                "(along each row), written as a number")
    return d


def _t_reduce(ctx, node, a, axis_type=None):
    """sum(X) and mean(X) are scalars; sum(X, 1) a row of column sums, sum(X, 2) a column
    of row sums (MATLAB's convention: the summed axis becomes 1)."""
    if axis_type is None:
        return SCALAR
    d = _axis(ctx, node)
    if a.kind == "matrix":
        return SurfaceType("row", (a.dims[1],)) if d == 1 else SurfaceType("col", (a.dims[0],))
    if a.kind == "scalar" or (a.kind, d) in (("row", 1), ("col", 2)):
        return a  # summing an axis of length 1 changes nothing
    return SCALAR


def _lower_axis(ctx, node, a, mean: bool) -> Expr:
    d = _axis(ctx, node)
    if a.ndim == 2:
        kept = 1 if d == 1 else 0
        total = ir.einsum([a], [[0, 1]], [kept])
        count = a.shape[1 - kept]
    elif a.ndim == 1 and ctx.types[id(node)].kind == "scalar":
        total, count = _sum(a), a.shape[0]
    else:
        return a
    return _elementwise_product(total, _reciprocal(ir.size([count]))) if mean else total


def _lower_sum(ctx, node, t, a, axis=None):
    return _sum(a) if axis is None else _lower_axis(ctx, node, a, mean=False)


def _lower_mean_axis(ctx, node, t, a, axis=None):
    return _lower_mean(ctx, node, t, a) if axis is None else _lower_axis(ctx, node, a, True)


# ---------------------------------------------------------------- softmax along an axis

_KEEPS_SHAPE = ("softmax", "logsoftmax")


def _t_along(ctx, node, a, axis_type=None):
    """softmax(x), softmax(X, d), logsoftmax(...), logsumexp(...): a vector alone, a matrix
    along an axis (2: each row, one example per row; 1: each column)."""
    name = node.func
    same = name in _KEEPS_SHAPE
    if a.kind == "scalar":
        ctx.fail(node, f"{name}() takes a vector or a matrix with an axis, not a scalar")
    if axis_type is None:
        if a.kind == "matrix":
            ctx.fail(node, f"{name}() of {ctx.describe(a)} needs an axis: {name}(X, 2) along "
                           f"each row (a batch with one example per row), {name}(X, 1) "
                           "along each column")
        return a if same else SCALAR
    d = _axis(ctx, node)
    if a.kind == "matrix":
        if same:
            return a
        return SurfaceType("row", (a.dims[1],)) if d == 1 else SurfaceType("col", (a.dims[0],))
    if (a.kind, d) not in (("col", 1), ("row", 2)):
        ctx.fail(node, f"{name}(x, {d}) of {ctx.describe(a)} runs across the vector: its "
                       f"axis is {1 if a.kind == 'col' else 2}, or leave the axis out")
    return a if same else SCALAR


def _lower_along(name: str):
    def lower(ctx, node, t, a, axis=None):
        attr = None
        if a.ndim == 2:
            attr = 1 if _axis(ctx, node) == 2 else 0
        if name == "softmax":
            return ir.matrix_fn(Op.SOFTMAX, a, a.shape, attr)
        lse_shape = () if attr is None else (a.shape[1 - attr],)
        lse = ir.matrix_fn(Op.LOGSUMEXP, a, lse_shape, attr)
        if name == "logsumexp":
            return lse
        # logsoftmax(X, 2) = X - logsumexp(X, 2), the log-sum-exp spread along the axis
        spread = broadcast(lse, a.shape) if attr is None else ir.einsum(
            [lse], [[1 - attr]], [0, 1], {0: a.shape[0], 1: a.shape[1]})
        return ir.sub(a, spread)
    return lower



# ---------------------------------------------------------------- window ops (convolution)

def _sizes(ctx, node, t: SurfaceType, what: str) -> list[int]:
    """The numeric sizes of a window op's argument (a vector's length, a matrix's rows and
    columns): output sizes are computed from them, so they must be known numbers."""
    values = [ctx.dims.name(d) for d in t.dims]  # a join of numbered blocks has a number
    values = [v if isinstance(v, int) else None for v in values]
    if any(v is None for v in values):
        ctx.fail(node, f"{node.func}() needs the sizes of {what} as numbers, not "
                       f"{ctx.describe(t)}: declare it with sizes, e.g. matrix(8, 8)")
    return values


def _option(ctx, node, k: int, default: int, what: str, low: int) -> int:
    """The literal integer option k of a window call (a pad, a stride, a window size)."""
    if len(node.args) <= k:
        return default
    arg, sign = node.args[k], 1
    while isinstance(arg, ast.Neg):
        sign, arg = -sign, arg.operand
    v = None
    if isinstance(arg, ast.Number) and arg.value == int(arg.value) and abs(arg.value) < 2**31:
        v = sign * int(arg.value)
    if v is None or v < low:
        ctx.fail(node.args[k], f"the {what} of {node.func}() is a whole number >= {low}, "
                               "written as a number")
    return v


def _rank_of(ctx, node, t: SurfaceType, rank: int | None) -> int:
    if t.kind == "matrix" and rank in (None, 2):
        return 2
    if t.kind == "col" and rank in (None, 1):
        return 1
    want = {1: "a (column) vector", 2: "a matrix", None: "a (column) vector or a matrix"}[rank]
    ctx.fail(node, f"{node.func}() takes {want}, not {ctx.describe(t)}")
    raise AssertionError  # unreachable


def _surface(ctx, sizes: list[int]) -> SurfaceType:
    dims = tuple(ctx.dims.declared(int(v)) for v in sizes)
    return SurfaceType("matrix" if len(dims) == 2 else "col", dims)


def _t_conv(rank: int):
    def rule(ctx, node, a, b, *options):
        _rank_of(ctx, node, a, rank)
        if b.kind != a.kind:
            kind = "a matrix" if rank == 2 else "a vector"
            ctx.fail(node, f"the kernel of {node.func}() is {kind}, not {ctx.describe(b)}")
        m, k = _sizes(ctx, node, a, "the input"), _sizes(ctx, node, b, "the kernel")
        pad = _option(ctx, node, 2, 0, "padding", 0)
        stride = _option(ctx, node, 3, 1, "stride", 1)
        if pad >= min(k):
            ctx.fail(node, f"the padding of {node.func}() is at most the kernel's size minus "
                           f"1 ({min(k) - 1}), not {pad}")
        for mi, ki in zip(m, k):
            if mi + 2 * pad < ki:
                ctx.fail(node, f"the kernel of {node.func}() ({ctx.describe(b)}) is larger "
                               f"than the padded input ({ctx.describe(a)}, padding {pad})")
            if (mi + 2 * pad - ki) % stride:
                ctx.fail(node, f"{node.func}() with stride {stride} needs the padded input's "
                               f"size minus the kernel's, {mi + 2 * pad - ki}, to be a "
                               f"multiple of {stride} (every entry used)")
        return _surface(ctx, [(mi + 2 * pad - ki) // stride + 1 for mi, ki in zip(m, k)])
    return rule


def _lower_conv(op: Op):
    def lower(ctx, node, t, a, b, *options):
        pad = _option(ctx, node, 2, 0, "padding", 0)
        stride = _option(ctx, node, 3, 1, "stride", 1)
        return ir.window(op, [a, b], (pad, stride))
    return lower


def _t_window(op: Op):
    def rule(ctx, node, a, *options):
        _rank_of(ctx, node, a, None)
        m = _sizes(ctx, node, a, "its argument")
        if op is Op.ROT180:
            return _surface(ctx, m)
        s = _option(ctx, node, 1, 1, "window size" if op in (Op.MAXPOOL, Op.MEANPOOL)
                    else "factor", 1)
        if op in (Op.MAXPOOL, Op.MEANPOOL):
            if any(mi % s for mi in m):
                ctx.fail(node, f"{node.func}(X, {s}) pools {s} x {s} blocks: the sizes of "
                               f"{ctx.describe(a)} must be multiples of {s}")
            return _surface(ctx, [mi // s for mi in m])
        if op is Op.UPSAMPLE:
            return _surface(ctx, [mi * s for mi in m])
        if op is Op.SUBSAMPLE:
            return _surface(ctx, [(mi - 1) // s + 1 for mi in m])
        return _surface(ctx, [s * (mi - 1) + 1 for mi in m])  # dilate
    return rule


def _lower_window(op: Op):
    def lower(ctx, node, t, a, *options):
        rank = a.ndim
        if op is Op.ROT180:
            return ir.window(op, [a], (rank,))
        return ir.window(op, [a], (rank, _option(ctx, node, 1, 1, "size", 1)))
    return lower


def _t_vec(ctx, node, a):
    """vec(X): X's columns stacked (MATLAB's X(:)); a vector stays itself."""
    if a.kind == "scalar":
        return a
    if a.kind in ("col", "row"):
        return SurfaceType("col", a.dims)
    m, n = _sizes(ctx, node, a, "its argument")
    return _surface(ctx, [m * n])


def _lower_vec(ctx, node, t, a):
    return ir.window(Op.VEC, [a], (2,)) if a.ndim == 2 else a


def _t_reshape(ctx, node, a, *sizes):
    """reshape(x, m, n): a vector of m*n entries as an m x n matrix, column by column."""
    m, n = (_option(ctx, node, k, 1, "size", 1) for k in (1, 2))
    if a.kind not in ("col", "row") or _sizes(ctx, node, a, "its argument") != [m * n]:
        ctx.fail(node, f"reshape(x, {m}, {n}) takes a vector of {m * n} entries, not "
                       f"{ctx.describe(a)}")
    return _surface(ctx, [m, n])


def _lower_reshape(ctx, node, t, a, *sizes):
    return ir.window(Op.RESHAPE, [a], tuple(_option(ctx, node, k, 1, "size", 1) for k in (1, 2)))


def _t_ones(ctx, node, *sizes):
    """ones(m), ones(m, n): a vector (matrix) of ones with sizes written as numbers, which a
    window op's argument needs (vector(1), matrix(1) take their sizes from the context)."""
    values = [_option(ctx, node, k, 1, "size", 1) for k in range(len(node.args))]
    return _surface(ctx, values)


def _lower_ones(ctx, node, t, *sizes):
    return ir.const(1.0, ctx.shape(t))


WINDOW_FUNCTIONS: dict[str, Rule] = {
    "ones": Rule(_t_ones, _lower_ones, (1, 2)),
    "vec": Rule(_t_vec, _lower_vec),
    "reshape": Rule(_t_reshape, _lower_reshape, (3, 3)),
    "conv1": Rule(_t_conv(1), _lower_conv(Op.CONV1), (2, 4)),
    "conv2": Rule(_t_conv(2), _lower_conv(Op.CONV2), (2, 4)),
    "rot180": Rule(_t_window(Op.ROT180), _lower_window(Op.ROT180), (1, 1)),
    **{spelling(op): Rule(_t_window(op), _lower_window(op), (2, 2))
       for op in (Op.MAXPOOL, Op.MEANPOOL, Op.UPSAMPLE, Op.DILATE, Op.SUBSAMPLE)},
}

FUNCTIONS: dict[str, Rule] = {
    # every op of the spec spelled as a call: exp, max (of one or two arguments), inv, ...
    **_spec_rules(),
    # functions that lower to products and sums, not to an op of their own
    "sum": Rule(_t_reduce, _lower_sum, (1, 2)),
    "mean": Rule(_t_reduce, _lower_mean_axis, (1, 2)),
    "norm1": Rule(_t_scalar, lambda ctx, node, t, a: _sum(ir.unary(Op.ABS, a))),
    "dot": Rule(_t_dot_call, lambda ctx, node, t, a, b: _frobenius(a, b), (2, 2)),
    "tr": Rule(_t_square_scalar, lambda ctx, node, t, a: ir.einsum([a], [[0, 0]], [])),
    "diag": Rule(_t_diag, _lower_diag),
    "vector": Rule(_t_filled("col"), _lower_filled, (1, 2)),
    "matrix": Rule(_t_filled("matrix"), _lower_filled, (1, 3)),
    "eye": Rule(_t_eye, lambda ctx, node, t, n: ir.delta(ctx.shape(t)[:1])),
    "numel": Rule(_t_scalar, lambda ctx, node, t, a: ir.size(a.shape)),
    "size": Rule(_t_size, _lower_size, (2, 2)),
    **{name: Rule(_t_along, _lower_along(name), (1, 2))
       for name in ("softmax", "logsumexp", "logsoftmax")},
    **WINDOW_FUNCTIONS,  # conv2, maxpool, ... (docs/convolution.md)
}
ALIASES = {"trace": "tr", "transpose": None}
RESERVED = set(FUNCTIONS) | set(ALIASES) | {"eye"}


# ---------------------------------------------------------------- building from blocks

def _rows_of(kind: str, t: SurfaceType):
    """(rows, columns) of a block as written: None for a length of 1."""
    if kind == "scalar":
        return None, None
    if kind == "row":
        return None, t.dims[0]
    if kind == "col":
        return t.dims[0], None
    return t.dims[0], t.dims[1]


def _join(ctx, node, blocks: list[SurfaceType], across: bool) -> SurfaceType:
    """Blocks side by side (across, `[a, b]`) or stacked (`[a; b]`): they agree on the other
    axis, and the joined axis is the sum of theirs (a number or "n+m")."""
    if len(blocks) == 1:
        return blocks[0]
    keep, grow = (0, 1) if across else (1, 0)
    sizes = [_rows_of(t.kind, t) for t in blocks]
    kept = [s[keep] for s in sizes]
    what = "[a, b] sets blocks side by side" if across else "[a; b] stacks blocks"
    if all(k is None for k in kept):  # scalars and vectors of one row (column)
        parts = [s[grow] if s[grow] is not None else ctx.dims.declared(1) for s in sizes]
        return SurfaceType("row" if across else "col", (ctx.dims.total(parts),))
    if any(k is None for k in kept):
        odd = next(t for t, k in zip(blocks, kept) if k is None)
        other = next(t for t, k in zip(blocks, kept) if k is not None)
        ctx.fail(node, f"{what} of one {'height' if across else 'width'}: "
                       f"{ctx.describe(odd)} and {ctx.describe(other)} differ (transpose one?)")
    for t, k in zip(blocks, kept):
        if not ctx.dims.unify(kept[0], k):
            ctx.fail(node, f"{what} of one {'height' if across else 'width'}, not "
                           f"{ctx.describe(blocks[0])} and {ctx.describe(t)}")
    parts = [s[grow] if s[grow] is not None else ctx.dims.declared(1) for s in sizes]
    total = ctx.dims.total(parts)
    return SurfaceType("matrix", (kept[0], total) if across else (total, kept[0]))


def concatenation_type(ctx, node: ast.Brackets, args: list[SurfaceType]) -> SurfaceType:
    """`[a, b; c, d]`: each row's blocks side by side, then the rows stacked."""
    for t in args:
        if t.kind == "empty":
            ctx.fail(node, "[] stands only in max(X, [], d) and min(X, [], d)")
    it = iter(args)
    rows = [[next(it) for _ in row] for row in node.rows]
    return _join(ctx, node, [_join(ctx, node, r, across=True) for r in rows], across=False)


def _join_ir(blocks: list[tuple[Expr, str]], across: bool) -> tuple[Expr, str]:
    """Blocks joined in the IR: a vector when all are one row (column) of scalars and
    vectors, else a matrix; a scalar, or a vector in a matrix, is a slice of the join."""
    if len(blocks) == 1:
        return blocks[0]
    one_line = all(k in (("scalar", "row") if across else ("scalar", "col")) for _, k in blocks)
    if one_line:
        return ir.concat([e for e, _ in blocks], 0, 1), ("row" if across else "col")
    return ir.concat([e for e, _ in blocks], 1 if across else 0, 2), "matrix"


def lower_concatenation(ctx, node: ast.Brackets, built: list[Expr]) -> Expr:
    kinds = iter(ctx.types[id(c)].kind for c in node.children())
    it = iter(built)
    rows = [_join_ir([(next(it), next(kinds)) for _ in row], across=True) for row in node.rows]
    return _join_ir(rows, across=False)[0]
