"""`BlockDiagonal`: a Jacobian that is block-diagonal over some axes, kept as its factors.

The Jacobian of a row-wise map such as `softmax(X, 2)` (X of shape n x q)
has shape n x q x n x q, but it is zero unless the two row indices agree:
n blocks of q x q. For softmax each block is diag(s_i) - s_i s_i', so the
whole Jacobian is told by the n x q values S; dense it is n^2 q^2 numbers
(80 GB at 1000 x 100), as blocks n q^2. `compile(structured=True)` returns
this object instead, computed for the cost of S itself.

It holds the Jacobian as a short sum of products (the terms of its IR,
each an einsum of small arrays, the factors) and contracts them only when
asked: `J @ V` (a Jacobian-vector product: V has the shape of the variable,
plus trailing axes), `U @ J` (a vector-Jacobian product: U has leading axes
then the shape of the function), `J.blocks()`, `J.toarray()` /
`np.asarray(J)`, `.shape`. The axis convention is `Diagonal`'s: `@`
contracts the trailing axes of the left operand with the leading axes of
the right one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EvaluationError
from ..evaluate import DENSE_LIMIT, einsum_value
from ..ir.union_find import UnionFind
from .structured import Diagonal

__all__ = ["BlockDiagonal", "BlockPlan", "BlockTerm", "find_pairs"]


def find_pairs(outs: list[tuple], split: int, shape: tuple) -> tuple[tuple[int, int], ...]:
    """The (function axis, variable axis) pairs whose labels agree in every term's output
    labels `outs`: the axes the tensor is block-diagonal over (each variable axis once)."""
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for a in range(split):
        for b in range(split, len(shape)):
            if b not in used and shape[a] == shape[b] and all(o[a] == o[b] for o in outs):
                pairs.append((a, b))
                used.add(b)
                break
    return tuple(pairs)


def _common_factors(products: list) -> list[Any]:
    """Remove from every product, and return, the arrays that each multiplies entry by
    entry on its output axes (the same array in every product)."""
    common = []
    arrays0, ins0, out0 = products[0][:3]
    if len(set(out0)) < len(out0):
        return common
    for a, lab in list(zip(arrays0, ins0)):
        if tuple(lab) != out0:
            continue
        places = []
        for arrays, ins, out, _, _ in products:
            k = next((k for k, (b, lb) in enumerate(zip(arrays, ins))
                      if b is a and tuple(lb) == out), None)
            if k is None:
                break
            places.append(k)
        else:
            for (arrays, ins, *_), k in zip(products, places):
                del arrays[k]
                del ins[k]
            common.append(a)
    return common


def _product(ins: tuple, out: tuple, sizes: list[int], arrays: list[Any]) -> Any:
    """One product: an entry-wise one (every operand on the output's labels) by `*`,
    cheaper than einsum; any other through evaluate's planned einsum."""
    if len(arrays) > 1:  # sums over a label one operand alone carries: first, on it
        ins, arrays = list(ins), list(arrays)
        for k, lab in enumerate(ins):
            others = {x for j, b in enumerate(ins) if j != k for x in b} | set(out)
            alone = tuple(p for p, x in enumerate(lab) if x not in others)
            if alone and len(set(lab)) == len(lab):
                arrays[k] = np.sum(arrays[k], axis=alone)
                ins[k] = tuple(x for x in lab if x in others)
                sizes = [1 if x in lab and x not in others else d for x, d in enumerate(sizes)]
        ins = tuple(ins)
    if len(arrays) > 1 and len(set(out)) == len(out) and all(tuple(lab) == out for lab in ins):
        r = arrays[0] * arrays[1]
        for a in arrays[2:]:
            r *= a
        return r
    return einsum_value((ins, out, tuple(sizes)), arrays, {})


@dataclass(frozen=True)
class BlockTerm:
    """coef * the product of factors[k] (labels ins[k]), with output labels `out`.

    Labels are 0..count-1; a label repeated in `out` ties two axes (a diagonal),
    one no factor carries broadcasts.
    """

    coef: float
    factors: tuple[int, ...]          # indices into the arrays the generated code returns
    ins: tuple[tuple[int, ...], ...]
    out: tuple[int, ...]
    count: int                        # labels 0..count-1


@dataclass(frozen=True)
class BlockPlan:
    """The static part of a block-diagonal Jacobian: its terms, where the function's axes
    end (`split`), and the pairs (function axis, variable axis) it is block-diagonal over."""

    terms: tuple[BlockTerm, ...]
    split: int
    pairs: tuple[tuple[int, int], ...]


class BlockDiagonal:
    """A tensor of shape S_out + S_in, zero unless each pair of axes in `plan.pairs` agrees."""

    __array_priority__ = 101  # ndarray @ J and Diagonal @ J defer to J.__rmatmul__

    def __init__(self, plan: BlockPlan, shape: tuple[int, ...], factors: tuple[Any, ...],
                 scale: float = 1.0) -> None:
        self.plan = plan
        self.factors = tuple(factors)
        self._shape = tuple(int(d) for d in shape)
        self._scale = float(scale)
        self._sizes: list[list[int]] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(float)

    @property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """(function axis, variable axis) pairs: the entry is zero where they differ."""
        return self.plan.pairs

    # ------------------------------------------------------------ contraction

    def _label_sizes(self) -> list[list[int]]:
        """Each term's label lengths, read from the shape and the factors (once)."""
        if self._sizes is None:
            sizes = []
            for t in self.plan.terms:
                s = [0] * t.count
                for k, x in enumerate(t.out):
                    s[x] = self._shape[k]
                for f, lab in zip(t.factors, t.ins):
                    for x, d in zip(lab, np.shape(self.factors[f])):
                        s[x] = d
                sizes.append(s)
            self._sizes = sizes
        return self._sizes

    def _contract(self, labels: Any) -> np.ndarray:
        """The sum over terms of coef * term, contracted to the output labels that
        `labels(term, sizes)` names, with the array it gives (if any) as one more factor
        (its axes labelled; new labels' lengths appended to `sizes`).

        Memory traffic is what this costs (each fresh array of the result's size costs
        page faults as well as a pass), so a factor every term multiplies entry by entry
        (softmax's s in s .* (V - <s, V>)) is applied once, last, and terms after the
        first are added in place."""
        products = []
        for t, sizes in zip(self.plan.terms, self._label_sizes()):
            sizes = list(sizes)
            other, other_labels, out = labels(t, sizes)
            arrays = [self.factors[f] for f in t.factors]
            ins = list(t.ins)
            if other is not None:
                arrays.append(other)
                ins.append(tuple(other_labels))
            products.append((arrays, ins, tuple(out), sizes, t.coef * self._scale))
        common = _common_factors(products)
        total = None
        for arrays, ins, out, sizes, c in products:
            r = _product(tuple(ins), out, sizes, arrays)
            if total is None:
                fresh = (isinstance(r, np.ndarray) and r.flags.owndata and r.flags.writeable
                         and not any(r is a for a in arrays))
                total = r if fresh else np.array(r, dtype=float)
                if c != 1.0:
                    total *= c
            elif c == 1.0:
                total += r
            elif c == -1.0:
                total -= r
            else:
                total += c * r
        for a in common:
            total *= a
        return total

    @staticmethod
    def from_diagonal(d: Diagonal) -> BlockDiagonal:
        """A Diagonal as a one-term BlockDiagonal (block-diagonal over every axis)."""
        k = d.values.ndim
        term = BlockTerm(1.0, (0,), (tuple(range(k)),), tuple(range(k)) * 2, k)
        plan = BlockPlan((term,), k, tuple((a, a + k) for a in range(k)))
        return BlockDiagonal(plan, d.shape, (d.values,))

    def __matmul__(self, other: Any) -> Any:
        """J @ V: V has the variable's shape, then any trailing axes. J @ K of two structured
        Jacobians (the chain rule) stays structured: each pair of terms one product."""
        if isinstance(other, Diagonal):
            other = BlockDiagonal.from_diagonal(other)
        if isinstance(other, BlockDiagonal):
            return _compose(self, other)
        other = np.asarray(other, dtype=float)
        h = self.plan.split
        s_in = self._shape[h:]
        if other.ndim < len(s_in) or other.shape[:len(s_in)] != s_in:
            raise ValueError(f"shapes {self.shape} and {other.shape} do not align for @")
        n_extra = other.ndim - len(s_in)

        def labels(t: BlockTerm, sizes: list[int]) -> tuple:
            fresh = list(range(t.count, t.count + n_extra))
            sizes.extend(other.shape[len(s_in):])
            return other, tuple(t.out[h:]) + tuple(fresh), tuple(t.out[:h]) + tuple(fresh)

        return self._contract(labels)

    def __rmatmul__(self, other: Any) -> Any:
        """U @ J: U has any leading axes, then the function's shape."""
        if isinstance(other, Diagonal):
            return _compose(BlockDiagonal.from_diagonal(other), self)
        other = np.asarray(other, dtype=float)
        h = self.plan.split
        s_out = self._shape[:h]
        n_extra = other.ndim - len(s_out)
        if n_extra < 0 or other.shape[n_extra:] != s_out:
            raise ValueError(f"shapes {other.shape} and {self.shape} do not align for @")

        def labels(t: BlockTerm, sizes: list[int]) -> tuple:
            fresh = list(range(t.count, t.count + n_extra))
            sizes.extend(other.shape[:n_extra])
            return other, tuple(fresh) + tuple(t.out[:h]), tuple(fresh) + tuple(t.out[h:])

        return self._contract(labels)

    # ------------------------------------------------------------ dense views

    def blocks(self) -> np.ndarray:
        """The blocks: the paired axes first (once), then the function's other axes, then
        the variable's; for a row-wise map of an n x q matrix, n x q x q."""
        h = self.plan.split
        firsts = [a for a, _ in self.plan.pairs]
        seconds = {b for _, b in self.plan.pairs}
        keep = firsts + [a for a in range(h) if a not in firsts] + [
            b for b in range(h, self.ndim) if b not in seconds]
        entries = int(np.prod([self._shape[k] for k in keep]))
        self._refuse(entries, "its blocks")

        def labels(t: BlockTerm, sizes: list[int]) -> tuple:
            return None, None, tuple(t.out[k] for k in keep)

        return self._contract(labels)

    def toarray(self) -> np.ndarray:
        """The dense tensor (for checking and small sizes; refused beyond DENSE_LIMIT entries)."""
        self._refuse(int(np.prod(self._shape)), "the dense tensor")
        return self._contract(lambda t, sizes: (None, None, t.out))

    def _refuse(self, entries: int, what: str) -> None:
        if entries > DENSE_LIMIT:
            raise EvaluationError(f"{what} of this block-diagonal Jacobian would hold "
                                  f"{entries:,} numbers ({entries * 8 / 2**30:.1f} GiB); use "
                                  "J @ V, U @ J or J.blocks() instead")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        dense = self.toarray()
        return dense if dtype is None else dense.astype(dtype)

    # ------------------------------------------------------------ scaling

    def __mul__(self, c: Any) -> BlockDiagonal:
        if np.ndim(c) != 0:
            return NotImplemented
        return BlockDiagonal(self.plan, self._shape, self.factors, self._scale * float(c))

    __rmul__ = __mul__

    def __neg__(self) -> BlockDiagonal:
        return self * -1.0

    def __repr__(self) -> str:
        pairs = ", ".join(f"{a}~{b}" for a, b in self.plan.pairs)
        return (f"BlockDiagonal(shape={self._shape}, axes paired {pairs}, "
                f"{len(self.plan.terms)} terms over {len(self.factors)} arrays)")


def _compose(a: BlockDiagonal, b: BlockDiagonal) -> BlockDiagonal:
    """a @ b, contracting a's variable axes with b's function axes: every pair of terms
    becomes one product (their factors side by side, the contracted labels unified)."""
    ha, hb = a.plan.split, b.plan.split
    if a.shape[ha:] != b.shape[:hb]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not align for @")
    shape = a.shape[:ha] + b.shape[hb:]
    terms = []
    for ta, sa in zip(a.plan.terms, a._label_sizes()):
        for tb, sb in zip(b.plan.terms, b._label_sizes()):
            terms.append(_compose_terms(ta, tb, ha, hb, sa + sb, len(a.factors)))
    plan = BlockPlan(tuple(terms), ha, find_pairs([t.out for t in terms], ha, shape))
    return BlockDiagonal(plan, shape, a.factors + b.factors, a._scale * b._scale)


def _compose_terms(ta: BlockTerm, tb: BlockTerm, ha: int, hb: int, sizes: list[int],
                   shift: int) -> BlockTerm:
    ties = UnionFind(range(ta.count + tb.count))
    find = ties.find
    for x, y in zip(ta.out[ha:], tb.out[:hb]):
        ties.union(x, ta.count + y)
    ins = [[find(x) for x in lab] for lab in ta.ins] + [
        [find(ta.count + y) for y in lab] for lab in tb.ins]
    out = [find(x) for x in ta.out[:ha]] + [find(ta.count + y) for y in tb.out[hb:]]
    coef = ta.coef * tb.coef
    carried = {x for lab in ins for x in lab} | set(out)
    for x in ties.roots() - carried:
        coef *= sizes[x]  # a contracted label no factor carries: a sum of ones
    number: dict[int, int] = {}
    for x in out + [x for lab in ins for x in lab]:
        number.setdefault(x, len(number))
    return BlockTerm(coef, ta.factors + tuple(shift + f for f in tb.factors),
                     tuple(tuple(number[x] for x in lab) for lab in ins),
                     tuple(number[x] for x in out), len(number))
