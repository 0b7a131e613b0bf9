"""Training on Dask data larger than the workers' memory, against NumPy in memory.

A real LocalCluster (two worker processes, each limited to WORKER_LIMIT) fits
least squares and logistic regression on a data set written to Zarr on disk
that is larger than a worker's memory limit (and, with the workers' own
baseline, than what both have free); the results match the same fit on the
same data in memory to 1e-8. Few iterations each: every pass reads the whole
data set from disk, and what is tested is that the chunked gradients are the
in-memory ones. Also: the seed notes' losses (least squares, logistic
regression, the ReLU neuron) through the Dask path against NumPy to 1e-8, the
losses that split over chunks, the ones refused, the scheduler that does not
answer, and data from two array libraries. One cluster serves the module.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from matdiff.errors import MatdiffError
from matdiff.optim import fit

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

WORKER_LIMIT = 200 * 2**20
ROWS, COLS, CHUNK = 1_000_000, 40, 25_000  # X is 320 MB, y and t 8 MB each


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit=WORKER_LIMIT, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """X, y written piece by piece to a Zarr store; returns (path, X, y) with X, y in memory."""
    path = tmp_path_factory.mktemp("data") / "big.zarr"
    rng = np.random.default_rng(7)
    w_true = rng.normal(size=COLS) / np.sqrt(COLS)
    g = zarr.open_group(str(path), mode="w")
    zx = g.create_array("X", shape=(ROWS, COLS), chunks=(CHUNK, COLS), dtype="f8",
                        compressors=None)
    zy = g.create_array("y", shape=(ROWS,), chunks=(CHUNK,), dtype="f8", compressors=None)
    X = np.empty((ROWS, COLS))
    y = np.empty(ROWS)
    for a in range(0, ROWS, 200_000):
        b = min(a + 200_000, ROWS)
        X[a:b] = rng.normal(size=(b - a, COLS))
        y[a:b] = X[a:b] @ w_true + 0.5 * rng.normal(size=b - a)
        zx[a:b] = X[a:b]
        zy[a:b] = y[a:b]
    return str(path), X, y


def test_data_is_larger_than_the_workers_memory(big, client):
    path, X, y = big
    on_disk = sum(os.path.getsize(os.path.join(d, f))
                  for d, _, files in os.walk(path) for f in files)
    workers = client.scheduler_info()["workers"].values()
    assert all(w["memory_limit"] == WORKER_LIMIT for w in workers)
    assert on_disk > 1.5 * WORKER_LIMIT


def test_least_squares_on_zarr_matches_numpy(big, client):
    path, X, y = big
    loss = "mean((X*w - y).^2) + 0.001*norm2(w)^2"
    ref = fit(loss, {"w": "zeros"}, {"X": X, "y": y}, optimizer="lbfgs", epochs=1)
    workers = set(client.scheduler_info()["workers"])
    got = fit(loss, {"w": "zeros"}, path, optimizer="lbfgs", epochs=1, client=client)
    assert got.backend == "dask" and not got.extra["persisted"]
    assert set(client.scheduler_info()["workers"]) == workers  # none restarted for memory
    assert got.extra["chunks"] == ROWS // CHUNK
    np.testing.assert_allclose(got.params["w"], ref.params["w"], rtol=0, atol=1e-8)
    assert abs(got.loss - ref.loss) <= 1e-8 * abs(ref.loss)


def test_logistic_regression_on_zarr_matches_numpy(big, client):
    path, X, y = big
    labels = np.where(y > 0, 1.0, -1.0)
    store = zarr.open_group(path, mode="a")
    if "t" not in store:
        zt = store.create_array("t", shape=(ROWS,), chunks=(CHUNK,), dtype="f8",
                                compressors=None)
        zt[:] = labels
    loss = "sum(log(1 + exp(-t.*(X*w))))/numel(t) + 0.01*w'*w"
    ref = fit(loss, {"w": "zeros"}, {"X": X, "t": labels}, optimizer="sgd", lr=0.5, epochs=1)
    data = {"X": da.from_zarr(path, component="X"), "t": da.from_zarr(path, component="t")}
    got = fit(loss, {"w": "zeros"}, data, optimizer="sgd", lr=0.5, epochs=1, client=client)
    np.testing.assert_allclose(got.params["w"], ref.params["w"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.history, ref.history, rtol=1e-10)


def test_minibatches_stream_chunks_in_memory_sized_pieces(client):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 5))
    y = X @ np.arange(1.0, 6.0)
    data = {"X": da.from_array(X, chunks=(1000, 5)), "y": da.from_array(y, chunks=1000)}
    r = fit("mean((X*w - y).^2)", {"w": "zeros"}, data, optimizer="adam", lr=0.1,
            epochs=30, batch_size=100, client=client, seed=3)
    assert r.extra["persisted"] and r.history[-1] < 1e-2 * r.history[0]
    np.testing.assert_allclose(r.params["w"], np.arange(1.0, 6.0), atol=0.05)


def test_npy_folder_is_read_lazily(tmp_path, client):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 4))
    y = X @ np.ones(4)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    from matdiff.optim.lazydata import open_chunked

    arrays = open_chunked(tmp_path, npy_chunk_bytes=8 * 4 * 700)
    assert arrays["X"].chunks[0][:2] == (700, 700)
    loss = "sum((X*w - y).^2)"
    got = fit(loss, {"w": "zeros"}, str(tmp_path), optimizer="lbfgs", epochs=30, client=client)
    ref = fit(loss, {"w": "zeros"}, {"X": X, "y": y}, optimizer="lbfgs", epochs=30)
    np.testing.assert_allclose(got.params["w"], ref.params["w"], atol=1e-8)


@pytest.mark.parametrize("loss, why", [
    ("log(sum((X*w - y).^2))", "log(...) of a sum over the samples"),
    ("logsumexp(X*w - y)", "mixes the samples"),
    ("norm2(X*w - y)", "mixes the samples"),
    ("sum(y)*(y'*(X*w))", "different samples"),
    ("sum(X*w - y)^2", "of a sum over the samples"),
])
def test_losses_that_do_not_split_are_refused_before_any_cluster(loss, why):
    data = {"X": da.zeros((10, 3), chunks=5), "y": da.zeros(10, chunks=5)}
    with pytest.raises(MatdiffError, match="does not split into a sum over chunks") as e:
        fit(loss, {"w": "zeros"}, data, client="tcp://127.0.0.1:9")
    assert why in str(e.value)


def test_row_wise_softmax_splits_and_matches_in_memory(client):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(600, 4))
    Y = np.eye(3)[rng.integers(0, 3, size=600)]
    loss = "-sum(sum(Y.*log(softmax(X*W, 2))))/numel(Y) + 0.01*norm2(W)^2"
    declare = {"Y": "matrix(n, k)", "X": "matrix(n, m)", "W": "matrix(m, k)"}
    data = {"X": da.from_array(X, chunks=(200, 4)), "Y": da.from_array(Y, chunks=(200, 3))}
    got = fit(loss, {"W": "zeros"}, data, declare=declare, optimizer="lbfgs", epochs=20,
              client=client)
    ref = fit(loss, {"W": "zeros"}, {"X": X, "Y": Y}, declare=declare, optimizer="lbfgs",
              epochs=20)
    np.testing.assert_allclose(got.params["W"], ref.params["W"], atol=1e-8)


def test_a_scheduler_that_does_not_answer_is_an_error_within_seconds():
    data = {"X": da.zeros((10, 3), chunks=5), "y": da.zeros(10, chunks=5)}
    start = time.perf_counter()
    with pytest.raises(MatdiffError, match="no Dask scheduler answers"):
        fit("mean((X*w - y).^2)", {"w": "zeros"}, data, client="tcp://127.0.0.1:9")
    assert time.perf_counter() - start < 15


def test_cli_with_a_scheduler_that_does_not_answer(tmp_path, capsys):
    from matdiff.cli import main

    store = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    store.create_array("X", shape=(10, 2), chunks=(5, 2), dtype="f8")[:] = 1.0
    store.create_array("y", shape=(10,), chunks=(5,), dtype="f8")[:] = 1.0
    code = main(["fit", "mean((X*w - y).^2)", "--data", str(tmp_path / "d.zarr"),
                 "--param", "w=zeros", "--scheduler", "tcp://127.0.0.1:9", "--out", "-"])
    assert code != 0
    assert "no Dask scheduler answers" in capsys.readouterr().err


class _NoWorkers:
    def nthreads(self):
        return {}


def test_the_wait_for_a_worker_is_the_fits_setting_else_the_module_default(monkeypatch):
    from matdiff.optim import chunked

    assert chunked.WorkerWatch(_NoWorkers(), 2.5).timeout == 2.5
    monkeypatch.setattr(chunked, "NO_WORKER_TIMEOUT", 7.0)
    assert chunked.WorkerWatch(_NoWorkers()).timeout == 7.0


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "soon", True])
def test_a_bad_no_worker_timeout_is_refused_before_any_cluster_starts(seconds):
    data = {"X": da.zeros((10, 3), chunks=5), "y": da.zeros(10, chunks=5)}
    with pytest.raises(MatdiffError, match="no_worker_timeout must be a positive number"):
        fit("mean((X*w - y).^2)", {"w": "zeros"}, data, client="tcp://127.0.0.1:9",
            no_worker_timeout=seconds)
    with pytest.raises(MatdiffError, match="no_worker_timeout= applies to Dask data"):
        fit("mean((X*w - y).^2)", {"w": "zeros"}, {"X": np.ones((4, 3)), "y": np.ones(4)},
            no_worker_timeout=5)


def test_cli_no_worker_timeout_reaches_the_fit(tmp_path, capsys, monkeypatch):
    import matdiff.optim
    from matdiff.cli import main

    store = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    store.create_array("X", shape=(10, 2), chunks=(5, 2), dtype="f8")[:] = 1.0
    store.create_array("y", shape=(10,), chunks=(5,), dtype="f8")[:] = 1.0
    args = ["fit", "mean((X*w - y).^2)", "--data", str(tmp_path / "d.zarr"), "--param",
            "w=zeros", "--scheduler", "tcp://127.0.0.1:9", "--out", "-"]
    assert main([*args, "--no-worker-timeout", "0"]) == 2
    assert "no_worker_timeout must be a positive number" in capsys.readouterr().err
    seen = {}

    def recording(*a, **kw):
        seen.update(kw)
        raise MatdiffError("recorded")

    monkeypatch.setattr(matdiff.optim, "fit", recording)
    assert main([*args, "--no-worker-timeout", "300"]) == 2
    assert seen["no_worker_timeout"] == 300.0 and seen["client"] == "tcp://127.0.0.1:9"


def test_cli_fits_a_zarr_store_on_a_given_scheduler(tmp_path, client, capsys):
    from matdiff.cli import main

    rng = np.random.default_rng(4)
    X = rng.normal(size=(2000, 3))
    store = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    store.create_array("X", shape=X.shape, chunks=(500, 3), dtype="f8")[:] = X
    store.create_array("y", shape=(2000,), chunks=(500,), dtype="f8")[:] = X @ [1.0, 2.0, 3.0]
    out = tmp_path / "w.npz"
    code = main(["fit", "mean((X*w - y).^2)", "--data", str(tmp_path / "d.zarr"),
                 "--param", "w=zeros", "--optimizer", "lbfgs", "--epochs", "50",
                 "--scheduler", client.scheduler.address, "--out", str(out)])
    assert code == 0
    assert "dask gradients" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(out)["w"], [1.0, 2.0, 3.0], atol=1e-6)


def test_progress_shows_chunks_and_epochs(client, capsys):
    pytest.importorskip("tqdm")
    X = np.random.default_rng(5).normal(size=(400, 2))
    data = {"X": da.from_array(X, chunks=(100, 2)), "y": da.from_array(X[:, 0], chunks=100)}
    fit("mean((X*w - y).^2)", {"w": "zeros"}, data, optimizer="sgd", epochs=2,
        client=client, progress=True)
    err = capsys.readouterr().err
    assert "chunk" in err and "epoch" in err


def test_in_memory_data_with_a_client_is_an_error(client):
    with pytest.raises(MatdiffError, match="applies to Dask data"):
        fit("mean((X*w - y).^2)", {"w": "zeros"}, {"X": np.ones((4, 2)), "y": np.ones(4)},
            client=client)


SEED_LOSSES = [  # the seed notes' losses, as written there
    ("sum((X*w - y).^2)", {"w": "zeros"}),
    ("sum(log(1 + exp(-t.*(X*w))))", {"w": "zeros"}),
    ("mean((y - relu(X*w + b)).^2)", {"w": "zeros", "b": 0.5}),
]


@pytest.fixture(scope="module")
def small():
    """3000 rows in five uneven chunks (the last one shorter), as NumPy and as Dask."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 5))
    y = np.maximum(0.0, X @ np.arange(1.0, 6.0) + 0.5) + 0.1 * rng.normal(size=3000)
    t = np.where(X @ np.ones(5) + 0.5 * rng.normal(size=3000) > 0, 1.0, -1.0)
    arrays = {"X": X, "y": y, "t": t}
    lazy = {n: da.from_array(a, chunks=(700,) + a.shape[1:]) for n, a in arrays.items()}
    return arrays, lazy


def _pick(loss, data):
    return {n: v for n, v in data.items() if n in loss}


@pytest.mark.parametrize("loss, params", SEED_LOSSES)
def test_seed_note_losses_through_dask_match_numpy(small, client, loss, params):
    arrays, lazy = small
    ref = fit(loss, params, _pick(loss, arrays), optimizer="lbfgs", epochs=15)
    got = fit(loss, params, _pick(loss, lazy), optimizer="lbfgs", epochs=15, client=client)
    assert got.backend == "dask" and got.extra["persisted"] and got.extra["chunks"] == 5
    for name in params:
        np.testing.assert_allclose(got.params[name], ref.params[name], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.history, ref.history, rtol=1e-10)


def test_partial_sums_added_in_a_tree_on_the_cluster(small, client, monkeypatch):
    """Read from the source at every pass (not persisted), one task per chunk, partial sums
    added on the cluster: the path of data larger than memory with large gradients."""
    from matdiff.optim import chunked

    monkeypatch.setattr(chunked, "PERSIST_FRACTION", 0.0)
    monkeypatch.setattr(chunked, "GATHER_BYTES", 0)
    monkeypatch.setattr(chunked, "REDUCE_FAN_IN", 2)
    arrays, lazy = small
    loss, params = SEED_LOSSES[2]
    ref = fit(loss, params, _pick(loss, arrays), optimizer="adam", lr=0.05, epochs=4)
    got = fit(loss, params, _pick(loss, lazy), optimizer="adam", lr=0.05, epochs=4,
              client=client)
    assert not got.extra["persisted"]
    for name in params:
        np.testing.assert_allclose(got.params[name], ref.params[name], rtol=0, atol=1e-8)


def test_data_from_two_libraries_is_an_error():
    torch = pytest.importorskip("torch")
    data = {"X": da.zeros((10, 3), chunks=5), "y": torch.zeros(10, dtype=torch.float64)}
    with pytest.raises(MatdiffError, match="different array libraries.*'X' is dask.*'y' is torch"):
        fit("mean((X*w - y).^2)", {"w": "zeros"}, data, client="tcp://127.0.0.1:9")


def _port_taken(port: int):
    """A socket holding `port` (None when something else holds it already)."""
    import socket

    s = socket.socket()
    try:
        s.bind(("", port))
        s.listen()
    except OSError:
        s.close()
        return None
    return s


def _own_cluster(monkeypatch):
    """fit starts its own LocalCluster (no default client); returns the connections made."""
    from matdiff.optim import chunked, fit_chunked

    made = []

    def connect(client=None, no_worker_timeout=None):
        connection = chunked.connect(client, no_worker_timeout)
        made.append(connection)
        return connection

    def no_default():
        raise ValueError("no default client")

    monkeypatch.setattr(distributed, "default_client", no_default)
    monkeypatch.setattr(fit_chunked, "connect", connect)
    return made


def test_the_cluster_matdiff_starts_leaves_port_8787_alone(small, monkeypatch, capfd):
    """Dask's "Port 8787 is already in use" warning reached stderr when another dashboard
    ran: the scheduler's HTTP server took 8787 even with the dashboard off."""
    import warnings

    made = _own_cluster(monkeypatch)
    holder = _port_taken(8787)
    try:
        arrays, lazy = small
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit("mean((X*w - y).^2)", {"w": "zeros"}, _pick("Xy", lazy), optimizer="sgd",
                epochs=1)
    finally:
        if holder is not None:
            holder.close()
    assert made and not made[0].owned  # closed after the fit
    said = capfd.readouterr().err + "".join(str(w.message) for w in caught)
    assert "8787" not in said and "already in use" not in said


def test_a_fit_whose_workers_are_all_gone_stops_with_an_error(small, monkeypatch):
    """It waited in silence until a worker came back; now each lost worker is a warning and
    no worker for no_worker_timeout= seconds (1 s here, 60 s by default) is a MatdiffError."""
    from matdiff.errors import MatdiffWarning

    made = _own_cluster(monkeypatch)

    def all_gone(epoch, loss, params):
        if epoch == 1:
            client = made[0].client
            made[0].owned[0].scale(0)
            deadline = time.monotonic() + 30
            while client.nthreads() and time.monotonic() < deadline:
                time.sleep(0.05)

    arrays, lazy = small
    start = time.monotonic()
    with pytest.warns(MatdiffWarning, match=r"lost the Dask worker.*no worker left: the fit "
                                            r"waits 1 s for one"):
        with pytest.raises(MatdiffError, match=r"no Dask worker for 1 s: the cluster has lost "
                                               r"every worker.*no_worker_timeout=1 s"):
            fit("mean((X*w - y).^2)", {"w": "zeros"}, _pick("Xy", lazy), optimizer="sgd",
                epochs=5, callback=all_gone, no_worker_timeout=1)
    assert time.monotonic() - start < 30


def test_a_worker_killed_under_its_nanny_gives_a_bit_identical_result(small, client):
    """The nanny restarts the worker, Dask recomputes its chunks, the fit warns and goes on;
    the partial sums are added in a fixed order, so the result is the same to the bit."""
    import signal

    from matdiff.errors import MatdiffWarning

    arrays, lazy = small
    loss, params = SEED_LOSSES[1]
    ref = fit(loss, params, _pick(loss, lazy), optimizer="lbfgs", epochs=6, client=client)

    def kill(epoch, loss, params):
        if epoch == 2:
            victim, pid = next(iter(client.run(os.getpid).items()))
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while victim in client.nthreads() and time.monotonic() < deadline:
                time.sleep(0.05)

    with pytest.warns(MatdiffWarning, match=r"lost the Dask worker .* left, which recompute"):
        got = fit(loss, params, _pick(loss, lazy), optimizer="lbfgs", epochs=6,
                  client=client, callback=kill)
    for name in params:
        np.testing.assert_array_equal(got.params[name], ref.params[name])
    assert got.history == ref.history and got.loss == ref.loss
