"""Fitting data and parameters to a loss's symbolic shapes, before any training step.

The loss's variables carry symbolic shapes (X: m x n, w: n, y: m). From the
arrays given we bind each dimension to a size, so that a mismatch is
reported in the user's terms (which arrays disagree on which dimension),
parameters written as initialiser names ("zeros", "glorot") get their
shapes, and the *sample* dimension is found: the one the data arrays share
and no parameter has. Minibatches slice that axis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError
from ..signature import bind_shape, shape_text, shape_words
from ..typing import Shape

__all__ = ["bind_dims", "INITIALIZERS", "initialize", "sample_axes", "shape_text"]


def bind_dims(variables: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[Any, int]:
    """Each symbolic dimension's size, read off the given arrays; disagreements are errors
    (signature.py's wording, after "data does not fit the loss")."""
    dims: dict[Any, int] = {}
    sources: dict[Any, str] = {}
    for name, arr in arrays.items():
        shape = tuple(variables[name].shape)
        try:
            bind_shape(name, shape, arr.shape, dims, sources)
        except MatdiffError as e:
            hint = " (ravel it to a 1-D array)" if len(shape) == 1 and arr.ndim == 2 \
                and 1 in arr.shape else ""
            raise type(e)(f"data does not fit the loss: {e}{hint}") from None
    return dims


# ------------------------------------------------------------------ initialisers

def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], int(np.prod(shape[1:]))


def _glorot(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Glorot & Bengio (2010): uniform with variance 2 / (fan_in + fan_out)."""
    fan_in, fan_out = _fans(shape)
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape)


def _he(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """He et al. (2015): normal with variance 2 / fan_in, for ReLU layers."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


#: initialiser name -> fn(shape, rng); a number (as text) fills with that constant
INITIALIZERS: dict[str, Callable[[tuple[int, ...], np.random.Generator], np.ndarray]] = {
    "zeros": lambda shape, rng: np.zeros(shape),
    "ones": lambda shape, rng: np.ones(shape),
    "normal": lambda shape, rng: rng.normal(0.0, 0.01, size=shape),
    "uniform": lambda shape, rng: rng.uniform(-0.01, 0.01, size=shape),
    "glorot": _glorot,
    "xavier": _glorot,
    "he": _he,
}


def _parse_spec(name: str, spec: str) -> tuple[str, tuple[int, ...] | None]:
    """'glorot' or 'glorot:64x32' (an explicit shape; 'zeros:' is a scalar)."""
    init, sep, dims = spec.strip().partition(":")
    if not sep:
        return init.strip(), None
    dims = dims.strip()
    try:
        shape = tuple(int(d) for d in dims.replace(",", "x").split("x") if d.strip()) \
            if dims else ()
    except ValueError:
        raise MatdiffError(f"parameter '{name}': cannot read the shape {dims!r}; "
                           "write it as 64x32") from None
    if any(d < 1 for d in shape):
        raise MatdiffError(f"parameter '{name}': sizes must be positive, not {dims!r}")
    return init.strip(), shape


def initialize(name: str, spec: str, leaf_shape: Shape, dims: Mapping[Any, int],
               rng: np.random.Generator) -> np.ndarray:
    """The initial value of parameter `name` from an initialiser spec."""
    init, shape = _parse_spec(name, spec)
    if shape is None:
        unknown = [d for d in leaf_shape if not isinstance(d, int) and d not in dims]
        if unknown:
            raise MatdiffError(
                f"cannot tell the shape of parameter '{name}' ({shape_text(leaf_shape)}): "
                f"no data array fixes {', '.join(map(str, unknown))}; give an array or a "
                f"shape, as in '{init}:{'x'.join('8' for _ in leaf_shape)}'")
        shape = tuple(d if isinstance(d, int) else dims[d] for d in leaf_shape)
    elif len(shape) != len(leaf_shape):
        raise MatdiffError(f"parameter '{name}' is {shape_words(leaf_shape)} in the loss, "
                           f"but the shape {shape_text(shape)} was given")
    if init in INITIALIZERS:
        return np.asarray(INITIALIZERS[init](shape, rng), dtype=np.float64)
    try:
        return np.full(shape, float(init))
    except ValueError:
        valid = ", ".join(INITIALIZERS)
        raise MatdiffError(f"unknown initializer {init!r} for parameter '{name}'; valid names: "
                           f"{valid}, or a number") from None


# ------------------------------------------------------------------ the sample axis

def sample_axes(variables: Mapping[str, Any], data_names: Sequence[str],
                param_names: Sequence[str], minibatch: bool = True,
                ) -> tuple[Any, dict[str, int]]:
    """The sample dimension and its axis in each data array that has it.

    It is the dimension carried by the most data arrays and by no parameter;
    among equals, the one that is axis 0 most often, then the first seen.
    Returns (None, {}) when no dimension qualifies (full-batch only).
    """
    in_params = {d for p in param_names for d in variables[p].shape if not isinstance(d, int)}
    counts: Counter = Counter()
    leading: Counter = Counter()
    order: dict[Any, int] = {}
    for name in data_names:
        shape = tuple(variables[name].shape)
        for axis, dim in enumerate(shape):
            if isinstance(dim, int) or dim in in_params:
                continue
            order.setdefault(dim, len(order))
            if axis == shape.index(dim):
                counts[dim] += 1
            if axis == 0:
                leading[dim] += 1
    if not counts:
        return None, {}
    dim = max(counts, key=lambda d: (counts[d], leading[d], -order[d]))
    axes = {}
    for name in data_names:
        shape = tuple(variables[name].shape)
        if dim in shape:
            if shape.count(dim) > 1:
                if not minibatch:
                    continue  # full-batch training never slices it
                raise MatdiffError(f"'{name}' ({shape_text(shape)}) has the sample dimension "
                                   f"{dim} on more than one axis, so it cannot be minibatched")
            axes[name] = shape.index(dim)
    return dim, axes
