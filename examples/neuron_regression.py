"""The article's neuron and its linear cousin on regression data, against least squares.

    python examples/neuron_regression.py

Data: scikit-learn's diabetes set (442 patients, 10 measurements) when
scikit-learn is installed, else generated data with a known linear model.
Features are standardised; the target is divided by its standard deviation.

1. Linear least squares, mean((X*w + b - y).^2), trained by full-batch
   Adam and by L-BFGS, must reach NumPy's lstsq optimum (relative error of
   the parameters below 1e-3).
2. The neuron, mean((y - max(0, X*w + b)).^2), trained by minibatch Adam
   and by minibatch SGD with Nesterov momentum. The targets are positive,
   so a ReLU unit can match the least-squares line wherever the line is
   positive: its loss must come within 2% of the least-squares optimum.

Exits 1 if a reference is missed.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import matdiff

LINEAR = "mean((X*w + b - y).^2)"
NEURON = "mean((y - max(0, X*w + b)).^2)"


def load() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from sklearn.datasets import load_diabetes
    except ImportError:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(500, 8))
        y = X @ rng.normal(size=8) + 4.0 + 0.5 * rng.normal(size=500)
        name = "generated (scikit-learn not installed)"
    else:
        X, y = load_diabetes(return_X_y=True)
        name = "diabetes (scikit-learn)"
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y / y.std(), name


def main() -> int:
    X, y, name = load()
    n, d = X.shape
    A = np.c_[X, np.ones(n)]
    ref = np.linalg.lstsq(A, y, rcond=None)[0]
    ref_loss = float(np.mean((A @ ref - y) ** 2))
    print(f"data: {name}, {n} samples x {d} features")
    print(f"reference: lstsq optimum, loss {ref_loss:.6f}\n")
    data = {"X": X, "y": y}
    ok = True

    print(f"{'model':<8} {'optimizer':<28} {'loss':>10} {'vs optimum':>11} "
          f"{'param rel err':>14} {'time':>7}")
    runs = [
        (LINEAR, "adam", dict(lr=0.05, epochs=3000)),
        (LINEAR, "lbfgs", dict(epochs=200)),
        (NEURON, "adam", dict(lr=0.01, epochs=60, batch_size=32)),
        (NEURON, "momentum", dict(lr=0.005, epochs=60, batch_size=32, nesterov=True)),
    ]
    for loss, opt, options in runs:
        start = time.perf_counter()
        r = matdiff.fit(loss, params={"w": "zeros", "b": 1.0}, data=data, optimizer=opt,
                        progress=False, **options)
        seconds = time.perf_counter() - start
        theta = np.r_[r.params["w"], r.params["b"]]
        rel = float(np.linalg.norm(theta - ref) / np.linalg.norm(ref))
        gap = r.loss / ref_loss - 1
        model = "linear" if loss == LINEAR else "neuron"
        label = opt + ("" if "batch_size" not in options else f", batch {options['batch_size']}")
        print(f"{model:<8} {label:<28} {r.loss:>10.6f} {100 * gap:>+10.3f}% {rel:>14.2e} "
              f"{seconds:>6.2f}s")
        ok &= rel < 1e-3 if model == "linear" else gap < 0.02
    print("\nall references met" if ok else "\nA REFERENCE WAS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
