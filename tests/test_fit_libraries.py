"""fit trains through a named array library, or the fastest installed one (libraries.py)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.errors import MatdiffError
from matdiff.optim import libraries

LS = "mean((X*w + b - y).^2)"


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    return X, X @ rng.normal(size=5) + 0.3


def _fit(X, y, **kw):
    return matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                       optimizer="adam", lr=0.05, epochs=20, **kw)


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_a_named_library_trains_the_same_trajectory(regression, library):
    mod = pytest.importorskip(library)
    if library == "jax":
        if not mod.config.read("jax_enable_x64"):
            pytest.skip("jax without float64")
    X, y = regression
    ours = _fit(X, y, backend=library)
    plain = _fit(X, y, backend="numpy")
    assert ours.extra["library"] == library and plain.extra["library"] == "numpy"
    assert all(type(ours.params[k]) is type(plain.params[k]) for k in plain.params)
    np.testing.assert_allclose(ours.params["w"], plain.params["w"], rtol=1e-9)
    assert ours.params["b"] == pytest.approx(plain.params["b"], rel=1e-9)


def test_minibatches_through_torch(regression):
    pytest.importorskip("torch")
    X, y = regression
    ours = _fit(X, y, backend="torch", batch_size=32)
    plain = _fit(X, y, backend="numpy", batch_size=32)
    np.testing.assert_allclose(ours.params["w"], plain.params["w"], rtol=1e-9)


def test_a_short_step_stays_in_numpy_untimed(regression):
    X, y = regression
    r = _fit(X, y)
    assert r.extra["library"] == "numpy" and set(r.extra["library_seconds"]) == {"numpy"}


def test_the_fastest_installed_library_is_timed_and_chosen(regression, monkeypatch):
    monkeypatch.setattr(libraries, "RACE_FROM", 0.0)
    monkeypatch.setattr(libraries, "RACE_BUDGET", 0.002)
    X, y = regression
    r = _fit(X, y, batch_size=50)
    times = r.extra["library_seconds"]
    assert set(times) <= set(libraries.installed_libraries()) and "numpy" in times
    chosen = r.extra["library"]
    assert chosen == "numpy" or times[chosen] < libraries.MARGIN * times["numpy"]
    assert all(t >= libraries.MARGIN * times[chosen] for t in times.values())
    np.testing.assert_allclose(r.params["w"], _fit(X, y, backend="numpy",
                                                   batch_size=50).params["w"], rtol=1e-8)


def test_a_library_is_refused_where_it_cannot_serve(regression):
    X, y = regression
    with pytest.raises(MatdiffError, match="array library"):
        _fit(X, y, backend="tensorflow")
    with pytest.raises(MatdiffError, match="gradients='evaluate' runs on NumPy"):
        _fit(X, y, backend="torch", gradients="evaluate")
