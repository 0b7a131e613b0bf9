"""Step-by-step derivations in the vocabulary of "The Matrix Calculus You Need
For Deep Learning": intermediate variables, local derivatives by named rules,
the chain rules, then the simplifier's named identities.

    derive_steps(d)                 the steps of Derivative d, a list of Step
    render_steps(steps, format)     "text", "markdown" (LaTeX inside) or "latex"
    check_steps(d)                  every step checked numerically (d.check_steps())
"""

from __future__ import annotations

from .check import Claim, StepCheck, check_steps
from .derive import ArticlePrinter, Step, derive_steps
from .render import FORMATS, render_steps

__all__ = ["Step", "derive_steps", "render_steps", "FORMATS", "ArticlePrinter", "check_steps",
           "StepCheck", "Claim"]
