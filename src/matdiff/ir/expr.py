"""Immutable, hash-consed IR nodes and the constructors that keep them canonical.

A node is (op, args, attr, shape). Building the same node twice returns the
same object, so identity is structural equality and shared subexpressions
are shared in memory. Shapes are tuples of dimensions: a symbol (`"n"`) or
an integer.

The workhorse is EINSUM, a product of tensors in index notation, with two
extensions that keep structure visible: an output index that appears in no
operand broadcasts (`vector(c)` is `c` over `i`), and an index repeated in
the output builds a diagonal (`diag(x)` is `x[i] -> [i, i]`; the identity is
the product of no tensors over `[i, i]`). Nested products are fused into one
product, which is where Kronecker deltas disappear: an inner output `[a, a]`
placed on outer indices `[i, j]` unifies `i` with `j`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Container, Hashable, Iterable, Sequence
from typing import Any

from ..errors import ConstantError
from ..typing import Dim, Shape
from .ops import SPECS, Op
from .union_find import UnionFind

__all__ = [
    "Dim", "Shape", "Expr", "var", "const", "zeros", "size", "einsum", "add", "scale",
    "neg", "sub", "unary", "binary", "matrix_fn", "window", "window_shape", "rebuild", "delta",
    "topo_order", "variables",
    "is_zero", "split_coefficient", "set_text_printer", "MAX_FUSED_OPERANDS",
    "concat", "dim_sum", "dim_parts",
]

# A product of more operands than this is not fused further: it bounds
# derivation time on long chains, and contraction planning time.
MAX_FUSED_OPERANDS = 10


class Expr:
    """One IR node. Never build directly: use the constructors below."""

    __slots__ = ("op", "args", "attr", "shape", "_hash", "__weakref__")
    _cache: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    op: Op
    args: tuple[Expr, ...]
    attr: Any
    shape: Shape

    def __new__(cls, op: Op, args: tuple[Expr, ...], attr: Any, shape: Shape) -> Expr:
        key = (op, args, attr, shape)
        node = cls._cache.get(key)
        if node is None:
            node = object.__new__(cls)
            object.__setattr__(node, "op", op)
            object.__setattr__(node, "args", args)
            object.__setattr__(node, "attr", attr)
            object.__setattr__(node, "shape", shape)
            object.__setattr__(node, "_hash", hash(key))
            cls._cache[key] = node
        return node

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("IR nodes are immutable")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other

    def __reduce__(self):  # pickling rebuilds through the cache
        return (Expr, (self.op, self.args, self.attr, self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str:
        """The name of a VAR node."""
        return self.attr[0]

    @property
    def value(self) -> float:
        """The value of a CONST node."""
        return self.attr

    def __repr__(self) -> str:
        if self.op is Op.VAR:
            return f"Var({self.attr[0]}: {self.shape})"
        if self.op is Op.CONST:
            return f"Const({self.attr:g}: {self.shape})"
        if self.op is Op.EINSUM:
            ins, out, _ = self.attr
            sub = ",".join(_letters(i) for i in ins) + "->" + _letters(out)
            return f"Einsum[{sub}]({', '.join(map(repr, self.args))})"
        return f"{self.op.name.capitalize()}({', '.join(map(repr, self.args))})"

    def __str__(self) -> str:
        return _text_printer(self)


# How str() shows a node. The IR imports no printer, not even lazily inside __str__:
# printing imports the IR, so that import would close a cycle, and the layering guard
# (tests/test_import_layers.py, .importlinter) counts imports inside functions too. The
# public API, which sits on top of both, installs the text printer (set_text_printer);
# until then (the IR used without `import matdiff`) a node shows its repr.
_text_printer: Callable[[Expr], str] = repr


def set_text_printer(printer: Callable[[Expr], str]) -> None:
    """Make str(node) print through `printer` (called by the public API)."""
    global _text_printer
    _text_printer = printer


def _letters(labels: Sequence[int]) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyz"[k % 26] for k in labels)


def _check_arity(op: Op, n: int) -> None:
    arity = SPECS[op].arity
    if arity is not None and arity != n:
        raise TypeError(f"{op.value} takes {arity} arguments, got {n}")  # an engine bug


# ---------------------------------------------------------------- leaves

def var(name: str, shape: Shape, symmetric: bool = False, label: tuple | None = None) -> Expr:
    """A variable; `symmetric` records that its value is a symmetric matrix, `label`
    that its entries are a distribution: ("probability" or "one-hot", "all", "rows"
    or "cols"), the entries (of each row, of each column) summing to 1; or ("signs",
    "all"): every entry -1 or 1 (labels(-1, 1))."""
    attr = (name, bool(symmetric)) if label is None else (name, bool(symmetric), tuple(label))
    return Expr(Op.VAR, (), attr, tuple(shape))


def const(value: float, shape: Shape = ()) -> Expr:
    """A tensor of the given shape with every entry `value` (a finite number).

    Every folded constant passes through here, so a fold that overflows
    (`10^400`, `1e308*1e308`) is refused as a ConstantError, never carried on
    as inf or nan.
    """
    if isinstance(value, complex) or not math.isfinite(value):
        raise ConstantError(f"a constant of the expression is {_describe_constant(value)}")
    return Expr(Op.CONST, (), float(value) + 0.0, tuple(shape))


def _describe_constant(value: float | complex) -> str:
    if isinstance(value, complex):
        return "not a real number (a negative number to a fractional power)"
    if math.isnan(value):
        return "undefined (0 times infinity, or 0/0)"
    return "too large for a float (it overflows)"


def _fold_power(a: float, b: float) -> float:
    """a^b of two constants, refusing 0^-k and overflow with a ConstantError."""
    try:
        return a ** b
    except ZeroDivisionError:
        raise ConstantError("a division by zero (0 to a negative power)") from None
    except OverflowError:
        raise ConstantError(f"a constant of the expression, {a:g}^{b:g}, is too large for a "
                            "float (it overflows)") from None


def zeros(shape: Shape) -> Expr:
    return const(0.0, shape)


def size(dims: Sequence[Dim]) -> Expr:
    """The number of entries of a tensor with these dimensions (a scalar)."""
    dims = tuple(dims)
    ints = [d for d in dims if isinstance(d, int)]
    if len(ints) == len(dims):
        prod = 1
        for d in ints:
            prod *= d
        return const(prod)
    return Expr(Op.SIZE, (), dims, ())


def dim_parts(d: Dim) -> list[Dim]:
    """The lengths a concatenated axis adds up ("n+m+1" -> ["n", "m", 1]; "n" -> ["n"])."""
    if isinstance(d, int) or "+" not in d:
        return [d]
    return [int(p) if p.isdigit() else p for p in d.split("+")]


def dim_sum(dims: Sequence[Dim]) -> Dim:
    """The length of axes joined end to end: a number when all are, else "n+m+1" (the
    symbols in order, the numbers added up last)."""
    symbols: list[str] = []
    number = 0
    for d in dims:
        for p in dim_parts(d):
            if isinstance(p, int):
                number += p
            else:
                symbols.append(p)
    if not symbols:
        return number
    return "+".join(symbols + ([str(number)] if number else []))


def concat(parts: Sequence[Expr], axis: int, ndim: int) -> Expr:
    """Blocks joined end to end along `axis` into a tensor of `ndim` axes.

    Each part is a block of rank `ndim`, or a slice of rank `ndim - 1`: one entry along the
    axis (a scalar in `[a; x]`, a column in `[x, A]`, a row in `[x'; A]`), so that no
    length-1 axis is ever made up; the other axes agree.
    """
    parts = list(parts)
    full = []
    for p in parts:
        if p.ndim == ndim:
            full.append(tuple(p.shape))
        elif p.ndim == ndim - 1:
            full.append(tuple(p.shape[:axis]) + (1,) + tuple(p.shape[axis:]))
        else:
            raise TypeError(f"concat: a part of rank {p.ndim} in a join of rank {ndim}")
    for f in full:
        if any(a != b for k, (a, b) in enumerate(zip(f, full[0])) if k != axis):
            raise TypeError(f"concat: blocks of shapes {f} and {full[0]}")
    if len(parts) == 1 and parts[0].ndim == ndim:
        return parts[0]
    shape = list(full[0])
    shape[axis] = dim_sum([f[axis] for f in full])
    if all(p.op is Op.CONST for p in parts) and len({p.attr for p in parts}) == 1:
        return const(parts[0].attr, tuple(shape))
    return Expr(Op.CONCAT, tuple(parts), axis, tuple(shape))


def is_zero(e: Expr) -> bool:
    return e.op is Op.CONST and e.attr == 0.0


# ---------------------------------------------------------------- products

class _Labels(UnionFind):
    """Union-find over index labels (ir/union_find.py), with the dimension of each."""

    __slots__ = ("dim", "fresh")

    def __init__(self) -> None:
        super().__init__()
        self.dim: dict[Hashable, Dim] = {}
        self.fresh = 0

    def add(self, label: Hashable, dim: Dim) -> None:
        if label not in self.parent:
            self.parent[label] = label
            self.dim[label] = dim

    def new(self, dim: Dim) -> Hashable:
        self.fresh += 1
        label = ("_fresh", self.fresh)
        self.add(label, dim)
        return label

    def union(self, a: Hashable, b: Hashable) -> Hashable:
        """Merge b's set into a's (a's representative stays), if their dimensions agree."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb and self.dim[ra] != self.dim[rb]:
            raise TypeError(f"index dimensions differ: {self.dim[ra]} and {self.dim[rb]}")
        return super().union(rb, ra)


def einsum(operands: Sequence[Expr], ins: Sequence[Sequence[Hashable]],
           out: Sequence[Hashable], dims: dict[Hashable, Dim] | None = None) -> Expr:
    """The product `out[...] = sum over other labels of prod operands[k][ins[k]]`.

    Labels are any hashables. `dims` gives the dimension of labels that no
    operand carries (broadcast or delta labels); the others come from the
    operands' shapes. The result is canonical: nested products fused, deltas
    eliminated, constant factors multiplied into one leading coefficient,
    sums over indices that no operand carries turned into SIZE factors, and
    labels numbered in order of first appearance.
    """
    labels = _labels_of(operands, ins, out, dims)
    fused = _fuse(operands, ins, labels)
    if fused is None:  # a zero factor
        return zeros(tuple(labels.dim[x] for x in out))
    coef, kept, summed = fused

    out_labels = [labels.find(x) for x in out]
    kept = [(a, [labels.find(x) for x in lab]) for a, lab in kept]
    carried = {x for _, lab in kept for x in lab}
    orphans = {labels.find(x) for x in summed} - carried - set(out_labels)
    out_shape = tuple(labels.dim[x] for x in out_labels)
    if coef == 0.0:
        return zeros(out_shape)
    if orphans:
        orphan_dims = sorted((labels.dim[x] for x in orphans), key=str)
        factor = size(orphan_dims)
        if factor.op is Op.CONST:
            coef *= factor.attr
        else:
            kept.append((factor, []))

    if not kept:
        if len(set(out_labels)) == len(out_labels):
            return const(coef, out_shape)
    elif (len(kept) == 1 and coef == 1.0 and kept[0][1] == out_labels
          and len(set(out_labels)) == len(out_labels)):
        return kept[0][0]
    if coef != 1.0:
        kept.insert(0, (const(coef), []))
    return _canonical_einsum(kept, out_labels, labels.dim)


def _labels_of(operands: Sequence[Expr], ins: Sequence[Sequence[Hashable]],
               out: Sequence[Hashable], dims: dict[Hashable, Dim] | None) -> _Labels:
    """Every label of a product with its dimension, checked against the operands' shapes."""
    if len(operands) != len(ins):
        raise TypeError("einsum: one label list per operand")
    labels = _Labels()
    for label, d in (dims or {}).items():
        labels.add(label, d)
    for a, lab in zip(operands, ins):
        if len(lab) != a.ndim:
            raise TypeError(f"einsum: {len(lab)} labels for a {a.ndim}-tensor")
        for label, d in zip(lab, a.shape):
            labels.add(label, d)
    for label in out:
        if label not in labels.parent:
            raise TypeError(f"einsum: no dimension for output label {label!r}")
    return labels


def _fuse(operands: Sequence[Expr], ins: Sequence[Sequence[Hashable]], labels: _Labels
          ) -> tuple[float, list[tuple[Expr, list[Hashable]]], set[Hashable]] | None:
    """(constant coefficient, the tensor operands with their labels, the labels a sum may run
    over), with nested products fused in and their deltas unified; None for a zero factor."""
    coef = 1.0
    kept: list[tuple[Expr, list[Hashable]]] = []
    summed = {x for lab in ins for x in lab}  # labels a sum may run over
    n_tensors = sum(1 for a in operands if a.op is not Op.CONST)
    for a, lab in zip(operands, ins):
        if a.op is Op.CONST:
            if a.attr == 0.0:
                return None
            coef *= a.attr
            continue
        if a.op is Op.EINSUM:
            inner_ins, inner_out, inner_dims = a.attr
            n_inner = sum(1 for b in a.args if b.op is not Op.CONST)
            if n_inner <= 1 or n_tensors - 1 + n_inner <= MAX_FUSED_OPERANDS:
                n_tensors += n_inner - 1
                mapped: dict[int, Hashable] = {}
                for k, label in zip(inner_out, lab):
                    if k in mapped:
                        labels.union(mapped[k], label)
                    else:
                        mapped[k] = label
                for k, d in enumerate(inner_dims):
                    if k not in mapped:
                        mapped[k] = labels.new(d)
                        summed.add(mapped[k])
                for b, blab in zip(a.args, inner_ins):
                    if b.op is Op.CONST:
                        coef *= b.attr
                    else:
                        kept.append((b, [mapped[k] for k in blab]))
                continue
        kept.append((a, list(lab)))
    return coef, kept, summed


def _canonical_einsum(kept: list[tuple[Expr, list[Hashable]]], out: list[Hashable],
                      dims: dict[Hashable, Dim]) -> Expr:
    number: dict[Hashable, int] = {}
    for x in out + [x for _, lab in kept for x in lab]:
        if x not in number:
            number[x] = len(number)
    ins = tuple(tuple(number[x] for x in lab) for _, lab in kept)
    out_t = tuple(number[x] for x in out)
    dims_t = tuple(dims[x] for x in sorted(number, key=number.__getitem__))
    shape = tuple(dims_t[k] for k in out_t)
    return Expr(Op.EINSUM, tuple(a for a, _ in kept), (ins, out_t, dims_t), shape)


def delta(dims: Sequence[Dim]) -> Expr:
    """The identity of a tensor space: shape dims + dims, 1 where both halves agree."""
    labels = list(range(len(dims)))
    return einsum([], [], labels + labels, dict(zip(labels, dims)))


def scale(e: Expr, c: float | Expr) -> Expr:
    """c * e, for a number or a scalar expression c."""
    factor = c if isinstance(c, Expr) else const(c)
    labels = list(range(e.ndim))
    return einsum([factor, e], [[], labels], labels)


def split_coefficient(e: Expr) -> tuple[float, Expr]:
    """(c, core) with e == c * core and c a number pulled from a leading constant."""
    if e.op is Op.EINSUM and e.args and e.args[0].op is Op.CONST and e.args[0].ndim == 0:
        ins, out, dims = e.attr
        core = einsum(e.args[1:], ins[1:], out, dict(enumerate(dims)))
        return e.args[0].attr, core
    if e.op is Op.CONST and e.attr != 0.0:
        return e.attr, const(1.0, e.shape)
    return 1.0, e


# ---------------------------------------------------------------- sums

def add(terms: Iterable[Expr], shape: Shape | None = None) -> Expr:
    """The sum of same-shaped terms, flattened, with like terms collected."""
    terms = list(terms)
    if shape is None:
        if not terms:
            raise TypeError("add: the shape of an empty sum is unknown")
        shape = terms[0].shape
    flat: list[Expr] = []
    for t in terms:
        if t.shape != shape:
            raise TypeError(f"add: shapes {t.shape} and {shape} differ")
        flat.extend(t.args if t.op is Op.ADD else (t,))
    collected: dict[Expr, float] = {}
    for t in flat:
        if is_zero(t):
            continue
        c, core = split_coefficient(t)
        collected[core] = collected.get(core, 0.0) + c
    out = [core if c == 1.0 and core.op is not Op.CONST
           else scale(core, c) if core.op is not Op.CONST else const(c * core.attr, shape)
           for core, c in collected.items() if c != 0.0]
    if not out:
        return zeros(shape)
    if len(out) == 1:
        return out[0]
    consts = [t for t in out if t.op is Op.CONST]
    out = [t for t in out if t.op is not Op.CONST] + consts  # constants last: "x + 1"
    return Expr(Op.ADD, tuple(out), None, tuple(shape))


def neg(e: Expr) -> Expr:
    return scale(e, -1.0)


def sub(a: Expr, b: Expr) -> Expr:
    return add([a, neg(b)])


# ---------------------------------------------------------------- functions

def unary(op: Op, a: Expr) -> Expr:
    """An element-wise function of one argument."""
    _check_arity(op, 1)
    if a.op is Op.CONST and op in _FOLD_UNARY:
        return const(_FOLD_UNARY[op](a.attr), a.shape)
    return Expr(op, (a,), None, a.shape)


def binary(op: Op, a: Expr, b: Expr) -> Expr:
    """An element-wise function of two same-shaped arguments."""
    _check_arity(op, 2)
    if a.shape != b.shape:
        raise TypeError(f"{op.value}: shapes {a.shape} and {b.shape} differ")
    if op is Op.POW and b.op is Op.CONST:
        if b.attr == 1.0:  # x^1 -> x
            return a
        if b.attr == 0.0:  # x^0 -> 1
            return const(1.0, a.shape)
        if a.op is Op.CONST:
            return const(_fold_power(a.attr, b.attr), a.shape)
    if op in (Op.MAX, Op.MIN) and a.op is Op.CONST and b.op is Op.CONST:
        pick = max if op is Op.MAX else min
        return const(pick(a.attr, b.attr), a.shape)
    return Expr(op, (a, b), None, a.shape)


def matrix_fn(op: Op, a: Expr, shape: Shape, attr: Hashable = None) -> Expr:
    """A function of a whole matrix or vector (inv, det, softmax, ...).

    `attr` is data of the op beyond its argument (an axis, say), kept on the node.
    """
    _check_arity(op, 1)
    if a.op is Op.CONST and (op in (Op.VMAX, Op.VMIN) or (op is Op.NORM2 and a.attr == 0.0)):
        return const(a.attr, tuple(shape))  # max(vector(c)) = c; norm2 of zeros is 0
    return Expr(op, (a,), attr, tuple(shape))


def window_shape(op: Op, args: Sequence[Expr], attr: tuple[int, ...]) -> Shape:
    """The shape of a window op's node: the spatial (leading) axes it makes, then the
    trailing axes of each argument in turn. Spatial sizes are integers."""
    if op in (Op.CONV1, Op.CONV2):
        rank = 1 if op is Op.CONV1 else 2
        (pad, stride), (a, b) = attr, args
        lead = tuple((m + 2 * pad - k) // stride + 1 for m, k in zip(a.shape, b.shape[:rank]))
        return lead + a.shape[rank:] + b.shape[rank:]
    (a,) = args
    if op is Op.VEC:
        m, n = a.shape[:2]
        return (m * n,) + a.shape[2:]
    if op is Op.RESHAPE:
        return tuple(attr) + a.shape[1:]
    rank = attr[0]
    grow = {Op.ROT180: lambda m: m, Op.MAXPOOL: lambda m: m // attr[1],
            Op.MEANPOOL: lambda m: m // attr[1], Op.UPSAMPLE: lambda m: m * attr[1],
            Op.DILATE: lambda m: attr[1] * (m - 1) + 1,
            Op.SUBSAMPLE: lambda m: (m - 1) // attr[1] + 1}[op]
    return tuple(grow(m) for m in a.shape[:rank]) + a.shape[rank:]


def window(op: Op, args: Sequence[Expr], attr: tuple[int, ...]) -> Expr:
    """A window op (conv2, maxpool, ...) of its arguments; attr is a tuple of integers.

    A zero argument of a convolution, or of a linear window op, gives zeros; a
    constant stays constant under rot180 and the pools."""
    _check_arity(op, len(args))
    attr = tuple(int(v) for v in attr)
    shape = window_shape(op, args, attr)
    if any(is_zero(a) for a in args):
        return zeros(shape)
    if op in (Op.ROT180, Op.MAXPOOL, Op.MEANPOOL, Op.UPSAMPLE, Op.VEC, Op.RESHAPE) and \
            args[0].op is Op.CONST:
        return const(args[0].attr, shape)
    if op not in (Op.CONV1, Op.CONV2, Op.ROT180, Op.VEC, Op.RESHAPE) and attr[1] == 1:
        return args[0]
    return Expr(op, tuple(args), attr, shape)


def rebuild(node: Expr, args: tuple[Expr, ...]) -> Expr:
    """node with new arguments, through the canonicalising constructors."""
    if args == node.args:
        return node
    op = node.op
    kind = SPECS[op].kind
    if op is Op.EINSUM:
        ins, out, dims = node.attr
        return einsum(list(args), ins, out, dict(enumerate(dims)))
    if op is Op.ADD:
        return add(args, node.shape)
    if kind == "elementwise":
        return unary(op, args[0]) if len(args) == 1 else binary(op, *args)
    if kind == "matrix":
        return matrix_fn(op, args[0], node.shape, node.attr)
    if kind == "window":
        return window(op, args, node.attr)
    if kind == "concat":
        return concat(args, node.attr, node.ndim)
    return node  # pragma: no cover - leaves have no arguments


def _sign(v: float) -> float:
    return float((v > 0) - (v < 0))


_FOLD_UNARY = {
    Op.ABS: abs,
    Op.SIGN: _sign,
    Op.STEP: lambda v: 1.0 if v > 0 else 0.0,
    Op.RELU: lambda v: max(v, 0.0),
}


# ---------------------------------------------------------------- traversal

def topo_order(root: Expr, known: Container[Expr] = ()) -> list[Expr]:
    """Every node under root once, arguments before the nodes using them (no recursion).

    Nodes in `known` (a memo of earlier work) and everything under them are
    left out, so a pass over many overlapping roots stays linear.
    """
    order: list[Expr] = []
    seen: set[Expr] = set()
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen or node in known:
            continue
        seen.add(node)
        stack.append((node, True))
        for a in reversed(node.args):
            if a not in seen and a not in known:
                stack.append((a, False))
    return order


def variables(root: Expr) -> dict[str, Expr]:
    """The VAR nodes under root, by name, in order of first appearance."""
    return {n.name: n for n in topo_order(root) if n.op is Op.VAR}
