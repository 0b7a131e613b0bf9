"""Programs: several named assignments, the last one (or the one named by `of`) the function.

    b1, b2: vector          # declarations, with the words `declare=` accepts
    z1 = W1*x + b1
    h1 = relu(z1)
    L = sum(h1)

Statements are separated by newlines or `;`; a newline inside brackets, or
after a line ending in an operator or a comma, continues the statement; `#`
starts a comment. A text with none of `=`, `;`, `:`, `#` is one expression,
exactly as before programs existed (newlines are then plain spaces).

Both passes of build.py run over all statements with one TypeContext: types
(and dimensions) are inferred for every line first, then every line is
lowered twice: `local`, with earlier intermediates as leaves named after
them (what the backward pass and the printers name), and `inlined`, with
their IR substituted (what the engine differentiates; nodes are hash-consed,
so the sharing costs nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..errors import MatdiffError, ParseError
from ..ir import expr as ir
from ..ir.expr import Expr
from . import ast
from .build import (
    TypeContext,
    check_declarations,
    infer_tree,
    input_leaves,
    lower_tree,
    settle_kinds,
)
from .rules import RESERVED
from .types import Dims, parse_declaration

__all__ = ["Statement", "Program", "build_program", "is_program", "single", "intermediate_leaf",
           "declared_in_text"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_DECLARATION = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z][A-Za-z0-9_]*)*)\s*:(.*)\Z",
                          re.DOTALL)
_CONTINUES = ("+", "-", "*", "/", "^", ",", "@", "(", "[", "\u2212", "\u00b7", "\u2297", "\u2299",
              "\u2218", "\u2298")


@dataclass(frozen=True)
class Statement:
    """One assignment `name = expression` (name None: the program's closing bare expression)."""

    name: str | None
    local: Expr       # intermediates as leaves named after them
    inlined: Expr     # intermediates substituted: over the inputs only
    kind: str         # surface kind: scalar, col, row or matrix
    line: int
    column: int
    source: str       # the expression as written


def intermediate_leaf(name: str, shape: ir.Shape) -> Expr:
    """The leaf standing for an intermediate's value: a plain variable of its shape.

    Never symmetric nor labelled, whatever its inputs are declared as: a property
    guessed by passing an input's type along (`softmax(S, 2)` of a symmetric S is not
    symmetric) would be false, and one that is true would still make this leaf a
    different variable from the one the backward pass differentiates against.
    """
    return ir.var(name, shape)


@dataclass(frozen=True)
class Program:
    """The statements up to the function, its inputs, and the function's statement last.

    Inputs are the names no statement assigns (`inputs`, with their declared types);
    every assigned name is an intermediate, its leaf `intermediate_leaf`. `kinds` is
    the surface kind of every name (scalar, col, row or matrix): a row vector's value
    is a 1-D array like a column's, so only this says which way round it prints.
    """

    statements: tuple[Statement, ...]
    inputs: dict[str, Expr]
    text: str
    declared: frozenset[str] = frozenset()  # inputs with a declaration (program or declare=)
    kinds: Mapping[str, str] = field(default_factory=dict)
    # the declarations, (name, spec): printed text (the backward pass) is read back with them
    declarations: tuple[tuple[str, str], ...] = ()
    # names matdiff gave (a single expression's pre-activations, backward/split.py), not
    # the user: a printed backward pass defines them itself, so it reads from the inputs
    named: tuple[str, ...] = ()

    @property
    def output(self) -> Statement:
        return self.statements[-1]

    @property
    def intermediates(self) -> dict[str, Statement]:
        return {s.name: s for s in self.statements if s.name is not None}

    @property
    def leaves(self) -> dict[str, Expr]:
        """Every name's IR leaf: inputs, and intermediates as named leaves."""
        out = dict(self.inputs)
        for s in self.statements:
            if s.name is not None:
                out[s.name] = intermediate_leaf(s.name, s.local.shape)
        return out

    @property
    def rows(self) -> frozenset[str]:
        """The names (inputs and intermediates) whose value is a row vector."""
        kinds = dict(self.kinds)
        kinds.update((s.name, s.kind) for s in self.statements if s.name is not None)
        return frozenset(n for n, k in kinds.items() if k == "row")


def single(ir_root: Expr, inputs: dict[str, Expr], text: str, kind: str,
           declare: Mapping[str, str] | None = None) -> Program:
    """A one-expression program (the statement unnamed); `declare` gives the inputs' kinds
    (a row vector prints as one) and the declarations its printed text is read back with."""
    declared = dict(declare or {})
    kinds = {name: parse_declaration(name, spec, Dims()).kind
             for name, spec in declared.items() if name in inputs}
    return Program((Statement(None, ir_root, ir_root, kind, 1, 1, " ".join(text.split())),),
                   dict(inputs), text, frozenset(declared), kinds=kinds,
                   declarations=tuple(declared.items()))


def declared_in_text(text: str) -> set[str]:
    """The names a program's own declaration lines declare (`b1, b2: vector`)."""
    masked = _mask_comments(text)
    out: set[str] = set()
    for piece in _split(masked):
        body = masked[piece.start:piece.end].strip()
        m = _DECLARATION.match(body) if "=" not in body else None
        if m:
            out.update(n.strip() for n in m.group(1).split(","))
    return out


def is_program(text: object) -> bool:
    """Whether text is written as a program (else one expression, as before programs); a
    `;` inside brackets stacks blocks (`[a; b]`) and does not make one."""
    if not isinstance(text, str):
        return False
    if any(c in text for c in "=:#"):
        return True
    depth = 0
    for ch in text:
        depth += (ch in "([") - (ch in ")]")
        if ch == ";" and depth <= 0:
            return True
    return False


# ---------------------------------------------------------------- splitting

@dataclass
class _Piece:
    start: int   # offset of the first character
    end: int     # offset after the last character
    semicolon: bool  # ended by ';'


def _mask_comments(text: str) -> str:
    """`#` to the end of the line becomes spaces, so offsets stay those of the text."""
    return re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text)


def _split(text: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0:
            pieces.append(_Piece(start, i, True))
            start = i + 1
        elif ch == "\n" and depth == 0:
            before = text[start:i].rstrip()
            if before and (before.endswith(_CONTINUES) or before.endswith("=")):
                continue
            pieces.append(_Piece(start, i, False))
            start = i + 1
    pieces.append(_Piece(start, len(text), False))
    return pieces


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _first_nonspace(text: str, start: int, end: int) -> int:
    i = start
    while i < end and text[i].isspace():
        i += 1
    return i


# ---------------------------------------------------------------- building

@dataclass
class _Assign:
    name: str | None
    name_at: int
    rhs_start: int
    rhs_end: int


def build_program(text: str, declare: Mapping[str, str] | None = None,
                  of: str | None = None, goal: str | None = None,
                  report: dict | None = None) -> Program:
    """Parse, check and type a program; every error a MatdiffError with line and column."""
    from .parser import MAX_LENGTH, parse_text

    if not isinstance(text, str):
        raise ParseError(f"a program must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the program is {len(text)} characters long; the limit is {MAX_LENGTH}")
    declare = dict(check_declarations(declare))
    if of is not None and (not isinstance(of, str) or not _NAME.match(of)):
        raise MatdiffError(f"of must name an assignment of the program, not {of!r}")
    masked = _mask_comments(text)
    assigns: list[_Assign] = []
    program_decl: dict[str, tuple[str, int]] = {}
    for piece in _split(masked):
        start = _first_nonspace(masked, piece.start, piece.end)
        if start >= piece.end:
            if piece.semicolon:
                raise ParseError("empty statement before ';'", text, *_position(text, piece.end))
            continue
        body = masked[start:piece.end]
        eq = body.find("=")
        decl = _DECLARATION.match(body) if eq < 0 else None
        if decl:
            _declaration(text, start, decl, declare, program_decl)
            continue
        if eq < 0:
            assigns.append(_Assign(None, start, start, piece.end))
            continue
        second = body.find("=", eq + 1)
        if second >= 0:
            raise ParseError("one '=' per statement ('==' is not part of the language)", text,
                             *_position(text, start + second))
        lhs = body[:eq].strip()
        if not lhs:
            raise ParseError("'=' needs a name on its left", text, *_position(text, start + eq))
        if not _NAME.match(lhs):
            raise ParseError(f"the left of '=' must be one name, not {lhs!r}", text,
                             *_position(text, start))
        if lhs in RESERVED:
            raise ParseError(f"'{lhs}' is a function of the language and cannot be assigned",
                             text, *_position(text, start))
        rhs = _first_nonspace(masked, start + eq + 1, piece.end)
        if rhs >= piece.end:
            raise ParseError(f"nothing after '=' in the assignment of '{lhs}'", text,
                             *_position(text, start + eq))
        assigns.append(_Assign(lhs, start, rhs, piece.end))
    if not assigns:
        raise ParseError("empty program: no expression or assignment", text, 1, 1)
    for a in assigns[:-1]:
        if a.name is None:
            raise ParseError("only the last statement may be a bare expression; name this one "
                             "(h = ...) or remove it", text, *_position(text, a.name_at))
    return _type_and_lower(text, masked, assigns, declare, program_decl, of, parse_text, goal,
                           report)


def _declaration(text: str, start: int, m: re.Match, declare: dict[str, str],
                 program_decl: dict[str, tuple[str, int]]) -> None:
    spec = m.group(2).strip()
    names = [n.strip() for n in m.group(1).split(",")]
    for name in names:
        at = start + m.group(1).find(name)
        pos = _position(text, at)
        if name in RESERVED:
            raise ParseError(f"cannot declare '{name}': it is a function of the language",
                             text, *pos)
        if name in program_decl:
            raise ParseError(f"'{name}' is declared twice (first on line "
                             f"{_position(text, program_decl[name][1])[0]})", text, *pos)
        try:
            parse_declaration(name, spec, Dims())
        except MatdiffError as e:
            lead = len(m.group(2)) - len(m.group(2).lstrip())
            raise ParseError(e.message, text, *_position(text, start + m.start(2) + lead)
                             ) from None
        if name in declare and " ".join(declare[name].split()).lower() != \
                " ".join(spec.split()).lower():
            raise ParseError(f"'{name}' is declared as {spec!r} here and as {declare[name]!r} "
                             "by declare=", text, *pos)
        program_decl[name] = (spec, at)
        declare[name] = spec


def _reparse(parse_text, text: str, masked: str, start: int, end: int) -> ast.Node:
    """One expression parsed where it stands, so positions are those of the whole text."""
    line, column = _position(text, start)
    try:
        return parse_text("\n" * (line - 1) + " " * (column - 1) + masked[start:end])
    except MatdiffError as e:
        if e.line is None:
            raise
        raise type(e)(e.message, text, e.line, e.column) from None


def _names(tree: ast.Node) -> list[ast.Name]:
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            out.append(node)
        stack.extend(node.children())
    return out


def _type_and_lower(text, masked, assigns, declare, program_decl, of, parse_text, goal=None,
                    report=None) -> Program:
    where = {}  # name -> index of its assignment
    for k, a in enumerate(assigns):
        if a.name is None:
            continue
        if a.name in where:
            first = _position(text, assigns[where[a.name]].name_at)[0]
            raise ParseError(f"'{a.name}' is assigned twice (first on line {first})", text,
                             *_position(text, a.name_at))
        if a.name in declare:
            how = "in the program" if a.name in program_decl else "by declare="
            raise ParseError(f"'{a.name}' is declared {how} and also assigned: an assigned "
                             "name's type is inferred", text, *_position(text, a.name_at))
        where[a.name] = k
    stop = len(assigns)
    if of is not None:
        if of not in where:
            known = ", ".join(where) or "none"
            raise MatdiffError(f"of={of!r} is not assigned in the program (assigned: {known})")
        stop = where[of] + 1
    trees = [_reparse(parse_text, text, masked, a.rhs_start, a.rhs_end) for a in assigns]
    for k, (a, tree) in enumerate(zip(assigns, trees)):
        for node in _names(tree):
            j = where.get(node.name)
            if j is None or j < k:
                continue
            if j == k:
                raise ParseError(f"'{node.name}' is used in its own assignment", text,
                                 node.line, node.column)
            cycle = _cycle(node.name, a.name, assigns, trees, where)
            msg = f"'{node.name}' is used before it is assigned (on line " \
                  f"{_position(text, assigns[j].name_at)[0]})"
            if cycle:
                msg += "; the assignments form a cycle: " + " -> ".join(cycle)
            raise ParseError(msg, text, node.line, node.column)
    ctx = TypeContext(text, declare)
    settle_kinds(ctx, trees[:stop], [a.name for a in assigns[:stop]], goal, report)
    orders = []
    for a, tree in zip(assigns, trees):
        orders.append(infer_tree(ctx, tree))
        if a.name is not None:  # an intermediate: its declarations are not inherited
            ctx.assigned[a.name] = replace(ctx.types[id(tree)], symmetric=False, label=None)
    inputs = input_leaves(ctx)
    local_env: dict[str, Expr] = dict(inputs)
    inlined_env: dict[str, Expr] = dict(inputs)
    statements = []
    for a, tree, order in zip(assigns[:stop], trees, orders):
        local = lower_tree(ctx, tree, order, local_env)
        uses = any(n.name in ctx.assigned for n in _names(tree))
        inlined = lower_tree(ctx, tree, order, inlined_env) if uses else local
        t = ctx.types[id(tree)]
        line, column = _position(text, a.name_at)
        statements.append(Statement(a.name, local, inlined, t.kind, line, column,
                                    " ".join(masked[a.rhs_start:a.rhs_end].split())))
        if a.name is not None:
            local_env[a.name] = intermediate_leaf(a.name, local.shape)
            inlined_env[a.name] = inlined
    kinds = {name: t.kind for name, t in ctx.variables.items() if name in inputs}
    return Program(tuple(statements), inputs, text, frozenset(declare), kinds,
                   tuple((k, v) for k, v in declare.items() if isinstance(v, str)))


def _cycle(used: str, user: str | None, assigns, trees, where) -> list[str] | None:
    """A chain used -> ... -> user -> used when the later assignment depends on the earlier."""
    if user is None:
        return None
    path = [used]
    seen = {used}
    frontier = [(used, [used])]
    while frontier:
        name, path = frontier.pop()
        for node in _names(trees[where[name]]):
            if node.name == user:
                return path + [user, used]
            if node.name in where and node.name not in seen:
                seen.add(node.name)
                frontier.append((node.name, path + [node.name]))
    return None
