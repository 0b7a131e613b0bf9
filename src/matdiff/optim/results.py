"""What a training run gives back, shared by the loop and L-BFGS (neither imports the other).

`ValueAndGrad` and `Callback` are the signatures both runners take;
`FitResult` and `TrainingDiverged` what they return and raise;
`check_grads` the one check of a gradient function's output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MatdiffError
from .report import plot_history

__all__ = ["ValueAndGrad", "Callback", "FitResult", "TrainingDiverged", "check_grads"]

#: values (data and params by name) -> (scalar loss, gradient of each param)
ValueAndGrad = Callable[[Mapping[str, Any]], tuple[float, Mapping[str, Any]]]
#: callback(epoch, loss, params); returning True stops training after that epoch
Callback = Callable[[int, float, dict[str, np.ndarray]], Any]


@dataclass
class FitResult:
    """Trained `params`, the per-epoch loss `history`, and the final `loss` over all data.

    `converged`: the optimiser's own test passed (L-BFGS's gtol/ftol; first-order
    optimisers run their epochs and never claim it), `message` says why it stopped.
    The cost: `gradient_evaluations` (calls of the loss-and-gradient function,
    the final loss included), `data_passes` (rows evaluated over the number of
    samples) and `rows_per_second` (rows evaluated per second of the run).
    """

    params: dict[str, np.ndarray]
    history: list[float]
    loss: float
    optimizer: str
    epochs: int
    seconds: float = 0.0
    backend: str = "custom"
    message: str = ""
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    converged: bool = False
    gradient_evaluations: int = 0
    data_passes: float = 0.0
    rows_per_second: float = 0.0

    def count(self, evaluations: int, rows: int, samples: int | None) -> FitResult:
        """Fill in the cost of the run from the evaluations and rows it made."""
        self.gradient_evaluations = evaluations
        self.data_passes = rows / samples if samples else float(evaluations)
        self.rows_per_second = rows / self.seconds if self.seconds > 0 else 0.0
        return self

    def summary(self) -> dict[str, Any]:
        """The JSON-ready record of the run, without the parameters and the history."""
        return {"final_loss": self.loss, "epochs": self.epochs, "optimizer": self.optimizer,
                "backend": self.backend, "converged": self.converged,
                "message": self.message, "stopped_early": self.stopped_early,
                "gradient_evaluations": self.gradient_evaluations,
                "data_passes": self.data_passes, "rows_per_second": self.rows_per_second,
                "seconds": self.seconds}

    def plot(self, path: Any, title: str | None = None, **options: Any) -> Any:
        """Write the loss curve as a PNG to a path or file object (needs matplotlib);
        options go to plot_history."""
        return plot_history(self.history, path,
                            title=title or f"{self.optimizer.split('(')[0]} training loss",
                            **options)

    def _repr_html_(self) -> str:
        """The summary and the loss curve inline (a PNG, when matplotlib is installed)."""
        import io

        from ..printing.html import fit_result_html

        png = None
        if self.history:
            try:
                buf = io.BytesIO()
                self.plot(buf)
                png = buf.getvalue()
            except MatdiffError:  # no matplotlib: the summary alone
                png = None
        return fit_result_html(self, png)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.params.items())
        done = ", converged" if self.converged else ""
        return (f"<FitResult {self.optimizer}, {self.epochs} epochs{done}, "
                f"loss {self.loss:.6g}, params {{{shapes}}}>")


class TrainingDiverged(MatdiffError):
    """The loss became NaN or infinite, or grew by orders of magnitude; `result` holds the
    best params seen and the history."""

    def __init__(self, message: str, result: FitResult, epoch: int) -> None:
        super().__init__(message)
        self.result = result
        self.epoch = epoch


def check_grads(grads: Mapping[str, Any], params: dict[str, np.ndarray]) -> None:
    """Every parameter has a gradient of its shape (a MatdiffError naming it otherwise)."""
    for name, p in params.items():
        if name not in grads:
            raise MatdiffError(f"the gradient function returned no gradient for '{name}'")
        shape = np.shape(grads[name])
        if shape != p.shape:
            raise MatdiffError(f"the gradient of '{name}' has shape {shape}, "
                               f"but the parameter has shape {p.shape}")
