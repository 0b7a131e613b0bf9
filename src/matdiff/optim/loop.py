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
    run = _Run(vg, params, batches, opt, callback, backend)
    bar = Progress(epochs, show, desc=opt.name)
    try:
        for epoch in range(1, epochs + 1):
            epoch_loss = run.epoch(epoch)
            bar.update(epoch_loss)
            if run.callback_stops(epoch, epoch_loss):
                break
        done = len(run.history)
        final = run.final_loss(done)
    finally:
        bar.close()
    return run.result(run.params, final, done, "stopped by the callback" if run.stopped else
                      f"ran its {epochs} epochs")


class _Run:
    """The state of one run of optimiser steps: parameters, history, the best point seen
    (kept when training diverges), and the cost in gradient evaluations and rows read."""

    def __init__(self, vg: ValueAndGrad, params: dict[str, np.ndarray], batches: Batches,
                 opt: Optimizer, callback: Callback | None, backend: str) -> None:
        self.vg, self.params, self.batches, self.opt = vg, params, batches, opt
        self.callback, self.backend = callback, backend
        self.start_time = time.perf_counter()
        self.state = opt.init(params)
        self.history: list[float] = []
        self.checked = False
        self.best: dict[str, Any] = {"params": params, "loss": math.inf, "epoch": 0}
        self.initial = math.nan
        self.last_finite = math.nan
        self.stopped = False
        self.evaluations = 0  # gradient evaluations
        self.rows = 0         # and the rows they read

    def epoch(self, epoch: int) -> float:
        """One pass over the batches, a step each; the epoch's mean loss."""
        total = 0.0
        seen = 0
        for step, (batch, size) in enumerate(self.batches.epoch(), start=1):
            loss = self._step(batch, size, epoch, step)
            total += loss * size
            seen += size
        epoch_loss = total / seen
        self.history.append(epoch_loss)
        return epoch_loss

    def _step(self, batch: Mapping[str, Any], size: int, epoch: int, step: int) -> float:
        values = dict(batch)
        values.update(self.params)
        loss, grads = self.vg(values)
        self.evaluations += 1
        self.rows += size
        loss = float(loss)
        if math.isnan(self.initial):
            self.initial = loss
        if not math.isfinite(loss) or abs(loss) > GROWTH * max(abs(self.initial), 1.0):
            where = ("at the initial parameters" if epoch == 1 and step == 1
                     else f"batch {step}")
            raise self.diverged(loss, epoch, where)
        if not self.checked:
            check_grads(grads, self.params)
            self.checked = True
        self.last_finite = loss
        if loss < self.best["loss"]:
            self.best.update(params=self.params, loss=loss, epoch=epoch)
        self.params = self.opt.update(self.params, grads, self.state)
        return loss

    def callback_stops(self, epoch: int, epoch_loss: float) -> bool:
        if self.callback is not None and self.callback(
                epoch, epoch_loss, {k: np.asarray(v) for k, v in self.params.items()}):
            self.stopped = True
        return self.stopped

    def final_loss(self, done: int) -> float:
        """The loss over the whole data at the last parameters."""
        values = dict(self.batches.data)
        values.update(self.params)
        final, _ = self.vg(values)
        self.evaluations += 1
        self.rows += self.batches.n or 0
        final = float(final)
        if not math.isfinite(final):
            raise self.diverged(final, max(done, 1), "after the last step")
        return final

    def result(self, p: dict[str, np.ndarray], loss: float, done: int,
               message: str = "") -> FitResult:
        return FitResult(params={k: np.asarray(v) for k, v in p.items()},
                         history=self.history, loss=loss, optimizer=self.opt.describe(),
                         epochs=done, seconds=time.perf_counter() - self.start_time,
                         backend=self.backend, message=message, stopped_early=self.stopped,
                         ).count(self.evaluations, self.rows, self.batches.n)

    def diverged(self, loss: float, epoch: int, where: str) -> TrainingDiverged:
        best = self.best
        if best["epoch"] == 0:
            kept = "the initial parameters"
        else:
            kept = f"the best parameters (loss {best['loss']:.6g}, epoch {best['epoch']})"
        hint = ("check the data and initial values for NaN or infinities"
                if where == "at the initial parameters" else
                f"the learning rate ({self.opt.hyper.get('lr')}) may be too large")
        what = f"became {loss}" if not math.isfinite(loss) else \
            f"grew from {self.initial:.6g} to {loss:.6g}, more than a million-fold"
        msg = (f"training diverged: the loss {what} at epoch {epoch} ({where}): {hint}; "
               f"{kept} are kept in the error's .result")
        best_loss = best["loss"] if math.isfinite(best["loss"]) else self.last_finite
        return TrainingDiverged(msg, self.result(best["params"], best_loss, epoch - 1,
                                                 f"diverged at epoch {epoch}"), epoch)
