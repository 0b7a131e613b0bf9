"""The documentation site: a strict build, docstring examples, mathematics in a browser.

The site (mkdocs.yml, docs/) is built once per run with `mkdocs build --strict`: a broken
link, a missing reference, TeX that cannot be typeset or a code block that raises fails
the build. The build runs matdiff from this checkout (PYTHONPATH=src), so the pages show
what this version prints. Skipped, with the reason, when the `docs` extra is missing.
"""

from __future__ import annotations

import doctest
import functools
import http.server
import importlib.util
import inspect
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import matdiff

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 300


def _docs_extra() -> None:
    for module in ("mkdocs", "material", "mkdocstrings", "markdown_exec", "latex2mathml",
                   "matplotlib"):
        pytest.importorskip(module, reason=f"{module} (the docs extra) is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _docs_extra()
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_strict_build_has_every_page(site: Path) -> None:
    assert (site / "index.html").exists()
    assert (site / "search" / "search_index.json").exists()  # the search box's index
    assert not (site / "snippets").exists()  # code included into pages is not published


def test_every_page_is_in_the_navigation(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    docs = ROOT / "docs"
    for md in docs.rglob("*.md"):
        rel = md.relative_to(docs)
        if rel.parts[0] == "snippets" or rel.name == "index.md":
            continue
        assert f'href="{rel.with_suffix("").as_posix()}/"' in home, f"{rel} is not in the nav"


def test_api_reference_lists_every_public_name(site: Path) -> None:
    page = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    missing = [n for n in matdiff.__all__ if f'id="matdiff.{n}"' not in page]
    assert not missing, f"public names missing from the API reference: {missing}"


def test_cli_reference_is_the_parsers_help(site: Path) -> None:
    from matdiff.cli import COMMANDS

    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"usage: matdiff {name}" in page
    assert "--wrt" in page and "--declare" in page


def test_no_raw_tex_left_in_pages(site: Path) -> None:
    page = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "<math" in page and 'class="arithmatex">\\(' not in page


def _hooks():
    _docs_extra()
    path = ROOT / "scripts" / "mkdocs_hooks.py"
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_math_is_typeset_or_the_build_fails() -> None:
    hooks = _hooks()  # skips, with the reason, before mkdocs is imported
    from mkdocs.exceptions import PluginError

    page = ('<p><span class="arithmatex">\\(x^\\top A\\)</span></p>'
            '<div class="arithmatex">\\[a &lt; b\\]</div>')
    out = hooks.typeset(page, "page.md")
    assert out.count("<math") == 2 and 'display="block"' in out and "\\top" not in out
    for bad in ("\\frac{", "\\nosuchcommand{x}"):
        with pytest.raises(PluginError, match="page.md: cannot typeset"):
            hooks.typeset(f'<span class="arithmatex">\\({bad}\\)</span>', "page.md")


def _example_names() -> list[str]:
    return list(matdiff.__all__)


@pytest.mark.parametrize("name", _example_names())
def test_public_name_has_a_docstring_with_a_working_example(name: str) -> None:
    obj = getattr(matdiff, name)
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"matdiff.{name} has no docstring"
    assert ">>>" in doc, f"the docstring of matdiff.{name} has no example (a >>> line)"
    test = doctest.DocTestParser().get_doctest(
        doc, {"matdiff": matdiff, "np": np}, f"matdiff.{name}", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_tutorial_math_renders_in_chromium(site: Path) -> None:
    from browser_support import chromium_page

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with chromium_page() as page:
            url = f"http://127.0.0.1:{server.server_address[1]}/tutorial/"
            response = page.goto(url)
            assert response is not None and response.ok
            maths = page.locator("article math")
            assert maths.count() > 0, "no MathML on the tutorial's first page"
            box = maths.first.bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
            shown = page.locator("article").inner_text()
            for tex in ("\\frac", "\\(", "\\[", "$$", "\\partial"):
                assert tex not in shown, f"raw TeX {tex!r} shown on the tutorial's first page"
            # the search box: Material's own index, searched in the page, offline
            page.wait_for_timeout(500)  # the search worker loads its index
            page.keyboard.press("/")
            page.keyboard.type("Hessian", delay=20)
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
            assert "Hessian" in page.locator(".md-search-result__list").inner_text()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
