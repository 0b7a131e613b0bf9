"""One expression as a program: its pre-activations named, so reverse mode shares them.

    -sum(Y .* logsoftmax(relu(X*W1 + b1')*W2 + b2', 2))/size(X, 1)

becomes `z1 = X*W1 + b1'`, `z2 = relu(z1)*W2 + b2'`, then the loss over z2:
the lines a person writes before the backward pass. Each argument of a
function (relu, tanh, logsumexp, .^2, ...) that depends on a variable being
differentiated is named; the backward pass over these lines then has one
error signal per pre-activation (`dz1`), and every gradient sharing it is a
product with that one array (`dW1 = X'*dz1`, `db1 = sum(dz1, 1)'`), as
in a hand-written pass, instead of one separate derivative per variable.
Only products and sums are named, never a function's output: a composition
such as log(softmax(z)) stays in one line, whose derivative the simplifier
writes as softmax(z) - y, where a line `p = softmax(z)` would leave the
backward pass to chain -y./p back through p (infinite once p underflows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..ir.expr import Expr, topo_order
from ..ir.ops import Op
from ..ir.substitute import substitute
from ..language.program import Program, Statement, intermediate_leaf, single
from .reverse import BackwardPass, backward_pass

__all__ = ["split", "split_pass", "shares_a_signal", "name_nodes"]

_STRUCTURE = frozenset({Op.VAR, Op.CONST, Op.SIZE, Op.EINSUM, Op.ADD})


def _kind(e: Expr) -> str:
    return {0: "scalar", 1: "col"}.get(e.ndim, "matrix")


def split(root: Expr, inputs: Mapping[str, Expr], wrt: Sequence[str], text: str = "",
          declare: Mapping[str, str] | None = None) -> Program | None:
    """The program naming root's pre-activations `z1, z2, ...` (None: nothing to name);
    `declare` as for language.program.single (printed lines are read back with it)."""
    targets = set(wrt)
    depends: dict[Expr, bool] = {}
    named: list[Expr] = []
    for node in topo_order(root):
        if node.op is Op.VAR:
            depends[node] = node.name in targets
            continue
        depends[node] = any(depends[a] for a in node.args)
        if node.op not in _STRUCTURE:
            for a in node.args:  # a pre-activation: a product or sum, never a function's
                # output (log(softmax(z)) cut at softmax would chain -Y./P back through P)
                if a.op in _STRUCTURE and a.args and depends[a] and a is not root \
                        and a not in named:
                    named.append(a)
    if not named:
        return None
    taken = set(inputs) | set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    nodes = []
    for k, node in enumerate([n for n in topo_order(root) if n in set(named)], 1):
        name = f"z{k}"
        while name in taken:
            name += "_"
        taken.add(name)
        nodes.append((name, node))
    return name_nodes(root, inputs, nodes, text, declare)


def split_pass(root: Expr, inputs: Mapping[str, Expr], wrt: Sequence[str], text: str = "",
               declare: Mapping[str, str] | None = None) -> BackwardPass | None:
    """The backward pass over root's named pre-activations; None when there is nothing to
    name, or the pass over them cannot be built (the caller derives each gradient then)."""
    if len(wrt) < 2 or not all(n in inputs for n in wrt):
        return None
    try:
        program = split(root, inputs, wrt, text, declare)
        return backward_pass(program, wrt) if program is not None else None
    except Exception:  # noqa: BLE001 - no split: one derivative per name instead
        return None


def shares_a_signal(bp: BackwardPass) -> bool:
    """Whether some error signal of the pass is read by two lines or more (`dz1` by `dW1`
    and `db1`): then its printed text names it once instead of repeating it."""
    signals = {ln.name for ln in bp.lines if ln.kind == "signal"}
    reads = dict.fromkeys(signals, 0)
    for ln in bp.lines:
        for name in {n.name for n in topo_order(ln.expr) if n.op is Op.VAR} & signals:
            reads[name] += 1
    return any(k >= 2 for k in reads.values())


def name_nodes(root: Expr, inputs: Mapping[str, Expr], nodes: Sequence[tuple[str, Expr]],
               text: str = "", declare: Mapping[str, str] | None = None,
               kinds: Mapping[str, str] | None = None) -> Program:
    """root as a program with a line `name = node` for each (name, node) in order (each
    node over the inputs, as it occurs in root), the function last over those names.
    A node that root does not compute gives a line no other line reads."""
    mapping: dict[Expr, Expr] = {}
    memo: dict[Expr, Expr] = {}
    statements: list[Statement] = []
    for k, (name, node) in enumerate(nodes, 1):
        local = _local(node, mapping, memo)
        mapping[node] = memo[node] = intermediate_leaf(name, node.shape)
        kind = (kinds or {}).get(name) or _kind(node)
        statements.append(Statement(name, local, node, kind, k, 1, ""))
    final = _local(root, mapping, memo)
    statements.append(Statement(None, final, root, _kind(root), len(nodes) + 1, 1, text))
    base = single(root, dict(inputs), text, _kind(root), declare)
    names = [name for name, _ in nodes]
    return replace(base, statements=tuple(statements), text=" ".join([text, *sorted(names)]),
                   named=tuple(names))


def _local(root: Expr, mapping: dict[Expr, Expr], memo: dict[Expr, Expr]) -> Expr:
    """root over the names in `mapping`, a named sum found again among a longer sum's terms
    (`z2 - logsumexp(z2)`: the sum z2 was flattened into the outer one when built)."""
    sums = [(n, set(n.args)) for n in mapping if n.op is Op.ADD]

    def args(node: Expr, memo: dict[Expr, Expr]) -> tuple[Expr, ...]:
        if node.op is Op.ADD:
            for named, terms in sums:
                if terms < set(node.args):
                    return (mapping[named], *(memo[a] for a in node.args if a not in terms))
        return tuple(memo[a] for a in node.args)

    return substitute(root, mapping, memo, args)
