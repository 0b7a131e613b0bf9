"""`matdiff fit` on small generated .npz and .csv files, and data loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

import matdiff
from matdiff import MatdiffError, parse
from matdiff.cli import main
from matdiff.optim import load_data

LS = "mean((X*w + b - y).^2)"
W = np.array([1.0, -2.0, 0.5])


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ W + 0.7
    np.savez(tmp_path / "d.npz", X=X, y=y, unused=np.arange(3))
    rows = ["x1,x2,x3,y"] + [",".join(str(float(v)) for v in [*r, t])
                             for r, t in zip(X, y, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_fit_npz_prints_progress_and_saves_params(files, capsys):
    code = main(["fit", LS, "--data", "d.npz", "--param", "w=zeros", "--param", "b=0",
                 "--optimizer", "adam", "--lr", "0.1", "--epochs", "300"])
    out = capsys.readouterr().out
    assert code == 0
    assert "epoch      1  loss" in out and "final loss" in out
    saved = np.load(files / "params.npz")
    np.testing.assert_allclose(saved["w"], W, atol=1e-4)
    assert float(saved["b"]) == pytest.approx(0.7, abs=1e-4)


def test_fit_csv_with_lbfgs_json_plot_and_out(files, capsys):
    pytest.importorskip("scipy")
    args = ["fit", LS, "--data", "d.csv", "--param", "w=zeros", "--param", "b=0",
            "--optimizer", "lbfgs", "--epochs", "50", "--out", "p.npz", "--json"]
    plot = pytest.importorskip("matplotlib") and ["--plot", "loss.png"]
    assert main(args + plot) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["final_loss"] < 1e-12
    np.testing.assert_allclose(record["params"]["w"], W, atol=1e-6)
    assert (files / "p.npz").exists() and (files / "loss.png").exists()


def test_lbfgs_says_it_converged_and_the_run_reports_its_cost(files, capsys):
    """L-BFGS stopped before its epochs without saying it had converged; FitResult and
    --json now tell convergence, gradient evaluations, data passes and rows per second."""
    pytest.importorskip("scipy")
    args = ["fit", LS, "--data", "d.npz", "--param", "w=zeros", "--param", "b=0",
            "--optimizer", "lbfgs", "--epochs", "50"]
    assert main(args + ["--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["converged"] is True and record["epochs"] < 50
    assert record["message"].startswith(f"converged after {record['epochs']} of 50 epochs: ")
    assert record["gradient_evaluations"] >= record["epochs"] + 1
    assert record["data_passes"] == record["gradient_evaluations"]  # each one is full-batch
    assert record["rows_per_second"] == pytest.approx(
        40 * record["data_passes"] / record["seconds"])
    assert main(args) == 0
    assert "  converged after" in capsys.readouterr().out
    assert main(args[:-2] + ["--epochs", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["converged"] is False and record["message"] == (
        "ran its 2 epochs without converging")


def test_a_minibatch_run_counts_its_evaluations_and_passes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    r = matdiff.fit(LS, {"w": "zeros", "b": 0.0}, {"X": X, "y": X @ W}, epochs=3,
                    batch_size=30)  # 4 batches an epoch, and the final loss
    assert (r.gradient_evaluations, r.data_passes, r.converged) == (13, 4.0, False)
    assert r.message == "ran its 3 epochs" and r.rows_per_second > 0


def test_fit_minibatch_momentum_options(files, capsys):
    code = main(["fit", LS, "--data", "d.csv", "--param", "w=zeros", "--param", "b=0",
                 "--optimizer", "momentum", "--nesterov", "--momentum", "0.8",
                 "--batch-size", "8", "--epochs", "60", "--every", "20", "--out", "-"])
    out = capsys.readouterr().out
    assert code == 0 and "nesterov=True" in out and "momentum=0.8" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == \
        ["1", "20", "40", "60"]
    assert not (files / "params.npz").exists()


def test_fit_const_and_option(files, capsys):
    code = main(["fit", LS + " + lam*w'*w", "--declare", "lam=scalar", "--const", "lam=0",
                 "--data", "d.npz", "--param", "w=zeros", "--param", "b=0", "--lr", "0.1",
                 "--option", "beta2=0.99", "--epochs", "5", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "beta2=0.99" in out and len(out.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--param", "v=zeros"], "parameter 'v' does not occur"),
    (["--param", "w=zeros:4", "--param", "b=0"], "dimension"),
    (["--param", "w=zeros", "--param", "b=0", "--optimizer", "adagrad"], "valid names"),
    (["--param", "w", "--param", "b=0"], "NAME=VALUE"),
])
def test_fit_errors_exit_2_with_a_message(files, capsys, args, message):
    assert main(["fit", LS, "--data", "d.npz", *args]) == 2
    assert message in capsys.readouterr().err


def test_divergence_saves_the_last_finite_params(files, capsys):
    code = main(["fit", LS, "--data", "d.npz", "--param", "w=zeros", "--param", "b=0",
                 "--optimizer", "sgd", "--lr", "100", "--epochs", "400", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "training diverged" in err and "saved the best parameters" in err
    saved = np.load(files / "params.npz")
    assert np.all(np.isfinite(saved["w"]))


def test_csv_rules_named_columns_and_leftovers(tmp_path):
    loss = parse("mean((X*w + b - y).^2) + sum((Z*v).^2)")
    path = tmp_path / "t.csv"
    path.write_text("y,a,Z[0],Z[1],c\n1,2,3,4,5\n6,7,8,9,10\n")
    data = load_data(path, loss.variables, wanted=["X", "y", "Z"])
    np.testing.assert_array_equal(data["y"], [1, 6])
    np.testing.assert_array_equal(data["Z"], [[3, 4], [8, 9]])
    np.testing.assert_array_equal(data["X"], [[2, 5], [7, 10]])  # the leftovers


@pytest.mark.parametrize("text, message", [
    ("1,2\n3,4\n", "header row"),
    ("a,b\n1,x\n", "line 2, column 'b'"),
    ("a,b\n1,2,3\n", "3 fields"),
    ("a,b\n", "no rows"),
])
def test_csv_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(MatdiffError, match=message):
        load_data(path)


def test_data_file_kinds(tmp_path):
    with pytest.raises(MatdiffError, match="no such data file"):
        load_data(tmp_path / "none.npz")
    (tmp_path / "d.txt").write_text("1")
    with pytest.raises(MatdiffError, match=".npz or .csv"):
        load_data(tmp_path / "d.txt")


def test_fit_initial_values_from_npy_and_initialisers(files, capsys):
    np.save(files / "w0.npy", W)
    code = main(["fit", LS, "--data", "d.npz", "--param", "w=w0.npy", "--param", "b=he:",
                 "--optimizer", "sgd", "--lr", "0.1", "--epochs", "200", "--quiet"])
    assert code == 0, capsys.readouterr().err
    saved = np.load(files / "params.npz")
    np.testing.assert_allclose(saved["w"], W, atol=1e-6)
    assert float(saved["b"]) == pytest.approx(0.7, abs=1e-6)
