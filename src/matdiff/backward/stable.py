"""A program's lines in their stable forms, for the backward pass and compiled code.

Each line is rewritten by the stable-form rules (simplify/stable.py): `p =
exp(z)/sum(exp(z))` is computed as `softmax(z)`. The rules see one line at a time; a
log of a name whose line is a softmax or a sigmoid (`p = softmax(z); L = -y'*log(p)`)
is seen through to its stable form by the backward pass itself (through.py).
"""

from __future__ import annotations

from dataclasses import replace

from ..language.program import Program
from ..simplify import stabilize

__all__ = ["stable_program"]


def stable_program(program: Program) -> Program:
    """The program with each line in its stable form; the program itself if none changes."""
    lines = [replace(s, local=stabilize(s.local)) for s in program.statements]
    if all(a.local is b.local for a, b in zip(lines, program.statements)):
        return program
    return replace(program, statements=tuple(lines))
