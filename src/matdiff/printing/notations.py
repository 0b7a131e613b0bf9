"""The printed notations, keyed by name: one registry the API, the command line and the
web page read.

A notation spells a Form (matrix notation, or index notation where none
exists: matrix.to_form) as a string. Adding one is a printer (a function
from a Form to text) and one line in NOTATIONS; `Expression.printed(name)`,
`Derivative.printed(name, layout)`, `matdiff diff --notation` and its
choices, and the web page's notation cards then offer it (docs/contributing.md
counts the edits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MatdiffError
from .form import Form
from .latex import LatexPrinter
from .text import TextPrinter

__all__ = ["NOTATIONS", "Notation", "notation"]


@dataclass(frozen=True)
class Notation:
    """A way of printing: its name, the printer, and what it is for (one line).

    `of_latex` spells a LaTeX string in this notation where the notation is made from
    LaTeX: what matdiff prints only as text and LaTeX (a backward pass) reaches it so.
    """

    name: str
    spell: Callable[[Form], str]
    summary: str
    of_latex: Callable[[str], str] | None = None


def _text(form: Form) -> str:
    return TextPrinter().doprint(form)


def _latex(form: Form) -> str:
    return LatexPrinter().doprint(form)


def _mathml(form: Form) -> str:
    return _mathml_of_latex(_latex(form))


def _mathml_of_latex(latex: str) -> str:
    from .html import mathml

    return mathml(latex)


def _as_is(latex: str) -> str:
    return latex


NOTATIONS: dict[str, Notation] = {n.name: n for n in (
    Notation("text", _text, "matdiff's own language: parses back and evaluates"),
    Notation("latex", _latex, "LaTeX math, in the article's notation", _as_is),
    Notation("mathml", _mathml, "MathML, for a web page (from the LaTeX)", _mathml_of_latex),
)}


def notation(name: str) -> Notation:
    """The notation called `name`; an unknown name is an error listing the others."""
    if name not in NOTATIONS:
        raise MatdiffError(f"notation must be one of {', '.join(NOTATIONS)}, not {name!r}")
    return NOTATIONS[name]
