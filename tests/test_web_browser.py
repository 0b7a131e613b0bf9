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
    page.press("#expression", "Enter")


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
