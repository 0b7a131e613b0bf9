"""Training a network written as a program: fit with several parameters and an initialiser
each, `matdiff fit -f model.txt`, and the MLP example on scikit-learn's digits."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import matdiff
from matdiff.cli import main

ROOT = Path(__file__).resolve().parents[1]

REGRESSION = """b1: vector
c: scalar
Z1 = X*W1 + b1'
H1 = tanh(Z1)
p = H1*w2 + c
L = mean((p - y).^2)
"""


def data(n: int = 120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]
    return X, y


def numpy_loss(p, X, y) -> float:
    h = np.tanh(X @ p["W1"] + p["b1"])
    return float(np.mean((h @ p["w2"] + p["c"] - y) ** 2))


def test_fit_a_program_with_an_initialiser_per_parameter() -> None:
    X, y = data()
    params = {"W1": "glorot:3x16", "b1": "zeros:16", "w2": np.full(16, 0.1), "c": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        r = matdiff.fit(REGRESSION, params=params, data={"X": X, "y": y}, optimizer="adam",
                        lr=0.02, epochs=150, progress=False)
    assert set(r.params) == {"W1", "b1", "w2", "c"}
    assert r.params["W1"].shape == (3, 16) and np.shape(r.params["c"]) == ()
    start = numpy_loss({"W1": np.zeros((3, 16)), "b1": np.zeros(16), "w2": np.full(16, 0.1),
                        "c": 0.0}, X, y)
    assert r.loss == pytest.approx(numpy_loss(r.params, X, y), rel=1e-9)
    assert r.loss < 0.2 * start


def test_fit_cli_reads_a_program_file(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    X, y = data()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    (tmp_path / "model.txt").write_text(REGRESSION, encoding="utf-8")
    code = main(["fit", "-f", "model.txt", "--data", "d.npz", "--param", "W1=he:3x8",
                 "--param", "b1=zeros:8", "--param", "w2=normal:8", "--param", "c=0",
                 "--epochs", "20", "--lr", "0.02", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    saved = np.load(tmp_path / "params.npz")
    assert saved["W1"].shape == (3, 8) and saved["w2"].shape == (8,)
    assert main(["fit", "-f", "model.txt", "--of", "p", "--data", "d.npz",
                 "--param", "c=0", "--quiet"]) == 2
    assert "scalar" in capsys.readouterr().err


def test_the_mlp_digits_example_reaches_95_percent(tmp_path) -> None:
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("mlp_digits", ROOT / "examples/mlp_digits.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    plot = tmp_path / "curves.png"
    args = ["--epochs", "8", "--target", "0.95"]
    args += ["--plot", str(plot)] if importlib.util.find_spec("matplotlib") else ["--plot", ""]
    assert example.main(args) == 0
    assert not importlib.util.find_spec("matplotlib") or plot.stat().st_size > 1000
