"""What a person sees while and after training: a progress bar and a loss curve.

Both are optional extras (tqdm, matplotlib). Without tqdm the bar is simply
not shown; without matplotlib, asking for a plot is a clear MatdiffError
that names the extra to install.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import MatdiffError

__all__ = ["Progress", "plot_history", "wants_progress"]


def wants_progress(progress: bool | None, epochs: int) -> bool:
    """Show a bar when asked, or by default on a terminal for runs long enough to wait on."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("MATDIFF_QUIET"):
        return False
    stream = sys.stderr
    return epochs >= 20 and hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """A tqdm bar over epochs (or chunks) showing the latest loss; a no-op when off or tqdm
    is missing."""

    def __init__(self, total: int, enabled: bool, desc: str = "fit",
                 unit: str = "epoch") -> None:
        self.bar: Any = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # the bar is a nicety, never a requirement
            return
        self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False,
                        dynamic_ncols=True, file=sys.stderr)

    def update(self, loss: float | None) -> None:
        if self.bar is not None:
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def plot_history(history: Sequence[float], path: str | os.PathLike[str],
                 title: str = "training loss", log_scale: bool | None = None,
                 reference: float | None = None, reference_label: str = "reference") -> str:
    """Write the loss curve as a PNG (matplotlib, the `train` extra); returns the path.

    The y axis is logarithmic when the loss spans more than two decades and
    stays positive, so that the late, slow part of training stays visible.
    `reference` draws a dashed level to compare against (an optimum, say).
    """
    try:  # a bare Figure renders with Agg and leaves pyplot's global backend alone
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise MatdiffError("plotting needs matplotlib: pip install 'matdiff[train]'") from e
    values = [float(v) for v in history]
    if not values:
        raise MatdiffError("there is no loss history to plot")
    if log_scale is None:
        positive = [v for v in values if v > 0]
        log_scale = len(positive) == len(values) and max(values) > 100 * min(values)
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    try:
        ax.plot(range(1, len(values) + 1), values, color="#1f77b4", linewidth=1.6,
                label="loss")
        if reference is not None:
            ax.axhline(reference, color="#d62728", linestyle="--", linewidth=1.2,
                       label=reference_label)
            ax.legend(loc="upper right")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        # a file object (a notebook's inline plot) or a path
        fig.savefig(path if hasattr(path, "write") else os.fspath(path), format="png")
    except OSError as e:
        raise MatdiffError(f"cannot write the plot to {path!r}: {e}") from e
    return path if hasattr(path, "write") else os.fspath(path)
