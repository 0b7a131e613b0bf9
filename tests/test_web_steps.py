"""The page's typeset steps and its "check my answer" box (compute.py, app.js).

The answer carries the steps as MathML with each rule's name, Markdown for a
notebook, and, when the request has an `answer`, matdiff.compare's verdict;
in a real browser the steps render as mathematics and the box answers.
"""

from __future__ import annotations

import pytest

import matdiff
from matdiff.web.compute import answer, mathml_available

NEURON = {"expression": "max(0, w'*x + b)", "wrt": "w", "declare": "b=scalar"}


def test_steps_are_typeset_with_their_rules():
    status, body = answer(dict(NEURON))
    assert status == 200
    d = matdiff.diff(NEURON["expression"], wrt="w", declare={"b": "scalar"})
    sections = body["steps_typeset"]
    assert [s["heading"] for s in sections][:3] == [
        "Introduce intermediate variables", "Local derivatives", "Combine by the chain rules"]
    rows = [r for s in sections for r in s["steps"]]
    assert len(rows) == len(d.steps)
    local = next(r for r in rows if r["text"] == "∂u/∂w = diag(x)")
    assert local["rule"] == "element-wise binary operator" and local["note"]
    if mathml_available():
        assert all(r["mathml"] and r["mathml"].startswith("<math") for r in rows)
    assert body["steps_markdown"] == d.explain(format="markdown")


def test_check_my_answer_in_the_same_request():
    status, body = answer({"expression": "x'*A*x", "wrt": "x", "answer": "2*A*x"})
    assert status == 200
    verdict = body["comparison"]
    assert verdict["equal"] is False and verdict["mistake"] == "symmetric"
    assert verdict["summary"].startswith("not equal (symmetric)")
    status, body = answer({"expression": "x'*A*x", "wrt": "x", "answer": "(A + A')*x"})
    assert body["comparison"]["equal"] is True
    status, body = answer({"expression": "x'*A*x", "wrt": "x", "answer": "2*A*"})
    assert status == 200 and body["comparison"]["error"]["column"] == 5
    status, body = answer({"expression": "x'*A*x", "wrt": "x"})
    assert "comparison" not in body
    status, body = answer({"expression": "x'*A*x", "wrt": "x", "answer": 3})
    assert status == 400 and body["error"]["field"] == "answer"


def test_the_page_renders_steps_and_checks_an_answer(server):
    from browser_support import chromium_page

    if not mathml_available():
        pytest.skip("MathML needs the web extra")
    port = server.server_address[1]
    with chromium_page() as page:
        page.goto(f"http://127.0.0.1:{port}/#expression=x'*A*x&wrt=x")
        page.wait_for_selector("#steps-typeset .step math", timeout=20_000)
        rules = page.locator("#steps-typeset .rule").all_inner_texts()
        assert "product rule" in rules
        assert page.locator("#steps").is_hidden()
        page.fill("#answer", "2*A*x")
        page.click("#answer-go")
        page.wait_for_selector("#verdict:not([hidden])", timeout=20_000)
        head = page.inner_text("#verdict-head")
        assert "not equal (symmetric)" in head
        page.fill("#answer", "A*x + A'*x")
        page.click("#answer-go")
        page.wait_for_selector("#verdict.good", timeout=20_000)
        assert page.inner_text("#verdict-head").startswith("✓ right")


@pytest.mark.parametrize("expression, wrt, words", [
    ("W*x", "W", "d(W*x) = dW*x"),          # once "∂(A*x)/∂x = A", wrong for W
    ("W*x", "x", "∂(A*x)/∂x = A"),
    ("A*X*B", "X", "A*dX*B"),
    ("X*B", "X", "dX*B"),
    ("A*X", "X", "A*dX"),
])
def test_the_matrix_product_note_follows_where_the_other_factors_stand(expression, wrt, words):
    d = matdiff.diff(expression, wrt=wrt)
    notes = [s.note for s in d.steps if s.rule == "matrix product rule"]
    assert notes and all(words in note for note in notes), notes


@pytest.mark.parametrize("expression, wrt, order, words", [
    ("W*x", "W", 1, "a tensor of 3 axes"),   # the three layouts agree, and the page says why
    ("x'*A*x", "x", 2, "a Hessian"),
    ("x'*A*x", "x", 1, "the numerator layout a row"),
    ("softmax(x)", "x", 1, "the denominator layout is its transpose"),
])
def test_the_page_says_why_the_layouts_agree_or_differ(expression, wrt, order, words):
    from matdiff.web.compute import answer

    status, body = answer({"expression": expression, "wrt": wrt, "order": order})
    assert status == 200 and words in body["layout_note"]


def test_the_sum_of_a_matrix_is_not_said_to_be_a_row_of_ones():
    notes = [s.note for s in matdiff.diff("sum(X)", wrt="X").steps if s.kind == "local"]
    assert notes and "row of ones" not in notes[0] and "d sum(X) = sum(dX)" in notes[0]
