"""Labels in {-1, 1}: the declaration labels(-1, 1), its values, and y.^2 = 1 (issue 19,
part 3)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.verify import random_values

LOGISTIC = "sum(log(1 + exp(-y .* (X*w))))"
HESSIAN = "X'*diag(sigmoid(-y.*(X*w)).*(1 - sigmoid(-y.*(X*w))))*X"


def test_the_declaration_reads_and_the_square_is_one():
    h = matdiff.diff(LOGISTIC, wrt="w", order=2, declare={"y": "labels(-1, 1)"})
    assert "y.^2" not in str(h) and str(h) == HESSIAN
    assert h.check() < 1e-6
    plain = matdiff.diff(LOGISTIC, wrt="w", order=2)
    assert "y.^2" in str(plain)


@pytest.mark.parametrize("spec", ["labels(-1, 1)", "label(-1, +1)", "labels(-1, 1) vector(n)",
                                  "Labels( -1 , 1 )"])
def test_spellings(spec):
    e = matdiff.parse("y'*x", declare={"y": spec})
    assert e.variables["y"].shape == e.variables["x"].shape


def test_a_matrix_of_signs():
    e = matdiff.parse("sum(sum(Y.^2))", declare={"Y": "labels(-1, 1) matrix(n, k)"})
    assert len(e.variables["Y"].shape) == 2
    d = matdiff.diff("sum(sum(Y.^2 .* W))", wrt="W", declare={"Y": "labels(-1, 1) matrix(n, k)"})
    assert d.to_text() == "matrix(1, size(W, 1), size(W, 2))"  # Y.^2 = 1, sized by W


def test_values_are_drawn_and_checked_as_signs():
    e = matdiff.parse("y'*x", declare={"y": "labels(-1, 1)"})
    values = random_values(e.variables, seed=3)
    assert set(np.unique(values["y"])) <= {-1.0, 1.0}
    with pytest.raises(matdiff.MatdiffError, match="labels"):
        e.evaluate({"y": np.array([1.0, 0.5]), "x": np.ones(2)})
    assert e.evaluate({"y": np.array([1.0, -1.0]), "x": np.ones(2)}) == 0.0


def test_a_hessian_without_the_square_is_right_exactly_for_signs():
    r = matdiff.compare(HESSIAN, of=LOGISTIC, wrt="w", order=2)
    assert not r.equal and r.mistake == "assumption"
    assert "y.^2 = 1" in r.diagnosis and "labels(-1, 1)" in r.diagnosis
    assert matdiff.compare(HESSIAN, of=LOGISTIC, wrt="w", order=2,
                           declare={"y": "labels(-1, 1)"}).equal
