"""P1-P7 on a CUDA device: matdiff's torch and jax backends against torch.func and jax.jit there.

    python benchmarks/gpu.py            # the issue's sizes
    python benchmarks/gpu.py --quick    # small sizes
    python benchmarks/gpu.py --write    # also write the table into benchmarks/README.md

The same measurement as `backends.py --device cuda` (every array on the GPU,
each call waited for). Without a CUDA device it prints "no CUDA device:
nothing measured" and exits 0; a library without one is named and skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backends import main  # noqa: E402  (sets the threads and JAX's platforms first)

if __name__ == "__main__":
    sys.exit(main(["--device=cuda", *sys.argv[1:]]))
