"""Jacobians that are outer products of three or four axes equal evaluate() when compiled.

outer.py writes such a product in one of three forms by its size (an einsum,
a broadcast with its longest contiguous run innermost then a transposed view,
or the plain broadcast below 2048 entries) and lays it out differently for
PyTorch (permute_dims) and JAX (untouched). Sizes are drawn across those
thresholds; every library's values are checked against evaluate().
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff

DECLARE = {"A": "matrix(n, n)", "B": "matrix(p, q)", "D": "matrix(n, q)", "E": "matrix(p, r)",
           "a": "vector(r)", "b": "vector(n)", "c": "vector(n)", "x": "vector(r)",
           "y": "vector(q)"}

# (expression, wrt, its variables): each Jacobian an outer product, its pattern in the comment
CASES = [
    ("(a'*x)*B", "x", "aBx"),       # B[i,j] a[k]: the vector last
    ("E*x*y'", "x", "Exy"),         # E[i,k] y[j]: the vector in the middle
    ("(x'*x)*B", "x", "Bx"),        # 2 x[k] B[i,j]: a number scaling one factor
    ("inv(A)*D", "A", "AD"),        # -inv(A)[i,k] (inv(A) D)[l,j]: four axes
    ("D'*inv(A)", "A", "AD"),       # four axes, the other way round
    ("(b'*A*c)*B", "A", "AbcB"),    # B[i,j] b[k] c[l]: three factors
]
SIZES = {"n": [2, 5, 13], "p": [1, 3, 45, 64], "q": [2, 45], "r": [1, 3, 5]}


def _values(names: str, dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for name in names:
        decl = DECLARE[name]
        shape = tuple(dims[d.strip()] for d in decl.split("(")[1].rstrip(")").split(","))
        values[name] = rng.standard_normal(shape)
    if "A" in values:
        values["A"] += dims["n"] * np.eye(dims["n"])
    return values


def _numpy(x) -> np.ndarray:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


@settings(max_examples=10, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**16),
       dims=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SIZES.items()}))
def test_outer_product_jacobians_equal_evaluate(case, seed, dims):
    text, wrt, names = case
    values = _values(names, dims, seed)
    d = matdiff.diff(text, wrt=wrt, declare={k: DECLARE[k] for k in names})
    want = d.evaluate(values)
    np.testing.assert_allclose(d.compile()(**values), want, rtol=1e-10, atol=1e-12)
    torch = pytest.importorskip("torch")
    got = d.compile(backend="torch")(**{k: torch.as_tensor(v) for k, v in values.items()})
    np.testing.assert_allclose(_numpy(got), want, rtol=1e-10, atol=1e-12)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    got = d.compile(backend="jax")(**{k: jax.numpy.asarray(v) for k, v in values.items()})
    np.testing.assert_allclose(_numpy(got), want, rtol=1e-10, atol=1e-12)


def test_each_form_is_reached():
    """The drawn sizes reach an einsum, a broadcast with a long run, and a small broadcast."""
    d = matdiff.diff("(a'*x)*B", wrt="x", declare={k: DECLARE[k] for k in "aBx"})
    body = [d.source(shapes={"B": (p, q), "x": (3,)}).split("def derivative")[1]
            for p, q in ((45, 45), (64, 45), (1, 2))]
    assert "np.einsum(" in body[0] and "np.transpose(" in body[0]
    assert "np.einsum(" not in body[1] and "np.transpose(" in body[1]
    assert "np.einsum(" not in body[2] and "np.transpose(" not in body[2]
