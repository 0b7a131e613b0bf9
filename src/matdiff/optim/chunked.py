"""Training on data that does not fit in memory: Dask arrays, chunk by chunk.

The loss is split from its IR (decompose.py) into a part summed over chunks
of samples and a part without the samples. The summed part is compiled once
into a standalone NumPy module; its source goes to the Dask workers, which
run it on their chunks (read from disk where the data lives). Persisted
chunks are laid out in contiguous groups, one per worker thread, each group
kept on its worker and summed there by one task, so a step costs a few
tasks, not one per chunk (`layout_groups`: the same association of the sums
on any cluster of the same size). The partial (loss,
gradients) are added in this process when small (GATHER_BYTES), else in a
tree of sums on the cluster. Only the parameters and the gradients travel;
the data never comes to this process.

Full-batch steps (sgd, momentum, adam without batch_size; lbfgs) use that
distributed gradient. Minibatch steps stream the chunks to this process in a
shuffled order (a new order each epoch, from the seed), the next chunk loading
while the current one trains, and slice each chunk, its rows shuffled, into
minibatches.

The cluster: the client given (a distributed.Client or a scheduler address),
else the current default client, else a LocalCluster started for the fit and
closed after it (its dashboard off, so that no "port 8787 is already in use"
warning reaches the user). An address that does not answer is a MatdiffError
within `CONNECT_TIMEOUT` seconds.

Lost workers: while it waits for the cluster, a fit looks at the workers
every `WATCH_INTERVAL` seconds. A worker that is gone is a MatdiffWarning
naming it (Dask recomputes its chunks on the others, and a worker restarted
by its nanny takes its place: the result is bit-identical, as the partial
sums are added in a fixed order). With no worker at all for
`fit(no_worker_timeout=...)` seconds (`--no-worker-timeout`; by default
`NO_WORKER_TIMEOUT`) the fit stops with a MatdiffError.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MatdiffError, MatdiffWarning
from .decompose import COUNT_NAME, SampleSplit

__all__ = ["is_lazy", "ChunkedData", "ChunkedGradient", "connect", "CONNECT_TIMEOUT",
           "NO_WORKER_TIMEOUT", "WorkerWatch"]

CONNECT_TIMEOUT = 3  # seconds to wait for a scheduler
NO_WORKER_TIMEOUT = 60.0  # seconds a fit waits for a cluster that has no worker left
                          # (the default of fit's no_worker_timeout=)
WATCH_INTERVAL = 0.5  # seconds between two looks at the workers while waiting
REDUCE_FAN_IN = 8
GATHER_BYTES = 32 * 2**20  # partial sums up to this size in all are added in this process
PERSIST_FRACTION = 0.5  # data up to this share of the workers' memory are kept on them


def is_lazy(value: Any) -> bool:
    """Whether `value` is a Dask array (data that stays where it is)."""
    try:
        from dask.base import is_dask_collection
    except ImportError:
        return False
    return is_dask_collection(value)


def _seconds_without_workers(seconds: Any) -> float | None:
    """fit's no_worker_timeout= checked: a positive number of seconds, or None for
    the default (NO_WORKER_TIMEOUT)."""
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(seconds, bool) or not value > 0 or math.isinf(value):
        raise MatdiffError("no_worker_timeout must be a positive number of seconds, not "
                           f"{seconds!r}")
    return value


def need_dask() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as e:
        raise MatdiffError("chunked data needs Dask: pip install 'matdiff[backends]'") from e


# ------------------------------------------------------------------ the cluster

class Connection:
    """A distributed.Client, and whether this fit started (and must close) it."""

    def __init__(self, client: Any, owned: list[Any]) -> None:
        self.client = client
        self.owned = owned
        self.no_worker_timeout: float | None = None  # None: NO_WORKER_TIMEOUT
        self._watch: WorkerWatch | None = None

    @property
    def watch(self) -> WorkerWatch:
        """The watch over this cluster's workers (made at the first wait)."""
        if self._watch is None:
            self._watch = WorkerWatch(self.client, self.no_worker_timeout)
        return self._watch

    def close(self) -> None:
        for thing in reversed(self.owned):
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self.owned = []


def connect(client: Any = None, no_worker_timeout: float | None = None) -> Connection:
    """The client to run on: given, an address, the default one, or a new LocalCluster;
    its watch stops the fit after `no_worker_timeout` seconds without a worker."""
    timeout = _seconds_without_workers(no_worker_timeout)  # before any cluster starts
    connection = _connect(client)
    connection.no_worker_timeout = timeout
    return connection


def _connect(client: Any) -> Connection:
    need_dask()
    from distributed import Client, LocalCluster

    if isinstance(client, Client):
        return Connection(client, [])
    if isinstance(client, str):
        try:
            c = Client(client, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError, ValueError) as e:
            raise MatdiffError(f"no Dask scheduler answers at {client!r} within "
                               f"{CONNECT_TIMEOUT} s ({type(e).__name__}: {e})") from None
        return Connection(c, [c])
    if client is not None:
        raise MatdiffError("client must be a distributed.Client or a scheduler address "
                           f"such as 'tcp://10.0.0.5:8786', not {type(client).__name__}")
    try:
        from distributed import default_client

        return Connection(default_client(), [])
    except ValueError:
        pass
    # no dashboard, and the scheduler's own HTTP server on a free port rather than 8787
    # (which a notebook's cluster often holds: distributed warns on stderr then)
    cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"})
    c = Client(cluster)
    return Connection(c, [cluster, c])


class WorkerWatch:
    """Waits for futures while watching the workers: warns when one is lost, and stops
    the fit when none has been there for `timeout` seconds (None: NO_WORKER_TIMEOUT)."""

    def __init__(self, client: Any, timeout: float | None = None) -> None:
        self.client = client
        self.timeout = NO_WORKER_TIMEOUT if timeout is None else timeout
        self.seen = self._workers()
        self.empty_since: float | None = None

    def _workers(self) -> set[str]:
        try:
            return set(self.client.nthreads())
        except Exception:  # noqa: BLE001 - the scheduler itself is unreachable: no worker
            return set()

    def check(self) -> None:
        now = self._workers()
        lost = sorted(self.seen - now)
        if lost:
            names = ", ".join(lost)
            then = (f"{len(now)} left, which recompute the chunks it held" if now else
                    f"no worker left: the fit waits {self.timeout:g} s for one")
            warnings.warn(f"lost the Dask worker{'s' if len(lost) > 1 else ''} {names} "
                          f"({then})", MatdiffWarning, stacklevel=2)
        self.seen = now
        if now:
            self.empty_since = None
            return
        if self.empty_since is None:
            self.empty_since = time.monotonic()
        waited = time.monotonic() - self.empty_since
        if waited >= self.timeout:
            raise MatdiffError(f"no Dask worker for {waited:.0f} s: the cluster has lost every "
                               "worker; start workers or restart the cluster, then fit again "
                               f"(no_worker_timeout={self.timeout:g} s; --no-worker-timeout "
                               "on the command line)")

    def wait(self, futures: Sequence[Any], done: Callable[[Any], None] | None = None) -> None:
        """Return when every future has finished (or failed), calling `done` on each."""
        # distributed.wait is _wait on the default client; this fit's may be another
        from distributed.client import _wait

        pending = list(futures)
        looked = -np.inf
        when = "FIRST_COMPLETED" if done is not None else "ALL_COMPLETED"
        while pending:
            if time.monotonic() - looked >= WATCH_INTERVAL:  # one look per interval at most
                self.check()
                looked = time.monotonic()
            try:
                finished, rest = self.client.sync(_wait, pending, timeout=WATCH_INTERVAL,
                                                  return_when=when)
            except TimeoutError:
                continue
            if done is not None:
                for f in finished:
                    done(f)
            pending = list(rest)


# ------------------------------------------------------------------ the data

def cluster_memory(client: Any) -> int:
    """The workers' memory limits added up (0 when unknown or unlimited)."""
    try:
        workers = client.scheduler_info()["workers"].values()
        return int(sum(int(w.get("memory_limit") or 0) for w in workers))
    except Exception:  # noqa: BLE001 - unknown: never persist
        return 0


class ChunkedData:
    """Dask arrays aligned on their sample axis: the same row chunks in every array.

    `chunks[c]` yields chunk c of every array as one dict, made by one task, so
    that the rows of X and of y that belong together are on the same worker.
    Data that fit in half the cluster's memory are persisted on the workers
    (`chunks` are then futures: read once, aligned once, reused every step);
    larger data are read from their source at every pass, chunk by chunk, and
    never held whole.
    """

    def __init__(self, arrays: Mapping[str, Any], axes: Mapping[str, int],
                 client: Any = None) -> None:
        import dask
        import dask.array as da

        self.axes = dict(axes)
        if not self.axes:
            raise MatdiffError("chunked data needs a sample axis shared by the data arrays")
        first = next(iter(self.axes))
        bounds = arrays[first].chunks[self.axes[first]]
        self.arrays: dict[str, Any] = {}
        for name, arr in arrays.items():
            arr = arr if is_lazy(arr) else da.asarray(arr)
            if arr.dtype != np.float64:
                arr = arr.astype(np.float64)
            axis = self.axes.get(name)
            want = {k: -1 for k in range(arr.ndim)}
            if axis is not None:
                want[axis] = bounds
            self.arrays[name] = arr.rechunk(want)
        self.row_chunks = tuple(int(c) for c in bounds)
        self.n = int(sum(self.row_chunks))
        self.nbytes = int(sum(a.nbytes for a in self.arrays.values()))
        names = list(self.arrays)
        blocks = [self._split(n) for n in names]
        gather = dask.delayed(chunk_of, pure=True)
        self.chunks: list[Any] = [gather(names, *[b[c] for b in blocks])
                                  for c in range(self.nchunks)]
        self.persisted = client is not None and self.nbytes <= PERSIST_FRACTION * \
            cluster_memory(client)
        self.groups: list[tuple[list[str] | None, list[int]]] = []
        if self.persisted:
            self.groups = layout_groups(self.nchunks, _threads(client))
            futures: list[Any] = [None] * self.nchunks
            for worker, group in self.groups:  # each group's chunks kept where it runs
                for c, f in zip(group, client.compute([self.chunks[c] for c in group],
                                                      workers=worker,
                                                      allow_other_workers=True)):
                    futures[c] = f
            self.chunks = futures

    def _split(self, name: str) -> list[Any]:
        arr = self.arrays[name]
        blocks = arr.to_delayed()
        axis = self.axes.get(name)
        if axis is None:
            return [blocks.reshape(-1)[0]] * len(self.row_chunks)
        return list(np.moveaxis(blocks, axis, 0).reshape(len(self.row_chunks), -1)[:, 0])

    def fetch(self, client: Any, c: int) -> Any:
        """A future of chunk c (a dict of NumPy blocks by name)."""
        chunk = self.chunks[c]
        return chunk if self.persisted else client.compute(chunk)

    @property
    def nchunks(self) -> int:
        return len(self.row_chunks)


def _threads(client: Any) -> dict[str, int]:
    try:
        return {w: int(n or 1) for w, n in client.nthreads().items()}
    except Exception:  # noqa: BLE001 - unknown: one group, anywhere
        return {}


def layout_groups(nchunks: int, threads: Mapping[str, int]
                  ) -> list[tuple[list[str] | None, list[int]]]:
    """Chunks 0..nchunks-1 in contiguous groups, one per worker thread, each with its worker.

    The groups depend only on the number of chunks and of threads, not on which
    worker ends up holding what: the partial sums of a step are always
    associated the same way, and a fit gives the same bits on a cluster of the
    same size, a worker lost and replaced included.
    """
    slots = [w for w, n in threads.items() for _ in range(n)] or [None]
    parts = np.array_split(np.arange(nchunks), min(len(slots), max(nchunks, 1)))
    return [([w] if w else None, [int(c) for c in part])
            for w, part in zip(slots, parts) if len(part)]


# ------------------------------------------------------------------ on the workers

def aligned(block: Any) -> np.ndarray:
    """The block as a float64 array whose memory is aligned, copied only if it is not.

    A block that arrives over the network is deserialized in place, often at an
    address that is not a multiple of 8; NumPy then skips BLAS and multiplies
    with its generic loop, about ten times slower than the copy costs.
    """
    arr = np.asarray(block, dtype=np.float64)
    return arr if arr.flags.aligned else arr.copy()


_MODULES: dict[str, Any] = {}


def _load(source: str, function: str) -> Any:
    key = hashlib.sha1(source.encode()).hexdigest()
    fn = _MODULES.get(key)
    if fn is None:
        namespace: dict[str, Any] = {}
        exec(compile(source, "<matdiff chunk gradient>", "exec"), namespace)
        fn = _MODULES[key] = namespace[function]
    return fn


def chunk_of(names: Sequence[str], *blocks: Any) -> dict[str, np.ndarray]:
    """One chunk of every array, by name, in aligned memory (runs on a worker)."""
    return {n: aligned(b) for n, b in zip(names, blocks)}


def chunk_terms(source: str, function: str, order: Sequence[str], fixed: Mapping[str, Any],
                free: Sequence[int], *chunks: Mapping[str, Any]) -> list[Any]:
    """(loss, gradients...) of the summed part over the chunks given, as NumPy values.

    Runs on a worker: `source` is the standalone generated module; `fixed`
    holds the parameters, the small data and the sample count; each chunk
    the chunk's rows of the data, by name.
    """
    fn = _load(source, function)
    total: list[Any] | None = None
    for chunk in chunks:
        values = dict(fixed)
        values.update(chunk)
        out = fn(*[aligned(values[n]) for n in order], *free)
        part = [np.asarray(v, dtype=np.float64) for v in _flat(out)]
        total = part if total is None else add_terms(total, part)
    assert total is not None
    return total


def _flat(out: Any) -> list[Any]:
    """(value, (gradients...)) or flat (value, gradients...) as one flat list."""
    flat: list[Any] = []
    for v in out:
        flat.extend(v if isinstance(v, tuple | list) else (v,))
    return flat


def add_terms(*parts: list[Any]) -> list[Any]:
    """The sum of partial (loss, gradients...) lists, in the order given."""
    total = [np.array(v, copy=True) for v in parts[0]]
    for part in parts[1:]:
        for t, v in zip(total, part):
            t += v
    return total


# ------------------------------------------------------------------ the gradient

class ChunkedGradient:
    """values -> (loss, {param: gradient}): distributed over chunks for Dask data.

    Called with Dask arrays among the values (or none of the data), it runs on
    the cluster over all chunks; called with NumPy arrays (a minibatch), it
    runs here, the sample count bound to the minibatch's rows.
    """

    def __init__(self, split: SampleSplit, variables: Mapping[str, Any], wrt: Sequence[str],
                 data: ChunkedData, extra: Mapping[str, Any], connection: Connection,
                 dims: Mapping[Any, int], progress: bool = False) -> None:
        from ..api import Expression, value_and_grad

        self.wrt = list(wrt)
        self.data = data
        self.extra = {k: np.asarray(v, dtype=np.float64) for k, v in extra.items()}
        self.connection = connection
        self.progress = progress
        variables = dict(variables)
        variables[COUNT_NAME] = split.count
        self.parts = []
        for part in (split.chunked, split.rest):
            if part is None:
                self.parts.append(None)
                continue
            expr = Expression(part, "(part of the loss)", variables)
            self.parts.append(value_and_grad(expr, wrt=self.wrt))
        self.dims = dict(dims)
        self.sample_dim = split.dim
        self._remote: tuple[str, str, list[str], list[int]] | None = None
        if self.parts[0] is not None:
            fn = self.parts[0]
            shapes = {n: tuple(int(s) if not isinstance(s, int) else s
                               for s in self._shape(variables[n].shape, data.row_chunks[0]))
                      for n in fn.signature.names}
            self._remote = (fn.source(**shapes), fn.spec.function, list(fn.signature.names),
                            [self._size(d, data.row_chunks[0]) for d in fn.signature.free])

    def _size(self, d: Any, rows: int) -> int:
        if isinstance(d, int):
            return d
        return rows if d == self.sample_dim else int(self.dims.get(d, 1))

    def _shape(self, shape: Sequence[Any], rows: int) -> tuple[int, ...]:
        return tuple(self._size(d, rows) for d in shape)

    # -------------------------------------------------------- calling

    def __call__(self, values: Mapping[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
        params = {k: np.asarray(values[k], dtype=np.float64) for k in self.wrt}
        axis_name = next(iter(self.data.axes))
        batch = values.get(axis_name)
        if batch is None or is_lazy(batch):
            return self.full(params)
        rows = int(np.shape(batch)[self.data.axes[axis_name]])
        local = {**self.extra, **values, **params, COUNT_NAME: float(rows)}
        return self._combine([self._run(fn, local) for fn in self.parts])

    def _run(self, fn: Any, values: Mapping[str, Any]) -> list[Any] | None:
        if fn is None:
            return None
        value, grads = fn(**{k: values[k] for k in fn.signature.names if k in values})
        return [value, *grads]

    def _combine(self, parts: list[list[Any] | None]) -> tuple[float, dict[str, np.ndarray]]:
        total: list[Any] | None = None
        for part in parts:
            if part is None:
                continue
            total = part if total is None else [a + b for a, b in zip(total, part)]
        assert total is not None
        loss = float(total[0])
        grads = {k: np.asarray(g, dtype=np.float64) for k, g in zip(self.wrt, total[1:])}
        return loss, grads

    def full(self, params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradients over all the data: chunks on the workers, their sum here.

        Persisted chunks are summed by one task per group (layout_groups), on the
        worker that holds the group; chunks read from their source get a task each.
        Small partial sums are added here, large ones in a tree on the cluster.
        """
        fixed = {**self.extra, **params, COUNT_NAME: float(self.data.n)}
        rest = self._run(self.parts[1], fixed)
        if self._remote is None:
            return self._combine([rest])
        source, function, order, free = self._remote
        client = self.connection.client
        needed = {n: fixed[n] for n in order if n not in self.data.arrays}
        futures: list[Any] = []
        sizes: list[int] = []
        try:
            if self.data.persisted:
                for worker, group in self.data.groups:
                    futures.append(client.submit(
                        chunk_terms, source, function, order, needed, free,
                        *[self.data.chunks[c] for c in group], workers=worker,
                        allow_other_workers=True, pure=False))
                    sizes.append(len(group))
            else:
                import dask

                task = dask.delayed(chunk_terms, pure=False)
                futures = client.compute([task(source, function, order, needed, free, chunk)
                                          for chunk in self.data.chunks])
                sizes = [1] * len(futures)
            self._wait(futures, sizes)
            total = self._reduce(client, futures, params)
        except MatdiffError:
            raise
        except Exception as e:  # noqa: BLE001 - a worker's failure, told in one line
            raise MatdiffError(f"a chunk's gradient failed on the cluster: "
                               f"{type(e).__name__}: {e}") from e
        finally:
            del futures
        return self._combine([total, rest])

    def _reduce(self, client: Any, futures: list[Any], params: dict[str, np.ndarray]) -> Any:
        """The sum of the partial (loss, gradients...) lists, here if they are small."""
        each = 8 * (1 + sum(int(np.size(v)) for v in params.values()))
        if len(futures) * each <= GATHER_BYTES:
            return add_terms(*client.gather(futures))
        level = futures
        while len(level) > 1:
            level = [client.submit(add_terms, *level[i:i + REDUCE_FAN_IN], pure=False)
                     for i in range(0, len(level), REDUCE_FAN_IN)]
        self.connection.watch.wait(level)
        return level[0].result()

    def _wait(self, futures: list[Any], sizes: list[int]) -> None:
        """Wait for the chunks' futures, watching the workers, with a bar if asked."""
        if not self.progress:
            self.connection.watch.wait(futures)
            return
        from .report import Progress

        bar = Progress(sum(sizes), True, desc="chunks", unit="chunk")
        size = {f.key: n for f, n in zip(futures, sizes)}
        try:
            self.connection.watch.wait(futures, lambda f: [bar.update(None)
                                                           for _ in range(size[f.key])])
        finally:
            bar.close()


# ------------------------------------------------------------------ minibatches

class ChunkBatches:
    """Batches for the training loop: chunks streamed in a shuffled order, each sliced.

    The same interface as loop.Batches: `full`, `data`, `epoch()`.
    """

    def __init__(self, data: ChunkedData, batch_size: int | None, seed: int | None,
                 connection: Connection, progress: bool = False) -> None:
        self.chunked = data
        self.data = dict(data.arrays)
        self.axes = data.axes
        self.n = data.n
        self.batch_size = None if batch_size is None or batch_size >= self.n else batch_size
        self.rng = np.random.default_rng(seed)
        self.connection = connection
        self.progress = progress

    @property
    def full(self) -> bool:
        return self.batch_size is None

    def _fetch(self, c: int) -> Any:
        return self.chunked.fetch(self.connection.client, c)

    def epoch(self) -> Iterator[tuple[dict[str, Any], int]]:
        if self.batch_size is None:
            yield {}, self.n
            return
        from .report import Progress

        order = self.rng.permutation(self.chunked.nchunks)
        bar = Progress(len(order), self.progress, desc="chunks", unit="chunk")
        try:
            pending = self._fetch(int(order[0]))
            for k in range(len(order)):
                self.connection.watch.wait([pending])
                arrays = pending.result()
                if k + 1 < len(order):  # the next chunk loads while this one trains
                    pending = self._fetch(int(order[k + 1]))
                yield from self._slices(arrays)
                bar.update(None)
        finally:
            bar.close()

    def _slices(self, arrays: dict[str, np.ndarray]) -> Iterator[tuple[dict[str, Any], int]]:
        first = next(iter(self.axes))
        rows = arrays[first].shape[self.axes[first]]
        perm = self.rng.permutation(rows)
        shuffled = {n: (np.take(a, perm, axis=self.axes[n]) if n in self.axes else a)
                    for n, a in arrays.items()}
        step = self.batch_size or rows
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            batch = {}
            for n, a in shuffled.items():
                if n in self.axes:
                    index = (slice(None),) * self.axes[n] + (slice(start, stop),)
                    batch[n] = a[index]
                else:
                    batch[n] = a
            yield batch, stop - start
