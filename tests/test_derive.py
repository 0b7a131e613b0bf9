"""matdiff.derive: the forward-mode pass and its rule table, at the level of the IR.

The contract of `differentiate(root, x)`: a tensor of shape root.shape + x.shape
whose value is the derivative (here against central finite differences of the
root's own value), an exact zero when root does not depend on x, and an error
for anything but a variable. Every op with arguments has a rule.

Each op's rule is checked against finite differences of an independent NumPy
implementation in tests/test_op_rows.py (value, gradient and Hessian for a
scalar, a vector and a matrix argument) and each element-wise spec's formula
in tests/test_op_spec.py; this module checks the pass that strings them.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, fd_jacobian
from matdiff.derive import ELEMENTWISE_DERIVATIVES, RULES, differentiate
from matdiff.evaluate import evaluate
from matdiff.ir import expr as ir
from matdiff.ir.ops import SPECS, Op

RNG = np.random.default_rng(11)
VALUES = {"A": RNG.normal(size=(3, 3)), "B": RNG.normal(size=(3, 3)), "x": RNG.normal(size=3),
          "y": RNG.normal(size=3), "s": np.float64(0.7)}


def _parsed(text: str):
    e = matdiff.parse(text, declare={"A": "matrix(n, n)", "B": "matrix(n, n)",
                                     "x": "vector(n)", "y": "vector(n)", "s": "scalar"})
    return e.ir, e.variables


def _numeric(root, variables, wrt: str) -> np.ndarray:
    def f(v: np.ndarray) -> np.ndarray:
        return evaluate(root, {**VALUES, wrt: v}, variables)
    return fd_jacobian(f, VALUES[wrt])


CASES = [
    ("x'*A*x", "x"), ("x'*A*x", "A"), ("A*x", "x"), ("A*x", "A"), ("s*x", "s"),
    ("tanh(A*x + y)", "x"), ("sum(exp(A).*B)", "A"), ("inv(A)*x", "A"), ("det(A)", "A"),
    ("softmax(A*x)", "x"), ("logsumexp(x)", "x"), ("norm2(x - y)", "y"), ("A*B*A", "A"),
    ("s^3*x", "s"), ("max(x, y)", "x"), ("x.^2 ./ (1 + y.^2)", "y"),
]


@pytest.mark.parametrize(("text", "wrt"), CASES, ids=[f"{t} by {w}" for t, w in CASES])
def test_shape_and_value_against_finite_differences(text, wrt) -> None:
    root, variables = _parsed(text)
    d = differentiate(root, variables[wrt])
    assert d.shape == root.shape + variables[wrt].shape
    got = evaluate(d, VALUES, variables)
    assert_matches(got, _numeric(root, variables, wrt), what=f"d({text})/d{wrt}")


def test_second_order_is_the_pass_applied_twice() -> None:
    root, variables = _parsed("sum(exp(A*x))")
    x = variables["x"]
    hessian = differentiate(differentiate(root, x), x)
    assert hessian.shape == x.shape + x.shape
    gradient = differentiate(root, x)

    def g(v: np.ndarray) -> np.ndarray:
        return evaluate(gradient, {**VALUES, "x": v}, variables)
    assert_matches(evaluate(hessian, VALUES, variables), fd_jacobian(g, VALUES["x"]))


def test_an_independent_root_has_an_exact_zero_of_the_full_shape() -> None:
    root, _ = _parsed("A*y")
    x = ir.var("x", ("n",))  # a variable the root does not contain
    d = differentiate(root, x)
    assert ir.is_zero(d) and d.shape == ("n", "n")


def test_only_a_variable_can_be_the_wrt() -> None:
    root, variables = _parsed("A*x")
    with pytest.raises(matdiff.MatdiffError, match="variable"):
        differentiate(root, root)


def test_every_op_with_arguments_has_a_rule() -> None:
    with_arguments = {op for op, spec in SPECS.items() if spec.arity != 0 and spec.kind != "leaf"}
    assert not with_arguments - set(RULES), sorted(op.value for op in with_arguments - set(RULES))
    elementwise = {op for op, spec in SPECS.items() if spec.kind == "elementwise"
                   and spec.arity == 1 and RULES.get(op) is RULES.get(Op.EXP)}
    assert elementwise <= set(ELEMENTWISE_DERIVATIVES)
