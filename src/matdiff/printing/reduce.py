"""One einsum node into matrix notation, by reducing its tensor network.

An einsum is a network: operands are nodes, index labels are edges (an
output label is an edge to the outside). Matrix notation exists when the
network reduces, two operands at a time, by moves a person knows:

    A[i,i] inside            diag(A), or tr(A) when i is summed away
    x[i] summed alone        sum(x)            (A[i,j], j alone: A*vector(1))
    same labels              x.*y, A.*B        (x'*y, sum(A.*B) if summed away)
    one label between two    A*B, A'*x, x'*y   (the matrix product)
    a vector on a matrix     diag(x)*A, A*diag(x)
    disjoint vectors         x*y'              (the outer product)

and the result's labels then match the output: as they are, transposed,
spread over a label no operand carries (`vector(1)`, `eye`), or put on a
diagonal (`diag(x)`). When no move applies, or a tensor has three or more
axes, there is no matrix form and reduce() returns None: the caller falls
back to index notation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from . import form as F
from .form import Form

__all__ = ["reduce_einsum", "Factor", "scalar_product", "hadamard_with_quotients"]


class Factor:
    """A form with the index labels of its axes (rows first for a matrix)."""

    __slots__ = ("form", "labels")

    def __init__(self, form: Form, labels: Sequence[int]) -> None:
        self.form = form
        self.labels = tuple(labels)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Factor({self.form.kind}, {self.labels})"


def _as_row(f: Form) -> Form:
    return F.transpose(f) if f.orient == "c" else f


def _as_col(f: Form) -> Form:
    return F.transpose(f) if f.orient == "r" else f


def _with_rows(fac: Factor, label: int) -> Form:
    """A matrix factor's form with `label` as its rows; a vector's as a column."""
    if len(fac.labels) == 1:
        return _as_col(fac.form)
    return fac.form if fac.labels[0] == label else F.transpose(fac.form)


def _with_cols(fac: Factor, label: int) -> Form:
    """A matrix factor's form with `label` as its columns; a vector's as a row."""
    if len(fac.labels) == 1:
        return _as_row(fac.form)
    return fac.form if fac.labels[1] == label else F.transpose(fac.form)


def _other(fac: Factor, label: int) -> tuple[int, ...]:
    return tuple(x for x in fac.labels if x != label)


def _contract(p: Factor, q: Factor, j: int) -> Factor:
    """The matrix product over label j, in the order needing fewer transposes."""
    best = None
    for left, right in ((p, q), (q, p)):
        form = F.mul([_with_cols(left, j), _with_rows(right, j)])
        labels = _other(left, j) + _other(right, j)
        if best is None or form.tcount < best.form.tcount:
            best = Factor(form, labels)
    return best


def _align(p: Factor, q: Factor) -> Form:
    """q's form with its labels in p's order (same label set)."""
    if len(q.labels) == 1:
        return _as_col(q.form) if p.form.orient == "c" else _as_row(q.form)
    return q.form if q.labels == p.labels else F.transpose(q.form)


def _hadamard(p: Factor, q: Factor) -> Factor:
    return Factor(hadamard_with_quotients([p.form, _align(p, q)]), p.labels)


def hadamard_with_quotients(forms: list[Form]) -> Form:
    """x .* (1./y) -> x./y: reciprocal factors become one denominator."""
    nums, dens = [], []
    for f in forms:
        if f.kind == "ediv" and F.is_num(f.args[0], 1.0):
            dens.append(f.args[1])
        else:
            nums.append(f)
    if not dens or not nums:
        return F.hadamard(forms)
    return F.ediv(F.hadamard(nums), F.hadamard(dens))


def _step(tensors: list[Factor], scalars: list[Form], out: tuple[int, ...], dims: Mapping
          ) -> bool:
    """Apply the first move that fits; False when none does. `dims` gives each label's
    dimension, which a ones vector the moves write records (to print its size if asked)."""
    count: Counter = Counter(out)
    for t in tensors:
        count.update(set(t.labels))
    return any(move(tensors, scalars, count, dims) for move in _MOVES)


def _diagonal_or_trace(tensors: list[Factor], scalars: list[Form], count: Counter,
                       dims: Mapping) -> bool:
    """A[i,i]: the diagonal, or the trace when i is carried nowhere else."""
    for k, t in enumerate(tensors):
        if len(t.labels) == 2 and t.labels[0] == t.labels[1]:
            i = t.labels[0]
            if count[i] == 1:
                scalars.append(F.call("tr", [t.form], "s"))
                del tensors[k]
            else:
                tensors[k] = Factor(F.call("diag", [t.form], "c"), (i,))
            return True
    return False


def _private_sum(tensors: list[Factor], scalars: list[Form], count: Counter,
                 dims: Mapping) -> bool:
    """A label only one tensor carries, summed away."""
    for k, t in enumerate(tensors):
        private = [x for x in t.labels if count[x] == 1]
        if not private:
            continue
        if len(private) == len(t.labels):  # the dimensions summed: sum(u)/numel(u) is mean(u)
            scalars.append(replace(F.call("sum", [t.form], "s"),
                                   dims=tuple(dims.get(x) for x in t.labels)))
            del tensors[k]
        else:
            (j,) = private
            (i,) = _other(t, j)
            tensors[k] = Factor(_axis_sum(_with_rows(t, i), dims.get(j)), (i,))
        return True
    return False


def _same_labels(tensors: list[Factor], scalars: list[Form], count: Counter,
                 dims: Mapping) -> bool:
    """The same labels: an element-wise product, or an inner product if summed away."""
    for a in range(len(tensors)):
        for b in range(a + 1, len(tensors)):
            p, q = tensors[a], tensors[b]
            if set(p.labels) != set(q.labels):
                continue
            if all(count[x] == 2 for x in p.labels):
                if len(p.labels) == 1:
                    scalars.append(_contract(p, q, p.labels[0]).form)
                else:
                    scalars.append(F.call("sum", [_hadamard(p, q).form], "s"))
                del tensors[b], tensors[a]
            else:
                tensors[a] = _hadamard(p, q)
                del tensors[b]
            return True
    return False


def _matrix_product(tensors: list[Factor], scalars: list[Form], count: Counter,
                    dims: Mapping) -> bool:
    """One label between exactly two tensors: the matrix product."""
    for j in sorted(count):
        if count[j] != 2:
            continue
        holders = [k for k, t in enumerate(tensors) if j in t.labels]
        if len(holders) != 2:
            continue
        a, b = holders
        tensors[a] = _contract(tensors[a], tensors[b], j)
        del tensors[b]
        return True
    return False


def _scaled_rows(tensors: list[Factor], scalars: list[Form], count: Counter,
                 dims: Mapping) -> bool:
    """A vector scaling the rows or columns of a matrix."""
    for a, v in enumerate(tensors):
        if len(v.labels) != 1:
            continue
        (i,) = v.labels
        for b, m in enumerate(tensors):
            if b == a or len(m.labels) != 2 or i not in m.labels:
                continue
            d = F.call("diag", [_as_col(v.form)], "m")
            form = F.mul([d, m.form] if m.labels[0] == i else [m.form, d])
            tensors[b] = Factor(form, m.labels)
            del tensors[a]
            return True
    return False


def _outer_product(tensors: list[Factor], scalars: list[Form], count: Counter,
                   dims: Mapping) -> bool:
    """Disjoint vectors: the outer product."""
    vectors = [k for k, t in enumerate(tensors) if len(t.labels) == 1]
    if len(tensors) == 2 and len(vectors) == 2:
        p, q = tensors
        tensors[:] = [Factor(F.mul([_as_col(p.form), _as_row(q.form)]), p.labels + q.labels)]
        return True
    return False


# the moves of _step, tried in this order
_MOVES = (_diagonal_or_trace, _private_sum, _same_labels, _matrix_product, _scaled_rows,
          _outer_product)


def _axis_sum(m: Form, dim=None) -> Form:
    """The row sums of the matrix m, as a column: sum(A, 2), or sum(A, 1)' for m = A'
    (a product keeps its longhand A*B*vector(1), which multiplies right to left)."""
    if m.kind == "t":
        return F.transpose(F.call("sum", [m.args[0], F.num(1.0)], "r"))
    if m.kind == "mul":
        return F.mul([m, F.ones(1.0, "c", (dim,))])
    return F.call("sum", [m, F.num(2.0)], "c")


def _spread(fac: Factor | None, out: tuple[int, ...], dims: Mapping) -> Form | None:
    """The single remaining factor arranged as the output labels say."""
    labels = fac.labels if fac is not None else ()
    distinct = tuple(dict.fromkeys(out))
    if len(out) == 0:
        return None if fac is not None else F.num(1.0)
    if len(out) == 1:
        if fac is None:
            return F.ones(1.0, "c", (dims.get(out[0]),))
        return _as_col(fac.form) if labels == out else None
    if len(out) != 2:
        return None
    if len(distinct) == 1:  # out [i, i]: a diagonal matrix
        if fac is None:
            return F.eye((dims.get(out[0]),) * 2)
        return F.call("diag", [_as_col(fac.form)], "m") if labels == distinct else None
    i, j = out
    if fac is None:
        return F.ones(1.0, "m", (dims.get(i), dims.get(j)))
    if labels == (i, j):
        return fac.form
    if labels == (j, i):
        return F.transpose(fac.form)
    if labels == (i,):  # v*vector(1)': in a sum with a matrix, just v
        ones = F.ones(1.0, "r", (dims.get(j),))
        return _spread_vector(F.mul([_as_col(fac.form), ones]), _as_col(fac.form))
    if labels == (j,):  # vector(1)*v': in a sum with a matrix, just v'
        ones = F.ones(1.0, "c", (dims.get(i),))
        return _spread_vector(F.mul([ones, _as_row(fac.form)]), _as_row(fac.form))
    return None


def _spread_vector(full: Form, vector: Form) -> Form:
    """A vector spread over a matrix, remembering the vector: contexts with implicit
    expansion (`X*W + v'`) print the vector in the orientation that expands."""
    return F.Form(full.kind, full.args, full.value, full.orient, vector, full.tcount)


def reduce_einsum(operands: list[Form], ins: Sequence[Sequence[int]], out: Sequence[int],
                  dims: Mapping | None = None) -> Form | None:
    """The matrix form of out = prod operands[k][ins[k]], or None if there is none.
    `dims` (label -> dimension) sizes the ones vectors and identities it writes."""
    out = tuple(out)
    dims = dims or {}
    scalars: list[Form] = []
    tensors: list[Factor] = []
    for f, lab in zip(operands, ins):
        if f.orient == "t" or len(lab) > 2:
            return None
        if not lab:
            scalars.append(f)
        else:
            tensors.append(Factor(f, lab))
    while len(tensors) > 1 or (tensors and _reducible_alone(tensors[0], out)):
        if not _step(tensors, scalars, out, dims):
            return None
    body = _spread(tensors[0] if tensors else None, out, dims)
    if body is None:
        return None
    result = scalar_product(scalars + [body]) if scalars else body
    if body.kind == "ones" and result is not body:  # c*vector(1): a spread scalar
        bcast = scalar_product(scalars) if scalars else F.num(1.0)
        result = F.Form(result.kind, result.args, result.value, result.orient, bcast,
                        result.tcount)
    elif body.bcast is not None and body.bcast.orient != "s" and scalars:  # c*vector(1)*v'
        bcast = scalar_product(scalars + [body.bcast])
        result = F.Form(result.kind, result.args, result.value, result.orient, bcast,
                        result.tcount)
    return result


def _reducible_alone(t: Factor, out: tuple[int, ...]) -> bool:
    """A lone tensor still has a move: a repeated or a summed-away label."""
    return len(set(t.labels)) < len(t.labels) or any(x not in out for x in t.labels)


def scalar_product(factors: list[Form]) -> Form:
    """A product with its reciprocal scalar factors gathered into one denominator.

    A coefficient 1/k for a whole number k is written as division by k
    (`x/2`, not `0.5*x`), as a person would.
    """
    nums, dens = [], []
    for f in factors:
        if f.kind == "sdiv" and F.is_num(f.args[0], 1.0):
            dens.append(f.args[1])
        else:
            nums.append(f)
    nums, dens = _means(nums, dens)
    top = F.mul(nums) if nums else F.num(1.0)
    sign = 1.0
    if top.kind == "neg":
        sign, top = -1.0, top.args[0]
    if top.kind == "mul" and F.is_num(top.args[0]):
        c = top.args[0].value
        if 0.01 <= c < 1 and abs(1 / c - round(1 / c)) < 1e-9:  # 0.5*x -> x/2
            dens.insert(0, F.num(round(1 / c)))
            top = F.mul(list(top.args[1:]))
    if dens:
        top = F.sdiv(top, F.mul(dens))
    return F.neg(top) if sign < 0 else top


def _means(nums: list[Form], dens: list[Form]) -> tuple[list[Form], list[Form]]:
    """sum(u)/n written mean(u) where n counts u's entries (sum records their dimensions)."""
    for k, f in enumerate(nums):
        if f.kind != "call" or f.value != "sum" or len(f.args) != 1 or not f.dims \
                or None in f.dims:
            continue
        count = sorted(map(str, f.dims))
        for j, d in enumerate(dens):
            size, power = (d.args[0], d.args[1].value) if d.kind == "pow" and \
                F.is_num(d.args[1]) else (d, 1.0)
            if size.kind != "size" or sorted(map(str, size.value[0])) != count \
                    or not float(power).is_integer() or power < 1:
                continue
            left = [] if power == 1 else [size if power == 2 else F.power(size, F.num(power - 1))]
            mean = F.call("mean", [f.args[0]], "s")
            return ([mean if m == k else g for m, g in enumerate(nums)],
                    [x for m, x in enumerate(dens) if m != j] + left)
    return nums, dens
