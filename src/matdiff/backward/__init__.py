"""The backward pass of a program: reverse mode, printed as the textbook writes it.

    reverse.py   the pass itself: error signals and gradients as named IR lines
    render.py    those lines as text (a program that parses back), LaTeX, steps
    split.py     one expression as a program, its pre-activations named, so that
                 several gradients share their error signals
"""

from ..ir.substitute import substitute  # kept here for callers of matdiff.backward.substitute
from .reverse import BackwardLine, BackwardPass, backward_pass

__all__ = ["BackwardLine", "BackwardPass", "backward_pass", "substitute"]
