"""`fit` on Dask data: the loss split over chunks, the gradient reduced on a cluster.

Called by fit.py once the data are known to include Dask arrays. The loss is
split first (decompose.py), so a loss that does not decompose is refused
before any cluster starts; then the cluster is connected (chunked.py), the
training loop runs with the chunked gradient and batches, and a cluster
started for this fit is closed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import MatdiffError
from .chunked import ChunkBatches, ChunkedData, ChunkedGradient, Connection, connect, is_lazy
from .decompose import SampleSplit, split_over_samples
from .loop import Callback, FitResult, TrainingDiverged, train
from .optimizers import Optimizer
from .report import wants_progress
from .setup import bind_dims

__all__ = ["fit_chunked", "chunked_setup"]


def fit_chunked(expr: Any, values: dict[str, np.ndarray], data: Mapping[str, Any],
                axes: Mapping[str, int], opt: Optimizer, *, epochs: int,
                batch_size: int | None, seed: int | None, callback: Callback | None,
                progress: bool | None, client: Any,
                no_worker_timeout: float | None = None) -> FitResult:
    show = wants_progress(progress, epochs)
    split = _split(expr, axes)
    connection = connect(client, no_worker_timeout)
    try:
        fn, batches, info = chunked_setup(expr, values, data, axes, connection, split,
                                          batch_size=batch_size, seed=seed, progress=show)
        try:
            result = train(fn, values, None, optimizer=opt, epochs=epochs,
                           batch_size=batch_size, seed=seed, callback=callback,
                           progress=progress, backend="dask", batches=batches)
        except TrainingDiverged as e:
            e.result.extra.update(info)
            raise
    finally:
        connection.close()
    result.extra.update(info)
    return result


def _split(expr: Any, axes: Mapping[str, int]) -> SampleSplit:
    if not axes:
        raise MatdiffError("Dask data needs a sample dimension: one that the data arrays "
                           "share and no parameter has")
    first = next(iter(axes))
    return split_over_samples(expr.ir, axes, expr.variables[first].shape[axes[first]])


def chunked_setup(expr: Any, values: dict[str, np.ndarray], data: Mapping[str, Any],
                  axes: Mapping[str, int], connection: Connection,
                  split: SampleSplit | None = None, *, batch_size: int | None = None,
                  seed: int | None = 0, progress: bool = False,
                  ) -> tuple[ChunkedGradient, ChunkBatches, dict[str, Any]]:
    """(gradient, batches, info) for `train` on a connected cluster (benchmarks call it too)."""
    split = split or _split(expr, axes)
    dims = bind_dims(expr.variables, {**data, **values})
    extra = {n: np.asarray(v.compute() if is_lazy(v) else v, dtype=np.float64)
             for n, v in data.items() if n not in axes}
    chunked = ChunkedData({n: data[n] for n in axes}, axes, connection.client)
    fn = ChunkedGradient(split, expr.variables, list(values), chunked, extra, connection,
                         dims, progress=progress)
    batches = ChunkBatches(chunked, batch_size, seed, connection, progress=progress)
    info = {"loss": expr.text, "chunks": chunked.nchunks, "rows": chunked.n,
            "persisted": chunked.persisted,
            "scheduler": getattr(connection.client, "scheduler", None) and
            str(connection.client.scheduler.address)}
    return fn, batches, info
