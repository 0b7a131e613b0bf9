"""The backward pass of a program: reverse mode, printed as the textbook writes it.

    reverse.py   the pass itself: error signals and gradients as named IR lines
    render.py    those lines as text (a program that parses back), LaTeX, steps
    stable.py    the program's lines in their stable forms (softmax, not exp/sum(exp))
"""

from .reverse import BackwardLine, BackwardPass, backward_pass, substitute
from .stable import stable_program

__all__ = ["BackwardLine", "BackwardPass", "backward_pass", "substitute", "stable_program"]
