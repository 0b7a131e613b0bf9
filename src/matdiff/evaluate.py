"""Direct evaluation of IR with NumPy: the reference every faster path is checked against.

Dimensions are bound from the values given; a missing variable, a value of
the wrong shape or a dimension two values disagree on is an EvaluationError
or ShapeError naming the variable. Products go through opt_einsum with the
contraction order planned once per subscripts and shapes. Diagonal and
broadcast structure is kept as vectors inside a product and only written out
densely when a result must have that shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import EvaluationError, MatdiffError, ShapeError
from .ir.expr import Expr, dim_parts, topo_order
from .ir.ops import AXIS_OPS, NAMESPACE, SPECS, WINDOW_OPS, Op, array_call, helper_sources
from .ir.properties import is_signs, label_of
from .signature import bind_shape, missing_message, settle_sums

__all__ = ["evaluate", "evaluate_each", "bind_values", "einsum_value", "NUMPY", "DENSE_LIMIT",
           "check_dense"]

# The most numbers a dense result may hold (2 GiB of float64). The Jacobian of
# softmax(X, 2) at 1000 x 100 is 10^10 (80 GB): refused with a pointer to the
# structured form instead of exhausting the machine's memory.
DENSE_LIMIT = 2**28


def bind_values(root: Expr, values: Mapping[str, Any],
                variables: Mapping[str, Expr] | None = None,
                check_symmetric: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Check and convert the values of root's variables; bind symbolic dimensions.

    `variables` are the whole expression's: a derivative may have lost some of
    them (d(w + x)/dw is eye), yet their values still tell the dimensions.
    """
    if not isinstance(values, Mapping):
        raise EvaluationError("values must be a dict of name -> array, "
                              f"not {type(values).__name__}")
    arrays: dict[str, np.ndarray] = {}
    dims: dict[str, int] = {}
    source: dict[str, str] = {}
    required = [n for n in topo_order(root) if n.op is Op.VAR]
    optional = [v for v in (variables or {}).values() if v.name in values]
    for node in required + optional:
        if node.name in arrays:
            continue
        name = node.name
        if name not in values:
            needed = list(dict.fromkeys(n.name for n in required))
            raise EvaluationError(missing_message([n for n in needed if n not in values],
                                                  needed))
        try:
            raw = np.asarray(values[name])
        except (TypeError, ValueError):
            raw = np.asarray(None)
        if raw.dtype.kind not in "biuf":
            raise EvaluationError(f"the value of '{name}' is not an array of real numbers "
                                  f"(its dtype is {raw.dtype})")
        arr = raw.astype(np.float64, copy=False)
        bind_shape(name, node.shape, arr.shape, dims, source)
        if check_symmetric and node.attr[1] and not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12):
            raise EvaluationError(f"'{name}' is declared symmetric but its value is not")
        if not np.all(np.isfinite(arr)):
            raise EvaluationError(f"the value of '{name}' has NaN or infinite entries")
        if check_symmetric and label_of(node) is not None:
            _check_label(name, arr, label_of(node))
        if check_symmetric and is_signs(node) and np.any(np.abs(arr) != 1):
            raise EvaluationError(f"'{name}' is declared labels(-1, 1), but has entries "
                                  "other than -1 and 1")
        arrays[name] = arr
    _settle_sums(dims, source)
    return arrays, dims


def _settle_sums(dims: dict[str, int], source: dict[str, str]) -> None:
    """A concatenated axis (n+m) bound from a value agrees with its parts, and tells the
    parts no value gives (signature.settle_sums)."""
    problem = settle_sums(dims, source)
    if problem:
        raise ShapeError(problem)


def _check_label(name: str, arr: np.ndarray, label: tuple[str, str]) -> None:
    """A value declared a distribution: entries >= 0 summing to 1 (per row or column),
    and for one-hot labels every entry 0 or 1."""
    kind, along = label
    axis = {"all": None, "rows": 1, "cols": 0}[along]
    where = {"all": "its entries", "rows": "each row", "cols": "each column"}[along]
    if np.any(arr < 0):
        raise EvaluationError(f"'{name}' is declared a {kind} label, but has negative entries")
    if kind == "one-hot" and np.any((arr != 0) & (arr != 1)):
        raise EvaluationError(f"'{name}' is declared one-hot, but has entries other than 0 "
                              "and 1")
    sums = np.ravel(arr.sum(axis=axis))
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-8):
        worst = sums[np.argmax(np.abs(sums - 1))]
        raise EvaluationError(f"'{name}' is declared a {kind} label, so {where} must sum to "
                              f"1, but sums to {worst:g}")


def _size(d, dims: Mapping[str, int]) -> int:
    if isinstance(d, int):
        return d
    if d not in dims and len(dim_parts(d)) > 1:  # a concatenated axis: n+m
        return sum(_size(p, dims) for p in dim_parts(d))
    if d not in dims:
        raise EvaluationError(f"the size {d} cannot be told from the values given "
                              "(it belongs only to a constant such as vector(1) or eye)")
    return dims[d]


@lru_cache(maxsize=4096)
def _planned(subscripts: str, shapes: tuple) -> Callable:
    import opt_einsum

    return opt_einsum.contract_expression(subscripts, *shapes)


def einsum_value(attr: tuple, arrays: list[np.ndarray], dims: Mapping[str, int]) -> np.ndarray:
    """The value of an EINSUM node (see ir.expr) from its operands' values."""
    from opt_einsum import get_symbol

    ins, out, label_dims = attr
    sizes = [_size(d, dims) for d in label_dims]
    present = {x for lab in ins for x in lab}
    unique_out = list(dict.fromkeys(out))
    computed = [x for x in unique_out if x in present]
    factor = 1.0
    for x in range(len(sizes)):  # sums over labels no operand carries
        if x not in present and x not in out:
            factor *= sizes[x]
    if any(not lab for lab in ins):  # scalar factors: applied once, to the result
        for a, lab in zip(arrays, ins):
            if not lab:
                factor = factor * a
        ins = tuple(lab for lab in ins if lab)
        arrays = [a for a in arrays if np.ndim(a)]
    if arrays:
        letters = [get_symbol(i) for i in range(len(sizes))]
        sub = ",".join("".join(letters[x] for x in lab) for lab in ins)
        sub += "->" + "".join(letters[x] for x in computed)
        if len(arrays) == 1:
            result = np.einsum(sub, arrays[0])
        else:
            result = _planned(sub, tuple(a.shape for a in arrays))(*arrays)
    else:
        result = np.float64(1.0)
    if factor != 1.0:
        result = result * factor
    if len(computed) < len(unique_out):  # broadcast over labels no operand carries
        result = np.reshape(result, [sizes[x] if x in present else 1 for x in unique_out])
        result = np.broadcast_to(result, [sizes[x] for x in unique_out])
    if len(unique_out) < len(out):  # a label repeated in the output: a diagonal
        full = np.zeros([sizes[x] for x in out])
        index = []
        for x in out:
            u = unique_out.index(x)
            shape = [1] * len(unique_out)
            shape[u] = sizes[x]
            index.append(np.arange(sizes[x]).reshape(shape))
        full[tuple(index)] = result
        result = full
    return result


def _array_functions() -> dict[Op, Callable]:
    """op -> f(*argument values), compiled from the op spec's array function.

    The same template the code generator writes into modules, run here with
    NumPy as the namespace (library source, never user text).
    """
    namespace: dict[str, Any] = {"np": np, NAMESPACE: np}
    for source in helper_sources().values():
        exec(source, namespace)
    table = {}
    for op, spec in SPECS.items():
        if spec.kind in ("elementwise", "matrix"):
            args = [f"a{k}" for k in range(spec.arity)]
            body = array_call(op).format(*args)
            table[op] = eval(f"lambda {', '.join(args)}: {body}", namespace)
            if op in AXIS_OPS:  # softmax(X, 2): the node's axis passed on as axis=
                table[op] = eval(f"lambda a0, axis=None: {body[:-1]}, axis=axis)", namespace)
    return table


def _window_functions() -> dict[Op, Callable]:
    """op -> f(*argument values, *attr) for the window ops (conv2, maxpool, ...)."""
    namespace: dict[str, Any] = {"np": np, NAMESPACE: np}
    for source in helper_sources().values():
        exec(source, namespace)
    return {op: namespace[SPECS[op].array] for op in WINDOW_OPS}


# op -> f(node, argument values, dims); every op but VAR and EINSUM
NUMPY: dict[Op, Callable] = {
    Op.CONST: lambda n, args, dims: np.broadcast_to(np.float64(n.attr),
                                                    [_size(d, dims) for d in n.shape]),
    Op.SIZE: lambda n, args, dims: np.float64(np.prod([_size(d, dims) for d in n.attr])),
    Op.ADD: lambda n, args, dims: sum(args[1:], start=args[0]),
    Op.CONCAT: lambda n, args, dims: np.concatenate(
        [a if np.ndim(a) == n.ndim else np.expand_dims(a, n.attr) for a in args], axis=n.attr),
    **{op: (lambda n, a, d, f=f: f(*a)) for op, f in _array_functions().items()},
    **{op: (lambda n, a, d, f=f: f(*a, axis=n.attr))
       for op, f in _array_functions().items() if op in AXIS_OPS},
    **{op: (lambda n, a, d, f=f: f(*a, *n.attr)) for op, f in _window_functions().items()},
}


def check_dense(shape, dims: Mapping[str, int]) -> None:
    """Refuse, with an EvaluationError, a dense tensor of more than DENSE_LIMIT numbers."""
    entries = 1
    for d in shape:
        entries *= d if isinstance(d, int) else dims.get(d, 1)
    if entries > DENSE_LIMIT:
        sizes = " x ".join(str(d if isinstance(d, int) else dims.get(d, d)) for d in shape)
        raise EvaluationError(
            f"a dense tensor of {sizes} = {entries:,} numbers ({entries * 8 / 2**30:,.1f} GiB) "
            f"is more than the limit of {DENSE_LIMIT:,}: for a Jacobian, compile(structured=True) "
            "keeps a diagonal or block-diagonal one without its zeros, and J @ v or u @ J "
            "apply it")


def _apply(node: Expr, args: list, dims: Mapping[str, int]):
    try:
        return NUMPY[node.op](node, args, dims)
    except np.linalg.LinAlgError:
        raise EvaluationError(f"{node.op.value}(): the matrix is singular") from None


def evaluate(root: Expr, values: Mapping[str, Any], variables: Mapping[str, Expr] | None = None,
             check_symmetric: bool = True, dims: Mapping[str, int] | None = None
             ) -> np.ndarray | np.float64:
    """The value of root: an array of root's shape with its dimensions bound, or a scalar.

    `dims` binds sizes no value tells (a lone `eye`); values that tell a size
    must agree with it. `check_symmetric=False` lets finite differences step
    off a symmetric value.
    """
    arrays, bound = bind_values(root, values, variables, check_symmetric)
    for name, size in (dims or {}).items():
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise EvaluationError(f"the size of dimension {name} must be a whole number >= 1, "
                                  f"not {size!r}")
        if bound.setdefault(name, int(size)) != size:
            raise ShapeError(f"dimension {name} is {bound[name]} in the values but {size} "
                             "in dims")
    dims = bound
    for node in topo_order(root):
        check_dense(node.shape, dims)
    computed: dict[Expr, Any] = {}
    with np.errstate(all="ignore"):
        for node in topo_order(root):
            if node.op is Op.VAR:
                computed[node] = arrays[node.name]
            elif node.op is Op.EINSUM:
                computed[node] = einsum_value(node.attr, [computed[a] for a in node.args], dims)
            else:
                computed[node] = _apply(node, [computed[a] for a in node.args], dims)
    result = computed[root]
    if np.ndim(result) == 0:
        return np.float64(result)
    return np.array(result, dtype=np.float64)  # a fresh, writable array


def evaluate_each(roots: list[Expr], values: Mapping[str, Any], variables: Mapping[str, Expr],
                  check_symmetric: bool = True) -> list[np.ndarray | None]:
    """The value of each root (None for one that cannot be evaluated), the nodes they
    share computed once: the kinks and reductions a search for points looks at are
    small expressions over one function's values, evaluated thousands of times."""
    out: list[np.ndarray | None] = []
    try:
        arrays, dims = bind_values(roots[0] if roots else None, values, variables,
                                   check_symmetric) if roots else ({}, {})
    except MatdiffError:
        return [None] * len(roots)
    computed: dict[Expr, Any] = {}
    with np.errstate(all="ignore"):
        for root in roots:
            try:
                for node in topo_order(root, computed):
                    check_dense(node.shape, dims)
                    if node.op is Op.VAR:
                        computed[node] = arrays[node.name]
                    elif node.op is Op.EINSUM:
                        computed[node] = einsum_value(node.attr, [computed[a] for a in node.args],
                                                      dims)
                    else:
                        computed[node] = _apply(node, [computed[a] for a in node.args], dims)
                out.append(np.asarray(computed[root], dtype=np.float64))
            except (MatdiffError, KeyError):
                out.append(None)
    return out

