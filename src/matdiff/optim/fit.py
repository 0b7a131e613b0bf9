"""`fit`: train the parameters of a loss written in the text language.

    result = matdiff.fit("mean((y - max(0, X*w + b)).^2)",
                         params={"w": "zeros", "b": 0.0},
                         data={"X": X, "y": y}, optimizer="adam", lr=0.01, epochs=200)
    result.params["w"], result.history, result.loss

Everything that can be checked before training is checked first, each with
a message in the user's terms: the loss is a scalar, every parameter occurs
in it, every other variable has data, the data's shapes agree with the
loss's dimensions. The gradient function is built once (see gradients.py),
then the loop in loop.py runs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import MatdiffError, MatdiffWarning
from .chunked import is_lazy
from .data import is_table, load_data, table_data
from .gradient_sources import gradient_function, gradient_option
from .libraries import LIBRARIES, fastest_library, library_gradient
from .loop import Callback, FitResult, TrainingDiverged, train
from .optimizers import Optimizer, get_optimizer
from .setup import bind_dims, initialize, sample_axes, shape_text

__all__ = ["fit", "prepare", "per_example_names"]


def _loss_expression(loss: Any, declare: Mapping[str, str] | None) -> Any:
    from ..api import Expression, parse_text

    if isinstance(loss, Expression):
        expr = loss
    elif isinstance(loss, str):
        expr = parse_text(loss, declare, 4, goal="scalar")  # a loss is a scalar: types names
    else:
        raise MatdiffError(f"the loss must be an expression (text), not {type(loss).__name__}")
    if tuple(expr.shape) != ():
        hint = "wrap it in sum(...) or mean(...)"
        meant = _meant_as_scalars(expr, declare)
        if meant:  # most often a weight such as lam, taken for a vector by its first letter
            names = ", ".join(f"{n} (taken for a {expr.assumptions[n]} by its first letter)"
                              for n in meant)
            hint = (f"declare {names} a scalar: declare={{{meant[0]!r}: 'scalar'}}, or on "
                    f"the command line --declare {meant[0]}=scalar or --const "
                    f"{meant[0]}=VALUE")
        raise MatdiffError(f"the loss must be a scalar, but {expr.text!r} is "
                           f"{shape_text(expr.shape)}; {hint}")
    return expr


def _meant_as_scalars(expr: Any, declare: Mapping[str, str] | None) -> list[str]:
    """Names the first-letter default made non-scalar whose being scalars makes the loss one."""
    from ..api import parse

    out = []
    for name, kind in expr.assumptions.items():
        if kind == "scalar":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MatdiffWarning)
                if parse(expr.text, {**(declare or {}), name: "scalar"}).shape == ():
                    out.append(name)
        except MatdiffError:
            continue
    return out


def _numeric(name: str, value: Any, what: str) -> np.ndarray:
    """float64 view of the data (no copy when it already is); parameters are copied later.

    Dask arrays stay lazy: only their dtype is checked here.
    """
    if is_lazy(value):
        if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype,
                                                                        np.complexfloating):
            raise MatdiffError(f"{what} '{name}' is not real numbers (dtype {value.dtype})")
        return value
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MatdiffError(f"{what} '{name}' is not numeric (got {type(value).__name__})") \
            from None
    return arr


def _one_library(data: Mapping[str, Any]) -> None:
    """Dask arrays mix with NumPy ones; arrays of two other libraries in one fit are refused.

    Dask with PyTorch (say) would bring the tensor into memory silently and
    train on the Dask arrays chunk by chunk: ask for one kind instead.
    """
    from ..codegen.backends import backend_of

    found: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, np.ndarray | np.generic):
            continue
        library = backend_of({name: value})
        if library != "numpy":
            found.setdefault(library, name)
    if len(found) > 1:
        listing = ", ".join(f"'{n}' is {lib}" for lib, n in found.items())
        raise MatdiffError(f"data from different array libraries ({listing}); give Dask arrays "
                           "(with NumPy arrays if you like), or arrays of one library")


def per_example_names(variables: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    """The data arrays holding a stack of examples: one axis more than their variable, the
    examples along axis 0 (a stack of 8 x 8 images for a loss written for one image, with
    conv2). Then every data array must be such a stack, of one length (a 2-D array for
    a vector beside data that is no stack is a column given for a vector, not a stack)."""
    names = [k for k, a in data.items()
             if not is_lazy(a) and a.ndim == len(tuple(variables[k].shape)) + 1]
    if not names:
        return []
    others = [k for k in data if k not in names]
    if others and all(data[k].ndim < 3 for k in names):
        return []  # a (5, 1) column for a vector is a shape slip, reported as such later
    if others:
        raise MatdiffError(
            f"{', '.join(repr(k) for k in names)} "
            f"{'is a stack' if len(names) == 1 else 'are stacks'} of examples (one axis "
            f"more than declared) but {', '.join(repr(k) for k in others)} "
            f"{'is' if len(others) == 1 else 'are'} not: give every data array one example "
            "per entry of its first axis, or none")
    counts = {k: data[k].shape[0] for k in names}
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"'{k}' has {n}" for k, n in counts.items())
        raise MatdiffError(f"the stacks of examples differ in length: {listing}")
    return names


def _averaged(fn: Any, stacked: list[str]) -> Any:
    """A per-example (loss, gradients) function as the mean over a batch of stacked
    examples (a Python loop over the examples, each a call of the compiled function)."""
    def call(values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        n = len(values[stacked[0]])
        total, sums = 0.0, None
        for i in range(n):
            loss, grads = fn({k: (v[i] if k in stacked else v) for k, v in values.items()})
            total += float(loss)
            if sums is None:
                sums = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
            else:
                for k, g in grads.items():
                    sums[k] += g
        return total / n, {k: g / n for k, g in (sums or {}).items()}
    return call


def prepare(loss: Any, params: Mapping[str, Any], data: Mapping[str, Any] | None,
            declare: Mapping[str, str] | None = None, seed: int | None = 0,
            minibatch: bool = False,
            ) -> tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """Check a loss against its params and data; returns (expression, params, data, axes).

    Initialiser names in `params` ("zeros", "glorot", "he:64x32", "0.5") are
    turned into arrays whose shapes come from the data.
    """
    expr = _loss_expression(loss, declare)
    variables = expr.variables
    if not isinstance(params, Mapping) or not params:
        raise MatdiffError("give at least one parameter to train, as in params={'w': 'zeros'}")
    known = ", ".join(variables) or "none"
    for name in params:
        if name not in variables:
            raise MatdiffError(f"parameter '{name}' does not occur in the loss "
                               f"(its variables: {known})")
    if data is not None and not isinstance(data, Mapping):
        raise MatdiffError("data must be a dict of arrays by name, a data frame (its columns "
                           "by name) or a path to a data file, not "
                           f"{type(data).__name__}")
    data = dict(data or {})
    for name in params:
        if name in data:
            raise MatdiffError(f"'{name}' is given both as a parameter and as data")
    missing = [v for v in variables if v not in params and v not in data]
    if missing:
        given = ", ".join(data) or "none"
        raise MatdiffError(f"the loss uses {', '.join(repr(m) for m in missing)}, which "
                           f"{'is' if len(missing) == 1 else 'are'} neither a parameter nor "
                           f"in the data (data given: {given})")
    _one_library(data)
    data_arrays = {k: _numeric(k, data[k], "data") for k in variables if k in data}
    given_params = {k: _numeric(k, v, "parameter") for k, v in params.items()
                    if not isinstance(v, str)}
    stacked = per_example_names(variables, data_arrays)
    one = {k: (v[0] if k in stacked else v) for k, v in data_arrays.items()}  # one example
    dims = bind_dims(variables, {**one, **given_params})
    rng = np.random.default_rng(seed)
    values = {}
    for name, value in params.items():
        if isinstance(value, str):
            values[name] = initialize(name, value, tuple(variables[name].shape), dims, rng)
        else:
            values[name] = given_params[name].copy()
    bind_dims(variables, {**one, **values})  # initialisers given explicit shapes
    if stacked:  # a loss per example, its mean trained: the examples are the samples
        return expr, values, data_arrays, {k: 0 for k in stacked}
    _, axes = sample_axes(variables, list(data_arrays), list(params), minibatch=minibatch)
    return expr, values, data_arrays, axes


def fit(loss: Any, params: Mapping[str, Any], data: Mapping[str, Any] | None = None, *,
        declare: Mapping[str, str] | None = None, optimizer: str | Optimizer = "adam",
        lr: float | None = None, epochs: int = 100, batch_size: int | None = None,
        seed: int | None = 0, callback: Callback | None = None,
        progress: bool | None = None, gradients: str | None = None,
        client: Any = None, backend: str | None = None,
        no_worker_timeout: float | None = None, **hyper: Any) -> FitResult:
    """Minimise a scalar `loss` over `params`, given `data`, with derived gradients.

    params: name -> initial array, number, or initialiser name ("zeros",
    "ones", "normal", "uniform", "glorot", "he", optionally with a shape as
    "he:64x32"). data: name -> array for every other variable of the loss
    (NumPy or Dask arrays), a data frame (pandas; its columns by name, as a
    CSV file's: `y`, `X_0`, `X_1`, ...), or a path: an .npz or .csv file, a
    Zarr store or a folder of .npy files (the last two opened lazily, as Dask
    arrays).
    optimizer: a name from matdiff.optim.OPTIMIZERS (sgd, momentum, adam,
    lbfgs) or an Optimizer; `lr` and `**hyper` (momentum=0.9,
    nesterov=True, beta1=...) default to the papers' values.
    batch_size: None trains on the whole data each step; otherwise
    minibatches of the sample axis, reshuffled each epoch from `seed`.
    callback(epoch, loss, params) may return True to stop early.
    progress: show a bar (None: only on a terminal). gradients: force
    "compiled" or "evaluate" gradients (None: the fastest that works; as
    `backend=` "compiled" or "evaluate" still work, with a DeprecationWarning).
    backend: the array library whose compiled code computes each step's loss
    and gradients ("numpy", "torch", "jax"; None: NumPy, or on a step of more
    than 2 ms the fastest installed on this data, timed once: libraries.py);
    parameters and results stay NumPy. `result.extra["library"]` names it.
    client: for Dask data, a distributed.Client or a scheduler address
    (None: the default client, else a LocalCluster for this fit); see
    chunked.py and docs/data.md for which losses split over chunks.
    no_worker_timeout: for Dask data, seconds the fit waits while the cluster
    has no worker at all before it stops with a MatdiffError (None:
    matdiff.optim.chunked.NO_WORKER_TIMEOUT, 60).

    Raises MatdiffError before training for mismatched data or parameters,
    and TrainingDiverged (a MatdiffError whose `.result` holds the last
    finite parameters and the history) when the loss becomes NaN or infinite.
    """
    library = None
    if backend in LIBRARIES:  # an array library; backend= as "compiled"/"evaluate" is old
        library, backend = backend, None
    gradients = gradient_option(gradients, backend)
    opt = get_optimizer(optimizer, lr=lr, **hyper)
    if isinstance(data, str | os.PathLike) or is_table(data):
        expr = _loss_expression(loss, declare)
        wanted = [v for v in expr.variables if v not in (params or {})]
        data = (table_data(data, expr.variables, wanted) if is_table(data)
                else load_data(data, expr.variables, wanted))
    expr, values, data_arrays, axes = prepare(loss, params, data, declare, seed,
                                              minibatch=batch_size is not None)
    if any(is_lazy(v) for v in data_arrays.values()):
        if library not in (None, "numpy"):
            raise MatdiffError(f"backend={library!r}: Dask data trains chunk by chunk in "
                               "NumPy; give arrays in memory to train through another library")
        from .fit_chunked import fit_chunked

        return fit_chunked(expr, values, data_arrays, axes, opt, epochs=epochs,
                           batch_size=batch_size, seed=seed, callback=callback,
                           progress=progress, client=client,
                           no_worker_timeout=no_worker_timeout)
    for name, given in (("client", client), ("no_worker_timeout", no_worker_timeout)):
        if given is not None:
            raise MatdiffError(f"{name}= applies to Dask data (Dask arrays, a Zarr store or "
                               "a folder of .npy files); this data is in memory")
    wrt = list(values)
    stacked = per_example_names(expr.variables, data_arrays)
    probe = {**{k: (v[0] if k in stacked else v) for k, v in data_arrays.items()}, **values}
    try:
        fn, used, reasons = gradient_function(expr, wrt, declare, gradients=gradients,
                                                probe=probe)
    except MatdiffError as e:
        raise MatdiffError(f"cannot evaluate the loss on this data: {e}") from e
    step = probe if stacked else _one_step(probe, axes, batch_size)  # stacked: one example
    fn, library, times = _through_library(expr, wrt, declare, fn, used, library, step)
    if stacked:
        fn = _averaged(fn, stacked)
    try:
        result = train(fn, values, data_arrays, optimizer=opt, epochs=epochs,
                       batch_size=batch_size, seed=seed, callback=callback,
                       progress=progress, sample_axes=axes, backend=used)
    except TrainingDiverged as e:
        e.result.extra.update(loss=expr.text, skipped_backends=reasons, library=library)
        raise
    result.extra.update(loss=expr.text, skipped_backends=reasons, library=library,
                        library_seconds=times)
    return result


def _through_library(expr: Any, wrt: list[str], declare: Any, fn: Any, used: str,
                     library: str | None, step: Mapping[str, Any]
                     ) -> tuple[Any, str, dict[str, float]]:
    """(gradient function, array library, {library: seconds per step timed}): the one
    named, or the fastest installed on one step's data (libraries.py)."""
    if used != "compiled":
        if library not in (None, "numpy"):
            raise MatdiffError(f"backend={library!r} runs compiled gradients; "
                               f"gradients={used!r} runs on NumPy")
        return fn, "numpy", {}
    if library is None:
        library, fn, times = fastest_library(expr, wrt, declare, step, fn)
        return fn, library, times
    if library == "numpy":
        return fn, library, {}
    try:
        chosen = library_gradient(expr, wrt, declare, library)
        chosen(step)
    except ImportError as e:
        raise MatdiffError(f"backend={library!r}: {library} is not installed ({e})") from None
    return chosen, library, {}


def _one_step(values: Mapping[str, Any], axes: Mapping[str, int | None],
              batch_size: int | None) -> dict[str, Any]:
    """The values of one training step: a minibatch's first samples, or everything."""
    if batch_size is None:
        return dict(values)
    out = dict(values)
    for name, axis in axes.items():
        if axis is not None and name in out and np.ndim(out[name]) > axis:
            out[name] = np.take(out[name], np.arange(min(batch_size, out[name].shape[axis])),
                                axis=axis)
    return out
