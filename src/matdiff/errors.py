"""Every input error is a MatdiffError (a ValueError) naming the problem and, for text, where."""

from __future__ import annotations

__all__ = ["MatdiffError", "ParseError", "ShapeError", "EvaluationError", "ConstantError",
           "ValueShapeError", "MatdiffWarning", "format_caret"]


def format_caret(text: str, line: int, column: int) -> str:
    """The offending line of `text` with a caret under `column` (both 1-based)."""
    lines = text.splitlines() or [""]
    if not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1]
    start = 0
    if len(src) > 76:  # show a window around the column of a long line
        start = max(0, min(column - 38, len(src) - 76))
        src = src[start:start + 76]
    return f"  {src}\n  {' ' * (column - 1 - start)}^"


class MatdiffError(ValueError):
    """Base of every error matdiff raises for bad input.

    `line` and `column` (1-based) locate the problem in the source text when known.
    It is a `ValueError`, so `except ValueError` catches it too.

    Examples:
        >>> try:
        ...     matdiff.diff("x'*A*x", wrt="x", order=0)
        ... except matdiff.MatdiffError as e:
        ...     print(e)
        order must be a whole number >= 1, not 0
    """

    def __init__(self, message: str, text: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.text = text
        self.line = line
        self.column = column
        full = message
        if line is not None and column is not None:
            full = f"{message} (line {line}, column {column})"
            if text is not None:
                caret = format_caret(text, line, column)
                if caret:
                    full = f"{full}\n{caret}"
        super().__init__(full)


class ParseError(MatdiffError):
    """The text is not a sentence of the language.

    Examples:
        >>> try:
        ...     matdiff.parse("x +* y")
        ... except matdiff.ParseError as e:
        ...     print(e.line, e.column)
        ...     print(e)
        1 4
        unexpected '*' (line 1, column 4)
          x +* y
             ^
    """


class ShapeError(MatdiffError):
    """Shapes do not fit: found before any number is touched, or when values are bound.

    Examples:
        >>> try:
        ...     matdiff.parse("x + y", declare={"x": "vector(2)", "y": "vector(3)"})
        ... except matdiff.ShapeError as e:
        ...     print(e)
        '+' needs operands of one shape, not a vector (2) and a vector (3) (line 1, column 3)
          x + y
            ^
    """


class EvaluationError(MatdiffError):
    """Values given to evaluate are missing, of the wrong shape, or not numbers.

    Examples:
        >>> try:
        ...     matdiff.parse("A*x").evaluate({"A": np.eye(2)})
        ... except matdiff.EvaluationError as e:
        ...     print(e)
        no value for 'x' (needed: A, x)
    """


class ValueShapeError(ShapeError, EvaluationError):
    """A value whose shape does not fit its variable's declared one (signature.py).

    Both a ShapeError and an EvaluationError, so code catching either sees it.
    """


class ConstantError(MatdiffError):
    """Numbers combined in the expression itself overflow or divide by zero.

    Examples:
        >>> try:
        ...     matdiff.parse("x/(1 - 1)")
        ... except matdiff.ConstantError as e:
        ...     print(e)
        a division by zero (0 to a negative power) (line 1, column 2)
          x/(1 - 1)
           ^
    """


class MatdiffWarning(UserWarning):
    """Something matdiff decided for you, such as an undeclared name's type by its first letter.

    Silence it with `warnings.simplefilter("ignore", matdiff.MatdiffWarning)`, or declare the
    names (`declare={"lam": "scalar"}`).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always", matdiff.MatdiffWarning)
        ...     e = matdiff.parse("lam.*x", declare={"x": "vector"})
        >>> print(caught[0].message)
        assuming lam: vector (first letter); declare it to change
        >>> e.assumptions
        {'lam': 'vector'}
    """
