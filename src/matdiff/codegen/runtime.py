"""Small functions the generated code calls, kept as source so modules stay standalone.

A generated module copies in only the helpers it uses. Each helper exists
because plain NumPy would either materialise structure (`_embed` builds a
diagonal without an n x n identity), lose symmetry (`_gram` uses a
symmetric rank-k product), or overflow (`_sigmoid`, `_softmax`).
"""

from __future__ import annotations

__all__ = ["HELPERS", "helpers_used"]

HELPERS: dict[str, str] = {
    "_gram": '''
def _gram(P, w):
    """P' diag(w) P, which is symmetric: rank-k products (syrk) of sqrt(|w|) P, split by sign."""
    neg = w < 0
    if not neg.any():
        Q = np.sqrt(w * 1.0)[:, None] * P
        return Q.T @ Q
    pos = ~neg
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
    "_sigmoid": '''
def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))
''',
    "_softmax": '''
def _softmax(x):
    """exp(x) / sum(exp(x)), shifted by max(x) against overflow."""
    e = np.exp(x - x.max())
    return e / e.sum()
''',
    "_logsumexp": '''
def _logsumexp(x):
    """log(sum(exp(x))), shifted by max(x) against overflow."""
    m = x.max()
    return m + np.log(np.exp(x - m).sum())
''',
    "_logdet": '''
def _logdet(A):
    """log(det(A)) through an LU factorisation (nan where det(A) < 0)."""
    sign, logabs = np.linalg.slogdet(A)
    return logabs if sign > 0 else (-np.inf if sign == 0 else np.nan)
''',
}


def helpers_used(text: str) -> list[str]:
    """The helpers that `text` calls, in a fixed order."""
    return [name for name in HELPERS if name + "(" in text]
