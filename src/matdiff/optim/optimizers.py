"""First-order optimisers in a name-keyed registry, with the papers' defaults.

Each optimiser is a small class with `init(params) -> state` and
`update(params, grads, state) -> new params`. `update` returns *new* arrays
and never writes into the ones it was given: the training loop keeps the
previous parameters by reference, so that when the loss turns NaN it can
hand back the last finite ones without copying on every step.

    sgd       x <- x - lr g                               (Robbins & Monro 1951)
    momentum  v <- mu v + g;  x <- x - lr v               (Polyak 1964, heavy ball)
              x <- x - lr (g + mu v)  with nesterov=True  (Sutskever et al. 2013)
    adam      m, v moment estimates with bias correction  (Kingma & Ba 2015)
    lbfgs     SciPy's L-BFGS-B on the full batch          (Liu & Nocedal 1989)

`lbfgs` is a full-batch solver, not a step rule: the loop in `loop.py`
hands it the whole problem (see `lbfgs.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import MatdiffError

__all__ = [
    "Optimizer", "SGD", "Momentum", "Adam", "LBFGS", "OPTIMIZERS",
    "get_optimizer", "optimizer_names",
]

Params = dict[str, np.ndarray]


class Optimizer:
    """Base class: hyperparameters with defaults, checked by name on construction."""

    name: ClassVar[str] = ""
    #: hyperparameter -> default; `lr` is always one of them
    defaults: ClassVar[dict[str, Any]] = {}
    #: True for solvers that need the whole data set at every step (no minibatches)
    full_batch: ClassVar[bool] = False
    #: what runs it: "steps" (loop.py calls `step` per minibatch) or "scipy-lbfgs"
    #: (lbfgs.run_lbfgs hands the whole problem to SciPy's L-BFGS-B)
    solver: ClassVar[str] = "steps"
    reference: ClassVar[str] = ""

    def __init__(self, lr: float | None = None, **hyper: Any) -> None:
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise MatdiffError(f"optimizer '{self.name}' has no option "
                               f"{', '.join(map(repr, unknown))} (its options: {valid})")
        settings = dict(self.defaults)
        settings.update(hyper)
        if lr is not None:
            settings["lr"] = lr
        self.hyper = settings
        self._validate()

    def _validate(self) -> None:
        lr = self.hyper.get("lr")
        if lr is not None and not _positive(lr):
            raise MatdiffError(f"learning rate must be a positive number, not {lr!r}")

    def init(self, params: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The optimiser's state for these parameters (moments start at zero)."""
        return {}

    def update(self, params: Params, grads: Mapping[str, np.ndarray],
               state: dict[str, Any]) -> Params:
        raise NotImplementedError

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.hyper.items() if v is not None)
        return f"{self.name}({opts})"

    def __repr__(self) -> str:
        return f"<Optimizer {self.describe()}>"


def _positive(x: Any) -> bool:
    return isinstance(x, int | float | np.floating | np.integer) and not isinstance(x, bool) \
        and math.isfinite(float(x)) and float(x) > 0


def _fraction(name: str, x: Any) -> None:
    if not (isinstance(x, int | float | np.floating) and 0.0 <= float(x) < 1.0):
        raise MatdiffError(f"{name} must be a number in [0, 1), not {x!r}")


def _zeros(p: np.ndarray) -> np.ndarray | float:
    """Zero state for a parameter: a float for a scalar, whose arithmetic is much cheaper."""
    return 0.0 if np.ndim(p) == 0 else np.zeros_like(p)


class SGD(Optimizer):
    """Plain gradient descent: the baseline every other rule is measured against."""

    name = "sgd"
    defaults = {"lr": 0.01}
    reference = "Robbins & Monro (1951)"

    def update(self, params, grads, state):
        lr = self.hyper["lr"]
        return {k: p - lr * grads[k] for k, p in params.items()}


class Momentum(Optimizer):
    """Heavy ball (Polyak) or Nesterov momentum: damps oscillation across narrow valleys.

    The velocity form used by PyTorch: v <- mu v + g; the step is lr v, or
    lr (g + mu v) with Nesterov's look-ahead.
    """

    name = "momentum"
    defaults = {"lr": 0.01, "momentum": 0.9, "nesterov": False}
    reference = "Polyak (1964); Sutskever, Martens, Dahl & Hinton (2013)"

    def _validate(self) -> None:
        super()._validate()
        _fraction("momentum", self.hyper["momentum"])

    def init(self, params):
        return {"v": {k: _zeros(p) for k, p in params.items()}}

    def update(self, params, grads, state):
        lr, mu = self.hyper["lr"], self.hyper["momentum"]
        nesterov = bool(self.hyper["nesterov"])
        out = {}
        vel = state["v"]
        for k, p in params.items():
            g = grads[k]
            if isinstance(vel[k], float):  # a scalar: Python floats, not 0-d arrays
                g = float(g)
                vel[k] = v = mu * vel[k] + g
                out[k] = float(p) - lr * (g + mu * v if nesterov else v)
                continue
            v = vel[k]
            v *= mu
            v += g
            step = g + mu * v if nesterov else v
            out[k] = p - lr * step
        return out


class Adam(Optimizer):
    """Adam: per-coordinate steps scaled by running moment estimates (Algorithm 1).

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    x <- x - lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - b1^t),
    v_hat = v / (1 - b2^t).
    """

    name = "adam"
    defaults = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    reference = "Kingma & Ba (2015)"

    def _validate(self) -> None:
        super()._validate()
        _fraction("beta1", self.hyper["beta1"])
        _fraction("beta2", self.hyper["beta2"])
        if not _positive(self.hyper["eps"]):
            raise MatdiffError(f"eps must be a positive number, not {self.hyper['eps']!r}")

    def init(self, params):
        return {"t": 0,
                "m": {k: _zeros(p) for k, p in params.items()},
                "v": {k: _zeros(p) for k, p in params.items()}}

    def update(self, params, grads, state):
        h = self.hyper
        b1, b2, eps = h["beta1"], h["beta2"], h["eps"]
        state["t"] += 1
        t = state["t"]
        c1 = 1.0 - b1 ** t
        c2 = 1.0 - b2 ** t
        step = h["lr"] / c1
        root_c2 = math.sqrt(c2)
        out = {}
        ms, vs = state["m"], state["v"]
        for k, p in params.items():
            g = grads[k]
            if isinstance(ms[k], float):  # a scalar: Python floats, not 0-d arrays
                g = float(g)
                ms[k] = m = b1 * ms[k] + (1.0 - b1) * g
                vs[k] = v = b2 * vs[k] + (1.0 - b2) * g * g
                out[k] = float(p) - step * m / (math.sqrt(v) / root_c2 + eps)
                continue
            m, v = ms[k], vs[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            # m_hat / (sqrt(v_hat) + eps) = (m / c1) / (sqrt(v) / sqrt(c2) + eps)
            out[k] = p - step * m / (np.sqrt(v) / root_c2 + eps)
        return out


class LBFGS(Optimizer):
    """Limited-memory BFGS through SciPy: curvature from the last `memory` steps.

    A full-batch solver: `epochs` caps its iterations, and `lr` does not
    apply (a line search chooses each step).
    """

    name = "lbfgs"
    defaults = {"lr": None, "memory": 10, "gtol": 1e-8, "ftol": 1e-12}
    full_batch = True
    solver = "scipy-lbfgs"
    reference = "Liu & Nocedal (1989); SciPy L-BFGS-B"

    def _validate(self) -> None:
        if self.hyper["lr"] is not None:
            raise MatdiffError("lbfgs takes no learning rate: its line search chooses each step")
        memory = self.hyper["memory"]
        if not isinstance(memory, int) or isinstance(memory, bool) or memory < 1:
            raise MatdiffError(f"memory must be a whole number >= 1, not {memory!r}")
        for key in ("gtol", "ftol"):
            if not (_positive(self.hyper[key])):
                raise MatdiffError(f"{key} must be a positive number, not {self.hyper[key]!r}")

    def update(self, params, grads, state):  # pragma: no cover - never stepped
        raise MatdiffError("lbfgs is a full-batch solver; use matdiff.fit or train")


#: name -> optimiser class; the error for an unknown name lists these
OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Adam, LBFGS)
}


def optimizer_names() -> list[str]:
    return list(OPTIMIZERS)


def get_optimizer(optimizer: str | Optimizer, lr: float | None = None,
                  **hyper: Any) -> Optimizer:
    """An optimiser from its registry name (or an instance, returned as is)."""
    if isinstance(optimizer, Optimizer):
        if lr is not None or hyper:
            raise MatdiffError("pass options to the optimizer's constructor, not beside it")
        return optimizer
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        valid = ", ".join(OPTIMIZERS)
        raise MatdiffError(f"unknown optimizer {optimizer!r}; valid names: {valid}")
    return OPTIMIZERS[optimizer.lower()](lr=lr, **hyper)
