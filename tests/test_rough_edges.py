"""Rough edges a new user meets: expressions that start with a minus, a repeated --wrt,
names typed by their first letter, --const weights, the loss that is not a scalar, hints
for common slips, a check that tested nothing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import matdiff
from matdiff.cli import main


@pytest.fixture()
def ridge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    np.savez(tmp_path / "d.npz", X=X, y=X @ np.array([1.0, 2.0, 3.0]))
    return tmp_path


def test_an_expression_starting_with_a_minus_is_not_an_option(capsys):
    code = main(["diff", "-y'*log(softmax(W*x+b))", "--wrt", "W"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # b is a scalar (first letter): softmax(W*x + b) = softmax(W*x), the shift cancels
    assert out.strip() == "sum(y)*softmax(W*x)*x' - y*x'"
    assert main(["diff", "-x", "--wrt", "x", "--declare", "x=scalar"]) == 0
    assert capsys.readouterr().out.strip() == "-1"


def test_fit_takes_a_loss_starting_with_a_minus(ridge, capsys):
    code = main(["fit", "-mean(log(sigmoid(X*w)))", "--data", "d.npz", "--param", "w=zeros",
                 "--epochs", "2", "--out", "-", "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_a_repeated_wrt_accumulates_never_keeps_only_the_last(capsys):
    assert main(["diff", "x'*W*x", "--wrt", "W", "--wrt", "x"]) == 0
    names = [ln.split(" = ")[0] for ln in capsys.readouterr().out.strip().splitlines()]
    assert "dW" in names and "dx" in names
    assert main(["diff", "x'*W*x", "--wrt", "W", "--wrt", "W"]) == 2
    assert "twice" in capsys.readouterr().err


def test_assumptions_are_a_property_a_warning_and_a_cli_line(capsys):
    with pytest.warns(matdiff.MatdiffWarning, match=r"assuming lambda: vector \(first letter\); "
                                                    "declare it to change"):
        d = matdiff.diff("norm2(X*w - y)^2 + lambda*w'*w", wrt="w",
                         declare={"X": "matrix", "w": "vector", "y": "vector"})
    assert d.assumptions == {"lambda": "vector"}
    assert d.to_dict()["assumptions"] == {"lambda": "vector"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        declared = matdiff.diff("x'*A*x", wrt="x", declare={"x": "vector", "A": "matrix"})
    assert declared.assumptions == {}
    assert main(["diff", "norm2(X*w - y)^2 + lambda*w'*w", "--wrt", "w"]) == 0
    err = capsys.readouterr().err
    assert "matdiff: assuming X: matrix, w: vector, y: vector, lambda: vector (first letter); " \
           "declare them to change" in err


def test_the_web_answer_carries_the_assumptions():
    from matdiff.web.compute import derive

    answer = derive({"expression": "lam*x'*x", "wrt": "x", "declare": "x=vector"})
    assert answer["assumptions"] == {"lam": "vector"}
    assert "assuming lam: vector" in answer["assumptions_text"]


def test_const_makes_a_scalar_and_a_loss_types_its_weight(ridge, capsys):
    loss = "mean((X*w - y).^2) + lam*w'*w"
    assert main(["fit", loss, "--data", "d.npz", "--param", "w=zeros", "--const", "lam=0.001",
                 "--epochs", "2", "--out", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    # a loss is a scalar: lam, added to it as a factor, is one (no longer a vector by its
    # first letter), and the stderr line says why
    assert main(["fit", loss, "--data", "d.npz", "--param", "w=zeros", "--param", "lam=0.1",
                 "--epochs", "2", "--out", "-"]) == 0
    err = capsys.readouterr().err
    assert "lam: scalar (a loss is a scalar: its use with '*' at column 25)" in err


@pytest.mark.parametrize("text, hint", [
    ("x^T", "write x' for the transpose of x"),
    ("A^T*x", "write A' for the transpose of A"),
    ("2x", "write 2*x"),
    ("3 y + x", "write 3*y"),
    ("2(x + 1)", "write 2*("),
    ("softmx(x)", "did you mean softmax?"),
    ("sigmod(x)", "did you mean sigmoid?"),
])
def test_hints_for_common_slips(text, hint):
    with pytest.raises(matdiff.MatdiffError) as info:
        matdiff.parse(text)
    assert hint in str(info.value)
    assert info.value.line == 1 and info.value.column is not None


def test_fit_stops_when_the_loss_grows_by_orders_of_magnitude():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, -1.0, 2.0])
    with pytest.raises(matdiff.MatdiffError, match="grew from .* million-fold") as info:
        matdiff.fit("mean((X*w - y).^2)", params={"w": "zeros"}, data={"X": X, "y": y},
                    optimizer="sgd", lr=1.5, epochs=200)
    result = info.value.result
    best = np.mean((X @ result.params["w"] - y) ** 2)
    assert np.isfinite(best) and best <= np.mean(y ** 2) + 1e-12  # the best seen, not the last
    assert "best parameters" in str(info.value)


def test_lbfgs_logs_the_first_epoch_loss_its_summary_reports(ridge, capsys):
    pytest.importorskip("scipy")
    assert main(["fit", "mean((X*w - y).^2)", "--data", "d.npz", "--param", "w=zeros",
                 "--optimizer", "lbfgs", "--epochs", "5", "--every", "1", "--out", "-"]) == 0
    out = capsys.readouterr().out
    logged = next(line for line in out.splitlines() if line.startswith("epoch      1"))
    summary = next(line for line in out.splitlines() if line.startswith("final loss"))
    assert logged.split()[-1] in summary.split("(epoch 1: ")[1]


def test_a_minus_expression_beside_a_short_option(tmp_path, capsys):
    program = tmp_path / "f.txt"
    program.write_text("x'*W*x")
    assert main(["diff", "-f", str(program), "--wrt", "W"]) == 0
    assert capsys.readouterr().out.strip() == "x*x'"
    assert main(["diff", "-x'*W*x", "--wrt", "W"]) == 0
    assert capsys.readouterr().out.strip() == "-x*x'"


def test_a_chain_through_a_matrix_shows_no_false_matrix_product():
    d = matdiff.diff("tr(exp(a + A))", wrt="a", declare={"a": "scalar", "A": "matrix(n, n)"})
    report = d.check_steps()
    assert report.ok, str(report)
