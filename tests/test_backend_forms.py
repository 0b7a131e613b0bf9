"""The benchmark problems P1-P7 on the torch and jax backends, and what makes them fast.

benchmarks/backends.py times these against hand-written PyTorch and JAX;
here they are checked against the NumPy backend, and the generated source is
checked for what the timings depend on: PyTorch's own kernels for sigmoid,
relu and a diagonal, no transposed matrix-vector product for XLA, a boolean
mask made floating before it enters a product (PyTorch refuses bool @ float),
and the short call path for values already in the backend's arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matdiff
from conftest import to_numpy
from matdiff.errors import ShapeError

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parent.parent

# (expression, wrt, order, declare, shapes) at small sizes: benchmarks/problems.py's P1-P7
PROBLEMS = [
    ("norm2(X*w - y)^2", "w", 1, None, {"X": (9, 3), "w": (3,), "y": (9,)}),
    ("norm2(X*w - y)^2", "w", 2, None, {"X": (9, 3), "w": (3,), "y": (9,)}),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", 1, None, {"X": (9, 3), "w": (3,), "y": (9,)}),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", 2, None, {"X": (9, 3), "w": (3,), "y": (9,)}),
    ("x'*A*x", "x", 2, None, {"x": (4,), "A": (4, 4)}),
    ("exp(x) .* sin(x)", "x", 1, None, {"x": (5,)}),
    ("norm2(M - U*V')^2", "U", 1, None, {"M": (6, 5), "U": (6, 2), "V": (5, 2)}),
    ("norm2(relu(X*W1)*W2 - Y)^2", "W1", 1, None,
     {"X": (8, 4), "W1": (4, 3), "W2": (3, 2), "Y": (8, 2)}),
]
P3 = ("mean((y - relu(X*w + b)).^2)", {"X": (12, 3), "w": (3,), "b": (), "y": (12,)})

TO = {"torch": torch.as_tensor, "jax": jax.numpy.asarray}


def _values(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in shapes.items()}


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p[0]} d{p[1]}^{p[2]}")
def test_benchmark_problems_matchto_numpy(problem, backend):
    text, wrt, order, declare, shapes = problem
    d = matdiff.diff(text, wrt=wrt, declare=declare, order=order)
    vals = _values(shapes)
    want = d.compile()(**vals)
    fn = d.compile(backend=backend)
    for _ in range(2):  # the first call builds, the second takes the short path
        got = fn(**{k: TO[backend](v) for k, v in vals.items()})
        np.testing.assert_allclose(to_numpy(got), np.asarray(want, dtype=float), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_relu_neuron_value_and_grad_with_a_mask_in_a_product(backend):
    """P3: the ReLU mask is summed against the error (step(z)'*e), a product PyTorch refuses
    for a boolean tensor."""
    text, shapes = P3
    vals = _values(shapes)
    v0, (gw0, gb0) = matdiff.value_and_grad(text, wrt=["w", "b"], declare={"b": "scalar"})(**vals)
    f = matdiff.value_and_grad(text, wrt=["w", "b"], declare={"b": "scalar"}, backend=backend)
    v, (gw, gb) = f(**{k: TO[backend](x) for k, x in vals.items()})
    np.testing.assert_allclose([to_numpy(v), to_numpy(gb)], [v0, gb0], rtol=1e-10)
    np.testing.assert_allclose(to_numpy(gw), gw0, rtol=1e-10)


def test_torch_source_uses_pytorchs_own_kernels():
    d = matdiff.diff("sum(log(1 + exp(-y .* (X*w))))", wrt="w")
    assert "torch.sigmoid(" in d.source(backend="torch")
    relu = matdiff.diff("norm2(relu(X*W1)*W2 - Y)^2", wrt="W1").source(backend="torch")
    assert "torch.clamp_min(" in relu and "torch.maximum" not in relu
    body = relu.split("def derivative", 1)[1]
    assert "_step_times(t1, " in body and "_step(t1) *" not in body  # ReLU's backward kernel
    text = "sum(max(X, Y)) + sum(min(0, X .* max(Y, 1)))"
    vg = matdiff.value_and_grad(text, wrt=["X"], backend="torch")
    both = vg.source(X=(3, 2), Y=(3, 2))
    assert "xp.maximum(X, Y)" in both       # two tensors: the standard maximum
    assert "torch.clamp_min(Y, 1.0)" in both and "torch.clamp_max(t2, 0.0)" in both
    vals = _values({"X": (3, 2), "Y": (3, 2)})
    v0, (g0,) = matdiff.value_and_grad(text, wrt=["X"])(**vals)
    v, (g,) = vg(**{k: torch.as_tensor(x) for k, x in vals.items()})
    np.testing.assert_allclose([to_numpy(v), *to_numpy(g).ravel()], [v0, *g0.ravel()], rtol=1e-12)
    p5 = matdiff.diff("exp(x) .* sin(x)", wrt="x").compile(backend="torch")
    assert "return torch.diag(core)" in p5.source(x=(5,))


def test_jax_source_has_no_transposed_matrix_vector_product():
    src = matdiff.diff("norm2(X*w - y)^2", wrt="w").source(backend="jax")
    body = src.split("def derivative", 1)[1]
    assert ".T @" not in body
    assert "xp.tensordot(X, X @ w - y, axes=(0, 0))" in body


def test_the_short_call_path_falls_back_for_everything_else():
    d = matdiff.diff("norm2(X*w - y)^2", wrt="w")
    f = d.compile(backend="torch")
    vals = _values({"X": (9, 3), "w": (3,), "y": (9,)})
    want = d.compile()(**vals)
    tensors = {k: torch.as_tensor(v) for k, v in vals.items()}
    f(**tensors)
    mixed = dict(tensors, y=vals["y"].tolist())  # a list among tensors: float64, as NumPy
    ints = dict(tensors, w=torch.tensor([1, 2, 3]))          # integers become float64
    for values in (tensors, mixed):
        np.testing.assert_allclose(to_numpy(f(**values)), want, rtol=1e-12)
    assert f(**ints).dtype == torch.float64
    with pytest.raises(ShapeError):
        f(**dict(tensors, y=torch.zeros(8, dtype=torch.float64)))
    g = d.compile(backend="jax")
    arrays = {k: jax.numpy.asarray(v) for k, v in vals.items()}
    g(**arrays)
    with pytest.raises(ShapeError):
        g(**dict(arrays, w=jax.numpy.zeros(4)))


def test_gpu_benchmark_says_plainly_when_there_is_no_gpu():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the script would measure")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no CUDA device: nothing measured"
