"""Autodiff baselines: JAX (jit), PyTorch (torch.func) and HIPS autograd, each optional.

`available()` says which import; a framework that is not installed is
skipped with its reason. Every baseline runs in float64 on the CPU with the
same thread count as NumPy (`threads.configure_threads` runs first).
`build(framework, case, values)` returns a no-argument callable computing
the case's derivative and returning a NumPy-convertible result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from problems import Case

__all__ = ["FRAMEWORKS", "available", "build", "versions"]

FRAMEWORKS = ("jax", "torch", "autograd")


def available() -> dict[str, str | None]:
    """framework -> None when importable, else the reason it is skipped."""
    out: dict[str, str | None] = {}
    for name in FRAMEWORKS:
        try:
            importlib.import_module(name)
            out[name] = None
        except Exception as e:  # noqa: BLE001 - any import failure means "skip"
            out[name] = f"{type(e).__name__}: {e}"
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in FRAMEWORKS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _argnums(case: Case) -> int | tuple[int, ...]:
    nums = tuple(case.args.index(w) for w in case.wrt)
    return nums[0] if len(nums) == 1 else nums


def build(framework: str, case: Case, values: dict[str, Any], threads: int) -> Callable[[], Any]:
    return {"jax": _jax, "torch": _torch, "autograd": _autograd}[framework](case, values, threads)


def _jax(case: Case, values: dict[str, Any], threads: int) -> Callable[[], Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    args = [jnp.asarray(values[a], dtype=jnp.float64) for a in case.args]
    op = {"gradient": jax.grad, "hessian": jax.hessian, "jacobian": jax.jacfwd,
          "value_and_grad": jax.value_and_grad}[case.kind]
    if case.kind == "jacobian":
        fn = jax.jit(op(case.loss_np))
    else:
        fn = jax.jit(op(case.loss_np, argnums=_argnums(case)))

    def call():
        return jax.block_until_ready(fn(*args))

    return call


def _torch(case: Case, values: dict[str, Any], threads: int) -> Callable[[], Any]:
    import torch
    import torch.func

    torch.set_num_threads(threads)
    args = [torch.as_tensor(values[a], dtype=torch.float64) for a in case.args]
    if case.kind == "jacobian":
        fn = torch.func.jacfwd(case.loss_torch)
    else:
        op = {"gradient": torch.func.grad, "hessian": torch.func.hessian,
              "value_and_grad": torch.func.grad_and_value}[case.kind]
        fn = op(case.loss_torch, argnums=_argnums(case))
        if case.kind == "value_and_grad":  # torch returns (gradients, value)
            inner = fn

            def fn(*a):
                grads, value = inner(*a)
                return (value, *grads)

    def call():
        with torch.no_grad():
            return fn(*args)

    return call


def _autograd(case: Case, values: dict[str, Any], threads: int) -> Callable[[], Any]:
    import autograd
    import numpy as np

    args = [np.asarray(values[a], dtype=np.float64) for a in case.args]
    nums = _argnums(case)
    if isinstance(nums, tuple):  # several gradients: differentiate one tuple argument
        rest = [k for k in range(len(args)) if k not in nums]

        def packed(params, *others):
            full = [None] * len(args)
            for k, p in zip(nums, params):
                full[k] = p
            for k, o in zip(rest, others):
                full[k] = o
            return case.loss_np(*full)

        op = autograd.value_and_grad if case.kind == "value_and_grad" else autograd.grad
        g = op(packed, 0)
        params = tuple(args[k] for k in nums)
        others = [args[k] for k in rest]
        return lambda: g(params, *others)
    op = {"gradient": autograd.grad, "hessian": autograd.hessian,
          "jacobian": autograd.jacobian}[case.kind]
    fn = op(case.loss_np, nums)
    return lambda: fn(*args)
