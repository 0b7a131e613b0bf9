"""MkDocs hooks of the documentation site (mkdocs.yml names this file).

* Mathematics is typeset at build time: `pymdownx.arithmatex` (generic mode) marks
  `$...$` and `$$...$$`, and `on_page_content` turns each mark into MathML with
  latex2mathml. Browsers render MathML natively, so the built site shows mathematics
  offline, with no JavaScript and nothing fetched from a CDN. TeX that latex2mathml
  cannot read fails the build, naming the page and the TeX. `aligned` (which
  latex2mathml lacks) is typeset as `split`, the same right-left column pair.
* The API reference lists `matdiff.__all__`: the marker `<!-- matdiff:api -->` becomes one
  mkdocstrings block per public name, grouped into functions, classes and errors, so a
  name added to `__all__` appears in the reference with no edit to the page.
* A page in docs/ that the nav of mkdocs.yml does not list is added to its "User guide"
  section (titled by its first heading), so a new page is never left out of the site.
* `<!-- matdiff:cli -->` becomes the help of every `matdiff` subcommand, produced by the
  argument parser itself, so the CLI reference cannot drift from the program.
"""

from __future__ import annotations

import argparse
import html
import importlib
import inspect
import io
import os
import re
from contextlib import redirect_stdout
from pathlib import Path

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
# TeX that latex2mathml passed through as text: a backslash command, or a bare & or \\
_UNKNOWN = re.compile(r">([^<]*\\[^<]*|&)<")
# environments latex2mathml lacks, and the one it has with the same layout
_ENVIRONMENTS = {"aligned": "split"}
_DELIMS = {r"\(": r"\)", r"\[": r"\]", "$$": "$$", "$": "$"}


def _tex_of(marked: str) -> str:
    text = html.unescape(marked).strip()
    for left, right in _DELIMS.items():
        if text.startswith(left) and text.endswith(right):
            text = text[len(left):len(text) - len(right)].strip()
            break
    for env, known in _ENVIRONMENTS.items():
        text = text.replace(f"\\begin{{{env}}}", f"\\begin{{{known}}}")
        text = text.replace(f"\\end{{{env}}}", f"\\end{{{known}}}")
    return text


def typeset(page_html: str, where: str = "") -> str:
    """Every arithmatex mark in `page_html` replaced by MathML."""

    def one(match: re.Match) -> str:
        tag, body = match.group(1), match.group(2)
        tex = _tex_of(body)
        display = "block" if tag == "div" else "inline"
        try:
            mathml = convert(tex, display=display)
        except Exception as e:  # latex2mathml raises assorted exceptions on bad TeX
            raise PluginError(f"{where}: cannot typeset {tex!r}: {e!r}") from e
        unknown = _UNKNOWN.search(mathml)  # a command latex2mathml passed through as text
        if unknown:
            raise PluginError(f"{where}: cannot typeset {tex!r}: {unknown.group(1)!r} "
                              "is not understood by latex2mathml")
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return _MATH.sub(one, page_html)


def public_names() -> list[str]:
    import matdiff

    return list(matdiff.__all__)


def api_markdown() -> str:
    """One `::: matdiff.NAME` block per public name, under Functions, Classes, Errors."""
    import matdiff

    groups: dict[str, list[str]] = {"Functions": [], "Classes": [], "Errors": []}
    for name in public_names():
        obj = getattr(matdiff, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            groups["Errors"].append(name)
        elif inspect.isclass(obj):
            groups["Classes"].append(name)
        else:
            groups["Functions"].append(name)
    out = []
    for title, names in groups.items():
        if names:
            out.append(f"## {title}\n")
            out.extend(f"::: matdiff.{name}\n    options:\n      heading_level: 3\n"
                       for name in names)
    return "\n".join(out)


def cli_markdown() -> str:
    """The --help of `matdiff` and of each subcommand, as the parser prints it."""
    from matdiff import cli

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"  # argparse wraps to the terminal: fix the width
    try:
        out = ["## matdiff\n", "```text", _help(cli._parser(None)), "```\n"]
        for name, (module, help_text) in cli.COMMANDS.items():
            parser = argparse.ArgumentParser(prog=f"matdiff {name}", description=help_text)
            importlib.import_module(f"matdiff.commands.{module}").add_arguments(parser)
            out += [f"## matdiff {name}\n", "```text", _help(parser), "```\n"]
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out)


def _help(parser: argparse.ArgumentParser) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        parser.print_help()
    return buf.getvalue().rstrip()


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- matdiff:api -->" in markdown:
        markdown = markdown.replace("<!-- matdiff:api -->", api_markdown())
    if "<!-- matdiff:cli -->" in markdown:
        markdown = markdown.replace("<!-- matdiff:cli -->", cli_markdown())
    return markdown


def on_page_content(page_html: str, page, config, files) -> str:
    return typeset(page_html, page.file.src_path)


def _listed(nav) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_listed(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_listed(v) for v in nav)) if nav else set()
    return set()


def on_config(config):
    nav = config.get("nav")
    docs = Path(config["docs_dir"])
    if not nav:
        return config
    listed = _listed(nav)
    missing = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                     if p.relative_to(docs).parts[0] not in ("snippets", "stylesheets"))
    missing = [m for m in missing if m not in listed]
    for section in nav:
        if isinstance(section, dict) and "User guide" in section and missing:
            section["User guide"].extend(missing)
    return config
