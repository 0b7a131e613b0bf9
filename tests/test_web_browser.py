"""The page of `matdiff serve` in a real browser: headless Chromium driven by Playwright.

A real server runs on an ephemeral loopback port; the browser types into the
form, reads the typeset answer (MathML, which Chromium draws itself), edits
the address's hash and sees the page derive again, and sees each error shown
at the box at fault. Skipped, with the reason, where no Chromium can be had.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import matdiff
from browser_support import chromium_page
from matdiff.web.compute import mathml_available


@pytest.fixture(scope="module")
def browser_page(server) -> Iterator:
    with chromium_page() as page:
        yield page


@pytest.fixture
def page(browser_page, server):
    """The page, freshly loaded with an empty hash and the first answer (an example) shown."""
    browser_page.goto(server.url)
    browser_page.wait_for_selector("#result:not([hidden])")
    return browser_page


def derive(page, expression: str, wrt: str, declare: str = "") -> None:
    page.fill("#expression", expression)
    page.fill("#wrt", wrt)
    page.fill("#declare", declare)
    page.press("#expression", "Control+Enter")  # Enter alone adds a line


def wait_text(page, text: str) -> None:
    page.wait_for_function("t => document.getElementById('text').textContent === t", arg=text)


def test_typing_an_expression_shows_the_typeset_derivative(page):
    derive(page, "x'*A*x", "x")
    wait_text(page, str(matdiff.diff("x'*A*x", wrt="x")))
    assert page.is_visible("#result") and not page.is_visible("#error")
    if mathml_available():
        math = page.locator("#math math")
        assert math.count() == 1 and math.get_attribute("display") == "block"
        assert page.locator("#math math mi").count() > 0  # typeset, not LaTeX source
        assert math.bounding_box()["height"] > 10            # and drawn by the browser
        assert not page.is_visible("#math-fallback")
    else:
        assert page.is_visible("#math-fallback")
    assert page.text_content("#shape").endswith("n")
    assert "finite differences" in page.text_content("#check")


def test_the_address_keeps_the_form_and_a_new_hash_derives_again(page):
    derive(page, "sum(exp(x))", "x")
    wait_text(page, str(matdiff.diff("sum(exp(x))", wrt="x")))
    assert "expression=sum%28exp%28x%29%29" in page.url
    page.evaluate("location.hash = '#expression=sum(exp(x))&wrt=x&order=3'")
    wait_text(page, str(matdiff.diff("sum(exp(x))", wrt="x", order=3)))
    assert page.is_checked("input[name=order][value='3']")
    page.evaluate("location.hash = '#expression=softmax(z)&wrt=z&layout=numerator'")
    wait_text(page, matdiff.diff("softmax(z)", wrt="z").to_text(layout="numerator"))
    assert page.input_value("#expression") == "softmax(z)"


def test_an_order_the_page_does_not_offer_is_refused_at_its_box(page):
    page.evaluate("location.hash = '#expression=sum(exp(x))&wrt=x&order=7'")
    page.wait_for_selector("#order-error:not([hidden])")
    assert page.get_attribute("#order", "aria-invalid") == "true"
    assert "order" in page.text_content("#order-error")
    assert not page.is_visible("#result")
    assert not page.is_checked("input[name=order][value='1']") or \
        page.is_visible("#order-error")  # never silently order 1 with no word


@pytest.mark.parametrize("expression, wrt, declare, box, words", [
    ("x + * y", "x", "", "expression", "unexpected"),
    ("x + y", "q", "", "wrt", "'q'"),
    ("x + y", "x", "x=blob", "declare", "blob"),
    ("x'*A*x", "x", "A=matrix(12000, 12000)", "declare", "GB"),
])
def test_an_error_is_shown_at_the_box_at_fault(page, expression, wrt, declare, box, words):
    derive(page, expression, wrt, declare)
    page.wait_for_selector(f"#{box}-error:not([hidden])")
    assert words in page.text_content(f"#{box}-error")
    assert page.get_attribute(f"#{box}", "aria-invalid") == "true"
    others = {"expression", "wrt", "declare", "order"} - {box}
    for other in others:
        assert page.get_attribute(f"#{other}", "aria-invalid") is None
    assert not page.is_visible("#result")
    if box == "expression":  # the caret under the offending character
        assert page.text_content("#error-caret mark") == "*"


def test_the_old_answer_is_cleared_while_differentiating(page):
    held = []
    page.route("**/api/diff", lambda route: held.append(route))
    try:
        derive(page, "sum(log(x))", "x")
        page.wait_for_function("document.getElementById('status').textContent.startsWith("
                               "'Differentiating')")
        assert not page.is_visible("#result") and not page.is_visible("#error")
        page.wait_for_timeout(100)
        assert held
    finally:
        for route in held:
            route.continue_()
        page.unroute("**/api/diff")
    wait_text(page, str(matdiff.diff("sum(log(x))", wrt="x")))


# --------------------------------------------------------------------------- programs

MLP_LINES = ["b1, b2: vector", "z1 = W1*x + b1", "h1 = relu(z1)", "z2 = W2*h1 + b2",
             "L = -y'*log(softmax(z2))"]
MLP = "\n".join(MLP_LINES)
MLP_WRT = ["W1", "b1", "W2", "b2"]


def test_a_typed_program_by_four_names_shows_the_backward_pass_and_each_gradient(page):
    """Enter adds a line, Ctrl+Enter differentiates; the backward pass and all four
    gradients are typeset, each gradient with its own finite-difference check."""
    page.fill("#expression", "")
    page.click("#expression")
    for i, line in enumerate(MLP_LINES):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    assert page.input_value("#expression") == MLP  # Enter added lines, it did not submit
    page.fill("#wrt", ", ".join(MLP_WRT))
    page.fill("#declare", "")
    page.press("#expression", "Control+Enter")
    page.wait_for_selector("#backward-card:not([hidden])")
    grads = matdiff.grad(MLP, wrt=MLP_WRT)
    assert page.text_content("#backward-text") == grads.to_text()
    items = page.locator("#gradients li")
    assert items.count() == 4
    for i, name in enumerate(MLP_WRT):
        item = items.nth(i)
        assert item.locator("code.derivative").text_content() == grads[name].to_text()
        assert item.locator(".badge.good").text_content().startswith("✓ finite differences")
        if mathml_available():
            assert item.locator("math mfrac").count() >= 1  # ∂L/∂W1, typeset
    if mathml_available():
        backward = page.locator("#backward-math math")
        assert backward.count() == 1 and backward.locator("mtable").count() == 1
        assert backward.bounding_box()["height"] > 60  # six lines, drawn
        # aligned at '=': every left side ends where the others do (MathML Core has no
        # columnalign; the page's CSS does it)
        rights = page.eval_on_selector_all(
            "#backward-math mtd[columnalign=right]",
            "cs => cs.map(c => Math.round(c.firstElementChild.getBoundingClientRect().right))")
        assert len(rights) == 6 and len(set(rights)) == 1, rights
    assert "%0A" in page.url  # the address keeps the whole program, newlines included
    page.reload()
    page.wait_for_selector("#backward-card:not([hidden])")
    assert page.input_value("#expression") == MLP
    assert page.is_visible("#backward-check")


def test_a_backward_pass_is_checked_line_by_line(page):
    page.evaluate("h => { location.hash = h }", "#" + "&".join(
        [f"expression={MLP.replace(chr(10), '%0A').replace('+', '%2B')}",
         "wrt=" + ",".join(MLP_WRT)]))
    page.wait_for_selector("#backward-check:not([hidden])")
    mine = ["dz2 = sum(y)*softmax(z2) - y", "dW2 = dz2*h1'", "db2 = dz2",
            "dz1 = W2'*dz2",  # relu's step(z1) forgotten
            "dW1 = dz1*x'", "db1 = dz1"]
    page.fill("#backward-answer", "\n".join(mine))
    page.click("#backward-go")
    page.wait_for_selector("#backward-verdict:not([hidden])")
    expected = matdiff.compare("\n".join(mine), of=MLP, wrt=MLP_WRT)
    rows = page.locator("#backward-lines li")
    assert rows.count() == len(expected.lines)
    for i, line in enumerate(expected.lines):
        assert line.name in rows.nth(i).text_content()
        assert rows.nth(i).get_attribute("class") == ("good" if line.equal else "bad")
    assert expected.first_wrong in page.text_content("#backward-verdict-head")
    wrong = next(i for i, line in enumerate(expected.lines) if not line.equal)
    assert "step(z1)" in rows.nth(wrong).text_content()  # what the right line has


def test_the_page_lists_each_lines_verdict(page, monkeypatch):
    """The page's side of the backward-pass check, with compare's agreed interface
    (equal, first_wrong, lines of name, equal, mistake, expected) stubbed."""
    class Line:
        def __init__(self, name, equal, mistake=None, expected=None):
            self.name, self.equal, self.mistake, self.expected = name, equal, mistake, expected

    class Verdict:
        equal, first_wrong = False, "dz1"
        lines = [Line("dz2", True), Line("dz1", False, "transpose", "(W2'*dz2).*step(z1)")]

        def to_dict(self):
            return {"equal": False}

    monkeypatch.setattr(matdiff, "compare", lambda *a, **k: Verdict())
    page.evaluate("h => { location.hash = h }", "#" + "&".join(
        [f"expression={MLP.replace(chr(10), '%0A').replace('+', '%2B')}",
         "wrt=" + ",".join(MLP_WRT)]))
    page.wait_for_selector("#backward-check:not([hidden])")
    page.fill("#backward-answer", "dz2 = softmax(z2) - y\ndz1 = (W2*dz2).*step(z1)")
    page.press("#backward-answer", "Control+Enter")
    page.wait_for_selector("#backward-verdict:not([hidden])")
    rows = page.locator("#backward-lines li")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("class") == "good"
    assert rows.nth(1).get_attribute("class") == "bad"
    assert "transpose" in rows.nth(1).text_content()
    assert "(W2'*dz2).*step(z1)" in rows.nth(1).text_content()
    assert "dz1" in page.text_content("#backward-verdict-head")


# --------------------------------------------------------------------------- a phone


def test_on_a_phone_nothing_overflows_and_wide_formulas_say_they_scroll(browser_page, server,
                                                                        tmp_path):
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 812})
    try:
        page.goto(server.url + "#expression=max(0, w'*x %2B b)&wrt=w&declare=b=scalar")
        page.wait_for_selector("#result:not([hidden])")
        page.wait_for_timeout(200)
        # the page itself never scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # the order buttons stay on one line
        tops = page.eval_on_selector_all("#order label > span",
                                         "s => s.map(e => e.getBoundingClientRect().top)")
        assert len(set(round(t) for t in tops)) == 1, tops
        # a row that fits is no scroll area and no Tab stop; one that does not, says so
        rows = page.eval_on_selector_all(".step-math, .math", """boxes => boxes.map(b => ({
            wide: b.classList.contains('wide'), over: b.scrollWidth - b.clientWidth,
            overflow: getComputedStyle(b).overflowX, tab: b.tabIndex}))""")
        assert rows
        for row in rows:
            if row["wide"]:
                assert row["overflow"] == "auto" and row["tab"] == 0
            else:
                assert row["overflow"] == "visible" and row["tab"] == -1 and row["over"] <= 6
        if mathml_available():  # the brace of max's cases stretches over both cases
            brace = page.locator(".step-math mo", has_text="{").first
            table = page.locator(".step-math mtable").first
            assert brace.bounding_box()["height"] >= 0.8 * table.bounding_box()["height"]
        # a wide answer scrolls inside its box, with the cue
        page.goto(server.url + "#expression=" + "%2B".join(f"exp(a{i}*x)" for i in range(12))
                  + "&wrt=x&declare=x=scalar")
        page.wait_for_selector("#result:not([hidden])")
        page.wait_for_timeout(200)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        if mathml_available():
            assert page.get_attribute("#math", "class").split().count("wide") == 1
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1200, "height": 900})


def test_every_notation_has_its_card(page):
    """One card per notation of printing.NOTATIONS, holding the derivative printed in it."""
    from matdiff.printing import NOTATIONS

    derive(page, "x'*A*x", "x")
    d = matdiff.diff("x'*A*x", wrt="x")
    wait_text(page, str(d))
    for name in NOTATIONS:
        card = page.locator(f"#notations details[data-notation='{name}']")
        assert card.count() == 1
        assert card.locator("code").text_content() == d.printed(name)
