"""Steps: the seed notes' derivations, reproduced rule by rule, in text, Markdown and LaTeX."""

from __future__ import annotations

import pytest

import matdiff
from matdiff.cli import main
from matdiff.explain import Step, render_steps

NEURON = "max(0, w'*x + b)"
LOSS = "mean((y - max(0, X*w + b)).^2)"
B = {"b": "scalar"}


def _lines(d) -> list[tuple[str, str, str, str]]:
    return [(s.kind, s.rule, s.lhs, s.after) for s in d.steps]


def test_neuron_with_respect_to_w_follows_the_seed_notes():
    d = matdiff.diff(NEURON, wrt="w", declare=B)
    steps = _lines(d)
    assert steps[:4] == [
        ("introduce", "introduce an intermediate variable", "u", "w ⊙ x"),
        ("introduce", "introduce an intermediate variable", "y", "sum(u)"),
        ("introduce", "introduce an intermediate variable", "z", "y + b"),
        ("introduce", "introduce an intermediate variable", "f", "max(0, z)"),
    ]
    assert ("local", "element-wise binary operator", "∂u/∂w", "diag(x)") in steps
    assert ("local", "vector sum reduction", "∂y/∂u", "vector(1, numel(w))'") in steps
    assert ("local", "max(0, z) cases", "∂f/∂z", "step(z)") in steps
    assert ("chain", "vector chain rule", "∂y/∂w", "x'") in steps
    assert ("cases", "max(0, z) cases", "∂f/∂w",
            "vector(0, numel(w))' if z ≤ 0;  x' if z > 0") in steps
    chain = next(s for s in d.steps if s.lhs == "∂y/∂w")
    assert chain.before == "∂y/∂u ∂u/∂w = vector(1)'*diag(x)"
    assert steps[-2] == ("result", "result", "∂f/∂w", "step(w'*x + b)*x'")
    assert steps[-1] == ("layout", "shape layout", "(∂f/∂w)'", "step(w'*x + b)*x")
    assert d.steps[-1].after == str(d)


def test_neuron_with_respect_to_b():
    d = matdiff.diff(NEURON, wrt="b", declare=B)
    steps = _lines(d)
    assert ("cases", "max(0, z) cases", "∂f/∂b", "0 if u ≤ 0;  1 if u > 0") in steps
    assert steps[-1][3] == "step(w'*x + b)" == str(d)


@pytest.mark.parametrize("wrt, result", [
    ("w", "2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)"),
    ("b", "2*(max(0, X*w + b) - y)'*step(X*w + b)/numel(y)"),
])
def test_loss_gradient_puts_the_case_split_inside_the_sum(wrt, result):
    d = matdiff.diff(LOSS, wrt=wrt, declare=B)
    steps = _lines(d)
    assert ("local", "max(0, z) cases", "∂v/∂z", "diag(step(z))") in steps
    assert ("local", "power rule", "∂t/∂s", "2*diag(s)") in steps
    assert ("local", "vector sum reduction", "∂f/∂t", "vector(1, numel(y))'/numel(y)") in steps
    assert str(d) == result == d.steps[-1].after
    assert "one indicator per sample" in d.steps[-1].note


def test_sum_reduction_by_a_scalar_is_sum_x():
    d = matdiff.diff("sum(x*z)", wrt="z", declare={"z": "scalar"})
    assert ("local", "vector sum reduction", "∂f/∂z", "sum(x)") in _lines(d)
    assert str(d) == "sum(x)"


def test_local_derivatives_name_the_pieces_they_mention():
    d = matdiff.diff("-y'*log(softmax(z) + 1)", wrt="z")
    steps = _lines(d)
    assert ("local", "softmax rule", "∂u/∂z", "diag(u) - u*u'") in steps
    assert ("chain", "vector chain rule", "∂v/∂z", "diag(u) - u*u'") in steps
    # the cross-entropy: log(softmax(z)) is differentiated as z - logsumexp(z)
    d = matdiff.diff("-y'*log(softmax(z))", wrt="z")
    steps = _lines(d)
    assert steps[0] == ("simplify", "logsoftmax", "", "z - logsumexp(z)")
    assert ("local", "log-sum-exp rule", "∂u/∂z", "softmax(z)'") in steps
    assert ("chain", "total-derivative chain rule", "∂s/∂z", "eye - vector(1)*softmax(z)'") \
        in steps
    d = matdiff.diff("sum(1./(1 + exp(-y .* (X*w))))", wrt="w")
    simplify = [s for s in d.steps if s.kind == "simplify"]
    assert [s.rule for s in simplify] == ["sigmoid"]
    assert simplify[0].before == "1 ⊘ (exp(-y ⊙ (X*w)) + 1)"
    assert simplify[0].after == "sigmoid(y ⊙ (X*w))"
    assert all("->" in s.note for s in simplify)


def test_total_derivative_chain_rule_when_two_pieces_depend_on_x():
    d = matdiff.diff("sum(exp(x).*tanh(x))", wrt="x")
    rules = {s.rule for s in d.steps}
    assert "total-derivative chain rule" in rules
    assert "element-wise function" in rules


@pytest.mark.parametrize("text, wrt, order", [("x", "x", 1), ("x'*A*x", "x", 2),
                                              ("W*x", "W", 1)])
def test_short_derivations_still_end_in_the_result(text, wrt, order):
    d = matdiff.diff(text, wrt=wrt, order=order)
    assert d.steps[-1].kind == "result" and d.steps[-1].after == str(d)
    assert all(isinstance(s, Step) and s.rule for s in d.steps)


def test_formats():
    d = matdiff.diff(NEURON, wrt="w", declare=B)
    text = d.explain()
    assert "1. Introduce intermediate variables" in text
    assert "∂u/∂w = diag(x)   [element-wise binary operator]" in text
    assert "∂y/∂w = ∂y/∂u ∂u/∂w = vector(1)'*diag(x) = x'   [vector chain rule]" in text
    md = d.explain(format="markdown")
    assert r"$u = w \odot x$" in md
    assert (r"$\frac{\partial u}{\partial w} = \operatorname{diag}\left(x\right)$ — "
            "*element-wise binary operator*") in md
    tex = d.explain(format="latex")
    assert tex.startswith(r"\begin{align*}") and tex.endswith(r"\end{align*}")
    assert (r"\frac{\partial y}{\partial u} &= \mathbf{1}_{n}^\top && "
            r"\text{vector sum reduction} \\") in tex
    assert r"\begin{cases}" in tex
    assert "<math" in render_steps(d.steps, format="html")  # a notebook's display
    with pytest.raises(matdiff.MatdiffError, match="text, markdown, latex, html"):
        render_steps(d.steps, format="rtf")


def test_command_line_steps_and_latex(capsys):
    assert main(["diff", NEURON, "--wrt", "w", "--declare", "b=scalar", "--steps"]) == 0
    out = capsys.readouterr().out
    assert "u = w ⊙ x" in out and "∂y/∂u = vector(1, numel(w))'" in out and "x' if z > 0" in out
    assert main(["diff", "x'*A*x", "--wrt", "x", "--latex"]) == 0
    assert capsys.readouterr().out.strip() == r"\left(A + A^\top\right) x"
    assert main(["diff", "x'*A*x", "--wrt", "x", "--layout", "numerator"]) == 0
    assert capsys.readouterr().out.strip() == "x'*(A' + A)"


def test_product_rule_shows_both_terms():
    d = matdiff.diff("x'*A*x", wrt="x")
    step = next(s for s in d.steps if s.kind == "local")
    assert (step.rule, step.before, step.after) == ("product rule", "x'*A + x'*A'",
                                                    "x'*(A' + A)")
    assert d.check_steps().ok


@pytest.mark.parametrize("text, wrt, declare, rule", [
    ("a*b", "a", None, "product rule"),
    ("x*x^2", "x", {"x": "scalar"}, "product rule"),
    ("-sin(a)", "a", None, "constant factor rule"),
    ("tr(X)", "X", None, "trace rule"),
])
def test_rule_names_say_what_was_done(text, wrt, declare, rule):
    d = matdiff.diff(text, wrt=wrt, declare=declare)
    assert rule in {s.rule for s in d.steps}
    assert "vector sum reduction" not in {s.rule for s in d.steps}


def test_trace_is_read_off_its_differential():
    d = matdiff.diff("tr(A*X*B)", wrt="X")
    intro = d.steps[0]
    assert (intro.before, intro.after) == ("tr(A*X*B)", "sum((B*A) ⊙ X')")
    local = next(s for s in d.steps if s.kind == "local")
    assert local.rule == "trace rule" and local.after == "B*A"
    assert "df = tr(B*A*dX)" in local.note
    assert d.steps[-1].after == "A'*B'" == str(d)


def test_a_scalar_by_a_matrix_goes_through_differentials():
    d = matdiff.diff("-y'*log(softmax(W*x + v))", wrt="W")
    kinds = [s.kind for s in d.steps]
    assert "differential" in kinds and "read" in kinds and "local" not in kinds
    texts = [t for s in d.steps for t in (s.before, s.after, s.note)]
    assert not any("T[" in t or "δ" in t for t in texts)
    first = next(s for s in d.steps if s.kind == "differential")
    assert (first.lhs, first.after) == ("du", "dW*x")
    read = next(s for s in d.steps if s.kind == "read")
    assert read.after == "sum(y)*x*softmax(z)' - x*y'"
    assert d.check_steps().ok


def test_a_hessian_is_the_jacobian_of_the_gradient():
    d = matdiff.diff("sum(log(1 + exp(-y .* (X*w))))", wrt="w", order=2)
    assert (d.steps[0].kind, d.steps[0].rule) == ("simplify", "softplus")  # the stable form
    first = d.steps[1]
    assert first.kind == "lower" and first.lhs == "g" and first.rule == "gradient"
    assert first.after == "-X'*(sigmoid(-y ⊙ (X*w)) ⊙ y)"  # the gradient, checked below
    kinds = [s.kind for s in d.steps]
    assert "local" in kinds and "chain" in kinds and "derivative" not in kinds
    assert not any("δ" in s.after or "δ" in s.note for s in d.steps)
    assert d.steps[-1].after == str(d)
    assert d.check_steps().ok


def test_a_programs_steps_use_its_own_names():
    program = "b1: vector\nz1 = W1*x + b1\nh1 = relu(z1)\nL = sum((W2*h1 - y).^2)"
    d = matdiff.diff(program, wrt="b1")
    introduced = [s.lhs for s in d.steps if s.kind == "introduce"]
    assert introduced[0] == "z1" and "h1" in introduced and introduced[-1] == "L"
    assert d.steps[-2].lhs == "∂L/∂b1"
    assert d.check_steps().ok


def test_the_steps_are_derived_from_the_frozen_record_below_the_api():
    """explain/ is handed a DerivativeRecord (ir/record.py), not the public Derivative:
    it prints and evaluates through printing and evaluate, never the API's methods."""
    from matdiff.explain import check_steps, derive_steps
    from matdiff.ir.record import DerivativeRecord

    d = matdiff.diff("sum(tanh(W*x))", wrt="W")
    record = d.record
    assert isinstance(record, DerivativeRecord) and not hasattr(record, "to_text")
    steps = derive_steps(record)
    assert steps == d.steps
    assert steps[-1].after == d.to_text()
    assert check_steps(record).ok
