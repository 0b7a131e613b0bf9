"""Build one generated NumPy module from IR roots: names, shape checks, body, docstring.

`build_module` runs the steps in order: name the parameters and lengths
(naming.py), rewrite into stable forms (stable.py), plan and lower the
program's lines and the outputs (lower.py), keep each output in its form
(dense, a diagonal's vector, block-diagonal factors), then render the body
and wrap it in a module (assemble.py). The only text taken from the user is
variable names, and only after `naming.code_names` accepts them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..errors import MatdiffError
from ..ir import expr as ir
from ..ir.expr import Dim, Expr, dim_parts, topo_order
from ..ir.ops import Op
from .assemble import assemble, describer, shape_checks
from .backends import BACKENDS, Backend
from .blockplan import block_terms, emit_blocks
from .blocks import BlockPlan
from .distribute import distribute_where_cheaper
from .factor import factor_sums
from .lower import Lowering, shared_exponentials
from .naming import CodeNames, code_names
from .program import Instructions, Spelling
from .signs import share_negated_sums
from .stable import stable_forms
from .values import Val

__all__ = ["Output", "ModuleSpec", "build_module", "DEFAULT_PLAN_SIZE", "layout"]

DEFAULT_PLAN_SIZE = 1000  # the length assumed for a dimension when no values are given


@dataclass(frozen=True)
class Output:
    """One result of a generated function: an IR root and how to return it."""

    ir: Expr
    structured: bool = False  # return a diagonal as its vector (wrapped in Diagonal), a
    # block-diagonal Jacobian as its factors (wrapped in BlockDiagonal)
    split: int | None = None  # where the function's axes end and the variable's begin


@dataclass(frozen=True)
class ModuleSpec:
    """What a generated module computes: outputs over variables, with a title for its docs."""

    outputs: tuple[Output, ...]
    variables: Mapping[str, Expr]
    function: str = "derivative"
    title: str = ""
    returns: str = ""
    tail_tuple: bool = False  # return (first, (rest...)): value_and_grad with a list of names
    names: Mapping[Expr, str] | None = None  # nodes a source program names (z1, dW1)
    # lines computed in order before the outputs, as a program's (name None: unnamed);
    # a variable named after an earlier line is that line's value
    lines: tuple[tuple[str | None, Expr], ...] = ()


def layout(spec: ModuleSpec) -> tuple[list[str], list[str], list[str]]:
    """(variables the outputs use, every dimension symbol, symbols those variables leave free).

    The generated function takes the used variables, then one length per free
    symbol (a dimension only a constant such as `vector(1)` or `eye` has).
    """
    roots = [e for _, e in spec.lines] + [o.ir for o in spec.outputs]
    lined = {n for n, _ in spec.lines if n is not None}
    used: set[str] = set()
    symbols: list[str] = []
    for root in roots:
        for node in topo_order(root):
            if node.op is Op.VAR and node.name not in lined:
                used.add(node.name)
            for d in _dims_of(node):
                for p in dim_parts(d):  # a concatenated axis n+m: its parts are the sizes
                    if isinstance(p, str) and p not in symbols:
                        symbols.append(p)
    missing = used - set(spec.variables)
    if missing:
        raise MatdiffError(f"variables {sorted(missing)} are not among the expression's")
    required = [n for n in spec.variables if n in used]
    bound = {d for n in required for d in spec.variables[n].shape if isinstance(d, str)}
    for n in required:
        for d in spec.variables[n].shape:
            if isinstance(d, str) and d not in symbols:
                symbols.append(d)
    return required, symbols, [d for d in symbols if d not in bound]


def _dims_of(node: Expr) -> tuple[Dim, ...]:
    if node.op is Op.EINSUM:
        return tuple(node.shape) + tuple(node.attr[2])
    if node.op is Op.SIZE:
        return tuple(node.attr)
    return tuple(node.shape)


def build_module(spec: ModuleSpec, sizes: Mapping[str, int] | None = None,
                 comments: bool = True, blocks: bool = True,
                 backend: Backend | None = None) -> tuple[str, list[bool | BlockPlan]]:
    """(source of a module defining spec.function, how each output is returned: False
    dense, True as a diagonal's vector, a BlockPlan as (shape, factors...)).

    `sizes` gives the dimension lengths the contraction orders are planned for;
    `blocks=False` (other backends) returns block-diagonal Jacobians dense;
    `backend` (None: NumPy) the array library the same plan is spelled for.
    """
    if backend is not None and backend.name == "numpy":
        backend = None
    names, symbols, free = layout(spec)
    codes = code_names(names, symbols)
    size = _planning_size(dict(sizes or {}))
    program_lines, roots = _in_stable_forms(spec)
    low = _lowering(spec, codes, size, comments, backend,
                    [e for _, e in program_lines] + roots)
    _lower_program_lines(low, program_lines)
    results = _lower_outputs(low, spec, _planned(roots, low), blocks, backend)
    opening, spell = _opening(spec, names, codes, backend)
    body, returned = low.prog.render(results.refs, codes.taken, spell)
    lines = opening + body + _return_lines(spec, returned, results.blocks)
    planned = ", ".join(f"{codes.dims[d]} = {size(d)}" for d in symbols)
    text = assemble(spec, codes.params, [codes.dims[d] for d in free], lines, planned, backend)
    return text, results.forms


def _planning_size(sizes: Mapping[str, int]) -> Callable[[Dim], int]:
    """dimension -> the length its contraction orders are planned for: given in `sizes`,
    the sum of its parts' for a concatenated one (n+m), else DEFAULT_PLAN_SIZE."""

    def size(d: Dim) -> int:
        if isinstance(d, str) and d not in sizes and len(dim_parts(d)) > 1:
            return sum(size(p) for p in dim_parts(d))
        return d if isinstance(d, int) else int(sizes.get(d, DEFAULT_PLAN_SIZE))

    return size


def _in_stable_forms(spec: ModuleSpec) -> tuple[list[tuple[str | None, Expr]], list[Expr]]:
    """(the program's lines, the outputs' roots), rewritten together in stable forms."""
    rewritten = stable_forms([e for _, e in spec.lines] + [o.ir for o in spec.outputs],
                             [n for n, _ in spec.lines])
    count = len(spec.lines)
    return list(zip([n for n, _ in spec.lines], rewritten[:count])), rewritten[count:]


def _lowering(spec: ModuleSpec, codes: CodeNames, size: Callable[[Dim], int], comments: bool,
              backend: Backend | None, exprs: list[Expr]) -> Lowering:
    """A Lowering into fresh Instructions, set up for `backend` (None: NumPy)."""
    describe = describer(spec.variables) if comments else None
    prog = Instructions()
    prog.numbers.update(codes.dims.values())  # lengths are Python numbers
    low = Lowering(prog, codes.params, codes.dim_code, size, describe, spec.names)
    low.one_hot = (backend or BACKENDS["numpy"]).one_hot  # indexing one-hot rows (onehot.py)
    # broadcast products laid out for NumPy's ufuncs and einsum, for another library run
    # call by call, or left to a library that compiles the whole function (outer.py)
    low.library = "numpy" if backend is None else "fused" if backend.jit else "eager"
    if backend is None or "_softmax" not in backend.helpers:
        # one exp for a softmax and a logsumexp of the same argument; a library with
        # its own fused softmax kernel (PyTorch) runs that and its logsumexp instead
        low.shared_exp = shared_exponentials(exprs)
    return low


def _planned(roots: list[Expr], low: Lowering) -> list[Expr]:
    """`roots` reshaped for the fewest flops at the planned sizes, reusing what `low` has."""
    shaped = factor_sums(share_negated_sums(roots), low.size)
    return distribute_where_cheaper(shaped, low.size, computed=low.memo)


def _lower_program_lines(low: Lowering, program_lines: list[tuple[str | None, Expr]]) -> None:
    """Lower a program's lines in order, each planned on its own; a named line binds its name."""
    for name, e in program_lines:
        (v,) = low.lower(_planned([e], low))
        low.memo.setdefault(e, v)
        if name is not None:
            low.bind(ir.var(name, e.shape), v, name)


@dataclass
class _Results:
    """The refs the function returns, and how each output is returned (build_module)."""

    refs: list[str] = field(default_factory=list)
    forms: list[bool | BlockPlan] = field(default_factory=list)
    blocks: tuple | None = None  # block_terms' answer for a block-diagonal output


def _lower_outputs(low: Lowering, spec: ModuleSpec, roots: list[Expr], blocks: bool,
                   backend: Backend | None) -> _Results:
    """Lower the outputs, each kept structured where its Output asks and its value allows."""
    results = _Results()
    for o, root, v in zip(spec.outputs, roots, low.lower(roots)):
        if o.structured and v.is_paired_diagonal:
            results.refs.append(_diagonal_vector(low, v))
            results.forms.append(True)
        elif (o.structured and blocks and len(spec.outputs) == 1 and o.split is not None
              and (found := block_terms(root, o.split))):
            plan, refs = emit_blocks(low, *found, o.split, low.shape_code, root.shape)
            results.refs.extend(refs)
            results.forms.append(plan)
            results.blocks = found
        else:
            results.refs.append(_dense(low, v, backend))
            results.forms.append(False)
    return results


def _dense(low: Lowering, v: Val, backend: Backend | None) -> str:
    """A fresh array holding v; another library's 0-d array where v is a Python number."""
    ref = low.materialize(v, writable=True).ref
    if backend is not None and low.prog.is_number(ref):
        ref = low.prog.emit("np.full((), {0})", (ref,))
    return ref


def _diagonal_vector(low: Lowering, v: Val) -> str:
    """The vector (or tensor) along a paired diagonal, as a fresh array of its full shape."""
    half = list(v.pattern[: len(v.pattern) // 2])
    core = Val(v.ref, v.real, tuple(half), v.dims, param=v.param)
    return low.materialize(core, writable=True).ref


def _opening(spec: ModuleSpec, names: list[str], codes: CodeNames,
             backend: Backend | None) -> tuple[list[str], Spelling | None]:
    """(the shape checks that open the function, how the body is spelled; None: NumPy)."""
    checks = shape_checks({n: spec.variables[n] for n in names}, codes.params, codes.dims)
    if backend is None:
        return checks, None
    params = [codes.params[n] for n in names]
    # new arrays take the dtype and device of an array parameter; without array
    # arguments the function takes `like`, an array of the caller's
    arrays = [codes.params[n] for n in names if spec.variables[n].ndim] or params or ["like"]
    spell = backend.spelling(arrays[0])
    checks = [backend.line(ln) for ln in checks]
    if backend.portable:
        checks.insert(0, f"xp = array_namespace({', '.join(params) or 'like'})")
    return checks, spell


def _return_lines(spec: ModuleSpec, returned: list[str], blocks: tuple | None) -> list[str]:
    """The function's last lines: return its results as the docstring promises."""
    if spec.tail_tuple:  # value_and_grad with a list of names: (value, (d/dw, d/db))
        return [f"return {returned[0]}, ({', '.join(returned[1:])},)"]
    if blocks:  # a block-diagonal Jacobian: (its shape, its factors...)
        axes = ", ".join(f"{a}~{b}" for a, b in blocks[1])
        return [f"# block-diagonal over axes {axes}: its shape, then the arrays its products"
                " multiply",
                "return " + ", ".join(returned) + ("," if len(returned) == 1 else "")]
    return ["return " + (returned[0] if len(returned) == 1 else ", ".join(returned))]
