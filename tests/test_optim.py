"""The optimisers and the training loop, with hand-written gradients of known functions.

Each optimiser must reach a known optimum: least squares (the lstsq
solution) and an ill-conditioned quadratic; lbfgs also the Rosenbrock
minimum. These tests do not touch the engine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from matdiff import MatdiffError
from matdiff.optim import (
    OPTIMIZERS,
    Adam,
    FitResult,
    TrainingDiverged,
    get_optimizer,
    optimizer_names,
    train,
)


def _least_squares(seed: int = 0, n: int = 120, d: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.3 + 0.1 * rng.normal(size=n)
    ref = np.linalg.lstsq(np.c_[X, np.ones(n)], y, rcond=None)[0]
    return X, y, ref


def _ls_grad(v):
    r = v["X"] @ v["w"] + v["b"] - v["y"]
    n = len(r)
    return r @ r / n, {"w": 2 * v["X"].T @ r / n, "b": 2 * r.sum() / n}


def _quadratic(v):
    """f(x) = 1/2 x'Ax - c'x with A = diag(1, 10): the optimum is A^-1 c."""
    a = np.array([1.0, 10.0])
    x = v["x"]
    return 0.5 * x @ (a * x) - v["c"] @ x, {"x": a * x - v["c"]}


SETTINGS = {  # optimiser -> options that reach the optimum on the problems below
    "sgd": {"lr": 0.1, "epochs": 400},
    "momentum": {"lr": 0.02, "epochs": 300},
    "adam": {"lr": 0.05, "epochs": 1500},
    "lbfgs": {"epochs": 200},
}


def test_registry_has_the_four_optimisers():
    assert optimizer_names() == ["sgd", "momentum", "adam", "lbfgs"]
    assert set(OPTIMIZERS) == set(SETTINGS)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_optimiser_reaches_the_least_squares_optimum(name):
    X, y, ref = _least_squares()
    r = train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, optimizer=name,
              **SETTINGS[name])
    got = np.r_[r.params["w"], r.params["b"]]
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert r.params["b"].shape == ()
    assert r.loss <= min(r.history) + 1e-12


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_optimiser_reaches_a_quadratics_optimum(name):
    c = np.array([1.0, -2.0])
    options = dict(SETTINGS[name])
    if name == "sgd":
        options["lr"] = 0.15  # below 2 / L = 0.2 for L = 10
    r = train(_quadratic, {"x": np.zeros(2)}, {"c": c}, optimizer=name, **options)
    np.testing.assert_allclose(r.params["x"], [1.0, -0.2], atol=1e-6)


def test_nesterov_reaches_the_optimum_and_differs_from_heavy_ball():
    X, y, ref = _least_squares()
    common = dict(optimizer="momentum", lr=0.02, epochs=300)
    nag = train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, nesterov=True,
                **common)
    np.testing.assert_allclose(np.r_[nag.params["w"], nag.params["b"]], ref, atol=1e-6)
    heavy = train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, epochs=3,
                  optimizer="momentum", lr=0.02)
    nag3 = train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, epochs=3,
                 optimizer="momentum", lr=0.02, nesterov=True)
    assert not np.allclose(heavy.params["w"], nag3.params["w"])


def test_lbfgs_finds_the_rosenbrock_minimum():
    def rosen(v):
        x, y = v["p"]
        f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        return f, {"p": g}

    r = train(rosen, {"p": np.array([-1.2, 1.0])}, optimizer="lbfgs", epochs=500)
    np.testing.assert_allclose(r.params["p"], [1.0, 1.0], atol=1e-6)
    assert r.history[0] == pytest.approx(24.2)


def test_adam_first_step_is_lr_times_sign():
    """With bias correction, Adam's first step is lr * g / (|g| + eps): lr per coordinate."""
    opt = Adam(lr=0.1)
    params = {"x": np.array([1.0, -2.0, 3.0])}
    state = opt.init(params)
    new = opt.update(params, {"x": np.array([5.0, -0.01, 0.0])}, state)
    np.testing.assert_allclose(new["x"], [0.9, -1.9, 3.0], atol=1e-6)
    assert params["x"][0] == 1.0  # update returns new arrays, never writes the old ones


def test_papers_defaults():
    assert get_optimizer("adam").hyper == {"lr": 0.001, "beta1": 0.9, "beta2": 0.999,
                                           "eps": 1e-8}
    assert get_optimizer("momentum").hyper["momentum"] == 0.9
    assert get_optimizer("momentum").hyper["nesterov"] is False
    assert get_optimizer("lbfgs").hyper["memory"] == 10
    assert get_optimizer("SGD", lr=0.5).hyper["lr"] == 0.5


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(MatdiffError, match="sgd, momentum, adam, lbfgs"):
        get_optimizer("rmsprop")


@pytest.mark.parametrize("name, options, message", [
    ("adam", {"momentum": 0.9}, "no option 'momentum'"),
    ("sgd", {"lr": -1.0}, "learning rate"),
    ("sgd", {"lr": math.nan}, "learning rate"),
    ("momentum", {"momentum": 1.5}, "momentum must be"),
    ("adam", {"beta2": 1.0}, "beta2"),
    ("lbfgs", {"lr": 0.1}, "no learning rate"),
    ("lbfgs", {"memory": 0}, "memory"),
])
def test_bad_options_are_matdiff_errors(name, options, message):
    with pytest.raises(MatdiffError, match=message):
        get_optimizer(name, **options)


def test_minibatches_are_reproducible_and_reshuffled_by_seed():
    X, y, ref = _least_squares()
    run = lambda seed: train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y},  # noqa: E731
                             optimizer="momentum", lr=0.01, epochs=40, batch_size=16, seed=seed)
    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.params["w"], c.params["w"])
    np.testing.assert_allclose(np.r_[a.params["w"], a.params["b"]], ref, atol=0.05)


def test_every_sample_is_seen_once_per_epoch_along_the_sample_axis():
    seen = []

    def record(v):
        seen.append(v["Z"][0].copy())  # samples along axis 1 of Z
        return 0.0, {"p": np.zeros(1)}

    Z = np.vstack([np.arange(10.0), -np.arange(10.0)])
    train(record, {"p": np.zeros(1)}, {"Z": Z, "k": 3.0}, optimizer="sgd", epochs=2,
          batch_size=4, sample_axes={"Z": 1, "k": None})
    epoch1 = np.concatenate(seen[:3])
    epoch2 = np.concatenate(seen[3:6])
    assert [len(s) for s in seen[:3]] == [4, 4, 2]
    assert sorted(epoch1) == list(range(10)) == sorted(epoch2)
    assert list(epoch1) != list(epoch2)


def test_divergence_keeps_the_last_finite_params():
    X, y, _ = _least_squares()
    with pytest.raises(TrainingDiverged, match=r"epoch \d+.*learning rate") as info:
        train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, optimizer="sgd",
              lr=20.0, epochs=1000)
    err = info.value
    assert isinstance(err, MatdiffError)
    assert isinstance(err.result, FitResult)
    assert all(np.all(np.isfinite(p)) for p in err.result.params.values())
    assert err.result.epochs == err.epoch - 1 == len(err.result.history)
    loss, _ = _ls_grad({"X": X, "y": y, **err.result.params})
    assert math.isfinite(loss)


def test_nan_at_the_start_names_the_initial_parameters():
    with pytest.raises(TrainingDiverged, match="initial parameters"):
        train(_quadratic, {"x": np.array([np.nan, 0.0])}, {"c": np.ones(2)}, epochs=3)


def test_callback_sees_each_epoch_and_can_stop():
    calls = []
    r = train(_quadratic, {"x": np.zeros(2)}, {"c": np.ones(2)}, optimizer="sgd", lr=0.1,
              epochs=50, callback=lambda e, loss, p: calls.append(e) or e == 5)
    assert calls == [1, 2, 3, 4, 5]
    assert r.stopped_early and r.epochs == 5 and len(r.history) == 5


def test_gradient_of_the_wrong_shape_is_reported():
    with pytest.raises(MatdiffError, match="gradient of 'x' has shape"):
        train(lambda v: (0.0, {"x": np.zeros(3)}), {"x": np.zeros(2)}, epochs=1)


@pytest.mark.parametrize("options, message", [
    ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"optimizer": "lbfgs", "batch_size": 4}, "full-batch"),
])
def test_bad_loop_settings(options, message):
    X, y, _ = _least_squares()
    with pytest.raises(MatdiffError, match=message):
        train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y}, **options)


def test_disagreeing_sample_counts_are_reported():
    with pytest.raises(MatdiffError, match="disagree on the number of samples"):
        train(_ls_grad, {"w": np.zeros(4), "b": 0.0},
              {"X": np.zeros((10, 4)), "y": np.zeros(9)}, batch_size=2)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    r = train(_quadratic, {"x": np.zeros(2)}, {"c": np.ones(2)}, optimizer="sgd", lr=0.1,
              epochs=20)
    path = r.plot(str(tmp_path / "loss.png"), reference=-0.55)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_lbfgs_without_scipy_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(MatdiffError, match="needs SciPy"):
        train(_quadratic, {"x": np.zeros(2)}, {"c": np.ones(2)}, optimizer="lbfgs")


def test_progress_bar_goes_to_stderr_only_when_asked(capsys):
    pytest.importorskip("tqdm")
    train(_quadratic, {"x": np.zeros(2)}, {"c": np.ones(2)}, optimizer="sgd", epochs=30,
          progress=True)
    shown = capsys.readouterr()
    assert "sgd" in shown.err and shown.out == ""
    train(_quadratic, {"x": np.zeros(2)}, {"c": np.ones(2)}, optimizer="sgd", epochs=30)
    assert capsys.readouterr().err == ""  # not a terminal: quiet by default


def test_a_full_batch_step_rule_is_not_run_as_lbfgs():
    """full_batch says "the whole data each step"; `solver` says what runs it (it once meant
    "is L-BFGS", so any other full-batch optimiser was handed to SciPy's L-BFGS-B)."""
    from matdiff.optim.optimizers import SGD

    class WholeDataSGD(SGD):
        name = "whole-data-sgd"
        full_batch = True

    X, y, ref = _least_squares()
    r = train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y},
              optimizer=WholeDataSGD(lr=0.1), epochs=400)
    np.testing.assert_allclose(np.r_[r.params["w"], r.params["b"]], ref, atol=1e-5)
    assert len(r.history) == 400
    with pytest.raises(MatdiffError, match="full-batch"):
        train(_ls_grad, {"w": np.zeros(4), "b": 0.0}, {"X": X, "y": y},
              optimizer=WholeDataSGD(lr=0.1), epochs=2, batch_size=10)
