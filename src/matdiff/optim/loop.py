"""The training loop, independent of where gradients come from.

`train(value_and_grad, params, data, ...)` runs any registered optimiser
with a function `values -> (loss, {param: gradient})`. `fit` (in fit.py)
builds that function from a loss written in the text language; tests and
benchmarks can hand in their own.

Minibatches slice each data array along its sample axis (the axis of the
dimension all data arrays share, found by `fit` from the loss's shapes; axis
0 by default here). The samples are reshuffled each epoch with a generator
seeded by `seed`, so a run is reproducible. The reshuffle copies the data
once per epoch; every batch is then a view, not a copy.

`history[e]` is the loss of epoch e: the mean of its batch losses weighted
by batch size, each measured before its step (it comes free with the
gradient). For full-batch training it is exactly the loss before epoch e's
step; `FitResult.loss` is the loss over all data at the returned params.

Training stops with TrainingDiverged when a loss is NaN or infinite, or has
grown by more than GROWTH times (six orders of magnitude) past the initial
loss (or 1, if that is smaller): a learning rate too large for the problem.
The error's `.result` holds the best parameters seen (lowest batch loss).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..errors import MatdiffError
from .optimizers import Optimizer, get_optimizer
from .report import Progress, wants_progress
from .results import Callback, FitResult, TrainingDiverged, ValueAndGrad, check_grads

__all__ = ["FitResult", "TrainingDiverged", "train", "ValueAndGrad", "Callback"]

GROWTH = 1e6  # a loss this many times max(|initial loss|, 1) is diverging


def _as_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in params.items():
        try:
            arr = np.array(value, dtype=np.float64)  # a copy: the caller's arrays stay as given
        except (TypeError, ValueError) as e:
            raise MatdiffError(f"parameter '{name}' is not numeric: {e}") from None
        out[name] = arr
    return out


def _as_data(data: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    out = {}
    for name, value in (data or {}).items():
        try:
            out[name] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise MatdiffError(f"data '{name}' is not numeric: {e}") from None
    return out


def _check_int(name: str, value: Any, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise MatdiffError(f"{name} must be a whole number >= {low}, not {value!r}")


def _sample_count(data: dict[str, np.ndarray], axes: dict[str, int]) -> int | None:
    lengths = {}
    for name, axis in axes.items():
        arr = data[name]
        if not -arr.ndim <= axis < arr.ndim:
            raise MatdiffError(f"data '{name}' of shape {arr.shape} has no sample axis {axis}")
        lengths[name] = arr.shape[axis]
    if not lengths:
        return None
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise MatdiffError(f"the data arrays disagree on the number of samples ({listing})")
    return next(iter(lengths.values()))


def _take(arr: np.ndarray, axis: int, index: Any) -> np.ndarray:
    return arr[(slice(None),) * (axis % arr.ndim) + (index,)]


class Batches:
    """Yields (batch values, batch size) for one epoch, reshuffling when minibatching."""

    def __init__(self, data: dict[str, np.ndarray], axes: dict[str, int],
                 batch_size: int | None, seed: int | None) -> None:
        self.data = data
        self.axes = axes
        self.n = _sample_count(data, axes)
        if batch_size is not None and self.n is None:
            raise MatdiffError("batch_size needs data with a sample axis to slice; "
                               "no data array shares one")
        if batch_size is not None and self.n is not None and batch_size >= self.n:
            batch_size = None  # one batch holding everything is full-batch training
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    @property
    def full(self) -> bool:
        return self.batch_size is None

    def epoch(self) -> Iterator[tuple[dict[str, np.ndarray], int]]:
        if self.batch_size is None:
            yield self.data, self.n or 1
            return
        perm = self.rng.permutation(self.n)
        shuffled = dict(self.data)
        for name, axis in self.axes.items():
            shuffled[name] = np.take(self.data[name], perm, axis=axis)
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            batch = dict(shuffled)
            for name, axis in self.axes.items():
                batch[name] = _take(shuffled[name], axis, slice(start, stop))
            yield batch, stop - start


def train(value_and_grad: ValueAndGrad, params: Mapping[str, Any],
          data: Mapping[str, Any] | None = None, *,
          optimizer: str | Optimizer = "adam", lr: float | None = None,
          epochs: int = 100, batch_size: int | None = None, seed: int | None = 0,
          callback: Callback | None = None, progress: bool | None = None,
          sample_axes: Mapping[str, int | None] | None = None,
          backend: str = "custom", batches: Any = None, **hyper: Any) -> FitResult:
    """Minimise with a given gradient function; see the module docstring for the conventions.

    Raises TrainingDiverged (a MatdiffError carrying `.result`) when the loss
    becomes NaN or infinite. `batches` replaces the in-memory batching (an
    object with `full`, `data` and `epoch()`, as for chunked data).
    """
    opt = get_optimizer(optimizer, lr=lr, **hyper)
    _check_int("epochs", epochs, 0)
    _check_int("batch_size", batch_size, 1, allow_none=True)
    params_ = _as_params(params)
    if batches is None:
        data_ = _as_data(data)
        if sample_axes is None:
            axes = {k: 0 for k, v in data_.items() if v.ndim >= 1}
        else:
            axes = {k: int(a) for k, a in sample_axes.items() if a is not None and k in data_}
        batches = Batches(data_, axes, batch_size, seed)
    else:
        data_ = dict(batches.data)
    show = wants_progress(progress, epochs)
    # overflow and NaN are caught on the loss and reported as TrainingDiverged,
    # so NumPy's warnings about them would only repeat that, once per step
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if opt.full_batch and not batches.full:
            raise MatdiffError(f"{opt.name} is a full-batch solver: leave batch_size unset")
        if opt.solver == "scipy-lbfgs":
            from .lbfgs import run_lbfgs

            return run_lbfgs(value_and_grad, params_, data_, opt, epochs, callback, show,
                             backend, samples=batches.n)
        return _run_steps(value_and_grad, params_, batches, opt, epochs, callback, show,
                          backend)


def _run_steps(vg: ValueAndGrad, params: dict[str, np.ndarray], batches: Batches,
               opt: Optimizer, epochs: int, callback: Callback | None,
               show: bool, backend: str) -> FitResult:
    start_time = time.perf_counter()
    state = opt.init(params)
    history: list[float] = []
    checked = False
    best: dict[str, Any] = {"params": params, "loss": math.inf, "epoch": 0}
    initial = [math.nan]
    bar = Progress(epochs, show, desc=opt.name)
    stopped = False
    cost = {"evaluations": 0, "rows": 0}  # gradient evaluations and the rows they read
    samples = batches.n

    def result(p: dict[str, np.ndarray], loss: float, done: int, message: str = "") -> FitResult:
        return FitResult(params={k: np.asarray(v) for k, v in p.items()}, history=history,
                         loss=loss, optimizer=opt.describe(), epochs=done,
                         seconds=time.perf_counter() - start_time,
                         backend=backend, message=message, stopped_early=stopped,
                         ).count(cost["evaluations"], cost["rows"], samples)

    def diverged(loss: float, epoch: int, where: str, finite_loss: float) -> TrainingDiverged:
        if best["epoch"] == 0:
            kept = "the initial parameters"
        else:
            kept = f"the best parameters (loss {best['loss']:.6g}, epoch {best['epoch']})"
        hint = ("check the data and initial values for NaN or infinities"
                if where == "at the initial parameters" else
                f"the learning rate ({opt.hyper.get('lr')}) may be too large")
        what = f"became {loss}" if not math.isfinite(loss) else \
            f"grew from {initial[0]:.6g} to {loss:.6g}, more than a million-fold"
        msg = (f"training diverged: the loss {what} at epoch {epoch} ({where}): {hint}; "
               f"{kept} are kept in the error's .result")
        best_loss = best["loss"] if math.isfinite(best["loss"]) else finite_loss
        return TrainingDiverged(msg, result(best["params"], best_loss, epoch - 1,
                                            f"diverged at epoch {epoch}"), epoch)

    last_finite = math.nan
    try:
        for epoch in range(1, epochs + 1):
            total = 0.0
            seen = 0
            for step, (batch, size) in enumerate(batches.epoch(), start=1):
                values = dict(batch)
                values.update(params)
                loss, grads = vg(values)
                cost["evaluations"] += 1
                cost["rows"] += size
                loss = float(loss)
                if math.isnan(initial[0]):
                    initial[0] = loss
                if not math.isfinite(loss) or abs(loss) > GROWTH * max(abs(initial[0]), 1.0):
                    where = ("at the initial parameters" if epoch == 1 and step == 1
                             else f"batch {step}")
                    raise diverged(loss, epoch, where, last_finite)
                if not checked:
                    check_grads(grads, params)
                    checked = True
                last_finite = loss
                if loss < best["loss"]:
                    best.update(params=params, loss=loss, epoch=epoch)
                total += loss * size
                seen += size
                params = opt.update(params, grads, state)
            epoch_loss = total / seen
            history.append(epoch_loss)
            bar.update(epoch_loss)
            if callback is not None and callback(
                    epoch, epoch_loss, {k: np.asarray(v) for k, v in params.items()}):
                stopped = True
                break
        done = len(history)
        values = dict(batches.data)
        values.update(params)
        final, _ = vg(values)
        cost["evaluations"] += 1
        cost["rows"] += samples or 0
        final = float(final)
        if not math.isfinite(final):
            raise diverged(final, max(done, 1), "after the last step", last_finite)
    finally:
        bar.close()
    return result(params, final, done, "stopped by the callback" if stopped else
                  f"ran its {epochs} epochs")
