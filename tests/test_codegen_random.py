"""Random IR, built with the constructors of matdiff.ir.expr, compiles to code equal to evaluate().

The generator reaches what the parser rarely produces: products with
diagonal and broadcast output indices, traces and diagonals of operands,
sums mixing diagonal and dense terms, functions of diagonals, nested
products beyond the fusion limit. Hypothesis draws a seed; each seed is one
expression, compiled for two shape signatures (so that planning differs).
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matdiff.codegen import Diagonal
from matdiff.codegen.compile import CompiledFunction
from matdiff.codegen.module import ModuleSpec, Output
from matdiff.evaluate import evaluate
from matdiff.ir import expr as ir
from matdiff.ir.ops import Op

VARS = {
    "A": ir.var("A", ("n", "n")),
    "S": ir.var("S", ("n", "n"), symmetric=True),
    "B": ir.var("B", ("n", "m")),
    "x": ir.var("x", ("n",)),
    "y": ir.var("y", ("m",)),
    "s": ir.var("s", ()),
}
SHAPES = [(), ("n",), ("m",), ("n", "n"), ("n", "m"), ("m", "n")]
SAFE_UNARY = [Op.SIN, Op.COS, Op.TANH, Op.ABS, Op.SIGMOID, Op.RELU, Op.SOFTPLUS, Op.STEP,
              Op.EXP, Op.SIGN, Op.SINH]


def _leaf(r: random.Random, shape) -> ir.Expr:
    options = [v for v in VARS.values() if v.shape == shape]
    if shape == ("m", "n"):  # a transpose
        return ir.einsum([VARS["B"]], [[1, 0]], [0, 1])
    if not options or r.random() < 0.1:
        return ir.const(r.choice([0.5, 2.0, -1.5]), shape)
    return r.choice(options)


def _gen(r: random.Random, shape, depth: int) -> ir.Expr:
    if depth == 0:
        return _leaf(r, shape)
    kind = r.choice(["einsum", "einsum", "einsum", "add", "unary", "binary", "matrix"])
    if kind == "add":
        return ir.add([_gen(r, shape, depth - 1), _gen(r, shape, depth - 1)])
    if kind == "unary":
        return ir.unary(r.choice(SAFE_UNARY), _gen(r, shape, depth - 1))
    if kind == "binary":
        op = r.choice([Op.MAX, Op.MIN, Op.POW, Op.EQ])
        if op is Op.POW:
            return ir.binary(op, _gen(r, shape, depth - 1), ir.const(r.choice([2.0, 3.0]), shape))
        return ir.binary(op, _gen(r, shape, depth - 1), _gen(r, shape, depth - 1))
    if kind == "matrix" and shape == ():
        inner = _gen(r, ("n",), depth - 1)
        return ir.matrix_fn(r.choice([Op.NORM2, Op.LOGSUMEXP, Op.VMAX, Op.VMIN]), inner, ())
    if kind == "matrix" and shape == ("n",):
        return ir.matrix_fn(Op.SOFTMAX, _gen(r, ("n",), depth - 1), ("n",))
    return _product(r, shape, depth)


def _product(r: random.Random, shape, depth: int) -> ir.Expr:
    """A random einsum with output `shape`: contractions, diagonals, broadcasts, traces."""
    count = r.randint(1, 3)
    operands, ins = [], []
    pool: dict[str, list[int]] = {"n": [], "m": []}
    fresh = iter(range(100))
    dims: dict[int, str] = {}
    for _ in range(count):
        s = r.choice(SHAPES)
        operands.append(_gen(r, s, depth - 1))
        labels = []
        for d in s:
            if pool[d] and r.random() < 0.6:
                labels.append(r.choice(pool[d]))
            else:
                k = next(fresh)
                dims[k] = d
                pool[d].append(k)
                labels.append(k)
        ins.append(labels)
    out = []
    for d in shape:
        choice = r.random()
        if pool[d] and choice < 0.75:
            out.append(r.choice(pool[d]))   # may repeat: a diagonal
        else:
            k = next(fresh)                  # carried by no operand: a broadcast
            dims[k] = d
            out.append(k)
    return ir.einsum(operands, ins, out, dims)


def _values(seed: int, n: int, m: int) -> dict:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, n))
    return {"A": rng.uniform(-1, 1, (n, n)), "S": a + a.T, "B": rng.uniform(-1, 1, (n, m)),
            "x": rng.uniform(-1, 1, n), "y": rng.uniform(-1, 1, m), "s": rng.uniform(-1, 1)}


@settings(max_examples=300)
@given(st.integers(0, 2**32 - 1), st.sampled_from(list(SHAPES[:5]) + [("n", "n", "n")]))
def test_random_ir_compiles_to_evaluate(seed, shape):
    r = random.Random(seed)
    if len(shape) == 3:
        e = _product(r, shape, 2)
    else:
        e = _gen(r, shape, r.randint(1, 4))
    for structured in (False, True):
        fn = CompiledFunction(ModuleSpec((Output(e, structured),), VARS))
        for n, m in [(3, 4), (5, 2)]:
            values = _values(seed, n, m)
            with np.errstate(all="ignore"):
                want = evaluate(e, values, VARS)
                got = fn(**values)
            if isinstance(got, Diagonal):
                got = got.toarray()
            got = np.asarray(got, dtype=float)
            assert got.shape == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_parameters_named_like_the_generators_own_values():
    """A variable called _v0 or t1 (possible through the IR) is renamed, never read as the
    generator's value or temporary of that name."""
    a, b, c = ir.var("_v0", ("n",)), ir.var("_v1", ("n",)), ir.var("t1", ("n",))
    e = ir.add([ir.unary(Op.EXP, b), ir.unary(Op.SIN, a), ir.unary(Op.COS, c)])
    fn = CompiledFunction(ModuleSpec((Output(e),), {"_v0": a, "_v1": b, "t1": c}))
    x, y, z = np.arange(3.0), np.ones(3), np.full(3, 0.5)
    np.testing.assert_allclose(fn(_v0=x, _v1=y, t1=z), np.exp(y) + np.sin(x) + np.cos(z))


@settings(max_examples=100)
@given(st.integers(0, 2**32 - 1))
def test_every_node_of_a_random_ir_in_one_module(seed):
    """Every node of random IR returned by one module (which shares temporaries across
    them) equals that node evaluated alone: no shared temporary stands for another node."""
    from matdiff.ir.expr import topo_order

    r = random.Random(seed)
    roots = [_gen(r, shape, r.randint(1, 4)) for shape in (("n",), (), ("n", "m"))]
    nodes = []
    for root in roots:
        nodes += [x for x in topo_order(root) if x.args and x not in nodes]
    fn = CompiledFunction(ModuleSpec(tuple(Output(x) for x in nodes), VARS))
    values = _values(seed, 3, 4)
    with np.errstate(all="ignore"):
        got = fn(**values)
        for node, g in zip(nodes, got):
            np.testing.assert_allclose(np.asarray(g, dtype=float), evaluate(node, values, VARS),
                                       rtol=1e-9, atol=1e-9, equal_nan=True)
