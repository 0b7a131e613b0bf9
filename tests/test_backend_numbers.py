"""Every element-wise function of numbers compiles on every backend (issue 18, section 5).

PyTorch's functions refuse Python numbers where they want tensors
(`logaddexp(0.0, 1.5)`, `clamp_max(2.0, 0.0)`, `where(True, 3.0, a)`). The
generator folds a function of constants into a number, and a function the
code applies to numbers (a length: `log(numel(x))`; a constant beside an
array in `leaky_relu(3, a)`) gets them as 0-d arrays of the values' dtype.
For each element-wise op: constants alone, a constant beside a variable in
each argument, and a length, through `value_and_grad` on NumPy, PyTorch,
JAX, Dask and the portable module, equal to `evaluate`; a scalar result is
an array of the library (not a Python number), in float32 too.
"""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from conftest import to_numpy
from matdiff.ir.ops import ELEMENTWISE_BINARY, ELEMENTWISE_UNARY, SPECS, spelling

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")
jax.config.update("jax_enable_x64", True)

DECLARE = {"a": "scalar", "x": "vector(n)"}
CONVERT = {
    "numpy": np.asarray,
    "torch": torch.as_tensor,
    "jax": jax.numpy.asarray,
    "dask": da.from_array,
    "array-api": torch.as_tensor,
}
# constants inside each function's domain (a positive and a negative one where it has both)
INSIDE = {"log": ("1.5", "0.5"), "sqrt": ("1.5", "0.5"), "arcsin": ("0.5", "-0.5"),
          "arccos": ("0.5", "-0.5"), "pow": ("1.5", "0.5")}


def _call(op, *args: str) -> str:
    name = spelling(op)
    if SPECS[op].operator:
        return f"({args[0]}) {SPECS[op].operator} ({args[1]})"
    return f"{name}({', '.join(args)})"


def _text(op) -> str:
    """Constants alone, beside a variable in each argument, and a length, in one scalar."""
    c, d = INSIDE.get(spelling(op), ("1.5", "-0.5"))
    if op in ELEMENTWISE_UNARY:
        return (f"a*{_call(op, c)} + {_call(op, d)}*sum(x) + a*{_call(op, '1/numel(x)')}"
                f" + sum({_call(op, 'x')})")
    return (f"a*{_call(op, c, d)} + a*{_call(op, d, c)} + a*{_call(op, c, 'a')}"
            f" + {_call(op, 'a', d)}*a + a*{_call(op, 'numel(x)', c)} + sum({_call(op, 'x', c)})")


def _values(op) -> dict:
    """Values inside the domain of the functions of variables in _text."""
    inside = spelling(op) in INSIDE
    return {"a": np.float64(0.4 if inside else 0.7),
            "x": np.array([0.2, 0.45, 0.6]) if inside else np.array([0.3, -1.2, 2.0])}


OPS = list(ELEMENTWISE_UNARY) + list(ELEMENTWISE_BINARY)


@pytest.mark.parametrize("backend", list(CONVERT))
@pytest.mark.parametrize("op", OPS, ids=spelling)
def test_functions_of_numbers_compile_on_every_backend(op, backend):
    text = _text(op)
    values = _values(op)
    f = matdiff.parse(text, declare=DECLARE)
    names = sorted(f.variables)
    want_value = float(f.evaluate(values))
    want = [np.asarray(matdiff.diff(f, wrt=n).evaluate(values), dtype=float) for n in names]
    vg = matdiff.value_and_grad(text, wrt=names, declare=DECLARE, backend=backend)
    value, grads = vg(**{n: CONVERT[backend](values[n]) for n in names})
    if backend != "numpy":  # a scalar is the library's 0-d array, not a Python number
        assert hasattr(value, "shape") and hasattr(grads[0], "shape"), (text, value, grads)
    np.testing.assert_allclose(to_numpy(value), want_value, rtol=1e-10, atol=1e-12,
                               err_msg=f"{text} on {backend}")
    for n, g, w in zip(names, grads, want):
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-10, atol=1e-12,
                                   err_msg=f"d/d{n} of {text} on {backend}")


@pytest.mark.parametrize("text", ["a*softplus(1.5)", "a*leaky_relu(3, a)", "elu(2, a)*a",
                                  "a*elu(-2, a)", "a*softplus(1)", "a*sqrt(numel(x))"])
def test_the_issues_cases_on_pytorch_in_float32(text):
    """The soak's cases, in float32: results stay float32 tensors."""
    values = {"a": np.float32(0.7), "x": np.array([0.3, -1.2, 2.0], dtype=np.float32)}
    f = matdiff.parse(text, declare=DECLARE)
    names = sorted(f.variables)
    vg = matdiff.value_and_grad(text, wrt=names, declare=DECLARE, backend="torch")
    value, grads = vg(**{n: torch.as_tensor(values[n]) for n in names})
    assert value.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    want = [np.asarray(matdiff.diff(f, wrt=n).evaluate(values), dtype=float) for n in names]
    np.testing.assert_allclose(value.numpy(), float(f.evaluate(values)), rtol=1e-5)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-6)
