"""Convolution and pooling layers: gradients as a person writes them, programs, backends, fit.

The op rows (test_op_rows.py) check every window op's value, gradient and Hessian
against finite differences; here: the printed forms, the backward pass of a
several-channel layer and of a small CNN, `compare` on a learner's answers,
every backend against the reference, and training a CNN with `fit`.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

import matdiff
from conftest import assert_matches
from matdiff.errors import MatdiffError
from matdiff.ir.expr import topo_order
from matdiff.ir.ops import WINDOW_OPS, window_ranks

SIZES = {"X": "matrix(6, 6)", "K": "matrix(3, 3)", "G": "matrix(4, 4)"}
STRIDED = {"X": "matrix(7, 7)", "K": "matrix(3, 3)", "G": "matrix(4, 4)"}


def _values(declare: dict, seed: int = 0) -> dict:
    r = np.random.default_rng(seed)
    out = {}
    for name, spec in declare.items():
        sizes = [int(x) for x in spec[spec.index("(") + 1:-1].split(",")] if "(" in spec else []
        out[name] = r.normal(size=tuple(sizes)) if sizes else float(r.normal())
    return out


@pytest.mark.parametrize(("text", "declare", "wrt", "printed"), [
    ("sum(G .* conv2(X, K))", SIZES, "X", "conv2(G, rot180(K), 2)"),
    ("sum(G .* conv2(X, K))", SIZES, "K", "conv2(X, G)"),
    ("sum(G .* conv2(X, K, 1, 2))", STRIDED, "X", "conv2(dilate(G, 2), rot180(K), 1)"),
    ("sum(G .* conv2(X, K, 1, 2))", STRIDED, "K", "conv2(X, dilate(G, 2), 1)"),
    ("sum(g .* conv1(x, k))", {"x": "vector(6)", "k": "vector(3)", "g": "vector(4)"}, "x",
     "conv1(g, rot180(k), 2)"),
    ("sum(G .* meanpool(X, 2))", {"X": "matrix(4, 6)", "G": "matrix(2, 3)"}, "X",
     "upsample(G, 2)/4"),
    ("sum(G .* rot180(X))", {"X": "matrix(2, 3)", "G": "matrix(2, 3)"}, "X", "rot180(G)"),
    # no upstream gradient: the ones it stands for are sized (nothing else gives the size)
    ("sum(conv2(X, K))", SIZES, "K", "conv2(X, ones(4, 4))"),
    ("2*sum(conv2(X, K))", SIZES, "X", "2*conv2(ones(4, 4), rot180(K), 2)"),
])
def test_gradients_print_as_a_person_writes_them(text, declare, wrt, printed) -> None:
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert d.to_text() == printed
    values = _values(declare)
    assert_matches(matdiff.parse(printed, declare).evaluate(values), d.evaluate(values),
                   what=f"{printed} parsed back")
    assert d.check() < 1e-6


@pytest.mark.parametrize(("kernel", "printed"), [
    ((3, 2), "2*conv2(conv2(X, K), [matrix(0, 3, 1), rot180(K), matrix(0, 3, 1)], 2)"),
    ((2, 3), "2*conv2(conv2(X, K), [matrix(0, 1, 3); rot180(K); matrix(0, 1, 3)], 2)"),
    ((1, 3), "2*conv2(conv2(X, K), [matrix(0, 2, 3); rot180(K); matrix(0, 2, 3)], 2)"),
])
def test_a_rectangular_kernels_input_gradient_is_a_convolution(kernel, printed) -> None:
    """The language pads both axes alike, so the full correlation with a k x l kernel is
    the one with the flipped kernel bordered by k - l zero columns (or rows) each side; it
    was index notation. Strided and padded layers too; every text reads back."""
    from printed_truth import check_backward, check_derivative

    k, l = kernel
    declare = {"X": f"matrix({k + 4}, {l + 4})", "K": f"matrix({k}, {l})"}
    layers = ["conv2(X, K)", "conv2(X, K, 0, 2)"] + (["conv2(X, K, 1)"] if min(kernel) > 1
                                                      else [])
    for layer in layers:
        d = matdiff.diff(f"sum(sum({layer}.^2))", wrt="X", declare=declare)
        assert "rot180(K)" in d.to_text() and "δ" not in d.to_text(), d.to_text()
        check_derivative(d)
        assert d.check() < 1e-6
    assert matdiff.diff("sum(sum(conv2(X, K).^2))", wrt="X", declare=declare).to_text() == \
        printed
    check_backward(matdiff.grad("Z = conv2(X, K)\nL = sum(sum(relu(Z).^2))", wrt=["X", "K"],
                                declare=declare))


def test_a_gradient_never_builds_the_dense_jacobian() -> None:
    """Every window op of a conv net's gradient acts on a matrix, not on a Jacobian with the
    variable's axes riding along: the adjoint moved it onto the upstream gradient."""
    net = "sum(maxpool(relu(conv2(X, K, 2) + b), 2) .* G)"
    declare = {"X": "matrix(64, 64)", "K": "matrix(5, 5)", "G": "matrix(32, 32)", "b": "scalar"}
    for wrt in ("X", "K", "b"):
        d = matdiff.diff(net, wrt=wrt, declare=declare)
        for node in topo_order(d.ir):
            if node.op in WINDOW_OPS:
                rank, out_rank = window_ranks(node.op, node.attr)
                assert node.ndim == out_rank, f"d/d{wrt}: {node.op.value} of a Jacobian"


def test_backward_pass_of_several_channels() -> None:
    program = """Z = conv2(X1, K11) + conv2(X2, K21) + b
loss = sum(relu(Z) .* G)"""
    declare = {"X1": "matrix(6, 6)", "X2": "matrix(6, 6)", "K11": "matrix(3, 3)",
               "K21": "matrix(3, 3)", "G": "matrix(4, 4)", "b": "scalar"}
    g = matdiff.grad(program, wrt=["K11", "K21", "b", "X2"], declare=declare)
    lines = str(g).splitlines()
    assert "dK11 = conv2(X1, dZ)" in lines
    assert "dK21 = conv2(X2, dZ)" in lines
    assert "dX2 = conv2(dZ, rot180(K21), 2)" in lines
    assert "db = sum(dZ)" in lines
    values = _values(declare)
    for name in g:
        assert g[name].check() < 1e-6
    value, grads = matdiff.value_and_grad(program, wrt=list(g), declare=declare)(**values)
    for name, got in zip(g, grads):
        assert_matches(got, g[name].evaluate(values), what=f"compiled d{name}")


CNN = """Z = conv2(X, K) + b
P = maxpool(relu(Z), 2)
s = W*vec(P) + c
loss = -y'*logsoftmax(s)"""
CNN_SIZES = {"X": "matrix(8, 8)", "K": "matrix(3, 3)", "b": "scalar", "W": "matrix(10, 9)",
             "c": "vector(10)", "y": "one-hot vector(10)"}


def test_cnn_backward_pass_reads_like_the_textbook() -> None:
    g = matdiff.grad(CNN, wrt=["W", "c", "K", "b"], declare=CNN_SIZES)
    lines = str(g).splitlines()
    assert lines[0] == "ds = softmax(s) - y"
    assert "dW = ds*vec(P)'" in lines
    assert "dK = conv2(X, dZ)" in lines
    dz = next(ln for ln in lines if ln.startswith("dZ = "))
    assert "reshape(W'*ds, 3, 3)" in dz and "upsample(" in dz and "step(Z)" in dz
    for name in g:
        assert g[name].check() < 1e-6


def test_maxpool_splits_a_tie_evenly() -> None:
    d = matdiff.diff("sum(maxpool(X, 2))", wrt="X", declare={"X": "matrix(2, 4)"})
    X = np.array([[1.0, 1.0, 0.0, 3.0], [0.0, -1.0, 2.0, 1.0]])
    assert_matches(d.evaluate({"X": X}), np.array([[0.5, 0.5, 0, 1], [0, 0, 0, 0]]))


def test_compare_judges_a_learners_conv_gradients() -> None:
    of = "sum(G .* conv2(X, K))"
    assert matdiff.compare("conv2(G, rot180(K), 2)", of=of, wrt="X", declare=SIZES).equal
    assert not matdiff.compare("conv2(G, K, 2)", of=of, wrt="X", declare=SIZES).equal
    assert matdiff.compare("conv2(X, G)", of=of, wrt="K", declare=SIZES).equal
    assert not matdiff.compare("rot180(conv2(X, G))", of=of, wrt="K", declare=SIZES).equal
    # a backward pass through the layer, written with the forward values
    program = "Z = conv2(X, K) + b\nloss = sum(relu(Z) .* G)"
    declare = {**SIZES, "b": "scalar"}
    right = "conv2(X, G .* step(conv2(X, K) + b))"
    assert matdiff.compare(right, of=program, wrt="K", declare=declare).equal
    assert not matdiff.compare("conv2(X, G)", of=program, wrt="K", declare=declare).equal


@pytest.mark.parametrize(("text", "declare", "message"), [
    ("conv2(X, K)", {}, "sizes of the input as numbers"),
    ("conv2(X, K, 0, 2)", {"X": "matrix(6, 6)", "K": "matrix(3, 3)"}, "multiple of 2"),
    ("conv2(X, K, 3)", {"X": "matrix(6, 6)", "K": "matrix(3, 3)"}, "at most the kernel"),
    ("conv2(X, K)", {"X": "matrix(2, 2)", "K": "matrix(3, 3)"}, "larger than the padded"),
    ("conv2(X, k)", {"X": "matrix(6, 6)", "k": "vector(3)"}, "kernel of conv2() is a matrix"),
    ("conv1(X, k)", {"X": "matrix(6, 6)", "k": "vector(3)"}, "takes a (column) vector"),
    ("maxpool(X, 4)", {"X": "matrix(6, 6)"}, "multiples of 4"),
    ("maxpool(X, s)", {"X": "matrix(6, 6)"}, "written as a number"),
    ("reshape(x, 2, 2)", {"x": "vector(6)"}, "a vector of 4 entries"),
])
def test_bad_window_calls_are_errors_with_a_position(text, declare, message) -> None:
    with pytest.raises(MatdiffError, match=re.escape(message)) as err:
        matdiff.parse(text, declare)
    assert "line 1" in str(err.value)


def _to(backend: str, x):
    if backend == "torch":
        import torch
        return torch.tensor(np.asarray(x, dtype=np.float64))
    if backend == "jax":
        import jax.numpy as jnp
        return jnp.asarray(np.asarray(x, dtype=np.float32))
    if backend == "dask":
        import dask.array as da
        return da.from_array(np.asarray(x, dtype=np.float64))
    return x


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "dask", "array-api"])
def test_every_backend_computes_the_cnn_gradients(backend) -> None:
    module = {"array-api": "array_api_compat", "dask": "dask.array"}.get(backend, backend)
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module} is not installed")
    program = CNN.replace("Z = conv2(X, K) + b", "Z = conv2(X, K, 1, 2) + b")
    declare = {**CNN_SIZES, "X": "matrix(11, 11)"}
    wrt = ["K", "b", "W", "c", "X"]
    values = _values({k: v.replace("one-hot ", "") for k, v in declare.items()})
    values["y"] = np.eye(10)[3]
    g = matdiff.grad(program, wrt=wrt, declare=declare)
    f = matdiff.value_and_grad(program, wrt=wrt, declare=declare, backend=backend)
    _, grads = f(**{k: _to(backend, v) for k, v in values.items()})
    tol = 1e-4 if backend == "jax" else 1e-9
    for name, got in zip(wrt, grads):
        want = np.asarray(g[name].evaluate(values))
        assert np.allclose(np.asarray(got), want, atol=tol * (1 + np.abs(want).max())), name


def test_fit_trains_a_cnn_on_a_stack_of_digits() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X, y = digits.images[:120] / 16.0, np.eye(10)[digits.target[:120]]
    params = {"K": "he", "b": 0.0, "W": "glorot", "c": "zeros"}
    result = matdiff.fit(CNN, params=params, data={"X": X, "y": y}, declare=CNN_SIZES,
                         lr=0.05, epochs=4, batch_size=20, progress=False)
    assert result.history[-1] < 0.8 * result.history[0]
    assert result.params["K"].shape == (3, 3) and result.params["W"].shape == (10, 9)


def test_fit_refuses_a_stack_beside_a_batch() -> None:
    X, y = np.zeros((5, 8, 8)), np.zeros(10)
    with pytest.raises(MatdiffError, match="stack"):
        matdiff.fit(CNN, params={"K": "he", "b": 0.0, "W": "glorot", "c": "zeros"},
                    data={"X": X, "y": y}, declare=CNN_SIZES, epochs=1, progress=False)


def test_every_step_of_a_pooled_layer_holds() -> None:
    """The explanation's steps, each checked numerically: max pooling over relu's zeros ties,
    a kink at the point itself that the step check now recognises (the forward difference
    disagrees with the central one), as it did relu's."""
    declare = {"X": "matrix(6, 6)", "K": "matrix(3, 3)", "G": "matrix(2, 2)", "b": "scalar"}
    for wrt in ("K", "X", "b"):
        d = matdiff.diff("sum(G .* maxpool(relu(conv2(X, K) + b), 2))", wrt=wrt,
                         declare=declare)
        assert d.check_steps().ok, (wrt, str(d.check_steps()))


def test_the_cnn_digits_example_runs() -> None:
    """examples/cnn_digits.py, small: its backward pass printed, and it learns."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("sklearn")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "examples/cnn_digits.py"), "--train", "400",
                          "--epochs", "6", "--channels", "2", "--target", "0.5"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dK1 = conv2(X, dZ1)" in run.stdout
    assert "dW1 = ds*vec(P1)'" in run.stdout
