"""Step-by-step derivations in the vocabulary of "The Matrix Calculus You Need
For Deep Learning": intermediate variables, local derivatives by named rules,
the chain rules, then the simplifier's named identities.

    derive_steps(d)                 the steps of Derivative d, a list of Step
    render_steps(steps, format)     "text", "markdown" (LaTeX inside) or "latex"
    check_steps(d)                  every step checked numerically (d.check_steps())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .check import Claim, StepCheck, check_claims
from .derive import ArticlePrinter, Step, derive_steps
from .render import FORMATS, equation, render_steps, sections

__all__ = ["Step", "derive_steps", "render_steps", "FORMATS", "ArticlePrinter", "check_steps",
           "StepCheck", "Claim", "sections", "equation"]


def check_steps(d, values: Mapping[str, Any] | None = None, seed: int = 0) -> StepCheck:
    """Check every step of d's derivation numerically (see check.py)."""
    return check_claims(d, derive_steps(d), values, seed)
