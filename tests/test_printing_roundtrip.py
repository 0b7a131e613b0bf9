"""The round trip: what the text printer writes parses back to the same values.

For random well-typed expressions and each variable in them,
parse(str(d)) must evaluate to d.evaluate(values) (the default "shape"
layout is exactly what d.evaluate returns), read with nothing but the
variables' declarations and evaluated from their values alone (printed_truth:
no size handed in from outside); derivatives with three or four axes print
in index notation, which is for reading only.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from matdiff.ir.expr import variables
from printed_truth import check_text
from printing_support import DECLARE, VALUES, declarations, evaluate_text, expressions


def _derivative(data, kind: str):
    text = data.draw(expressions(kind, 3), label="expression")
    e = matdiff.parse(text, DECLARE)
    present = [v for v in ("x", "A", "a") if v in variables(e.ir)]
    wrt = data.draw(st.sampled_from(present or ["x"]), label="wrt")
    return matdiff.diff(text, wrt=wrt, declare=DECLARE)


@settings(max_examples=300)
@given(st.sampled_from("scm"), st.data())
def test_printed_derivative_parses_back_to_the_same_values(kind, data):
    d = _derivative(data, kind)
    want = np.asarray(d.evaluate(VALUES), dtype=np.float64)
    text = str(d)
    if len(d.shape) > 2:
        assert text.startswith("T["), text
        return
    if not np.all(np.isfinite(want)):
        return
    check_text(text, want, d.function.variables, VALUES, DECLARE)
    assert d.latex()  # LaTeX never fails where text succeeds


@settings(max_examples=60)
@given(st.sampled_from("scm"), st.data())
def test_layouts_print_the_transposed_arrays(kind, data):
    d = _derivative(data, kind)
    want = np.asarray(d.evaluate(VALUES), dtype=np.float64)
    if len(d.shape) != 2 or not np.all(np.isfinite(want)):
        return
    decl = declarations(d.function.variables)
    f_axes = len(d.function.shape)
    for layout, transposed in (("numerator", f_axes == 0), ("denominator", f_axes == 1)):
        shape = d.shape[::-1] if transposed else d.shape
        got = evaluate_text(d.to_text(layout=layout), shape, VALUES, decl)
        assert np.allclose(got, want.T if transposed else want), (layout, d.function.text)


@settings(max_examples=100)
@given(st.sampled_from("scm"), st.data())
def test_printed_expression_parses_back(kind, data):
    text = data.draw(expressions(kind, 3))
    e = matdiff.parse(text, DECLARE)
    want = np.asarray(e.evaluate(VALUES), dtype=np.float64)
    printed = str(e)
    if np.all(np.isfinite(want)):
        check_text(printed, want, e.variables, VALUES, DECLARE)
    got = evaluate_text(printed, e.shape, VALUES, DECLARE)
    assert np.allclose(got, want, equal_nan=True), (text, printed)
