"""Syntax tree to IR: infer every node's surface type, then lower it.

Pass 1 walks the tree bottom-up and unifies dimensions, raising a ShapeError
that names both shapes, the operator and its position before any number is
touched. Pass 2 walks it again and builds IR nodes whose shapes use the
solved dimensions. Both passes are loops over a post-order, not recursion.

Every operator and function of the language has one entry here: a type rule
and a lowering, side by side (`BINARY` and `FUNCTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import MatdiffError, ParseError, ShapeError
from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import Op
from . import ast
from .types import Dims, DimVar, SurfaceType, parse_declaration

__all__ = ["build", "declared_variable", "FUNCTIONS", "RESERVED"]

SCALAR = SurfaceType("scalar", ())


def _postorder(root: ast.Node) -> list[ast.Node]:
    order: list[ast.Node] = []
    stack: list[tuple[ast.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        for child in reversed(node.children()):
            stack.append((child, False))
    return order


class _Context:
    """What both passes share: the text, the dimensions, the variables' types."""

    def __init__(self, text: str, declare: Mapping[str, str]) -> None:
        self.text = text
        self.dims = Dims()
        self.declared: dict[str, SurfaceType] = {}
        for name, spec in declare.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise MatdiffError(f"cannot declare {name!r}: not a variable name")
            if name in RESERVED:
                raise MatdiffError(f"cannot declare '{name}': it is a function of the language")
            self.declared[name] = parse_declaration(name, spec, self.dims)
        self.variables: dict[str, SurfaceType] = {}
        self.types: dict[int, SurfaceType] = {}

    def fail(self, node: ast.Node, message: str, kind: type[MatdiffError] = ShapeError):
        raise kind(message, self.text, node.line, node.column)

    def describe(self, t: SurfaceType) -> str:
        return t.describe(self.dims)

    def same(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType) -> SurfaceType:
        """a and b must have one shape (same kind, unified dims)."""
        if a.kind != b.kind or not all(self.dims.unify(x, y) for x, y in zip(a.dims, b.dims)):
            self.fail(node, f"{what} needs operands of one shape, not {self.describe(a)} "
                            f"and {self.describe(b)}")
        return SurfaceType(a.kind, a.dims)

    def expand(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType) -> SurfaceType:
        """Element-wise typing with scalar expansion."""
        if a.kind == "scalar":
            return b
        if b.kind == "scalar":
            return a
        return self.same(node, what, a, b)

    def unify(self, node: ast.Node, what: str, a: SurfaceType, b: SurfaceType,
              da: DimVar, db: DimVar) -> None:
        if not self.dims.unify(da, db):
            self.fail(node, f"{what}: the inner dimensions of {self.describe(a)} and "
                            f"{self.describe(b)} do not match")

    def square(self, node: ast.Node, what: str, a: SurfaceType) -> None:
        if a.kind != "matrix" or not self.dims.unify(a.dims[0], a.dims[1]):
            self.fail(node, f"{what} needs a square matrix, not {self.describe(a)}")

    def shape(self, t: SurfaceType) -> ir.Shape:
        return tuple(self.dims.name(d) for d in t.dims)

    def variable_type(self, node: ast.Name) -> SurfaceType:
        name = node.name
        if name not in self.variables:
            if name in self.declared:
                self.variables[name] = self.declared[name]
            else:
                self.variables[name] = _default_type(name, self.dims)
        return self.variables[name]


def _default_type(name: str, dims: Dims) -> SurfaceType:
    """MatrixCalculus.org's default by first letter: a-g scalars, h-z vectors, A-Z matrices."""
    first = name[0]
    if first.isupper():
        return SurfaceType("matrix", (dims.new(), dims.new()))
    if first <= "g":
        return SCALAR
    return SurfaceType("col", (dims.new(),))


# ---------------------------------------------------------------- IR helpers

def _broadcast(e: Expr, shape: ir.Shape) -> Expr:
    """Scalar expansion of a scalar e to `shape`."""
    if e.shape == tuple(shape):
        return e
    labels = list(range(len(shape)))
    return ir.einsum([e], [[]], labels, dict(zip(labels, shape)))


def _pair(a: Expr, b: Expr) -> tuple[Expr, Expr]:
    shape = a.shape if a.ndim else b.shape
    return _broadcast(a, shape), _broadcast(b, shape)


def _elementwise_product(a: Expr, b: Expr) -> Expr:
    labels = list(range(max(a.ndim, b.ndim)))
    return ir.einsum([a, b], [labels[:a.ndim], labels[:b.ndim]], labels)


def _reciprocal(e: Expr) -> Expr:
    return ir.binary(Op.POW, e, ir.const(-1.0, e.shape))


def _sum(e: Expr) -> Expr:
    return ir.einsum([e], [list(range(e.ndim))], [])


def _transpose(e: Expr) -> Expr:
    if e.ndim < 2:
        return e
    return ir.einsum([e], [[0, 1]], [1, 0])


def _matmul(a: Expr, ta: SurfaceType, b: Expr, tb: SurfaceType) -> Expr:
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

def _type_matmul(ctx: _Context, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
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


def _type_divide(ctx: _Context, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    if b.kind != "scalar":
        ctx.fail(node, f"'/' divides by a scalar, not by {ctx.describe(b)} "
                       "(use ./ for element-wise division, or inv())")
    return a


def _type_power(ctx: _Context, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
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


def _type_dot(ctx: _Context, node: ast.BinOp, a: SurfaceType, b: SurfaceType) -> SurfaceType:
    if a.kind == "scalar" or b.kind == "scalar":
        return a if b.kind == "scalar" else b
    if a.kind in ("row", "col") and b.kind in ("row", "col"):
        ctx.unify(node, f"'{node.spelling}'", a, b, a.dims[0], b.dims[0])
        return SCALAR
    ctx.same(node, f"'{node.spelling}'", a, b)
    return SCALAR


def _lower_power(ctx: _Context, node: ast.BinOp, a: Expr, b: Expr) -> Expr:
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
    return ctx.expand(node, f"'{node.spelling}'", a, b)


BINARY: dict[str, Rule] = {
    "+": Rule(_type_elementwise, lambda ctx, n, a, b: ir.add(_pair(a, b))),
    "-": Rule(_type_elementwise, lambda ctx, n, a, b: ir.sub(*_pair(a, b))),
    ".*": Rule(_type_elementwise, lambda ctx, n, a, b: _elementwise_product(a, b)),
    "./": Rule(_type_elementwise, lambda ctx, n, a, b: _elementwise_product(a, _reciprocal(b))),
    ".^": Rule(_type_elementwise, lambda ctx, n, a, b: ir.binary(Op.POW, *_pair(a, b))),
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


def _t_inv(ctx, node, a):
    ctx.square(node, "inv()", a)
    return a


def _t_vector(ctx, node, a):
    if a.kind not in ("row", "col"):
        ctx.fail(node, f"{node.func}() takes a vector, not {ctx.describe(a)}")
    return a if node.func == "softmax" else SCALAR


def _t_diag(ctx, node, a):
    if a.kind in ("row", "col"):
        return SurfaceType("matrix", (a.dims[0], a.dims[0]))
    if a.kind == "matrix":
        ctx.square(node, "diag() of a matrix", a)
        return SurfaceType("col", (a.dims[0],))
    ctx.fail(node, f"diag() takes a vector or a square matrix, not {ctx.describe(a)}")
    raise AssertionError  # unreachable


def _t_filled(kind):
    def rule(ctx, node, a):
        if a.kind != "scalar":
            ctx.fail(node, f"{node.func}(c) takes a scalar c, not {ctx.describe(a)}")
        if kind == "col":
            return SurfaceType("col", (ctx.dims.new(),))
        return SurfaceType("matrix", (ctx.dims.new(), ctx.dims.new()))
    return rule


def _t_pairwise(ctx, node, a, b):
    return ctx.expand(node, f"{node.func}()", a, b)


def _t_dot_call(ctx, node, a, b):
    if a.kind in ("row", "col") and b.kind in ("row", "col"):
        ctx.unify(node, "dot()", a, b, a.dims[0], b.dims[0])
        return SCALAR
    ctx.fail(node, f"dot() takes two vectors, not {ctx.describe(a)} and {ctx.describe(b)}")
    raise AssertionError  # unreachable


def _unary(op: Op) -> Rule:
    return Rule(_t_same, lambda ctx, node, t, a: ir.unary(op, a))


def _matrix(op: Op, typer: Callable) -> Rule:
    return Rule(typer, lambda ctx, node, t, a: ir.matrix_fn(op, a, ctx.shape(t)))


def _lower_filled(ctx, node, t, a):
    return _broadcast(a, ctx.shape(t))


def _lower_diag(ctx, node, t, a):
    if t.kind == "matrix":
        return ir.einsum([a], [[0]], [0, 0])
    return ir.einsum([a], [[0, 0]], [0])


def _lower_mean(ctx, node, t, a):
    return _elementwise_product(_sum(a), _reciprocal(ir.size(a.shape)))


def _lower_minmax(op):
    return lambda ctx, node, t, a, b: ir.binary(op, *_pair(a, b))


FUNCTIONS: dict[str, Rule] = {
    **{op.value: _unary(op) for op in (
        Op.EXP, Op.LOG, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.SINH, Op.COSH, Op.SQRT,
        Op.ABS, Op.SIGN, Op.SIGMOID, Op.RELU, Op.SOFTPLUS, Op.STEP)},
    "max": Rule(_t_pairwise, _lower_minmax(Op.MAX), (2, 2)),
    "min": Rule(_t_pairwise, _lower_minmax(Op.MIN), (2, 2)),
    "sum": Rule(_t_scalar, lambda ctx, node, t, a: _sum(a)),
    "mean": Rule(_t_scalar, _lower_mean),
    "norm1": Rule(_t_scalar, lambda ctx, node, t, a: _sum(ir.unary(Op.ABS, a))),
    "norm2": _matrix(Op.NORM2, _t_scalar),
    "dot": Rule(_t_dot_call, lambda ctx, node, t, a, b: _frobenius(a, b), (2, 2)),
    "tr": Rule(_t_square_scalar, lambda ctx, node, t, a: ir.einsum([a], [[0, 0]], [])),
    "det": _matrix(Op.DET, _t_square_scalar),
    "logdet": _matrix(Op.LOGDET, _t_square_scalar),
    "inv": _matrix(Op.INV, _t_inv),
    "diag": Rule(_t_diag, _lower_diag),
    "softmax": _matrix(Op.SOFTMAX, _t_vector),
    "logsumexp": _matrix(Op.LOGSUMEXP, _t_vector),
    "vector": Rule(_t_filled("col"), _lower_filled),
    "matrix": Rule(_t_filled("matrix"), _lower_filled),
    "numel": Rule(_t_scalar, lambda ctx, node, t, a: ir.size(a.shape)),
}
ALIASES = {"trace": "tr", "transpose": None}
RESERVED = set(FUNCTIONS) | set(ALIASES) | {"eye"}


# ---------------------------------------------------------------- the two passes

def _infer(ctx: _Context, node: ast.Node) -> SurfaceType:
    types = ctx.types
    if isinstance(node, ast.Number):
        return SCALAR
    if isinstance(node, ast.Name):
        if node.name == "eye":
            d = ctx.dims.new()
            return SurfaceType("matrix", (d, d))
        if node.name in RESERVED:
            ctx.fail(node, f"'{node.name}' is a function: call it as {node.name}(...)", ParseError)
        return ctx.variable_type(node)
    if isinstance(node, ast.Neg):
        return types[id(node.operand)]
    if isinstance(node, ast.Transpose):
        t = types[id(node.operand)]
        flip = {"col": "row", "row": "col"}
        if t.kind == "matrix":
            return SurfaceType("matrix", (t.dims[1], t.dims[0]), t.symmetric)
        return SurfaceType(flip.get(t.kind, t.kind), t.dims)
    if isinstance(node, ast.BinOp):
        return BINARY[node.op].type(ctx, node, types[id(node.left)], types[id(node.right)])
    if isinstance(node, ast.Call):
        func = ALIASES.get(node.func, node.func)
        if node.func == "transpose":
            _arity(ctx, node, (1, 1))
            return _infer(ctx, ast.Transpose(node.line, node.column, node.args[0]))
        rule = FUNCTIONS.get(func)
        if rule is None:
            known = ", ".join(sorted(FUNCTIONS))
            ctx.fail(node, f"unknown function '{node.func}' (known: {known})", ParseError)
        _arity(ctx, node, rule.arity)
        return rule.type(ctx, node, *(types[id(a)] for a in node.args))
    raise AssertionError(f"unknown syntax node {node!r}")  # pragma: no cover


def _arity(ctx: _Context, node: ast.Call, arity: tuple[int, int]) -> None:
    lo, hi = arity
    n = len(node.args)
    if not lo <= n <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        ctx.fail(node, f"{node.func}() takes {want} argument{'s' if hi != 1 else ''}, "
                       f"not {n}", ParseError)


def _lower(ctx: _Context, node: ast.Node, built: dict[int, Expr],
           variables: dict[str, Expr]) -> Expr:
    t = ctx.types[id(node)]
    if isinstance(node, ast.Number):
        return ir.const(node.value)
    if isinstance(node, ast.Name):
        if node.name == "eye":
            return ir.delta(ctx.shape(t)[:1])
        return variables[node.name]
    if isinstance(node, ast.Neg):
        return ir.neg(built[id(node.operand)])
    if isinstance(node, ast.Transpose):
        return _transpose(built[id(node.operand)])
    if isinstance(node, ast.BinOp):
        a, b = built[id(node.left)], built[id(node.right)]
        if node.op == "*":
            return _matmul(a, ctx.types[id(node.left)], b, ctx.types[id(node.right)])
        return BINARY[node.op].lower(ctx, node, a, b)
    if isinstance(node, ast.Call):
        if node.func == "transpose":
            return _transpose(built[id(node.args[0])])
        rule = FUNCTIONS[ALIASES.get(node.func, node.func)]
        return rule.lower(ctx, node, t, *(built[id(a)] for a in node.args))
    raise AssertionError(f"unknown syntax node {node!r}")  # pragma: no cover


def _is_sum(node: ast.Node) -> bool:
    return isinstance(node, ast.BinOp) and node.op in ("+", "-")


def _inner_sums(order: list[ast.Node]) -> set[int]:
    """The + and - nodes inside a longer chain of them: `a + b + c` is built as one sum,
    so a chain of n terms costs O(n), not O(n^2)."""
    return {id(child) for node in order if _is_sum(node)
            for child in (node.left, node.right) if _is_sum(child)}


def _lower_sum_chain(ctx: _Context, top: ast.BinOp, built: dict[int, Expr]) -> Expr:
    shape = ctx.shape(ctx.types[id(top)])
    terms: list[Expr] = []
    stack: list[tuple[ast.Node, bool]] = [(top, False)]
    while stack:
        node, negative = stack.pop()
        if _is_sum(node):
            stack.append((node.right, negative != (node.op == "-")))
            stack.append((node.left, negative))
        else:
            term = _broadcast(built[id(node)], shape)
            terms.append(ir.neg(term) if negative else term)
    return ir.add(terms, shape)


def _leaf(ctx: _Context, name: str, t: SurfaceType) -> Expr:
    return ir.var(name, ctx.shape(t), symmetric=t.symmetric)


def build(text: str, declare: Mapping[str, str] | None = None
          ) -> tuple[Expr, dict[str, Expr], str | None]:
    """Parse and type `text`: (IR root, variables by name, "row" or None)."""
    from .parser import parse_text

    if declare is None:
        declare = {}
    if not isinstance(declare, Mapping):
        raise MatdiffError(f"declare must be a dict of name -> type, not {type(declare).__name__}")
    tree = parse_text(text)
    ctx = _Context(text, declare)
    order = _postorder(tree)
    for node in order:
        ctx.types[id(node)] = _infer(ctx, node)
    for name, t in ctx.declared.items():  # declared but absent: kept, derivative zero
        ctx.variables.setdefault(name, t)
    variables = {name: _leaf(ctx, name, t) for name, t in ctx.variables.items()}
    inner = _inner_sums(order)
    built: dict[int, Expr] = {}
    try:
        for node in order:
            if id(node) in inner:
                continue  # built with the whole chain at its top
            if _is_sum(node):
                built[id(node)] = _lower_sum_chain(ctx, node, built)
            else:
                built[id(node)] = _lower(ctx, node, built, variables)
    except TypeError as e:  # an inconsistency the type rules should have caught
        raise ShapeError(f"internal shape inconsistency: {e}", text, 1, 1) from None
    root_type = ctx.types[id(tree)]
    return built[id(tree)], variables, ("row" if root_type.kind == "row" else None)


def declared_variable(name: str, spec: str) -> Expr:
    """The IR leaf of a variable known only from its declaration."""
    ctx = _Context(name, {name: spec})
    return _leaf(ctx, name, ctx.declared[name])
