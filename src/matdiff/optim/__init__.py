"""Training with derived gradients: optimisers, the loop, and `fit`.

    matdiff.fit(loss, params, data, optimizer="adam", lr=0.01, epochs=100)

Modules: optimizers.py (the registry: sgd, momentum, adam, lbfgs),
loop.py (`train` with any value-and-gradient function, TrainingDiverged),
results.py (FitResult), lbfgs.py (SciPy), gradient_sources.py (the one interface
to the engine: compiled or evaluated gradients), setup.py (shapes,
initialisers, the sample axis), fit.py, report.py (progress bar, loss plot),
data.py (loading .npz and .csv), lazydata.py (Zarr stores and .npy folders,
opened lazily), and for Dask data fit_chunked.py (`fit` over chunks),
decompose.py (which losses split into per-chunk terms) and chunked.py (the
per-chunk gradients, reduced on a cluster).
"""

from __future__ import annotations

from .data import load_data
from .fit import fit, prepare
from .loop import FitResult, TrainingDiverged, train
from .optimizers import (
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Optimizer,
    get_optimizer,
    optimizer_names,
)
from .report import plot_history
from .setup import INITIALIZERS

__all__ = [
    "fit", "train", "prepare", "FitResult", "TrainingDiverged",
    "Optimizer", "SGD", "Momentum", "Adam", "LBFGS", "OPTIMIZERS",
    "get_optimizer", "optimizer_names", "INITIALIZERS", "plot_history", "load_data",
]
