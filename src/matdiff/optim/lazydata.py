"""Opening chunked data without reading it: Zarr stores and folders of .npy files.

    open_chunked("data.zarr")     # a Zarr group: one array per variable, by name
    open_chunked("data/")         # a folder of X.npy, y.npy, ...: memory-mapped

Both give Dask arrays whose chunks are read where they are computed, so a
data set larger than memory is never loaded whole. A Zarr array keeps its
own chunks along the sample axis; an .npy file is cut into chunks of about
`NPY_CHUNK_BYTES` along its first axis, each read through a memory map by
the task that needs it (paths are made absolute for the workers).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import MatdiffError

__all__ = ["open_chunked", "is_chunked_path", "NPY_CHUNK_BYTES"]

NPY_CHUNK_BYTES = 64 * 2**20


def is_chunked_path(path: str | os.PathLike[str]) -> bool:
    """A Zarr store or a folder (of .npy files), as opposed to one .npz or .csv file."""
    path = os.fspath(path)
    return os.path.isdir(path) or path.rstrip("/").lower().endswith(".zarr")


def open_chunked(path: str | os.PathLike[str], npy_chunk_bytes: int = NPY_CHUNK_BYTES,
                 ) -> dict[str, Any]:
    """Dask arrays by name from a Zarr group or a folder of .npy files."""
    from .chunked import need_dask

    need_dask()
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise MatdiffError(f"no such data: {path!r}")
    if _is_zarr(path):
        return _open_zarr(path)
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(".npy"))
        if not files:
            raise MatdiffError(f"{path!r} is neither a Zarr store nor a folder of .npy files")
        return {os.path.splitext(f)[0]: _open_npy(os.path.join(path, f), npy_chunk_bytes)
                for f in files}
    raise MatdiffError(f"{path!r} is not a Zarr store")


def _is_zarr(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, marker)) for marker in ("zarr.json", ".zgroup",
                                                                  ".zarray"))


def _open_zarr(path: str) -> dict[str, Any]:
    import dask.array as da

    try:
        import zarr
    except ImportError as e:
        raise MatdiffError("Zarr data needs zarr: pip install 'matdiff[backends]'") from e
    try:
        node = zarr.open(path, mode="r")
    except Exception as e:  # noqa: BLE001 - any reader failure is the file's problem
        raise MatdiffError(f"cannot open {path!r} as Zarr: {e}") from None
    if isinstance(node, zarr.Array):
        return {os.path.splitext(os.path.basename(path.rstrip("/")))[0]: da.from_zarr(node)}
    arrays = {name: da.from_zarr(path, component=name) for name, _ in node.arrays()}
    if not arrays:
        raise MatdiffError(f"the Zarr store {path!r} holds no arrays")
    return arrays


def _rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows start:stop of an .npy file, read through a memory map (runs on a worker)."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def _open_npy(path: str, chunk_bytes: int) -> Any:
    import dask
    import dask.array as da

    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise MatdiffError(f"cannot read {path!r} as .npy: {e}") from None
    shape, dtype = mapped.shape, mapped.dtype
    del mapped
    if not shape:
        return da.from_array(np.load(path, allow_pickle=False))
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
    rows = max(1, chunk_bytes // row_bytes)
    read = dask.delayed(_rows, pure=True)
    parts = [da.from_delayed(read(path, a, min(a + rows, shape[0])),
                             shape=(min(a + rows, shape[0]) - a, *shape[1:]), dtype=dtype)
             for a in range(0, shape[0], rows)]
    return parts[0] if len(parts) == 1 else da.concatenate(parts, axis=0)
