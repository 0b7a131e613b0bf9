"""Syntax tree to IR: infer every node's surface type, then lower it.

Pass 1 walks the tree bottom-up and unifies dimensions, raising a ShapeError
that names both shapes, the operator and its position before any number is
touched. Pass 2 walks it again and builds IR nodes whose shapes use the
solved dimensions. Both passes are loops over a post-order, not recursion.

Every operator and function of the language has one entry in rules.py: a
type rule and a lowering, side by side (`BINARY` and `FUNCTIONS`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from ..errors import ConstantError, MatdiffError, ParseError, ShapeError
from ..ir import expr as ir
from ..ir.expr import Expr
from . import ast
from .kinds import infer_kinds
from .rules import (
    ALIASES,
    BINARY,
    FUNCTIONS,
    RESERVED,
    SCALAR,
    concatenation_type,
    expand_to,
    lower_concatenation,
    matmul,
    transpose,
)
from .types import Dims, DimVar, SurfaceType, parse_declaration

__all__ = ["build", "unsized_constants", "declared_variable", "default_kind", "FUNCTIONS",
           "RESERVED", "TypeContext", "infer_tree", "input_leaves", "lower_tree",
           "check_declarations", "node_type", "settle_kinds"]



class TypeContext:
    """What both passes share: the text, the dimensions, the variables' types."""

    def __init__(self, text: str, declare: Mapping[str, str]) -> None:
        self.text = text
        self.kinds: dict[str, str] = {}  # undeclared names' kinds, inferred from use
        self.dims = Dims()
        self.declared: dict[str, SurfaceType] = {}
        for name, spec in declare.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise MatdiffError(f"cannot declare {name!r}: not a variable name")
            if name in RESERVED:
                raise MatdiffError(f"cannot declare '{name}': it is a function of the language")
            self.declared[name] = parse_declaration(name, spec, self.dims)
        self.variables: dict[str, SurfaceType] = {}
        self.assigned: dict[str, SurfaceType] = {}  # a program's intermediates, by name
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
        """Element-wise typing with implicit expansion, as MATLAB does it: a scalar
        expands to any shape, a row vector (1 x n) over the rows of an m x n matrix,
        a column vector (m) over its columns."""
        if a.kind == "scalar":
            return b
        if b.kind == "scalar":
            return a
        if a.kind == b.kind:
            return self.same(node, what, a, b)
        if "matrix" in (a.kind, b.kind):
            m, v = (a, b) if a.kind == "matrix" else (b, a)
            axis = 1 if v.kind == "row" else 0
            if axis == 0 and not self.dims.known_equal(m.dims[0], v.dims[0]):
                # A plain vector is a column, and `x + A` is most often a slip: it expands
                # over the columns only when its length already is the matrix's row count
                # (`X - mean(X, 2)`, or sizes declared with one name). `X*W + b` is most
                # often a bias meant for every row: the fix named first is b'.
                name = _operand_text(node, v is a)
                rows = self.dims.can_unify(m.dims[1], v.dims[0])
                fits = ("this vector, transposed, fits its rows" if
                        self.dims.known_equal(m.dims[1], v.dims[0]) else
                        "a row vector 1 x n expands over the rows")
                fix = (f"write {name}' to add it to every row ({fits}, as a bias does: "
                       "X*W + b'); to add it to every column instead, " if rows else "")
                self.fail(node, f"{what} does not expand {self.describe(v)} over the columns "
                                f"of {self.describe(m)}: its length is not known to be the "
                                f"matrix's row count ({fix}declare both with one size, as "
                                "vector(m) and matrix(m, n), or spread it explicitly, "
                                f"{name}*vector(1)')")
            if self.dims.unify(m.dims[axis], v.dims[0]):
                return SurfaceType("matrix", m.dims)
            hint = ""
            if self.dims.can_unify(m.dims[1 - axis], v.dims[0]):
                hint = (" (a row vector 1 x n expands over the rows of an m x n matrix and a "
                        "column vector m x 1 over its columns: this vector, transposed, "
                        "would fit)")
            self.fail(node, f"{what} cannot expand {self.describe(v)} to "
                            f"{self.describe(m)}{hint}")
        self.fail(node, f"{what} needs operands of one shape, not {self.describe(a)} and "
                        f"{self.describe(b)} (a column and a row vector do not expand to a "
                        "matrix: transpose one of them, or write the outer product x*y')")
        raise AssertionError  # unreachable

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
        if name in self.assigned:
            return self.assigned[name]
        if name not in self.variables:
            if name in self.declared:
                self.variables[name] = self.declared[name]
            else:
                kind = self.kinds.get(name) or default_kind(name)
                self.variables[name] = _default_type(kind, self.dims)
        return self.variables[name]


def _operand_text(node: ast.Node, left: bool) -> str:
    """The name of an operator's operand (for a hint), or `x` for an expression."""
    operand = (node.left if left else node.right) if isinstance(node, ast.BinOp) else None
    if isinstance(node, ast.Call) and node.args:
        operand = node.args[0 if left else -1]
    return operand.name if isinstance(operand, ast.Name) else "x"


def default_kind(name: str) -> str:
    """MatrixCalculus.org's default by first letter: a-g scalars, h-z vectors, A-Z matrices."""
    first = name[0]
    if first.isupper():
        return "matrix"
    return "scalar" if first <= "g" else "vector"


def _default_type(kind: str, dims: Dims) -> SurfaceType:
    if kind == "matrix":
        return SurfaceType("matrix", (dims.new(), dims.new()))
    if kind == "scalar":
        return SCALAR
    return SurfaceType("col", (dims.new(),))




# ---------------------------------------------------------------- the two passes

def _infer(ctx: TypeContext, node: ast.Node) -> SurfaceType:
    if isinstance(node, ast.Name):
        if node.name == "eye":
            d = ctx.dims.new()
            return SurfaceType("matrix", (d, d))
        if node.name in RESERVED:
            ctx.fail(node, f"'{node.name}' is a function: call it as {node.name}(...)", ParseError)
        return ctx.variable_type(node)
    return node_type(ctx, node, [ctx.types[id(c)] for c in node.children()])


def node_type(ctx: TypeContext, node: ast.Node, args: list[SurfaceType]) -> SurfaceType:
    """The surface type of an operator or call node from its operands' types (its rule)."""
    if isinstance(node, ast.Number):
        return SCALAR
    if any(t.kind == "empty" for t in args) and not isinstance(node, ast.Call):
        _no_empty(ctx, node)
    if isinstance(node, ast.Empty):
        return SurfaceType("empty", ())
    if isinstance(node, ast.Brackets):
        return concatenation_type(ctx, node, args)
    if isinstance(node, ast.Neg):
        return args[0]
    if isinstance(node, ast.Transpose):
        t = args[0]
        flip = {"col": "row", "row": "col"}
        if t.kind == "matrix":
            return SurfaceType("matrix", (t.dims[1], t.dims[0]), t.symmetric)
        return SurfaceType(flip.get(t.kind, t.kind), t.dims)
    if isinstance(node, ast.BinOp):
        return BINARY[node.op].type(ctx, node, *args)
    if isinstance(node, ast.Call):
        func = ALIASES.get(node.func, node.func)
        if node.func == "transpose":
            _arity(ctx, node, (1, 1))
            return node_type(ctx, ast.Transpose(node.line, node.column, node.args[0]), args)
        rule = FUNCTIONS.get(func)
        if rule is None:
            known = ", ".join(sorted(FUNCTIONS))
            close = difflib.get_close_matches(node.func, list(FUNCTIONS) + list(ALIASES), n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            ctx.fail(node, f"unknown function '{node.func}'{hint} (known: {known})", ParseError)
        _arity(ctx, node, rule.arity)
        if any(t.kind == "empty" for t in args) and not (func in ("max", "min")
                                                          and len(args) == 3):
            _no_empty(ctx, node)
        return rule.type(ctx, node, *args)
    raise AssertionError(f"unknown syntax node {node!r}")  # pragma: no cover


def _no_empty(ctx: TypeContext, node: ast.Node) -> None:
    ctx.fail(node, "[] (the empty matrix) stands only in max(X, [], d) and min(X, [], d)")


def _arity(ctx: TypeContext, node: ast.Call, arity: tuple[int, int]) -> None:
    lo, hi = arity
    n = len(node.args)
    if not lo <= n <= hi:
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        ctx.fail(node, f"{node.func}() takes {want} argument{'s' if hi != 1 else ''}, "
                       f"not {n}", ParseError)


def _lower(ctx: TypeContext, node: ast.Node, built: dict[int, Expr],
           variables: Mapping[str, Expr]) -> Expr:
    t = ctx.types[id(node)]
    if isinstance(node, ast.Number):
        return ir.const(node.value)
    if isinstance(node, ast.Name):
        if node.name == "eye":
            return ir.delta(ctx.shape(t)[:1])
        return variables[node.name]
    if isinstance(node, ast.Brackets):
        return lower_concatenation(ctx, node, [built[id(c)] for c in node.children()])
    if isinstance(node, ast.Empty):  # the placeholder of max(X, [], d): no value of its own
        return ir.zeros(())
    if isinstance(node, ast.Neg):
        return ir.neg(built[id(node.operand)])
    if isinstance(node, ast.Transpose):
        return transpose(built[id(node.operand)])
    if isinstance(node, ast.BinOp):
        a, b = built[id(node.left)], built[id(node.right)]
        if node.op == "*":
            return matmul(a, ctx.types[id(node.left)], b, ctx.types[id(node.right)])
        return BINARY[node.op].lower(ctx, node, a, b)
    if isinstance(node, ast.Call):
        if node.func == "transpose":
            return transpose(built[id(node.args[0])])
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


def _lower_sum_chain(ctx: TypeContext, top: ast.BinOp, built: dict[int, Expr]) -> Expr:
    shape = ctx.shape(ctx.types[id(top)])
    terms: list[Expr] = []
    stack: list[tuple[ast.Node, bool]] = [(top, False)]
    while stack:
        node, negative = stack.pop()
        if _is_sum(node):
            stack.append((node.right, negative != (node.op == "-")))
            stack.append((node.left, negative))
        else:
            term = expand_to(built[id(node)], ctx.types[id(node)], shape)
            terms.append(ir.neg(term) if negative else term)
    return ir.add(terms, shape)


def _leaf(ctx: TypeContext, name: str, t: SurfaceType) -> Expr:
    return ir.var(name, ctx.shape(t), symmetric=t.symmetric, label=t.label)


def build(text: str, declare: Mapping[str, str] | None = None, goal: str | None = None,
          report: dict | None = None) -> tuple[Expr, dict[str, Expr], str | None]:
    """Parse and type `text`: (IR root, variables by name, "row" or None).

    `goal="scalar"` says the expression is a loss (a scalar), which types names in it;
    `report`, a dict, receives each undeclared name's kind and why (kinds.Inferred)
    before typing, so it is there also when typing then fails.
    """
    from .parser import parse_text

    tree = parse_text(text)
    ctx = TypeContext(text, check_declarations(declare))
    settle_kinds(ctx, [tree], [None], goal, report)
    order = infer_tree(ctx, tree)
    variables = input_leaves(ctx)
    root = lower_tree(ctx, tree, order, variables)
    root_type = ctx.types[id(tree)]
    return root, variables, ("row" if root_type.kind == "row" else None)


def settle_kinds(ctx: TypeContext, trees: list[ast.Node], assigned: list[str | None],
                 goal: str | None, report: dict | None) -> None:
    """Each undeclared name's kind from its use (kinds.py), before the first letter."""
    inferred = infer_kinds(ctx.text, trees, ctx.declared, assigned, goal, typer=node_type,
                           probe=TypeContext(ctx.text, {}))
    ctx.kinds = {name: ("vector" if i.kind == "col" else i.kind) for name, i in inferred.items()}
    if report is not None:
        report.update(inferred)


def unsized_constants(text: str, declare: Mapping[str, str] | None = None) -> set[float]:
    """The fill values c of the constants `vector(c)` and `matrix(c)` in `text` whose size
    nothing in the text ties to a variable: parsed on its own, with these declarations,
    the text could not be evaluated from its variables' values alone. (The printer writes
    each constant with its own c to ask which need their size written.) A text that does
    not type raises its ShapeError."""
    from .parser import parse_text

    tree = parse_text(text)
    ctx = TypeContext(text, check_declarations(declare))
    settle_kinds(ctx, [tree], [None], None, None)  # kinds from use, as build() has them
    order = infer_tree(ctx, tree)
    held = _told({d.root() for t in (*ctx.variables.values(), *ctx.declared.values())
                  for d in t.dims})
    free: set[float] = set()
    for node in order:
        if (isinstance(node, ast.Call) and node.func in ("vector", "matrix")
                and len(node.args) == 1 and isinstance(node.args[0], ast.Number)):
            roots = [d.root() for d in ctx.types[id(node)].dims]
            if any(r not in held and r.value is None for r in roots):
                free.add(node.args[0].value)
    return free


def _told(held: set) -> set:
    """The dimensions the variables' values tell: their own, and the parts of a joined one
    (n+m, n+n) that evaluation solves for, one unknown at a time (evaluate._settle_sums)."""
    held = set(held)
    more = True
    while more:
        more = False
        for r in [r for r in held if r.parts]:
            unknown = {p.root() for p in r.parts if p.root() not in held and
                       p.root().value is None and not p.root().parts}
            if len(unknown) == 1:
                held |= unknown
                more = True
    return held


def check_declarations(declare: Mapping[str, str] | None) -> Mapping[str, str]:
    if declare is None:
        return {}
    if not isinstance(declare, Mapping):
        raise MatdiffError(f"declare must be a dict of name -> type, not {type(declare).__name__}")
    return declare


def infer_tree(ctx: TypeContext, tree: ast.Node) -> list[ast.Node]:
    """Pass 1 over one tree: every node's surface type; returns the post-order."""
    order = ast.postorder(tree)
    for node in order:
        ctx.types[id(node)] = _infer(ctx, node)
    if ctx.types[id(tree)].kind == "empty":  # `[]` alone has no value
        _no_empty(ctx, tree)
    return order


def input_leaves(ctx: TypeContext) -> dict[str, Expr]:
    """The IR leaf of every input variable (declared but absent ones too: derivative zero)."""
    for name, t in ctx.declared.items():
        ctx.variables.setdefault(name, t)
    return {name: _leaf(ctx, name, t) for name, t in ctx.variables.items()}


def lower_tree(ctx: TypeContext, tree: ast.Node, order: list[ast.Node],
               env: Mapping[str, Expr]) -> Expr:
    """Pass 2 over one tree: its IR, names looked up in `env`."""
    inner = _inner_sums(order)
    built: dict[int, Expr] = {}
    try:
        for node in order:
            if id(node) in inner:
                continue  # built with the whole chain at its top
            try:
                if _is_sum(node):
                    built[id(node)] = _lower_sum_chain(ctx, node, built)
                else:
                    built[id(node)] = _lower(ctx, node, built, env)
            except ConstantError as e:  # folding numbers overflowed: say where
                if e.line is not None:
                    raise
                raise ConstantError(e.message, ctx.text, node.line, node.column) from None
    except TypeError as e:  # an inconsistency the type rules should have caught
        raise ShapeError(f"internal shape inconsistency: {e}", ctx.text, 1, 1) from None
    return built[id(tree)]


def declared_variable(name: str, spec: str) -> Expr:
    """The IR leaf of a variable known only from its declaration."""
    ctx = TypeContext(name, {name: spec})
    return _leaf(ctx, name, ctx.declared[name])
