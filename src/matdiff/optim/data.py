"""Loading training data from .npz and .csv files and data frames, named for the variables.

An .npz file holds one array per variable, by name. A .csv file has a
header row naming its columns, and a data frame (pandas) names its columns;
for a loss, the columns are assigned as follows:

1. a column named exactly like a variable of the loss is that vector;
2. columns named `X[0]`, `X_0`, `X.0` or `X:0` are the columns of the matrix X,
   in file order;
3. if exactly one matrix variable of the loss is still without data, every
   remaining column belongs to it (so `x1,x2,x3,y` fills X and y).

Without a loss, each column becomes a vector of its own name.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["load_data", "load_csv", "load_npz", "is_table", "table_data", "assign_columns"]

_COLUMN_OF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*?)(?:\[(?P<a>\d+)\]|[_.:](?P<b>\d+))$")


def load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: np.asarray(archive[k]) for k in archive.files}
    except (OSError, ValueError) as e:
        raise MatdiffError(f"cannot read {path!r} as .npz: {e}") from None


def _read_rows(path: str) -> tuple[list[str], np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row and any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError) as e:
        raise MatdiffError(f"cannot read {path!r}: {e}") from None
    if not rows:
        raise MatdiffError(f"{path!r} is empty")
    header = [c.strip() for c in rows[0]]
    if all(_is_number(c) for c in header):
        raise MatdiffError(f"{path!r} needs a header row naming its columns "
                           "(for example x1,x2,y)")
    if len(set(header)) != len(header):
        raise MatdiffError(f"{path!r} repeats a column name in its header")
    table = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise MatdiffError(f"{path!r} line {i} has {len(row)} fields, "
                               f"the header has {len(header)}")
        for j, cell in enumerate(row):
            try:
                table[i - 2, j] = float(cell)
            except ValueError:
                raise MatdiffError(f"{path!r} line {i}, column '{header[j]}': {cell.strip()!r} "
                                   "is not a number") from None
    if table.shape[0] == 0:
        raise MatdiffError(f"{path!r} has a header but no rows")
    return header, table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_csv(path: str, variables: Mapping[str, Any] | None = None,
             wanted: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Columns of a CSV file assigned to the loss's variables (see the module docstring)."""
    header, table = _read_rows(path)
    return assign_columns(header, table, variables, wanted)


def is_table(data: Any) -> bool:
    """A data frame (pandas, or anything with named `columns` and `to_numpy`), not a dict."""
    return (not isinstance(data, Mapping) and hasattr(data, "columns")
            and hasattr(data, "to_numpy"))


def table_data(frame: Any, variables: Mapping[str, Any] | None = None,
               wanted: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The columns of a data frame assigned to the loss's variables, as a CSV file's are."""
    header = [str(c).strip() for c in frame.columns]
    if len(set(header)) != len(header):
        raise MatdiffError("the data frame repeats a column name")
    if not header or len(frame) == 0:
        raise MatdiffError("the data frame has no columns or no rows")
    table = np.empty((len(frame), len(header)))
    for j, col in enumerate(frame.columns):
        try:
            table[:, j] = np.asarray(frame[col].to_numpy(), dtype=np.float64)
        except (TypeError, ValueError):
            raise MatdiffError(f"column {str(col)!r} of the data frame is not numbers "
                               f"(dtype {frame[col].dtype}); drop it or convert it") from None
    return assign_columns(header, table, variables, wanted)


def assign_columns(header: Sequence[str], table: np.ndarray,
                   variables: Mapping[str, Any] | None = None,
                   wanted: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Named columns of a table assigned to the loss's variables (the module docstring's rules)."""
    if variables is None:
        return {name: table[:, j].copy() for j, name in enumerate(header)}
    wanted = list(variables) if wanted is None else list(wanted)
    ndim = {name: len(variables[name].shape) for name in wanted}
    out: dict[str, np.ndarray] = {}
    used: set[int] = set()
    for j, col in enumerate(header):  # rule 1: a column named like a vector
        if col in ndim and ndim[col] == 1:
            out[col] = table[:, j].copy()
            used.add(j)
    grouped: dict[str, list[int]] = {}
    for j, col in enumerate(header):  # rule 2: X[0], X_0, ...
        m = _COLUMN_OF.match(col)
        if j not in used and m and ndim.get(m.group("name")) == 2:
            grouped.setdefault(m.group("name"), []).append(j)
    for name, cols in grouped.items():
        out[name] = table[:, cols].copy()
        used.update(cols)
    rest = [j for j in range(len(header)) if j not in used]
    empty = [n for n in wanted if n not in out and ndim[n] == 2]
    if rest and len(empty) == 1:  # rule 3: the remaining columns are the one matrix left
        out[empty[0]] = table[:, rest].copy()
    return out


def load_data(path: str | os.PathLike[str], variables: Mapping[str, Any] | None = None,
              wanted: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays by name from an .npz or .csv file (CSV columns assigned to `variables`).

    A Zarr store or a folder of .npy files gives lazy Dask arrays (lazydata.py).
    """
    from .lazydata import is_chunked_path, open_chunked

    path = os.fspath(path)
    if not os.path.exists(path):
        raise MatdiffError(f"no such data file: {path!r}")
    if is_chunked_path(path):
        return open_chunked(path)
    lower = path.lower()
    if lower.endswith(".npz"):
        return load_npz(path)
    if lower.endswith(".csv"):
        return load_csv(path, variables, wanted)
    raise MatdiffError(f"data must be an .npz or .csv file, a Zarr store or a folder of .npy "
                       f"files, not {os.path.basename(path)!r}")
