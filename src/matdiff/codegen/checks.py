"""Generated shape checks for the fast call paths (compile.py for NumPy, foreign.py for others).

Each value's shape is checked against its declared one: a number where the
declaration has one, the first occurrence of a size name binds it and later
ones must agree. A failed check raises `Mismatch`, and the caller takes the
slow path, which says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..signature import size_parts

__all__ = ["shape_check_lines", "sum_check_lines", "Mismatch"]


class Mismatch(Exception):
    """A value the fast path cannot take; the slow path handles it."""


def shape_check_lines(k: int, shape: Sequence[int | str], bound: dict[str, str],
                      indent: str = "        ") -> list[str]:
    """Lines checking `s{k} = a{k}.shape` against `shape`, binding new size names in `bound`."""
    lines = [f"{indent}s{k} = a{k}.shape", f"{indent}if len(s{k}) != {len(shape)}: raise Mismatch"]
    for p, d in enumerate(shape):
        if isinstance(d, int):
            lines.append(f"{indent}if s{k}[{p}] != {d}: raise Mismatch")
        elif d in bound:
            lines.append(f"{indent}if s{k}[{p}] != {bound[d]}: raise Mismatch")
        else:
            bound[d] = f"s{k}[{p}]"
    return lines


def sum_check_lines(bound: dict[str, str], indent: str = "        ") -> list[str]:
    """A concatenated size (`n+m`) bound from a value must be the sum of its parts' sizes."""
    lines = []
    for d, code in bound.items():
        parts = size_parts(d)
        if len(parts) > 1 and all(isinstance(p, int) or p in bound for p in parts):
            total = " + ".join(str(p) if isinstance(p, int) else bound[p] for p in parts)
            lines.append(f"{indent}if {code} != {total}: raise Mismatch")
    return lines
