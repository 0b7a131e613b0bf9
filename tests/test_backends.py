"""Compiled derivatives on PyTorch, JAX, Dask and the portable array API module equal NumPy's.

Through each installed backend (CuPy skips without a GPU): every row of the op
table (tests/test_op_rows.py), every gradient of the layers gallery
(tests/layers_gallery.py), every seed-note derivation (the neuron
max(0, w'*x + b) and its loss), the corpus of test_codegen (every code path of
the generator) and the textbook table: 1e-10 in float64, 1e-4 in float32.
Each expression is derived once and compiled once per backend. JAX, whose
compilations cost ~0.1 s each, runs every corpus and textbook derivative and
a subset of the op rows that uses every op. Also: the generated source
imports no part of matdiff, values from two libraries are an error, a missing
library names the extra, PyTorch keeps every intermediate on the inputs' device.
"""

from __future__ import annotations

import functools
import re
import sys
import zlib

import numpy as np
import pytest

import matdiff
from conftest import to_numpy
from layers_gallery import LAYERS, layer_values
from matdiff.errors import MatdiffError
from test_codegen import CORPUS, _values
from test_op_rows import ROWS as OP_ROWS
from textbook_table import ROWS, row_values

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")
jax.config.update("jax_enable_x64", True)

CONVERT = {
    "torch": lambda v: torch.as_tensor(np.asarray(v, dtype=float)),
    "jax": lambda v: jax.numpy.asarray(np.asarray(v, dtype=float)),
    "dask": lambda v: da.from_array(np.asarray(v, dtype=float)),
    # the portable module, on PyTorch tensors (other libraries: test_portable_on_each_library)
    "array-api": lambda v: torch.as_tensor(np.asarray(v, dtype=float)),
}
EVERY = ["torch", "jax", "dask", "array-api"]
EAGER = ["torch", "dask", "array-api"]  # no compilation per function: every op row


@functools.cache
def _derivative(text, wrt, declare=(), order=1):
    return matdiff.diff(text, wrt=wrt, declare=dict(declare) or None, order=order)


@functools.cache
def _compiled(text, wrt, declare, order, backend):
    return _derivative(text, wrt, declare, order).compile(backend=backend)


def _check(text, wrt, values, backend, declare=None, order=1):
    """The backend's result equals NumPy's at 1e-10, each compiled once per backend."""
    key = (text, wrt, tuple(sorted((declare or {}).items())), order)
    want = np.asarray(_compiled(*key, "numpy")(**values), dtype=float)
    got = _compiled(*key, backend)(**{k: CONVERT[backend](v) for k, v in values.items()})
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-10,
                               err_msg=f"{text} d{wrt} on {backend}")


@pytest.mark.parametrize("backend", EVERY)
@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c[0]} d{c[1]}^{c[2]}")
def test_every_corpus_derivative_matches_numpy(case, backend):
    text, wrt, order, declare, domain = case
    _check(text, wrt, _values(text, declare, domain), backend, declare, order)


@pytest.mark.parametrize("backend", EVERY)
@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.expression} d{r.wrt}")
def test_every_textbook_derivative_matches_numpy(row, backend):
    _check(row.expression, row.wrt, row_values(row), backend, row.declare, row.order)


def _op_names(text):
    """The functions and operators a row's text uses."""
    names = set(re.findall(r"[A-Za-z_]\w*(?=\()", text))
    names |= {op for op in ("+", "-", "*", "@", ".*", "./", ".^", "/", "^", "'", ".T",
                            "\u2297", "\u2299", "\u2298", "\u00b7") if op in text}
    return names


def _covering(rows):
    """Rows that together use every function and operator of `rows` (greedy)."""
    left = set().union(*(_op_names(r.text) for r in rows))
    out = []
    while left:
        best = max(rows, key=lambda r: len(_op_names(r.text) & left))
        out.append(best)
        left -= _op_names(best.text)
    return out


def _op_cases():
    jax_rows = {r.label for r in _covering(OP_ROWS)}
    for r in OP_ROWS:
        for backend in EVERY:
            if backend in EAGER or r.label in jax_rows:
                yield pytest.param(r, backend, id=f"{r.label}-{backend}")


@pytest.mark.parametrize(("r", "backend"), list(_op_cases()))
def test_every_op_row_matches_numpy(r, backend):
    values = r.make(np.random.default_rng(zlib.crc32(r.label.encode())))
    for wrt in r.wrt or tuple(values):
        _check(r.text, wrt, values, backend, r.declare)


@functools.cache
def _vg(name, backend):
    layer = next(x for x in LAYERS if x.name == name)
    return matdiff.value_and_grad(layer.expression, wrt=list(layer.textbook),
                                  declare=layer.declare, backend=backend)


@pytest.mark.parametrize("backend", EVERY)
@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name[:40])
def test_every_layer_gradient_matches_numpy(layer, backend):
    """One value_and_grad per layer and backend: the value and every textbook gradient."""
    values = layer_values(layer)
    v0, g0 = _vg(layer.name, "numpy")(**values)
    v, g = _vg(layer.name, backend)(**{k: CONVERT[backend](x) for k, x in values.items()})
    assert abs(float(to_numpy(v)) - v0) <= 1e-10 * max(1.0, abs(v0))
    for name, got, want in zip(layer.textbook, g, g0):
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-10,
                                   err_msg=f"{layer.name} d{name} on {backend}")


@pytest.mark.parametrize(("layer", "backend"),
                         [(x, "torch") for x in LAYERS] + [(x, "jax") for x in LAYERS[::3]],
                         ids=lambda x: x if isinstance(x, str) else x.name[:40])
def test_float32_layer_gradients_within_1e4(layer, backend):
    values = layer_values(layer)
    _, g0 = _vg(layer.name, "numpy")(**values)
    to32 = {"torch": lambda v: torch.as_tensor(np.asarray(v, dtype=np.float32)),
            "jax": lambda v: jax.numpy.asarray(np.asarray(v, dtype=np.float32))}[backend]
    _, g = _vg(layer.name, backend)(**{k: to32(x) for k, x in values.items()})
    for got, want in zip(g, g0):
        assert str(got.dtype).endswith("float32")
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-4, atol=1e-4 * scale)


# the derivations of the seed notes (tests/test_seed_notes.py)
SCALAR_Z, SCALAR_B = {"z": "scalar"}, {"b": "scalar"}
NEURON, LOSS = "max(0, w'*x + b)", "mean((y - max(0, X*w + b)).^2)"
SEED = [
    ("tanh(W*x)", "x", {}, 1), ("W*x", "x", {}, 1), ("9*(a + a^2)", "a", {}, 1),
    ("3*a^2*b", "a", {}, 1), ("3*a^2*b", "b", {}, 1), ("a*b", "a", {}, 1),
    ("w + x", "w", {}, 1), ("w - x", "x", {}, 1), ("w .* x", "w", {}, 1),
    ("w \u2297 x", "x", {}, 1), ("w ./ x", "w", {}, 1), ("w \u2298 x", "x", {}, 1),
    ("x + z", "x", SCALAR_Z, 1), ("x + z", "z", SCALAR_Z, 1), ("x * z", "x", SCALAR_Z, 1),
    ("x .* z", "z", SCALAR_Z, 1), ("sum(x)", "x", {}, 1), ("sum(sin(x) .* x)", "x", {}, 1),
    ("sum(x * z)", "x", SCALAR_Z, 1), ("sum(x * z)", "z", SCALAR_Z, 1),
    ("sin(a^2)", "a", {}, 1), ("a * sin(a) * exp(a)", "a", {}, 1),
    ("V*tanh(W*x)", "x", {}, 1), ("sin(x .^ 2)", "x", {}, 1), ("w \u00b7 x", "w", {}, 1),
    ("dot(w, x)", "w", {}, 1), ("w'*x + b", "b", SCALAR_B, 1), ("max(0, x)", "x", {}, 1),
    ("relu(x)", "x", {}, 1), (NEURON, "w", SCALAR_B, 1), (NEURON, "b", SCALAR_B, 1),
    ("max(0, w \u00b7 x + b)", "w", SCALAR_B, 1), (LOSS, "w", SCALAR_B, 1),
    (LOSS, "b", SCALAR_B, 1), ("sum((y - max(0, X*w + b)) .^ 2) / 6", "w", SCALAR_B, 1),
    (LOSS, "w", SCALAR_B, 2),
]


@pytest.mark.parametrize("backend", EVERY)
@pytest.mark.parametrize("case", SEED, ids=lambda c: f"{c[0]} d{c[1]}^{c[3]}")
def test_every_seed_note_derivation_matches_numpy(case, backend):
    text, wrt, declare, order = case
    _check(text, wrt, _values(text, declare, None), backend, declare, order)


@pytest.mark.parametrize("case", CORPUS[:12], ids=lambda c: f"{c[0]} d{c[1]}^{c[2]}")
def test_float32_torch_within_1e4(case):
    text, wrt, order, declare, domain = case
    d = matdiff.diff(text, wrt=wrt, declare=declare or None, order=order)
    values = _values(text, declare, domain)
    want = np.asarray(d.compile()(**values), dtype=float)
    got = d.compile()(**{k: torch.as_tensor(np.asarray(v, dtype=np.float32))
                        for k, v in values.items()})
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-4, atol=1e-4 * scale)


def test_value_and_grad_on_each_backend():
    rng = np.random.default_rng(0)
    vals = {"X": rng.normal(size=(30, 4)), "y": rng.normal(size=30), "w": rng.normal(size=4)}
    loss = "sum(log(1 + exp(-y .* (X*w)))) + 0.1*norm2(w)^2"
    v0, (g0,) = matdiff.value_and_grad(loss, wrt=["w"])(**vals)
    for name, conv in CONVERT.items():
        f = matdiff.value_and_grad(loss, wrt=["w"], backend=name)
        v, (g,) = f(**{k: conv(x) for k, x in vals.items()})
        assert abs(float(to_numpy(v)) - v0) < 1e-10
        np.testing.assert_allclose(to_numpy(g), g0, rtol=1e-10)


LIBRARIES = {"torch": {"torch", "array_api_compat"}, "jax": {"jax"}, "cupy": {"cupy",
             "array_api_compat", "cupyx"}, "dask": {"numpy", "dask", "array_api_compat"},
             "array-api": {"array_api_compat", "torch", "jax", "cupyx", "scipy"}}


@pytest.mark.parametrize("backend", ["torch", "jax", "dask", "cupy", "array-api"])
def test_generated_source_imports_only_its_library(backend):
    """Standard spellings through `xp`; the library's own only where the standard has none."""
    d = matdiff.diff("sum(softmax(A*x)) + logdet(B) + sum(sigmoid(x)) + sum(erf(A*x)) "
                     "+ sum(logsumexp(diag(x)*A, 2))", wrt="x")
    src = d.source(backend=backend)
    imports = [ln.split()[1].split(".")[0] for ln in src.splitlines()
               if ln.lstrip().startswith(("import ", "from "))]
    assert set(imports) <= LIBRARIES[backend], imports
    assert "np." not in src.replace("np.linalg", "").replace("np.asarray", "")
    assert "xp." in src
    compile(src, "<generated>", "exec")  # it is Python


@pytest.mark.parametrize("library", ["numpy", "torch", "jax", "dask"])
def test_portable_module_on_each_library(library):
    """backend="array-api": one module, the namespace of the values found per call."""
    conv = {"numpy": np.asarray, **CONVERT}[library]
    step = {"numpy": 3, "torch": 3, "dask": 6, "jax": 18}[library]  # JAX eager is slow
    for text, wrt, order, declare, domain in CORPUS[::step]:
        values = _values(text, declare, domain)
        key = (text, wrt, tuple(sorted((declare or {}).items())), order)
        want = np.asarray(_compiled(*key, "numpy")(**values), dtype=float)
        got = _compiled(*key, "array-api")(**{k: conv(v) for k, v in values.items()})
        assert type(got).__module__.startswith(library), type(got)  # jaxlib for jax
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-10, atol=1e-10)


def test_the_numpy_code_is_unchanged():
    """The NumPy module keeps its own spellings (x.sum(axis=0), np.einsum, the syrk helper)."""
    d = matdiff.diff("sum(w .* (X*v).^2)", wrt="v", order=2)  # 2 X' diag(w) X: syrk
    src = d.source()
    assert "import numpy as np" in src and "xp." not in src
    assert "_gram(" in src and "Q.T @ Q" in src
    for backend in ("torch", "jax", "dask", "array-api"):
        other = d.source(backend=backend)
        assert "_gram(" in other and "(w[:, None] * P).T @ P" in other


def test_two_libraries_in_one_call_is_an_error():
    f = matdiff.diff("x'*A*x", wrt="x").compile()
    with pytest.raises(MatdiffError, match="different array libraries") as e:
        f(x=torch.ones(3, dtype=torch.float64), A=jax.numpy.eye(3))
    assert "'x' is torch" in str(e.value) and "'A' is jax" in str(e.value)
    g = matdiff.diff("x'*A*x", wrt="x").compile(backend="array-api")
    with pytest.raises(MatdiffError, match="different array libraries"):
        g(x=torch.ones(3, dtype=torch.float64), A=da.eye(3))


def test_numpy_data_with_torch_parameters_converts_when_the_backend_is_named():
    """backend="torch" converts NumPy arrays (docs/backends.md); backend=None refuses the mix,
    saying how to convert."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 3)), np.sign(rng.standard_normal(6))
    w = torch.zeros(3, dtype=torch.float64)
    loss = "sum(log(1 + exp(-y .* (X*w))))"
    want = matdiff.value_and_grad(loss, wrt="w")(X=X, y=y, w=np.zeros(3))
    value, grad = matdiff.value_and_grad(loss, wrt="w", backend="torch")(X=X, y=y, w=w)
    assert torch.is_tensor(grad) and grad.dtype == torch.float64
    np.testing.assert_allclose(grad.numpy(), want[1], rtol=1e-12)
    with pytest.raises(MatdiffError, match="compile with backend='torch', which converts"):
        matdiff.value_and_grad(loss, wrt="w")(X=X, y=y, w=w)


def test_mixed_dtypes_are_refused_naming_the_variables():
    """float32 data with float64 parameters (or the reverse) made PyTorch raise its own
    `addmv input tensors must have the same dtype` from inside the generated code."""
    rng = np.random.default_rng(1)
    X = torch.as_tensor(rng.standard_normal((6, 3)), dtype=torch.float32)
    y = torch.ones(6, dtype=torch.float32)
    loss = "sum(log(1 + exp(-y .* (X*w))))"
    g = matdiff.diff(loss, wrt="w").compile(backend="torch")
    vg = matdiff.value_and_grad(loss, wrt="w")
    for fn in (g, vg):
        fn(X=X, y=y, w=torch.zeros(3))  # one dtype: the short path knows the shapes
        with pytest.raises(MatdiffError, match=r"the values mix float32 \('X', 'y'\) and "
                                               r"float64 \('w'\).*x\.float\(\)"):
            fn(X=X, y=y, w=torch.zeros(3, dtype=torch.float64))
        with pytest.raises(MatdiffError, match=r"mix float64 \('X', 'y'\) and float32"):
            fn(X=X.double(), y=y.double(), w=torch.zeros(3))
    # numbers, integers and NumPy float32 data join the tensors' dtype
    lam = matdiff.value_and_grad(loss + " + lam*sum(w.^2)", wrt="w",
                                 declare={"lam": "scalar"}, backend="torch")
    value, grad = lam(X=X.numpy(), y=[1, 1, 1, 1, 1, 1], w=torch.zeros(3), lam=0.5)
    assert grad.dtype == torch.float32 and value.dtype == torch.float32


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
    for backend, module in [("torch", "torch"), ("jax", "jax"), ("dask", "dask.array"),
                            ("array-api", "array_api_compat"), ("torch", "array_api_compat")]:
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)  # import fails as if not installed
            with pytest.raises(MatdiffError, match=rf"needs {module}.*"
                                                   r"pip install 'matdiff\[backends\]'"):
                d.compile(backend=backend)
            with pytest.raises(MatdiffError, match=r"matdiff\[backends\]"):
                matdiff.value_and_grad("x'*x", wrt=["x"], backend=backend)
            assert "def derivative" in d.source(backend=backend)  # no library needed to print


def test_the_extra_named_in_errors_exists():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    extra = re.search(r"^backends = \[(.*?)^\]", text, re.M | re.S).group(1)
    for package in ("array-api-compat", "torch", "jax", "dask"):
        assert f'"{package}' in extra, package


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


@pytest.mark.parametrize("backend", ["torch", "jax", "cupy", "dask", "array-api"])
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
        np.testing.assert_allclose(to_numpy(got), 2 * X.T @ (X @ w - y), rtol=1e-10)


def _order(src, values):
    import re

    params = re.search(r"def derivative\(([^)]*)\)", src).group(1).split(", ")
    return [values[p] for p in params]


def test_adding_a_backend_is_one_record(monkeypatch):
    """The command line's choices, detection of arrays and the names generated code
    reserves read BACKENDS: a new record is seen by each (docs/contributing.md)."""
    import argparse
    import dataclasses

    from matdiff.codegen import backends
    from matdiff.commands import codegen as command

    record = dataclasses.replace(backends.BACKENDS["numpy"], name="numpy-like",
                                 header="import numpy as npl", summary="a test backend")
    monkeypatch.setitem(backends.BACKENDS, "numpy-like", record)
    assert "npl" in record.reserved
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["x'*x", "--wrt", "x", "--backend", "numpy-like"])
    assert args.backend == "numpy-like"
    for name in ("numpy", "torch", "jax", "cupy", "dask"):
        b = backends.BACKENDS[name]
        assert b.detect and b.convert is not None and b.summary, name
