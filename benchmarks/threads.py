"""Fix every library's thread count before any of them is imported.

On a shared two-core machine a second BLAS thread waits on a core someone
else holds, and single calls then take 10x their time: one thread each is
the only setting whose ratios repeat from run to run.
"""

from __future__ import annotations

import os

__all__ = ["configure_threads", "limit_loaded"]


def configure_threads(threads: int, pin: bool = True) -> None:
    """Environment for OpenBLAS, OpenMP, MKL and XLA; call before importing NumPy."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep, not spin
    if threads == 1 and pin:
        pin_to_one_core()


def pin_to_one_core() -> None:
    """Run this process on one core: XLA's CPU runtime (jax 0.10) ignores the Eigen flag
    and multiplies matrices on every core, which made jax.jit look 1.6x faster at one
    "thread" than the NumPy it was compared with. Pinning is the one limit every library obeys."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def limit_loaded(threads: int) -> None:
    """Also limit pools already loaded (threadpoolctl), in case NumPy came in first."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(threads)
