"""IR to program: one rule per kind of op, each producing a lazy `Val`.

Structure is carried, not computed: a product with a repeated output index
is a diagonal `Val` over its vector, a broadcast is a scalar `Val`, a
transpose a permuted pattern. Element-wise functions that map 0 to 0 keep a
diagonal diagonal; sums of diagonals stay diagonal. A dense array is built
(`materialize`) only where an op needs one: a matrix function, a sum
mixing a diagonal with a dense term, or a dense output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from ..evaluate import NUMPY
from ..ir.expr import Dim, Expr, topo_order
from ..ir.ops import (
    AXIS_OPS,
    ELEMENTWISE_BINARY,
    ELEMENTWISE_UNARY,
    MATRIX_FUNCTIONS,
    NAMESPACE,
    SPECS,
    WINDOW_OPS,
    Op,
    array_call,
    window_call,
)
from ..ir.union_find import UnionFind
from .contract import contract, scale_code
from .onehot import index_one_hot, one_hot_axis
from .program import Instructions
from .solves import solve_inverses
from .values import Val, axes_template, number_literal, partition

__all__ = ["Lowering", "UNARY_CODE", "MATRIX_CODE", "shared_exponentials"]


def _code(op: Op) -> str:
    """The op spec's array function with NumPy as the namespace."""
    return re.sub(rf"\b{NAMESPACE}\.", "np.", array_call(op))


UNARY_CODE: dict[Op, str] = {op: _code(op) for op in ELEMENTWISE_UNARY}
BINARY_CODE: dict[Op, str] = {op: _code(op) for op in ELEMENTWISE_BINARY}
MATRIX_CODE: dict[Op, str] = {op: _code(op) for op in MATRIX_FUNCTIONS}
CONCAT_CODE = "np." + SPECS[Op.CONCAT].array  # np.concat (NumPy 2; the standard's name)
# f(0) = 0: applying f to a diagonal's vector keeps it diagonal
ZERO_PRESERVING = frozenset(op for op in UNARY_CODE if SPECS[op].zeros)
MAX_SUM_TERMS = 16  # terms per generated sum; longer sums become a tree of sums
COMMENT_NODES = 12  # nodes shown in a comment at most (printing bigger ones costs time)


def _sum_builder(coefs: list[int]) -> Callable[[list[str]], str]:
    def build(t: list[str]) -> str:
        return " + ".join(x if c == 1 else f"{c}.0 * {x}" for x, c in zip(t, coefs))

    return build


class Lowering:
    """Lowers IR nodes into `prog`, memoised per node, so shared nodes are computed once."""

    def __init__(self, prog: Instructions, params: dict[str, str], dimcode: Callable[[Dim], str],
                 size: Callable[[Dim], int], describe: Callable[[Expr], str | None] | None = None,
                 names: Mapping[Expr, str] | None = None):
        self.prog = prog
        self.params = params          # variable name -> its name in the generated code
        self.dimcode = dimcode        # dimension -> code (a bound name or a number)
        self.size = size              # dimension -> length assumed when planning
        self.describe = describe
        self.names: Mapping[Expr, str] = names or {}  # nodes the source program names
        self.memo: dict[Expr, Val] = {}
        self.lines: dict[str, Val] = {}  # a program's lines by name (bind)
        self.einsum_only: set[Expr] = set()
        self.sizes: dict[Expr, int] = {}   # subtree sizes, capped, for comments
        # softmax and logsumexp nodes whose partner (the other one, over the same argument
        # and axis) is also computed: one exp serves both. Keyed by the nodes themselves,
        # so no other node (max(x), an exp) is ever taken for one of them.
        self.shared_exp: set[Expr] = set()
        self.inverse_of: dict[str, str] = {}  # ref of inv(A) -> ref of A (solves.py)
        # products with one-hot matrices as indexing (onehot.py): "index" gathers and adds
        # at, "gather" only gathers, "" multiplies (the backend's `one_hot`)
        self.one_hot = ""
        self.library = "numpy"  # what broadcast products are laid out for (outer.py)

    def lower(self, roots: list[Expr]) -> list[Val]:
        self.einsum_only = _einsum_only(roots)
        for root in roots:
            if root in self.memo:
                continue
            for node in topo_order(root):
                if node not in self.memo:
                    size = 1 + sum(self.sizes.get(a, COMMENT_NODES) for a in node.args)
                    self.sizes[node] = min(size, COMMENT_NODES)
                    self.memo[node] = self._node(node)
                    if node in self.names:
                        self._name(node, self.memo[node])
        return [self.memo[r] for r in roots]

    # ------------------------------------------------------------ dispatch

    def _node(self, node: Expr) -> Val:
        op = node.op
        if op is Op.VAR:
            if node.name in self.lines:
                return self.lines[node.name]
            sym = bool(node.attr[1]) and node.ndim == 2
            return Val.dense(self.params[node.name], node.shape, param=True, symmetric=sym)
        if op is Op.CONST:
            return Val.number(node.attr, node.shape)
        if op is Op.SIZE:
            return Val.scalar_ref(self._emit(node, " * ".join(self.dimcode(d) for d in node.attr)),
                                  ())
        if op is Op.EINSUM:
            return self._einsum(node)
        if op is Op.ADD:
            return self._add(node)
        if op in UNARY_CODE or op in BINARY_CODE:
            folded = self._fold(node)
            if folded is not None:
                return folded
            return self._unary(node) if op in UNARY_CODE else self._binary(node)
        if op is Op.CONCAT:  # [a; b]: the blocks as arrays, joined along the axis
            refs = tuple(self._block(self.memo[a], a.ndim < node.ndim, node.attr)
                         for a in node.args)
            blocks = ", ".join(f"{{{k}}}" for k in range(len(refs)))
            return Val.dense(self._emit(node, f"{CONCAT_CODE}(({blocks}), axis={node.attr})",
                                        refs), node.shape)
        if op in MATRIX_CODE:
            a = self.materialize(self.memo[node.args[0]])
            if node in self.shared_exp:
                return self._softmax_or_logsumexp(node, a.ref)
            code = MATRIX_CODE[op]
            if node.attr is not None and op in AXIS_OPS:  # softmax(X, 2): along an axis
                code = code[:-1] + f", axis={int(node.attr)})"
            ref = self._emit(node, code, (a.ref,))
            if op is Op.INV:
                self.inverse_of[ref] = a.ref
            return Val.dense(ref, node.shape)
        if op in WINDOW_OPS:  # conv2(X, K, 1, 2): the helper, its attr after the arguments
            refs = tuple(self.materialize(self.memo[a]).ref for a in node.args)
            return Val.dense(self._emit(node, window_call(op, node.attr), refs), node.shape)
        raise NotImplementedError(f"no code rule for op {op.value}")  # an engine bug

    def _block(self, v: Val, is_slice: bool, axis: int) -> str:
        """One block of a join as an array; a slice (one entry along the axis: a scalar, a
        vector in a matrix) gets that axis, of length 1, by broadcasting."""
        dense = self.materialize(v)
        if not is_slice:
            return dense.ref
        k = len(dense.dims)
        pattern = dense.pattern[:axis] + (k,) + dense.pattern[axis:]
        return self.materialize(Val(dense.ref, dense.real, pattern, dense.dims + (1,))).ref

    def _fold(self, node: Expr) -> Val | None:
        """An element-wise function of numbers alone (softplus(1.5), leaky_relu(3, 0.1)) is a
        number, computed now by the evaluator's own function: no library is handed a Python
        number, and the generated code does not recompute a constant on every call."""
        args = [self.memo[a] for a in node.args]
        if any(v.real or v.literal is None for v in args):
            return None
        with np.errstate(all="ignore"):
            value = NUMPY[node.op](node, [np.float64(v.literal) for v in args], {})
        return Val.number(float(value), node.shape)

    def _softmax_or_logsumexp(self, node: Expr, x: str) -> Val:
        """softmax(x) = e/s and logsumexp(x) = m + log(s) over one e = exp(x - m), s = sum(e)."""
        axis = node.attr
        keep = "" if axis is None else f"axis={int(axis)}, keepdims=True"
        m = self.prog.emit(f"{{0}}.max({keep})", (x,))
        e = self.prog.emit("np.exp({0} - {1})", (x, m))
        s = self.prog.emit(f"{{0}}.sum({keep})", (e,))
        if node.op is Op.SOFTMAX:
            return Val.dense(self._emit(node, "{0} / {1}", (e, s)), node.shape)
        squeeze = "" if axis is None else ("[:, 0]" if int(axis) == 1 else "[0]")
        return Val.dense(self._emit(node, f"({{0}} + np.log({{1}})){squeeze}", (m, s)),
                         node.shape)

    def bind(self, leaf: Expr, v: Val, name: str) -> None:
        """The variable `leaf` (a program's line) is the value v, which gets the line's name.

        Bound by name: any leaf of that name is the line's value, whatever attributes
        (symmetric, a label) it carries, since a program's line is never an input."""
        self.memo[leaf] = v
        self.lines[name] = v
        plain = tuple(range(len(v.dims)))
        if (v.real == plain and v.pattern == plain and self.prog.is_value(v.ref)
                and self.prog.instrs[v.ref].name is None):
            self.prog.instrs[v.ref].name = name

    def _name(self, node: Expr, v: Val) -> None:
        """Give the array of a plain value (no transpose, no structure) its source name."""
        plain = tuple(range(node.ndim))
        if v.real == plain and v.pattern == plain and self.prog.is_value(v.ref):
            ins = self.prog.instrs[v.ref]
            if ins.name is None:
                ins.name = self.names[node]

    def _emit(self, node: Expr, template: str, refs: tuple[str, ...] = ()) -> str:
        comment = None
        if self.describe is not None and self._small(node):
            comment = self.describe(node)
        return self.prog.emit(template, refs, comment=comment, name=self.names.get(node))

    def _small(self, node: Expr) -> bool:
        """Whether node's expression is short enough to print as a comment (memoised, O(1))."""
        return self.sizes.get(node, COMMENT_NODES) < COMMENT_NODES

    # ------------------------------------------------------------ products

    def _einsum(self, node: Expr) -> Val:
        ins, out, dims = node.attr
        tied = UnionFind(range(len(dims)))  # labels the arguments' diagonals tie
        find = tied.find

        coef = 1.0
        scalars: list[str] = []
        tensors: list[tuple[str, list[int]]] = []
        tensor_args: list[Expr] = []
        masks: list[bool] = []
        sym: set[str] = set()
        for arg, lab in zip(node.args, ins):
            v = self.memo[arg]
            mapped: dict[int, int] = {}
            for p, c in enumerate(v.pattern):  # a tied Val ties the labels it sits on
                if c in mapped:
                    tied.union(lab[p], mapped[c])
                else:
                    mapped[c] = lab[p]
            if not v.real:
                if v.literal is not None:
                    coef *= v.literal
                elif v.boolean:  # a scalar mask is scaled and negated: NumPy needs a number
                    scalars.append(self.prog.emit("{0} * 1.0", (v.ref,)))
                else:
                    scalars.append(v.ref)
            else:
                tensors.append((v.ref, [mapped[c] for c in v.real]))
                tensor_args.append(arg)
                masks.append(v.boolean)
                if v.symmetric:
                    sym.add(v.ref)
        tensors = [(ref, [find(x) for x in lab]) for ref, lab in tensors]
        # boolean masks are exact factors when multiplied by floats, but two of them would
        # meet in a boolean (logical) sum: keep one mask, and only beside a float operand
        keep_mask = masks.index(True) if any(masks) and not all(masks) else None
        for k, is_mask in enumerate(masks):
            if is_mask and k != keep_mask:
                tensors[k] = (self.prog.emit("{0} * 1.0", (tensors[k][0],)), tensors[k][1])
        out_r = [find(x) for x in out]
        carried = {x for _, lab in tensors for x in lab}
        for x in sorted({find(x) for x in range(len(dims))} - set(out_r) - carried):
            d = dims[x]  # a sum over an index no factor carries: times its length
            if isinstance(d, int):
                coef *= d
            else:
                scalars.append(self.dimcode(d))
        if self.inverse_of:  # after the sums above: a solve sums its index
            tensors, tensor_args = solve_inverses(
                self.prog, tensors, tensor_args, self.inverse_of, set(out_r), self.einsum_only,
                lambda x: _length(dims[x], self.size))
        if self.one_hot and any(one_hot_axis(a) is not None for a in tensor_args):
            tensors, tensor_args = index_one_hot(self.prog, tensors, tensor_args, set(out_r),
                                                 lambda x: self.dimcode(dims[x]),
                                                 scatter=self.one_hot == "index")
        core = list(dict.fromkeys(out_r))
        pattern = tuple(core.index(x) for x in out_r)
        core_dims = tuple(dims[x] for x in core)
        if coef == 0.0:
            return Val.number(0.0, node.shape)
        if not tensors:
            if not scalars:
                return Val(number_literal(coef), (), pattern, core_dims, literal=coef)
            return Val(scale_code(self.prog, scalars[-1], coef, scalars[:-1]), (), pattern,
                       core_dims)
        wanted = [x for x in core if x in carried]
        ref, order = contract(self.prog, tensors, wanted, dict(enumerate(dims)), self.size,
                              coef, scalars, sym, self.library)
        real = tuple(core.index(x) for x in order)
        is_param = ref in self.params.values()
        symmetric = ref in sym or ref in self.prog.symmetric
        if symmetric and len(real) == 2:
            real = tuple(sorted(real))  # A' is A
        return Val(ref, real, pattern, core_dims, param=is_param, symmetric=symmetric)

    # ------------------------------------------------------------ element-wise

    def _add(self, node: Expr) -> Val:
        counts: dict[Val, int] = {}
        for a in node.args:  # equal terms (A and A' of a symmetric A) collected
            v = self.memo[a]
            counts[v] = counts.get(v, 0) + 1
        vals = list(counts)
        coefs = [counts[v] for v in vals]
        while len(vals) > MAX_SUM_TERMS:  # a long sum as a tree of short ones: short lines
            chunk, vals = vals[:MAX_SUM_TERMS], vals[MAX_SUM_TERMS:]
            chunk_coefs, coefs = coefs[:MAX_SUM_TERMS], coefs[MAX_SUM_TERMS:]
            part = self.combine(node, chunk, _sum_builder(chunk_coefs), keep_ties=True,
                                comment=False)
            vals.append(part)
            coefs.append(1)
        if any(v.tied for v in vals) and len({partition(v) for v in vals}) > 1:
            return self._embed_sum(node, vals, coefs)
        return self.combine(node, vals, _sum_builder(coefs), keep_ties=True)

    def _embed_sum(self, node: Expr, vals: list[Val], coefs: list[int]) -> Val:
        """A sum of diagonals of different structure (a row-wise softmax's Jacobian), built
        in one array of zeros: each diagonal writes only its own entries, where materialising
        each and adding would write every entry of the tensor once per term."""
        parts: list[str] = []
        refs: list[str] = []
        for v, c in zip(vals, coefs):
            k = len(refs)
            if v.tied:
                core = axes_template(v.real, list(range(len(v.dims)))).replace("{0}", f"{{{k}}}")
                groups = str(v.pattern)
                refs.append(v.ref)
            else:
                core, groups = f"{{{k}}}", "None"
                refs.append(self.materialize(v).ref)
            parts.append(f"({core if c == 1 else f'{c}.0 * {core}'}, {groups})")
        template = f"_embed_sum({self.shape_code(node.shape)}, {', '.join(parts)})"
        return Val.dense(self._emit(node, template, tuple(refs)), node.shape)


    def _unary(self, node: Expr) -> Val:
        v = self.memo[node.args[0]]
        if v.tied and node.op not in ZERO_PRESERVING:
            v = self.materialize(v)
        if node.op is Op.STEP and node in self.einsum_only:
            # a mask only ever multiplied: keep it boolean, saving a pass to convert it
            ref = self._emit(node, "{0} > 0", (v.ref,))
            return Val(ref, v.real, v.pattern, v.dims, boolean=True)
        ref = self._emit(node, UNARY_CODE[node.op], (v.ref,))
        if v.symmetric:  # f(A) entry by entry of a symmetric A
            self.prog.symmetric.add(ref)
        return Val(ref, v.real, v.pattern, v.dims, symmetric=v.symmetric)

    def _binary(self, node: Expr) -> Val:
        a, b = (self.memo[x] for x in node.args)
        if node.op is Op.POW and a.tied and not b.real and b.literal is not None and b.literal > 0:
            ref = self._emit(node, BINARY_CODE[Op.POW], (a.ref, b.ref))  # 0^c = 0 for c > 0
            return Val(ref, a.real, a.pattern, a.dims)
        template = BINARY_CODE[node.op]
        keep = SPECS[node.op].zeros  # max(0, 0) = min(0, 0) = 0, but 0^0 = 1
        return self.combine(node, [a, b], lambda t: template.format(*t), keep_ties=keep)

    def combine(self, node: Expr, vals: list[Val], build: Callable[[list[str]], str],
                keep_ties: bool, comment: bool = True) -> Val:
        """An element-wise function of same-shaped values, by broadcasting their arrays.

        Values sharing one diagonal structure combine on their vectors when
        `keep_ties` (f(0, ..., 0) = 0); otherwise diagonals are built first.
        """
        parts = [partition(v) for v in vals]
        if any(v.tied for v in vals) and not (keep_ties and all(p == parts[0] for p in parts)):
            vals = [self.materialize(v) if v.tied else v for v in vals]
            parts = [partition(v) for v in vals]
        part = parts[0]
        groups = list(dict.fromkeys(part))        # first full axis of each group
        gi = {g: k for k, g in enumerate(groups)}
        present: set[int] = set()
        per_val = []
        for v in vals:
            real_groups = tuple(gi[part[v.pattern.index(c)]] for c in v.real)
            present.update(real_groups)
            per_val.append(real_groups)
        target = sorted(present)
        for rg in per_val:  # follow the layout of a term that has every axis: no transposes
            if len(rg) == len(target):
                target = list(rg)
                break
        templates = [axes_template(rg, target).replace("{0}", f"{{{k}}}")
                     for k, rg in enumerate(per_val)]
        refs = tuple(v.ref for v in vals)
        if comment:
            ref = self._emit(node, build(templates), refs)
        else:
            ref = self.prog.emit(build(templates), refs)
        if any(v.symmetric for v in vals) and all(v.symmetric or v.real == () for v in vals):
            self.prog.symmetric.add(ref)
        shape = node.shape
        return Val(ref, tuple(target), tuple(gi[g] for g in part),
                   tuple(shape[g] for g in groups), symmetric=ref in self.prog.symmetric)

    # ------------------------------------------------------------ dense arrays

    def shape_code(self, shape: tuple[Dim, ...]) -> str:
        inner = ", ".join(self.dimcode(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"

    def materialize(self, v: Val, writable: bool = False) -> Val:
        """The full tensor as an array (a fresh one when `writable`)."""
        shape = v.shape
        if v.tied:
            core = axes_template(v.real, list(range(len(v.dims))))
            ref = self.prog.emit(f"_embed({core}, {self.shape_code(shape)}, {v.pattern})",
                                 (v.ref,))
        elif len(v.real) < len(v.pattern):
            if not v.real:
                ref = self.prog.emit(f"np.full({self.shape_code(shape)}, {{0}})", (v.ref,))
            else:
                t = axes_template(v.real, list(v.pattern))
                ref = self.prog.emit(f"np.broadcast_to({t}, {self.shape_code(shape)})", (v.ref,))
                if writable:
                    ref = self.prog.emit("{0}.copy()", (ref,))
        elif not v.is_plain:
            ref = self.prog.emit(axes_template(v.real, list(v.pattern)), (v.ref,))
            if writable and v.param:
                ref = self.prog.emit("{0}.copy()", (ref,))
        else:
            ref = v.ref
            if writable and v.param:
                ref = self.prog.emit("{0}.copy()", (ref,))
        return Val.dense(ref, shape)


def _length(d: Dim, size: Callable[[Dim], int]) -> int:
    return d if isinstance(d, int) else size(d)


def _einsum_only(roots: list[Expr]) -> set[Expr]:
    """Nodes used only as operands of products (never an output, never a function's argument)."""
    other: set[Expr] = set(roots)
    seen: set[Expr] = set()
    for root in roots:
        for node in topo_order(root):
            if node in seen:
                continue
            seen.add(node)
            if node.op is not Op.EINSUM:
                other.update(node.args)
    return seen - other


def shared_exponentials(roots: list[Expr]) -> set[Expr]:
    """The softmax and logsumexp nodes under `roots` whose partner is there too: softmax(x)
    beside logsumexp(x) along the same axis (they share m = max(x), e = exp(x - m), sum(e))."""
    seen: dict[Op, dict[tuple[Expr, int | None], Expr]] = {Op.SOFTMAX: {}, Op.LOGSUMEXP: {}}
    done: set[Expr] = set()
    for root in roots:
        for node in topo_order(root, done):
            done.add(node)
            if node.op in seen:
                seen[node.op][(node.args[0], node.attr)] = node
    both = seen[Op.SOFTMAX].keys() & seen[Op.LOGSUMEXP].keys()
    return {seen[op][key] for op in seen for key in both}
