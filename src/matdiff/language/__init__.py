"""Text -> syntax tree -> typed IR.

    grammar.lark   the language's grammar (Lark)
    parser.py      text -> syntax tree (ast.py's nodes), errors with line and column
    ast.py         the syntax tree's nodes
    types.py       declarations ("symmetric matrix(n, n)") -> types; parse_declarations
    rules.py       each operator's and function's type rule and lowering; RESERVED words
    build.py       syntax tree -> typed IR, through rules.py
    program.py     a program: statements, the function among them, its rows
"""

from .build import build, declared_variable, default_kind
from .parser import parse_text
from .rules import FUNCTIONS, RESERVED
from .types import parse_declarations

__all__ = ["build", "declared_variable", "default_kind", "parse_text", "parse_declarations",
           "FUNCTIONS", "RESERVED"]
