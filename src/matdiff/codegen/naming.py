"""The names a generated module gives its parameters and dimension lengths.

The only text taken from the user is variable names, and only after
`IDENTIFIER` accepts them; a name the module uses itself (np, a helper, a
keyword, a temporary such as t1 or _v0) gets underscores appended until it
is free. Dimension symbols that are not identifiers become d1, d2, ....
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import MatdiffError
from ..ir.expr import Dim, dim_parts
from .program import IDENTIFIER, MODULE_NAMES, valid_identifier
from .runtime import HELPERS

__all__ = ["CodeNames", "code_names"]

# the generator's own names: temporaries t1, t2 and values _v0, _v1 of Instructions (a parameter
# named like one would be read as that value)
_TEMP = re.compile(r"(t|_v)\d+\Z")


@dataclass(frozen=True)
class CodeNames:
    """Each variable's and dimension's name in the generated code, and every name taken."""

    params: dict[str, str]   # variable -> parameter name
    dims: dict[str, str]     # dimension symbol -> the name its length is bound to
    taken: set[str]          # names the body's temporaries must not reuse

    def dim_code(self, d: Dim) -> str:
        """A dimension as code: a number, its bound name, or (n + m) for a concatenated one."""
        if isinstance(d, str) and d not in self.dims:
            return "(" + " + ".join(self.dim_code(p) for p in dim_parts(d)) + ")"
        return str(d) if isinstance(d, int) else self.dims[d]


def code_names(variables: Sequence[str], symbols: Sequence[str]) -> CodeNames:
    """Names for the generated function's parameters (`variables`) and lengths (`symbols`)."""
    for name in variables:
        if not IDENTIFIER.match(name):
            raise MatdiffError(f"variable name {name!r} cannot be used in generated code")
    taken: set[str] = (set(MODULE_NAMES) | set(HELPERS) | set(keyword.kwlist)
                       | set(keyword.softkwlist))
    claim = _claimer(taken)
    params = {name: claim(name) for name in variables}
    dims = {sym: claim(sym if valid_identifier(sym) else f"d{k + 1}")
            for k, sym in enumerate(symbols)}
    return CodeNames(params, dims, taken)


def _claimer(taken: set[str]) -> Callable[[str], str]:
    """name -> the name with underscores appended until it is free, then marked taken."""

    def claim(code: str) -> str:
        while code in taken or _TEMP.match(code):
            code += "_"
        taken.add(code)
        return code

    return claim
