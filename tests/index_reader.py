"""A small, independent reader of matdiff's index notation, for the tests.

`T[i,j,k] = δ[i,j]*x[k] - Σ_p(A[i,p]*B[p,k])` evaluates to a NumPy array:
an entry `X[i,j]` is the matrix-form text X evaluated by matdiff.parse and
indexed (a repeated index takes a diagonal), `δ[i,j]` the identity, `Σ_pq(...)`
a sum over its indices, `+`, `-`, `*`, `^` and element-wise calls act entry
by entry, and an index absent from a term means the term is constant along
that axis. Every index runs over `size` values (the tests use one dimension).
"""

from __future__ import annotations

import re

import numpy as np

import matdiff

__all__ = ["evaluate_index_text"]

_FUNCTIONS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "sqrt": np.sqrt, "abs": np.abs,
    "sign": np.sign, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0),
    "softplus": lambda z: np.logaddexp(0, z), "step": lambda z: (z > 0).astype(float),
    "max": np.maximum, "min": np.minimum,
}


class _Tensor:
    """An array whose axes are named by index letters."""

    def __init__(self, array, names: tuple[str, ...]) -> None:
        self.array, self.names = np.asarray(array, float), names

    def aligned(self, names: tuple[str, ...], size: int) -> np.ndarray:
        """The array over `names` (in order), broadcast along names it lacks."""
        letters = {n: chr(97 + k) for k, n in enumerate(names)}
        a = np.einsum(f"{''.join(letters[n] for n in self.names)}->"
                      f"{''.join(letters[n] for n in names if n in self.names)}", self.array)
        shape = [size if n in self.names else 1 for n in names]
        return np.broadcast_to(a.reshape(shape), [size] * len(names))


def _union(*ts: _Tensor) -> tuple[str, ...]:
    out: list[str] = []
    for t in ts:
        out += [n for n in t.names if n not in out]
    return tuple(out)


def _combine(f, *ts: _Tensor, size: int) -> _Tensor:
    names = _union(*ts)
    return _Tensor(f(*(t.aligned(names, size) for t in ts)), names)


def _names(text: str) -> tuple[str, ...]:
    text = text.strip()
    if "," in text:
        return tuple(n.strip() for n in text.split(","))
    return tuple(text)


class _Reader:
    def __init__(self, text: str, values: dict, declare: dict, size: int) -> None:
        self.s, self.k = text, 0
        self.values, self.declare, self.size = values, declare, size

    def peek(self) -> str:
        while self.k < len(self.s) and self.s[self.k] == " ":
            self.k += 1
        return self.s[self.k:self.k + 1]

    def expect(self, c: str) -> None:
        assert self.peek() == c, (self.s, self.k, c)
        self.k += 1

    def matching(self, start: int) -> int:
        """The index just past the bracket closing the one at `start`."""
        depth = 0
        for j in range(start, len(self.s)):
            depth += self.s[j] in "(["
            depth -= self.s[j] in ")]"
            if depth == 0:
                return j + 1
        raise AssertionError(f"unbalanced: {self.s}")

    def sum(self) -> _Tensor:
        sign = 1.0
        if self.peek() == "-":
            self.k += 1
            sign = -1.0
        out = self.product()
        out = _Tensor(sign * out.array, out.names)
        while self.peek() in ("+", "-"):
            op = self.s[self.k]
            self.k += 1
            t = self.product()
            out = _combine((lambda a, b: a + b) if op == "+" else (lambda a, b: a - b), out, t,
                           size=self.size)
        return out

    def product(self) -> _Tensor:
        out = self.power()
        while self.peek() == "*":
            self.k += 1
            out = _combine(np.multiply, out, self.power(), size=self.size)
        return out

    def power(self) -> _Tensor:
        if self.peek() == "-":  # a signed factor: x[i]*-2
            self.k += 1
            t = self.power()
            return _Tensor(-t.array, t.names)
        base = self.atom()
        if self.peek() == "^":
            self.k += 1
            base = _combine(np.power, base, self.power(), size=self.size)
        return base

    def atom(self) -> _Tensor:
        c = self.peek()
        s, start = self.s, self.k
        if c == "δ":
            self.k += 1
            j = self.matching(self.k)
            a, b = _names(s[self.k + 1:j - 1])
            self.k = j
            return _Tensor(np.eye(self.size), (a, b)) if a != b else _Tensor(
                np.ones(self.size), (a,))
        if c == "Σ":
            self.k += 2  # Σ_
            j = s.index("(", self.k)
            names = _names(s[self.k:j])
            self.k = j + 1
            body = self.sum()
            self.expect(")")
            keep = tuple(n for n in body.names if n not in names)
            missing = [n for n in names if n not in body.names]  # summed but absent: a factor
            total = body.aligned(keep + tuple(n for n in names if n in body.names), self.size)
            total = total.sum(axis=tuple(range(len(keep), len(total.shape))))
            return _Tensor(total * self.size ** len(missing), keep)
        m = re.match(r"\d+(\.\d*)?(e-?\d+)?|[A-Za-z_][A-Za-z0-9_]*", s[self.k:])
        if c == "(" or m:
            j = self.k + (m.end() if m and c != "(" else 0)
            if j < len(s) and s[j] == "(":
                j = self.matching(j)
            piece = s[start:j]
            if j < len(s) and s[j] == "[":  # an entry of a matrix-form piece
                close = self.matching(j)
                self.k = close
                return self.entry(piece, _names(s[j + 1:close - 1]))
            if "[" not in piece:  # a scalar in matrix form
                self.k = j
                return _Tensor(self.matrix_value(piece), ())
            if c == "(":  # a bracketed index expression
                self.k += 1
                inner = self.sum()
                self.expect(")")
                return inner
            name = m.group(0)  # an element-wise call on index items
            self.k += len(name) + 1
            args = [self.sum()]
            while self.peek() == ",":
                self.k += 1
                args.append(self.sum())
            self.expect(")")
            return _combine(_FUNCTIONS[name], *args, size=self.size)
        raise AssertionError(f"cannot read {s[self.k:]!r} in {s!r}")

    def matrix_value(self, text: str) -> np.ndarray:
        e = matdiff.parse(text, self.declare)
        dims = {d: self.size for d in _dimension_names(e)}
        return np.asarray(e.evaluate(self.values, dims=dims), float)

    def entry(self, piece: str, names: tuple[str, ...]) -> _Tensor:
        a = self.matrix_value(piece)
        assert a.ndim == len(names), (piece, names)
        if len(names) == 2 and names[0] == names[1]:
            return _Tensor(np.diagonal(a), names[:1])
        return _Tensor(a, names)


def _dimension_names(e) -> set:
    from matdiff.ir.expr import topo_order
    from matdiff.ir.ops import Op

    out = set()
    for node in topo_order(e.ir):
        out.update(d for d in node.shape if isinstance(d, str))
        if node.op is Op.SIZE:
            out.update(d for d in node.attr if isinstance(d, str))
    return out


def evaluate_index_text(text: str, values: dict, declare: dict, size: int) -> np.ndarray:
    """The array that index-notation text `R[i,j,...] = body` describes."""
    head, _, body = text.partition(" = ")
    m = re.fullmatch(r"[A-Za-z]\w*\[(.*)\]", head)
    assert m, text
    names = tuple(n.strip() for n in m.group(1).split(","))
    reader = _Reader(body, values, declare, size)
    t = reader.sum()
    assert reader.k == len(body), (text, reader.k)
    assert set(t.names) <= set(names), (text, t.names)
    return np.array(t.aligned(names, size))
