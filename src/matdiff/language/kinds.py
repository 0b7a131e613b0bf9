"""Kinds from use: each undeclared name's kind (scalar, vector, matrix) before its first letter.

The contract types a name from its declaration, else from its use, else from
its first letter. This pass runs before typing: every node of the syntax
trees gets the set of surface kinds it could have (scalar, col, row, matrix);
each operator and function allows the combinations its own type rule accepts
(found by asking that rule, with every dimension one, so the table is never
written twice); the sets shrink until they agree (arc consistency). A
divisor after `/` is then a scalar, `z` in `x*z` with `x` a vector is a
scalar, and a loss (`goal="scalar"`) types what is added to it. Only where
use leaves a name open does the first letter decide, one name at a time in
order of appearance, each choice propagated before the next. When no kinds
fit at all, every open name keeps its first letter and typing reports the
error as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import MatdiffError
from . import ast
from .types import DimVar, SurfaceType

__all__ = ["Inferred", "infer_kinds", "first_letter_kind", "KIND_WORDS"]

KINDS = ("scalar", "col", "row", "matrix")
NAME_KINDS = frozenset({"scalar", "col", "matrix"})  # a bare name is never a row
KIND_WORDS = {"scalar": "scalar", "col": "vector", "row": "vector", "matrix": "matrix"}
_ORDER = {  # after the first letter's kind, the kind closest to it
    "scalar": ("scalar", "col", "matrix"),
    "col": ("col", "scalar", "matrix"),
    "matrix": ("matrix", "col", "scalar"),
}


def first_letter_kind(name: str) -> str:
    """MatrixCalculus.org's default: a-g scalars, h-z (column) vectors, A-Z matrices."""
    first = name[0]
    if first.isupper():
        return "matrix"
    return "scalar" if first <= "g" else "col"


@dataclass(frozen=True)
class Inferred:
    """The kind chosen for an undeclared name and why ("first letter", or its use)."""

    kind: str     # scalar | col | matrix
    reason: str   # "first letter", or the use that decided, e.g. "divisor of '/' at column 4"

    @property
    def from_use(self) -> bool:
        return self.reason != "first letter"


def _probe_type(kind: str, d: DimVar) -> SurfaceType:
    dims = {"scalar": (), "col": (d,), "row": (d,), "matrix": (d, d), "empty": ()}[kind]
    return SurfaceType(kind, dims)


def _literal(node: ast.Node) -> float | None:
    sign = 1.0
    for _ in range(4):  # -2, --2; not a long chain of minus signs (linear time)
        if not isinstance(node, ast.Neg):
            break
        sign, node = -sign, node.operand
    return sign * node.value if isinstance(node, ast.Number) else None


def _key(node: ast.Node) -> tuple:
    """What a node's kind relation depends on: its operator and its literal arguments."""
    head = (node.op if isinstance(node, ast.BinOp) else node.func if isinstance(node, ast.Call)
            else getattr(node, "shape_key", None))
    return (type(node).__name__, head, tuple(_literal(c) for c in node.children()))


class _Solver:
    def __init__(self, text: str, trees: Sequence[ast.Node], declared: Mapping[str, SurfaceType],
                 assigned: Sequence[str | None], typer, probe) -> None:
        self.text = text
        self.typer = typer  # build.node_type: a node's type from its operands' (its rule)
        self.probe = probe  # a TypeContext of its own, for asking the rules
        self.one = DimVar()
        self.relations: dict[tuple, list[tuple[tuple[str, ...], str]] | None] = {}
        self.domain: dict[object, set[str]] = {}  # id(node) or ("name", name) -> kinds
        self.reason: dict[str, str] = {}
        self.nodes: list[ast.Node] = []            # internal nodes, post-order
        self.order: list[str] = []                 # undeclared names, first appearance
        self.watching: dict[int, list[ast.Node]] | None = None
        self.trail: list[tuple[set[str], frozenset[str]]] = []  # sets as they were, to undo
        self.declared = declared
        self.assigned = {n for n in assigned if n is not None}
        for tree, name in zip(trees, assigned):
            self._walk(tree)
            if name is not None:  # an assigned name is its expression
                self.domain[("name", name)] = self.domain[id(tree)]

    def _walk(self, tree: ast.Node) -> None:
        for node in ast.postorder(tree):
            if isinstance(node, ast.Number):
                self.domain[id(node)] = {"scalar"}
            elif isinstance(node, ast.Empty):
                self.domain[id(node)] = {"empty"}
            elif isinstance(node, ast.Name):
                key = ("name", node.name)
                if key not in self.domain:
                    self.domain[key] = self._name_domain(node.name)
                self.domain[id(node)] = self.domain[key]
            else:
                self.domain[id(node)] = set(KINDS)
                self.nodes.append(node)

    def _name_domain(self, name: str) -> set[str]:
        if name == "eye":
            return {"matrix"}
        if name in self.declared:
            return {self.declared[name].kind}
        if name in self.assigned:
            return set(KINDS)  # replaced by its expression's set
        from .rules import RESERVED

        if name not in RESERVED:
            self.order.append(name)
        return set(NAME_KINDS)

    # ------------------------------------------------------------ relations

    def relation(self, node: ast.Node) -> list[tuple[tuple[str, ...], str]] | None:
        """(children's kinds, the node's kind) for every combination its rule accepts;
        None when the rule fails for a reason other than kinds (typing will say)."""
        key = _key(node)
        if key in self.relations:
            return self.relations[key]
        children = node.children()
        choices = [sorted(self.domain[id(c)]) if isinstance(c, ast.Number | ast.Empty)
                   else KINDS for c in children]
        out: list[tuple[tuple[str, ...], str]] = []
        for combo in itertools.product(*choices):
            try:
                t = self.typer(self.probe, node, [_probe_type(k, self.one) for k in combo])
            except (MatdiffError, ArithmeticError, LookupError, TypeError, ValueError,
                    AttributeError, AssertionError):
                continue  # the rule refuses these kinds (or fails on them): not a fit
            out.append((combo, t.kind))
        result = out or None
        self.relations[key] = result
        return result

    # ------------------------------------------------------------ propagation

    def _watchers(self) -> dict[int, list[ast.Node]]:
        """For each set (by identity), the nodes whose relation reads it."""
        if self.watching is None:
            self.watching = {}
            for node in self.nodes:
                for child in (node, *node.children()):
                    self.watching.setdefault(id(self.domain[id(child)]), []).append(node)
        return self.watching

    def propagate(self, why: str = "", start: list[ast.Node] | None = None) -> bool:
        """Shrink the sets until each node's agrees with its children's (a worklist: a set
        that shrinks wakes the nodes that read it); False when one becomes empty."""
        watching = self._watchers()
        queue = list(self.nodes if start is None else start)
        queued = {id(n) for n in queue}
        while queue:
            node = queue.pop()
            queued.discard(id(node))
            rel = self.relation(node)
            if rel is None:
                continue
            children = node.children()
            doms = [self.domain[id(c)] for c in children]
            mine = self.domain[id(node)]
            fits = [(ks, k) for ks, k in rel
                    if k in mine and all(x in d for x, d in zip(ks, doms))]
            if not fits:
                return False
            shrunk = []
            new_mine = {k for _, k in fits}
            if not mine <= new_mine:
                self.trail.append((mine, frozenset(mine)))
                mine &= new_mine
                shrunk.append(mine)
            for i, (child, dom) in enumerate(zip(children, doms)):
                allowed = {ks[i] for ks, _ in fits}
                if not dom <= allowed:
                    self.trail.append((dom, frozenset(dom)))
                    dom &= allowed
                    shrunk.append(dom)
                    if isinstance(child, ast.Name):
                        self._note(child.name, node, child, why)
            for dom in shrunk:
                for other in watching.get(id(dom), ()):
                    if id(other) not in queued:
                        queued.add(id(other))
                        queue.append(other)
        return True

    def _note(self, name: str, user: ast.Node, operand: ast.Node, why: str) -> None:
        if name in self.reason or name not in self.order:
            return
        dom = self.domain[("name", name)]
        if first_letter_kind(name) in dom and len(dom) > 1:
            return
        use = _describe_use(self.text, user, operand)
        self.reason[name] = f"a loss is a scalar: {use}" if why else use

    def restrict(self, node: ast.Node, kinds: set[str]) -> list[ast.Node]:
        """Narrow a node's set; the nodes to wake."""
        self.domain[id(node)] &= kinds
        return list(self._watchers().get(id(self.domain[id(node)]), ()))

    def _all_first_letters(self) -> None:
        """Fix every open name whose first letter's kind fits to that kind at once, kept
        when it stays consistent (most texts: one propagation instead of one per name);
        the same choice the one-by-one loop makes, since a kind of a consistent whole is
        never ruled out by propagation. Undone otherwise."""
        mark, noted = len(self.trail), set(self.reason)
        woken: list[ast.Node] = []
        for name in self.order:
            dom = self.domain[("name", name)]
            kind = first_letter_kind(name)
            if len(dom) > 1 and kind in dom:
                self.trail.append((dom, frozenset(dom)))
                dom &= {kind}
                woken += self._watchers().get(id(dom), ())
        if self.propagate(start=woken):
            return
        while len(self.trail) > mark:
            changed, was = self.trail.pop()
            changed |= was
        for other in set(self.reason) - noted:
            del self.reason[other]

    def choose(self) -> dict[str, Inferred] | None:
        """Each open name's kind, the first letter's where its use leaves it open."""
        decided = {n for n in self.order if len(self.domain[("name", n)]) == 1}
        self._all_first_letters()
        chosen: dict[str, Inferred] = {}
        for name in self.order:
            dom = self.domain[("name", name)]
            if not dom:
                return None
            if len(dom) == 1:
                kind = next(iter(dom))
                reason = self.reason.get(name, "first letter")
                if name not in decided and kind == first_letter_kind(name):
                    reason = "first letter"  # fixed with the others, not by its use
                if kind != first_letter_kind(name) and reason == "first letter":
                    reason = "its use"
                chosen[name] = Inferred(kind, reason)
                continue
            for kind in [k for k in _ORDER[first_letter_kind(name)] if k in dom]:
                if self._try(name, dom, kind):
                    break
            else:
                return None
            kind = next(iter(dom))
            reason = ("first letter" if kind == first_letter_kind(name)
                      else self.reason.get(name, "its use"))
            chosen[name] = Inferred(kind, reason)
        return chosen

    def _try(self, name: str, dom: set[str], kind: str) -> bool:
        """Fix `name` to `kind` and propagate; undone (False) when no kinds fit then, as in
        `x - x'`, where x cannot be the vector its first letter says."""
        mark, noted = len(self.trail), set(self.reason)
        self.trail.append((dom, frozenset(dom)))
        dom &= {kind}
        if self.propagate(start=list(self._watchers().get(id(dom), ()))):
            return True
        while len(self.trail) > mark:
            changed, was = self.trail.pop()
            changed |= was
        for other in set(self.reason) - noted:
            del self.reason[other]
        self.reason.setdefault(name, f"its use rules out a {KIND_WORDS[kind]}")
        return False


def _at(text: str, node: ast.Node) -> str:
    if "\n" in text.strip():
        return f"line {node.line}, column {node.column}"
    return f"column {node.column}"


def _describe_use(text: str, user: ast.Node, operand: ast.Node) -> str:
    """'divisor of '/' at column 4', 'with '*' at column 2', 'in max() at column 1'."""
    where = _at(text, user)
    if isinstance(user, ast.BinOp):
        if user.op == "/" and operand is user.right:
            return f"a divisor after '/' at {where}"
        return f"its use with '{user.spelling}' at {where}"
    if isinstance(user, ast.Call):
        return f"its use in {user.func}() at {where}"
    if isinstance(user, ast.Brackets):
        return f"its place in [...] at {where}"
    return f"its use at {where}"


def _terms_names(trees: Sequence[ast.Node], assigned: Sequence[str | None]) -> set[str]:
    """The names a loss's scalar type may reach: through sums, differences, products and
    quotients of its last expression (and the intermediates it names), not into calls."""
    where = {name: tree for tree, name in zip(trees, assigned) if name is not None}
    out: set[str] = set()
    stack = [trees[-1]]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ast.Name):
            if node.name in where:
                stack.append(where[node.name])
            else:
                out.add(node.name)
        elif isinstance(node, ast.Neg) or (
                isinstance(node, ast.BinOp) and node.op in ("+", "-", "*", "/", ".*", "./")):
            stack.extend(node.children())
    return out


def _solve(text, trees, declared, assigned, goal, typer, probe, relations
           ) -> dict[str, Inferred]:
    solver = _Solver(text, trees, declared, assigned, typer, probe)
    solver.relations = relations
    fallback = {n: Inferred(first_letter_kind(n), "first letter") for n in solver.order}
    if not solver.order:
        return {}
    if not solver.propagate():
        return fallback
    if goal == "scalar" and trees:
        woken = solver.restrict(trees[-1], {"scalar"})
        if not solver.propagate("a loss is a scalar", start=woken):
            return fallback
    chosen = solver.choose()
    return fallback if chosen is None else chosen


def infer_kinds(text: str, trees: Sequence[ast.Node], declared: Mapping[str, SurfaceType],
                assigned: Sequence[str | None] | None = None, goal: str | None = None,
                typer=None, probe=None) -> dict[str, Inferred]:
    """Every undeclared name's kind, from use first and the first letter last.

    `trees` are a program's right-hand sides (one for an expression), `assigned`
    the names they are assigned to; `goal="scalar"` says the last tree is a loss.
    `typer(ctx, node, operand types)` is the language's type rule of a node (build.py's
    node_type) and `probe` a TypeContext to ask it in, so this module imports neither.

    A loss types what is added to it or scales it (`reg` in `... + reg*sum(W.^2)`), never what is
    inside a call (`relu(W*x)` as a loss does not make W and x scalars: it is not one),
    and never a matrix by its capital (`X*w - y` is not a scalar loss with X a number).
    """
    assigned = list(assigned) if assigned is not None else [None] * len(trees)
    relations: dict = {}
    plain = _solve(text, trees, declared, assigned, None, typer, probe, relations)
    if goal != "scalar" or not trees:
        return plain
    typed = _solve(text, trees, declared, assigned, goal, typer, probe, relations)
    reach = _terms_names(trees, assigned)
    changed = [n for n in typed if typed[n].kind != plain[n].kind]
    if any(n not in reach or first_letter_kind(n) == "matrix" for n in changed):
        return plain  # the loss is not a scalar: the caller says so
    return typed
