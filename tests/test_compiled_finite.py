"""Compiled code is finite wherever the function is, in float32 too (issue 18, section 6).

Hypothesis builds a scalar loss as a sum of FORMS (softmax, logsoftmax,
logsumexp, sigmoid, softplus, tanh, log(sigmoid), cross-entropies with
one-hot rows Y) over logits of |x| up to 1000 in float64 and 200 in float32,
and compiles its value and gradient (`value_and_grad`, and `diff(...).compile()`)
on every backend. Every form is finite, with a finite gradient, at every finite
input, so the compiled value and gradient must be finite at every draw; the
float32 results must also agree with the float64 ones to float32's precision.

To cover another spelling of a stable function, add its text to FORMS: {M}
is a matrix of logits (n x k, rows as examples), {v} a vector of logits (n).
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")
jax.config.update("jax_enable_x64", True)

DECLARE = {"X": "matrix(n, k)", "W": "matrix(k, k)", "b": "vector(k)", "u": "vector(n)",
           "w": "vector(k)", "Y": "one-hot rows(n, k)", "y": "one-hot vector(n)"}
TARGETS = ("Y", "y")  # data, not differentiated

FORMS = [
    "-sum(Y .* logsoftmax({M}, 2))",            # cross-entropy
    "-sum(Y .* log(softmax({M}, 2)))",          # cross-entropy through softmax
    "sum(logsumexp({M}, 2))",
    "sum(logsumexp({M}, 1))",
    "sum(softmax({M}, 2) .* Y)",
    "sum(softmax({M}, 1) .* {M})",
    "logsumexp({v})",
    "-y'*logsoftmax({v})",
    "-y'*log(softmax({v}))",
    "sum(sigmoid({v}))",
    "sum(softplus({v}))",
    "sum(tanh({v}))",
    "-sum(log(sigmoid({v})))",
    "sum(tanh({M}) .* softmax({M}, 2))",
    "sum(exp({M}) ./ (sum(exp({M}), 2)*vector(1)') .* Y)",  # the spread written out
    "-sum(log(1 - sigmoid({v})))",
]
MATRICES = ["X", "X*W", "X + vector(1)*b'", "X*W + vector(1)*b'"]
VECTORS = ["u", "X*w", "u + X*w"]
LIMIT = {"float64": 1000.0, "float32": 200.0}
CONVERT = {
    "numpy": lambda a, dt: np.asarray(a, dtype=dt),
    "torch": lambda a, dt: torch.as_tensor(np.asarray(a, dtype=dt)),
    "jax": lambda a, dt: jax.numpy.asarray(np.asarray(a, dtype=dt)),
    "dask": lambda a, dt: da.from_array(np.asarray(a, dtype=dt)),
    "array-api": lambda a, dt: torch.as_tensor(np.asarray(a, dtype=dt)),
}
# NumPy and Dask compute in float64 whatever they are given
DTYPES = {"numpy": ["float64"], "dask": ["float64"], "torch": ["float64", "float32"],
          "jax": ["float64", "float32"], "array-api": ["float64", "float32"]}


def _loss(r: random.Random, forms: list[str]) -> str:
    terms = []
    for _ in range(r.randint(1, 3)):
        form = r.choice(forms)
        terms.append(form.format(M=r.choice(MATRICES), v=r.choice(VECTORS)))
    return " + ".join(terms)


def _values(r: random.Random, limit: float, n: int = 4, k: int = 3) -> dict:
    """Logits up to `limit` (a gap of about 2*limit within a row), weights of order one."""
    rng = np.random.default_rng(r.randrange(2**32))
    X = rng.uniform(-1, 1, (n, k)) * limit
    X[0] = [limit, -limit, 0.0][:k]  # one row at the extremes
    return {"X": X, "u": rng.uniform(-1, 1, n) * limit,
            "W": rng.uniform(-1, 1, (k, k)) / k, "b": rng.uniform(-1, 1, k),
            "w": rng.uniform(-1, 1, k) / k,
            "Y": np.eye(k)[rng.integers(0, k, n)], "y": np.eye(n)[rng.integers(0, n)]}


def _numpy_of(x) -> np.ndarray:
    if hasattr(x, "compute"):
        x = x.compute()
    if torch.is_tensor(x):
        x = x.cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@functools.cache
def _compiled(text: str, backend: str) -> tuple[list[str], list]:
    """(variable names, [value_and_grad, then one compiled derivative per variable on
    NumPy and PyTorch]), each made once per text and backend."""
    names = sorted(n for n in matdiff.parse(text, declare=DECLARE).variables)
    wrt = [n for n in names if n not in TARGETS]
    fns = [matdiff.value_and_grad(text, wrt=wrt, declare=DECLARE, backend=backend)]
    if backend in ("numpy", "torch"):
        fns += [_derivative(text, n).compile(backend=backend) for n in wrt]
    return names, fns


@functools.cache
def _derivative(text: str, wrt: str):
    return matdiff.diff(text, wrt=wrt, declare=DECLARE)


def _run(text: str, values: dict, backend: str, dtype: str) -> list[np.ndarray]:
    """[value, gradients..., gradients by diff(...).compile()...] as float64 arrays."""
    names, (vg, *fns) = _compiled(text, backend)
    args = {n: CONVERT[backend](values[n], dtype) for n in names}
    value, grads = vg(**args)
    return ([_numpy_of(value)] + [_numpy_of(g) for g in grads]
            + [_numpy_of(fn(**args)) for fn in fns])


def _check(text: str, seed: int, backends=tuple(DTYPES)) -> None:
    r = random.Random(seed)
    for dtype, limit in LIMIT.items():
        values = _values(r, limit)
        for backend in backends:
            if dtype not in DTYPES[backend]:
                continue
            with np.errstate(all="ignore"):
                got = _run(text, values, backend, dtype)
            for k, a in enumerate(got):
                assert np.all(np.isfinite(a)), (
                    f"{text} on {backend} in {dtype}: result {k} is not finite: {a}")
            if dtype == "float32":  # as right as float32 allows: float64 at the same values
                with np.errstate(all="ignore"):
                    want = _run(text, values, backend, "float64")
                scale = 1.0 + limit
                for a, b in zip(got, want):
                    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * scale,
                                               err_msg=f"{text} on {backend} in float32")


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_compiled_code_is_finite_wherever_the_function_is(seed):
    _check(_loss(random.Random(seed), FORMS), seed)


@pytest.mark.parametrize("form", FORMS)
def test_each_form_at_extreme_logits(form):
    """Every form alone, at the extremes (JAX, whose compilations cost ~0.1 s each, in the
    random sums above)."""
    _check(form.format(M="X + vector(1)*b'", v="u + X*w"), 1,
           [b for b in DTYPES if b != "jax"])


def test_the_issues_cross_entropy_past_a_logit_gap_of_708():
    """value_and_grad of the softmax regression loss generated Y*(1/P)*P: NaN once
    softmax underflowed, where the loss and diff(...).compile() were finite."""
    text = "-sum(Y .* log(softmax(X*W + b', 2)))/N"
    declare = {"X": "matrix(n, d)", "W": "matrix(d, k)", "b": "vector(k)",
               "Y": "one-hot rows(n, k)", "N": "scalar"}
    X = np.array([[400.0, -400.0], [1.0, 2.0]])
    W, b, Y = np.eye(2), np.zeros(2), np.array([[0.0, 1.0], [1.0, 0.0]])
    value, (dW, db) = matdiff.value_and_grad(text, wrt=["W", "b"], declare=declare)(
        X=X, W=W, b=b, Y=Y, N=2.0)
    want = (800.0 + np.logaddexp(0.0, 1.0)) / 2  # -log softmax: 800 + log(1 + e^-800), ...
    np.testing.assert_allclose(value, want, rtol=1e-12)
    for name, g in (("W", dW), ("b", db)):
        np.testing.assert_allclose(g, matdiff.diff(text, wrt=name, declare=declare).evaluate(
            {"X": X, "W": W, "b": b, "Y": Y, "N": 2.0}), rtol=1e-12, atol=1e-12)


PROGRAM = """z = W*x + b
s = softmax(z)
L = -y'*log(s)"""
PROGRAM_DECLARE = {"W": "matrix(k, d)", "x": "vector(d)", "b": "vector(k)",
                   "y": "one-hot vector(k)"}
PROGRAM_VALUES = {"W": np.eye(2), "x": np.array([1000.0, -1000.0]), "b": np.zeros(2),
                  "y": np.array([0.0, 1.0])}


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_log_of_a_programs_softmax_line_is_finite(backend):
    """A line's name is seen through: log(s) of a line s = softmax(z) is z - logsumexp(z)."""
    vg = matdiff.value_and_grad(PROGRAM, wrt=["W", "b"], declare=PROGRAM_DECLARE,
                                backend=backend)
    with np.errstate(all="ignore"):
        value, _ = vg(**{n: CONVERT[backend](v, "float64") for n, v in PROGRAM_VALUES.items()})
    np.testing.assert_allclose(_numpy_of(value), 2000.0, rtol=1e-12)


def test_gradient_through_a_programs_softmax_line_is_finite():
    """The backward pass sends the error signal through log(s) = z - logsumexp(z), not
    through -y./s (infinite once s underflows)."""
    vg = matdiff.value_and_grad(PROGRAM, wrt=["W", "b"], declare=PROGRAM_DECLARE)
    with np.errstate(all="ignore"):
        _, (dW, db) = vg(**PROGRAM_VALUES)
    np.testing.assert_allclose(db, [1.0, -1.0], atol=1e-12)  # softmax(z) - y
    assert np.all(np.isfinite(dW))
