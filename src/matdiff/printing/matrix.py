"""IR to matrix notation: one conversion per op, bottom-up over the DAG.

Each IR node becomes a Form (form.py) built from its arguments' forms: a
variable a symbol, a filled constant `vector(c)`, `matrix(c)` or a number,
a product through reduce.py, a power `x.^2`, `1./x` or `sqrt(x)`, a
function a call. A node with three or more axes, or a product with no
matrix form, becomes index notation (index.py). Vectors come out as
columns; a caller wanting a row transposes the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..errors import MatdiffError
from ..ir.expr import Expr, topo_order
from ..ir.ops import (
    AXIS_OPS,
    ELEMENTWISE_BINARY,
    ELEMENTWISE_UNARY,
    MATRIX_FUNCTIONS,
    WINDOW_OPS,
    Op,
    spelling,
    window_options,
    window_ranks,
)
from ..ir.properties import is_symmetric
from . import form as F
from .form import Form
from .reduce import reduce_einsum
from .sizes import Unparsed, settle, unsized

__all__ = ["to_form", "kind_of", "FORMS", "FormContext", "resettle"]


def kind_of(shape: tuple) -> str:
    return {0: "s", 1: "c", 2: "m"}.get(len(shape), "t")


class FormContext:
    """What conversion needs beyond a node: the variables, to write sizes as numel(x), and
    which of them are row vectors (a 1-D value that prints as `r'` where a column stands)."""

    def __init__(self, root: Expr, extra: Mapping[str, Expr] | None = None,
                 declare: Mapping[str, str] | None = None,
                 rows: frozenset[str] = frozenset()) -> None:
        self.declare = declare or {}  # the user's own declarations, where known
        self.rows = rows  # names whose 1-D value is a row vector (a program's too)
        nodes = topo_order(root)
        self.variables = {n.name: n for n in nodes if n.op is Op.VAR}
        for name, v in (extra or {}).items():
            self.variables.setdefault(name, v)
        # a declaration holds for the user's own variable, not an intermediate of its name
        self.declare = {k: s for k, s in self.declare.items()
                        if k in self.variables and (extra or {}).get(k) is self.variables[k]}
        for name in rows:  # the text is read back with them as rows, as they print
            if name in self.variables and self.variables[name].ndim == 1:
                self.declare.setdefault(name, "row vector")
        self._dim_symbols: dict[str, str] | None = None
        # a column vector spread over a matrix's columns prints as the vector (`X - u`) only
        # where the text says its length is the row count; to_form asks the language
        self.spread_columns = True
        self.spread_a_column = False

    def size(self, dims: tuple) -> Form:
        """SIZE(dims) as a product of `numel(x)` and `size(A, k)` of the variables.

        Whole variables covering some of the dimensions print as numel(x); a
        dimension left over prints as size(A, k) of a matrix carrying it; one
        that no variable carries (only a constant such as `eye`) as `tr(eye)`,
        which is as unknown as the dimension itself. Integer dimensions print
        as numbers. The value is (dims, text factors, LaTeX symbols).
        """
        need = [d for d in dims if not isinstance(d, int)]
        factors: list[str] = []
        for v in sorted(self.variables.values(), key=lambda v: -v.ndim):
            # a variable may cover the dimensions more than once: n*n is numel(x)*numel(x)
            while v.ndim and need and all(need.count(d) >= list(v.shape).count(d)
                                          for d in v.shape):
                for d in v.shape:
                    need.remove(d)
                factors.append(f"numel({v.name})")
        for d in need:
            owner = next((v for v in self.variables.values() if v.ndim == 2 and d in v.shape),
                         None)
            joined = None if owner else self._joined(d)
            factors.append(f"size({owner.name}, {owner.shape.index(d) + 1})" if owner
                           else joined[0] if joined and len(dims) == 1
                           else f"({joined[0]})" if joined else "tr(eye)")
        factors += [str(d) for d in dims if isinstance(d, int)]
        symbols = [str(d) if isinstance(d, int) else self._joined(d, latex=True) or
                   self.latex_dim(d) for d in dims]
        if len(symbols) > 1:
            symbols = [f"({x})" if " + " in x else x for x in symbols]
        return F.Form("size", (), (tuple(dims), tuple(factors), tuple(symbols)), "s")

    def _part_of(self, d):
        """A size no variable has, part of a variable's joined length (w of n+p, p alone):
        the whole less the other parts, `numel(w) - numel(x)` (text, LaTeX symbol)."""
        from ..ir.expr import dim_parts, dim_sum

        seeking = self.__dict__.setdefault("_seeking", set())
        if d in seeking:  # w of n+p alone: p through n, n through p, neither told
            return None
        seeking.add(d)
        try:
            return self._whole_less_rest(d, dim_parts, dim_sum)
        finally:
            seeking.discard(d)

    def _whole_less_rest(self, d, dim_parts, dim_sum):
        for v in self.variables.values():
            for k, whole in enumerate(v.shape):
                parts = dim_parts(whole)
                if len(parts) < 2 or parts.count(d) != 1:
                    continue
                rest = [p for p in parts if p != d]
                rest_size = self.known_size((dim_sum(rest),)) if len(rest) > 1 or \
                    not isinstance(rest[0], int) else F.num(float(rest[0]))
                if rest_size is None:
                    continue
                text = rest_size.value[1][0] if rest_size.kind == "size" else \
                    str(int(rest_size.value))
                if " + " in text:
                    text = f"({text})"
                own = f"numel({v.name})" if v.ndim == 1 else f"size({v.name}, {k + 1})"
                return f"{own} - {text}", self.latex_dim(d)
        return None

    def _joined(self, d, latex: bool = False):
        """A joined axis n+m+n no variable has whole, as the sum of its parts' sizes
        through variables (`2*size(A, 1) + numel(y)`, `(text, symbols)`); its LaTeX alone
        with `latex`; None when a part is carried by no variable."""
        from ..ir.expr import dim_parts

        parts = dim_parts(d)
        if len(parts) < 2:
            return None
        counts: dict = {}
        for p in parts:
            counts[p] = counts.get(p, 0) + 1
        texts, symbols = [], []
        for p, k in counts.items():
            if isinstance(p, int):
                texts.append(str(p * k))
                symbols.append(str(p * k))
                continue
            one = self.known_size((p,))
            if one is None:
                return None
            texts.append(one.value[1][0] if k == 1 else f"{k}*{one.value[1][0]}")
            symbols.append(self.latex_dim(p) if k == 1 else f"{k} {self.latex_dim(p)}")
        return " + ".join(symbols) if latex else (" + ".join(texts), " + ".join(symbols))

    def is_row(self, name: str) -> bool:
        """Whether `name` is a row vector: named so by the caller (a program's row-vector
        lines and inputs) or declared so by the user."""
        from ..language.types import Dims, parse_declaration

        if name in self.rows:
            return True
        spec = self.declare.get(name)
        try:
            return spec is not None and parse_declaration(name, spec, Dims()).kind == "row"
        except MatdiffError:
            return False

    def known_size(self, dims: tuple) -> Form | None:
        """SIZE(dims) through the variables, or None when no variable carries one."""
        if len(dims) == 1 and not isinstance(dims[0], int):  # one pass: numel(v), size(A, k)
            d = dims[0]
            owner = next((v for v in self.variables.values() if v.shape == (d,)), None) or \
                next((v for v in self.variables.values() if v.ndim == 2 and d in v.shape), None)
            if owner is None:
                joined = self._joined(d) or self._part_of(d)
                return None if joined is None else F.Form(
                    "size", (), ((d,), (joined[0],), (joined[1],)), "s")
            text = (f"numel({owner.name})" if owner.ndim == 1
                    else f"size({owner.name}, {owner.shape.index(d) + 1})")
            return F.Form("size", (), ((d,), (text,), (self.latex_dim(d),)), "s")
        f = self.size(dims)
        return None if "tr(eye)" in f.value[1] else f

    def latex_dim(self, d: str) -> str:
        """The LaTeX symbol of a dimension: its name, unless a variable prints the same."""
        from .latex import latex_name

        if self._dim_symbols is None:
            self._dim_symbols = {}
            self._taken = {latex_name(name) for name in self.variables}
            dims = {x for v in self.variables.values() for x in v.shape if isinstance(x, str)}
            for x in sorted(dims):
                self.latex_dim(x)
        if d not in self._dim_symbols:
            symbol = latex_name(d)
            spare = iter("nmpqrstklNMPQRKL")
            while symbol in self._taken:
                symbol = next(spare, None) or f"d_{{{len(self._taken)}}}"
            self._taken.add(symbol)
            self._dim_symbols[d] = symbol
        return self._dim_symbols[d]


def _variable(node: Expr, ctx: FormContext) -> Form:
    """A variable; one declared a row vector is the column r' wherever the IR (whose
    vectors are columns) holds it, so that it prints `r` where a row is read."""
    if node.ndim == 1 and ctx.is_row(node.name):
        return F.transpose(F.sym(node.name, "r"))
    return F.sym(node.name, kind_of(node.shape), node.attr[1])


def _const(node: Expr, args, ctx) -> Form:
    k = kind_of(node.shape)
    if k == "s":
        return F.num(node.attr)
    if k == "t":
        return None  # index notation
    c = node.attr
    base = F.ones(abs(c), k, node.shape)
    return F.neg(base) if c < 0 else base


def _einsum(node: Expr, args: list[Form], ctx) -> Form | None:
    ins, out, _ = node.attr
    return _mean(node, args) or reduce_einsum(args, ins, out, dict(enumerate(node.attr[2])))


def _mean(node: Expr, args: list[Form]) -> Form | None:
    """sum(X, 2)/size(X, 2) as mean(X, 2) (sum(X, 1)/size(X, 1) as mean(X, 1)): a row or
    column sum of a matrix over the length it sums, other scalar factors and a spread
    (X - mean(X, 2)) kept."""
    ins, out, dims = node.attr
    count = [k for k, a in enumerate(node.args) if not ins[k] and a.op is Op.POW
             and a.args[0].op is Op.SIZE and a.args[1].op is Op.CONST and a.args[1].attr == -1.0]
    tensors = [k for k, lab in enumerate(ins) if lab]
    if len(count) != 1 or len(tensors) != 1:
        return None
    (t,) = tensors
    labels = tuple(ins[t])
    kept = [x for x in labels if x in out]
    if len(labels) != 2 or labels[0] == labels[1] or len(kept) != 1:
        return None
    summed = labels[1] if kept[0] == labels[0] else labels[0]
    if node.args[count[0]].args[0].attr != (dims[summed],):
        return None
    m = args[t] if labels[1] == summed else F.transpose(args[t])  # its rows summed
    if m.kind == "t":
        body = F.transpose(F.call("mean", [m.args[0], F.num(1.0)], "r"))
    elif m.kind == "mul":  # the longhand A*B*vector(1), as the sum prints
        return None
    else:
        body = F.call("mean", [m, F.num(2.0)], "c")
    others = [a for k, a in enumerate(args) if k not in (t, count[0])]
    return reduce_einsum(others + [body], [()] * len(others) + [tuple(kept)], out,
                         dict(enumerate(dims)))


def _diagonal_like(f: Form, depth: int = 0) -> bool:
    """eye, b*eye, diag(x), -2*diag(x): a term that marks a sum as a Jacobian."""
    if f.kind == "eye" or (f.kind == "call" and f.value == "diag" and f.orient == "m"):
        return True
    return depth < 4 and f.kind in ("mul", "neg") and any(
        _diagonal_like(a, depth + 1) for a in f.args)


def _columns(node: Expr, args: list[Form]) -> list[Form]:
    """The vector operands of an entry-by-entry op on one vector, all columns when some
    are rows and some columns (logsumexp(B, 1) is a row, y a column: min(...', y))."""
    kinds = {a.orient for a in args}
    if node.ndim != 1 or not {"r", "c"} <= kinds:
        return args
    return [F.transpose(a) if a.orient == "r" else a for a in args]


def _add(node: Expr, args: list[Form], ctx) -> Form:
    """A sum, with spread terms written by implicit expansion: `X*W + v'`, `x + 1`.
    Beside the identity or a diagonal matrix a spread vector keeps its longhand
    (`eye - vector(1)*u'`), which reads as the Jacobian it usually is, and so does a
    spread number (`eye - matrix(1)/n`), where a bare number would read as a multiple of
    the identity; elsewhere a matrix sum expands a number as the language does
    (`step(X*W + 1)`, the hinge loss's margins)."""
    args = _columns(node, args)
    if all(a.bcast is not None for a in args):
        return F.add(args)
    eye = any(_diagonal_like(a) for a in args)

    def longhand(a: Form) -> bool:
        return eye or not _expands(a, node, ctx)

    return F.add([a.bcast if a.bcast is not None and not longhand(a) else a for a in args])


def _expands(a: Form, node: Expr, ctx: FormContext) -> bool:
    """Whether the spread a may print as its vector: a row always expands over a matrix's
    rows; a column over its columns only where the text shows its length is the row count
    (to_form tries, and asks the language)."""
    if a.bcast.orient != "c" or kind_of(node.shape) != "m":
        return True
    ctx.spread_a_column = True
    return ctx.spread_columns


def _pow(node: Expr, args: list[Form], ctx) -> Form:
    base, ex = args
    e = node.args[1]
    if e.op is Op.CONST:
        if e.attr == -1.0:  # a.^-1 -> 1./a
            return (F.sdiv if base.orient == "s" else F.ediv)(F.num(1.0), base)
        if e.attr == 0.5:  # a.^0.5 -> sqrt(a)
            return F.call("sqrt", [base], base.orient)
        if e.attr == -0.5:
            one = F.num(1.0)
            root = F.call("sqrt", [base], base.orient)
            return F.sdiv(one, root) if base.orient == "s" else F.ediv(one, root)
        if e.attr < 0:  # a.^-k -> 1./a.^k
            div = F.sdiv if base.orient == "s" else F.ediv
            return div(F.num(1.0), F.power(base, F.num(-e.attr)))
        return F.power(base, F.num(e.attr))
    spread = ex.bcast is not None and _expands(ex, node, ctx)
    return F.power(base, ex.bcast if spread else ex)


def _unary(node: Expr, args: list[Form], ctx) -> Form:
    a = args[0]
    if a.kind == "t" and a.args[0].kind == "sym" and a.args[0].orient == "r":
        # exp(r')' for a row vector r: the function of the row, transposed (exp(r)')
        return F.transpose(F.call(spelling(node.op), [a.args[0]], "r"))
    return F.call(spelling(node.op), args, a.orient)


def _extremum(node: Expr, args: list[Form], ctx) -> Form:
    a, b = _columns(node, args)
    if a.bcast is not None and b.bcast is None and _expands(a, node, ctx):
        a = a.bcast
    elif b.bcast is not None and a.bcast is None and _expands(b, node, ctx):
        b = b.bcast
    # the orientation of its arguments: eq(max(Z, [], 1), m) of a row is a row
    orient = next((f.orient for f in (a, b) if f.orient != "s"), kind_of(node.shape))
    return F.call(spelling(node.op), [a, b], orient if node.ndim == 1 else kind_of(node.shape))


def _matrix_fn(node: Expr, args: list[Form], ctx) -> Form:
    if node.attr is not None and node.op in AXIS_OPS:  # softmax(X, 2): the axis written
        kind = kind_of(node.shape)
        if kind == "c" and node.attr == 0:  # logsumexp(X, 1) is a row, as sum(X, 1) is
            kind = "r"
        empty = [F.Form("empty", (), None, "m")] if node.op in (Op.VMAX, Op.VMIN) else []
        return F.call(spelling(node.op), [*args, *empty, F.num(node.attr + 1)], kind)
    if node.ndim == 1 and args[0].orient == "r":  # softmax of a row is a row
        return F.call(spelling(node.op), args, "r")
    return F.call(spelling(node.op), args, kind_of(node.shape))


def _window(node: Expr, args: list[Form], ctx) -> Form:
    """conv2(X, K), conv2(X, K, 1, 2), rot180(K), maxpool(X, 2): the attr written as the
    language's trailing numbers (a conv's pad and stride only where not 0 and 1; the
    rank is the argument's own). None (index notation) when an argument carries extra
    axes, as in a Jacobian: the language has no such call."""
    rank, out_rank = window_ranks(node.op, node.attr)
    if any(a.ndim != rank for a in node.args if a.ndim) or node.ndim != out_rank:
        return None
    extra = window_options(node.op, node.attr)
    args = [_sized_constant(a) if a.op is Op.CONST and a.ndim else f
            for a, f in zip(node.args, args)]
    return F.call(spelling(node.op), [*args, *(F.num(float(v)) for v in extra)],
                  kind_of(node.shape))


def _sized_constant(node: Expr) -> Form:
    """A constant argument of a window op as c*ones(m, n): nothing around it gives its size
    (conv2(X, ones(4, 4)) sums X over each 4 x 4 window)."""
    sizes = F.call("ones", [F.num(float(d)) for d in node.shape], kind_of(node.shape))
    return sizes if node.attr == 1.0 else F.mul([F.num(node.attr), sizes])


def _column_of(ctx, d) -> Form | None:
    """A column vector of length d written through a variable: x, A*vector(1), A'*vector(1)."""
    for v in ctx.variables.values():
        if v.ndim == 1 and v.shape[0] == d:
            return F.sym(v.name, "c")
    for v in ctx.variables.values():
        if v.ndim == 2 and d in v.shape:
            a = F.sym(v.name, "m", v.attr[1])
            a = a if v.shape[0] == d else F.transpose(a)
            other = v.shape[1] if v.shape[0] == d else v.shape[0]
            return F.mul([a, F.ones(1.0, "c", (other,))])
    return None


def _spread(node: Expr, ctx) -> Form | None:
    """A constant block of a concatenation, c*x or c*x*y' with variables carrying its sizes
    (the size of a block along the joined axis is told by nothing else)."""
    cols = [None if d == 1 else _column_of(ctx, d) for d in node.shape]
    if all(c is None for c in cols) or any(c is None and d != 1
                                           for c, d in zip(cols, node.shape)):
        return None
    factors = [F.num(node.attr)]
    if cols[0] is not None:
        factors.append(cols[0])
    if len(cols) == 2 and cols[1] is not None:
        factors.append(F.transpose(cols[1]))
    orient = "r" if cols[0] is None else ("c" if len(cols) == 2 and cols[1] is None
                                          else kind_of(node.shape))
    # kept as written (0*x*y', not folded to a 0 whose size nothing tells)
    return F.Form("mul", tuple(factors), "spread", orient, bcast=F.num(node.attr),
                  tcount=sum(a.tcount for a in factors))


def _sized_const(node: Expr, ctx) -> Form | None:
    """A constant block with its sizes written through variables: matrix(0, size(A, 1),
    numel(x)); None when a size has no variable."""
    sizes = [F.num(float(d)) if isinstance(d, int) else ctx.known_size((d,))
             for d in node.shape]
    if any(x is None for x in sizes):
        return None
    form = replace(F.ones(abs(node.attr), kind_of(node.shape), tuple(node.shape)),
                   args=tuple(sizes))
    return F.neg(form) if node.attr < 0 else form


def _readable(spread: Form | None, sized: Form | None) -> Form | None:
    """0*x*h' where the variables are the block's sides themselves; else the sizes written
    (matrix(0, size(A, 1), size(B, 1)), not 0*(A*vector(1))*(vector(1)'*B'))."""
    from .text import TextPrinter

    if spread is None or sized is None:
        return spread or sized
    return sized if "vector(" in TextPrinter().doprint(spread) else spread


def _literal(node: Expr) -> Form:
    """A constant block of known size: a short one as its entries, [0, 0]; a longer one with
    its sizes, matrix(0, 5, 3)."""
    if len(node.shape) == 2 and min(node.shape) > 1 or sum(node.shape) > 3:
        sizes = tuple(F.num(float(d)) for d in node.shape)
        form = replace(F.ones(abs(node.attr), kind_of(node.shape), tuple(node.shape)),
                       args=sizes)
        return F.neg(form) if node.attr < 0 else form
    if len(node.shape) == 1:
        rows = [[F.num(node.attr)] for _ in range(node.shape[0])]
    else:
        rows = [[F.num(node.attr)] * node.shape[1] for _ in range(node.shape[0])]
    return F.block(rows, kind_of(node.shape))


def _block(node: Expr, form: Form, ctx, row: bool) -> Form:
    """One block as written: a constant through variables (its size told), a vector that is
    a row of a stacked matrix transposed."""
    if node.op is Op.CONST and node.ndim and any(not isinstance(d, int) for d in node.shape):
        form = _readable(_spread(node, ctx), _sized_const(node, ctx)) or form
    elif node.op is Op.CONST and node.ndim:
        form = _literal(node)
    return F.transpose(form) if row else form


def _concat(node: Expr, args: list[Form], ctx) -> Form:
    """[a; b], [A, B]; stacked rows of side-by-side blocks print as [a, b; c, d]."""
    blocks = [_block(a, f, ctx, node.ndim == 2 and node.attr == 0 and a.ndim == 1)
              for a, f in zip(node.args, args)]
    if node.ndim == 2 and node.attr == 1:
        return F.block([blocks], "m")
    rows = []
    for b in blocks:
        if b.kind == "block" and len(b.value) == 1 and b.value[0] > 1:
            rows.append(list(b.args))  # a row [a, b] inside a stack: one row of the block
        else:
            rows.append([b])
    return F.block(rows, kind_of(node.shape))


# op -> conversion(node, argument forms, context); None means "no matrix form"
FORMS = {
    Op.VAR: lambda node, args, ctx: _variable(node, ctx),
    Op.CONST: _const,
    Op.SIZE: lambda node, args, ctx: ctx.size(node.attr),
    Op.EINSUM: _einsum,
    Op.ADD: _add,
    Op.CONCAT: _concat,
    **{op: _unary for op in ELEMENTWISE_UNARY},
    **{op: _extremum for op in ELEMENTWISE_BINARY},  # max(a, b), min(a, b): calls
    Op.POW: _pow,
    **{op: _matrix_fn for op in MATRIX_FUNCTIONS},
    **{op: _window for op in WINDOW_OPS},
}


def to_form(root: Expr, extra: Mapping[str, Expr] | None = None,
            declare: Mapping[str, str] | None = None,
            rows: frozenset[str] = frozenset()) -> Form:
    """The matrix-notation form of root (index notation where there is none), written so
    that its text parses on its own and evaluates from the variables' values alone: a
    column spread over a matrix as the vector only where the text fixes its length, a
    constant with its size where nothing else fixes it (sizes.py). The text is read with
    `declare` (the user's declarations) where given, else each variable by its kind;
    `rows` names the vector variables that are rows."""
    ctx = FormContext(root, extra, declare, rows)
    form = _convert(root, ctx)
    try:
        return settle(form, ctx.variables, ctx.known_size, ctx.declare, ctx.spread_a_column)
    except Unparsed:
        if not ctx.spread_a_column:
            return form
    ctx.spread_columns = False  # `W'*X' + b` does not say b's length: b*vector(1)'
    form = _convert(root, ctx)
    try:
        return settle(form, ctx.variables, ctx.known_size, ctx.declare)
    except Unparsed:
        return form


def resettle(form: Form, variables: Mapping[str, Expr],
             declare: Mapping[str, str] | None = None,
             rows: frozenset[str] = frozenset()) -> Form:
    """A form composed of settled pieces (a chain rule's product), its sizes decided
    again for the whole: `eye(numel(y))*X` is `eye*X`, X fixing the identity's size."""
    from ..ir.expr import const

    ctx = FormContext(const(0.0), variables, declare, rows)
    try:
        return settle(unsized(form), ctx.variables, ctx.known_size, ctx.declare)
    except Unparsed:
        return form


def _convert(root: Expr, ctx: FormContext) -> Form:
    from .index import index_form

    forms: dict[Expr, Form] = {}
    for node in topo_order(root):
        args = [forms[a] for a in node.args]
        form = None
        if node.ndim <= 2 and all(a.orient != "t" for a in args):
            form = FORMS[node.op](node, args, ctx)
        if form is None:
            form = index_form(node, forms, ctx.variables)
        elif node.ndim == 2 and not form.symmetric and is_symmetric(node):
            form = replace(form, symmetric=True)  # inv(S)' prints as inv(S)
        forms[node] = form
    return forms[root]

