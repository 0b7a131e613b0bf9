"""`matdiff demo`: the seed notes end to end, on small settings."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.cli import main
from matdiff.demo import NEURON_LOSS, load_demo_data, notes_gradients, run_demo


def test_derived_gradients_equal_the_notes_formulas():
    X, y, _, _ = load_demo_data(real=False)
    rng = np.random.default_rng(0)
    values = {"X": X[:25], "y": y[:25], "w": rng.normal(size=X.shape[1]), "b": 0.2}
    gw, gb = notes_gradients(values["X"], values["y"], values["w"], values["b"])
    np.testing.assert_allclose(matdiff.diff(NEURON_LOSS, wrt="w").evaluate(values), gw,
                               atol=1e-12)
    assert float(matdiff.diff(NEURON_LOSS, wrt="b").evaluate(values)) == \
        pytest.approx(gb, abs=1e-12)


def test_demo_on_generated_data(tmp_path):
    lines: list[str] = []
    plot = str(tmp_path / "demo.png")
    summary = run_demo(epochs=8, real=False, plot=plot, write=lines.append)
    text = "\n".join(lines)
    assert summary["checks_pass"]
    assert summary["data"] == "generated"
    assert summary["final_loss"] < 0.5 * summary["initial_loss"]
    assert "least-squares" in text and "finite differences" in text
    if summary["plot"]:
        assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_on_the_real_data_set_when_sklearn_is_installed():
    pytest.importorskip("sklearn")
    summary = run_demo(epochs=15, plot=None, steps=False, write=lambda s: None)
    assert summary["data"] == "diabetes"
    # the neuron gets within 5% of the least-squares optimum on diabetes
    assert summary["final_loss"] < 1.05 * summary["least_squares_loss"]


def test_demo_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--generated", "--epochs", "5", "--no-plot", "--no-steps"]) == 0
    out = capsys.readouterr().out
    assert "dC/dw" in out and "generated data" in out and "final loss" in out
    assert not (tmp_path / "matdiff-demo.png").exists()


@pytest.fixture()
def no_extras(monkeypatch):
    """As if scikit-learn and matplotlib were not installed."""
    import importlib.util
    import sys

    real = importlib.util.find_spec
    hidden = ("sklearn", "matplotlib")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in hidden else real(name, *a))
    for name in ("matplotlib", "matplotlib.figure", "sklearn", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, name, None)


def test_demo_works_without_the_extras(no_extras, tmp_path):
    lines: list[str] = []
    summary = run_demo(epochs=3, plot=str(tmp_path / "x.png"), write=lines.append)
    text = "\n".join(lines)
    assert summary["data"] == "generated" and summary["plot"] is None
    assert "scikit-learn is not installed" in text and "matplotlib is not installed" in text
    assert not (tmp_path / "x.png").exists()


def test_plot_without_matplotlib_is_a_clear_error(no_extras, tmp_path):
    from matdiff import MatdiffError
    from matdiff.optim import plot_history

    with pytest.raises(MatdiffError, match="needs matplotlib"):
        plot_history([3.0, 2.0, 1.0], tmp_path / "x.png")


def test_demo_shows_the_steps_and_cuts_a_long_derivation(monkeypatch):
    from matdiff.api import Derivative

    monkeypatch.setattr(Derivative, "explain",
                        lambda self, format="text": "\n".join(f"rule {i}" for i in range(50)))
    lines: list[str] = []
    run_demo(epochs=1, real=False, plot=None, write=lines.append)
    text = "\n".join(lines)
    assert "step by step" in text and "rule 39" in text and "rule 40" not in text
    assert "10 more lines" in text and "--steps" in text
