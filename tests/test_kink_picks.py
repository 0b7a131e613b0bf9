"""compare visits both sides of every kink at the entry a max/min reduction picks: a slip
that matters only there (an indicator left out, or with another argument, inside max(x),
min(x), max(X, [], d), maxpool) is never judged equal (matdiff.picks)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from kink_support import without
from matdiff.ir.ops import SPECS, Op, spelling
from matdiff.printing import to_text

INDICATORS = (Op.STEP, Op.SIGN)   # a reduction's own eq(...) stays: its pick is the point
DECLARE = {"b": "scalar", "c": "scalar", "X": "matrix(m, n)", "w": "vector(n)",
           "y": "vector(m)", "W": "matrix(n, k)", "Y": "matrix(m, k)"}


def test_a_slip_only_at_the_entry_min_picks_is_not_equal():
    # the answer has B*y where the derivative has B'*y, inside the indicator of min(a, b):
    # wrong only where the two disagree in sign at the entry min(min(...)) picks
    declare = {"B": "matrix(n, n)", "p": "probability vector(n)", "y": "vector(n)"}
    pick = "eq(min(B*p, B'*y), min(min(B*p, B'*y)))"
    answer = f"B*({pick}.*step(B*p - B*y))/sum({pick})"
    r = matdiff.compare(answer, of="min(min(B*p, B'*y))", wrt="y", declare=declare)
    assert not r.equal and r.mistake == "symmetric", str(r)
    right = f"B*({pick}.*step(B*p - B'*y))/sum({pick})"
    assert matdiff.compare(right, of="min(min(B*p, B'*y))", wrt="y", declare=declare).equal


def _kinked() -> list[Op]:
    """The element-wise ops of the table whose derivative has an indicator."""
    return [op for op, spec in SPECS.items() if spec.kind == "elementwise" and op is not Op.EQ
            and (op in (Op.MAX, Op.MIN) or any(w in spec.derivative for w in ("step", "sign")))
            and op not in (Op.STEP, Op.SIGN)]


def _inner(op: Op, z: str, other: str) -> list[str]:
    name = spelling(op)
    if op in (Op.MAX, Op.MIN):
        return [f"{name}({z}, 0)", f"{name}({z}, {other})"]   # and of two arrays
    if SPECS[op].arity == 2:
        return [f"{name}({z}, 0.1)"]
    return [f"{name}({z})"]


def _cases():
    out = []
    for op in _kinked():
        for inner in _inner(op, "X*w + b", "y"):
            out += [(f"max({inner})", "w"), (f"min({inner})", "w")]
        for inner in _inner(op, "X*W + b", "Y"):
            out.append((f"sum(max({inner}, [], 2))", "W"))
    return out


CASES = _cases()


def _without(e, value: float):
    return without(e, value, INDICATORS)


def test_the_table_has_the_kinks():
    assert {Op.RELU, Op.ABS, Op.MAX, Op.MIN, Op.LEAKY_RELU, Op.ELU} <= set(_kinked())


@pytest.mark.parametrize(("f", "wrt"), CASES, ids=[f for f, _ in CASES])
@pytest.mark.parametrize("side", [1.0, 0.0])
def test_an_indicator_removed_inside_a_reduction_is_not_equal(f, wrt, side):
    d = matdiff.diff(f, wrt=wrt, declare=DECLARE)
    wrong = _without(d.ir, side)
    if wrong == d.ir:
        pytest.skip("no indicator in this derivative")
    text = to_text(wrong, variables=d.variables)
    r = matdiff.compare(text, of=f, wrt=wrt, declare=DECLARE)
    assert not r.equal, f"{text} judged equal to {d}"


def test_maxpool_picks_each_block():
    declare = {"X": "matrix(4, 4)"}
    d = matdiff.diff("sum(maxpool(relu(X), 2))", wrt="X", declare=declare)
    wrong = to_text(_without(d.ir, 1.0), variables=d.variables)
    assert not matdiff.compare(wrong, of="sum(maxpool(relu(X), 2))", wrt="X",
                               declare=declare).equal
    assert matdiff.compare(str(d), of="sum(maxpool(relu(X), 2))", wrt="X",
                           declare=declare).equal


def test_a_side_no_point_reaches_at_the_pick_is_said_untested():
    # relu(x.^2) is never negative, at the picked entry or anywhere
    r = matdiff.compare("2*x.*eq(x.^2, max(x.^2))/sum(eq(x.^2, max(x.^2)))",
                        of="max(relu(x.^2))", wrt="x")
    assert r.equal and "x.^2 < 0 where max(relu(x.^2)) picks" in r.note, str(r)


@st.composite
def reduced(draw):
    """A scalar function with a max/min reduction (of all entries, or of each row or
    column of a matrix) of a kinked element-wise argument, and a variable it has."""
    op = draw(st.sampled_from(_kinked()))
    red = draw(st.sampled_from(["max", "min"]))
    if draw(st.booleans()):
        z = draw(st.sampled_from(["X*w + b", "X*w", "b - X*w", "X*(w + c)"]))
        inner = draw(st.sampled_from(_inner(op, z, draw(st.sampled_from(["y", "2*y", "-y"])))))
        reduction = f"{red}({inner})"
    else:
        z = draw(st.sampled_from(["X*W + b", "X*W", "b - X*W"]))
        inner = draw(st.sampled_from(_inner(op, z, draw(st.sampled_from(["Y", "-Y"])))))
        reduction = f"sum({red}({inner}, [], {draw(st.sampled_from([1, 2]))}))"
    f = draw(st.sampled_from(["{}", "({} - c)^2", "2*{} + b", "exp({})"])).format(reduction)
    return f, draw(st.sampled_from([v for v in ("w", "W", "b", "c")
                                    if re.search(rf"\b{v}\b", f)]))


@settings(max_examples=20, deadline=None)
@given(reduced(), st.sampled_from([0.0, 1.0]))
def test_random_reductions_right_and_wrong(fw, side):
    f, wrt = fw
    d = matdiff.diff(f, wrt=wrt, declare=DECLARE)
    right = matdiff.compare(str(d), of=f, wrt=wrt, declare=DECLARE)
    assert right.equal, f"the derivative of {f} judged {right}"
    wrong = _without(d.ir, side)
    if wrong != d.ir:
        text = to_text(wrong, variables=d.variables)
        r = matdiff.compare(text, of=f, wrt=wrt, declare=DECLARE)
        assert not r.equal, f"{text} judged equal to {d}"


@pytest.mark.parametrize("seed", range(6))
def test_a_tie_the_draws_meet_is_kept(seed):
    # min(x, 1) ties at 1 wherever two entries of x pass 1: there the slope of max splits,
    # and an answer without the split (no /sum(eq(...))) is wrong
    answer = "sum(eq(min(x, 1) + b, max(min(x, 1) + b)))"
    r = matdiff.compare(answer, of="max(min(x, 1) + b)", wrt="b", declare={"b": "scalar"},
                        seed=seed)
    assert not r.equal, str(r)
