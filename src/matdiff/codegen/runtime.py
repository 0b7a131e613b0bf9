"""Small functions the generated code calls, kept as source so modules stay standalone.

A generated module copies in only the helpers it uses. Each helper exists
because plain NumPy would either materialise structure (`_embed` builds a
diagonal without an n x n identity), lose symmetry (`_gram` uses a
symmetric rank-k product), or overflow (`_sigmoid`, `_softmax`: the helpers
of the op spec, ir/ops.py, which evaluate.py runs too).
"""

from __future__ import annotations

from ..ir.ops import helper_sources

__all__ = ["HELPERS", "helpers_used"]

HELPERS: dict[str, str] = {
    "_gram": '''
def _gram(P, w):
    """P' diag(w) P, which is symmetric: rank-k products (syrk) of sqrt(|w|) P, split by sign."""
    neg = w < 0
    if not neg.any():
        Q = np.sqrt(w * 1.0)[:, None] * P
        return Q.T @ Q
    pos = w > 0
    if not pos.any():  # all of one sign (a concave log-likelihood's Hessian): no row copies
        R = np.sqrt(-w * 1.0)[:, None] * P
        return -(R.T @ R)
    Q = np.sqrt(w[pos])[:, None] * P[pos]
    R = np.sqrt(-w[neg])[:, None] * P[neg]
    return Q.T @ Q - R.T @ R
''',
    "_embed": '''
def _embed(core, shape, groups):
    """Zeros of `shape` holding `core` where the full axes of one group agree (a diagonal).

    groups[p] is the core axis of full axis p; core has one axis per group.
    """
    out = np.zeros(shape)
    if max(groups) == 0:  # one group: the diagonal is a strided slice of the flat array
        out.reshape(-1)[:: sum(out.strides) // out.itemsize] = core
    else:  # a diagonal view (np.einsum returns a writeable one) filled in place
        sub = "".join(chr(97 + g) for g in groups) + "->" + "".join(
            chr(97 + g) for g in range(max(groups) + 1))
        np.einsum(sub, out)[...] = core
    return out
''',
    "_embed_sum": '''
def _embed_sum(shape, *parts):
    """The sum of diagonals (core, groups), as `_embed` builds them, and dense arrays
    (array, None), in one array of zeros: a diagonal writes only its own entries."""
    out = np.zeros(shape)
    for core, groups in parts:
        if groups is None:
            out += core
        else:
            sub = "".join(chr(97 + g) for g in groups) + "->" + "".join(
                chr(97 + g) for g in range(max(groups) + 1))
            np.einsum(sub, out)[...] += core
    return out
''',
    "_scatter_rows": '''
def _scatter_rows(G, index, k):
    """k rows of zeros, G's row i added into row index[i]: a one-hot matrix's Y' G."""
    out = np.zeros((k,) + G.shape[1:], dtype=G.dtype)
    np.add.at(out, index, G)
    return out
''',
    **helper_sources(),  # the array functions of the op spec (_sigmoid, _logdet, ...)
}


def helpers_used(text: str) -> list[str]:
    """The helpers that `text` calls, in a fixed order."""
    return [name for name in HELPERS if name + "(" in text]
