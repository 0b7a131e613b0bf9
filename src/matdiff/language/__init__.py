"""Text -> syntax tree (parser.py, grammar.lark) -> typed IR (build.py)."""

from .build import FUNCTIONS, RESERVED, build, declared_variable
from .parser import parse_text

__all__ = ["build", "declared_variable", "parse_text", "FUNCTIONS", "RESERVED"]
