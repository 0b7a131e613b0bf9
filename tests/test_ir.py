"""The IR's constructors keep nodes canonical: fusion, delta elimination, zeros, collection."""

import numpy as np

from matdiff.evaluate import evaluate
from matdiff.ir import expr as ir
from matdiff.ir.ops import SPECS, Op

A = ir.var("A", ("n", "n"))
B = ir.var("B", ("n", "n"))
x = ir.var("x", ("n",))
y = ir.var("y", ("n",))


def matvec(M, v):
    return ir.einsum([M, v], [[0, 1], [1]], [0])


def test_hash_consing_makes_equal_nodes_identical():
    assert ir.var("x", ("n",)) is x
    assert matvec(A, x) is matvec(A, x)
    assert ir.add([matvec(A, x), y]) is ir.add([matvec(A, x), y])


def test_nested_products_fuse_into_one():
    inner = matvec(A, x)
    outer = ir.einsum([B, inner], [[0, 1], [1]], [0])
    assert outer.op is Op.EINSUM and outer.args == (B, A, x)


def test_delta_disappears_into_a_renaming():
    eye = ir.delta(["n"])
    product = ir.einsum([eye, x], [[0, 1], [1]], [0])
    assert product is x


def test_double_transpose_is_the_identity():
    t = ir.einsum([A], [[0, 1]], [1, 0])
    assert ir.einsum([t], [[0, 1]], [1, 0]) is A


def test_diagonal_stays_a_vector_inside_a_product():
    diag = ir.einsum([x], [[0]], [0, 0])  # diag(x)
    product = ir.einsum([diag, A], [[0, 1], [1, 2]], [0, 2])  # diag(x)*A
    assert product.args == (x, A)
    ins, out, _ = product.attr
    assert ins == ((0,), (0, 1)) and out == (0, 1)


def test_zero_factor_gives_an_exact_zero():
    z = ir.zeros(("n",))
    assert ir.is_zero(ir.einsum([A, z], [[0, 1], [1]], [0]))
    assert ir.add([z, x]) is x


def test_like_terms_are_collected_and_cancel():
    assert ir.add([x, x]) is ir.scale(x, 2.0)
    assert ir.is_zero(ir.sub(matvec(A, x), matvec(A, x)))


def test_constants_fold_into_one_leading_coefficient():
    e = ir.scale(ir.scale(x, 2.0), 3.0)
    assert e.args[0].op is Op.CONST and e.args[0].value == 6.0 and e.args[1] is x


def test_sum_over_a_broadcast_becomes_a_size():
    ones = ir.const(1.0, ("n",))
    total = ir.einsum([ones], [[0]], [])
    assert total.op is Op.SIZE and total.attr == ("n",)
    assert evaluate(total, {"x": np.ones(5)}, {"x": x}) == 5.0


def test_power_identities():
    assert ir.binary(Op.POW, x, ir.const(1.0, ("n",))) is x
    assert ir.binary(Op.POW, x, ir.const(0.0, ("n",))) is ir.const(1.0, ("n",))


def test_topo_order_handles_deep_chains_without_recursion():
    e = x
    for _ in range(20000):
        e = ir.unary(Op.EXP, e)
    order = ir.topo_order(e)
    assert len(order) == 20001 and order[0] is x and order[-1] is e


def test_every_op_has_a_spec():
    assert set(SPECS) == set(Op)
