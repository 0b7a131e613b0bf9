"""The printed notations, keyed by name: one registry the API, the command line and the
web page read.

A notation spells a Form (matrix notation, or index notation where none
exists: matrix.to_form) as a string. Adding one is a printer (a function
from a Form to text) and one line in NOTATIONS; `Expression.printed(name)`,
`Derivative.printed(name, layout)`, `matdiff diff --notation` and its
choices then offer it (docs/contributing.md counts the edits).
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
    """A way of printing: its name, the printer, and what it is for (one line)."""

    name: str
    spell: Callable[[Form], str]
    summary: str


def _text(form: Form) -> str:
    return TextPrinter().doprint(form)


def _latex(form: Form) -> str:
    return LatexPrinter().doprint(form)


def _mathml(form: Form) -> str:
    from .html import mathml

    return mathml(_latex(form))


NOTATIONS: dict[str, Notation] = {n.name: n for n in (
    Notation("text", _text, "matdiff's own language: parses back and evaluates"),
    Notation("latex", _latex, "LaTeX math, in the article's notation"),
    Notation("mathml", _mathml, "MathML, for a web page (from the LaTeX)"),
)}


def notation(name: str) -> Notation:
    """The notation called `name`; an unknown name is an error listing the others."""
    if name not in NOTATIONS:
        raise MatdiffError(f"notation must be one of {', '.join(NOTATIONS)}, not {name!r}")
    return NOTATIONS[name]
