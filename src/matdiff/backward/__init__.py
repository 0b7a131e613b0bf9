"""The backward pass of a program: reverse mode, printed as the textbook writes it.

    reverse.py   the pass itself: error signals and gradients as named IR lines
    render.py    those lines as text (a program that parses back), LaTeX, steps
    split.py     one expression as a program, its pre-activations named, so that
                 several gradients share their error signals
    stable.py    the program's lines in their stable forms (softmax, not exp/sum(exp))
    through.py   a log taken of an earlier line's stable function, seen through to its
                 stable form (log(s) of s = softmax(z) as z - logsumexp(z))
"""

from ..ir.substitute import substitute  # kept here for callers of matdiff.backward.substitute
from .reverse import BackwardLine, BackwardPass, backward_pass
from .stable import stable_program

__all__ = ["BackwardLine", "BackwardPass", "backward_pass", "substitute", "stable_program"]
