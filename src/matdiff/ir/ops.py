"""The one op list of the IR: every node is one of these ops.

Each op has a spec saying how many arguments it takes and what kind it is.
Every later stage (shapes, derivatives, printing, evaluation, code) keeps one
table keyed by these ops, and `tests/test_op_tables.py` checks that no table
misses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Op", "OpSpec", "SPECS", "ELEMENTWISE_UNARY", "ELEMENTWISE_BINARY", "MATRIX_FUNCTIONS"]


class Op(Enum):
    # leaves
    VAR = "var"          # a variable; attr = (name, symmetric)
    CONST = "const"      # a constant-filled tensor; attr = value (float)
    SIZE = "size"        # the number of entries of a shape; attr = tuple of dims
    # structure
    EINSUM = "einsum"    # generalised product with deltas; attr = Subscripts
    ADD = "add"          # sum of same-shaped terms
    # element-wise, one argument
    EXP = "exp"
    LOG = "log"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    TANH = "tanh"
    SINH = "sinh"
    COSH = "cosh"
    SQRT = "sqrt"
    ABS = "abs"
    SIGN = "sign"
    SIGMOID = "sigmoid"
    RELU = "relu"
    SOFTPLUS = "softplus"
    STEP = "step"
    # element-wise, two arguments of one shape
    POW = "pow"
    MAX = "max"
    MIN = "min"
    # functions of a whole matrix or vector
    INV = "inv"
    DET = "det"
    LOGDET = "logdet"
    SOFTMAX = "softmax"
    LOGSUMEXP = "logsumexp"
    NORM2 = "norm2"


@dataclass(frozen=True)
class OpSpec:
    """What every stage may rely on about an op."""

    arity: int | None          # None: any number of arguments
    kind: str                  # leaf | einsum | add | elementwise | matrix
    doc: str


ELEMENTWISE_UNARY = (
    Op.EXP, Op.LOG, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.SINH, Op.COSH, Op.SQRT,
    Op.ABS, Op.SIGN, Op.SIGMOID, Op.RELU, Op.SOFTPLUS, Op.STEP,
)
ELEMENTWISE_BINARY = (Op.POW, Op.MAX, Op.MIN)
MATRIX_FUNCTIONS = (Op.INV, Op.DET, Op.LOGDET, Op.SOFTMAX, Op.LOGSUMEXP, Op.NORM2)

SPECS: dict[Op, OpSpec] = {
    Op.VAR: OpSpec(0, "leaf", "a variable"),
    Op.CONST: OpSpec(0, "leaf", "a constant-filled tensor"),
    Op.SIZE: OpSpec(0, "leaf", "the product of some dimensions, a positive integer"),
    Op.EINSUM: OpSpec(None, "einsum", "a product of tensors with summed and diagonal indices"),
    Op.ADD: OpSpec(None, "add", "a sum of tensors of one shape"),
    **{op: OpSpec(1, "elementwise", f"{op.value} of each entry") for op in ELEMENTWISE_UNARY},
    Op.POW: OpSpec(2, "elementwise", "entry-by-entry power"),
    Op.MAX: OpSpec(2, "elementwise", "entry-by-entry maximum"),
    Op.MIN: OpSpec(2, "elementwise", "entry-by-entry minimum"),
    Op.INV: OpSpec(1, "matrix", "inverse of a square matrix"),
    Op.DET: OpSpec(1, "matrix", "determinant of a square matrix"),
    Op.LOGDET: OpSpec(1, "matrix", "log of the determinant of a square matrix"),
    Op.SOFTMAX: OpSpec(1, "matrix", "softmax of a vector"),
    Op.LOGSUMEXP: OpSpec(1, "matrix", "log of the sum of exponentials of a vector"),
    Op.NORM2: OpSpec(1, "matrix", "Euclidean (Frobenius) norm"),
}
