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

import io
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .compute import DEFAULT_MEMORY_MB

__all__ = ["WorkerPool", "Timeout", "Busy", "WorkerDied", "Cancelled",
           "DEFAULT_MEMORY_MB", "FAST_SECONDS"]

log = logging.getLogger("matdiff.web")

# The directory holding the matdiff package, so a worker imports this same copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
FAST_SECONDS = 2.0          # a derivative running longer moves to the long lane
_READY = b"ready\n"
TEST_SLEEP_ENV = "MATDIFF_WEB_TEST_SLEEP"
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
    # A test hook, set only in the server's environment (never by a client): a payload
    # with "test_sleep" waits this many seconds first, a slow request whatever the machine.
    test_sleep = float(os.environ.get(TEST_SLEEP_ENV) or 0)
    for line in sys.stdin.buffer:
        try:
            payload = json.loads(line)
        except ValueError:
            payload = None
        if test_sleep and isinstance(payload, dict) and payload.pop("test_sleep", None):
            time.sleep(test_sleep)
        status, body = answer(payload)
        out.write(json.dumps([status, body], ensure_ascii=False).encode("utf-8") + b"\n")
        out.flush()


# --------------------------------------------------------------------------- the server side


class _Worker:
    """One process, and a thread turning its output lines into a queue (portable timeouts).

    Only the reader thread ever closes the output pipe, after its end of file: a
    pipe closed under a running reader frees its descriptor, the next worker's
    pipe can reuse that number, and the old reader would then steal the new
    worker's bytes (once, its "ready" line's first byte). Input is written and
    closed under one lock, for the same reason.
    """

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
        self.ready = threading.Event()  # it said "ready": every module is loaded
        self.gone = threading.Event()   # its output ended: the process is dead or dying
        self.answers: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._input = threading.Lock()

    def start_reading(self, on_ready: Callable[[_Worker], None],
                      on_exit: Callable[[_Worker], None]) -> None:
        threading.Thread(target=self._read, args=(on_ready, on_exit), daemon=True,
                         name="matdiff-web-worker-reader").start()

    def _read(self, on_ready: Callable[[_Worker], None],
              on_exit: Callable[[_Worker], None]) -> None:
        raw = self.process.stdout
        assert raw is not None
        stream = io.BufferedReader(raw)  # whole lines per read, not a byte at a time
        try:
            if stream.readline() == _READY:
                self.ready.set()
                on_ready(self)
                for line in stream:
                    self.answers.put(line)
        except (OSError, ValueError):
            pass
        finally:
            self.gone.set()
            self.answers.put(b"")  # end of output: the process is gone
            stream.close()
            on_exit(self)

    def send(self, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8") + b"\n"
        with self._input:
            stdin = self.process.stdin
            try:
                if stdin is None or stdin.closed:
                    raise WorkerDied
                stdin.write(data)
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
        try:
            status, body = json.loads(line)
            return int(status), body
        except (ValueError, TypeError) as e:  # not an answer: this worker is not to be trusted
            raise WorkerDied(f"unreadable answer {line[:80]!r}") from e

    def usable(self) -> bool:
        return self.ready.is_set() and not self.gone.is_set() and self.process.poll() is None

    def kill(self) -> None:
        """Kill the process; its reader sees the end of output and closes that pipe."""
        with self._input:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdin is not None:
                try:
                    self.process.stdin.close()
                except OSError:
                    pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop", self.process.pid)


class WorkerPool:
    """`size` workers; `run(payload, timeout)` returns answer(payload) from one.

    `memory_mb` caps each worker's address space (0: no cap); a derivative still
    running after `fast_seconds` takes one of `size - 1` places in the long lane
    (one place when size is 1), so short requests always have a worker.

    A worker joins the idle list only once it is ready, and leaves the count
    (`_live`) the moment it is retired, so a worker still importing is never
    handed out and one being killed never counts as a surplus.
    """

    RESTART_DELAY = 1.0  # seconds before replacing a worker that died before it was ready

    def __init__(self, size: int = 3, memory_mb: int = DEFAULT_MEMORY_MB,
                 fast_seconds: float = FAST_SECONDS) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self.memory_mb = memory_mb
        self.fast_seconds = fast_seconds
        self.long_places = max(1, size - 1)
        self._long = threading.BoundedSemaphore(self.long_places)
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a worker joined the idle list
        self._idle: deque[_Worker] = deque()
        self._live: set[_Worker] = set()   # started or starting, not retired
        self._starting = 0                 # ordered from the keeper, not yet started
        self._long_running = 0             # derivatives in the long lane now
        self._orders: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self._closed = False
        self._keeper = threading.Thread(target=self._keep, daemon=True,
                                        name="matdiff-web-keeper")
        self._keeper.start()

    # ------------------------------------------------------------------ the keeper thread

    def _keep(self) -> None:
        """Start every worker from this one long-lived thread (see PR_SET_PDEATHSIG)."""
        while True:
            delay = self._orders.get()
            if delay is None or self._closed:
                return
            if delay:
                time.sleep(delay)
            try:
                worker = _Worker(self.memory_mb) if not self._closed else None
            except OSError as e:
                log.error("cannot start a worker: %s", e)
                worker = None
            with self._lock:
                self._starting -= 1
                if worker is not None:
                    self._live.add(worker)
            if worker is None:
                continue
            if self._closed:
                self._drop(worker)
                continue
            worker.start_reading(self._park, self._exited)

    def _order(self, count: int = 1, delay: float = 0.0) -> None:
        """Ask the keeper for `count` more workers (called with the lock held)."""
        if self._closed:
            return
        for _ in range(count):
            self._starting += 1
            self._orders.put(delay)

    def _top_up(self) -> None:
        """Start workers until `size` are live or starting."""
        with self._lock:
            self._order(self.size - len(self._live) - self._starting)

    def warm_up(self) -> None:
        """Start every worker now, so early requests do not wait for their imports."""
        self._top_up()

    def _park(self, worker: _Worker) -> None:
        """A ready worker with no request: idle, unless it is no longer wanted."""
        with self._lock:
            if worker in self._live and len(self._live) <= self.size and not self._closed:
                self._idle.append(worker)
                self._freed.notify()
                return
            wanted = worker in self._live
            self._live.discard(worker)
        if wanted:
            log.debug("worker %d is surplus", worker.process.pid)
        self._drop(worker)

    def _exited(self, worker: _Worker) -> None:
        """A worker's output ended: if nobody retired it, it died on its own."""
        with self._lock:
            if worker not in self._live:
                return
        log.warning("worker %d exited (status %s)", worker.process.pid, worker.process.poll())
        self._retire(worker, delay=0.0 if worker.ready.is_set() else self.RESTART_DELAY)

    def _drop(self, worker: _Worker) -> None:
        worker.kill()

    # ------------------------------------------------------------------ requests

    def run(self, payload: Any, timeout: float,
            cancelled: Callable[[], bool] = lambda: False,
            wait: float | None = None) -> tuple[int, dict[str, Any]]:
        """answer(payload) computed in a worker within `timeout` seconds of starting.

        A request waits at most `wait` seconds (default: `timeout`) for a free
        worker, and is never started once that is up (Busy) or once
        `cancelled()` turns true (Cancelled: its client has gone). Raises
        Timeout, Busy, WorkerDied, or Cancelled when the client leaves while
        the derivative is in the long lane.
        """
        worker = self._take(time.monotonic() + (timeout if wait is None else wait), cancelled)
        try:
            return self._ask(worker, payload, time.monotonic() + timeout, cancelled)
        except BaseException:  # mid-request: its state is unknown, so it is replaced
            self._retire(worker)
            raise

    def _take(self, deadline: float, cancelled: Callable[[], bool]) -> _Worker:
        """A ready idle worker, waiting for one until the deadline or the client leaves."""
        self._top_up()  # a start that failed earlier, or a pool never warmed up
        while True:
            if cancelled():
                raise Cancelled
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Busy("every worker stayed busy")
            with self._lock:
                if not self._idle:
                    self._freed.wait(min(0.25, remaining))
                worker = self._idle.popleft() if self._idle else None
            if worker is None:
                continue
            if worker.usable():
                if cancelled():  # gone while we waited: the worker stays free
                    self._park(worker)
                    raise Cancelled
                return worker
            self._retire(worker)

    def _ask(self, worker: _Worker, payload: Any, deadline: float,
             cancelled: Callable[[], bool]) -> tuple[int, dict[str, Any]]:
        worker.send(payload)
        started = time.monotonic()
        result = worker.answer(min(self.fast_seconds, deadline - started))
        if result is not None:
            self._park(worker)
            return result
        if time.monotonic() >= deadline:
            raise Timeout
        if not self._long.acquire(blocking=False):
            raise Busy(f"{self.long_places} long derivative"
                       f"{'s are' if self.long_places > 1 else ' is'} running already")
        with self._lock:
            self._long_running += 1
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout
                result = worker.answer(min(0.25, remaining))
                if result is not None:
                    self._park(worker)
                    return result
                if cancelled():
                    raise Cancelled
        finally:
            with self._lock:
                self._long_running -= 1
            self._long.release()

    def _retire(self, worker: _Worker, delay: float = 0.0) -> None:
        """Kill a worker (timed out, cancelled, dead) and start its replacement, once."""
        with self._lock:
            if worker not in self._live:
                return
            self._live.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._order(1, delay)
        self._drop(worker)

    def workers(self) -> list[int]:
        """The process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [w.process.pid for w in self._live if w.process.poll() is None]

    def stats(self) -> dict[str, int]:
        """How many workers are live, ready, idle, starting, and running a long derivative
        (for /api/health)."""
        with self._lock:
            return {"size": self.size, "live": len(self._live),
                    "ready": sum(w.ready.is_set() for w in self._live),
                    "idle": len(self._idle), "starting": self._starting,
                    "long": self._long_running}

    def close(self) -> None:
        """Stop every worker, busy ones included (their requests fail with WorkerDied)."""
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
            self._idle.clear()
            self._freed.notify_all()
        self._orders.put(None)
        for worker in live:
            worker.kill()

    @property
    def closed(self) -> bool:
        return self._closed


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
