"""Every derivation the suite explains holds, step by step (d.check_steps()).

The op table, the seed notes' derivations, the textbook table and random
expressions from the hypothesis generator: each definition, local derivative,
chain-rule product, rewrite and printed text of d.steps is checked numerically
(matdiff.explain.check). A step that fails is a bug, whatever the result.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from test_hypothesis import ROOTS, SIZES, _in_domain, cases
from test_op_rows import ROWS as OP_ROWS
from textbook_table import ROWS as TEXTBOOK_ROWS
from textbook_table import row_values

B = {"b": "scalar"}

# the seed notes' derivations: (expression, wrt, declarations)
SEED = [
    ("w + x", "w", None), ("w - x", "x", None), ("w .* x", "w", None), ("w ./ x", "x", None),
    ("x + z", "z", {"z": "scalar"}), ("x * z", "x", {"z": "scalar"}),
    ("x * z", "z", {"z": "scalar"}), ("sum(x)", "x", None), ("sum(x*z)", "z", {"z": "scalar"}),
    ("w'*x", "w", None), ("max(0, w'*x + b)", "w", B), ("max(0, w'*x + b)", "b", B),
    ("mean((y - max(0, X*w + b)).^2)", "w", B), ("mean((y - max(0, X*w + b)).^2)", "b", B),
    ("x - mean(x)", "x", None),
    ("mean(sin(A*B))", "A", None),
    ("softmax(x)", "x", None),
    ("-y'*log(softmax(W*x + v))", "W", None), ("sum(log(1 + exp(-y .* (X*w))))", "w", None),
    ("tr(A*X*B)", "X", None), ("log(det(X))", "X", {"X": "square matrix"}),
    ("x'*A*x", "x", None), ("a*b", "a", None), ("x*x^2", "x", {"x": "scalar"}),
    ("a*sin(a)", "a", None),
    ("(x - mean(x))/sqrt(mean((x - mean(x)).^2) + 1e-5)", "x", None),
    ("sum(exp(x).*tanh(x))", "x", None), ("x'*A*x", "x", None, 2),
    ("sum(log(1 + exp(-y .* (X*w))))", "w", None, 2),
]


def _assert_holds(d, values=None, seed=0):
    report = d.check_steps(values, seed=seed)
    assert report.ok, f"d({d.function.text})/d{d.wrt}^{d.order}:\n{report}\n\n{d.explain()}"
    return report


def _seed_id(c) -> str:
    return f"{c[0]}|{c[1]}" + (f"^{c[3]}" if len(c) > 3 else "")


@pytest.mark.parametrize("case", SEED, ids=[_seed_id(c) for c in SEED])
def test_seed_derivations_hold_step_by_step(case):
    text, wrt, declare = case[:3]
    d = matdiff.diff(text, wrt=wrt, declare=declare, order=case[3] if len(case) > 3 else 1)
    report = _assert_holds(d)
    assert report.comparisons >= 2


@pytest.mark.parametrize("row", TEXTBOOK_ROWS, ids=[f"{r.expression}|{r.wrt}^{r.order}"
                                                    for r in TEXTBOOK_ROWS])
def test_textbook_derivations_hold_step_by_step(row):
    d = matdiff.diff(row.expression, wrt=row.wrt, declare=row.declare or None, order=row.order)
    _assert_holds(d, row_values(row))


def _op_cases():
    for r in OP_ROWS:
        names = r.wrt or tuple(r.make(np.random.default_rng(0)))
        for w in names:
            yield pytest.param(r, w, id=f"{r.label}|d{w}")


@pytest.mark.parametrize(("r", "wrt"), list(_op_cases()))
def test_op_table_derivations_hold_step_by_step(r, wrt):
    values = r.make(np.random.default_rng(zlib.crc32(r.label.encode())))
    d = matdiff.diff(r.text, wrt=wrt, declare=r.declare)
    _assert_holds(d, values)


@settings(max_examples=40, deadline=None)  # timing under load is not the subject
@given(data=st.data())
def test_random_derivations_hold_step_by_step(data):
    kind, root = data.draw(st.sampled_from(ROOTS), label="root")
    e, wrt, values = data.draw(cases(kind, root, depth=3), label="case")
    _in_domain(e, values)
    d = matdiff.diff(e.text, wrt=wrt, declare={k: t for k, t in SIZES.items() if k in e.names})
    _assert_holds(d, values)


def test_a_false_step_is_caught():
    """The checker is not vacuous: a step whose text says something else fails."""
    import dataclasses

    from matdiff.explain import check

    d = matdiff.diff("x - mean(x)", wrt="x")
    steps = d.steps
    k = next(i for i, s in enumerate(steps) if s.kind == "chain")
    claim = steps[k].claim
    wrong = dataclasses.replace(claim, texts=(("eye - eye*(1/numel(x))", claim.value),))
    steps[k] = dataclasses.replace(steps[k], claim=wrong)
    report = check.check_claims(d, steps)
    assert not report.ok and "relative error" in str(report)


def test_check_steps_is_public_and_reports():
    d = matdiff.diff("max(0, w'*x + b)", wrt="w", declare=B)
    report = d.check_steps()
    assert report and report.ok and report.max_error < 1e-6
    assert "every step holds" in str(report)


# issue 18 §7: the checker is right about the steps where the derivative is right
@pytest.mark.parametrize("text, wrt, declare", [
    ("sum(exp(exp(3*u)))", "u", None),           # z near 1e22: an absolute step rounds away
    ("x*max(0, tr(A*B))", "B", None),            # a case in index notation: not parsed
    ("X*logdet(S)", "S", None),                  # a 4-tensor step, once written X*inv(S)
    ("min(logsumexp(B, 1), sum(exp(X), 1))", "X", None),   # a row-vector intermediate
    ("exp(exp(exp(sum(X))))", "X", {"X": "matrix(6, 6)"}),  # raised on its own draw
])
def test_the_step_checker_is_right_where_the_derivative_is(text, wrt, declare):
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    for seed in range(3):
        report = _assert_holds(d, seed=seed)
        assert not report.unchecked, report
    assert not any("X*inv(S)" in (s.before + s.after) for s in d.steps)


def test_steps_not_finite_at_the_callers_values_are_not_checkable_there():
    d = matdiff.diff("exp(exp(exp(sum(X))))", wrt="X", declare={"X": "matrix(3, 3)"})
    report = d.check_steps({"X": np.ones((3, 3))})  # exp(exp(9)) overflows
    assert report.ok and report.unchecked and "not checkable" in str(report)
    with pytest.raises(matdiff.MatdiffError, match="must have shape"):
        d.check_steps({"X": np.ones((2, 2))})
    d = matdiff.diff("tanh(det(X))", wrt="X")  # inv(X) in the steps: singular at ones
    report = d.check_steps({"X": np.ones((3, 3))})
    assert report.ok and "singular" in str(report)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_check_steps_holds_for_random_expressions_where_the_derivative_is_right(data):
    from printing_support import DECLARE, expressions

    text = data.draw(st.sampled_from("scm").flatmap(lambda k: expressions(k, 3)), label="f")
    e = matdiff.parse(text, declare=DECLARE)
    wrt = data.draw(st.sampled_from(sorted(e.variables)), label="wrt")
    d = matdiff.diff(e, wrt=wrt)
    if not d.check() < 1e-6:  # the derivative is what the other tests judge
        return
    _assert_holds(d)
