"""The syntax tree of the text language, with source positions for error messages."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Node", "Number", "Name", "Call", "BinOp", "Neg", "Transpose", "Brackets", "Empty",
           "postorder"]


@dataclass(frozen=True, eq=False)
class Node:
    line: int
    column: int

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Number(Node):
    value: float
    text: str


@dataclass(frozen=True, eq=False)
class Name(Node):
    name: str


@dataclass(frozen=True, eq=False)
class Call(Node):
    func: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, eq=False)
class BinOp(Node):
    """op is canonical: + - * .* ./ / ^ .^ dot"""

    op: str
    left: Node
    right: Node
    spelling: str  # the operator as the user wrote it, for messages

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class Neg(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, eq=False)
class Transpose(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, eq=False)
class Brackets(Node):
    """`[a, b; c, d]`: rows separated by `;`, entries of a row by `,`."""

    rows: tuple[tuple[Node, ...], ...]

    def children(self) -> tuple[Node, ...]:
        return tuple(x for row in self.rows for x in row)

    @property
    def shape_key(self) -> tuple[int, ...]:
        return tuple(len(row) for row in self.rows)


@dataclass(frozen=True, eq=False)
class Empty(Node):
    """`[]`, MATLAB's empty matrix: only as the placeholder of max(X, [], d)."""


def postorder(root: Node) -> list[Node]:
    """Every node under root, children before parents (a loop, not recursion)."""
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        for child in reversed(node.children()):
            stack.append((child, False))
    return order
