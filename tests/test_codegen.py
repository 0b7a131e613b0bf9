"""Compiled derivatives equal `evaluate()` on a corpus of expressions.

The corpus is the textbook table (tests/textbook_table.py), the benchmark
problems P1-P7 and expressions chosen to reach every code path of the
generator: diagonals, broadcasts, traces, symmetric declarations, tensors
of order 3 and 4, matrix functions, second and third derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.verify import random_values
from textbook_table import ROWS, row_values

# (expression, wrt, order, declarations, value domain)
CORPUS = [
    ("norm2(X*w - y)^2", "w", 1, {}, None),
    ("norm2(X*w - y)^2", "w", 2, {}, None),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", 1, {}, None),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", 2, {}, None),
    ("mean((y - relu(X*w + b)).^2)", "w", 1, {"b": "scalar"}, None),
    ("mean((y - relu(X*w + b)).^2)", "b", 1, {"b": "scalar"}, None),
    ("x'*A*x", "x", 2, {}, None),
    ("exp(x) .* sin(x)", "x", 1, {}, None),
    ("max(W*x + b)", "W", 1, {"b": "vector"}, None),
    ("log(sum(exp(x - max(x)))) + max(x)", "x", 2, {}, None),
    ("min(X*w) - max(w)", "w", 1, {}, None),
    ("norm2(M - U*V')^2", "U", 1, {}, None),
    ("norm2(relu(X*W1)*W2 - Y)^2", "W1", 1, {}, None),
    ("sum(exp(X*w)) + x'*S*x", "x", 2, {"S": "symmetric matrix"}, None),
    ("x'*S*x", "S", 1, {"S": "symmetric matrix"}, None),
    ("tr(A*B*A')", "A", 1, {}, None),
    ("tr(A)*x", "A", 1, {}, None),
    ("A .* B", "A", 1, {}, None),
    ("exp(A) .* B", "A", 2, {}, None),
    ("A*x", "A", 1, {}, None),
    ("diag(x)*A*diag(y)", "x", 1, {}, None),
    ("diag(A)'*x", "A", 1, {}, None),
    ("x .* (A*x)", "x", 1, {}, None),
    ("sin(x) .* cos(x)", "x", 2, {}, None),
    ("sum(tanh(x).^3)", "x", 3, {}, None),
    ("softmax(A*x)", "x", 1, {}, None),
    ("logsumexp(A*x)", "x", 2, {}, None),
    ("log(det(A))", "A", 1, {}, "positive-definite"),
    ("logdet(A)", "A", 2, {}, "positive-definite"),
    ("inv(A)*x", "A", 1, {}, "positive-definite"),
    ("det(A)*x", "x", 1, {}, None),
    ("max(x, y) + min(x, 0.5)", "x", 1, {}, None),
    ("sqrt(x .* x + 1) ./ (1 + abs(x))", "x", 1, {}, None),
    ("sigmoid(W*x + v) .* softplus(x'*x)", "W", 1, {}, None),
    ("vector(2) .* x + matrix(3)*x", "x", 1, {}, None),
    ("eye*x + x*sum(x)", "x", 1, {}, None),
    ("norm1(A*x) + norm2(A)", "A", 1, {}, None),
    ("x*x'", "x", 1, {}, None),
    ("x*x'", "x", 2, {}, None),
    ("(x'*x)*(y'*y)", "y", 2, {}, None),
    ("w'*x + b", "w", 2, {"b": "scalar"}, None),
    ("sum(X*W' + b)", "b", 1, {"b": "scalar"}, None),
    ("cos(A*B)", "B", 1, {}, None),
    ("sum((A*B) ./ (1 + exp(C)))", "C", 2, {}, None),
]


def _values(text: str, declare: dict, domain: str | None, seed: int = 3) -> dict:
    e = matdiff.parse(text, declare or None)
    positive = any(f in text for f in ("log(", "sqrt(", "det(")) and "exp(" not in text
    values = random_values(e.variables, seed, positive=positive)
    if domain == "positive-definite":
        rng = np.random.default_rng(seed)
        for name, v in e.variables.items():
            if v.ndim == 2:
                n = np.shape(values[name])[0]
                a = rng.standard_normal((n, n))
                values[name] = a @ a.T / n + np.eye(n)
    return values


def _close(got, want) -> None:
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("text,wrt,order,declare,domain", CORPUS,
                         ids=[f"{c[0]} d{c[1]}^{c[2]}" for c in CORPUS])
def test_compiled_equals_evaluate(text, wrt, order, declare, domain):
    d = matdiff.diff(text, wrt=wrt, declare=declare or None, order=order)
    values = _values(text, declare, domain)
    want = d.evaluate(values)
    _close(d.compile()(**values), want)
    structured = d.compile(structured=True)(**values)
    _close(np.asarray(structured), want)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.expression} d{r.wrt}^{r.order}" for r in ROWS])
def test_textbook_rows(row):
    d = matdiff.diff(row.expression, wrt=row.wrt, declare=row.declare or None, order=row.order)
    values = row_values(row)
    _close(d.compile()(**values), d.evaluate(values))


@pytest.mark.parametrize("text,wrt,order,declare,domain",
                         [c for c in CORPUS if c[2] == 1 and matdiff.parse(c[0], c[3] or None)
                          .ir.ndim == 0], ids=str)
def test_value_and_grad_equals_evaluate(text, wrt, order, declare, domain):
    f = matdiff.parse(text, declare or None)
    names = [n for n, v in f.variables.items() if n not in ("X", "y", "M", "Y")] or [wrt]
    fn = matdiff.value_and_grad(text, wrt=names, declare=declare or None)
    values = _values(text, declare, domain)
    value, grads = fn(**values)
    assert isinstance(value, float)
    _close(value, f.evaluate(values))
    assert len(grads) == len(names)
    for name, g in zip(names, grads):
        _close(g, matdiff.diff(f, wrt=name, declare=declare or None).evaluate(values))


def test_value_and_grad_single_name_returns_one_gradient():
    fn = matdiff.value_and_grad("norm2(X*w - y)^2", wrt="w")
    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((7, 3)), rng.standard_normal(3), rng.standard_normal(7)
    value, grad = fn(X=X, w=w, y=y)
    _close(value, np.sum((X @ w - y) ** 2))
    _close(grad, 2 * X.T @ (X @ w - y))


def test_new_shapes_are_planned_again():
    d = matdiff.diff("norm2(M - U*V')^2", wrt="U")
    fn = d.compile()
    rng = np.random.default_rng(1)
    for n, m, r in [(5, 6, 2), (30, 40, 3), (4, 4, 9)]:
        values = {"M": rng.standard_normal((n, m)), "U": rng.standard_normal((n, r)),
                  "V": rng.standard_normal((m, r))}
        _close(fn(**values), d.evaluate(values))


@pytest.mark.parametrize("expr, wrt, values", [
    ("-relu(c)", "c", {"c": 1.5}),
    ("-max(0, d)", "d", {"d": 0.5}),
    ("y + w - max(e, 4)", "e", {"y": np.ones(3), "w": np.ones(3), "e": 5.0}),
    ("-relu(c)*x", "c", {"c": 2.0, "x": np.array([1.0, 2.0])}),
    ("-relu(x)", "x", {"x": np.array([1.0, -1.0])}),
])
def test_a_negated_mask_compiles_to_numbers(expr, wrt, values):
    d = matdiff.diff(expr, wrt=wrt)
    np.testing.assert_allclose(d.compile()(**values), d.evaluate(values))


def test_value_and_grad_of_a_negated_relu():
    value, (grad,) = matdiff.value_and_grad("-relu(c) + sum(x)", wrt=["c"])(c=1.0, x=np.ones(3))
    assert value == 2.0 and grad == -1.0


def test_deep_chains_are_planned_without_an_exhaustive_search(monkeypatch):
    """dp's search is exponential in the operands: a 20-layer chain rule must not use it
    (it took minutes); benchmarks/compile_depth.py measures the time against depth."""
    import opt_einsum

    from matdiff.codegen.contract import DP_OPERANDS, plan_path

    searched = []
    real = opt_einsum.contract_path

    def spy(eq, *shapes, **kw):
        searched.append((kw.get("optimize"), len(shapes)))
        return real(eq, *shapes, **kw)

    monkeypatch.setattr(opt_einsum, "contract_path", spy)
    plan_path.cache_clear()
    text, k = "x", 20
    for i in range(1, k + 1):
        text = f"tanh(W{i}*{text})"
    declare = {f"W{i}": "matrix(n, n)" for i in range(1, k + 1)} | {"x": "vector(n)"}
    d = matdiff.diff(f"sum({text})", wrt="W1", declare=declare)
    d.compile().specialize(**{f"W{i}": (4, 4) for i in range(1, k + 1)}, x=(4,))
    assert max(n for _, n in searched) > DP_OPERANDS  # the chain is long
    assert all(n <= DP_OPERANDS for method, n in searched if method == "dp")
    plan_path.cache_clear()
