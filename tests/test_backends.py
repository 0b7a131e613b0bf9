"""Compiled derivatives on PyTorch, JAX and Dask arrays equal the NumPy backend's.

The corpus of test_codegen (every code path of the generator: diagonals,
broadcasts, traces, symmetric declarations, 3- and 4-tensors, matrix
functions, higher orders), the textbook table and the seed-note gradients
run through each installed backend: 1e-10 in float64, 1e-4 in float32.
CuPy and CUDA tests skip without a GPU. Also: the generated source imports
only its array library, values from two libraries are an error, PyTorch
keeps every intermediate on the inputs' device.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.errors import MatdiffError
from test_codegen import CORPUS, _values
from textbook_table import ROWS, row_values

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
da = pytest.importorskip("dask.array")
jax.config.update("jax_enable_x64", True)

CONVERT = {
    "torch": lambda v: torch.as_tensor(np.asarray(v, dtype=float)),
    "jax": lambda v: jax.numpy.asarray(np.asarray(v, dtype=float)),
    "dask": lambda v: da.from_array(np.asarray(v, dtype=float)),
}


def _numpy_of(x):
    if hasattr(x, "compute"):
        x = x.compute()
    if torch.is_tensor(x):
        x = x.cpu().numpy()
    return np.asarray(x, dtype=float)


def _same(d, values, backend):
    want = d.compile(backend="numpy")(**values)
    got = d.compile(backend=backend)(**{k: CONVERT[backend](v) for k, v in values.items()})
    np.testing.assert_allclose(_numpy_of(got), np.asarray(want, dtype=float),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "jax", "dask"])
@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c[0]} d{c[1]}^{c[2]}")
def test_every_corpus_derivative_matches_numpy(case, backend):
    text, wrt, order, declare, domain = case
    d = matdiff.diff(text, wrt=wrt, declare=declare or None, order=order)
    _same(d, _values(text, declare, domain), backend)


@pytest.mark.parametrize("backend", ["torch", "jax", "dask"])
@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.expression} d{r.wrt}")
def test_every_textbook_derivative_matches_numpy(row, backend):
    d = matdiff.diff(row.expression, wrt=row.wrt, declare=row.declare, order=row.order)
    _same(d, row_values(row), backend)


@pytest.mark.parametrize("case", CORPUS[:12], ids=lambda c: f"{c[0]} d{c[1]}^{c[2]}")
def test_float32_torch_within_1e4(case):
    text, wrt, order, declare, domain = case
    d = matdiff.diff(text, wrt=wrt, declare=declare or None, order=order)
    values = _values(text, declare, domain)
    want = np.asarray(d.compile()(**values), dtype=float)
    got = d.compile()(**{k: torch.as_tensor(np.asarray(v, dtype=np.float32))
                        for k, v in values.items()})
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(_numpy_of(got), want, rtol=1e-4, atol=1e-4 * scale)


def test_value_and_grad_on_each_backend():
    rng = np.random.default_rng(0)
    vals = {"X": rng.normal(size=(30, 4)), "y": rng.normal(size=30), "w": rng.normal(size=4)}
    loss = "sum(log(1 + exp(-y .* (X*w)))) + 0.1*norm2(w)^2"
    v0, (g0,) = matdiff.value_and_grad(loss, wrt=["w"])(**vals)
    for name, conv in CONVERT.items():
        f = matdiff.value_and_grad(loss, wrt=["w"], backend=name)
        v, (g,) = f(**{k: conv(x) for k, x in vals.items()})
        assert abs(float(_numpy_of(v)) - v0) < 1e-10
        np.testing.assert_allclose(_numpy_of(g), g0, rtol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "jax", "dask", "cupy"])
def test_generated_source_imports_only_its_library(backend):
    d = matdiff.diff("sum(softmax(A*x)) + logdet(B) + sum(sigmoid(x))", wrt="x")
    src = d.source(backend=backend)
    imports = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert "matdiff" not in "\n".join(imports)
    first = {"torch": "import torch", "jax": "import jax", "dask": "import numpy as np",
             "cupy": "import cupy as cp"}[backend]
    assert imports[0] == first
    compile(src, "<generated>", "exec")  # it is Python


def test_two_libraries_in_one_call_is_an_error():
    f = matdiff.diff("x'*A*x", wrt="x").compile()
    with pytest.raises(MatdiffError, match="different array libraries"):
        f(x=torch.ones(3, dtype=torch.float64), A=jax.numpy.eye(3))


def test_a_backend_that_does_not_run_these_values():
    f = matdiff.diff("x'*A*x", wrt="x").compile(backend="torch")
    with pytest.raises(MatdiffError, match="runs on torch arrays"):
        f(x=jax.numpy.ones(3), A=jax.numpy.eye(3))


def test_unknown_and_missing_backends_are_errors(monkeypatch):
    d = matdiff.diff("x'*x", wrt="x")
    with pytest.raises(MatdiffError, match="unknown backend"):
        d.compile(backend="tensorflow")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(MatdiffError, match=r"pip install 'matdiff\[backends\]'"):
            d.compile(backend="cupy")


def test_numpy_values_keep_the_numpy_path():
    d = matdiff.diff("x'*A*x", wrt="x")
    out = d.compile()(x=np.ones(3), A=np.eye(3))
    assert type(out) is np.ndarray
    assert d.source() == d.source(backend="numpy")
    assert "import numpy as np" in d.source()


def _devices_seen(fn, values):
    """The devices of every tensor the generated code makes (torch function mode)."""
    from torch.overrides import TorchFunctionMode

    seen = set()

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, tuple) else (out,)):
                if torch.is_tensor(t):
                    seen.add(str(t.device))
            return out

    with Watch():
        fn(**values)
    return seen


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torch_keeps_every_intermediate_on_the_inputs_device(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    d = matdiff.diff("sum(log(1 + exp(-y .* (X*w)))) + sum(softmax(X*w)) + norm2(w)^2",
                     wrt="w", order=2)
    rng = np.random.default_rng(1)
    vals = {"X": rng.normal(size=(20, 3)), "y": rng.normal(size=20), "w": rng.normal(size=3)}
    tensors = {k: torch.as_tensor(v, device=device) for k, v in vals.items()}
    fn = d.compile(backend="torch")
    assert _devices_seen(fn, tensors) == {torch.device(device).type if device == "cpu"
                                          else "cuda:0"}


def test_cupy_matches_numpy_on_a_gpu():
    cupy = pytest.importorskip("cupy", reason="CuPy needs a CUDA GPU; none here")
    d = matdiff.diff("norm2(X*w - y)^2", wrt="w", order=2)
    vals = _values("norm2(X*w - y)^2", {}, None)
    got = d.compile(backend="cupy")(**{k: cupy.asarray(v) for k, v in vals.items()})
    np.testing.assert_allclose(cupy.asnumpy(got), d.compile()(**vals), rtol=1e-10)


@pytest.mark.parametrize("backend", ["torch", "jax", "cupy", "dask"])
def test_cli_codegen_backend(backend, capsys, tmp_path):
    from matdiff.cli import main

    assert main(["codegen", "norm2(X*w - y)^2", "--wrt", "w", "--backend", backend]) == 0
    src = capsys.readouterr().out
    assert f"Generated by matdiff for {backend}" in src
    assert main(["codegen", "sum(log(1 + exp(-y .* (X*w))))", "--wrt", "w",
                 "--value-and-grad", "--backend", backend]) == 0
    compile(capsys.readouterr().out, "<generated>", "exec")
    if backend != "cupy":  # the printed module runs as it is
        namespace: dict = {}
        exec(compile(src, "<generated>", "exec"), namespace)
        rng = np.random.default_rng(0)
        X, y, w = rng.normal(size=(6, 2)), rng.normal(size=6), rng.normal(size=2)
        got = namespace["derivative"](*(CONVERT[backend](v) for v in
                                        _order(src, {"X": X, "y": y, "w": w})))
        np.testing.assert_allclose(_numpy_of(got), 2 * X.T @ (X @ w - y), rtol=1e-10)


def _order(src, values):
    import re

    params = re.search(r"def derivative\(([^)]*)\)", src).group(1).split(", ")
    return [values[p] for p in params]
