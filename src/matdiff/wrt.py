"""What `wrt=` may be, read in one place for diff, grad, value_and_grad, compare and fit.

A name ("W"), a list or tuple of names (["W", "b"]) or names separated by
commas ("W,b"; each part stripped). An empty name, a name given twice or
anything else is a MatdiffError.
"""

from __future__ import annotations

from typing import Any

from .errors import MatdiffError

__all__ = ["wrt_names", "one_wrt"]


def wrt_names(wrt: Any) -> list[str]:
    """A name, a list of names or "W1,b1" -> the list of names (duplicates an error)."""
    items = [wrt] if isinstance(wrt, str) else wrt
    if not isinstance(items, list | tuple) or not items:
        raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
        for part in item.split(","):
            part = part.strip()
            if not part:
                raise MatdiffError(f"an empty name in wrt={wrt!r}")
            if part in names:
                raise MatdiffError(f"wrt names '{part}' twice")
            names.append(part)
    return names


def one_wrt(wrt: Any, what: str = "a derivative") -> str:
    """The one name of `wrt` (" x " is "x"); several names are a MatdiffError naming `what`."""
    names = wrt_names(wrt)
    if len(names) != 1:
        raise MatdiffError(f"{what} is taken with respect to one variable, not "
                           f"{', '.join(names)}; use matdiff.grad (or diff) with a list of "
                           "names for several")
    return names[0]
