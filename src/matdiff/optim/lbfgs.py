"""L-BFGS through SciPy: the whole problem at once, using the same value-and-gradient.

The parameters are flattened into one vector for SciPy and unflattened (as
views) for the gradient function. `epochs` caps the iterations. The wrapper
remembers the last point with a finite loss, so a run that wanders into NaN
still hands back finite parameters, as the first-order loop does.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..errors import MatdiffError
from .optimizers import Optimizer
from .report import Progress
from .results import Callback, FitResult, TrainingDiverged, ValueAndGrad, check_grads

__all__ = ["run_lbfgs", "Flattener"]


class Flattener:
    """Maps a dict of arrays to one flat float64 vector and back."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.names = list(params)
        self.shapes = [params[k].shape for k in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.cumsum([0] + self.sizes).tolist()

    def flatten(self, arrays: dict[str, Any]) -> np.ndarray:
        if not self.names:
            return np.zeros(0)
        return np.concatenate([np.asarray(arrays[k], dtype=np.float64).ravel()
                               for k in self.names])

    def unflatten(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {k: x[a:b].reshape(s) for k, a, b, s in
                zip(self.names, self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)}


class _Stop(Exception):
    """Raised inside SciPy's callback when the user's callback asks to stop."""


class _Objective:
    """x -> (loss, flat gradient) for SciPy, remembering the best finite point and the last
    call (the iteration callback reads the loss there instead of computing it again)."""

    def __init__(self, vg: ValueAndGrad, params: dict[str, np.ndarray],
                 data: dict[str, np.ndarray], flat: Flattener) -> None:
        self.vg, self.params, self.data, self.flat = vg, params, data, flat
        self.best_x, self.best_f = flat.flatten(params).copy(), math.nan
        self.bad: Any = None  # what made a point unusable: a non-finite loss or gradient
        self.last_x: np.ndarray | None = None
        self.last_f = math.nan
        self.checked = False
        self.calls = 0

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        values = dict(self.data)
        values.update(self.flat.unflatten(x))
        loss, grads = self.vg(values)
        self.calls += 1
        loss = float(loss)
        self.last_x, self.last_f = x.copy(), loss
        if not math.isfinite(loss):
            self.bad = loss
            return math.inf, np.zeros_like(x)  # makes the line search back off
        if not self.checked:
            check_grads(grads, self.params)
            self.checked = True
        g = self.flat.flatten(grads)
        if not np.all(np.isfinite(g)):
            self.bad = "a non-finite gradient"
            return math.inf, np.zeros_like(x)
        if not math.isfinite(self.best_f) or loss <= self.best_f:
            self.best_x, self.best_f = x.copy(), loss
        return loss, g

    def loss_at(self, x: np.ndarray) -> float:
        if self.last_x is not None and np.array_equal(self.last_x, x):
            return self.last_f
        return self(x)[0]


def run_lbfgs(vg: ValueAndGrad, params: dict[str, np.ndarray], data: dict[str, np.ndarray],
              opt: Optimizer, epochs: int, callback: Callback | None, show: bool,
              backend: str, samples: int | None = None) -> FitResult:
    """SciPy's L-BFGS-B from `params`; `samples` (the data's rows) for the result's cost."""
    try:
        from scipy.optimize import minimize
    except ImportError as e:
        raise MatdiffError("the lbfgs optimizer needs SciPy: pip install scipy") from e
    start_time = time.perf_counter()
    flat = Flattener(params)
    x0 = flat.flatten(params)
    fun = _Objective(vg, params, data, flat)

    f0, _ = fun(x0)
    history: list[float] = [f0]
    if not math.isfinite(f0):
        msg = (f"the loss is {fun.bad} at the initial parameters: check the data and "
               "initial values for NaN or infinities")
        result = FitResult(dict(params), [], f0, opt.describe(), 0, backend=backend,
                           seconds=time.perf_counter() - start_time)
        raise TrainingDiverged(msg, result.count(1, samples or 0, samples), 1)
    bar = Progress(epochs, show, desc=opt.name)
    iteration = [0]

    def step(xk: np.ndarray) -> None:
        iteration[0] += 1
        history.append(fun.loss_at(xk))
        # epoch k's loss is the loss before its step, history[k - 1], as for the other
        # optimisers and as the summary reports it
        bar.update(history[-2])
        if callback is not None and callback(iteration[0], history[-2],
                                             flat.unflatten(xk.copy())):
            raise _Stop

    stopped = converged = False
    message = "ran no epochs"
    try:
        if epochs > 0:
            h = opt.hyper
            res = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=step,
                           options={"maxiter": epochs, "maxcor": h["memory"],
                                    "gtol": h["gtol"], "ftol": h["ftol"],
                                    "maxfun": max(15000, 20 * epochs)})
            converged, message = _outcome(res, h, iteration[0], epochs)
    except _Stop:
        stopped = True
        message = "stopped by the callback"
    finally:
        bar.close()
    params_out = {k: v.copy() for k, v in flat.unflatten(fun.best_x).items()}
    # history[k] is the loss before iteration k; the final loss is reported apart
    loss = fun.best_f
    hist = history[:-1] if len(history) > 1 else history
    result = FitResult(params=params_out, history=hist, loss=loss, optimizer=opt.describe(),
                       epochs=iteration[0], seconds=time.perf_counter() - start_time,
                       backend=backend, message=message, stopped_early=stopped,
                       converged=converged)
    return result.count(fun.calls, fun.calls * (samples or 0), samples)


def _outcome(res: Any, hyper: dict[str, Any], done: int, epochs: int) -> tuple[bool, str]:
    """(converged, why it stopped, in words) from SciPy's result."""
    text = str(res.message)
    if res.success:
        if "GRADIENT" in text.upper():
            why = f"the gradient's largest entry fell below gtol = {hyper['gtol']:g}"
        elif "REDUCTION" in text.upper():
            why = f"a step lowered the loss by less than ftol = {hyper['ftol']:g} (relative)"
        else:
            why = text.lower()
        return True, f"converged after {done} of {epochs} epochs: {why}"
    if done >= epochs:
        return False, f"ran its {epochs} epochs without converging"
    return False, f"stopped after {done} of {epochs} epochs without converging: {text}"
