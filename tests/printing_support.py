"""Helpers shared by the printing, simplifier and textbook tests.

* `expressions(kind)`: a hypothesis strategy for random, well-typed
  expressions in the input language over x, y (vectors of size n), A, B
  (n x n matrices) and the scalar a, with values that keep every function
  in its domain.
* `evaluate_text(text, like, values, declare)`: evaluate printed text
  whose constants (`eye`, `vector(1)`) take their size from context: the
  text is parsed with the shape of the result it should equal tied to it,
  since `eye` alone names no size.
* `declarations(variables)`: the declarations that make a printed
  derivative parse with the original variables' shapes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import matdiff

__all__ = ["expressions", "evaluate_text", "declarations", "VALUES", "DECLARE"]

DECLARE = {"x": "vector(n)", "y": "vector(n)", "A": "matrix(n, n)", "B": "matrix(n, n)",
           "a": "scalar"}

_rng = np.random.default_rng(7)
VALUES = {
    "x": np.array([0.7, -0.4, 1.1]),
    "y": np.array([-0.3, 0.9, 0.5]),
    "A": np.eye(3) * 1.5 + 0.3 * _rng.uniform(-1, 1, (3, 3)),
    "B": np.eye(3) + 0.3 * _rng.uniform(-1, 1, (3, 3)),
    "a": np.float64(0.8),
}

_LEAVES = {"s": ["a", "2", "0.5"], "c": ["x", "y"], "m": ["A", "B"]}

# (template, argument kinds) by result kind
_RULES = {
    "s": [("sum({0})", "c"), ("({0})'*{1}", "cc"), ("({0})'*{1}*{2}", "cmc"), ("tr({0})", "m"),
          ("({0} + {1})", "ss"), ("{0}*{1}", "ss"), ("exp({0})", "s"), ("norm2({0})", "c"),
          ("sigmoid({0})", "s"), ("logsumexp({0})", "c"), ("({0} - {1})", "ss"),
          ("tanh({0})", "s"), ("({0})^2", "s"), ("sum({0})", "m"), ("max({0})", "c"),
          ("min({0})", "c")],
    "c": [("{0}*{1}", "mc"), ("({0} + {1})", "cc"), ("({0} - {1})", "cc"), ("{0}.*{1}", "cc"),
          ("{0}*{1}", "sc"), ("exp({0})", "c"), ("tanh({0})", "c"), ("sigmoid({0})", "c"),
          ("softmax({0})", "c"), ("({0})'*{1}", "mc"), ("diag({0})", "m"), ("({0}).^2", "c"),
          ("({0} + {1})", "cs"), ("{0}./(1 + exp({1}))", "cc"), ("max(0, {0})", "c"),
          ("exp({0} - max({0}))", "c")],
    "m": [("{0}*{1}", "mm"), ("({0} + {1})", "mm"), ("({0})'", "m"), ("{0}*({1})'", "cc"),
          ("diag({0})", "c"), ("{0}*{1}", "sm"), ("{0}.*{1}", "mm"), ("({0} - {1})", "mm"),
          ("exp({0})", "m")],
}


@st.composite
def _expression(draw, kind: str, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_LEAVES[kind]))
    template, kinds = draw(st.sampled_from(_RULES[kind]))
    args = [draw(_expression(k, depth - 1)) for k in kinds]
    text = template.format(*args)
    # a call (exp(...)) needs no brackets; x./(1 + exp(y)) does, though it ends in ")"
    return text if template[0].isalpha() and template.endswith(")") else f"({text})"


def expressions(kind: str = "s", depth: int = 3) -> st.SearchStrategy[str]:
    """Random expression text of the given kind ("s", "c" or "m")."""
    return _expression(kind, depth)


def declarations(variables: dict) -> dict[str, str]:
    """Declarations giving each variable its IR shape (and symmetry)."""
    out = {}
    for name, v in variables.items():
        dims = ", ".join(str(d) for d in v.shape)
        if v.ndim == 0:
            out[name] = "scalar"
        elif v.ndim == 1:
            out[name] = f"vector({dims})"
        else:
            out[name] = ("symmetric matrix" if v.attr[1] else "matrix") + f"({dims})"
    return out


def evaluate_text(text: str, shape: tuple, values: dict, declare: dict) -> np.ndarray:
    """The value of printed text, its free sizes tied to `shape` (the expected result's)."""
    declare = dict(declare)
    values = dict(values)
    if len(shape) in (1, 2):
        kind = "vector" if len(shape) == 1 else "matrix"
        declare["Zshape"] = f"{kind}({', '.join(str(d) for d in shape)})"
        dims: dict = {}
        for name, v in values.items():
            e = declare.get(name, "")
            if "(" in e:
                for sym, n in zip(e[e.index("(") + 1:-1].split(","), np.shape(v)):
                    dims[sym.strip()] = n
        values["Zshape"] = np.zeros([dims.get(str(d), d) for d in shape])
        text = f"({text}) + 0*Zshape"
    return np.asarray(matdiff.parse(text, declare).evaluate(values), dtype=np.float64)


# ------------------------------------------------------------ rectangular expressions

# Over X (m x n), u (m), v (n), r (a row vector, 1 x n), S (symmetric n x n), a scalar,
# P (probability rows, m x n):
# two sizes, axis reductions, softmax along an axis, row vectors (v', sum(X, 1)) spread over
# rows, columns taken from the matrix (X - mean(X, 2)). No max(x): the rows of P make
# mean(P, 2) a tie, which two evaluation orders may break apart. Kinds: s scalar, u column (m),
# v column (n), r row (1 x n), M matrix (m x n), N square (n x n).
RECT_DECLARE = {"X": "matrix", "u": "vector", "v": "vector", "S": "symmetric matrix",
                "a": "scalar", "P": "probability rows", "r": "row vector"}
_RECT_LEAVES = {"s": ["a", "2"], "u": ["u"], "v": ["v", "r'"], "r": ["v'", "r"], "M": ["X", "P"],
                "N": ["S"]}
_RECT_RULES = {
    "s": [("sum({0})", "u"), ("sum({0})", "M"), ("({0})'*{1}*{2}", "uMv"), ("tr({0})", "N"),
          ("logsumexp({0})", "v"), ("norm2({0})", "M"), ("{0}*{1}", "rv"), ("exp({0})", "s"),
          ("({0} + {1})", "ss"), ("{0}*{1}", "ss"), ("mean({0})", "M")],
    "u": [("{0}*{1}", "Mv"), ("exp({0})", "u"), ("({0} + {1})", "us"), ("{0}.*{1}", "uu"),
          ("sum({0}, 2)", "M"), ("mean({0}, 2)", "M"), ("logsumexp({0}, 2)", "M"),
          ("softmax({0})", "u"), ("sigmoid({0})", "u"), ("{0}*{1}", "su")],
    "v": [("({0})'*{1}", "Mu"), ("{0}*{1}", "Nv"), ("{0}.*{1}", "vv"), ("tanh({0})", "v"),
          ("({0})'", "r"), ("softmax({0})", "v"), ("({0} - {1})", "vv")],
    "r": [("sum({0}, 1)", "M"), ("mean({0}, 1)", "M"), ("({0})'*{1}", "uM"), ("exp({0})", "r"),
          ("({0}).*{1}", "rr"), ("logsumexp({0}, 1)", "M"), ("{0}*{1}", "sr"),
          ("({0})'", "v")],
    "M": [("({0} + {1})", "Mr"), ("({0} - {1})", "MM"), ("{0}*({1})'", "uv"), ("{0}.*{1}", "MM"),
          ("exp({0})", "M"), ("softmax({0}, 2)", "M"), ("softmax({0}, 1)", "M"),
          ("{0}*{1}", "MN"), ("({0} - mean({0}, 2))", "M"), ("{0}*{1}", "sM"),
          ("max({0}, 0)", "M"), ("({0} + {1})", "Ms")],
    "N": [("{0}*{1}", "NN"), ("{0}*({1})'", "vv"), ("({0})'*{1}", "MM"), ("diag({0})", "v"),
          ("({0} + {1})", "NN")],
}


@st.composite
def _rect(draw, kind: str, depth: int) -> str:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_RECT_LEAVES[kind]))
    template, kinds = draw(st.sampled_from(_RECT_RULES[kind]))
    args = [draw(_rect(k, depth - 1)) for k in kinds]
    return f"({template.format(*args)})"


def rectangular_expressions(kind: str = "s", depth: int = 3) -> st.SearchStrategy[str]:
    """Random expression text over two sizes (m x n), of kind "s", "u", "v", "r", "M"."""
    return _rect(kind, depth)
