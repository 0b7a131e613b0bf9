"""One derivative, any array library: the generated NumPy module respelled per backend.

The generator plans once (contraction orders, diagonals kept as vectors,
distribution by flop count) and writes NumPy. Every other backend gets the
same plan: `respell(source, backend)` rewrites the module's namespace
(`np.exp` -> `torch.exp`, `jnp.exp`, `da.exp`, `cp.exp`), changes the few
spellings a library lacks (`tensordot(axes=)` is `dims=` in PyTorch,
`.copy()` is `.clone()`), and swaps in helpers written for that library:
functional diagonals instead of in-place writes (JAX, Dask), `where`
instead of Python branches (traceable by `jax.jit`), scalars promoted on the
tensor's own device (PyTorch keeps every intermediate where its inputs are).
The result stays a standalone module that imports only its array library.

    numpy  today's code, byte for byte     torch  PyTorch tensors, any device
    jax    jax.numpy, compiled by jax.jit  cupy   CuPy arrays on the GPU
    dask   dask.array, lazy and chunked (results come back as Dask arrays)
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MatdiffError

__all__ = ["BACKENDS", "Backend", "respell", "backend_of", "get_backend", "known_backend"]


@dataclass(frozen=True)
class Backend:
    name: str
    module: str                   # what must import for the backend to exist
    header: str                   # replaces "import numpy as np"
    prefix: str                   # replaces "np." in the body
    renames: tuple[tuple[str, str], ...] = ()   # (regex, replacement) after the prefix swap
    helpers: Mapping[str, str] = field(default_factory=dict)


_FUNCTIONAL_EMBED = '''
def _embed(core, shape, groups):
    """Zeros of `shape` holding `core` where the full axes of one group agree (a diagonal).

    groups[p] is the core axis of full axis p; core's axes are the last groups
    (broadcast as NumPy would). Built without writing in place; a vector on
    the diagonal of a square matrix is the library's diag.
    """
    if tuple(groups) == (0, 0) and NDIM(core) == 1 and core.shape[0] == shape[0] == shape[1]:
        return XP.diag(core)
    first = {}
    for p, g in enumerate(groups):
        first.setdefault(g, p)
    mask = None
    for p, g in enumerate(groups):
        if first[g] != p:
            i = XP.reshape(ARANGE(shape[p]), tuple(-1 if k == p else 1 for k in range(len(shape))))
            j = XP.reshape(ARANGE(shape[first[g]]),
                           tuple(-1 if k == first[g] else 1 for k in range(len(shape))))
            mask = (i == j) if mask is None else mask & (i == j)
    k = NDIM(core)
    if k:
        mine = list(range(len(first) - k, len(first)))
        order = sorted(range(k), key=lambda a: first[mine[a]])
        if order != list(range(k)):
            core = PERMUTE(core, tuple(order))
        at = {first[mine[a]]: a for a in range(k)}
        core = XP.reshape(core, tuple(core.shape[order.index(at[p])] if p in at else 1
                                      for p in range(len(shape))))
    out = core if mask is None else XP.where(mask, core, ZERO)
    return XP.broadcast_to(out, tuple(shape)) * 1.0
'''

_FUNCTIONAL_EMBED_SUM = '''
def _embed_sum(shape, *parts):
    """The sum of diagonals (core, groups), built by _embed, and dense arrays (array, None)."""
    out = None
    for core, groups in parts:
        term = core if groups is None else _embed(core, shape, groups)
        out = term if out is None else out + term
    return out
'''

_GRAM = '''
def _gram(P, w):
    """P' diag(w) P."""
    return (w[:, None] * P).T @ P
'''

_LOGDET = '''
def _logdet(A):
    """log(det(A)) (nan where det(A) < 0), without a Python branch."""
    sign, logabs = XP.linalg.slogdet(A)
    return XP.where(sign > 0, logabs, XP.where(sign == 0, -XP.inf, XP.nan))
'''

_SOFTMAX = '''
def _softmax(x, axis=None):
    """exp(x) / sum(exp(x)) along axis, shifted by the maximum against overflow."""
    e = XP.exp(x - XP.max(x, axis=axis, keepdims=True))
    return e / XP.sum(e, axis=axis, keepdims=True)
'''

_LOGSUMEXP = '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis, shifted by the maximum against overflow."""
    m = XP.max(x, axis=axis, keepdims=True)
    out = m + XP.log(XP.sum(XP.exp(x - m), axis=axis, keepdims=True))
    return XP.reshape(out, ()) if axis is None else XP.squeeze(out, axis=axis)
'''


def _for(prefix: str, arange: str, texts: Mapping[str, str], ndim: str = "",
         permute: str = "") -> dict[str, str]:
    return {k: v.replace("NDIM(", ndim or prefix + "ndim(")
            .replace("PERMUTE(", permute or prefix + "transpose(")
            .replace("ZERO", "0.0").replace("XP.", prefix).replace("ARANGE", arange)
            for k, v in texts.items()}


_COMMON = {"_embed": _FUNCTIONAL_EMBED, "_embed_sum": _FUNCTIONAL_EMBED_SUM, "_gram": _GRAM,
           "_logdet": _LOGDET,
           "_softmax": _SOFTMAX, "_logsumexp": _LOGSUMEXP}

_TORCH_HELPERS = {
    "_embed": _FUNCTIONAL_EMBED.replace("PERMUTE(core, ", "torch.permute(core, ")
    .replace("NDIM(core)", "_ndim(core)")
    .replace("    first = {}\n", "    core = _t(core, None)\n    first = {}\n", 1)
    .replace("ARANGE(", "torch.arange(device=core.device, end=")
    .replace("ZERO", "torch.zeros((), dtype=core.dtype, device=core.device)")
    .replace("XP.", "torch."),
    "_embed_sum": _FUNCTIONAL_EMBED_SUM,
    "_gram": _GRAM,
    "_logdet": _LOGDET.replace("XP.inf", "float('inf')").replace("XP.nan", "float('nan')")
    .replace("XP.", "torch."),
    "_softmax": '''
def _softmax(x, axis=None):
    """exp(x) / sum(exp(x)) along axis, shifted by the maximum against overflow."""
    if axis is None:
        e = torch.exp(x - torch.amax(x))
        return e / torch.sum(e)
    e = torch.exp(x - torch.amax(x, dim=axis, keepdim=True))
    return e / torch.sum(e, dim=axis, keepdim=True)
''',
    "_logsumexp": '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis (torch.logsumexp shifts by the maximum)."""
    return torch.logsumexp(x.reshape(-1) if axis is None else x, dim=0 if axis is None else axis)
''',
    "_t": '''
def _t(x, like):
    """A Python number as a tensor of like's dtype, on like's device (float64 on the CPU)."""
    if torch.is_tensor(x):
        return x
    if like is None:
        return torch.as_tensor(x, dtype=torch.float64)
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)
''',
    "_pair": '''
def _pair(f, a, b):
    """f(a, b) for a PyTorch function that wants two tensors (numbers promoted)."""
    like = a if torch.is_tensor(a) else b
    return f(_t(a, like), _t(b, like))
''',
    "_full": '''
def _full(shape, v):
    """A tensor of `shape` filled with v, on v's device."""
    if torch.is_tensor(v):
        return v.expand(shape).clone()
    return torch.full(shape, float(v), dtype=torch.float64)
''',
    "_ndim": '''
def _ndim(x):
    return x.ndim if torch.is_tensor(x) else 0
''',
    "_sigmoid": '''
def _sigmoid(x):
    """1 / (1 + exp(-x)): PyTorch's kernel, one pass, without overflow."""
    return torch.sigmoid(x)
''',
    "_erf": '''
def _erf(x):
    """The error function."""
    return torch.special.erf(x)
''',
    "_eq": '''
def _eq(a, b):
    """1.0 where a == b, else 0.0, in the dtype of the values (a bool times 1.0 would be
    float32, which a float64 matrix product refuses)."""
    like = a if torch.is_tensor(a) else b
    return (_t(a, like) == _t(b, like)).to(like.dtype)
''',
}


BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", "numpy", "import numpy as np", "np."),
    "torch": Backend(
        "torch", "torch", "import torch", "torch.",
        renames=((r"torch\.tensordot\((.*?), axes=", r"torch.tensordot(\1, dims="),
                 (r"\.copy\(\)", ".clone()"),
                 (r"torch\.ndim\(", "_ndim("),
                 (r"torch\.full\(", "_full("),
                 (r"torch\.(maximum|minimum|logaddexp)\(", r"_pair(torch.\1, "),
                 (r"torch\.transpose\(", "torch.permute("),
                 (r"torch\.inf\b", "float('inf')"), (r"torch\.nan\b", "float('nan')"),
                 # NumPy multiplies matrices of booleans (a step mask); PyTorch does not
                 (r"@ \((\w+) ([<>]=?) 0\)", r"@ (\1 \2 0).to(\1.dtype)"),
                 (r"\((\w+) ([<>]=?) 0\) @", r"(\1 \2 0).to(\1.dtype) @"),
                 (r"\bfrom scipy\.special import erf\n\s*", "")),
        helpers=_TORCH_HELPERS),
    "jax": Backend(
        "jax", "jax", "import jax\nimport jax.numpy as jnp", "jnp.",
        renames=((r"\bfrom scipy\.special import erf\n(\s*)",
                  r"from jax.scipy.special import erf\n\1"),),
        helpers=_for("jnp.", "jnp.arange", _COMMON)),
    "dask": Backend(
        "dask", "dask.array", "import numpy as np\nimport dask.array as da", "da.",
        renames=((r"da\.ndim\(", "np.ndim("), (r"da\.linalg\.det\(", "_det(")),
        helpers={**_for("da.", "da.arange", _COMMON, ndim="np.ndim("),
                 "_det": '''
def _det(A):
    """det(A) by NumPy on the gathered matrix (Dask has no determinant)."""
    return np.linalg.det(np.asarray(A))
''',
                 "_logdet": '''
def _logdet(A):
    """log(det(A)) by NumPy on the gathered matrix (Dask has no determinant)."""
    sign, logabs = np.linalg.slogdet(np.asarray(A))
    return logabs if sign > 0 else (-np.inf if sign == 0 else np.nan)
'''}),
    "cupy": Backend(
        "cupy", "cupy", "import cupy as cp", "cp.",
        renames=((r"\bfrom scipy\.special import erf", "from cupyx.scipy.special import erf"),)),
}

_DEF = re.compile(r"^def (_\w+)\(", re.M)
_TOP = re.compile(r"\n(?=\S)")


def known_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise MatdiffError(f"unknown backend {name!r}; valid names: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def get_backend(name: str) -> Backend:
    """The backend, checked to be installed (the error names the extra)."""
    backend = known_backend(name)
    try:
        importlib.import_module(backend.module)
    except ImportError:
        raise MatdiffError(f"the {name} backend needs {backend.module}, which is not installed: "
                           "pip install 'matdiff[backends]'"
                           + (" (and CuPy for your CUDA version)" if name == "cupy" else "")
                           ) from None
    return backend


def respell(source: str, name: str) -> str:
    """The NumPy module `source` rewritten for backend `name` (numpy: unchanged)."""
    if name == "numpy":
        return source
    b = BACKENDS[name]
    text = source.replace("Generated by matdiff: plain NumPy,",
                          f"Generated by matdiff for {name},")
    text = text.replace("import numpy as np", b.header, 1)
    text = re.sub(r"\bnp\.", b.prefix, text)
    if name == "torch":
        text = _clamps(text)
    for pattern, repl in b.renames:
        text = re.sub(pattern, repl, text)
    if name == "torch":
        text = _float_masks(text)
    if name == "jax":
        text = "\n".join(_untransposed(line) for line in text.split("\n"))
    return _swap_helpers(text, b)


class _Transposed(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        a = node.left
        if isinstance(node.op, ast.MatMult) and isinstance(a, ast.Attribute) and a.attr == "T":
            return ast.Call(ast.Attribute(ast.Name("jnp"), "tensordot"), [a.value, node.right],
                            [ast.keyword("axes", ast.Tuple([ast.Constant(0), ast.Constant(0)]))])
        return node


def _untransposed(line: str) -> str:
    """`A.T @ B` as `jnp.tensordot(A, B, axes=(0, 0))` in one line of code.

    XLA's CPU backend copies a transposed matrix before a matrix-vector
    product (5 ms for 10000 x 100, twenty times the product); contracting the
    first axes directly does not. Lines that are not a whole statement stay.
    """
    if ".T @" not in line:
        return line
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
        at = next((t.start[1] for t in tokens if t.type == tokenize.COMMENT), len(line))
        code, comment = line[:at].rstrip(), line[at:]
        tree = ast.parse(code.strip())
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return line
    indent = code[:len(code) - len(code.lstrip())]
    new = ast.unparse(_Transposed().visit(tree))
    return indent + new + ("  " + comment if comment else "")


_NUMBER = re.compile(r"-?\d+(\.\d*)?(e-?\d+)?")


def _clamps(text: str) -> str:
    """torch.maximum(a, 0.0) as torch.clamp_min(a, 0.0) (minimum: clamp_max).

    torch.maximum wants two tensors: a number would be made a tensor on every
    call. Only calls with a literal number on one side are rewritten.
    """
    out, at = [], 0
    for m in re.finditer(r"torch\.(maximum|minimum)\(", text):
        if m.start() < at:
            continue
        args = _call_args(text, m.end())
        if args is None:
            continue
        (a, b), end = args
        if _NUMBER.fullmatch(a.strip()):
            a, b = b, a
        if not _NUMBER.fullmatch(b.strip()):
            continue
        clamp = "clamp_min" if m.group(1) == "maximum" else "clamp_max"
        out.append(text[at:m.start()] + f"torch.{clamp}({_clamps(a.strip())}, {b.strip()})")
        at = end
    return "".join(out) + text[at:]


def _call_args(text: str, start: int) -> tuple[tuple[str, str], int] | None:
    """The two top-level arguments of the call whose "(" ends at start, and the end of ")"."""
    depth, comma = 0, None
    for i in range(start, len(text)):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                if comma is None:
                    return None
                return (text[start:comma], text[comma + 1:i]), i + 1
            depth -= 1
        elif c == "," and depth == 0:
            if comma is not None:
                return None
            comma = i
        elif c == "\n":
            return None
    return None


_MASK = re.compile(r"^(\s+)(\w+) = (\w+) ([<>]=?) 0(\s*#.*)?$", re.M)


def _float_masks(text: str) -> str:
    """A boolean mask that enters a product is made floating where it is defined.

    NumPy multiplies matrices of booleans and floats; PyTorch's `@`, `einsum`
    and `tensordot` want one dtype. A mask only ever multiplied entry by entry
    stays boolean (PyTorch promotes it within the multiplication).
    """
    def cast(m: re.Match) -> str:
        name = re.escape(m.group(2))
        product = (rf"\b{name} @|@ {name}\b|(einsum|tensordot)\([^\n]*\b{name}\b")
        if not re.search(product, text[m.end():]):
            return m.group(0)
        return (f"{m.group(1)}{m.group(2)} = ({m.group(3)} {m.group(4)} 0).to({m.group(3)}.dtype)"
                f"{m.group(5) or ''}")

    return _MASK.sub(cast, text)


def _swap_helpers(text: str, b: Backend) -> str:
    """Replace each helper the module defines by the backend's version; add what they need."""
    blocks = _helper_blocks(text)
    for name, (start, end) in sorted(blocks.items(), key=lambda kv: -kv[1][0]):
        if name in b.helpers:
            text = text[:start] + b.helpers[name].strip() + "\n" + text[end:]
    while True:  # helpers may call helpers
        needed = [h for h in b.helpers if h + "(" in text and f"def {h}(" not in text]
        if not needed:
            return text
        at = text.index(b.header) + len(b.header)
        extra = "".join("\n\n" + b.helpers[h].strip() for h in needed)
        text = text[:at] + extra + "\n" + text[at:]


def _helper_blocks(text: str) -> dict[str, tuple[int, int]]:
    """Each helper's (start, end): from its def to the next line at column 0."""
    out = {}
    for m in _DEF.finditer(text):
        nxt = _TOP.search(text, m.end())
        end = len(text) if nxt is None else nxt.start() + 1
        while end > m.start() and text[end - 2:end] == "\n\n":
            end -= 1
        out[m.group(1)] = (m.start(), end)
    return out


# ------------------------------------------------------------------ which library

_DETECT = (("torch", "is_torch_array"), ("jax", "is_jax_array"), ("cupy", "is_cupy_array"),
           ("dask", "is_dask_array"), ("numpy", "is_numpy_array"))


def backend_of(values: Mapping[str, Any]) -> str:
    """The library of the arrays among `values` (NumPy for numbers and lists).

    Arrays of two libraries in one call are a MatdiffError naming both.
    """
    try:
        import array_api_compat as compat
    except ImportError:  # without the extra, everything is NumPy
        return "numpy"
    found: dict[str, str] = {}
    for key, v in values.items():
        if isinstance(v, int | float | list | tuple):
            continue
        for name, test in _DETECT:
            if getattr(compat, test)(v):
                found.setdefault(name, key)
                break
    if len(found) > 1:
        listing = ", ".join(f"'{k}' is {n}" for n, k in found.items())
        raise MatdiffError(f"values from different array libraries in one call ({listing}); "
                           "convert them to one library")
    return next(iter(found), "numpy")
