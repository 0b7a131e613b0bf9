"""Make generated expressions read as a person writes them, by rewriting their Python AST.

Each rule keeps the value (up to the rounding of one division):

    a + -b      ->  a - b
    -a + b      ->  b - a
    a - -b      ->  a + b
    a * b ** -1 ->  a / b          (also a * (1 / b))
    b ** -1     ->  1 / b
    x ** 2.0    ->  x ** 2         (an integral exponent; NumPy squares fast)
    --a         ->  a

and `ast.unparse` drops brackets that precedence makes redundant.
"""

from __future__ import annotations

import ast
from functools import lru_cache

__all__ = ["tidy"]


def _neg(node: ast.AST) -> ast.AST | None:
    """x when node is -x."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return node.operand
    return None


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    inner = _neg(node)
    if inner is not None:
        v = _number(inner)
        return None if v is None else -v
    return None


def _reciprocal(node: ast.AST) -> ast.AST | None:
    """b when node is b ** -1."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and _number(node.right) == -1:
        return node.left
    return None


def _unit_fraction(node: ast.AST) -> ast.AST | None:
    """b when node is 1 / b."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _number(node.left) == 1:
        return node.right
    return None


class _Tidy(ast.NodeTransformer):
    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        inner = _neg(node.operand) if isinstance(node.op, ast.USub) else None
        return inner if inner is not None else node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        op, a, b = node.op, node.left, node.right
        if isinstance(op, ast.Add):
            if _neg(b) is not None:
                return ast.BinOp(a, ast.Sub(), _neg(b))
            if _neg(a) is not None:
                return ast.BinOp(b, ast.Sub(), _neg(a))
        if isinstance(op, ast.Sub) and _neg(b) is not None:
            return ast.BinOp(a, ast.Add(), _neg(b))
        if isinstance(op, ast.Mult):
            if _unit_fraction(b) is not None:
                return ast.BinOp(a, ast.Div(), _unit_fraction(b))
            if _reciprocal(b) is not None:
                return ast.BinOp(a, ast.Div(), _reciprocal(b))
            if _reciprocal(a) is not None:
                return ast.BinOp(b, ast.Div(), _reciprocal(a))
        if isinstance(op, ast.Pow):
            if _number(b) == -1:
                return ast.BinOp(ast.Constant(1.0), ast.Div(), a)
            v = _number(b)
            if v is not None and v == int(v) and abs(v) <= 64:
                return ast.BinOp(a, ast.Pow(), ast.Constant(int(v)) if v >= 0
                                 else ast.UnaryOp(ast.USub(), ast.Constant(-int(v))))
        return node


@lru_cache(maxsize=8192)
def tidy(code: str) -> str:
    """The expression `code`, rewritten by the rules above (unchanged if it does not parse)."""
    if len(code) > 2000:  # long sums are split before this; never recurse deeply
        return code
    try:
        tree = ast.parse(code, mode="eval")
        return ast.unparse(ast.fix_missing_locations(_Tidy().visit(tree)))
    except (SyntaxError, RecursionError):
        return code
