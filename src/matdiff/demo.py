"""The seed notes end to end: derive the neuron's gradients, check them, train it.

"The Matrix Calculus You Need For Deep Learning" builds up to one neuron,
activation(x) = max(0, w·x + b), and the gradient of its squared-error loss
C(w, b) = mean((y - max(0, X*w + b)).^2) with respect to w and b, "so that
the overall loss function keeps getting smaller across all x inputs". This
module does exactly that with matdiff, and is what `matdiff demo` runs:

1. derive dC/dw and dC/db (and show the steps when the build has them);
2. check both against central finite differences and against the notes'
   own formula, 2/N sum_i (w·x_i + b - y_i) x_i over the samples with
   w·x_i + b > 0;
3. train the neuron with Adam on minibatches of a real data set shipped by
   scikit-learn (diabetes), or on generated data when it is not installed;
4. show the loss falling, compare with the least-squares optimum, and plot.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["NEURON_LOSS", "load_demo_data", "notes_gradients", "run_demo"]

NEURON_LOSS = "mean((y - max(0, X*w + b)).^2)"
MAX_STEP_LINES = 40  # the demo shows the start of a long derivation and says where the rest is


def load_demo_data(real: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str, float]:
    """(X, y, description, y_scale): diabetes from scikit-learn, else a planted neuron.

    Features are standardised; the target is divided by its standard
    deviation (y_scale), which keeps it positive, as a ReLU's output is.
    """
    if real and importlib.util.find_spec("sklearn") is not None:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        scale = float(y.std())
        return (X, y / scale, "scikit-learn's diabetes data: 442 patients, 10 measurements, "
                "target = disease progression after one year", scale)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 8))
    w, b = rng.normal(size=8), 0.5
    y = np.maximum(0.0, X @ w + b) + 0.1 * rng.normal(size=400)
    return X, y, "generated data: a planted neuron, 400 samples, 8 features, noise 0.1", 1.0


def notes_gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float
                    ) -> tuple[np.ndarray, float]:
    """The seed notes' formulas, written by hand: the reference the derived gradients meet."""
    z = X @ w + b
    active = z > 0
    r = np.where(active, z - y, 0.0)  # (w·x_i + b - y_i) where the unit is active, else 0
    n = len(y)
    return 2.0 / n * (r @ X), 2.0 / n * float(r.sum())


def _guarded(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001 - parts of the engine may not have landed
        return None, f"{type(e).__name__}: {e}".splitlines()[0]


def _bar(value: float, top: float, width: int = 40) -> str:
    return "#" * max(1, round(width * value / top)) if top > 0 else ""


def run_demo(epochs: int = 60, batch_size: int = 32, lr: float = 0.01, real: bool = True,
             plot: str | None = "matdiff-demo.png", steps: bool = True, seed: int = 0,
             write: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the demo, writing its story through `write`; returns the figures it showed."""
    summary: dict[str, Any] = {}
    write("matdiff demo: the neuron of \"The Matrix Calculus You Need For Deep Learning\"\n")
    write("  activation(x) = max(0, w·x + b)")
    write(f"  loss C(w, b)  = {NEURON_LOSS}")
    write("  X holds one sample per row (N x n), y the N targets, w the n weights, b the bias\n")

    derivatives = _derive(steps, write)
    X, y, description, scale = load_demo_data(real=real, seed=seed)
    summary["data"] = "diabetes" if "diabetes" in description else "generated"
    _check(derivatives, X, y, seed, summary, write)
    result, ls_loss = _train(X, y, description, scale, epochs, batch_size, lr, real, seed,
                             summary, write)
    _plot(result, ls_loss, plot, summary, write)
    return summary


def _derive(steps: bool, write: Callable[[str], Any]) -> dict[str, Any]:
    """1. The gradients of the loss, printed (and dC/dw explained step by step)."""
    import matdiff

    write("1. The gradients, derived")
    derivatives = {p: matdiff.diff(NEURON_LOSS, wrt=p) for p in ("w", "b")}
    for p, d in derivatives.items():
        text, err = _guarded(lambda d=d: d.to_text())
        write(f"  dC/d{p} = {text if err is None else '(printing unavailable: ' + err + ')'}")
    write("  the notes: dC/dw = 2/N sum_i (w·x_i + b - y_i) x_i over samples with w·x_i + b > 0")
    write("             dC/db = 2/N sum_i (w·x_i + b - y_i)     over the same samples")
    if steps:
        explained, err = _guarded(lambda: derivatives["w"].explain())
        if err is None and explained:
            write("\n  How dC/dw is derived, step by step:")
            lines = str(explained).splitlines()
            for line in lines[:MAX_STEP_LINES]:
                write(f"    {line}")
            if len(lines) > MAX_STEP_LINES:
                write(f"    ... {len(lines) - MAX_STEP_LINES} more lines: "
                      f"matdiff diff \"{NEURON_LOSS}\" --wrt w --steps")
        else:
            write("  (the step-by-step derivation is not available in this build)")

    return derivatives


def _check(derivatives: dict[str, Any], X: np.ndarray, y: np.ndarray, seed: int,
           summary: dict[str, Any], write: Callable[[str], Any]) -> None:
    """2. The derivatives against finite differences and the notes' formulas."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), size=min(32, len(y)), replace=False)
    point = {"X": X[rows], "y": y[rows], "w": 0.3 * rng.normal(size=X.shape[1]), "b": 0.5}

    write("\n2. Checked, at a random point on 32 samples")
    ok = True
    for p, d in derivatives.items():
        err = float(d.check(point))
        summary[f"check_{p}"] = err
        ok &= err < 1e-6
        write(f"  dC/d{p}: central finite differences agree to {err:.1e} (max relative error)")
    gw, gb = notes_gradients(point["X"], point["y"], point["w"], point["b"])
    dw = np.asarray(derivatives["w"].evaluate(point))
    db = float(derivatives["b"].evaluate(point))
    notes_err = max(float(np.max(np.abs(dw - gw))), abs(db - gb))
    summary["notes_error"] = notes_err
    ok &= notes_err < 1e-9
    write(f"  the notes' formulas give the same numbers to {notes_err:.1e} "
          "(max absolute difference)")
    summary["checks_pass"] = bool(ok)


def _train(X: np.ndarray, y: np.ndarray, description: str, scale: float, epochs: int,
           batch_size: int, lr: float, real: bool, seed: int, summary: dict[str, Any],
           write: Callable[[str], Any]) -> tuple[Any, float]:
    """3. Training with Adam on minibatches, against the least-squares optimum."""
    import matdiff

    write(f"\n3. Training the neuron on {description}")
    if not real or summary["data"] == "generated":
        if real:
            write("  (scikit-learn is not installed, so the demo uses generated data; "
                  "pip install 'matdiff[train]' for the real data set)")
    write(f"  Adam, learning rate {lr}, minibatches of {batch_size}, {epochs} epochs, "
          "starting from w = 0, b = 1")
    result = matdiff.fit(NEURON_LOSS, params={"w": "zeros", "b": 1.0}, data={"X": X, "y": y},
                         optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size,
                         seed=seed, progress=False)
    history = result.history
    summary.update(initial_loss=history[0], final_loss=result.loss, history=history,
                   backend=result.backend, seconds=result.seconds)
    marks = sorted({e for e in (1, 2, 3, 5, 10, 20, 30, 40, 50, 75, 100, 150, 200, 300,
                                len(history)) if e <= len(history)})
    write(f"  {'epoch':>6}  {'loss':>10}")
    for e in marks:
        write(f"  {e:>6}  {history[e - 1]:>10.4f}  {_bar(history[e - 1], history[0])}")
    write(f"  final loss {result.loss:.4f} over all data ({result.seconds:.2f} s, "
          f"{result.backend} gradients)")

    A = np.c_[X, np.ones(len(y))]
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    ls_loss = float(np.mean((A @ coef - y) ** 2))
    summary["least_squares_loss"] = ls_loss
    write(f"  reference: the least-squares line reaches {ls_loss:.4f}; "
          f"the neuron is within {100 * (result.loss / ls_loss - 1):+.1f}%")
    if scale != 1.0:
        write(f"  in the target's units: mean squared error {result.loss * scale**2:.0f} "
              f"(least squares {ls_loss * scale**2:.0f})")

    return result, ls_loss


def _plot(result: Any, ls_loss: float, plot: str | None, summary: dict[str, Any],
          write: Callable[[str], Any]) -> None:
    """4. The loss curve as a PNG, when matplotlib is there."""
    summary["plot"] = None
    if plot:
        if importlib.util.find_spec("matplotlib") is None:
            write("\n4. matplotlib is not installed, so no plot "
                  "(pip install 'matdiff[train]')")
        else:
            result.plot(plot, title="the neuron's loss, Adam on minibatches",
                        reference=ls_loss, reference_label="least-squares optimum")
            summary["plot"] = plot
            write(f"\n4. The loss curve is in {plot}")
