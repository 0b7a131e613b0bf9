"""Instructions: a straight-line program of pure NumPy expressions, and its rendering.

Every instruction is one expression template over earlier values
(`"{0} @ {1}"` with refs `(X, t3)`). Because every expression is pure,
emitting the same template over the same refs twice returns the first
value: that is common-subexpression elimination for everything generated,
not only for IR nodes. Rendering drops dead values, inlines values used
once into their single consumer (while lines stay short), and names the
rest `t1, t2, ...` in order.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Protocol

from .backends import BACKENDS
from .tidy import tidy
from .values import is_atomic

__all__ = ["Instructions", "IDENTIFIER", "valid_identifier", "MODULE_NAMES"]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# names the generated module uses itself; a variable with one of these names is renamed
MODULE_NAMES = frozenset({
    "np", "float", "int", "len", "range", "tuple", "ValueError", "True", "False", "None",
    "derivative", "value_and_grad", "__name__", "__doc__", "hasattr",
}).union(*(b.reserved for b in BACKENDS.values()))  # each backend's imports (backends.py)

INLINE_LIMIT = 72  # longest expression inlined into its consumer
_CALL = re.compile(r"[A-Za-z_][\w.]*\(")           # a function call in a template
_NUMBER = re.compile(r"-?(\d+\.?\d*(e[-+]?\d+)?|np\.inf|np\.nan)")


def valid_identifier(name: str) -> bool:
    """A name safe to put in generated code: a Python identifier, not a keyword."""
    return (isinstance(name, str) and IDENTIFIER.match(name) is not None
            and not keyword.iskeyword(name) and not name.startswith("__"))


class Spelling(Protocol):
    """How another array library writes a template and a finished line (backends.py)."""

    def template(self, text: str, numbers: tuple[int, ...] = (), every: bool = False
                 ) -> str: ...

    def text(self, text: str) -> str: ...


@dataclass
class Instr:
    template: str
    refs: tuple[str, ...]
    comment: str | None
    inline: bool
    name: str | None = None  # a name from the source program (z1, dW1): a line of its own


class Instructions:
    """Instructions in emission order (always topological), with CSE by (template, refs)."""

    def __init__(self) -> None:
        self.instrs: dict[str, Instr] = {}
        self._cse: dict[tuple[str, tuple[str, ...]], str] = {}
        self.symmetric: set[str] = set()   # values known to be symmetric matrices
        # values that are Python numbers, not arrays: dimension lengths (n) and arithmetic
        # of numbers (n * m); literals (2.0) are numbers too (is_number)
        self.numbers: set[str] = set()

    def emit(self, template: str, refs: tuple[str, ...] | list[str] = (),
             comment: str | None = None, inline: bool = True, name: str | None = None) -> str:
        """The name of a value computed by `template` over `refs` (reused if already emitted).

        `name` is what the source program calls the value; the code then uses it.
        """
        refs = tuple(refs)
        key = (template, refs)
        ref = self._cse.get(key)
        if ref is not None:
            if comment and self.instrs[ref].comment is None:
                self.instrs[ref].comment = comment
            if name and self.instrs[ref].name is None:
                self.instrs[ref].name = name
            return ref
        ref = f"_v{len(self.instrs)}"
        self.instrs[ref] = Instr(template, refs, comment, inline, name)
        if not _CALL.search(template) and all(self.is_number(r) for r in refs):
            self.numbers.add(ref)
        self._cse[key] = ref
        return ref

    def is_value(self, ref: str) -> bool:
        return ref in self.instrs

    def is_number(self, ref: str) -> bool:
        """Whether ref is a Python number where the code runs (a literal, a length, their
        arithmetic), which a library's function may refuse where it wants an array."""
        if ref in self.numbers:
            return True
        return ref not in self.instrs and _NUMBER.fullmatch(ref) is not None

    def render(self, outputs: list[str], taken: set[str],
               spell: Spelling | None = None) -> tuple[list[str], list[str]]:
        """(body lines, output expressions) for the values reaching `outputs`.

        `taken` holds names the code must not reuse (parameters, dimensions);
        `spell` respells each template, then each line, for another array library
        (backends.py).
        """
        live: set[str] = set()
        stack = [r for r in outputs if r in self.instrs]
        while stack:
            name = stack.pop()
            if name in live:
                continue
            live.add(name)
            stack.extend(r for r in self.instrs[name].refs if r in self.instrs)
        uses: dict[str, int] = {}
        for name in live:
            for r in self.instrs[name].refs:
                uses[r] = uses.get(r, 0) + 1
        for r in outputs:
            uses[r] = uses.get(r, 0) + 2  # outputs are never inlined

        code: dict[str, str] = {}     # value -> how a consumer writes it
        lines: list[str] = []
        counter = 0
        taken = set(taken)
        preferred: dict[str, str] = {}
        for name, ins in self.instrs.items():
            if name in live and ins.name:
                want = ins.name
                while want in taken or want in preferred.values():
                    want += "_"
                preferred[name] = want
        taken |= set(preferred.values())
        for name, ins in self.instrs.items():
            if name not in live:
                continue
            if spell is None:
                text = tidy(_substitute(ins.template, ins.refs, code))
            else:
                numbers = tuple(k for k, r in enumerate(ins.refs) if self.is_number(r))
                template = spell.template(ins.template, numbers, len(numbers) == len(ins.refs))
                text = spell.text(tidy(_substitute(template, ins.refs, code)))
            if (ins.inline and name not in preferred and uses.get(name, 0) == 1
                    and len(text) <= INLINE_LIMIT):
                code[name] = text
                continue
            if name in preferred:
                code[name] = preferred[name]
                lines.append(f"{preferred[name]} = {text}")  # named: no comment needed
                continue
            counter += 1
            temp = f"t{counter}"
            while temp in taken:
                counter += 1
                temp = f"t{counter}"
            code[name] = temp
            line = f"{temp} = {text}"
            if ins.comment:
                line = f"{line}  # {ins.comment}"
            lines.append(line)
        outs = [code.get(r, r) for r in outputs]
        return lines, outs


def _substitute(template: str, refs: tuple[str, ...], code: dict[str, str]) -> str:
    parts = []
    for r in refs:
        text = code.get(r, r)
        parts.append(text if is_atomic(text) else f"({text})")
    return template.format(*parts)
