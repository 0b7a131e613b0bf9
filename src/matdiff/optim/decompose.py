"""Splitting a loss into per-chunk terms, decided from the IR: which losses decompose.

Training on data larger than memory computes the loss and its gradient chunk
by chunk of samples and adds the pieces. That is exact when the loss is

    L = A + P,   A = (a linear combination of) sums over the sample axis of
                     per-row terms,   P = terms without the samples,

where a *per-row* term depends on the data only through the rows of the data
variables that carry the sample dimension (element-wise functions of them,
products that keep or contract the sample index). Then A over all data is
the sum of A over the chunks, and P (a regulariser, say) is computed once.

A sample count (`numel(y)`, the `1/n` of `mean`) is a property of the whole
data set: it is replaced by a scalar variable that is bound to the total
number of samples (or to a minibatch's). `norm2(r)^2` is read as the sum of
squares it is. Anything that couples samples is refused with the reason:
a function of a sum over samples (`log(sum(...))`), a product of two such
sums, a matrix function of sample-carrying arguments (`softmax`, `inv`,
`norm2` without the square), or a diagonal over the samples. Softmax and
logsumexp along the other axis (`softmax(X*W, 2)`, each row on its own) are
per-row terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MatdiffError
from ..ir import expr as ir
from ..ir.expr import Dim, Expr, topo_order
from ..ir.ops import AXIS_OPS, ELEMENTWISE_BINARY, ELEMENTWISE_UNARY, MATRIX_FUNCTIONS, Op, spelling

__all__ = ["SampleSplit", "split_over_samples", "COUNT_NAME"]

#: the scalar variable standing for the number of samples in the chunked loss
COUNT_NAME = "n_samples_"

_FREE = "free"   # no dependence on the samples
_SUM = "sum"     # an affine function of sums over the samples


@dataclass(frozen=True)
class SampleSplit:
    """loss = chunked (summed over chunks) + rest (once); both may use `count`."""

    chunked: Expr | None
    rest: Expr | None
    count: Expr
    dim: Dim


class _Refuse(Exception):
    pass


def _describe(node: Expr) -> str:
    try:
        from ..printing import to_text

        text = to_text(node)
    except Exception:  # noqa: BLE001 - a description only
        return node.op.value
    return text if len(text) <= 60 else text[:57] + "..."


def split_over_samples(loss: Expr, sampled: Mapping[str, int], dim: Dim) -> SampleSplit:
    """Split `loss` for chunked evaluation over `dim`, the sample dimension.

    `sampled` maps each data variable that carries the samples to its sample
    axis. Raises MatdiffError naming the part of the loss that couples samples.
    """
    count = ir.var(COUNT_NAME, ())
    loss = _rewrite(loss, dim, count)
    kinds: dict[Expr, object] = {}
    try:
        for node in topo_order(loss):
            kinds[node] = _classify(node, kinds, sampled, dim)
    except _Refuse as e:
        raise MatdiffError(
            f"this loss does not split into a sum over chunks of samples: {e}. Chunked "
            "training needs a loss that is a sum or mean over the samples of per-row terms "
            "(plus terms without the data), such as mean((X*w - y).^2) + lam*norm2(w)^2"
        ) from None
    kind = kinds[loss]
    if kind == _FREE:
        return SampleSplit(None, loss, count, dim)
    if kind != _SUM:  # pragma: no cover - a scalar cannot carry the sample axis
        raise MatdiffError("this loss does not reduce over the samples")
    chunked, rest = _separate(loss, kinds)
    return SampleSplit(chunked, rest, count, dim)


def _rewrite(root: Expr, dim: Dim, count: Expr) -> Expr:
    """Sample counts become `count`; norm2(x)^2 becomes sum(x.^2)."""
    from ..ir.expr import rebuild

    mapped: dict[Expr, Expr] = {}
    for node in topo_order(root):
        new = rebuild(node, tuple(mapped[a] for a in node.args)) if node.args else node
        if new.op is Op.SIZE and dim in new.attr:
            rest = list(new.attr)
            rest.remove(dim)
            new = ir.einsum([ir.size(rest), count], [[], []], [])
        elif (new.op is Op.POW and new.args[0].op is Op.NORM2 and new.args[1].op is Op.CONST
              and new.args[1].attr == 2.0):
            x = new.args[0].args[0]
            labels = list(range(x.ndim))
            squares = ir.binary(Op.POW, x, ir.const(2.0, x.shape))
            new = ir.einsum([squares], [labels], [])
        mapped[node] = new
    return mapped[root]


def _classify(node: Expr, kinds: Mapping[Expr, object], sampled: Mapping[str, int],
              dim: Dim) -> object:
    """_FREE, _SUM, or the sample axis (an int) of a per-row tensor."""
    op = node.op
    if op is Op.VAR:
        return sampled.get(node.name, _FREE)
    if not node.args:
        return _FREE
    args = [kinds[a] for a in node.args]
    if all(k == _FREE for k in args):
        return _FREE
    if op in ELEMENTWISE_UNARY or op in ELEMENTWISE_BINARY:
        if _SUM in args:
            raise _Refuse(f"{spelling(op)}(...) of a sum over the samples in "
                          f"'{_describe(node)}' is not itself such a sum")
        axes = {k for k in args if k != _FREE}
        if len(axes) > 1:  # pragma: no cover - same-shaped arguments share the axis
            raise _Refuse(f"'{_describe(node)}' pairs different sample axes")
        return axes.pop()
    if op in AXIS_OPS and isinstance(node.attr, int) and isinstance(args[0], int) \
            and node.attr != args[0]:  # softmax(Z, 2) of per-row Z: each row on its own
        axis = args[0]
        return axis if node.ndim == node.args[0].ndim or axis < node.attr else axis - 1
    if op in MATRIX_FUNCTIONS:
        raise _Refuse(f"{spelling(op)}(...) of '{_describe(node.args[0])}' mixes the samples")
    if op is Op.ADD:
        kinds_ = {k for k in args if k != _FREE}
        if len(kinds_) > 1:
            raise _Refuse(f"'{_describe(node)}' adds per-sample terms to a sum over samples")
        return kinds_.pop()
    if op is Op.EINSUM:
        return _classify_einsum(node, args, dim)
    raise _Refuse(f"'{_describe(node)}' cannot be split")  # pragma: no cover


def _classify_einsum(node: Expr, args: list[object], dim: Dim) -> object:
    ins, out, dims = node.attr
    sums = [k for k, a in enumerate(args) if a == _SUM]
    rows = [k for k, a in enumerate(args) if a not in (_FREE, _SUM)]
    if sums and rows:
        raise _Refuse(f"'{_describe(node)}' multiplies per-sample terms by a sum over samples")
    if len(sums) > 1:
        raise _Refuse(f"'{_describe(node)}' multiplies two sums over the samples")
    if sums:
        if dim in node.shape:
            raise _Refuse(f"'{_describe(node)}' spreads a sum over the samples back over them")
        return _SUM
    labels = {ins[k][args[k]] for k in rows}
    if len(labels) > 1:
        raise _Refuse(f"'{_describe(node)}' multiplies terms of different samples")
    label = labels.pop()
    for k, a in enumerate(args):
        if a == _FREE and label in ins[k]:
            raise _Refuse(f"'{_describe(node)}' weights the samples by "
                          f"'{_describe(node.args[k])}'")
        if k in rows and ins[k].count(label) > 1:  # pragma: no cover - one axis per row
            raise _Refuse(f"'{_describe(node)}' takes a diagonal over the samples")
    if out.count(label) > 1:
        raise _Refuse(f"'{_describe(node)}' builds a diagonal over the samples")
    if label not in out:
        if dim in node.shape:
            raise _Refuse(f"'{_describe(node)}' spreads a sum over the samples back over them")
        return _SUM
    if node.shape.count(dim) > 1:
        raise _Refuse(f"'{_describe(node)}' pairs every sample with every other")
    return out.index(label)


def _separate(node: Expr, kinds: Mapping[Expr, object]) -> tuple[Expr | None, Expr | None]:
    """(the part summed over chunks, the part without samples) of a _SUM node."""
    from ..ir.expr import rebuild

    if kinds[node] == _FREE:
        return None, node
    if node.op is Op.ADD:
        parts = [_separate(t, kinds) for t in node.args]
        chunked = [c for c, _ in parts if c is not None]
        rest = [r for _, r in parts if r is not None]
        return (ir.add(chunked, node.shape) if chunked else None,
                ir.add(rest, node.shape) if rest else None)
    if node.op is Op.EINSUM:
        k = next((k for k, a in enumerate(node.args) if kinds[a] == _SUM), None)
        if k is None:  # the sum over the samples itself
            return node, None
        chunked, rest = _separate(node.args[k], kinds)

        def put(part: Expr | None) -> Expr | None:
            if part is None:
                return None
            return rebuild(node, node.args[:k] + (part,) + node.args[k + 1:])

        return put(chunked), put(rest)
    raise MatdiffError(f"cannot separate '{_describe(node)}'")  # pragma: no cover
