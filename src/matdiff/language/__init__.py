"""Text -> syntax tree (parser.py, grammar.lark) -> typed IR (build.py, rules.py)."""

from .build import build, declared_variable, default_kind
from .parser import parse_text
from .rules import FUNCTIONS, RESERVED
from .types import parse_declarations

__all__ = ["build", "declared_variable", "default_kind", "parse_text", "parse_declarations",
           "FUNCTIONS", "RESERVED"]
