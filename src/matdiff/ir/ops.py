"""The op spec: every operator of the IR declared once, with what the stages need as data.

An op is one `Op` member plus one `SPECS` entry. The entry says its arity and
kind, the language's shape rule for it, its array function (used alike by
`evaluate.py` and the code generator), its LaTeX spelling, the rule the
step-by-step explanation cites, whether it maps zeros to zeros, and its
derivative. The derivative *rule* is logic and lives in `derive/rules.py`
(one line for an element-wise function, one function for a matrix function);
the spec states the formula that rule implements. Every other stage reads
this table, and `tests/test_op_spec.py` checks that every op has every entry
in every stage. docs/contributing.md walks through adding an op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Op", "OpSpec", "SPECS", "AXIS_OPS", "ELEMENTWISE_UNARY", "ELEMENTWISE_BINARY",
           "MATRIX_FUNCTIONS", "WINDOW_OPS", "NAMESPACE", "array_call", "window_call",
           "window_ranks", "window_options", "helper_sources", "spelling"]


class Op(Enum):
    # leaves
    VAR = "var"          # a variable; attr = (name, symmetric)
    CONST = "const"      # a constant-filled tensor; attr = value (float)
    SIZE = "size"        # the number of entries of a shape; attr = tuple of dims
    # structure
    EINSUM = "einsum"    # generalised product with deltas; attr = Subscripts
    ADD = "add"          # sum of same-shaped terms
    CONCAT = "concat"    # blocks joined along an axis ([a; b], [A, B]); attr = the axis
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
    LOGSIGMOID = "logsigmoid"
    ERF = "erf"
    GELU = "gelu"
    ARCSIN = "arcsin"
    ARCCOS = "arccos"
    ARCTAN = "arctan"
    # element-wise, two arguments of one shape
    POW = "pow"
    MAX = "max"
    MIN = "min"
    LEAKY_RELU = "leaky_relu"
    ELU = "elu"
    EQ = "eq"
    # functions of a whole matrix or vector
    INV = "inv"
    DET = "det"
    LOGDET = "logdet"
    SOFTMAX = "softmax"
    LOGSUMEXP = "logsumexp"
    NORM2 = "norm2"
    VMAX = "vmax"        # max(x): the largest entry of a vector (spelled max, one argument);
    #                      max(X, [], d) along an axis: attr 1 each row (d = 2), 0 each column
    VMIN = "vmin"        # min(x): the smallest entry (spelled min, one argument); min(X, [], d)
    # window ops: functions of the leading 1 or 2 (spatial) axes, attr = a tuple of ints
    # passed to the array function after the arguments; trailing axes ride along
    CONV1 = "conv1"      # attr = (pad, stride)
    CONV2 = "conv2"      # attr = (pad, stride)
    ROT180 = "rot180"    # attr = (rank,)
    MAXPOOL = "maxpool"  # attr = (rank, s)
    MEANPOOL = "meanpool"  # attr = (rank, s)
    UPSAMPLE = "upsample"  # attr = (rank, s)
    DILATE = "dilate"    # attr = (rank, s)
    SUBSAMPLE = "subsample"  # attr = (rank, s)
    VEC = "vec"          # attr = (2,): a matrix's columns stacked into one vector
    RESHAPE = "reshape"  # attr = (m, n): a vector's entries as an m x n matrix, by columns


@dataclass(frozen=True)
class OpSpec:
    """What every stage may rely on about an op.

    - `shape`: the name of the language's shape rule (`language/rules.py`,
      SHAPE_RULES), e.g. "same" or "square -> scalar".
    - `array`: the array function, written for an array namespace: a bare
      attribute name ("exp", "linalg.inv": called as `xp.exp(a)`), a helper
      name starting with "_" (called as `_sigmoid(a)`, its source in `helper`),
      or a template over `{0}`, `{1}` with the namespace spelled `xp.`
      ("xp.maximum({0}, 0.0)").
    - `helper`: the source of the helper `array` calls (NumPy as `np`); the
      code generator copies it into modules, `evaluate.py` runs the same code.
    - `latex`: a LaTeX operator applied as `op\\left(a\\right)` ("\\exp"), or a
      template over `{0}` ("\\sqrt{{0}}"; one starting with `{0}` is postfix).
    - `rule`: the explanation's rule name and the identity it states.
    - `zeros`: f(0) = 0 (f(0, 0) = 0 for two arguments): a diagonal stays one.
    - `derivative`: for an element-wise function, f'(a) in the language over
      `a` and `y` = f(a) (checked numerically); otherwise the identity that
      the rule in derive/rules.py implements.
    - `operator`: the language operator spelling the op, if it is not a call.
    - `name`: the function's name in the language when it is not the op's value: two
      ops may share a name told apart by their number of arguments (max(x) is VMAX,
      max(a, b) is MAX).
    """

    arity: int | None          # None: any number of arguments
    kind: str                  # leaf | einsum | add | elementwise | matrix | window
    doc: str
    shape: str = ""
    array: str = ""
    helper: str = ""
    latex: str = ""
    rule: tuple[str, str] = ("", "")
    zeros: bool = False
    derivative: str = ""
    operator: str = ""
    name: str = ""


def spelling(op: Op) -> str:
    """The op's name in the language (max for both max(x) and max(a, b))."""
    return SPECS[op].name or op.value


def _unary(name: str, array: str, latex: str, derivative: str, zeros: bool = False,
           helper: str = "") -> OpSpec:
    """An element-wise function of one argument: y = f(a) entry by entry."""
    return OpSpec(1, "elementwise", f"{name} of each entry", shape="same", array=array,
                  helper=helper, latex=latex, zeros=zeros, derivative=derivative,
                  rule=("element-wise function",
                        f"∂ {name}(u)/∂u = diag({name}'(u)), the single-variable rule per entry"))


def _matrix(doc: str, shape: str, array: str, latex: str, rule: str, derivative: str,
            helper: str = "", name: str = "") -> OpSpec:
    """A function of a whole matrix or vector, with a derivative rule of its own."""
    return OpSpec(1, "matrix", doc, shape=shape, array=array, helper=helper, latex=latex,
                  rule=(rule, derivative), derivative=derivative, name=name)


def _reduction(name: str, word: str) -> OpSpec:
    """max(x), min(x) of a vector, and max(X, [], d), min(X, [], d) of each row (d = 2)
    or column (d = 1) of a matrix (MATLAB's spelling; the node's attr is the axis, as for
    logsumexp). The gradient is the indicator of the extreme entries, eq(x, max(x)), over
    their count: all of it to the arg-max, a tie split evenly (JAX's choice; at a tie any
    split is a subgradient, the even one favours no entry), per row along an axis. The
    second derivative is 0 (the gradient is flat away from ties)."""
    hit = f"eq(x, {name}(x))"
    return _matrix(f"the {word} entry of a vector", "vector -> scalar", name, rf"\{name}",
                   f"{name} reduction rule",
                   f"∂ {name}(x)/∂x = {hit}/sum({hit}): to the {word} entry, a tie split "
                   "evenly", name=name)


_WINDOW_HELPERS = '''
def _lead_pad(a, rank, pad):
    """a with `pad` zeros on both sides of each of its leading `rank` axes (written into
    zeros: np.pad costs more than the copy for an image)."""
    if not pad:
        return a
    out = np.zeros(tuple(m + 2 * pad for m in a.shape[:rank]) + a.shape[rank:],
                   dtype=np.result_type(a, 0.0))
    out[(slice(pad, -pad),) * rank] = a
    return out


def _conv(a, b, rank, pad, stride):
    """Cross-correlation of a's leading `rank` axes with b's; a's trailing axes, then b's,
    ride along. On a large image, a small kernel (few offsets) is one scaled strided slice
    of a per offset, summed, and a small result (a kernel's gradient) one dot product per
    entry; otherwise im2col: the windows of a as a strided view, then one tensordot (one
    call: cheaper on small images, where each call's overhead counts)."""
    from numpy.lib.stride_tricks import sliding_window_view
    a = _lead_pad(a, rank, pad)
    k = b.shape[:rank]
    out = tuple((m - q) // stride + 1 for m, q in zip(a.shape, k))
    offsets, entries = int(np.prod(k)), int(np.prod(out))
    if b.ndim == rank and offsets <= min(64, entries) and entries >= 8192:
        total = part = None
        spans = [[slice(o, o + stride * (n - 1) + 1, stride) for o in range(q)]
                 for q, n in zip(k, out)]
        for off in np.ndindex(*k):
            window = a[tuple(spans[d][o] for d, o in enumerate(off))]
            if total is None:
                total = b[off] * window
                part = np.empty_like(total)
            else:
                np.multiply(window, b[off], out=part)
                total += part
        return total
    if a.ndim == b.ndim == rank and entries <= 64 and offsets >= 8192:
        res = np.empty(out, dtype=np.result_type(a, b))
        letters = "ij"[:rank] + "," + "ij"[:rank] + "->"
        for idx in np.ndindex(*out):
            res[idx] = np.einsum(letters, a[tuple(slice(stride * i, stride * i + q)
                                                  for i, q in zip(idx, k))], b)
        return res
    w = sliding_window_view(a, k, axis=tuple(range(rank)))
    if stride > 1:
        w = w[(slice(None, None, stride),) * rank]
    return np.tensordot(w, b, axes=(list(range(w.ndim - rank, w.ndim)), list(range(rank))))


def _blocks(a, rank, s):
    """a's leading `rank` axes cut into s-long blocks: shape (m/s, [n/s,] rest..., s[, s])."""
    lead = a.shape[:rank]
    shape = [x for m in lead for x in (m // s, s)] + list(a.shape[rank:])
    b = a.reshape(shape)
    order = [2 * k for k in range(rank)] + list(range(2 * rank, b.ndim)) + [
        2 * k + 1 for k in range(rank)]
    return b.transpose(order)
'''


def _window(doc: str, arity: int, name: str, latex: str, rule: str, identity: str,
            body: str) -> OpSpec:
    """A window op: its helper `_name(args..., *attr)` is the shared window code plus body."""
    return OpSpec(arity, "window", doc, shape="window", array="_" + name, latex=latex,
                  rule=(rule, identity), derivative=identity,
                  helper=_WINDOW_HELPERS + body)


_MAX_CASES = "step(z) is 1 where z > 0 and 0 where z ≤ 0: the article's two cases"

SPECS: dict[Op, OpSpec] = {
    Op.VAR: OpSpec(0, "leaf", "a variable"),
    Op.CONST: OpSpec(0, "leaf", "a constant-filled tensor"),
    Op.SIZE: OpSpec(0, "leaf", "the product of some dimensions, a positive integer"),
    Op.EINSUM: OpSpec(None, "einsum", "a product of tensors with summed and diagonal indices"),
    Op.ADD: OpSpec(None, "add", "a sum of tensors of one shape"),
    # [a; b] stacks (axis 0), [A, B] sets side by side (axis 1): the blocks have one rank
    # (a column is lifted to n x 1, a row to 1 x n, a scalar to a vector of 1 first), and
    # the derivative is the blocks' derivatives joined the same way
    Op.CONCAT: OpSpec(None, "concat", "blocks joined along an axis: [a; b], [A, B]",
                      array="concat", latex=r"\begin{{bmatrix}} {0} \end{{bmatrix}}",
                      rule=("concatenation rule",
                            "∂[a; b]/∂x = [∂a/∂x; ∂b/∂x]: the blocks' derivatives, stacked"),
                      derivative="d[a; b] = [da; db]"),
    # ---- element-wise functions: _unary(name, array, LaTeX, f'(a) over a and y = f(a))
    Op.EXP: _unary("exp", "exp", r"\exp", "y"),
    Op.LOG: _unary("log", "log", r"\log", "1./a"),
    Op.SIN: _unary("sin", "sin", r"\sin", "cos(a)", zeros=True),
    Op.COS: _unary("cos", "cos", r"\cos", "-sin(a)"),
    Op.TAN: _unary("tan", "tan", r"\tan", "1 + y.^2", zeros=True),
    Op.TANH: _unary("tanh", "tanh", r"\tanh", "1 - y.^2", zeros=True),
    Op.SINH: _unary("sinh", "sinh", r"\sinh", "cosh(a)", zeros=True),
    Op.COSH: _unary("cosh", "cosh", r"\cosh", "sinh(a)"),
    Op.SQRT: _unary("sqrt", "sqrt", r"\sqrt{{0}}", "0.5./y", zeros=True),
    Op.ABS: _unary("abs", "abs", r"\left|{0}\right|", "sign(a)", zeros=True),
    Op.SIGN: _unary("sign", "sign", r"\operatorname{sign}", "0", zeros=True),
    Op.SIGMOID: _unary("sigmoid", "_sigmoid", r"\sigma", "y.*(1 - y)", helper='''
def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))
'''),
    Op.RELU: _unary("relu", "xp.maximum({0}, 0.0)", r"\operatorname{relu}", "step(a)",
                    zeros=True),
    Op.SOFTPLUS: _unary("softplus", "xp.logaddexp(0.0, {0})", r"\operatorname{softplus}",
                        "sigmoid(a)"),
    # 1 where positive ((a > 0) * 1.0 is 7x faster than heaviside)
    Op.STEP: _unary("step", "({0} > 0) * 1.0", r"\operatorname{step}", "0", zeros=True),
    Op.LOGSIGMOID: _unary("logsigmoid", "_logsigmoid", r"\log\sigma", "1 - exp(y)",
                          helper='''
def _logsigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    return -np.logaddexp(0.0, -x)
'''),
    Op.ERF: _unary("erf", "_erf", r"\operatorname{erf}",
                   "2*exp(-a.^2)/sqrt(3.141592653589793)", zeros=True, helper='''
def _erf(x):
    """The error function (SciPy's)."""
    from scipy.special import erf
    return erf(x)
'''),
    Op.GELU: _unary("gelu", "_gelu", r"\operatorname{GELU}",
                    "(1 + erf(a/sqrt(2)))/2 + a.*exp(-a.^2/2)/sqrt(2*3.141592653589793)",
                    zeros=True, helper='''
def _gelu(x):
    """x Phi(x), exactly: the standard normal CDF through erf."""
    from scipy.special import erf
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
'''),
    Op.ARCSIN: _unary("arcsin", "arcsin", r"\arcsin", "1./sqrt(1 - a.^2)", zeros=True),
    Op.ARCCOS: _unary("arccos", "arccos", r"\arccos", "-1./sqrt(1 - a.^2)"),
    Op.ARCTAN: _unary("arctan", "arctan", r"\arctan", "1./(1 + a.^2)", zeros=True),
    # ---- element-wise, two arguments
    Op.POW: OpSpec(2, "elementwise", "entry-by-entry power", shape="same", array="{0} ** {1}",
                   latex=r"{0}^{\circ {1}}", operator=".^",
                   rule=("power rule", "∂ u.^p/∂u = diag(p u.^(p-1))"),
                   derivative="d(a.^b) = b .* a.^(b-1) .* da + a.^b .* log(a) .* db"),
    Op.MAX: OpSpec(2, "elementwise", "entry-by-entry maximum", shape="same", array="maximum",
                   latex=r"\max", zeros=True, rule=("max(0, z) cases", _MAX_CASES),
                   derivative="d max(a, b) = step(a - b) .* da + step(b - a) .* db"),
    Op.MIN: OpSpec(2, "elementwise", "entry-by-entry minimum", shape="same", array="minimum",
                   latex=r"\min", zeros=True, rule=("min(0, z) cases", _MAX_CASES),
                   derivative="d min(a, b) = step(b - a) .* da + step(a - b) .* db"),
    # 1 where the arguments are equal: the arg-max of max(x) is eq(x, max(x)); flat, so 0
    # derivative (a comparison of the same computed values, exact where step(m - x) of a
    # regrouped difference would round)
    Op.EQ: OpSpec(2, "elementwise", "1 where the entries are equal, else 0", shape="same",
                  array="_eq", latex=r"\operatorname{eq}", helper='''
def _eq(a, b):
    """1.0 where a == b, else 0.0."""
    return (a == b) * 1.0
''',
                  rule=("comparison", "eq(a, b) is 1 where a = b, else 0: flat, slope 0"),
                  derivative="d eq(a, b) = 0"),
    # with a slope s: a where a > 0; s*a (leaky_relu) or s*(exp(a) - 1) (elu) where a <= 0
    Op.LEAKY_RELU: OpSpec(2, "elementwise", "leaky ReLU of each entry, slope s below 0",
                          shape="same", array="xp.where({0} > 0, {0}, {1} * {0})",
                          latex=r"\operatorname{leaky\_relu}", zeros=True,
                          rule=("leaky ReLU cases", "slope 1 where z > 0, s where z ≤ 0"),
                          derivative="d leaky_relu(a, s) = (step(a) + s.*(1 - step(a))) .* da "
                                     "+ min(a, 0) .* ds"),
    Op.ELU: OpSpec(2, "elementwise", "ELU of each entry, scale s below 0", shape="same",
                   array="xp.where({0} > 0, {0}, {1} * xp.expm1(xp.minimum({0}, 0.0)))",
                   latex=r"\operatorname{ELU}", zeros=True,
                   rule=("ELU cases", "slope 1 where z > 0, s exp(z) where z ≤ 0"),
                   derivative="d elu(a, s) = (step(a) + s.*exp(min(a, 0)).*(1 - step(a))) .* da "
                              "+ (exp(min(a, 0)) - 1) .* ds"),
    # ---- matrix functions: _matrix(doc, shape rule, array, LaTeX, rule name, identity)
    Op.INV: _matrix("inverse of a square matrix", "square -> square", "linalg.inv", "{0}^{-1}",
                    "inverse rule", "d inv(A) = -inv(A) dA inv(A)"),
    Op.DET: _matrix("determinant of a square matrix", "square -> scalar", "linalg.det", r"\det",
                    "determinant rule", "d det(A) = det(A) tr(inv(A) dA)"),
    Op.LOGDET: _matrix("log of the determinant of a square matrix", "square -> scalar",
                       "_logdet", r"\log\det", "log-determinant rule",
                       "d logdet(A) = tr(inv(A) dA)", helper='''
def _logdet(A):
    """log(det(A)) through an LU factorisation (nan where det(A) < 0)."""
    sign, logabs = np.linalg.slogdet(A)
    return logabs if sign > 0 else (-np.inf if sign == 0 else np.nan)
'''),
    # softmax and logsumexp of a matrix along an axis: attr = the IR axis normalised
    # (1: each row, softmax(X, 2); 0: each column, softmax(X, 1)); None for a vector
    Op.SOFTMAX: _matrix("softmax of a vector, or of each row (column) of a matrix",
                        "vector -> vector", "_softmax", r"\operatorname{softmax}",
                        "softmax rule", "d softmax(z) = (diag(s) - s s') dz", helper='''
def _softmax(x, axis=None):
    """exp(x) / sum(exp(x)) along axis, shifted by the maximum against overflow; in place
    on the one array it allocates (fresh arrays of a large x cost page faults)."""
    e = x - x.max(axis=axis, keepdims=axis is not None)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=axis is not None)
    return e
'''),
    Op.LOGSUMEXP: _matrix("log of the sum of exponentials of a vector, or of each row "
                          "(column) of a matrix", "vector -> scalar",
                          "_logsumexp", r"\operatorname{logsumexp}", "log-sum-exp rule",
                          "d logsumexp(z) = softmax(z)' dz", helper='''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis, shifted by the maximum against overflow."""
    m = x.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)
'''),
    Op.NORM2: _matrix("Euclidean (Frobenius) norm", "any -> scalar", "linalg.norm",
                      r"\left\lVert {0}\right\rVert", "norm rule",
                      "d norm2(x) = x' dx / norm2(x)"),
    Op.VMAX: _reduction("max", "largest"),
    Op.VMIN: _reduction("min", "smallest"),
    # ---- window ops (docs/convolution.md): the spatial axes lead, other axes ride along
    Op.CONV1: _window("deep learning's 1-D convolution (cross-correlation) of a vector",
                      2, "conv1", r"\operatorname{conv1}", "convolution rule",
                      "d conv1(x, k) = conv1(dx, k) + conv1(x, dk)", '''

def _conv1(a, b, pad=0, stride=1):
    """y[i] = sum_u x[s i + u] k[u] over x padded by `pad` zeros each side."""
    return _conv(a, b, 1, pad, stride)
'''),
    Op.CONV2: _window("deep learning's 2-D convolution (cross-correlation) of a matrix",
                      2, "conv2", r"\operatorname{conv2}", "convolution rule",
                      "d conv2(X, K) = conv2(dX, K) + conv2(X, dK)", '''

def _conv2(a, b, pad=0, stride=1):
    """Y[i, j] = sum_uv X[s i + u, s j + v] K[u, v] over X padded by `pad` zeros all round."""
    return _conv(a, b, 2, pad, stride)
'''),
    Op.ROT180: _window("the entries in reverse order (a matrix turned by 180 degrees)", 1,
                       "rot180", r"\operatorname{rot180}", "flip rule",
                       "d rot180(K) = rot180(dK)", '''

def _rot180(a, rank):
    """a reversed along its leading `rank` axes."""
    return a[(slice(None, None, -1),) * rank]
'''),
    Op.MAXPOOL: _window("the largest entry of each s x s block", 1, "maxpool",
                        r"\operatorname{maxpool}", "max-pooling rule",
                        "d maxpool(X, s) = sumpool(W .* dX), W = the arg-max of each block "
                        "(a tie split evenly)", '''

def _maxpool(a, rank, s):
    """The maximum of each s x s block of a's leading axes: the element-wise maximum of
    the s^rank strided slices (one per position in the block), fast where a reduction over
    the block's axes is not."""
    out = None
    for off in np.ndindex(*(s,) * rank):
        part = a[tuple(slice(o, None, s) for o in off)]
        out = part.copy() if out is None else np.maximum(out, part, out=out)
    return out
'''),
    Op.MEANPOOL: _window("the mean of each s x s block", 1, "meanpool",
                         r"\operatorname{meanpool}", "mean-pooling rule",
                         "d meanpool(X, s) = meanpool(dX, s)", '''

def _meanpool(a, rank, s):
    """The mean of each s x s block of a's leading axes (the sum of the s^rank strided
    slices, one per position in the block, over their number)."""
    out = None
    for off in np.ndindex(*(s,) * rank):
        part = a[tuple(slice(o, None, s) for o in off)]
        out = part * 1.0 if out is None else np.add(out, part, out=out)
    return out / s ** rank
'''),
    Op.UPSAMPLE: _window("each entry repeated over an s x s block", 1, "upsample",
                         r"\operatorname{upsample}", "upsampling rule",
                         "d upsample(G, s) = upsample(dG, s)", '''

def _upsample(a, rank, s):
    """Each entry of a's leading axes repeated s times along each of them (one copy of a
    broadcast view)."""
    lead, rest = a.shape[:rank], a.shape[rank:]
    index = tuple(x for _ in lead for x in (slice(None), None))
    spread = np.broadcast_to(a[index], tuple(x for m in lead for x in (m, s)) + rest)
    return spread.reshape(tuple(m * s for m in lead) + rest)
'''),
    Op.DILATE: _window("s - 1 zeros put between neighbouring entries", 1, "dilate",
                       r"\operatorname{dilate}", "dilation rule",
                       "d dilate(G, s) = dilate(dG, s)", '''

def _dilate(a, rank, s):
    """a's entries spread s apart along its leading axes, zeros between them."""
    shape = tuple(s * (m - 1) + 1 for m in a.shape[:rank]) + a.shape[rank:]
    out = np.zeros(shape, dtype=a.dtype)
    out[(slice(None, None, s),) * rank] = a
    return out
'''),
    Op.SUBSAMPLE: _window("every s-th entry, from the first", 1, "subsample",
                          r"\operatorname{subsample}", "subsampling rule",
                          "d subsample(G, s) = subsample(dG, s)", '''

def _subsample(a, rank, s):
    """a[::s, ::s] along its leading axes."""
    return a[(slice(None, None, s),) * rank]
'''),
    Op.VEC: _window("the columns stacked into one vector (MATLAB's X(:))", 1, "vec",
                    r"\operatorname{vec}", "vectorisation rule", "d vec(X) = vec(dX)", '''

def _vec(a, rank=2):
    """The leading two axes merged, column by column (MATLAB's X(:))."""
    return np.swapaxes(a, 0, 1).reshape((a.shape[0] * a.shape[1],) + a.shape[2:])
'''),
    Op.RESHAPE: _window("a vector's entries as an m x n matrix, column by column", 1,
                        "reshape", r"\operatorname{reshape}", "reshaping rule",
                        "d reshape(x, m, n) = reshape(dx, m, n)", '''

def _reshape(a, m, n):
    """The leading axis split into (m, n), column by column (MATLAB's reshape)."""
    return np.swapaxes(a.reshape((n, m) + a.shape[1:]), 0, 1)
'''),
}



def _ops(kind: str, arity: int) -> tuple[Op, ...]:
    return tuple(op for op, s in SPECS.items() if s.kind == kind and s.arity == arity)


ELEMENTWISE_UNARY = _ops("elementwise", 1)
# ops whose node may carry an axis (attr): the array function takes it as `axis=`
AXIS_OPS = (Op.SOFTMAX, Op.LOGSUMEXP, Op.VMAX, Op.VMIN)
ELEMENTWISE_BINARY = _ops("elementwise", 2)
MATRIX_FUNCTIONS = _ops("matrix", 1)
# window ops (conv2, maxpool, ...): the node's attr, a tuple of ints, follows the arguments
WINDOW_OPS = tuple(op for op, s in SPECS.items() if s.kind == "window")

NAMESPACE = "xp"  # the name array templates give the array namespace
_BARE = re.compile(r"[A-Za-z_][\w.]*")


def array_call(op: Op) -> str:
    """The op's array function as a template over {0}, {1}, with the namespace spelled `xp.`."""
    spec = SPECS[op]
    if not _BARE.fullmatch(spec.array):
        return spec.array
    args = ", ".join(f"{{{k}}}" for k in range(spec.arity or 0))
    prefix = "" if spec.array.startswith("_") else NAMESPACE + "."
    return f"{prefix}{spec.array}({args})"


def window_call(op: Op, attr: tuple[int, ...]) -> str:
    """A window op's call as a template over its arguments, its attr written after them:
    conv2 with attr (1, 2) is `_conv2({0}, {1}, 1, 2)`."""
    template = array_call(op)
    return template[:-1] + "".join(f", {int(v)}" for v in attr) + ")"


def window_ranks(op: Op, attr: tuple[int, ...]) -> tuple[int, int]:
    """(spatial axes of the argument, spatial axes of the result) of a window op: the
    axes it works on; any axes after them ride along."""
    fixed = {Op.CONV1: (1, 1), Op.CONV2: (2, 2), Op.VEC: (2, 1), Op.RESHAPE: (1, 2)}
    return fixed.get(op) or (attr[0], attr[0])


def window_options(op: Op, attr: tuple[int, ...]) -> list[int]:
    """The numbers a window op's call writes after its arguments: conv2(X, K, p, s) (pad
    and stride only where not 0 and 1), maxpool(X, s), reshape(x, m, n), rot180(K)."""
    if op in (Op.CONV1, Op.CONV2):
        pad, stride = attr
        return [pad, stride] if stride != 1 else [pad] if pad else []
    if op is Op.RESHAPE:
        return list(attr)
    return list(attr[1:])


def helper_sources() -> dict[str, str]:
    """Helper name -> source, for the ops whose array function is a helper."""
    return {SPECS[op].array: SPECS[op].helper for op in SPECS if SPECS[op].helper}
