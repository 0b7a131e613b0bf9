"""Random well-typed programs over every declaration kind, for the backward-pass tests.

Inputs of each kind a program can declare (scalar, column vectors of two lengths, a row
vector, a matrix, a square and a symmetric matrix, a probability vector and rows), and
intermediates built from them by element-wise functions, broadcasting sums, products,
transposes and axis reductions
(`sum(X, 1)`, `mean(X, 1)`, `logsumexp(X, 1)` are rows; `softmax(X, 2)` keeps the shape),
so row vectors, square and symmetric values all flow into later lines. The last line is
a scalar. The oracle needs no NumPy twin: it is the forward-mode derivative
`matdiff.diff(program, wrt=name)`, which the suite checks against finite differences
elsewhere.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

M, N = 4, 3   # rows and columns of the data matrix X

# name -> (kind, declaration); kinds: s scalar, cn/cm columns of length n/m, rn a row of
# length n, X an m x n matrix, Q an n x n matrix
INPUTS = {
    "a": ("s", "scalar"),
    "x": ("cn", "vector(n)"),
    "y": ("cm", "vector(m)"),
    "r": ("rn", "row vector(n)"),
    "X": ("X", "matrix(m, n)"),
    "A": ("Q", "square matrix(n)"),
    "S": ("Q", "symmetric matrix(n)"),
    "p": ("cn", "probability vector(n)"),
    "P": ("X", "probability rows(m, n)"),
}
SHAPES = {"s": (), "cn": (N,), "cm": (M,), "rn": (N,), "X": (M, N), "Q": (N, N)}

ELEMENTWISE = ["tanh({u})", "sigmoid({u})", "sin({u})", "sqrt(1 + {u}.^2)", "{u}.^2",
               "softplus({u})", "log(1 + {u}.^2)", "-{u}", "2*{u}"]

# (result kind, template, operand kinds): a template's {u}, {v}, {c} are operands
BINARY = [
    (k, t, (k, k)) for k in ("s", "cn", "cm", "rn", "X", "Q")
    for t in ("{u} + {v}", "{u}.*{v}", "{u} - {v}")
] + [(k, "{c}*{u}", (k, "s")) for k in ("cn", "cm", "rn", "X", "Q")] + [
    ("X", "{u} - {v}", ("X", "rn")),          # a row taken from every row (X - mu)
    ("X", "{v}.*{u}", ("X", "rn")),           # every row scaled (gamma'.*Xh)
    ("X", "{u} + {v}", ("X", "cm")),          # a column added to every column
    ("cm", "{u}*{v}", ("X", "cn")),
    ("cn", "{u}'*{v}", ("X", "cm")),
    ("rn", "{v}'*{u}", ("X", "cm")),
    ("cn", "{u}*{v}", ("Q", "cn")),
    ("rn", "{v}*{u}", ("Q", "rn")),
    ("X", "{u}*{v}", ("X", "Q")),
    ("Q", "{u}*{v}", ("Q", "Q")),
    ("Q", "{u}'*{v}", ("X", "X")),
    ("Q", "{u}*{v}", ("cn", "rn")),           # an outer product
    ("s", "{u}*{v}", ("rn", "cn")),
    ("s", "{u}'*{v}", ("cm", "cm")),
    ("s", "tr({u}*{v})", ("Q", "Q")),
    ("s", "{v}'*{u}*{v}", ("Q", "cn")),
    ("X", "max({u}, {v})", ("X", "X")),
]
UNARY = [
    ("rn", "{u}'", "cn"), ("cn", "{u}'", "rn"), ("Q", "{u}'", "Q"), ("Q", "{u}^2", "Q"),
    ("Q", "{u}^3", "Q"), ("Q", "inv(eye + {u}'*{u})", "Q"), ("s", "logdet(eye + {u}'*{u})", "Q"),
    ("X", "relu({u})", "X"), ("cn", "{u}/(1 + {u}'*{u})", "cn"),
    ("rn", "sum({u}, 1)", "X"), ("rn", "mean({u}, 1)", "X"), ("cm", "sum({u}, 2)", "X"),
    ("cm", "mean({u}, 2)", "X"), ("X", "softmax({u}, 2)", "X"), ("X", "softmax({u}, 1)", "X"),
    ("cm", "logsumexp({u}, 2)", "X"), ("rn", "logsumexp({u}, 1)", "X"),
    ("rn", "sum({u}, 1)", "Q"), ("cn", "softmax({u})", "cn"), ("s", "sum({u})", "cn"),
    ("s", "mean({u})", "cm"), ("s", "logsumexp({u})", "cn"), ("s", "sum({u})", "rn"),
    ("s", "tr({u})", "Q"), ("s", "sum(sum({u}))", "X"),
]
TO_SCALAR = {"s": "{u}", "cn": "sum({u})", "cm": "sum({u}.^2)", "rn": "sum({u})",
             "X": "sum(sum({u}))", "Q": "tr({u})"}


@st.composite
def typed_programs(draw, max_lines: int = 5):
    """(text, the inputs it uses) of a program of 1 to max_lines intermediates and L."""
    pool: dict[str, list[str]] = {}
    for name, (kind, _) in INPUTS.items():
        pool.setdefault(kind, []).append(name)
    lines: list[str] = []
    last = None
    for k in range(1, draw(st.integers(1, max_lines)) + 1):
        how = draw(st.sampled_from(["elementwise", "binary", "binary", "unary", "unary"]))
        if how == "elementwise":
            kind = draw(st.sampled_from(sorted(pool)))
            rhs = draw(st.sampled_from(ELEMENTWISE)).format(u=draw(st.sampled_from(pool[kind])))
        elif how == "binary":
            kind, template, (ku, kv) = draw(st.sampled_from(BINARY))
            u, v = draw(st.sampled_from(pool[ku])), draw(st.sampled_from(pool[kv]))
            rhs = template.format(u=u, v=v, c=v)
        else:
            kind, template, ku = draw(st.sampled_from(UNARY))
            rhs = template.format(u=draw(st.sampled_from(pool[ku])))
        name = f"{kind[0].lower()}{k}"
        lines.append(f"{name} = {rhs}")
        pool[kind].append(name)
        last = (name, kind)
    other_kind = draw(st.sampled_from(sorted(pool)))
    other = draw(st.sampled_from(pool[other_kind]))
    name, kind = last
    lines.append(f"L = {TO_SCALAR[kind].format(u=name)} + "
                 f"{TO_SCALAR[other_kind].format(u=other)}")
    body = "\n".join(lines)
    used = [n for n in INPUTS if _mentions(body, n)]
    declarations = [f"{n}: {INPUTS[n][1]}" for n in used]
    return "\n".join(declarations + lines), used


def _mentions(text: str, name: str) -> bool:
    import re

    return re.search(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_(])", text) is not None


def values_for(names: list[str], seed: int) -> dict[str, np.ndarray | float]:
    """Moderate values of each input's shape; the symmetric one symmetric."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray | float] = {}
    for n in names:
        shape = SHAPES[INPUTS[n][0]]
        v = rng.uniform(-1.0, 1.0, shape) * 0.8
        if n == "S":
            v = (v + v.T) / 2
        elif n in ("p", "P"):  # entries (of each row) summing to 1
            v = np.exp(v) / np.exp(v).sum(axis=-1, keepdims=True)
        out[n] = float(v) if shape == () else v
    return out
