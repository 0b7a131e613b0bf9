"""`matdiff.fit`: losses in the text language trained with derived gradients, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff import MatdiffError
from matdiff.optim import TrainingDiverged, prepare

LS = "mean((X*w + b - y).^2)"
NEURON = "mean((y - max(0, X*w + b)).^2)"


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.7 + 0.05 * rng.normal(size=80)
    ref = np.linalg.lstsq(np.c_[X, np.ones(80)], y, rcond=None)[0]
    return X, y, ref


def test_adam_reaches_the_least_squares_optimum(regression):
    X, y, ref = regression
    r = matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                    optimizer="adam", lr=0.05, epochs=800)
    np.testing.assert_allclose(np.r_[r.params["w"], r.params["b"]], ref, atol=1e-5)
    assert r.history[0] > r.history[-1] >= r.loss - 1e-12
    assert r.backend in ("compiled", "evaluate")


def test_lbfgs_matches_lstsq(regression):
    X, y, ref = regression
    r = matdiff.fit(LS, params={"w": np.zeros(3), "b": 0.0}, data={"X": X, "y": y},
                    optimizer="lbfgs", epochs=100)
    np.testing.assert_allclose(np.r_[r.params["w"], r.params["b"]], ref, atol=1e-7)


def test_both_sources_of_gradients_agree(regression):
    """gradients="compiled" must work: an error there fails the test, not skips a run."""
    X, y, _ = regression
    runs = {source: matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                                optimizer="sgd", lr=0.05, epochs=5, gradients=source)
            for source in ("compiled", "evaluate")}
    assert runs["compiled"].backend == "compiled" and runs["evaluate"].backend == "evaluate"
    assert runs["compiled"].extra["skipped_backends"] == {}
    np.testing.assert_allclose(runs["compiled"].params["w"], runs["evaluate"].params["w"],
                               rtol=1e-10)


def test_backend_is_the_old_name_of_gradients(regression):
    """backend= will name the array library; as "compiled" it still works, with a warning."""
    X, y, _ = regression
    with pytest.warns(DeprecationWarning, match="gradients=") as caught:
        r = matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                        optimizer="sgd", epochs=2, backend="evaluate")
    assert r.backend == "evaluate"
    deprecations = [w for w in caught if w.category is DeprecationWarning]
    assert deprecations[0].filename == __file__  # at the caller's line, not inside matdiff
    with pytest.raises(MatdiffError, match="array library") as e:
        matdiff.fit(LS, params={"w": "zeros"}, data={"X": X, "y": y}, backend="cupy")
    assert "unknown gradient backend" not in str(e.value)
    with pytest.raises(MatdiffError, match="unknown gradients='torch'"):
        matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y}, gradients="torch")


def test_planted_neuron_is_recovered_by_minibatch_momentum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    w_true = np.array([1.0, -1.0, 0.5, 2.0])
    y = np.maximum(0.0, X @ w_true + 0.5)
    r = matdiff.fit(NEURON, params={"w": "zeros", "b": 1.0}, data={"X": X, "y": y},
                    optimizer="momentum", lr=0.02, epochs=40, batch_size=30, seed=1)
    np.testing.assert_allclose(r.params["w"], w_true, atol=1e-3)
    assert r.params["b"] == pytest.approx(0.5, abs=1e-3)


def test_samples_on_axis_1_are_found_from_the_shapes():
    """X is features x samples here, so minibatches must slice X's columns."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 60))
    y = X.T @ np.array([0.5, 1.0, -1.0])
    expr, _, _, axes = prepare("sum((X'*w - y).^2)", {"w": "zeros"}, {"X": X, "y": y},
                               minibatch=True)
    assert axes == {"X": 1, "y": 0}
    r = matdiff.fit("sum((X'*w - y).^2)", params={"w": "zeros"}, data={"X": X, "y": y},
                    optimizer="sgd", lr=0.01, epochs=60, batch_size=8)
    np.testing.assert_allclose(r.params["w"], [0.5, 1.0, -1.0], atol=1e-6)


def test_data_without_the_sample_axis_is_passed_whole(regression):
    X, y, _ = regression
    r = matdiff.fit("mean((X*w + b - y).^2) + lam*w'*w", declare={"lam": "scalar"},
                    params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y, "lam": 0.1},
                    optimizer="lbfgs", epochs=200)
    A = np.c_[X, np.ones(len(y))]
    # normal equations of mean(r^2) + lam |w|^2: (A'A/n + lam P) theta = A'y/n
    P = np.diag([1.0, 1.0, 1.0, 0.0])
    theta = np.linalg.solve(A.T @ A / len(y) + 0.1 * P, A.T @ y / len(y))
    np.testing.assert_allclose(np.r_[r.params["w"], r.params["b"]], theta, atol=1e-6)


def test_initialisers_get_shapes_from_the_data(regression):
    X, y, _ = regression
    _, values, _, _ = prepare(LS, {"w": "glorot", "b": "0.5"}, {"X": X, "y": y})
    assert values["w"].shape == (3,) and values["b"] == 0.5
    _, again, _, _ = prepare(LS, {"w": "glorot", "b": "0.5"}, {"X": X, "y": y})
    np.testing.assert_array_equal(values["w"], again["w"])  # seeded


def test_explicit_initialiser_shape_is_checked(regression):
    X, y, _ = regression
    with pytest.raises(MatdiffError, match="dimension"):
        prepare(LS, {"w": "zeros:4", "b": 0.0}, {"X": X, "y": y})


@pytest.mark.parametrize("params, data, message", [
    ({"v": "zeros"}, None, "parameter 'v' does not occur in the loss"),
    ({"w": "zeros", "b": 0.0}, {"y": None}, "'y'.*neither a parameter nor"),
    ({"w": np.zeros(4), "b": 0.0}, None, "dimension .* is 3 in 'X'.* but 4 in 'w'"),
    ({"w": "zeros", "b": 0.0}, {"y": np.zeros(7)}, "dimension .* is 5 in .* but 7"),
    ({"w": "zeros", "b": 0.0}, {"y": np.zeros((5, 1))}, "should be a vector.*ravel"),
    ({"w": "zeros", "b": 0.0}, {"X": np.zeros(5)}, "'X' should be a matrix"),
    ({"w": "bogus", "b": 0.0}, None, "unknown initializer 'bogus'.*glorot"),
    ({"w": "zeros", "b": 0.0}, {"X": [["a", "b", "c"]] * 5}, "not numeric"),
    ({}, None, "at least one parameter"),
    ({"w": "zeros", "X": np.zeros((5, 3))}, None, "both as a parameter and as data"),
])
def test_setup_errors_are_clear(params, data, message):
    data = {**{"X": np.zeros((5, 3)), "y": np.zeros(5)}, **(data or {})}
    data = {k: v for k, v in data.items() if v is not None}  # None removes a base array
    with pytest.raises(MatdiffError, match=message):
        matdiff.fit(LS, params=params, data=data, epochs=1)


def test_a_loss_that_is_not_scalar_is_refused():
    with pytest.raises(MatdiffError, match="must be a scalar"):
        matdiff.fit("X*w - y", params={"w": "zeros"},
                    data={"X": np.zeros((4, 2)), "y": np.zeros(4)})


def test_a_parameter_shape_the_data_cannot_fix_needs_a_shape():
    with pytest.raises(MatdiffError, match="cannot tell the shape of parameter 'W'"):
        matdiff.fit("sum((X*W*v - y).^2)", params={"W": "glorot", "v": "glorot"},
                    data={"X": np.zeros((4, 2)), "y": np.zeros(4)})


def test_divergence_through_fit_names_the_epoch_and_keeps_params(regression):
    X, y, _ = regression
    with pytest.raises(TrainingDiverged, match="epoch") as info:
        matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                    optimizer="sgd", lr=50.0, epochs=500)
    result = info.value.result
    assert all(np.all(np.isfinite(v)) for v in result.params.values())
    assert result.extra["loss"] == LS


def test_unknown_optimizer_through_fit(regression):
    X, y, _ = regression
    with pytest.raises(MatdiffError, match="valid names: sgd, momentum, adam, lbfgs"):
        matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                    optimizer="adagrad")


def test_top_level_fit_is_the_optim_fit(regression):
    X, y, _ = regression
    r = matdiff.fit(LS, {"w": "zeros", "b": 0.0}, {"X": X, "y": y}, epochs=2)
    assert len(r.history) == 2 and set(r.params) == {"w", "b"}


def test_minibatches_need_a_sample_axis():
    """K is square, so its one dimension belongs to the parameter: no sample axis to slice."""
    K = np.eye(4) + 0.1
    square = {"K": "symmetric matrix"}
    with pytest.raises(MatdiffError, match="batch_size needs data with a sample axis"):
        matdiff.fit("sum((K*v - y).^2)", declare=square, params={"v": "zeros"},
                    data={"K": K, "y": np.ones(4)}, batch_size=2)
    r = matdiff.fit("sum((K*v - y).^2)", declare=square, params={"v": "zeros"},
                    data={"K": K, "y": np.ones(4)}, optimizer="lbfgs", epochs=50)
    np.testing.assert_allclose(K @ r.params["v"], np.ones(4), atol=1e-6)


def test_callback_params_are_arrays(regression):
    X, y, _ = regression
    seen = []
    matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y}, epochs=2,
                callback=lambda e, loss, p: seen.append({k: v.shape for k, v in p.items()}))
    assert seen == [{"w": (3,), "b": ()}] * 2


def test_a_data_frame_is_data_by_column_name(regression):
    """A whole pandas DataFrame raised pandas' 'truth value of a DataFrame is ambiguous' from
    inside fit; its columns are assigned to the variables as a CSV file's are."""
    pd = pytest.importorskip("pandas")
    X, y, _ = regression
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "y": y})
    want = matdiff.fit(LS, {"w": "zeros", "b": 0.0}, {"X": X, "y": y}, lr=0.05, epochs=30)
    got = matdiff.fit(LS, {"w": "zeros", "b": 0.0}, frame, lr=0.05, epochs=30)
    np.testing.assert_array_equal(got.params["w"], want.params["w"])
    named = pd.DataFrame({"X_0": X[:, 0], "X_1": X[:, 1], "X_2": X[:, 2], "y": y, "note": "a"})
    with pytest.raises(MatdiffError, match="column 'note' of the data frame is not numbers"):
        matdiff.fit(LS, {"w": "zeros", "b": 0.0}, named, epochs=1)
    got = matdiff.fit(LS, {"w": "zeros", "b": 0.0}, named.drop(columns="note"), lr=0.05,
                      epochs=30)
    np.testing.assert_array_equal(got.params["w"], want.params["w"])
    with pytest.raises(MatdiffError, match="the loss uses 'y'"):
        matdiff.fit(LS, {"w": "zeros", "b": 0.0}, frame.drop(columns="y"), epochs=1)
    with pytest.raises(MatdiffError, match="data must be a dict of arrays by name"):
        matdiff.fit(LS, {"w": "zeros", "b": 0.0}, [X, y], epochs=1)
