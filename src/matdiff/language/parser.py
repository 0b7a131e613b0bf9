"""Text to syntax tree, with the Lark grammar in grammar.lark.

Every failure is a ParseError with line, column and a caret. The tree is
built without recursion, so long or deeply nested input cannot overflow the
stack; nesting beyond MAX_DEPTH brackets and text beyond MAX_LENGTH
characters are refused with a clear error instead.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from ..errors import ParseError
from . import ast

__all__ = ["parse_text", "MAX_DEPTH", "MAX_LENGTH"]

MAX_DEPTH = 200
MAX_LENGTH = 100_000

# unicode and alternative spellings -> the canonical operator
_CANONICAL = {
    "+": "+", "-": "-", "\u2212": "-",
    "*": "*", "@": "*", "/": "/", ".*": ".*", "./": "./",
    "\u00b7": "dot", "\u2297": ".*", "\u2299": ".*", "\u2218": ".*", "\u2298": "./",
    "^": "^", ".^": ".^",
}


@lru_cache(maxsize=1)
def _lark():
    from lark import Lark

    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_brackets(text: str) -> None:
    """Unbalanced or too deeply nested brackets, found before parsing."""
    opened: list[int] = []
    for i, ch in enumerate(text):
        if ch in "([":
            opened.append(i)
            if len(opened) > MAX_DEPTH:
                raise ParseError(f"brackets nested more than {MAX_DEPTH} deep", text,
                                 *_position(text, i))
        elif ch in ")]":
            want = "(" if ch == ")" else "["
            if not opened:
                raise ParseError(f"'{ch}' has no matching '{want}'", text, *_position(text, i))
            if text[opened[-1]] != want:
                raise ParseError(f"'{ch}' closes '{text[opened[-1]]}' (opened at column "
                                 f"{_position(text, opened[-1])[1]})", text, *_position(text, i))
            opened.pop()
    if opened:
        raise ParseError(f"'{text[opened[-1]]}' is never closed", text,
                         *_position(text, opened[-1]))


def _describe(token) -> str:
    if token.type == "$END":
        return "end of input"
    return f"{token.value!r}"


_LEFT_OPERAND = re.compile(r"(\d[\w.]*|[A-Za-z_]\w*|\)|')\s*$")


def _juxtaposed(text: str, token) -> str:
    """A hint for two operands side by side (`2x`, `2 (x + 1)`, `x y`): a product needs `*`."""
    if token.type not in ("NAME", "NUMBER", "LPAR"):
        return ""
    left = _LEFT_OPERAND.search(text[:token.start_pos])
    if left is None:
        return ""
    right = str(token.value)
    if token.type == "NAME":
        right = re.match(r"\w+", text[token.start_pos:]).group(0)
    before = text[:token.start_pos]
    if before.count("[") > before.count("]"):  # [x y]: MATLAB's row, written with commas
        return (f": inside [...] separate the entries of a row with ',' and rows with ';' "
                f"([{left.group(1)}, {right}]), or write a product with '*'")
    return f": a product needs an operator; write {left.group(1)}*{right}"


def parse_text(text: str) -> ast.Node:
    """Parse one expression into a syntax tree."""
    from lark.exceptions import (
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
    )

    if not isinstance(text, str):
        raise ParseError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is {len(text)} characters long; "
                         f"the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ParseError("empty expression", text, 1, 1)
    _check_brackets(text)
    try:
        tree = _lark().parse(text)
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if e.pos_in_stream is not None else "?"
        raise ParseError(f"unexpected character {ch!r}", text, e.line, e.column) from None
    except UnexpectedToken as e:
        if e.token.type == "$END":
            line, column = _position(text, len(text.rstrip()))
            raise ParseError("unexpected end of input: an operand is missing", text,
                             line, column) from None
        if str(e.token.value) == "*" and text[e.token.start_pos - 1:e.token.start_pos] == "*":
            raise ParseError("'**' is not an operator: a power is written x.^2 (each entry) "
                             "or x^2 (a scalar, or a square matrix's power)", text,
                             e.line, e.column - 1) from None
        raise ParseError(f"unexpected {_describe(e.token)}{_juxtaposed(text, e.token)}", text,
                         e.line, e.column) from None
    except UnexpectedEOF:
        line, column = _position(text, len(text.rstrip()))
        raise ParseError("unexpected end of input", text, line, column) from None
    except UnexpectedInput as e:  # any other syntax error Lark may grow
        line, column = getattr(e, "line", 1), getattr(e, "column", 1)
        raise ParseError("syntax error", text, line, column) from None
    return _to_ast(tree, text)


def _to_ast(tree, text: str) -> ast.Node:
    """Convert Lark's tree bottom-up, without recursion."""
    from lark import Token, Tree

    if isinstance(tree, Token):  # a lone number or name
        tree = Tree({"NUMBER": "number", "NAME": "name"}[tree.type], [tree])
    built: dict[int, ast.Node] = {}

    def get(child):
        return built[id(child)]

    for t in tree.iter_subtrees():
        kids = t.children
        line, column = getattr(t.meta, "line", 1), getattr(t.meta, "column", 1)
        rule = t.data
        if rule == "number":
            node = _leaf(kids[0], text)
        elif rule == "name":
            tok = kids[0]
            node = ast.Name(tok.line, tok.column, str(tok.value))
        elif rule == "call":
            tok = kids[0]
            args = tuple(get(k) if isinstance(k, Tree) else _leaf(k, text) for k in kids[1:])
            node = ast.Call(tok.line, tok.column, str(tok.value), args)
        elif rule == "binop":
            left, op, right = kids
            node = ast.BinOp(op.line, op.column, _CANONICAL[str(op.value)],
                             _node(left, get, text), _node(right, get, text), str(op.value))
        elif rule in ("neg", "pos"):
            op, operand = kids
            inner = _node(operand, get, text)
            node = ast.Neg(op.line, op.column, inner) if rule == "neg" else inner
        elif rule == "empty":
            node = ast.Empty(line, column)
        elif rule == "brow":
            continue  # read by its brackets
        elif rule == "brackets":
            rows = tuple(tuple(_node(k, get, text) for k in row.children) for row in kids)
            node = ast.Brackets(line, column, rows)
        elif rule == "transpose":
            operand, op = kids
            node = ast.Transpose(op.line, op.column, _node(operand, get, text))
        else:  # pragma: no cover - the grammar has no other rules
            raise ParseError(f"internal: unknown rule {rule}", text, line, column)
        built[id(t)] = node
    return built[id(tree)]


def _leaf(tok, text: str) -> ast.Node:
    if tok.type == "NUMBER":
        value = float(tok.value)
        if not math.isfinite(value):
            raise ParseError(f"the number {tok.value} is too large", text, tok.line, tok.column)
        return ast.Number(tok.line, tok.column, value, str(tok.value))
    return ast.Name(tok.line, tok.column, str(tok.value))


def _node(child, get, text: str) -> ast.Node:
    from lark import Token

    return _leaf(child, text) if isinstance(child, Token) else get(child)
