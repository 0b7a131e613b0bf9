"""compare visits both sides of every kink: an answer that is wrong on one side of a relu,
max, abs, ... is never judged equal (issue 19, part 1)."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from kink_support import without
from matdiff.ir.ops import SPECS, Op, spelling
from matdiff.printing import to_text

INDICATORS = (Op.STEP, Op.SIGN, Op.EQ)


def _kinked_ops() -> list[Op]:
    """Every op of the table whose derivative has an indicator (a kink)."""
    out = []
    for op, spec in SPECS.items():
        if op in (Op.VMAX, Op.VMIN) or (spec.kind == "elementwise" and any(
                word in spec.derivative for word in ("step", "sign", " eq(")) or
                op in (Op.MAX, Op.MIN, Op.LEAKY_RELU, Op.ELU, Op.RELU, Op.ABS)):
            out.append(op)
    return out


def _calls(op: Op) -> list[str]:
    name = spelling(op)
    if op in (Op.VMAX, Op.VMIN):
        return [f"{name}(X*w)", f"{name}(X*w + b*vector(1))"]
    if SPECS[op].arity == 2:
        second = "0" if op in (Op.MAX, Op.MIN) else "0.1"
        return [f"{name}(w'*x + b, {second})", f"sum({name}(X*w + b, {second}))",
                f"{name}({second}, w'*x + b)" if op in (Op.MAX, Op.MIN) else
                f"({name}(w'*x + b, {second}) - c)^2"]
    return [f"{name}(w'*x + b)", f"sum({name}(X*w + b))", f"({name}(w'*x + b) - c)^2"]


CASES = [(op, f) for op in _kinked_ops() for f in _calls(op)]


def _without(e, value: float):
    return without(e, value, INDICATORS)


def test_the_table_has_the_kinks():
    assert {Op.RELU, Op.MAX, Op.MIN, Op.ABS, Op.LEAKY_RELU, Op.ELU, Op.VMAX} <= set(
        _kinked_ops())


@pytest.mark.parametrize(("op", "f"), CASES, ids=[f for _, f in CASES])
@pytest.mark.parametrize("side", [1.0, 0.0])
def test_an_answer_with_its_indicator_removed_is_not_equal(op, f, side):
    d = matdiff.diff(f, wrt="w", declare={"b": "scalar", "c": "scalar"})
    try:
        wrong = _without(d.ir, side)
    except matdiff.MatdiffError:
        pytest.skip("no such answer (a division by zero)")
    if wrong == d.ir:
        pytest.skip("no indicator in this derivative")
    text = to_text(wrong, variables=d.variables)
    for seed in (0, 1, 2):
        r = matdiff.compare(text, of=f, wrt="w", declare={"b": "scalar", "c": "scalar"},
                            seed=seed)
        assert not r.equal, f"{text} judged equal to {d}"


@pytest.mark.parametrize(("answer", "of", "wrt"), [
    ("x", "max(0, w'*x + b)", "w"),
    ("1", "max(0, w'*x + b)", "b"),
    ("2*(relu(w'*x + b) - y)*x", "(y - relu(w'*x + b))^2", "w"),
    ("relu(w'*x + b)", "max(0, w'*x + b)", "b"),
    ("x", "max(w'*x, 0)", "w"),
    ("sign(w'*x)*x", "abs(w'*x) + relu(w'*x)", "w"),
])
def test_the_articles_neuron_without_its_indicator_is_not_equal(answer, of, wrt):
    for seed in range(5):
        r = matdiff.compare(answer, of=of, wrt=wrt, declare={"b": "scalar", "y": "scalar"},
                            seed=seed)
        assert not r.equal, str(r)


def test_the_right_neuron_gradient_is_still_equal():
    for seed in range(5):
        assert matdiff.compare("step(w'*x + b)*x", of="max(0, w'*x + b)", wrt="w",
                               declare={"b": "scalar"}, seed=seed).equal


@pytest.mark.parametrize("of", ["max(0, w'*x + 10)", "relu(w'*x + 30)", "relu(w'*x - 40)",
                                "relu(w'*x + 300)"])
def test_a_kink_far_from_zero_is_reached_with_larger_values(of):
    r = matdiff.compare("x", of=of, wrt="w")
    assert not r.equal and r.mistake == "chain factor", str(r)


def test_a_side_no_value_can_reach_is_said_untested():
    r = matdiff.compare("2*x", of="sum(relu(x.^2))", wrt="x")
    assert r.equal and "no point reached x.^2 < 0" in str(r) and "untested" in r.note
    assert matdiff.compare("step(w'*x + b)*x", of="max(0, w'*x + b)", wrt="w",
                           declare={"b": "scalar"}).note == ""


@pytest.mark.parametrize("text, slope", [("max(y, y)", 1.0), ("min(y, y)", 1.0),
                                         ("max(y, 2*y - y)", 1.0), ("min(y, 3*y - 2*y)", 1.0),
                                         ("max(y.*y, y.^2)", 2.0)])
def test_a_tie_on_a_whole_region_keeps_the_slope(text, slope):
    # max(y, y) is y: its derivative was 0, both sides' indicators step(0) being 0
    y = np.array([0.5, -1.0, 2.0])
    d = matdiff.diff(text, wrt="y", declare={"y": "vector"})
    want = np.diag(slope * (y if "y.*y" in text else np.ones(3)))
    assert np.allclose(d.evaluate({"y": y}), want)


@pytest.mark.parametrize("answer, of, declare", [
    ("step(w'*x)*x", "max(0, w'*x + b)", {"b": "scalar"}),
    ("step(w'*x - b)*x", "relu(w'*x + b)", {"b": "scalar"}),
    ("X'*step(X*w)", "sum(relu(X*w + b))", {"b": "scalar"}),
    ("sign(x)", "sum(abs(x - y))", None),
])
def test_an_indicator_whose_kink_is_elsewhere_is_not_equal(answer, of, declare):
    # step(w'*x) for step(w'*x + b) is wrong only where w'*x and w'*x + b differ in sign;
    # visiting each kink's two sides never went there, and compare said "equal"
    wrt = "x" if "abs" in of else "w"
    assert not matdiff.compare(answer, of=of, wrt=wrt, declare=declare).equal


def test_two_kinks_that_disagree_only_near_zero_are_told_apart():
    # step(x + l/2) for step(x - l/2), l in {-1, 1}: they differ only where |x| < 1/2, and
    # the draws' entries are at least 1/2 in size: looked for at the smaller sizes too
    declare = {"l": "labels(-1, 1) vector(n)", "x": "vector(n)"}
    answer = "(eq(max(x, l/2), min(max(x, l/2))).*step(x + l/2))/sum(eq(max(x, l/2), " \
             "min(max(x, l/2))))"
    assert not matdiff.compare(answer, of="min(max(x, l./(1 + l.^2)))", wrt="x",
                               declare=declare).equal
    assert not matdiff.compare("step(x + 0.5)", of="sum(max(x, 0.5))", wrt="x").equal


@pytest.mark.parametrize("answer, of", [("W'*step(W'*h)", "sum(relu(W*h))"),
                                        ("2*norm1(W*h)*W'*sign(W'*h)", "norm1(W*h)^2")])
def test_a_transpose_slipped_inside_an_indicator_is_not_equal(answer, of):
    # square matrices were always drawn near the identity, where W*h and W'*h have the
    # same signs: step(W'*h) for step(W*h) was judged equal
    declare = {"W": "square matrix", "h": "vector"}
    assert not matdiff.compare(answer, of=of, wrt="h", declare=declare).equal
