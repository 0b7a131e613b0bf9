"""Every op has an entry in every stage's table, so adding an op cannot be half done."""

import pytest

from matdiff.derive.rules import RULES
from matdiff.evaluate import NUMPY
from matdiff.ir.ops import SPECS, Op
from matdiff.language.rules import BINARY, FUNCTIONS

LEAVES = {Op.VAR, Op.CONST, Op.SIZE}


@pytest.mark.parametrize("op", [op for op in Op if op not in LEAVES])
def test_every_op_has_a_derivative_rule(op):
    assert op in RULES


@pytest.mark.parametrize("op", [op for op in Op if op not in (Op.VAR, Op.EINSUM)])
def test_every_op_evaluates(op):
    assert op in NUMPY


@pytest.mark.parametrize("op", [op for op in Op if SPECS[op].kind in ("elementwise", "matrix")])
def test_every_function_op_is_in_the_language(op):
    spelled_as_operator = {Op.POW: ".^"}
    assert op.value in FUNCTIONS or spelled_as_operator.get(op) in BINARY
