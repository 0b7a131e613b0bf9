"""One derivative, any array library: the plan written against the Python array API standard.

The generator plans once (contraction orders, diagonals kept as vectors,
distribution by flop count) and emits each step as a template. NumPy gets
today's templates, byte for byte. Every other backend gets the same plan
spelled in the array API standard (`xp.sum(t, axis=0)`, `xp.permute_dims`,
`xp.linalg.inv`, `xp.asarray(t, copy=True)`): `standard(template)` rewrites
each template, and helpers written once against `xp` replace NumPy's in-place
ones (a diagonal built with `where`, `logdet` without a Python branch).
Only what the standard lacks is spelled per library, in the small table of
each `Backend`: einsum, erf, logsumexp where the library has one, and Dask's
missing determinant.

What `xp` is: the library's standard namespace, bound once at import
(`array_api_compat.torch`, `jax.numpy`, `array_api_compat.cupy`,
`array_api_compat.dask.array`), or, for `backend="array-api"`, the namespace
of the arrays passed in, found per call by `array_namespace`: one module for
every library. The generated module imports no part of matdiff.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import MatdiffError
from .runtime import HELPERS

__all__ = ["BACKENDS", "Backend", "backend_of", "backend_names", "get_backend",
           "known_backend"]


@dataclass(frozen=True)
class Backend:
    """Everything matdiff knows of one array library, in one record (see BACKENDS).

    What must import for it to exist, how generated code imports it and spells
    what the standard lacks (`header`, `einsum`, `spell`, `helpers`, `diag`,
    `passes`), how its arrays are recognised (`detect`, array-api-compat's
    test), how values become its floating arrays (`convert`), and the check
    generated code makes that a value already is one (`floating`, with the
    names it reads imported by `floating_import`), and how it indexes one-hot
    matrices (`one_hot`). Adding a backend is adding a
    record to BACKENDS: the command line's choices, `backend=None` detection,
    the names generated code reserves, and the docs' list read it.
    """

    name: str
    modules: tuple[str, ...]      # what must import for the backend to exist
    header: str                   # the import lines; they bind `xp` unless portable
    einsum: str                   # einsum, which the standard lacks
    device: str = ""              # `, device=...` of a new array, over `{x}` (its like)
    spell: tuple[tuple[str, str], ...] = ()   # (regex, replacement) after the standard
    helpers: Mapping[str, str] = field(default_factory=dict)  # overrides of _XP_HELPERS
    portable: bool = False        # xp = array_namespace(...) in every function
    diag: str = ""                # the library's diag (not in the standard), if it has one
    passes: tuple[str, ...] = ()  # rewrites of each generated line for speed (_PASSES)
    install: str = "pip install 'matdiff[backends]'"
    detect: str = ""              # array_api_compat's is_..._array for its arrays, if any
    convert: Callable[[Mapping[str, Any], frozenset[str]], Callable[[Any], Any]] | None = None
    floating: str = ""            # generated test that `{0}` is already its floating array
    floating_import: str = ""     # the import line that test's names need
    one_device: bool = False      # the fast path also checks one device and one dtype
    jit: bool = False             # compile each module with jax.jit (lengths static)
    # products with a matrix declared one-hot (codegen/onehot.py): "index" gathers
    # (Y*E is E[idx]) and adds at (Y'*G is `_scatter_rows`, which `helpers` must spell);
    # "gather" only gathers (no add-at: Y'*G multiplies); "" multiplies
    one_hot: str = ""
    summary: str = ""             # one line for the docs and the command line's help

    @property
    def reserved(self) -> frozenset[str]:
        """The names its generated modules bind at the top (a variable must not take one)."""
        names: set[str] = set()
        for line in self.header.split("\n"):
            if line.startswith("from "):
                names.update(n.strip() for n in line.split(" import ")[1].split(","))
            elif " as " in line:
                names.add(line.split(" as ")[-1].strip())
            else:
                names.add(line.split()[1].split(".")[0])
        return frozenset(names)

    def spelling(self, like: str) -> _Spelling:
        """How this backend writes the plan of a function whose new arrays are like `like`."""
        return _Spelling(self, like)

    def template(self, text: str, like: str | None) -> str:
        """One NumPy template of the plan in this backend's spelling.

        `like` is a parameter whose dtype and device new arrays take (None: defaults).
        """
        for pattern, repl in _STANDARD:
            text = re.sub(pattern, repl, text)
        text = text.replace("EINSUM(", self.einsum + "(")
        for pattern, repl in self.spell:
            text = re.sub(pattern, repl, text)
        if like is None:
            return text.replace(", dtype=LIKE.dtype, device=LIKE", "").replace(", LIKE)", ")")
        text = text.replace(", device=LIKE", self.device.format(x=like) if self.device else "")
        return text.replace("LIKE", like)

    def line(self, text: str) -> str:
        """A line of the shape checks: `np.ndim(x)` is `x.ndim` (values are arrays here)."""
        return re.sub(r"\bnp\.ndim\((\w+)\)", r"\1.ndim", text)

    def helper_sources(self, used: list[str]) -> list[str]:
        """The sources of the helpers `used` and of those they call, in a fixed order."""
        table = {**_XP_HELPERS, **self.helpers}
        wanted: list[str] = []
        todo = list(used)
        while todo:
            name = todo.pop()
            if name in wanted or name not in table:
                continue
            wanted.append(name)
            todo += [h for h in table if h + "(" in table[name] and h != name]
        out = []
        for name in [h for h in table if h in wanted]:
            text = table[name].strip("\n")
            text = text.replace("    DIAG\n", _DIAG.format(diag=self.diag) if self.diag else "")
            text = re.sub(r", device=DEV\((\w+)\)",
                          lambda m: self.device.format(x=m.group(1)) if self.device else "", text)
            if self.portable and "xp." in text and "array_namespace(" not in text:
                text = _namespace_line(text)
            out.append(text)
        return out

    def names(self) -> list[str]:
        return list({**_XP_HELPERS, **self.helpers})

    def imports(self, text: str) -> str:
        """The header lines the module's `text` uses (`xp` always: the shape checks)."""
        out = []
        for line in self.header.split("\n"):
            if line.startswith("from "):
                head, names = line.split(" import ")
                used = [n for n in names.split(", ") if re.search(rf"\b{n}\(", text)]
                if used:
                    out.append(f"{head} import {', '.join(used)}")
                continue
            bound = line.split(" as ")[-1] if " as " in line else line.split()[1].split(".")[0]
            if bound == "xp" or re.search(rf"\b{re.escape(bound)}\.", text):
                out.append(line)
        return "\n".join(out)


@dataclass(frozen=True)
class _Spelling:
    backend: Backend
    like: str

    def template(self, text: str, numbers: tuple[int, ...] = (), every: bool = False) -> str:
        """The template respelled; the operands in `numbers` are Python numbers (`every`:
        all are), made 0-d arrays like `like` where a function would refuse them."""
        text = self.backend.template(text, self.like)
        if numbers and _refuses_numbers(text, every):
            device = self.backend.device.format(x=self.like) if self.backend.device else ""
            for k in numbers:
                text = text.replace(f"{{{k}}}",
                                    f"xp.asarray({{{k}}}, dtype={self.like}.dtype{device})")
        return text

    def text(self, text: str) -> str:
        for name in self.backend.passes:
            text = _PASSES[name](text)
        return text


# functions of the standard that take a Python number beside arrays, or anywhere
_TAKE_NUMBER_BESIDE_ARRAY = frozenset({"xp.maximum", "xp.minimum"})
_TAKE_NUMBER = frozenset({"xp.full", "xp.asarray", "_embed", "_embed_sum"})
_CALLED = re.compile(r"([A-Za-z_][\w.]*)\(")


def _refuses_numbers(text: str, every: bool) -> bool:
    """Whether a function the template calls may refuse a Python number operand: one of
    numbers alone (PyTorch's logaddexp(0.0, 1.5), clamp_max(2.0, 0.0)), or beside arrays
    outside the few that broadcast a number (where(3.0 > 0, 3.0, a * 3.0))."""
    called = set(_CALLED.findall(text))
    if called <= _TAKE_NUMBER:
        return False
    return every or not called <= _TAKE_NUMBER | _TAKE_NUMBER_BESIDE_ARRAY


# NumPy template -> array API standard; `{k}` are the operands, EINSUM and LIKE placeholders
_STANDARD: tuple[tuple[str, str], ...] = (
    (r"\{(\d+)\}\.(sum|max)\(\)", r"xp.\2({\1})"),
    (r"\{(\d+)\}\.(sum|max)\(axis=(\d+)(, keepdims=True)?\)", r"xp.\2({\1}, axis=\3\4)"),
    (r"\{(\d+)\}\.copy\(\)", r"xp.asarray({\1}, copy=True)"),
    # a step mask: a float of the argument's dtype (a boolean times a float, or in a
    # matrix product, is not in the standard)
    (r"^\(\{(\d+)\} > 0\) \* 1\.0$", r"_step({\1})"),
    (r"^\{(\d+)\} > 0$", r"_step({\1})"),
    (r"\bnp\.transpose\(", "xp.permute_dims("),
    (r"\bnp\.arc(sin|cos|tan)\(", r"xp.a\1("),
    (r"\bnp\.linalg\.norm\(", "xp.linalg.vector_norm("),
    (r"^np\.full\((.*), (\S+)\)$", r"xp.full(\1, \2, dtype=LIKE.dtype, device=LIKE)"),
    (r"^_embed\((.*)\)$", r"_embed(\1, LIKE)"),
    (r"^_embed_sum\((.*)\)$", r"_embed_sum(\1, like=LIKE)"),
    (r"\bnp\.einsum\(", "EINSUM("),
    (r"\bnp\.", "xp."),
)


def _namespace_line(helper: str) -> str:
    """A portable helper finds its namespace from its first argument (a diagonal: `like`)."""
    lines = helper.split("\n")
    if helper.startswith("def _embed("):
        arg = "core if like is None else like"
    else:
        arg = re.match(r"def \w+\((\w+)", helper).group(1)
    at = 1  # after the docstring
    if '"""' in lines[1]:
        at = 2 if lines[1].count('"""') == 2 else next(
            k for k in range(2, len(lines)) if '"""' in lines[k]) + 1
    return "\n".join([*lines[:at], f"    xp = array_namespace({arg})", *lines[at:]])


def _from_numpy(source: str) -> str:
    return re.sub(r"\bnp\.", "xp.", source)


_DIAG = """    if tuple(groups) == (0, 0) and k == 1 and core.shape[0] == shape[0] == shape[1]:
        return {diag}(core)  # the library's own diag (not in the standard): faster
""".replace("k == 1", "core.ndim == 1")

# helpers written once against the standard (the op spec's NumPy ones, re-namespaced, where
# they are standard already)
_XP_HELPERS: dict[str, str] = {
    **{name: _from_numpy(src) for name, src in HELPERS.items()
       if name in ("_sigmoid", "_logsigmoid")},
    "_step": '''
def _step(x):
    """1 where x > 0, else 0, in x's dtype."""
    return xp.astype(x > 0, x.dtype)
''',
    "_embed": '''
def _embed(core, shape, groups, like=None):
    """Zeros of `shape` holding `core` where the full axes of one group agree (a diagonal).

    groups[p] is the core axis of full axis p; core's axes are the last groups
    (broadcast as NumPy would). Built with `where`, not written in place; a number
    core takes the dtype and device of `like`.
    """
    if not hasattr(core, "shape"):
        core = xp.asarray(core) if like is None else xp.asarray(
            core, dtype=like.dtype, device=DEV(like))
    DIAG
    first = {}
    for p, g in enumerate(groups):
        first.setdefault(g, p)
    mask = None
    for p, g in enumerate(groups):
        if first[g] != p:
            i = xp.reshape(xp.arange(shape[p], device=DEV(core)),
                           tuple(-1 if k == p else 1 for k in range(len(shape))))
            j = xp.reshape(xp.arange(shape[first[g]], device=DEV(core)),
                           tuple(-1 if k == first[g] else 1 for k in range(len(shape))))
            mask = (i == j) if mask is None else mask & (i == j)
    k = core.ndim
    if k:
        mine = list(range(len(first) - k, len(first)))
        order = sorted(range(k), key=lambda a: first[mine[a]])
        if order != list(range(k)):
            core = xp.permute_dims(core, tuple(order))
        at = {first[mine[a]]: a for a in range(k)}
        core = xp.reshape(core, tuple(core.shape[order.index(at[p])] if p in at else 1
                                      for p in range(len(shape))))
    out = core if mask is None else xp.where(mask, core, 0.0)
    return xp.broadcast_to(out, tuple(shape)) * 1.0
''',
    "_embed_sum": '''
def _embed_sum(shape, *parts, like=None):
    """The sum of diagonals (core, groups), built by _embed, and dense arrays (array, None)."""
    out = None
    for core, groups in parts:
        term = core if groups is None else _embed(core, shape, groups, like)
        out = term if out is None else out + term
    return out
''',
    "_gram": '''
def _gram(P, w):
    """P' diag(w) P, one matrix product (a symmetric rank-k update where the library has one)."""
    return (w[:, None] * P).T @ P
''',
    "_logdet": '''
def _logdet(A):
    """log(det(A)) (nan where det(A) < 0), without a Python branch."""
    sign, logabs = xp.linalg.slogdet(A)
    return xp.where(sign > 0, logabs, xp.where(sign == 0, -xp.inf, xp.nan))
''',
    "_softmax": '''
def _softmax(x, axis=None):
    """exp(x) / sum(exp(x)) along axis, shifted by the maximum against overflow."""
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)
''',
    "_logsumexp": '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis, shifted by the maximum against overflow."""
    m = xp.max(x, axis=axis, keepdims=True)
    out = m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))
    return xp.reshape(out, ()) if axis is None else xp.squeeze(out, axis=axis)
''',
    "_gelu": '''
def _gelu(x):
    """x Phi(x), exactly: the standard normal CDF through erf."""
    return 0.5 * x * (1.0 + _erf(x / 2.0 ** 0.5))
''',
    "_erf": '''
def _erf(x):
    """The error function (not in the standard: SciPy's, NumPy and Dask block by block)."""
    from scipy.special import erf
    return erf(x)
''',
    "_eq": '''
def _eq(a, b):
    """1.0 where a == b, else 0.0, in the dtype of the values (a boolean cannot enter a
    matrix product, and a boolean times 1.0 is float32 in PyTorch)."""
    return xp.astype(a == b, (a if hasattr(a, "dtype") else b).dtype)
''',
}

_PORTABLE_ERF = '''
def _erf(x):
    """The error function, which the standard lacks: each library's own."""
    if is_torch_array(x):
        import torch
        return torch.special.erf(x)
    if is_jax_array(x):
        from jax.scipy.special import erf
    elif is_cupy_array(x):
        from cupyx.scipy.special import erf
    else:  # NumPy, and Dask block by block
        from scipy.special import erf
    return erf(x)
'''

_PORTABLE_LINALG = {
    "_det": '''
def _det(A):
    """det(A); a library without the optional linalg extension (Dask) gathers A for NumPy."""
    xp = array_namespace(A)
    if hasattr(xp.linalg, "det"):
        return xp.linalg.det(A)
    import numpy as np
    return np.linalg.det(np.asarray(A))
''',
    "_logdet": '''
def _logdet(A):
    """log(det(A)) (nan where det(A) < 0), without a Python branch (Dask: NumPy, gathered)."""
    xp = array_namespace(A)
    if not hasattr(xp.linalg, "slogdet"):
        import numpy as np
        xp, A = array_namespace(np.asarray(A)), np.asarray(A)
    sign, logabs = xp.linalg.slogdet(A)
    return xp.where(sign > 0, logabs, xp.where(sign == 0, -xp.inf, xp.nan))
''',
}

_PORTABLE_EINSUM = '''
def _einsum(subscripts, *operands):
    """einsum, which the standard lacks (NumPy, CuPy, PyTorch, JAX and Dask each have one)."""
    xp = array_namespace(*operands)
    return xp.einsum(subscripts, *operands)
'''

_DASK_DET = {
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
''',
}

# the window ops (conv2, maxpool, ...; ir/ops.py), written against the standard: the
# convolution as im2col, one strided slice per kernel offset, stacked, then one tensordot
_XP_HELPERS.update({
    "_lead_pad": '''
def _lead_pad(a, rank, pad):
    """a with `pad` zeros on both sides of each of its leading `rank` axes."""
    for k in range(rank):
        shape = list(a.shape)
        shape[k] = pad
        z = xp.zeros(tuple(shape), dtype=a.dtype, device=DEV(a))
        a = xp.concat([z, a, z], axis=k)
    return a
''',
    "_conv": '''
def _conv(a, b, rank, pad, stride):
    """Cross-correlation over the leading `rank` axes; a's trailing axes, then b's, ride
    along (im2col: a strided slice per kernel offset, stacked, then one tensordot)."""
    if pad:
        a = _lead_pad(a, rank, pad)
    k = tuple(b.shape[:rank])
    out = [(a.shape[d] - k[d]) // stride + 1 for d in range(rank)]
    offsets = [(u,) for u in range(k[0])] if rank == 1 else [
        (u, v) for u in range(k[0]) for v in range(k[1])]
    cols = [a[tuple(slice(o, o + stride * (n - 1) + 1, stride) for o, n in zip(off, out))]
            for off in offsets]
    kernel = xp.reshape(b, (len(offsets),) + tuple(b.shape[rank:]))
    stacked = xp.stack(cols, axis=-1)  # axes counted from the front: Dask's tensordot
    return xp.tensordot(stacked, kernel, axes=([stacked.ndim - 1], [0]))  # misreads -1
''',
    "_conv1": '''
def _conv1(a, b, pad=0, stride=1):
    """y[i] = sum_u x[s i + u] k[u] over x padded by `pad` zeros each side."""
    return _conv(a, b, 1, pad, stride)
''',
    "_conv2": '''
def _conv2(a, b, pad=0, stride=1):
    """Y[i, j] = sum_uv X[s i + u, s j + v] K[u, v] over X padded by `pad` zeros all round."""
    return _conv(a, b, 2, pad, stride)
''',
    "_rot180": '''
def _rot180(a, rank):
    """a reversed along its leading `rank` axes."""
    return xp.flip(a, axis=tuple(range(rank)))
''',
    "_blocks": '''
def _blocks(a, rank, s):
    """a's leading `rank` axes cut into s-long blocks: shape (m/s, [n/s,] rest..., s[, s])."""
    shape = [x for m in a.shape[:rank] for x in (m // s, s)] + list(a.shape[rank:])
    b = xp.reshape(a, tuple(shape))
    order = [2 * k for k in range(rank)] + list(range(2 * rank, len(shape))) + [
        2 * k + 1 for k in range(rank)]
    return xp.permute_dims(b, tuple(order))
''',
    "_maxpool": '''
def _maxpool(a, rank, s):
    """The maximum of each s x s block of a's leading axes."""
    return xp.max(_blocks(a, rank, s), axis=tuple(range(-rank, 0)))
''',
    "_meanpool": '''
def _meanpool(a, rank, s):
    """The mean of each s x s block of a's leading axes."""
    return xp.mean(_blocks(a, rank, s), axis=tuple(range(-rank, 0)))
''',
    "_upsample": '''
def _upsample(a, rank, s):
    """Each entry of a's leading axes repeated s times along each of them."""
    for k in range(rank):
        shape = tuple(a.shape)
        a = xp.expand_dims(a, axis=k + 1)
        a = xp.broadcast_to(a, shape[:k + 1] + (s,) + shape[k + 1:])
        a = xp.reshape(a, shape[:k] + (shape[k] * s,) + shape[k + 1:])
    return a
''',
    "_dilate": '''
def _dilate(a, rank, s):
    """a's entries spread s apart along its leading axes, zeros between them."""
    for k in range(rank):
        shape = tuple(a.shape)
        z = xp.zeros(shape[:k + 1] + (s - 1,) + shape[k + 1:], dtype=a.dtype, device=DEV(a))
        a = xp.concat([xp.expand_dims(a, axis=k + 1), z], axis=k + 1)
        a = xp.reshape(a, shape[:k] + (shape[k] * s,) + shape[k + 1:])
        a = a[(slice(None),) * k + (slice(0, s * (shape[k] - 1) + 1),)]
    return a
''',
    "_subsample": '''
def _subsample(a, rank, s):
    """a[::s, ::s] along its leading axes."""
    return a[(slice(None, None, s),) * rank]
''',
    "_vec": '''
def _vec(a, rank=2):
    """The leading two axes merged, column by column (MATLAB's X(:))."""
    rest = tuple(range(2, a.ndim))
    return xp.reshape(xp.permute_dims(a, (1, 0) + rest),
                      (a.shape[0] * a.shape[1],) + tuple(a.shape[2:]))
''',
    "_reshape": '''
def _reshape(a, m, n):
    """The leading axis split into (m, n), column by column (MATLAB's reshape)."""
    b = xp.reshape(a, (n, m) + tuple(a.shape[1:]))
    return xp.permute_dims(b, (1, 0) + tuple(range(2, b.ndim)))
''',
})

# the library's own convolution where it has one: a's trailing axes as the batch, b's as
# the output channels (one call, whatever the number of trailing axes)
_TORCH_CONV = '''
def _convR(a, b, pad=0, stride=1):
    """PyTorch's convRd: a's trailing axes as the batch, b's as the output channels."""
    lead, last = tuple(range(R)), tuple(range(-R, 0))
    x = torch.reshape(torch.movedim(a, lead, last), (-1, 1) + tuple(a.shape[:R]))
    w = torch.reshape(torch.movedim(b, lead, last), (-1, 1) + tuple(b.shape[:R]))
    y = torch.movedim(torch.nn.functional.convRd(x, w, padding=pad, stride=stride),
                      tuple(range(2, 2 + R)), lead)
    return torch.reshape(y, tuple(y.shape[:R]) + tuple(a.shape[R:]) + tuple(b.shape[R:]))
'''

_JAX_CONV = '''
def _convR(a, b, pad=0, stride=1):
    """jax.lax.conv_general_dilated: a's trailing axes as the batch, b's as the output
    channels."""
    lead, last = tuple(range(R)), tuple(range(-R, 0))
    x = xp.reshape(xp.moveaxis(a, lead, last), (-1, 1) + tuple(a.shape[:R]))
    w = xp.reshape(xp.moveaxis(b, lead, last), (-1, 1) + tuple(b.shape[:R]))
    y = xp.moveaxis(jax.lax.conv_general_dilated(x, w, (stride,) * R, [(pad, pad)] * R),
                    tuple(range(2, 2 + R)), lead)
    return xp.reshape(y, tuple(y.shape[:R]) + tuple(a.shape[R:]) + tuple(b.shape[R:]))
'''


def _library_convs(template: str) -> dict[str, str]:
    return {f"_conv{r}": template.replace("R", str(r)) for r in (1, 2)}


# ------------------------------------------------------------------ values -> arrays
# Each backend's `convert(values, used)`: value -> its floating array (integers become
# float64, as in NumPy), on the device of the values' arrays; `used` are the names
# whose values the code multiplies (not those only giving sizes).

def _to_numpy(values: Mapping[str, Any], used: frozenset[str]) -> Callable[[Any], Any]:
    import numpy as np

    def to_numpy(v: Any) -> Any:
        a = np.asarray(v)
        return a if a.dtype.kind == "f" else a.astype(np.float64)

    return to_numpy


def _to_torch(values: Mapping[str, Any], used: frozenset[str]) -> Callable[[Any], Any]:
    import torch

    device = next((v.device for v in values.values() if torch.is_tensor(v)), None)

    def to_torch(v: Any) -> Any:
        # Python numbers and lists are float64, as in NumPy (not PyTorch's float32 default)
        plain = isinstance(v, int | float | list | tuple)
        t = torch.as_tensor(v, dtype=torch.float64 if plain else None, device=device)
        return t if t.is_floating_point() else t.to(torch.float64)

    return _one_dtype({n: v for n, v in values.items() if n in used}, to_torch)


def _one_dtype(values: Mapping[str, Any], convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, with numbers, integers and 0-d arrays taking the dtype of the arrays.

    PyTorch multiplies matrices of one dtype only (`addmv input tensors must
    have the same dtype`): arrays of two floating dtypes are refused here,
    naming them, before the generated code runs.
    """
    import numpy as np
    import torch

    kinds: dict[Any, list[str]] = {}
    for name, v in values.items():
        dtype = getattr(v, "dtype", None)
        if dtype is None or not getattr(v, "shape", ()):
            continue
        if not isinstance(dtype, torch.dtype):  # a NumPy array, converted as it is
            try:
                dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            except TypeError:
                continue
        if dtype.is_floating_point:
            kinds.setdefault(dtype, []).append(name)
    if len(kinds) > 1:
        listing = " and ".join(f"{str(d).replace('torch.', '')} ({', '.join(map(repr, n))})"
                               for d, n in kinds.items())
        raise MatdiffError(f"the values mix {listing}: PyTorch multiplies arrays of one dtype "
                           "only; convert them to one, as x.float() (float32) or x.double() "
                           "(float64) for a tensor, x.astype('float32') for a NumPy array")
    if not kinds:
        return convert
    dtype = next(iter(kinds))

    def to_dtype(v: Any) -> Any:
        t = convert(v)
        return t if t.dtype == dtype else t.to(dtype)

    return to_dtype


def _to_jax(values: Mapping[str, Any], used: frozenset[str]) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    def to_jax(v: Any) -> Any:
        a = jnp.asarray(v)
        return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(float)

    return to_jax


def _to_cupy(values: Mapping[str, Any], used: frozenset[str]) -> Callable[[Any], Any]:
    import cupy

    def to_cupy(v: Any) -> Any:
        a = cupy.asarray(v)
        return a if a.dtype.kind == "f" else a.astype(cupy.float64)

    return to_cupy


def _to_dask(values: Mapping[str, Any], used: frozenset[str]) -> Callable[[Any], Any]:
    import dask.array as da

    def to_dask(v: Any) -> Any:
        a = da.asarray(v)
        return a if a.dtype.kind == "f" else a.astype("float64")

    return to_dask


# `_hot(Y, axis)` for the positions of the 1s of a one-hot matrix, where the library's
# argmax is slow (codegen emits argmax for nothing else: onehot.py)
_HOT = (r"^xp\.argmax\((\{\d+\}), axis=(\d)\)$", r"_hot(\1, \2)")

BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", ("numpy",), "import numpy as np", "np.einsum",
                     detect="is_numpy_array", convert=_to_numpy, one_hot="index",
                     summary="NumPy arrays"),
    "torch": Backend(
        "torch", ("torch", "array_api_compat"),
        "import torch\nimport array_api_compat.torch as xp", "torch.einsum",
        device=", device={x}.device", diag="torch.diag", passes=("clamps", "step_times"),
        spell=(_HOT,),
        detect="is_torch_array", convert=_to_torch, one_device=True, one_hot="index",
        floating="is_tensor({0}) and {0}.is_floating_point()",
        floating_import="from torch import is_tensor", summary="PyTorch tensors",
        helpers={"_sigmoid": '''
def _sigmoid(x):
    """1 / (1 + exp(-x)): PyTorch's kernel, one pass, without overflow (not in the standard)."""
    return torch.sigmoid(x)
''', "_step_times": '''
def _step_times(h, a):
    """_step(h) * a in one pass, PyTorch's ReLU backward (0 where h <= 0, even times inf)."""
    if torch.is_tensor(a) and a.shape == h.shape and a.dtype == h.dtype:
        return torch.ops.aten.threshold_backward(a, h, 0)
    return _step(h) * a
''', "_erf": '''
def _erf(x):
    """The error function (not in the standard)."""
    return torch.special.erf(x)
''', "_logsumexp": '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis (not in the standard; torch.logsumexp shifts by the maximum)."""
    return torch.logsumexp(xp.reshape(x, (-1,)) if axis is None else x,
                           dim=0 if axis is None else axis)
''', "_softmax": '''
def _softmax(x, axis=None):
    """exp(x) / sum(exp(x)) along axis: PyTorch's fused kernel (one pass to read, one to write)."""
    if axis is None:
        return xp.reshape(torch.softmax(xp.reshape(x, (-1,)), dim=0), x.shape)
    return torch.softmax(x, dim=axis)
''', "_scatter_rows": '''
def _scatter_rows(G, index, k):
    """k rows of zeros, G's row i added into row index[i]: a one-hot matrix's Y' G
    (PyTorch's index_add_, on G's device)."""
    out = torch.zeros((k,) + tuple(G.shape[1:]), dtype=G.dtype, device=G.device)
    return out.index_add_(0, index, G)
''', "_hot": '''
def _hot(Y, axis):
    """The position of the 1 along `axis` of a one-hot matrix: the indices of its maximum
    (PyTorch's argmax takes three times as long on the CPU)."""
    return torch.max(Y, dim=axis).indices
'''}),
    "jax": Backend(
        "jax", ("jax",), "import jax.numpy as xp\nimport jax.scipy.special", "xp.einsum",
        diag="xp.diag", passes=("untransposed",), spell=(_HOT,),
        detect="is_jax_array", convert=_to_jax, jit=True, one_hot="index",
        floating="isinstance({0}, Array) and {0}.dtype.kind == 'f'",
        floating_import="from jax import Array", summary="JAX arrays (each module jitted)",
        helpers={"_erf": '''
def _erf(x):
    """The error function (not in the standard)."""
    return jax.scipy.special.erf(x)
''', "_logsumexp": '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) along axis (not in the standard; JAX's shifts by the maximum)."""
    return jax.scipy.special.logsumexp(x, axis=axis)
''', "_scatter_rows": '''
def _scatter_rows(G, index, k):
    """k rows of zeros, G's row i added into row index[i]: a one-hot matrix's Y' G
    (JAX's functional add-at, which jit and grad trace)."""
    return xp.zeros((k,) + tuple(G.shape[1:]), dtype=G.dtype).at[index].add(G)
''', "_hot": '''
def _hot(Y, axis):
    """The position of the 1 along `axis` of a one-hot matrix: its product with 0, 1, ...,
    k-1 at full precision, exact while k * eps <= 1 (XLA's argmax on the CPU takes twenty
    times as long), else its argmax."""
    k = Y.shape[axis]
    if k * xp.finfo(Y.dtype).eps > 1 or k >= 2 ** 31:
        return xp.argmax(Y, axis=axis)
    at = xp.arange(k, dtype=Y.dtype)
    return xp.matmul(*((Y, at) if axis == 1 else (at, Y)), precision="highest").astype(xp.int32)
'''}),
    "cupy": Backend(
        "cupy", ("cupy", "array_api_compat"),
        "import cupy as cp\nimport array_api_compat.cupy as xp", "cp.einsum",
        install="pip install 'matdiff[backends]' and CuPy for your CUDA version",
        detect="is_cupy_array", convert=_to_cupy, summary="CuPy arrays (on the GPU)",
        one_hot="index", helpers={"_erf": '''
def _erf(x):
    """The error function (not in the standard)."""
    from cupyx.scipy.special import erf
    return erf(x)
''', "_scatter_rows": '''
def _scatter_rows(G, index, k):
    """k rows of zeros, G's row i added into row index[i]: a one-hot matrix's Y' G
    (CuPy's add-at, cupyx.scatter_add)."""
    import cupyx
    out = cp.zeros((k,) + tuple(G.shape[1:]), dtype=G.dtype)
    cupyx.scatter_add(out, index, G)
    return out
'''}),
    "dask": Backend(
        "dask", ("dask.array", "array_api_compat"),
        "import numpy as np\nimport dask.array as da\nimport array_api_compat.dask.array as xp",
        "da.einsum", spell=((r"\bxp\.linalg\.det\(", "_det("),), helpers=_DASK_DET,
        detect="is_dask_array", convert=_to_dask, one_hot="gather",
        summary="Dask arrays (lazy, chunked)"),
    "array-api": Backend(
        "array-api", ("array_api_compat",),
        "from array_api_compat import array_namespace, device, is_cupy_array, is_jax_array, "
        "is_torch_array", "_einsum", device=", device=device({x})", portable=True,
        summary="any library's arrays, through array-api-compat (found per call)",
        one_hot="gather",
        spell=((r"\bxp\.linalg\.det\(", "_det("),),
        helpers={"_erf": _PORTABLE_ERF, "_einsum": _PORTABLE_EINSUM, **_PORTABLE_LINALG}),
}


# PyTorch and JAX convolve with their own kernels
for _name, _template in (("torch", _TORCH_CONV), ("jax", _JAX_CONV)):
    BACKENDS[_name] = replace(BACKENDS[_name],
                              helpers={**BACKENDS[_name].helpers, **_library_convs(_template)})
# Dask reshapes only what is one chunk along the split axes: a window op's argument (an
# image, a kernel: small) is made one chunk first
BACKENDS["dask"] = replace(BACKENDS["dask"], helpers={
    **BACKENDS["dask"].helpers,
    "_blocks": _XP_HELPERS["_blocks"].replace(
        "    b = xp.reshape(a, tuple(shape))", "    b = xp.reshape(a.rechunk(-1), tuple(shape))"),
    "_upsample": _XP_HELPERS["_upsample"].replace(
        "    for k in range(rank):", "    a = a.rechunk(-1)\n    for k in range(rank):"),
    "_dilate": _XP_HELPERS["_dilate"].replace(
        "    for k in range(rank):", "    a = a.rechunk(-1)\n    for k in range(rank):"),
    "_vec": _XP_HELPERS["_vec"].replace("xp.permute_dims(a,", "xp.permute_dims(a.rechunk(-1),"),
    "_reshape": _XP_HELPERS["_reshape"].replace("xp.reshape(a,", "xp.reshape(a.rechunk(-1),"),
})


# ------------------------------------------------------------------ speed, per library

class _Transposed(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        a = node.left
        if isinstance(node.op, ast.MatMult) and isinstance(a, ast.Attribute) and a.attr == "T":
            return ast.Call(ast.Attribute(ast.Name("xp"), "tensordot"), [a.value, node.right],
                            [ast.keyword("axes", ast.Tuple([ast.Constant(0), ast.Constant(0)]))])
        return node


def _untransposed(line: str) -> str:
    """`A.T @ B` as `xp.tensordot(A, B, axes=(0, 0))` in one line of code (JAX).

    XLA's CPU backend copies a transposed matrix before a matrix-vector
    product (5 ms for 10000 x 100, twenty times the product); contracting the
    first axes directly does not. Lines that are not a whole statement stay.
    """
    return _by_ast(line, ".T @", _Transposed())


class _StepTimes(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult):
            for mask, other in ((node.left, node.right), (node.right, node.left)):
                if (isinstance(mask, ast.Call) and isinstance(mask.func, ast.Name)
                        and mask.func.id == "_step" and len(mask.args) == 1):
                    return ast.Call(ast.Name("_step_times"), [mask.args[0], other], [])
        return node


def _step_times(line: str) -> str:
    """`_step(h) * a` as `_step_times(h, a)` (PyTorch): its ReLU backward kernel in one
    pass, where a comparison, a conversion and a product take three (P7: 2.5 ms, not 7)."""
    return _by_ast(line, "_step(", _StepTimes())


def _by_ast(line: str, marker: str, rewrite: ast.NodeTransformer) -> str:
    """One line of code holding `marker`, rewritten by `rewrite` (its comment kept)."""
    if marker not in line:
        return line
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
        at = next((t.start[1] for t in tokens if t.type == tokenize.COMMENT), len(line))
        code, comment = line[:at].rstrip(), line[at:]
        tree = ast.parse(code.strip())
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return line
    indent = code[:len(code) - len(code.lstrip())]
    new = ast.unparse(rewrite.visit(tree))
    return indent + new + ("  " + comment if comment else "")


_NUMBER = re.compile(r"-?\d+(\.\d*)?(e-?\d+)?")


def _clamps(text: str) -> str:
    """xp.maximum(a, 0.0) as torch.clamp_min(a, 0.0) (minimum: clamp_max), on PyTorch.

    A number would be made a tensor on every call (array-api-compat's maximum
    costs ten times clamp_min). Only calls with a literal number on one side
    are rewritten.
    """
    out, at = [], 0
    for m in re.finditer(r"\bxp\.(maximum|minimum)\(", text):
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


_PASSES = {"clamps": _clamps, "untransposed": _untransposed, "step_times": _step_times}


def known_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise MatdiffError(f"unknown backend {name!r}; valid names: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def get_backend(name: str) -> Backend:
    """The backend, checked to be installed (the error names the extra to install)."""
    backend = known_backend(name)
    for module in backend.modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MatdiffError(f"the {name} backend needs {module}, which is not installed: "
                               f"{backend.install}") from None
    return backend


# ------------------------------------------------------------------ which library

def backend_names() -> list[str]:
    """Every backend's name, in BACKENDS' order (the command line's choices)."""
    return list(BACKENDS)


def _detectable() -> list[tuple[str, str]]:
    """(name, test) of the backends whose arrays can be recognised, NumPy last (the default)."""
    found = [(b.name, b.detect) for b in BACKENDS.values() if b.detect]
    return sorted(found, key=lambda nt: nt[0] == "numpy")


def backend_of(values: Mapping[str, Any], numpy_converts: bool = False) -> str:
    """The library of the arrays among `values` (NumPy for numbers and lists).

    Arrays of two libraries in one call are a MatdiffError naming both, unless
    one of them is NumPy and `numpy_converts` (a backend named at compile time
    converts NumPy arrays to its own).
    """
    try:
        import array_api_compat as compat
    except ImportError:  # without the extra, everything is NumPy
        return "numpy"
    found: dict[str, str] = {}
    tests = _detectable()
    for key, v in values.items():
        if isinstance(v, int | float | list | tuple):
            continue
        for name, test in tests:
            if getattr(compat, test)(v):
                found.setdefault(name, key)
                break
    if numpy_converts and len(found) > 1:
        found.pop("numpy", None)
    if len(found) > 1:
        listing = ", ".join(f"'{k}' is {n}" for n, k in found.items())
        other = next((n for n in found if n != "numpy"), None)
        hint = (f", or compile with backend={other!r}, which converts NumPy arrays"
                if "numpy" in found and other else "")
        raise MatdiffError(f"values from different array libraries in one call ({listing}); "
                           f"convert them to one library{hint}")
    return next(iter(found), "numpy")
