"""Worker processes that answer requests under a time limit, a memory limit and two lanes.

A thread cannot be stopped, so a derivative that takes too long (a high order
of a deep composition, say) would hold its thread forever. Each request goes
instead to a worker process, `python -m matdiff.web.workers`, one JSON line in
and one JSON line out; when the time is up that one worker is killed and a new
one started, and the others go on.

- Memory: each worker limits its own address space (RLIMIT_AS) before it
  imports anything, so a derivative that allocates too much fails there with
  a MemoryError (or the worker dies) instead of taking the machine.
- Lanes: a derivative still running after `fast_seconds` moves to the long
  lane, which holds at most `size - 1` of them, so one worker always stays
  for short requests. A long derivative beyond that is stopped (Busy); one
  whose client has gone away is stopped too (Cancelled).
- Lifetime: workers die with the server. On Linux each asks the kernel for
  SIGKILL when its parent goes (PR_SET_PDEATHSIG). That signal follows the
  *thread* that started the process, so every worker is started by one
  long-lived keeper thread, never by a request's short-lived thread. A
  watchdog thread in the worker also exits when its parent changes (other
  systems), and `close()` kills every worker, busy ones included.

Plain subprocesses, not multiprocessing: "spawn" re-runs the caller's main
script in every worker (a script without an `if __name__ == "__main__"` guard
would start servers recursively), and "fork" from a process running threads can
copy a held lock.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

from .compute import DEFAULT_MEMORY_MB

__all__ = ["WorkerPool", "Timeout", "Busy", "WorkerDied", "Cancelled",
           "DEFAULT_MEMORY_MB", "FAST_SECONDS"]

log = logging.getLogger("matdiff.web")

# The directory holding the matdiff package, so a worker imports this same copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
FAST_SECONDS = 2.0          # a derivative running longer moves to the long lane
_READY = b"ready\n"
# One thread per worker process: the lanes share the cores, and BLAS threads
# would each reserve address space under the memory limit.
_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class Timeout(Exception):
    """The request ran past the time limit; its worker was killed."""


class Busy(Exception):
    """No worker came free in time, or the long lane was full."""


class WorkerDied(Exception):
    """The worker exited without answering (out of memory, a crash, the server closing)."""


class Cancelled(Exception):
    """The client went away during a long derivative; its worker was stopped."""


# --------------------------------------------------------------------------- the worker side


def _die_with_parent(parent: int) -> None:
    """Exit when the server does: the kernel's signal on Linux, a watchdog elsewhere too."""
    import signal

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent left before the prctl above
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="matdiff-web-watchdog").start()


def _limit_memory(megabytes: int) -> None:
    """Cap this process's address space, so an allocation too large fails here."""
    try:
        import resource
    except ImportError:  # not on this system: the time limit still holds
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        log.warning("cannot limit the worker's memory to %d MB", megabytes)


def _worker_main(argv: list[str]) -> None:
    """A worker's loop: a JSON payload per line on stdin, its answer per line on stdout."""
    import signal

    parent, megabytes = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    if megabytes > 0:
        _limit_memory(megabytes)
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Our stdout carries answers only: anything else printed (by Python or C) goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from .compute import answer, set_memory_budget

    set_memory_budget(megabytes)
    answer({"expression": "x'*A*x", "wrt": "x"})  # the first derivative loads every module
    out.write(_READY)
    out.flush()
    for line in sys.stdin.buffer:
        try:
            payload = json.loads(line)
        except ValueError:
            payload = None
        status, body = answer(payload)
        out.write(json.dumps([status, body], ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()


# --------------------------------------------------------------------------- the server side


class _Worker:
    """One process, and a thread turning its output lines into a queue (portable timeouts)."""

    def __init__(self, megabytes: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        env["PYTHONIOENCODING"] = "utf-8"
        for name in _THREAD_ENV:
            env[name] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matdiff.web.workers", str(os.getpid()), str(megabytes)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.ready = threading.Event()
        self.answers: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True,
                         name="matdiff-web-worker-reader").start()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                if line == _READY and not self.ready.is_set():
                    self.ready.set()
                else:
                    self.answers.put(line)
        except (OSError, ValueError):  # the stream was closed under us: the worker is gone
            pass
        self.answers.put(b"")  # end of output: the process is gone
        self.ready.set()

    def send(self, payload: Any) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(payload).encode("utf-8") + b"\n")
            stdin.flush()
        except (OSError, ValueError) as e:
            raise WorkerDied from e

    def answer(self, wait: float) -> tuple[int, dict[str, Any]] | None:
        """The answer, or None if it is not there within `wait` seconds."""
        try:
            line = self.answers.get(timeout=max(wait, 0.0))
        except queue.Empty:
            return None
        if not line:
            raise WorkerDied
        status, body = json.loads(line)
        return int(status), body

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop", self.process.pid)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class WorkerPool:
    """At most `size` workers; `run(payload, timeout)` returns answer(payload) from one.

    `memory_mb` caps each worker's address space (0: no cap); a derivative still
    running after `fast_seconds` takes one of `size - 1` places in the long lane
    (one place when size is 1), so short requests always have a worker.
    """

    def __init__(self, size: int = 3, memory_mb: int = DEFAULT_MEMORY_MB,
                 fast_seconds: float = FAST_SECONDS) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.memory_mb = memory_mb
        self.fast_seconds = fast_seconds
        self.long_places = max(1, size - 1)
        self._slots = threading.BoundedSemaphore(size)
        self._long = threading.BoundedSemaphore(self.long_places)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._orders: queue.SimpleQueue[Future | None] = queue.SimpleQueue()
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._keeper = threading.Thread(target=self._keep, daemon=True,
                                        name="matdiff-web-keeper")
        self._keeper.start()

    # ------------------------------------------------------------------ the keeper thread

    def _keep(self) -> None:
        """Start every worker from this one long-lived thread (see PR_SET_PDEATHSIG)."""
        while True:
            order = self._orders.get()
            if order is None or self._closed:
                if order is not None:
                    order.set_exception(WorkerDied())
                if self._closed:
                    return
                continue
            try:
                worker = _Worker(self.memory_mb)
            except OSError as e:
                order.set_exception(WorkerDied(str(e)))
                continue
            with self._lock:
                self._live.add(worker)
                if self._closed:
                    worker.kill()
            order.set_result(worker)

    def _start(self) -> Future:
        order: Future = Future()
        self._orders.put(order)
        return order

    def warm_up(self) -> None:
        """Start every worker now, so early requests do not wait for their imports."""
        for _ in range(self.size):
            self._start().add_done_callback(self._park)

    def _park(self, order: Future) -> None:
        if order.exception() is None:
            self._give_back(order.result())

    # ------------------------------------------------------------------ requests

    def run(self, payload: Any, timeout: float,
            cancelled: Callable[[], bool] = lambda: False) -> tuple[int, dict[str, Any]]:
        """answer(payload) computed in a worker within `timeout` seconds.

        Raises Timeout, Busy, WorkerDied, or Cancelled when `cancelled()` turns
        true (the client left) while the derivative is in the long lane.
        """
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise Busy("every worker stayed busy")
        try:
            worker = self._take(deadline)
            try:
                return self._ask(worker, payload, deadline, cancelled)
            except (Timeout, Busy, WorkerDied, Cancelled):
                self._retire(worker)
                raise
        finally:
            self._slots.release()

    def _take(self, deadline: float) -> _Worker:
        """An idle worker, or a new one; Timeout if none is ready by the deadline."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                order = self._start()
                try:
                    worker = order.result(timeout=max(deadline - time.monotonic(), 0.0))
                except TimeoutError:  # still starting: it joins the idle ones when it can
                    order.add_done_callback(self._park)
                    raise Timeout from None
            if not worker.alive():
                self._retire(worker)
                continue
            if worker.ready.wait(max(deadline - time.monotonic(), 0.0)):
                if worker.alive():
                    return worker
                self._retire(worker)
                continue
            self._give_back(worker)  # still importing: the next request takes it
            raise Timeout

    def _ask(self, worker: _Worker, payload: Any, deadline: float,
             cancelled: Callable[[], bool]) -> tuple[int, dict[str, Any]]:
        worker.send(payload)
        started = time.monotonic()
        result = worker.answer(min(self.fast_seconds, deadline - started))
        if result is not None:
            self._give_back(worker)
            return result
        if time.monotonic() >= deadline:
            raise Timeout
        if not self._long.acquire(blocking=False):
            raise Busy(f"{self.long_places} long derivative"
                       f"{'s are' if self.long_places > 1 else ' is'} running already")
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout
                result = worker.answer(min(0.25, remaining))
                if result is not None:
                    self._give_back(worker)
                    return result
                if cancelled():
                    raise Cancelled
        finally:
            self._long.release()

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            surplus = len(self._live) > self.size
        if self._closed or surplus:
            self._retire(worker, replace=False)
        else:
            self._idle.put(worker)

    def _retire(self, worker: _Worker, replace: bool = True) -> None:
        """Kill a worker (timed out, cancelled, dead) and start its replacement."""
        worker.kill()
        with self._lock:
            self._live.discard(worker)
        if replace and not self._closed:
            self._start().add_done_callback(self._park)

    def workers(self) -> list[int]:
        """The process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._live if w.alive()]

    def close(self) -> None:
        """Stop every worker, busy ones included (their requests fail with WorkerDied)."""
        self._closed = True
        self._orders.put(None)
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for worker in live:
            worker.kill()


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
