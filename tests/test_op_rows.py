"""One row per op and argument position of the language (docs/language.md), checked numerically.

Each row is an expression, the values it is evaluated at (drawn inside each
function's domain and away from kinks), and an independent NumPy
implementation. For every row and every variable of it we check

* order 0: `matdiff.parse(text).evaluate(values)` equals the NumPy value,
* order 1: `matdiff.diff(text, wrt).evaluate(values)` equals central finite
  differences of the NumPy function (shape shape(f) + shape(wrt)),
* order 2: the same with `order=2` against second differences
  (shape shape(f) + shape(wrt) + shape(wrt)).

Variables follow MatrixCalculus.org's first-letter defaults (a-g scalars,
h-z vectors, A-Z matrices) unless a row declares otherwise. Sizes: vectors
of 3, general matrices 2 x 3 (so that a transposition slip shows), square
matrices 3 x 3.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import matdiff
from conftest import (
    as_array,
    assert_matches,
    away_from_zero,
    check_derivative,
    positive,
    spd,
    symmetric,
    uniform,
    well_conditioned,
)
from matdiff.language.rules import FUNCTIONS

S, V, M, Q = (), (3,), (2, 3), (3, 3)   # scalar, vector, general matrix, square matrix


def _erf_scalar(u: float) -> float:
    import math
    return math.erf(u)


def _erf(u):  # independent of SciPy: the math module, entry by entry
    return np.vectorize(_erf_scalar, otypes=[np.float64])(u) if np.ndim(u) else \
        np.float64(_erf_scalar(float(u)))


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


@dataclass(frozen=True)
class Row:
    text: str
    make: Callable[[np.random.Generator], dict]   # rng -> values
    f: Callable[[dict], object]                   # values -> NumPy value
    wrt: tuple[str, ...] = ()                     # default: every variable in `make`
    declare: dict | None = field(default=None, hash=False)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.text


def _softmax_np(X, axis):
    e = np.exp(X)
    return e / e.sum(axis=axis, keepdims=True)


def row(text, make, f, wrt=(), declare=None, name=""):
    return Row(text, make, f, tuple(wrt), declare, name)


# ---- window ops, written with loops (independent of the library's strided views)

def _corr(x, k, pad=0, stride=1):
    """Deep learning's convolution (cross-correlation) of a vector or a matrix, by loops."""
    x = np.asarray(x)
    x = np.pad(x, pad) if pad else x
    k = np.asarray(k)
    out_shape = tuple((m - q) // stride + 1 for m, q in zip(x.shape, k.shape))
    out = np.zeros(out_shape, dtype=np.result_type(x, k))
    for idx in np.ndindex(*out_shape):
        window = tuple(slice(stride * i, stride * i + q) for i, q in zip(idx, k.shape))
        out[idx] = np.sum(x[window] * k)
    return out


def _pool(x, s, reduce):
    """Each s x s block (s-long stretch of a vector) reduced, by loops."""
    x = np.asarray(x)
    out = np.zeros(tuple(m // s for m in x.shape), dtype=x.dtype)
    for idx in np.ndindex(*out.shape):
        out[idx] = reduce(x[tuple(slice(s * i, s * i + s) for i in idx)])
    return out


def _conv_sizes(**sizes):
    return {n: f"vector({v})" if isinstance(v, int) else f"matrix({v[0]}, {v[1]})"
            for n, v in sizes.items()}




# --------------------------------------------------------------------------- element-wise functions

# name -> (NumPy implementation, domain sampler(rng, shape))
ELEMENTWISE = {
    "exp": (np.exp, lambda r, s: uniform(r, s, -1.0, 1.0)),
    "log": (np.log, lambda r, s: positive(r, s, 0.5, 2.0)),
    "sin": (np.sin, lambda r, s: uniform(r, s, -2.0, 2.0)),
    "cos": (np.cos, lambda r, s: uniform(r, s, -2.0, 2.0)),
    "tan": (np.tan, lambda r, s: uniform(r, s, -1.0, 1.0)),
    "tanh": (np.tanh, lambda r, s: uniform(r, s, -1.5, 1.5)),
    "sinh": (np.sinh, lambda r, s: uniform(r, s, -1.5, 1.5)),
    "cosh": (np.cosh, lambda r, s: uniform(r, s, -1.5, 1.5)),
    "sqrt": (np.sqrt, lambda r, s: positive(r, s, 0.5, 2.0)),
    "abs": (np.abs, away_from_zero),
    "sign": (np.sign, away_from_zero),
    "sigmoid": (_sigmoid, lambda r, s: uniform(r, s, -2.0, 2.0)),
    "relu": (lambda u: np.maximum(u, 0.0), away_from_zero),
    "softplus": (lambda u: np.logaddexp(0.0, u), lambda r, s: uniform(r, s, -2.0, 2.0)),
    "step": (lambda u: (u > 0).astype(np.float64) if np.ndim(u) else np.float64(u > 0),
             away_from_zero),
    "logsigmoid": (lambda u: -np.logaddexp(0.0, -u), lambda r, s: uniform(r, s, -2.0, 2.0)),
    "erf": (_erf, lambda r, s: uniform(r, s, -1.5, 1.5)),
    "gelu": (lambda u: 0.5 * u * (1.0 + _erf(u / np.sqrt(2.0))),
             lambda r, s: uniform(r, s, -2.0, 2.0)),
    "arcsin": (np.arcsin, lambda r, s: uniform(r, s, -0.8, 0.8)),
    "arccos": (np.arccos, lambda r, s: uniform(r, s, -0.8, 0.8)),
    "arctan": (np.arctan, lambda r, s: uniform(r, s, -2.0, 2.0)),
}



def _elementwise_rows():
    rows = []
    for fname, (npf, dom) in ELEMENTWISE.items():
        for var, shape in (("a", S), ("x", V), ("X", M)):
            rows.append(row(f"{fname}({var})",
                            lambda r, var=var, shape=shape, dom=dom: {var: dom(r, shape)},
                            lambda v, var=var, npf=npf: npf(v[var])))
    return rows


# --------------------------------------------------------------------------- helpers for values

def vals(**spec):
    """vals(x=(shape, sampler)) -> rng -> {x: sampler(rng, shape)}.

    A bare shape means the sampler uniform(-1, 1).
    """
    def make(r):
        out = {}
        for name, s in spec.items():
            given = isinstance(s, tuple) and len(s) == 2 and callable(s[1])
            shape, sampler = s if given else (s, None)
            out[name] = sampler(r, shape) if sampler else uniform(r, shape)
        return out
    return make


def apart(first: str, second: str, shape_first, shape_second):
    """Values for max/min: every pair of (expanded) entries differs by at least 0.3.

    `second` is either of the shape of `first` or a scalar.
    """
    def make(r):
        if shape_second == ():
            other = uniform(r)
            return {first: other + away_from_zero(r, shape_first), second: other}
        base = uniform(r, shape_first)
        return {first: base, second: base + away_from_zero(r, shape_second)}
    return make


def distinct(r, shape, gap: float = 0.4):
    """Entries at least `gap` apart in a random order: no tie for max(x) and min(x)."""
    n = int(np.prod(shape))
    spaced = (r.permutation(n) - (n - 1) / 2) * gap + r.uniform(0.0, gap / 4, n)
    return spaced.reshape(shape)


POS = positive
AWAY = away_from_zero


# --------------------------------------------------------------------------- the table

def _window_rows() -> list[Row]:
    return [
        row("conv1(x, k)", vals(x=(6,), k=(3,)), lambda v: _corr(v["x"], v["k"]),
            declare=_conv_sizes(x=6, k=3)),
        row("conv1(x, k, 1, 2)", vals(x=(7,), k=(3,)), lambda v: _corr(v["x"], v["k"], 1, 2),
            declare=_conv_sizes(x=7, k=3)),
        row("sum(tanh(conv1(x, k, 2)))", vals(x=(5,), k=(3,)),
            lambda v: np.sum(np.tanh(_corr(v["x"], v["k"], 2))), declare=_conv_sizes(x=5, k=3)),
        row("conv2(X, K)", vals(X=(5, 4), K=(3, 2)), lambda v: _corr(v["X"], v["K"]),
            declare=_conv_sizes(X=(5, 4), K=(3, 2))),
        row("conv2(X, K, 1)", vals(X=(4, 4), K=(3, 3)), lambda v: _corr(v["X"], v["K"], 1),
            declare=_conv_sizes(X=(4, 4), K=(3, 3))),
        row("conv2(X, K, 1, 2)", vals(X=(5, 5), K=(3, 3)), lambda v: _corr(v["X"], v["K"], 1, 2),
            declare=_conv_sizes(X=(5, 5), K=(3, 3))),
        row("sum(tanh(conv2(X, K, 1, 2)).^2)", vals(X=(5, 5), K=(3, 3)),
            lambda v: np.sum(np.tanh(_corr(v["X"], v["K"], 1, 2)) ** 2),
            declare=_conv_sizes(X=(5, 5), K=(3, 3))),
        row("sum(sigmoid(conv2(X, K) + b))", vals(X=(4, 4), K=(2, 2), b=S),
            lambda v: np.sum(_sigmoid(_corr(v["X"], v["K"]) + v["b"])),
            declare=_conv_sizes(X=(4, 4), K=(2, 2))),
        row("rot180(X)", vals(X=M), lambda v: v["X"][::-1, ::-1], declare=_conv_sizes(X=M)),
        row("rot180(x)", vals(x=V), lambda v: v["x"][::-1], declare=_conv_sizes(x=3)),
        row("maxpool(X, 2)", vals(X=(4, 6)), lambda v: _pool(v["X"], 2, np.max),
            declare=_conv_sizes(X=(4, 6))),
        row("maxpool(x, 3)", vals(x=(6,)), lambda v: _pool(v["x"], 3, np.max),
            declare=_conv_sizes(x=6)),
        row("sum(maxpool(tanh(X), 2).^2)", vals(X=(4, 4)),
            lambda v: np.sum(_pool(np.tanh(v["X"]), 2, np.max) ** 2),
            declare=_conv_sizes(X=(4, 4))),
        row("meanpool(X, 2)", vals(X=(4, 6)), lambda v: _pool(v["X"], 2, np.mean),
            declare=_conv_sizes(X=(4, 6))),
        row("sum(meanpool(X, 3).^3)", vals(X=(3, 6)),
            lambda v: np.sum(_pool(v["X"], 3, np.mean) ** 3), declare=_conv_sizes(X=(3, 6))),
        row("upsample(X, 2)", vals(X=M), lambda v: np.kron(v["X"], np.ones((2, 2))),
            declare=_conv_sizes(X=M)),
        row("dilate(X, 2)", vals(X=M),
            lambda v: np.kron(v["X"], np.array([[1.0, 0.0], [0.0, 0.0]]))[:3, :5],
            declare=_conv_sizes(X=M)),
        row("sum(conv2(X, ones(2, 2)).^2)", vals(X=(4, 3)),
            lambda v: np.sum(_corr(v["X"], np.ones((2, 2))) ** 2),
            declare=_conv_sizes(X=(4, 3))),
        row("vec(X)", vals(X=M), lambda v: v["X"].T.reshape(-1), declare=_conv_sizes(X=M)),
        row("reshape(x, 2, 3)", vals(x=(6,)), lambda v: v["x"].reshape(3, 2).T,
            declare=_conv_sizes(x=6)),
        row("sum(W * vec(maxpool(relu(conv2(X, K)), 2)))", vals(X=(6, 6), K=(3, 3), W=(2, 4)),
            lambda v: np.sum(v["W"] @ _pool(np.maximum(_corr(v["X"], v["K"]), 0), 2,
                                            np.max).T.reshape(-1)),
            declare=_conv_sizes(X=(6, 6), K=(3, 3), W=(2, 4))),
        row("subsample(X, 2)", vals(X=(3, 5)), lambda v: v["X"][::2, ::2],
            declare=_conv_sizes(X=(3, 5))),
]


ROWS: list[Row] = _elementwise_rows() + [
    # ---- + and - with scalar expansion, unary minus
    row("a + b", vals(a=S, b=S), lambda v: v["a"] + v["b"]),
    row("x + y", vals(x=V, y=V), lambda v: v["x"] + v["y"]),
    row("X + Y", vals(X=M, Y=M), lambda v: v["X"] + v["Y"]),
    row("x + a", vals(x=V, a=S), lambda v: v["x"] + v["a"]),
    row("a + x", vals(a=S, x=V), lambda v: v["a"] + v["x"]),
    row("X + a", vals(X=M, a=S), lambda v: v["X"] + v["a"]),
    row("a + X", vals(a=S, X=M), lambda v: v["a"] + v["X"]),
    row("x + 1", vals(x=V), lambda v: v["x"] + 1),
    row("a - b", vals(a=S, b=S), lambda v: v["a"] - v["b"]),
    row("x - y", vals(x=V, y=V), lambda v: v["x"] - v["y"]),
    row("X - Y", vals(X=M, Y=M), lambda v: v["X"] - v["Y"]),
    row("x - a", vals(x=V, a=S), lambda v: v["x"] - v["a"]),
    row("a - x", vals(a=S, x=V), lambda v: v["a"] - v["x"]),
    row("X - a", vals(X=M, a=S), lambda v: v["X"] - v["a"]),
    row("a - X", vals(a=S, X=M), lambda v: v["a"] - v["X"]),
    row("2 - X", vals(X=M), lambda v: 2 - v["X"]),
    row("-a", vals(a=S), lambda v: -v["a"]),
    row("-x", vals(x=V), lambda v: -v["x"]),
    row("-X", vals(X=M), lambda v: -v["X"]),
    row("\u2212x", vals(x=V), lambda v: -v["x"], name="unicode minus x"),
    # ---- * : scaling, matrix-vector, inner and outer products, matrix product
    row("a * b", vals(a=S, b=S), lambda v: v["a"] * v["b"]),
    row("a * x", vals(a=S, x=V), lambda v: v["a"] * v["x"]),
    row("x * a", vals(x=V, a=S), lambda v: v["x"] * v["a"]),
    row("a * X", vals(a=S, X=M), lambda v: v["a"] * v["X"]),
    row("X * a", vals(X=M, a=S), lambda v: v["X"] * v["a"]),
    row("3 * X", vals(X=M), lambda v: 3 * v["X"]),
    row("X * y", vals(X=(2, 3), y=(3,)), lambda v: v["X"] @ v["y"]),
    row("x' * y", vals(x=V, y=V), lambda v: v["x"] @ v["y"]),
    row("x * y'", vals(x=(2,), y=(3,)), lambda v: np.outer(v["x"], v["y"])),
    row("x' * X", vals(x=(2,), X=(2, 3)), lambda v: v["x"] @ v["X"]),
    row("X * Y", vals(X=(2, 3), Y=(3, 4)), lambda v: v["X"] @ v["Y"]),
    row("x' * A * y", vals(x=(2,), A=(2, 3), y=(3,)), lambda v: v["x"] @ v["A"] @ v["y"]),
    # ---- @ is the same product
    row("a @ x", vals(a=S, x=V), lambda v: v["a"] * v["x"]),
    row("X @ y", vals(X=(2, 3), y=(3,)), lambda v: v["X"] @ v["y"]),
    row("x' @ y", vals(x=V, y=V), lambda v: v["x"] @ v["y"]),
    row("X @ Y", vals(X=(2, 3), Y=(3, 4)), lambda v: v["X"] @ v["Y"]),
    # ---- .* with scalar expansion
    row("a .* b", vals(a=S, b=S), lambda v: v["a"] * v["b"]),
    row("x .* y", vals(x=V, y=V), lambda v: v["x"] * v["y"]),
    row("X .* Y", vals(X=M, Y=M), lambda v: v["X"] * v["Y"]),
    row("a .* x", vals(a=S, x=V), lambda v: v["a"] * v["x"]),
    row("x .* a", vals(x=V, a=S), lambda v: v["x"] * v["a"]),
    row("X .* a", vals(X=M, a=S), lambda v: v["X"] * v["a"]),
    row("a .* X", vals(a=S, X=M), lambda v: v["a"] * v["X"]),
    # ---- ./ with scalar expansion (denominators away from zero)
    row("a ./ b", vals(a=S, b=(S, AWAY)), lambda v: v["a"] / v["b"]),
    row("x ./ y", vals(x=V, y=(V, AWAY)), lambda v: v["x"] / v["y"]),
    row("X ./ Y", vals(X=M, Y=(M, AWAY)), lambda v: v["X"] / v["Y"]),
    row("a ./ x", vals(a=S, x=(V, AWAY)), lambda v: v["a"] / v["x"]),
    row("x ./ a", vals(x=V, a=(S, AWAY)), lambda v: v["x"] / v["a"]),
    row("X ./ a", vals(X=M, a=(S, AWAY)), lambda v: v["X"] / v["a"]),
    row("a ./ X", vals(a=S, X=(M, AWAY)), lambda v: v["a"] / v["X"]),
    row("1./x", vals(x=(V, AWAY)), lambda v: 1.0 / v["x"], name="1./x (MATLAB reading)"),
    # ---- .^ with scalar expansion (bases positive where the exponent varies)
    row("a .^ b", vals(a=(S, POS), b=S), lambda v: v["a"] ** v["b"]),
    row("x .^ y", vals(x=(V, POS), y=V), lambda v: v["x"] ** v["y"]),
    row("X .^ Y", vals(X=(M, POS), Y=M), lambda v: v["X"] ** v["Y"]),
    row("x .^ a", vals(x=(V, POS), a=S), lambda v: v["x"] ** v["a"]),
    row("a .^ x", vals(a=(S, POS), x=V), lambda v: v["a"] ** v["x"]),
    row("X .^ a", vals(X=(M, POS), a=S), lambda v: v["X"] ** v["a"]),
    row("a .^ X", vals(a=(S, POS), X=M), lambda v: v["a"] ** v["X"]),
    row("x .^ 2", vals(x=V), lambda v: v["x"] ** 2),
    row("X .^ 3", vals(X=M), lambda v: v["X"] ** 3),
    row("x .^ -1", vals(x=(V, AWAY)), lambda v: v["x"] ** -1.0),
    row("x .^ 0.5", vals(x=(V, POS)), lambda v: np.sqrt(v["x"])),
    row("2 .^ x", vals(x=V), lambda v: 2.0 ** v["x"]),
    # ---- / (by a scalar) and ^ (of a scalar)
    row("a / b", vals(a=S, b=(S, AWAY)), lambda v: v["a"] / v["b"]),
    row("x / a", vals(x=V, a=(S, AWAY)), lambda v: v["x"] / v["a"]),
    row("X / a", vals(X=M, a=(S, AWAY)), lambda v: v["X"] / v["a"]),
    row("X / 4", vals(X=M), lambda v: v["X"] / 4),
    row("a ^ b", vals(a=(S, POS), b=S), lambda v: v["a"] ** v["b"]),
    row("a ^ 2", vals(a=S), lambda v: v["a"] ** 2),
    row("a ^ 3", vals(a=S), lambda v: v["a"] ** 3),
    row("a ^ -2", vals(a=(S, AWAY)), lambda v: v["a"] ** -2.0),
    row("a ^ 0.5", vals(a=(S, POS)), lambda v: v["a"] ** 0.5),
    row("2 ^ a", vals(a=S), lambda v: 2.0 ** v["a"]),
    # ---- transpose
    row("a'", vals(a=S), lambda v: v["a"]),
    row("x'", vals(x=V), lambda v: v["x"]),          # a row vector, evaluated as a 1-D array
    row("X'", vals(X=M), lambda v: v["X"].T),
    row("X.T", vals(X=M), lambda v: v["X"].T),
    row("x.T * y", vals(x=V, y=V), lambda v: v["x"] @ v["y"]),
    row("(X * Y)'", vals(X=(2, 3), Y=(3, 4)), lambda v: (v["X"] @ v["Y"]).T),
    row("X' * Y", vals(X=(2, 3), Y=(2, 4)), lambda v: v["X"].T @ v["Y"]),
    row("x'' ", vals(x=V), lambda v: v["x"], name="x'' (double transpose)"),
    # ---- the article's unicode operators
    row("w \u00b7 x", vals(w=V, x=V), lambda v: v["w"] @ v["x"], name="w · x"),
    row("w \u2297 x", vals(w=V, x=V), lambda v: v["w"] * v["x"], name="w ⊗ x (element-wise)"),
    row("w \u2299 x", vals(w=V, x=V), lambda v: v["w"] * v["x"], name="w ⊙ x"),
    row("w \u2218 x", vals(w=V, x=V), lambda v: v["w"] * v["x"], name="w ∘ x"),
    row("w \u2298 x", vals(w=V, x=(V, AWAY)), lambda v: v["w"] / v["x"], name="w ⊘ x"),
    row("W \u2297 X", vals(W=M, X=M), lambda v: v["W"] * v["X"], name="W ⊗ X (element-wise)"),
    row("W \u2299 X", vals(W=M, X=M), lambda v: v["W"] * v["X"], name="W ⊙ X"),
    row("W \u2218 X", vals(W=M, X=M), lambda v: v["W"] * v["X"], name="W ∘ X"),
    row("W \u2298 X", vals(W=M, X=(M, AWAY)), lambda v: v["W"] / v["X"], name="W ⊘ X"),
    row("a \u2299 x", vals(a=S, x=V), lambda v: v["a"] * v["x"], name="a ⊙ x (expansion)"),
    row("x \u2298 a", vals(x=V, a=(S, AWAY)), lambda v: v["x"] / v["a"], name="x ⊘ a (expansion)"),
    # ---- max and min, element-wise with scalar expansion, away from ties
    row("leaky_relu(x, c)", vals(x=(V, AWAY), c=(S, lambda r, s: uniform(r, s, 0.05, 0.3))),
        lambda v: np.where(v["x"] > 0, v["x"], v["c"] * v["x"])),
    row("leaky_relu(X, 0.1)", vals(X=(M, AWAY)),
        lambda v: np.where(v["X"] > 0, v["X"], 0.1 * v["X"])),
    row("elu(x, c)", vals(x=(V, AWAY), c=(S, lambda r, s: uniform(r, s, 0.5, 1.5))),
        lambda v: np.where(v["x"] > 0, v["x"], v["c"] * (np.exp(v["x"]) - 1))),
    row("elu(X, 1)", vals(X=(M, AWAY)),
        lambda v: np.where(v["X"] > 0, v["X"], np.exp(v["X"]) - 1)),
    row("max(x, y)", apart("x", "y", V, V), lambda v: np.maximum(v["x"], v["y"])),
    row("max(X, Y)", apart("X", "Y", M, M), lambda v: np.maximum(v["X"], v["Y"])),
    row("max(a, b)", apart("a", "b", S, S), lambda v: np.maximum(v["a"], v["b"])),
    row("max(x, a)", apart("x", "a", V, S), lambda v: np.maximum(v["x"], v["a"])),
    row("max(a, x)", apart("x", "a", V, S), lambda v: np.maximum(v["a"], v["x"])),
    row("max(X, a)", apart("X", "a", M, S), lambda v: np.maximum(v["X"], v["a"])),
    row("max(0, x)", vals(x=(V, AWAY)), lambda v: np.maximum(0.0, v["x"])),
    row("max(x, 0.5)", vals(x=(V, lambda r, s: 0.5 + away_from_zero(r, s))),
        lambda v: np.maximum(v["x"], 0.5)),
    row("min(x, y)", apart("x", "y", V, V), lambda v: np.minimum(v["x"], v["y"])),
    row("min(X, Y)", apart("X", "Y", M, M), lambda v: np.minimum(v["X"], v["Y"])),
    row("min(a, b)", apart("a", "b", S, S), lambda v: np.minimum(v["a"], v["b"])),
    row("min(x, a)", apart("x", "a", V, S), lambda v: np.minimum(v["x"], v["a"])),
    row("min(a, X)", apart("X", "a", M, S), lambda v: np.minimum(v["a"], v["X"])),
    row("min(0, x)", vals(x=(V, AWAY)), lambda v: np.minimum(0.0, v["x"])),
    # ---- reductions
    row("sum(x)", vals(x=V), lambda v: np.sum(v["x"])),
    row("sum(X)", vals(X=M), lambda v: np.sum(v["X"])),
    row("mean(x)", vals(x=V), lambda v: np.mean(v["x"])),
    row("mean(X)", vals(X=M), lambda v: np.mean(v["X"])),
    row("norm1(x)", vals(x=(V, AWAY)), lambda v: np.sum(np.abs(v["x"]))),
    row("norm1(X)", vals(X=(M, AWAY)), lambda v: np.sum(np.abs(v["X"]))),
    row("norm2(x)", vals(x=(V, AWAY)), lambda v: np.linalg.norm(v["x"])),
    row("norm2(X)", vals(X=(M, AWAY)), lambda v: np.linalg.norm(v["X"], "fro")),
    row("dot(x, y)", vals(x=V, y=V), lambda v: v["x"] @ v["y"]),
    # ---- max and min of one vector: reductions (entries apart: no tie), and eq
    row("max(x)", vals(x=(V, distinct)), lambda v: np.max(v["x"])),
    row("min(x)", vals(x=(V, distinct)), lambda v: np.min(v["x"])),
    row("max(x')", vals(x=(V, distinct)), lambda v: np.max(v["x"])),
    row("max(W*x + b)", lambda r: {"W": uniform(r, M), "x": uniform(r, V),
                                   "b": distinct(r, (2,), gap=10.0)},
        lambda v: np.max(v["W"] @ v["x"] + v["b"]), declare={"b": "vector"}),
    row("-min(W*x)", lambda r: {"W": uniform(r, M), "x": away_from_zero(r, V)},
        lambda v: -np.min(v["W"] @ v["x"])),
    row("sum(exp(x - max(x)))", vals(x=(V, distinct)),
        lambda v: np.sum(np.exp(v["x"] - np.max(v["x"])))),
    row("max(x) * min(y)", vals(x=(V, distinct), y=(V, distinct)),
        lambda v: np.max(v["x"]) * np.min(v["y"])),
    row("eq(x, y)", apart("x", "y", V, V), lambda v: (v["x"] == v["y"]) * 1.0),
    # ---- max and min along an axis (MATLAB's max(X, [], d)): each row (2), each column (1)
    row("max(X, [], 2)", vals(X=(M, distinct)), lambda v: np.max(v["X"], axis=1)),
    row("min(X, [], 1)", vals(X=(M, distinct)), lambda v: np.min(v["X"], axis=0)),
    row("X - max(X, [], 2)", vals(X=(M, distinct)),
        lambda v: v["X"] - np.max(v["X"], axis=1, keepdims=True)),
    row("sum(exp(X - max(X, [], 2)), 2)", vals(X=(M, distinct)),
        lambda v: np.exp(v["X"] - np.max(v["X"], axis=1, keepdims=True)).sum(1)),
    row("max(x, [], 1) + min(x', [], 2)", vals(x=(V, distinct)),
        lambda v: np.max(v["x"]) + np.min(v["x"])),
    # ---- blocks: [a; b] stacks, [a, b] sets side by side
    row("[x; y]", vals(x=V, y=(2,)), lambda v: np.concatenate([v["x"], v["y"]])),
    row("[log(a^2); sin(3*a)]", vals(a=(S, AWAY)),
        lambda v: np.array([np.log(v["a"] ** 2), np.sin(3 * v["a"])])),
    row("[a, b; c, d] * x", vals(a=S, b=S, c=S, d=S, x=(2,)),
        lambda v: np.array([[v["a"], v["b"]], [v["c"], v["d"]]]) @ v["x"]),
    row("[A, B]", vals(A=M, B=(2, 2)), lambda v: np.hstack([v["A"], v["B"]])),
    row("[A; x']", vals(A=M, x=V), lambda v: np.vstack([v["A"], v["x"]])),
    row("[x, y] * z", vals(x=(2,), y=(2,), z=(2,)),
        lambda v: np.column_stack([v["x"], v["y"]]) @ v["z"]),
    row("tanh(W * [h; x] + b)", vals(W=(2, 5), h=V, x=(2,), b=(2,)),
        lambda v: np.tanh(v["W"] @ np.concatenate([v["h"], v["x"]]) + v["b"]),
        declare={"b": "vector"}),
    row("sum([x; a].^2)", vals(x=V, a=S), lambda v: np.sum(v["x"] ** 2) + v["a"] ** 2),
    row("eq(x, x) .* y", vals(x=V, y=V), lambda v: v["y"] + 0.0 * v["x"]),
    # ---- matrix functions (square arguments, well conditioned, positive determinant)
    row("tr(X)", vals(X=Q), lambda v: np.trace(v["X"])),
    row("det(X)", lambda r: {"X": well_conditioned(r)}, lambda v: np.linalg.det(v["X"])),
    row("logdet(X)", lambda r: {"X": well_conditioned(r)}, lambda v: np.log(np.linalg.det(v["X"]))),
    row("inv(X)", lambda r: {"X": well_conditioned(r)}, lambda v: np.linalg.inv(v["X"])),
    row("diag(x)", vals(x=V), lambda v: np.diag(v["x"])),
    row("diag(X)", vals(X=Q), lambda v: np.diag(v["X"]).copy()),
    # a symmetric *value*; the derivative is still entry by entry (docs/language.md)
    row("logdet(S)", lambda r: {"S": spd(r)}, lambda v: np.log(np.linalg.det(v["S"])),
        declare={"S": "symmetric matrix"}, name="logdet(S), S symmetric"),
    row("x' * S * x", lambda r: {"x": uniform(r, V), "S": symmetric(r)},
        lambda v: v["x"] @ v["S"] @ v["x"], declare={"S": "symmetric matrix"},
        name="x' * S * x, S symmetric"),
    row("inv(S)", lambda r: {"S": spd(r)}, lambda v: np.linalg.inv(v["S"]),
        declare={"S": "symmetric matrix"}, name="inv(S), S symmetric"),
    # ---- deep-learning functions
    row("softmax(x)", vals(x=(4,)), lambda v: np.exp(v["x"]) / np.sum(np.exp(v["x"]))),
    row("logsumexp(x)", vals(x=(4,)), lambda v: np.log(np.sum(np.exp(v["x"])))),
    row("logsoftmax(x)", vals(x=(4,)), lambda v: v["x"] - np.log(np.sum(np.exp(v["x"])))),
    # ---- along an axis: 2 each row (a batch of examples), 1 each column
    row("softmax(X, 2)", vals(X=M), lambda v: _softmax_np(v["X"], 1)),
    row("softmax(X, 1)", vals(X=M), lambda v: _softmax_np(v["X"], 0)),
    row("logsumexp(X, 2)", vals(X=M), lambda v: np.log(np.exp(v["X"]).sum(1))),
    row("logsumexp(X, 1)", vals(X=M), lambda v: np.log(np.exp(v["X"]).sum(0))),
    row("logsoftmax(X, 2)", vals(X=M), lambda v: np.log(_softmax_np(v["X"], 1))),
    row("logsoftmax(X, 1)", vals(X=M), lambda v: np.log(_softmax_np(v["X"], 0))),
    row("sum(X, 1)", vals(X=M), lambda v: v["X"].sum(0)),
    row("sum(X, 2)", vals(X=M), lambda v: v["X"].sum(1)),
    row("mean(X, 1)", vals(X=M), lambda v: v["X"].mean(0)),
    row("mean(X, 2)", vals(X=M), lambda v: v["X"].mean(1)),
    # ---- constants with inferred shapes
    row("x + vector(2)", vals(x=V), lambda v: v["x"] + 2.0),
    row("vector(3) .* x", vals(x=V), lambda v: 3.0 * v["x"]),
    row("x' * vector(1)", vals(x=V), lambda v: np.sum(v["x"])),
    row("X * vector(1)", vals(X=M), lambda v: v["X"] @ np.ones(3)),
    row("X + matrix(1)", vals(X=M), lambda v: v["X"] + 1.0),
    row("sum(X .* matrix(2))", vals(X=M), lambda v: 2.0 * np.sum(v["X"])),
    row("x' * matrix(0.5) * y", vals(x=(2,), y=(3,)),
        lambda v: v["x"] @ np.full((2, 3), 0.5) @ v["y"]),
    row("X + eye", vals(X=Q), lambda v: v["X"] + np.eye(3)),
    row("eye * x", vals(x=V), lambda v: v["x"]),
    row("x' * eye * x", vals(x=V), lambda v: v["x"] @ v["x"]),
    row("tr(X * eye)", vals(X=Q), lambda v: np.trace(v["X"])),
    row("a * eye - X", vals(a=S, X=Q), lambda v: v["a"] * np.eye(3) - v["X"]),
    row("a * eye(size(X, 1)) + vector(1, numel(x))*x'*X", vals(a=S, X=Q, x=V),
        lambda v: v["a"] * np.eye(3) + np.outer(np.ones(3), v["x"] @ v["X"])),
    row("1e-3 * x + 0.5", vals(x=V), lambda v: 1e-3 * v["x"] + 0.5),
    row("numel(X) * a", vals(X=M, a=S), lambda v: 6.0 * v["a"]),
    row("size(X, 1) * a + size(X, 2)", vals(X=M, a=S), lambda v: 2.0 * v["a"] + 3.0),
    # ---- row vectors (evaluated as 1-D arrays) through the other ops
    row("x' + y'", vals(x=V, y=V), lambda v: v["x"] + v["y"]),
    row("exp(x')", vals(x=V), lambda v: np.exp(v["x"])),
    row("x' .* y'", vals(x=V, y=V), lambda v: v["x"] * v["y"]),
    row("a * x'", vals(a=S, x=V), lambda v: v["a"] * v["x"]),
    row("x' * X'", vals(x=V, X=M), lambda v: v["x"] @ v["X"].T),
    row("(x' * X') * Y", vals(x=V, X=M, Y=(2, 4)), lambda v: v["x"] @ v["X"].T @ v["Y"]),
    row("sum(x')", vals(x=V), lambda v: np.sum(v["x"])),
    row("x' * y'' ", vals(x=V, y=V), lambda v: v["x"] @ v["y"], name="x' * y''"),
    # ---- one variable in several places
    row("x * x'", vals(x=V), lambda v: np.outer(v["x"], v["x"])),
    row("X' * X", vals(X=M), lambda v: v["X"].T @ v["X"]),
    row("x .* x ./ (1 + x .^ 2)", vals(x=V), lambda v: v["x"] ** 2 / (1 + v["x"] ** 2)),
    row("x - x", vals(x=V), lambda v: v["x"] - v["x"]),
    row("x .^ 1 + x .^ 0", vals(x=(V, POS)), lambda v: v["x"] + 1.0),
    row("2 * 3 * x", vals(x=V), lambda v: 6 * v["x"]),
] + _window_rows()


def _cases():
    for r in ROWS:
        names = r.wrt or tuple(r.make(np.random.default_rng(0)))
        for order in (0, 1, 2):
            for w in (names if order else names[:1]):
                label = f"{r.label}|d{w}^{order}" if order else f"{r.label}|value"
                yield pytest.param(r, w, order, id=label)


@pytest.mark.parametrize(("r", "wrt", "order"), list(_cases()))
def test_op_row(r: Row, wrt: str, order: int) -> None:
    values = r.make(np.random.default_rng(zlib.crc32(r.label.encode())))
    if order == 0:
        e = matdiff.parse(r.text, declare=r.declare)
        want = as_array(r.f(values))
        assert_matches(e.evaluate(dict(values)), want, what=f"value of {r.text}")
        assert len(e.shape) == want.ndim, f"{r.text}: shape {e.shape}, value of shape {want.shape}"
        assert set(e.variables) == set(values), f"{r.text}: variables {set(e.variables)}"
        return
    check_derivative(r.text, wrt, values, r.f, order=order, declare=r.declare)


@pytest.mark.parametrize(("r", "wrt", "order"),
                         [c for c in _cases() if c.values[2] > 0])
def test_library_check_agrees(r: Row, wrt: str, order: int) -> None:
    """d.check() (finite differences in the library, random values in the domain) is small."""
    d = matdiff.diff(r.text, wrt=wrt, declare=r.declare, order=order)
    err = d.check()
    assert err < 1e-5, f"d.check() = {err:.3g}"
    values = r.make(np.random.default_rng(zlib.crc32(r.label.encode())))
    err = d.check(values=values, seed=1)
    assert err < 1e-5, f"d.check(values) = {err:.3g}"


def test_every_language_op_has_a_row() -> None:
    """The table covers each function of the language and each operator docs/language.md lists."""
    texts = " ".join(r.text for r in ROWS)
    functions = [f"{name}(" for name in FUNCTIONS] + ["eye"]
    operators = [" + ", " - ", " * ", " @ ", ".*", "./", ".^", " / ", " ^ ", "'", ".T", "[",
                 ", [], ",
                 "\u00b7", "\u2297", "\u2299", "\u2218", "\u2298", "\u2212"]
    missing = [op for op in functions + operators if op not in texts]
    assert not missing, f"ops without a row: {missing}"


# --------------------------------------------------------------------------- precedence and reading

# text -> NumPy value, at fixed values; checks the parse, not the derivative
PRECEDENCE = [
    ("-a^2", lambda v: -(v["a"] ** 2)),              # unary minus binds looser than ^
    ("a^b^c", lambda v: v["a"] ** (v["b"] ** v["c"])),   # ^ is right-associative
    ("x.^y.^z", lambda v: v["x"] ** (v["y"] ** v["z"])),
    ("a - b - c", lambda v: (v["a"] - v["b"]) - v["c"]),
    ("a / b / c", lambda v: (v["a"] / v["b"]) / v["c"]),
    ("a / b * c", lambda v: (v["a"] / v["b"]) * v["c"]),
    ("a + b * c", lambda v: v["a"] + v["b"] * v["c"]),
    ("2^-1", lambda v: 0.5),
    ("a*x'*y", lambda v: v["a"] * (v["x"] @ v["y"])),
    ("x'*A'*y", lambda v: v["x"] @ v["A"].T @ v["y"]),
    ("x .* y .^ 2", lambda v: v["x"] * v["y"] ** 2),
    ("-x .^ 2", lambda v: -(v["x"] ** 2)),
    ("1./x + 1", lambda v: 1.0 / v["x"] + 1),
    ("1 ./ x .* y", lambda v: (1.0 / v["x"]) * v["y"]),
    ("w \u00b7 x + b", lambda v: v["w"] @ v["x"] + v["b"]),
    ("sum(x)^2", lambda v: np.sum(v["x"]) ** 2),
    ("exp(-a)", lambda v: np.exp(-v["a"])),
    ("a^-b", lambda v: v["a"] ** -v["b"]),
    ("-2^2", lambda v: -4.0),
    ("2^-2^-1", lambda v: 2.0 ** -(2.0 ** -1)),
    ("x.^2.^-1", lambda v: v["x"] ** (2.0 ** -1)),
    ("a*-b", lambda v: -v["a"] * v["b"]),
    ("x'*-y", lambda v: -(v["x"] @ v["y"])),
    ("--x", lambda v: v["x"]),
    ("x - -y", lambda v: v["x"] + v["y"]),
    (".5*x", lambda v: 0.5 * v["x"]),
    ("5.*x", lambda v: 5.0 * v["x"]),
    ("1.e2*a", lambda v: 100.0 * v["a"]),
    ("2.^x", lambda v: 2.0 ** v["x"]),
    ("x +\n y", lambda v: v["x"] + v["y"]),
    ("a^b'", lambda v: v["a"] ** v["b"]),
    ("x.T.T'", lambda v: v["x"]),
]


@pytest.mark.parametrize(("text", "f"), PRECEDENCE, ids=[t for t, _ in PRECEDENCE])
def test_precedence(text, f) -> None:
    r = np.random.default_rng(7)
    values = {"a": positive(r, (), 0.5, 1.5), "b": positive(r, (), 0.5, 1.5),
              "c": positive(r, (), 0.5, 1.5), "x": positive(r, (3,)), "y": positive(r, (3,)),
              "z": uniform(r, (3,)), "w": uniform(r, (3,)), "A": uniform(r, (3, 3))}
    e = matdiff.parse(text)
    used = {k: v for k, v in values.items() if k in e.variables}
    assert_matches(e.evaluate(used), f(values), what=text)


# ---------------------------------------------------------------- exact zeros, kinks, order 3

# (text, wrt, order, values): the derivative vanishes identically, so it must be exactly 0.0
EXACT_ZEROS = [
    ("sign(x)", "x", 1, {"x": np.array([-1.0, 0.5, 2.0])}),
    ("step(X)", "X", 1, {"X": np.array([[-1.0, 0.5], [2.0, -3.0]])}),
    ("X * Y", "X", 2, {"X": np.ones((2, 3)), "Y": np.ones((3, 2))}),
    ("x' * A * y", "x", 2, {"x": np.ones(2), "A": np.ones((2, 3)), "y": np.ones(3)}),
    ("a * x + y", "a", 2, {"a": 2.0, "x": np.ones(3), "y": np.ones(3)}),
    ("tr(X) + sum(X)", "X", 2, {"X": np.ones((3, 3))}),
    ("x' * y + sum(y)", "x", 2, {"x": np.ones(3), "y": np.ones(3)}),
    ("exp(y) + x", "x", 2, {"x": np.ones(3), "y": np.ones(3)}),
    ("relu(x)", "x", 2, {"x": np.array([-1.0, 0.5, 2.0])}),
    ("abs(x)", "x", 2, {"x": np.array([-1.0, 0.5, 2.0])}),
    ("x' * A * x", "x", 3, {"x": np.ones(3), "A": np.ones((3, 3))}),
]


@pytest.mark.parametrize(("text", "wrt", "order", "values"), EXACT_ZEROS,
                         ids=[f"{t}|d{w}^{o}" for t, w, o, _ in EXACT_ZEROS])
def test_exact_zeros(text, wrt, order, values) -> None:
    d = matdiff.diff(text, wrt=wrt, order=order)
    got = as_array(d.evaluate(values))
    f_shape = np.shape(as_array(matdiff.parse(text).evaluate(values)))
    assert got.shape == f_shape + np.shape(values[wrt]) * order
    assert np.all(got == 0.0), f"not exactly zero: {got}"


# (text, wrt, values, expected derivative): at the kink the derivative is 0, as in the article
KINKS = [
    ("relu(x)", "x", {"x": np.zeros(2)}, np.zeros((2, 2))),
    ("abs(x)", "x", {"x": np.zeros(2)}, np.zeros((2, 2))),
    ("abs(a)", "a", {"a": 0.0}, 0.0),
    ("max(0, x)", "x", {"x": np.zeros(2)}, np.zeros((2, 2))),
    ("max(x, 0)", "x", {"x": np.zeros(2)}, np.zeros((2, 2))),
    ("max(0, a)", "a", {"a": 0.0}, 0.0),
    ("relu(x) .* x", "x", {"x": np.array([0.0, 2.0])}, np.diag([0.0, 4.0])),
]


@pytest.mark.parametrize(("text", "wrt", "values", "want"), KINKS, ids=[k[0] for k in KINKS])
def test_derivative_at_the_kink_is_zero(text, wrt, values, want) -> None:
    got = as_array(matdiff.diff(text, wrt=wrt).evaluate(values))
    assert_matches(got, as_array(want), what=f"d({text})/d{wrt} at the kink")


@pytest.mark.parametrize(("text", "value"), [
    ("step(x)", 0.0), ("sign(x)", 0.0), ("relu(x)", 0.0), ("abs(x)", 0.0),
])
def test_value_at_the_kink(text, value) -> None:
    got = as_array(matdiff.parse(text).evaluate({"x": np.zeros(3)}))
    assert np.all(got == value)


def test_third_order_closed_forms() -> None:
    """order=3 where it falls out: d3 sin(a) = -cos(a); d3 sum(exp(x)) = exp(x_i) delta_ijk."""
    a = 0.7
    got = as_array(matdiff.diff("sin(a)", wrt="a", order=3).evaluate({"a": a}))
    assert_matches(got, -np.cos(a))
    x = np.array([0.1, -0.2, 0.3])
    got = as_array(matdiff.diff("sum(exp(x))", wrt="x", order=3).evaluate({"x": x}))
    want = np.zeros((3, 3, 3))
    for i in range(3):
        want[i, i, i] = np.exp(x[i])
    assert_matches(got, want)
    got = as_array(matdiff.diff("(x'*x)^2", wrt="x", order=3).evaluate({"x": x}))
    # d3/dx_i dx_j dx_k of (x.x)^2 = 8 (delta_ij x_k + delta_ik x_j + delta_jk x_i)
    eye = np.eye(3)
    want = 8 * (np.einsum("ij,k->ijk", eye, x) + np.einsum("ik,j->ijk", eye, x)
                + np.einsum("jk,i->ijk", eye, x))
    assert_matches(got, want)


LONG_NAMES = [
    row("W_out * h1 + bias", vals(W_out=(2, 3), h1=(3,), bias=()),
        lambda v: v["W_out"] @ v["h1"] + v["bias"]),
    row("sigmoid(w1' * x2) * gain", vals(w1=(3,), x2=(3,), gain=()),
        lambda v: _sigmoid(v["w1"] @ v["x2"]) * v["gain"]),
]


@pytest.mark.parametrize(("r", "order"), [(r, o) for r in LONG_NAMES for o in (1, 2)],
                         ids=[f"{r.text}|{o}" for r in LONG_NAMES for o in (1, 2)])
def test_longer_names(r: Row, order: int) -> None:
    values = r.make(np.random.default_rng(3))
    for wrt in values:
        check_derivative(r.text, wrt, values, r.f, order=order)


# expressions evaluated with dimensions of size 1 (no squeezing of 1 x 1 results)
SIZE_ONE = [
    row("x' * A * x", lambda r: {"x": uniform(r, (1,)), "A": uniform(r, (1, 1))},
        lambda v: v["x"] @ v["A"] @ v["x"]),
    row("X * Y", lambda r: {"X": uniform(r, (1, 1)), "Y": uniform(r, (1, 2))},
        lambda v: v["X"] @ v["Y"]),
    row("softmax(x)", lambda r: {"x": uniform(r, (1,))},
        lambda v: np.exp(v["x"]) / np.sum(np.exp(v["x"]))),
    row("inv(X)", lambda r: {"X": positive(r, (1, 1))}, lambda v: np.linalg.inv(v["X"])),
    row("x * y'", lambda r: {"x": uniform(r, (1,)), "y": uniform(r, (2,))},
        lambda v: np.outer(v["x"], v["y"])),
    row("diag(x)", lambda r: {"x": uniform(r, (1,))}, lambda v: np.diag(v["x"])),
]


@pytest.mark.parametrize(("r", "order"), [(r, o) for r in SIZE_ONE for o in (1, 2)],
                         ids=[f"{r.text}|{o}" for r in SIZE_ONE for o in (1, 2)])
def test_dimensions_of_size_one(r: Row, order: int) -> None:
    values = r.make(np.random.default_rng(5))
    for wrt in values:
        check_derivative(r.text, wrt, values, r.f, order=order)


def test_integer_and_list_values() -> None:
    """Integer arrays, Python lists and ints are numbers too: same answer as floats."""
    d = matdiff.diff("x'*A*x + a*sum(x)", wrt="x")
    floats = {"x": np.array([1.0, 2.0, 3.0]), "A": np.eye(3) * 2.0, "a": 3.0}
    want = as_array(d.evaluate(floats))
    assert_matches(d.evaluate({"x": np.array([1, 2, 3]), "A": np.eye(3, dtype=int) * 2, "a": 3}),
                   want)
    assert_matches(d.evaluate({"x": [1, 2, 3], "A": [[2, 0, 0], [0, 2, 0], [0, 0, 2]], "a": 3}),
                   want)
