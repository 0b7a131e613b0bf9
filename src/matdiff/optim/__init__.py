"""Training with derived gradients: optimisers, the loop, and `fit`.

    matdiff.fit(loss, params, data, optimizer="adam", lr=0.01, epochs=100)

Modules: optimizers.py (the registry: sgd, momentum, adam, lbfgs),
loop.py (`train` with any value-and-gradient function, FitResult,
TrainingDiverged), lbfgs.py (SciPy), gradients.py (the one interface to the
engine), setup.py (shapes, initialisers, the sample axis), fit.py,
report.py (progress bar, loss plot), data.py (loading .npz and .csv).
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
