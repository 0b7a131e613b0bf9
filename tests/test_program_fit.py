"""Training a network written as a program: fit with several parameters and an initialiser
each, `matdiff fit -f model.txt`, and the MLP example on scikit-learn's digits."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def _isolated(code: str, cwd: Path) -> str:
    """Run `code` in a fresh interpreter (training leaves no global state in this one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=cwd, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


FIT = f"""
import warnings, numpy as np, matdiff
warnings.simplefilter("ignore", matdiff.MatdiffWarning)
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 3)); y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]
params = {{"W1": "glorot:3x16", "b1": "zeros:16", "w2": np.full(16, 0.1), "c": 0.0}}
r = matdiff.fit({REGRESSION!r}, params=params, data={{"X": X, "y": y}}, optimizer="adam",
                lr=0.02, epochs=150, progress=False)
h = np.tanh(X @ r.params["W1"] + r.params["b1"])
mine = float(np.mean((h @ r.params["w2"] + r.params["c"] - y) ** 2))
start = float(np.mean((np.full(16, 0.1) @ np.zeros((16,)) + 0 * X[:, 0] - y) ** 2))
assert set(r.params) == {{"W1", "b1", "w2", "c"}}, r.params
assert r.params["W1"].shape == (3, 16) and np.shape(r.params["c"]) == ()
assert abs(r.loss - mine) <= 1e-9 * mine, (r.loss, mine)
assert r.loss < 0.2 * start, (r.loss, start)
print("ok")
"""


def test_fit_a_program_with_an_initialiser_per_parameter(tmp_path) -> None:
    assert _isolated(FIT, tmp_path).strip() == "ok"


def test_fit_cli_reads_a_program_file(tmp_path) -> None:
    X, y = data()
    np.savez(tmp_path / "d.npz", X=X, y=y)
    (tmp_path / "model.txt").write_text(REGRESSION, encoding="utf-8")
    code = """
import sys
from matdiff.cli import main
assert main(["fit", "-f", "model.txt", "--data", "d.npz", "--param", "W1=he:3x8",
             "--param", "b1=zeros:8", "--param", "w2=normal:8", "--param", "c=0",
             "--epochs", "20", "--lr", "0.02", "--quiet"]) == 0
assert main(["fit", "-f", "model.txt", "--of", "p", "--data", "d.npz",
             "--param", "c=0", "--quiet"]) == 2
"""
    _isolated(code, tmp_path)
    saved = np.load(tmp_path / "params.npz")
    assert saved["W1"].shape == (3, 8) and saved["w2"].shape == (8,)


def test_the_mlp_digits_example_reaches_95_percent(tmp_path) -> None:
    """Run as a script, in its own process (training leaves no state behind)."""
    pytest.importorskip("sklearn")
    plot = tmp_path / "curves.png"
    has_plot = importlib.util.find_spec("matplotlib") is not None
    run = subprocess.run([sys.executable, str(ROOT / "examples/mlp_digits.py"), "--epochs", "8",
                          "--target", "0.95", "--plot", str(plot) if has_plot else ""],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dW1 = X'*dZ1" in run.stdout
    assert not has_plot or plot.stat().st_size > 1000
