"""Tests of signature.py: values bound to declared shapes, said one way by every caller.

evaluate, a compiled NumPy function, the PyTorch runner and fit's data check
all bind values through one Signature; a value that does not fit gets the same
sentence from each (before, four wordings).
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.errors import EvaluationError, ShapeError
from matdiff.signature import Signature, shape_text, shape_words

DECLARE = {"A": "matrix(m, n)", "x": "vector(n)"}


def _message(call) -> str:
    with pytest.raises(matdiff.MatdiffError) as info:
        call()
    return str(info.value)


def test_shape_words():
    assert shape_words(()) == "a scalar"
    assert shape_words(("n",)) == "a vector (n)"
    assert shape_words(("n",), "row") == "a row vector (1 x n)"
    assert shape_words(("n",), "column") == "a column vector (n)"
    assert shape_words(("m", 3)) == "a matrix (m x 3)"
    assert shape_words((2, 3, 4)) == "a 3-d array (2 x 3 x 4)"
    assert shape_text(()) == "scalar" and shape_text(("m", "n")) == "m x n"


def test_a_wrong_rank_is_said_one_way_everywhere():
    f = matdiff.parse("norm2(A*x)^2", declare=DECLARE)
    values = {"A": np.ones((2, 3)), "x": np.ones((3, 1))}
    said = {
        "evaluate": _message(lambda: f.evaluate(values)),
        "compiled": _message(lambda: matdiff.diff(f, wrt="x").compile()(**values)),
    }
    want = "'x' should be a vector (n), but its value has shape (3, 1)"
    assert all(m == want for m in said.values()), said


def test_a_disagreeing_dimension_names_the_value_that_fixed_it():
    f = matdiff.parse("norm2(A*x)^2", declare=DECLARE)
    values = {"A": np.ones((2, 3)), "x": np.ones(4)}
    want = "dimension n is 3 in 'A' but 4 in 'x'"
    assert _message(lambda: f.evaluate(values)) == want
    assert _message(lambda: matdiff.diff(f, wrt="x").compile()(**values)) == want


def test_torch_runner_binds_through_the_same_signature():
    torch = pytest.importorskip("torch")
    fn = matdiff.diff(matdiff.parse("norm2(A*x)^2", declare=DECLARE), wrt="x").compile(
        backend="torch")
    said = _message(lambda: fn(A=torch.ones((2, 3), dtype=torch.float64),
                               x=torch.ones(4, dtype=torch.float64)))
    assert said == "dimension n is 3 in 'A' but 4 in 'x'"


def test_a_bad_value_is_both_a_shape_and_an_evaluation_error():
    sig = Signature({"x": ("n",)}, ["x"], ["n"])
    with pytest.raises(ShapeError):
        sig.bind({"x": (2, 2)})
    with pytest.raises(EvaluationError):
        sig.bind({"x": (2, 2)})
    with pytest.raises(EvaluationError, match=r"no value for 'x' \(needed: x\)"):
        sig.bind({})
    assert sig.bind({"x": (5,)}) == {"n": 5}
