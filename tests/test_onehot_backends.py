"""One-hot products index on every library that can (codegen/onehot.py, Backend.one_hot).

`Y*E` with Y declared one-hot is a gather `E[idx]` and `Y'*G` an add-at into
rows idx: PyTorch's `index_add_`, JAX's `.at[idx].add` (under jax.jit and
jax.grad), NumPy's `np.add.at`. Dask and the portable module gather and keep
the product for the add-at (neither has one). Each is checked by its source
(no product with the one-hot matrix) and by its values against `evaluate`,
in float64 and float32, with repeated indices (two rows picking one row of E:
the add-at accumulates).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import matdiff

EMBED = {"Y": "one-hot rows(n, k)", "E": "matrix(k, d)", "T": "matrix(n, d)"}
IDX = np.array([1, 3, 1, 1, 0, 4, 3])        # repeated: rows 1 and 3 accumulate
# (text, wrt, declare, one-hot name, values(rng)); n = 7, k = 5, d = 3
CASES = {
    "rows": ("norm2(Y*E - T)^2", "E", EMBED, "Y", lambda rng: {
        "Y": np.eye(5)[IDX], "E": rng.standard_normal((5, 3)),
        "T": rng.standard_normal((7, 3))}),
    "columns": ("sum(tanh(C'*E))", "E", {"C": "one-hot columns(k, n)", "E": "matrix(k, d)"},
                "C", lambda rng: {"C": np.eye(5)[IDX].T, "E": rng.standard_normal((5, 3))}),
    "columns of F": ("sum(tanh(F*Y'))", "F", {"Y": "one-hot rows(n, k)", "F": "matrix(d, k)"},
                     "Y", lambda rng: {"Y": np.eye(5)[IDX], "F": rng.standard_normal((3, 5))}),
    "vector times Y": ("norm2(Y*u)^2", "u", {"Y": "one-hot rows(n, k)", "u": "vector(k)"},
                       "Y", lambda rng: {"Y": np.eye(5)[IDX], "u": rng.standard_normal(5)}),
    "vector": ("sum(tanh(h'*E*u))", "u", {"h": "one-hot vector(k)", "E": "matrix(k, d)",
                                          "u": "vector(d)"}, "h",
               lambda rng: {"h": np.eye(5)[3], "E": rng.standard_normal((5, 3)),
                            "u": rng.standard_normal(3)}),
}
SCATTERS = {"rows", "columns", "columns of F", "vector times Y"}   # a gradient with Y' G in it


def _library(name):
    if name in ("torch", "array-api"):
        torch = pytest.importorskip("torch")
        pytest.importorskip("array_api_compat")
        return lambda a, dtype: torch.as_tensor(a, dtype=getattr(torch, dtype))
    if name == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return lambda a, dtype: jax.numpy.asarray(a, dtype=dtype)
    da = pytest.importorskip("dask.array")
    pytest.importorskip("array_api_compat")
    return lambda a, dtype: da.from_array(np.asarray(a, dtype=dtype))


def _numpy(x):
    x = x.compute() if hasattr(x, "compute") else x
    return np.asarray(x.cpu() if hasattr(x, "cpu") else x, dtype=float)


def _multiplied(source: str, name: str) -> list[str]:
    """The lines of code that multiply the variable `name` (a product, einsum, tensordot)."""
    body = source[source.index("\ndef derivative"):].split('"""')[-1]
    return [ln for ln in body.splitlines() if re.search(rf"\b{name}\b", ln)
            and re.search(r"@|einsum|tensordot|\*", ln)]


@pytest.mark.parametrize("backend", ["torch", "jax", "dask", "array-api"])
@pytest.mark.parametrize("case", list(CASES))
def test_one_hot_products_index_and_equal_evaluate(case, backend):
    text, wrt, declare, onehot, make = CASES[case]
    convert = _library(backend)
    values = make(np.random.default_rng(len(case)))
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    source = d.source(shapes={k: v.shape for k, v in values.items()}, backend=backend)
    adds_at = backend in ("torch", "jax")
    assert "argmax(" in source or "_hot(" in source
    if adds_at or case not in SCATTERS:
        assert _multiplied(source, onehot) == [], source
    if case in SCATTERS:
        assert ("_scatter_rows(" in source) == adds_at
    want = np.asarray(d.evaluate(values), dtype=float)
    assert np.allclose(d.compile()(**values), want)
    fn = d.compile(backend=backend)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        got = fn(**{k: convert(v, dtype) for k, v in values.items()})
        np.testing.assert_allclose(_numpy(got), want, rtol=tol, atol=tol)


def test_the_add_at_is_the_librarys_own():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    d = matdiff.diff("norm2(Y*E - T)^2", wrt="E", declare=EMBED)
    assert ".index_add_(0, index, G)" in d.source(backend="torch")
    assert ".at[index].add(G)" in d.source(backend="jax")
    assert "np.add.at(out, index, G)" in d.source()


def test_jax_add_at_runs_under_grad():
    """The jitted module is pure: jax.grad differentiates through the gather and add-at."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    text, wrt, declare, _, make = CASES["rows"]
    assert "].add(" in matdiff.diff(text, wrt=wrt, declare=declare).source(backend="jax")
    v = {k: jnp.asarray(a) for k, a in make(np.random.default_rng(1)).items()}
    fn = matdiff.diff(text, wrt=wrt, declare=declare).compile(backend="jax")
    got = jax.grad(lambda E: jnp.sum(fn(Y=v["Y"], E=E, T=v["T"]) ** 2))(v["E"])
    want = jax.grad(lambda E: jnp.sum((2 * v["Y"].T @ (v["Y"] @ E - v["T"])) ** 2))(v["E"])
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
    vg = matdiff.value_and_grad(text, wrt=["E"], declare=declare, backend="jax")
    value, (g,) = vg(**v)
    assert np.isclose(float(value), float(jnp.sum((v["Y"] @ v["E"] - v["T"]) ** 2)))
    Y, E, T = (np.asarray(v[k]) for k in "YET")
    np.testing.assert_allclose(np.asarray(g), 2 * Y.T @ (Y @ E - T))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_jax_finds_the_ones_exactly_in_every_precision(dtype):
    """JAX's `_hot` multiplies by 0, 1, ..., k-1 only where the dtype holds k exactly
    (bfloat16 holds no 257): else its argmax."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(2)
    idx = np.array([257, 299, 1, 257, 130])
    Y, u = np.eye(300)[idx], rng.integers(1, 4, 300) * 1.0    # small integers: exact in bf16
    d = matdiff.diff("norm2(Y*u)^2", wrt="u", declare={"Y": "one-hot rows(n, k)",
                                                       "u": "vector(k)"})
    got = d.compile(backend="jax")(Y=jnp.asarray(Y, dtype=dtype), u=jnp.asarray(u, dtype=dtype))
    np.testing.assert_array_equal(np.asarray(got, dtype=float), 2 * Y.T @ (Y @ u))
