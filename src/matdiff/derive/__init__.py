"""Differentiation: the rule table (rules.py) and the forward-mode pass (engine.py)."""

from .engine import differentiate
from .rules import ELEMENTWISE_DERIVATIVES, RULES

__all__ = ["differentiate", "RULES", "ELEMENTWISE_DERIVATIVES"]
