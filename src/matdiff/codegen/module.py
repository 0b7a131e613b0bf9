"""Build one generated NumPy module from IR roots: names, shape checks, body, docstring.

The only text taken from the user is variable names, and only after
`valid_identifier` accepts them; dimension symbols are renamed to safe
identifiers; the docstring is printed from the IR, not copied from input,
and filtered to a safe character set.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import MatdiffError
from ..ir import expr as ir
from ..ir.expr import Dim, Expr, dim_parts, topo_order
from ..ir.ops import Op
from .backends import Backend
from .blockplan import block_terms, emit_blocks
from .blocks import BlockPlan
from .distribute import distribute_where_cheaper
from .factor import factor_sums
from .lower import Lowering, shared_exponentials
from .program import IDENTIFIER, MODULE_NAMES, Instructions, valid_identifier
from .runtime import HELPERS, helpers_used
from .signs import share_negated_sums
from .stable import stable_forms
from .values import Val

__all__ = ["Output", "ModuleSpec", "build_module", "DEFAULT_PLAN_SIZE", "layout"]

DEFAULT_PLAN_SIZE = 1000  # the length assumed for a dimension when no values are given
# the generator's own names: temporaries t1, t2 and values _v0, _v1 of Instructions (a parameter
# named like one would be read as that value)
_TEMP = re.compile(r"(t|_v)\d+\Z")
_UNSAFE = re.compile(r"[^\w \t+\-*/^'.,:;()\[\]=<>|!·⊙⊘∘∂√²ᵀ⁻¹∑]")


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


def safe_text(text: str, limit: int = 400) -> str:
    """Printed mathematics made safe for a docstring or comment: one line, no escapes."""
    text = " ".join(str(text).split())
    text = _UNSAFE.sub("?", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    for name in names:
        if not IDENTIFIER.match(name):
            raise MatdiffError(f"variable name {name!r} cannot be used in generated code")
    params: dict[str, str] = {}
    taken: set[str] = (set(MODULE_NAMES) | set(HELPERS) | set(keyword.kwlist)
                       | set(keyword.softkwlist))
    for name in names:
        code = name
        while code in taken or _TEMP.match(code):
            code += "_"
        params[name] = code
        taken.add(code)
    dimnames: dict[str, str] = {}
    for k, sym in enumerate(symbols):
        code = sym if valid_identifier(sym) else f"d{k + 1}"
        while code in taken or _TEMP.match(code):
            code += "_"
        dimnames[sym] = code
        taken.add(code)
    rewritten = stable_forms([e for _, e in spec.lines] + [o.ir for o in spec.outputs],
                             [n for n, _ in spec.lines])
    program_lines = list(zip([n for n, _ in spec.lines], rewritten[:len(spec.lines)]))
    roots = rewritten[len(spec.lines):]
    sizes = dict(sizes or {})

    def size(d: Dim) -> int:
        if isinstance(d, str) and d not in sizes and len(dim_parts(d)) > 1:
            return sum(size(p) for p in dim_parts(d))
        return d if isinstance(d, int) else int(sizes.get(d, DEFAULT_PLAN_SIZE))

    def dimcode(d: Dim) -> str:
        if isinstance(d, str) and d not in dimnames:  # n+m: the sum of its parts
            return "(" + " + ".join(dimcode(p) for p in dim_parts(d)) + ")"
        return str(d) if isinstance(d, int) else dimnames[d]

    describe = _describer(spec.variables) if comments else None
    prog = Instructions()
    prog.numbers.update(dimnames.values())  # lengths are Python numbers
    low = Lowering(prog, params, dimcode, size, describe, spec.names)
    low.index_one_hot = backend is None  # NumPy indexes one-hot rows (onehot.py)
    # broadcast products laid out for NumPy's ufuncs and einsum, for another library run
    # call by call, or left to a library that compiles the whole function (outer.py)
    low.library = "numpy" if backend is None else "fused" if backend.jit else "eager"
    if backend is None or "_softmax" not in backend.helpers:
        # one exp for a softmax and a logsumexp of the same argument; a library with
        # its own fused softmax kernel (PyTorch) runs that and its logsumexp instead
        low.shared_exp = shared_exponentials([e for _, e in program_lines] + roots)
    for name, e in program_lines:  # a program's lines, each planned on its own
        shaped = factor_sums(share_negated_sums([e]), size)
        (root,) = distribute_where_cheaper(shaped, size, computed=low.memo)
        (v,) = low.lower([root])
        low.memo.setdefault(e, v)
        if name is not None:
            low.bind(ir.var(name, e.shape), v, name)
    shaped = factor_sums(share_negated_sums(roots), size)
    roots = distribute_where_cheaper(shaped, size, computed=low.memo)
    vals = low.lower(roots)
    outs: list[str] = []
    structured: list[bool | BlockPlan] = []
    found = None
    for o, root, v in zip(spec.outputs, roots, vals):
        if o.structured and v.is_paired_diagonal:
            outs.append(_diagonal_vector(low, v))
            structured.append(True)
        elif (o.structured and blocks and len(spec.outputs) == 1 and o.split is not None
              and (found := block_terms(root, o.split))):
            plan, refs = emit_blocks(low, *found, o.split, low.shape_code, root.shape)
            outs.extend(refs)
            structured.append(plan)
        else:
            ref = low.materialize(v, writable=True).ref
            if backend is not None and prog.is_number(ref):  # a 0-d array of the library
                ref = prog.emit("np.full((), {0})", (ref,))
            outs.append(ref)
            structured.append(False)
    spell = None
    prologue = _prologue({n: spec.variables[n] for n in names}, params, dimnames)
    if backend is not None:  # new arrays take the dtype and device of an array parameter
        # without array arguments the function takes `like`, an array of the caller's
        arrays = [params[n] for n in names if spec.variables[n].ndim] or \
            [params[n] for n in names] or ["like"]
        spell = backend.spelling(arrays[0])
        prologue = [backend.line(ln) for ln in prologue]
        if backend.portable:
            args = ", ".join(params[n] for n in names) or "like"
            prologue.insert(0, f"xp = array_namespace({args})")
    body, results = prog.render(outs, taken, spell)
    lines = prologue + body
    if spec.tail_tuple:  # what the docstring promises: (value, (d/dw, d/db))
        ret = f"{results[0]}, ({', '.join(results[1:])},)"
    elif found:  # a block-diagonal Jacobian: (its shape, its factors...)
        lines.append(f"# block-diagonal over axes {', '.join(f'{a}~{b}' for a, b in found[1])}"
                     ": its shape, then the arrays its products multiply")
        ret = ", ".join(results) + ("," if len(results) == 1 else "")
    else:
        ret = results[0] if len(results) == 1 else ", ".join(results)
    lines.append(f"return {ret}")
    planned = ", ".join(f"{dimnames[d]} = {size(d)}" for d in symbols)
    text = _assemble(spec, params, [dimnames[d] for d in free], lines, planned, backend)
    return text, structured


def _diagonal_vector(low: Lowering, v: Val) -> str:
    """The vector (or tensor) along a paired diagonal, as a fresh array of its full shape."""
    half = list(v.pattern[: len(v.pattern) // 2])
    core = Val(v.ref, v.real, tuple(half), v.dims, param=v.param)
    return low.materialize(core, writable=True).ref


def _prologue(variables: Mapping[str, Expr], params: dict[str, str],
              dimnames: dict[str, str]) -> list[str]:
    """Bind each dimension from the first axis that has it; check every other axis."""
    lines: list[str] = []
    bound: set[str] = set()
    for name, var in variables.items():
        p = params[name]
        shape = var.shape
        if not shape:
            lines.append(f"if np.ndim({p}) != 0:")
            lines.append(f"    raise ValueError('{p} must be a scalar')")
            continue
        fresh = [isinstance(d, str) and d not in bound for d in shape]
        syms = [d for d in shape if isinstance(d, str)]
        if all(fresh) and len(set(syms)) == len(syms):
            lines.append(f"{', '.join(dimnames[d] for d in shape)}{',' if len(shape) == 1 else ''}"
                         f" = {p}.shape")
            bound.update(syms)
            continue
        if any(fresh):
            lines.append(f"if np.ndim({p}) != {len(shape)}:")
            lines.append(f"    raise ValueError('{p} must have {len(shape)} axes')")
        for k, d in enumerate(shape):
            if isinstance(d, str) and d not in bound:
                lines.append(f"{dimnames[d]} = {p}.shape[{k}]")
                bound.add(d)
        want = ", ".join(dimnames[d] if isinstance(d, str) else str(d) for d in shape)
        want = f"({want},)" if len(shape) == 1 else f"({want})"
        lines.append(f"if {p}.shape != {want}:")
        lines.append(f"    raise ValueError(f'{p} has shape {{{p}.shape}}, expected {{{want}}}')")
    return lines


def _assemble(spec: ModuleSpec, params: dict[str, str], free: list[str],
              lines: list[str], planned: str, backend: Backend | None = None) -> str:
    if backend is None:
        helpers = [HELPERS[h].rstrip() for h in helpers_used("\n".join(lines))]
        doc = ["Generated by matdiff: plain NumPy, no dependency on matdiff.", ""]
        header = "import numpy as np"
    else:
        body = "\n".join(lines)
        helpers = ["\n" + h for h in
                   backend.helper_sources([h for h in backend.names() if h + "(" in body])]
        where = ("xp is the namespace of the arrays passed in" if backend.portable
                 else "xp is its standard namespace")
        doc = [f"Generated by matdiff for {backend.name}: the Python array API standard",
               f"({where}), no dependency on matdiff.", ""]
        header = backend.imports(body + "\n".join(helpers))
    if spec.title:
        doc.append(safe_text(spec.title))
    for name, var in spec.variables.items():
        if name not in params:
            continue
        shape = " x ".join(str(d) for d in var.shape) or "scalar"
        sym = " (symmetric)" if var.attr[1] else ""
        doc.append(f"  {params[name]}: {safe_text(shape, 80)}{sym}")
    for d in free:
        doc.append(f"  {d}: a length no variable used here has")
    if backend is not None and not params:
        doc.append("  like: an array whose library, dtype and device the result takes")
    if planned:
        doc += ["", f"Contraction orders planned for {planned};",
                "other sizes give the same results, perhaps more slowly."]
    module = ['"""' + "\n".join(doc).replace("\\", "/").replace('"""', "'''") + '\n"""', "",
              header, ""]
    for h in helpers:
        module.append(h)
        module.append("")
    module.append("")
    given = ["like"] if backend is not None and not params else []
    module.append(f"def {spec.function}({', '.join([*params.values(), *free, *given])}):")
    module.append(f'    """{safe_text(spec.returns or "The result.", 200)}"""')
    module.extend("    " + ln for ln in lines)
    return "\n".join(module) + "\n"


def _describer(variables: Mapping[str, Expr]) -> Callable[[Expr], str | None] | None:
    """IR node -> one line of the text language, when the printer can show it (sizes
    through the module's variables: 1/size(X, 1), not a size no text can tell)."""
    try:
        from ..printing import to_text
    except Exception:  # noqa: BLE001 - comments are optional
        return None

    def describe(node: Expr) -> str | None:
        try:
            text = to_text(node, variables=variables)
        except Exception:  # noqa: BLE001 - a node the printer cannot show gets no comment
            return None
        return safe_text(text, 60) if len(text) <= 60 else None

    return describe
