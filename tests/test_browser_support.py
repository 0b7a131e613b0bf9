"""The browser the page and site tests use: Debian's Chromium through Playwright."""

from __future__ import annotations

from browser_support import chromium_page


def test_chromium_renders_a_page() -> None:
    with chromium_page() as page:
        page.set_content("<html><body><h1 id='t'>matdiff</h1><math><mi>x</mi></math></body></html>")
        assert page.text_content("#t") == "matdiff"
        assert page.evaluate("document.querySelectorAll('math').length") == 1
