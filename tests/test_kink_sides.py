"""compare visits both sides of every kink: an answer that is wrong on one side of a relu,
max, abs, ... is never judged equal (issue 19, part 1)."""

from __future__ import annotations

import pytest

import matdiff
from matdiff.ir import expr as ir
from matdiff.ir.expr import rebuild, topo_order
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
    out = {}
    for node in topo_order(e):
        out[node] = ir.const(value, node.shape) if node.op in INDICATORS else \
            rebuild(node, tuple(out[a] for a in node.args))
    return out[e]


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
